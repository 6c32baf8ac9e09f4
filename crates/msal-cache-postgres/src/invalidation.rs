//! The L1 invalidation listener on PostgreSQL: `LISTEN` on the table's
//! channel, on a dedicated connection of its own (direct to the server:
//! a transaction pooler does not keep a `LISTEN` across transactions).
//!
//! Every store writing to the table (with invalidation on) sends
//! `pg_notify(channel, '<instance> <partition>')` in the statement that
//! writes, so the notification goes out exactly when the write commits.
//! A listener ignores its own instance's notifications (its L1 already
//! holds what it wrote) and drops the L1 copy of any other.
//!
//! A session ends when the connection fails (the server closed it, e.g.
//! `pg_terminate_backend`, or a quiet connection does not answer a
//! `SELECT 1` in time); the sink is told the listener is disconnected and
//! a new session starts after a short backoff.

use std::time::Duration;

use msal::http::BoxFuture;
use msal_cache_common::{InvalidationListener, InvalidationSink};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

/// How long connecting, `LISTEN` or the heartbeat may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long a quiet connection waits before it is checked.
const HEARTBEAT: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub(crate) struct PgInvalidationListener {
    pub(crate) options: PgConnectOptions,
    pub(crate) channel: String,
    /// This store's id in notification payloads (its own are ignored).
    pub(crate) instance: String,
}

impl InvalidationListener for PgInvalidationListener {
    fn run(self: Box<Self>, sink: InvalidationSink) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.run_until_closed(sink).await })
    }
}

/// What a notification asks for.
#[derive(Debug, PartialEq, Eq)]
enum Heard<'a> {
    /// This instance's own write: nothing to drop.
    Own,
    /// Another instance changed this partition.
    Partition(&'a str),
    /// Another instance changed a partition it could not name, or the
    /// payload is not one of ours: drop everything.
    All,
}

fn parse<'a>(payload: &'a str, instance: &str) -> Heard<'a> {
    match payload.split_once(' ') {
        Some((id, _)) if id == instance => Heard::Own,
        Some((_, partition)) => Heard::Partition(partition),
        None if payload == instance => Heard::Own,
        None => Heard::All,
    }
}

impl PgInvalidationListener {
    async fn run_until_closed(self, sink: InvalidationSink) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let mut connected = false;
            let Some(why) = sink.until_closed(self.session(&sink, &mut connected)).await else {
                return;
            };
            if !sink.disconnected() {
                return;
            }
            tracing::debug!(reason = %why, "token cache invalidation session ended");
            if connected {
                backoff = MIN_BACKOFF;
            }
            if sink
                .until_closed(tokio::time::sleep(backoff))
                .await
                .is_none()
            {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Listens until the connection fails; returns why.
    async fn session(&self, sink: &InvalidationSink, connected: &mut bool) -> String {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(self.options.clone());
        let mut listener =
            match tokio::time::timeout(TIMEOUT, PgListener::connect_with(&pool)).await {
                Ok(Ok(listener)) => listener,
                Ok(Err(e)) => return format!("connecting: {e}"),
                Err(_) => return format!("connecting: no answer within {TIMEOUT:?}"),
            };
        // A lost connection ends the session (we reconnect ourselves, and
        // say so to the sink) instead of being replaced unnoticed.
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        match tokio::time::timeout(TIMEOUT, listener.listen(&self.channel)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return format!("LISTEN: {e}"),
            Err(_) => return format!("LISTEN: no answer within {TIMEOUT:?}"),
        }
        sink.connected("listen");
        *connected = true;
        loop {
            // `try_recv` waits on the socket; dropping it on the timeout
            // loses nothing (sqlx reads whole messages into its buffer).
            match tokio::time::timeout(HEARTBEAT, listener.try_recv()).await {
                Ok(Ok(Some(notification))) => match parse(notification.payload(), &self.instance) {
                    Heard::Own => {}
                    Heard::Partition(partition) => {
                        sink.invalidate(partition).await;
                    }
                    Heard::All => {
                        sink.invalidate_all();
                    }
                },
                Ok(Ok(None)) => return "the connection was lost".to_owned(),
                Ok(Err(e)) => return format!("receiving: {e}"),
                Err(_) => {
                    let ping = sqlx::query("SELECT 1")
                        .persistent(false)
                        .execute(&mut listener);
                    match tokio::time::timeout(TIMEOUT, ping).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return format!("heartbeat: {e}"),
                        Err(_) => return format!("heartbeat: no answer within {TIMEOUT:?}"),
                    }
                }
            }
        }
    }
}

/// A fresh instance id for notification payloads and the listener's
/// `application_name`.
pub(crate) fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_the_writer_and_the_partition() {
        assert_eq!(parse("me uid.utid", "me"), Heard::Own);
        assert_eq!(parse("me", "me"), Heard::Own);
        assert_eq!(parse("other uid.utid", "me"), Heard::Partition("uid.utid"));
        assert_eq!(
            parse("other a b c", "me"),
            Heard::Partition("a b c"),
            "a partition key may hold spaces"
        );
        assert_eq!(parse("other", "me"), Heard::All);
        assert_eq!(parse("", "me"), Heard::All);
        let (a, b) = (instance_id(), instance_id());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }
}
