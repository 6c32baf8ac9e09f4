//! Document buffers that are wiped on drop when they hold secrets the file
//! itself protects.

/// A document in memory. With `wipe`, its bytes are zeroed on drop: set for
/// decrypted documents of an encrypted cache. A plain-text cache's documents
/// are not wiped (the same tokens sit readable in the file), which keeps the
/// per-access cost of large caches down.
pub(crate) struct Buf {
    bytes: Vec<u8>,
    wipe: bool,
}

impl Buf {
    pub(crate) fn new(bytes: Vec<u8>, wipe: bool) -> Self {
        Self { bytes, wipe }
    }

    /// The bytes, to be owned elsewhere (no longer wiped by this buffer).
    pub(crate) fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

impl std::ops::Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        if self.wipe {
            zeroize::Zeroize::zeroize(&mut self.bytes);
        }
    }
}
