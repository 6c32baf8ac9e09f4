//! Redis Cluster: the data connection (the redis crate's cluster client,
//! made on first use) and the cluster's masters, which the invalidation
//! listener tracks one by one.

use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, ConnectionInfo, Value};
use tokio::sync::OnceCell;

/// A cluster client whose connection is made (in the background, by the
/// redis crate) on the first call, so that a store can be built outside a
/// runtime and an app can start while the cluster is down.
pub(crate) struct LazyCluster {
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
}

/// Connection and response timeouts of the cluster client: short, since the
/// store has its own outage policy and operation timeout.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

impl LazyCluster {
    /// A client on the `seeds` (any nodes of the cluster; the others are
    /// discovered), retrying a redirected or failed request a few times
    /// (MOVED, ASK, TRYAGAIN, a node that went away while its slots move to
    /// a replica) within about a second.
    pub(crate) fn new(seeds: Vec<ConnectionInfo>) -> redis::RedisResult<Self> {
        let client = ClusterClient::builder(seeds)
            .retries(4)
            .min_retry_wait(50)
            .max_retry_wait(400)
            .connection_timeout(CONNECTION_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .build()?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
        })
    }

    /// The connection (cheap to clone: a handle on the client's task).
    pub(crate) async fn connection(&self) -> ClusterConnection {
        self.connection
            .get_or_init(|| async {
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECTION_TIMEOUT)
                    .set_response_timeout(RESPONSE_TIMEOUT);
                self.client.get_pending_async_connection_with_config(config)
            })
            .await
            .clone()
    }
}

/// `info` with its address replaced by `host:port` (TLS settings kept).
pub(crate) fn at_node(info: &ConnectionInfo, host: &str, port: u16) -> ConnectionInfo {
    let addr = match info.addr() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(host.to_owned(), port),
    };
    info.clone().set_addr(addr)
}

/// `host:port` of `info`, for logs and as a node's identity.
pub(crate) fn node_name(info: &ConnectionInfo) -> String {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        other => format!("{other:?}"),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// The masters in a `CLUSTER SLOTS` reply, as `(host, port)`, sorted and
/// without duplicates. An empty host means "the node that answered"
/// (`asked_host`). Entries that do not have the documented shape are
/// skipped (a reply without any usable master is an empty list).
pub(crate) fn masters_of(reply: &Value, asked_host: &str) -> Vec<(String, u16)> {
    let Value::Array(ranges) = reply else {
        return Vec::new();
    };
    let mut masters: Vec<(String, u16)> = ranges
        .iter()
        .filter_map(|range| {
            let Value::Array(fields) = range else {
                return None;
            };
            // [start, end, [host, port, id, ...], replicas...]
            let Value::Array(master) = fields.get(2)? else {
                return None;
            };
            let host = text(master.first()?)?;
            let Value::Int(port) = master.get(1)? else {
                return None;
            };
            let port = u16::try_from(*port).ok()?;
            let host = if host.is_empty() || host == "?" {
                asked_host.to_owned()
            } else {
                host
            };
            Some((host, port))
        })
        .collect();
    masters.sort();
    masters.dedup();
    masters
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn masters_come_from_cluster_slots_and_odd_entries_are_skipped() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                Value::Array(vec![bulk("127.0.0.1"), Value::Int(7100), bulk("id1")]),
                Value::Array(vec![bulk("127.0.0.1"), Value::Int(7105), bulk("id6")]),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(6000),
                Value::Array(vec![bulk(""), Value::Int(7101)]),
            ]),
            // The same master for a second range.
            Value::Array(vec![
                Value::Int(6001),
                Value::Int(10922),
                Value::Array(vec![bulk(""), Value::Int(7101)]),
            ]),
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![
                Value::Int(10923),
                Value::Int(16383),
                Value::Array(vec![bulk("h"), Value::Int(70_000)]),
            ]),
            Value::Nil,
        ]);
        assert_eq!(
            masters_of(&reply, "10.0.0.9"),
            vec![
                ("10.0.0.9".to_owned(), 7101),
                ("127.0.0.1".to_owned(), 7100)
            ]
        );
        assert!(masters_of(&Value::Nil, "x").is_empty());
    }
}
