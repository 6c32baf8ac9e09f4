//! The msal storage seam: [`CacheAccess`] (the lock is held from
//! `before_access` to `after_access`) and [`CacheStore`] (each call locks on
//! its own).

use msal::http::BoxFuture;
use msal::storage::{CacheAccess, CacheAccessArgs, CacheStore, SaveHint, StorageError};

use crate::buf::Buf;
use crate::cache::{FileCache, Owner, blocking};

/// The key under which an unpartitioned access is tracked.
fn partition_of(args: &CacheAccessArgs<'_>) -> String {
    args.partition_key.unwrap_or("").to_owned()
}

impl FileCache {
    /// The access `args` describe, as the owner of a held lock.
    fn owner_of(&self, args: &CacheAccessArgs<'_>) -> Owner {
        Owner {
            handle: self.handle,
            partition: args.partition_key.map(str::to_owned),
            is_app_cache: args.is_app_cache,
        }
    }
}

impl CacheAccess for FileCache {
    /// Takes the cross-process lock (waiting up to the lock timeout) and
    /// returns the file's document if it changed since this partition's
    /// in-memory copy was synced. A missing file reads as an empty document.
    /// When the engine keeps no in-memory copy (`args.partitioned`), the
    /// document is returned whenever there is a file, `None` when there is
    /// none.
    ///
    /// On error nothing stays locked, nor when this future is dropped: the
    /// lock is kept for `after_access` only once the document is read. A corrupt file gives
    /// [`StorageErrorKind::Corrupt`](msal::storage::StorageErrorKind::Corrupt)
    /// and nothing is written to it until it reads again or is quarantined.
    fn before_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        Box::pin(async move {
            let partition = partition_of(&args);
            let owner = self.owner_of(&args);
            let always = args.partitioned;
            let (permit, lock) = self.inner.acquire().await?;
            let took_over = lock.took_over;
            let (inner, synced) = (self.inner.clone(), self.synced.clone());
            // The lock goes along with the blocking read: if the caller drops
            // this future (a timeout), it is released as soon as the read
            // ends instead of waiting for max_hold.
            let ((lock, permit), result) = blocking(move || {
                let read = inner.sync_partition(&synced, &partition, took_over, always);
                Ok(((lock, permit), read))
            })
            .await?;
            match result {
                // From here to after_access's first poll nothing is awaited
                // by the engine, so a dropped call cannot strand the lock.
                Ok(doc) => {
                    self.inner.hold(lock, permit, owner);
                    Ok(doc)
                }
                // The engine still calls after_access; it finds nothing held.
                Err(e) => {
                    drop(lock);
                    drop(permit);
                    Err(e.into())
                }
            }
        })
    }

    /// Writes `document` atomically when the operation changed the cache,
    /// then releases the lock: always, also when the write or the operation
    /// failed.
    fn after_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let partition = partition_of(&args);
            let owner = self.owner_of(&args);
            let doc = match document {
                Some(d) if args.has_state_changed => Some(Buf::new(d.to_vec(), self.inner.wipes())),
                _ => None,
            };
            let (inner, synced) = (self.inner.clone(), self.synced.clone());
            match self.inner.take_held(&owner) {
                Some(held) => {
                    let Some(doc) = doc else { return Ok(()) };
                    // The lock moves into the blocking task and is released
                    // when the write is done, even if this future is dropped.
                    blocking(move || {
                        let _held = held;
                        inner.write_partition(&synced, &partition, doc, false)
                    })
                    .await?;
                }
                None => {
                    // Unpaired (before_access failed, or was never called):
                    // write only if nobody changed the file since this
                    // partition was synced.
                    let Some(doc) = doc else { return Ok(()) };
                    let (permit, lock) = self.inner.acquire().await?;
                    blocking(move || {
                        let _guard = (lock, permit);
                        inner.write_partition(&synced, &partition, doc, true)
                    })
                    .await?;
                }
            }
            Ok(())
        })
    }
}

/// Single calls, each under the lock. The partition name is ignored: the
/// file holds one document. Between a `load` and a `save` the lock is not
/// held, so two processes that both load-modify-save can lose one's change;
/// use the [`CacheAccess`] hooks when several processes share the file.
impl CacheStore for FileCache {
    fn load(&self, _partition: &str) -> BoxFuture<'_, Result<Option<Vec<u8>>, StorageError>> {
        Box::pin(async move {
            let (permit, lock) = self.inner.acquire().await?;
            let inner = self.inner.clone();
            let doc = blocking(move || {
                let _guard = (lock, permit);
                inner.current_document()
            })
            .await?;
            Ok(doc)
        })
    }

    fn save(
        &self,
        _partition: &str,
        document: Vec<u8>,
        _hint: SaveHint,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(async move {
            let document = Buf::new(document, self.inner.wipes());
            let (permit, lock) = self.inner.acquire().await?;
            let inner = self.inner.clone();
            blocking(move || {
                let _guard = (lock, permit);
                inner.write_document(document)
            })
            .await?;
            Ok(())
        })
    }

    fn remove(&self, _partition: &str) -> BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(async move {
            let (permit, lock) = self.inner.acquire().await?;
            let inner = self.inner.clone();
            blocking(move || {
                let _guard = (lock, permit);
                inner.remove_file()
            })
            .await?;
            Ok(())
        })
    }
}
