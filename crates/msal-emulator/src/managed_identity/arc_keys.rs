//! The emulated Azure Arc agent's challenge key files. Every unauthenticated
//! request gets a fresh file in a directory under the system temp dir, so
//! the files are tracked here: at most [`MAX_PENDING_KEYS`] at a time (the
//! oldest go first), each removed once used or expired, and all of them,
//! with the directory, when the emulator shuts down.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use super::sanitize;
use crate::state::random_string;

/// Key files kept at once; a client answers its challenge within
/// milliseconds, so older ones are abandoned.
pub(crate) const MAX_PENDING_KEYS: usize = 64;

/// How long a key file answers its challenge (emulator clock).
pub(crate) const KEY_LIFETIME_SECS: u64 = 300;

/// One key file written and not yet used.
struct PendingKey {
    path: PathBuf,
    secret: String,
    expires_at: u64,
}

/// The key files this emulator wrote and has not removed yet.
#[derive(Default)]
pub(crate) struct ArcKeys {
    /// The directory the files were written to, once one was.
    dir: Option<PathBuf>,
    pending: VecDeque<PendingKey>,
}

impl ArcKeys {
    /// Writes a fresh key file into `dir` at emulator time `now`; returns
    /// its path. Expired files, then the oldest beyond the cap, are removed
    /// first.
    pub(crate) fn issue(&mut self, dir: &Path, now: u64) -> std::io::Result<PathBuf> {
        self.prune(now);
        while self.pending.len() >= MAX_PENDING_KEYS {
            if let Some(old) = self.pending.pop_front() {
                remove_file(&old.path);
            }
        }
        std::fs::create_dir_all(dir)?;
        self.dir = Some(dir.to_path_buf());
        let path = dir.join(format!("{}.key", sanitize(&random_string(12))));
        let secret = random_string(32);
        std::fs::write(&path, &secret)?;
        self.pending.push_back(PendingKey {
            path: path.clone(),
            secret,
            expires_at: now.saturating_add(KEY_LIFETIME_SECS),
        });
        Ok(path)
    }

    /// Whether `secret` is the content of a live key file; that file is
    /// removed (a key answers one challenge).
    pub(crate) fn redeem(&mut self, secret: &str, now: u64) -> bool {
        self.prune(now);
        let Some(i) = self.pending.iter().position(|k| k.secret == secret) else {
            return false;
        };
        if let Some(k) = self.pending.remove(i) {
            remove_file(&k.path);
        }
        true
    }

    /// Removes every key file, and the directory when nothing else is in
    /// it.
    pub(crate) fn clear(&mut self) {
        for k in self.pending.drain(..) {
            remove_file(&k.path);
        }
        if let Some(dir) = self.dir.take() {
            // Only when empty: never deletes what someone else put there.
            let _ = std::fs::remove_dir(dir);
        }
    }

    fn prune(&mut self, now: u64) {
        self.pending.retain(|k| {
            let live = k.expires_at > now;
            if !live {
                remove_file(&k.path);
            }
            live
        });
    }
}

impl Drop for ArcKeys {
    fn drop(&mut self) {
        self.clear();
    }
}

fn remove_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::debug!(path = %path.display(), error = %e, "cannot remove an Arc key file");
    }
}
