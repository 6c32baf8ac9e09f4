use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::{Clock, ManualClock};

#[tokio::test]
async fn store_access_loads_before_and_saves_only_changes_with_the_suggested_expiry() {
    let clock = Arc::new(ManualClock::at_unix(1_700_000_000));
    let access = StoreAccess::new(MemoryStore::builder().clock(clock.clone()).build());
    let args = CacheAccessArgs::new(Some("cid_tid_AppTokenCache"), true);
    assert_eq!(access.before_access(args).await.unwrap(), None);

    // Unchanged: nothing is written even though a document is offered.
    access
        .after_access(args.after(false, None), Some(b"{\"a\":1}"))
        .await
        .unwrap();
    assert_eq!(access.before_access(args).await.unwrap(), None);

    let expiry = clock.now() + Duration::from_secs(3600);
    access
        .after_access(args.after(true, Some(expiry)), Some(b"{\"a\":2}"))
        .await
        .unwrap();
    assert_eq!(
        access.before_access(args).await.unwrap().as_deref(),
        Some(&b"{\"a\":2}"[..])
    );

    // Other partitions and the unpartitioned cache are separate.
    assert_eq!(
        access
            .before_access(CacheAccessArgs::new(Some("other"), true))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        access
            .before_access(CacheAccessArgs::new(None, false))
            .await
            .unwrap(),
        None
    );

    // The suggested expiry reached the store.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(access.before_access(args).await.unwrap(), None);
}

#[tokio::test]
async fn store_access_puts_unpartitioned_calls_under_one_key() {
    let access = StoreAccess::new(MemoryStore::new()).with_unpartitioned_key("shared");
    let args = CacheAccessArgs::new(None, false);
    access
        .after_access(args.after(true, None), Some(b"{}"))
        .await
        .unwrap();
    assert!(access.store().load("shared").await.unwrap().is_some());
}
