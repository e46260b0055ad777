//! Where Redis is: one server, a Sentinel-watched master, or a Cluster; and the connection to
//! each, through the `redis` crate's own support (`sentinel`, `cluster-async`).
//!
//! * one server: `redis://[:password@]host:port/db` (or `rediss://`), a [`ConnectionManager`];
//! * Sentinel: `redis+sentinel://[[user]:password@]host:port[,host:port…]/master_name[/db]`, or the
//!   keys `redis.sentinels` + `redis.master_name`. The password is the master's (the sentinels
//!   are asked without one). The master is looked up through the sentinels on connecting and
//!   again after a connection error or a `READONLY` answer, so a failover is followed without a
//!   restart;
//! * Cluster: `redis+cluster://[[user]:password@]host:port[,host:port…]`, or the key
//!   `redis.cluster_nodes`: a [`ClusterConnection`], which follows `MOVED`/`ASK` and failovers.

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, ConnectionAddr, RedisError, RedisFuture, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A parsed `redis.*` configuration.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server (`redis://`, `rediss://`, `unix://`): the URL as given.
    Single(String),
    Sentinel {
        /// `host:port` of each sentinel.
        sentinels: Vec<(String, u16)>,
        master_name: String,
        username: Option<String>,
        password: Option<String>,
        db: i64,
    },
    Cluster {
        /// `host:port` of some (or all) of the cluster's nodes.
        nodes: Vec<(String, u16)>,
        username: Option<String>,
        password: Option<String>,
    },
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        match self {
            Self::Single(_) => f.write_str("Single(…)"),
            Self::Sentinel {
                sentinels,
                master_name,
                db,
                ..
            } => f
                .debug_struct("Sentinel")
                .field("sentinels", sentinels)
                .field("master_name", master_name)
                .field("db", db)
                .finish_non_exhaustive(),
            Self::Cluster { nodes, .. } => f
                .debug_struct("Cluster")
                .field("nodes", nodes)
                .finish_non_exhaustive(),
        }
    }
}

/// What a bad `redis.*` setting is called in errors (never its value: it may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

fn percent_decode(s: &str) -> Result<String, TargetError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    TargetError("redis.url: a bad %-escape in the credentials".into())
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| TargetError("redis.url: credentials are not UTF-8".into()))
}

/// `host:port` items (a port is required).
fn host_ports(items: &[String], what: &str) -> Result<Vec<(String, u16)>, TargetError> {
    let parsed: Result<Vec<_>, _> = items
        .iter()
        .map(|item| item.trim())
        .filter(|item| !item.is_empty())
        .map(|item| {
            let item = item
                .strip_prefix("redis://")
                .unwrap_or(item)
                .trim_end_matches('/');
            let (host, port) = item
                .rsplit_once(':')
                .ok_or_else(|| TargetError(format!("{what}: {item:?} is not host:port")))?;
            let port = port
                .parse()
                .map_err(|_| TargetError(format!("{what}: {item:?} has no valid port")))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(TargetError(format!("{what}: {item:?} has no host")));
            }
            Ok((host.to_owned(), port))
        })
        .collect();
    let parsed = parsed?;
    if parsed.is_empty() {
        return Err(TargetError(format!("{what}: no host:port given")));
    }
    Ok(parsed)
}

/// `[[user]:password@]rest` → (user, password, rest).
type Credentials = (Option<String>, Option<String>);

fn split_credentials(after_scheme: &str) -> Result<(Credentials, &str), TargetError> {
    let end = after_scheme.find('/').unwrap_or(after_scheme.len());
    let Some(at) = after_scheme[..end].rfind('@') else {
        return Ok(((None, None), after_scheme));
    };
    let userinfo = &after_scheme[..at];
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    let user = (!user.is_empty())
        .then(|| percent_decode(user))
        .transpose()?;
    let password = password
        .filter(|p| !p.is_empty())
        .map(percent_decode)
        .transpose()?;
    Ok(((user, password), &after_scheme[at + 1..]))
}

impl RedisTarget {
    /// The target of `redis.url`, `redis.sentinels` + `redis.master_name` and
    /// `redis.cluster_nodes`; `None` when none is set (sessions in process). With the separate
    /// keys, a `redis://` URL may still give the password and database (its host is ignored).
    pub fn from_settings(
        url: &str,
        sentinels: &[String],
        master_name: &str,
        cluster_nodes: &[String],
    ) -> Result<Option<Self>, TargetError> {
        let url = url.trim();
        let has_sentinels = sentinels.iter().any(|s| !s.trim().is_empty());
        let has_cluster = cluster_nodes.iter().any(|s| !s.trim().is_empty());
        if has_sentinels && has_cluster {
            return Err(TargetError(
                "redis.sentinels and redis.cluster_nodes are both set: choose one".into(),
            ));
        }
        if has_sentinels || has_cluster {
            if url.starts_with("redis+") {
                return Err(TargetError(
                    "redis.url names a topology of its own and so do redis.sentinels / redis.cluster_nodes: choose one".into(),
                ));
            }
            let ((username, password), db) = if url.is_empty() {
                ((None, None), 0)
            } else {
                let rest = url
                    .strip_prefix("redis://")
                    .or_else(|| url.strip_prefix("rediss://"))
                    .ok_or_else(|| {
                        TargetError(
                            "redis.url: with separate nodes, only redis://[:password@]/db".into(),
                        )
                    })?;
                let (credentials, rest) = split_credentials(rest)?;
                let db = rest
                    .split_once('/')
                    .map(|(_, db)| db.trim_end_matches('/'))
                    .filter(|db| !db.is_empty())
                    .map(|db| db.parse::<i64>())
                    .transpose()
                    .map_err(|_| TargetError("redis.url: the database is not a number".into()))?
                    .unwrap_or(0);
                (credentials, db)
            };
            if has_sentinels {
                if master_name.trim().is_empty() {
                    return Err(TargetError(
                        "redis.sentinels is set but redis.master_name is empty".into(),
                    ));
                }
                return Ok(Some(Self::Sentinel {
                    sentinels: host_ports(sentinels, "redis.sentinels")?,
                    master_name: master_name.trim().to_owned(),
                    username,
                    password,
                    db,
                }));
            }
            if db != 0 {
                return Err(TargetError("a Redis Cluster has database 0 only".into()));
            }
            return Ok(Some(Self::Cluster {
                nodes: host_ports(cluster_nodes, "redis.cluster_nodes")?,
                username,
                password,
            }));
        }
        if url.is_empty() {
            return Ok(None);
        }
        if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            let ((username, password), rest) = split_credentials(rest)?;
            let mut parts = rest.split('/');
            let hosts: Vec<String> = parts
                .next()
                .unwrap_or_default()
                .split(',')
                .map(str::to_owned)
                .collect();
            let master_name = parts
                .next()
                .filter(|m| !m.is_empty())
                .ok_or_else(|| {
                    TargetError("redis.url: redis+sentinel://host:port,…/master_name[/db]".into())
                })?
                .to_owned();
            let db = parts
                .next()
                .filter(|d| !d.is_empty())
                .map(str::parse::<i64>)
                .transpose()
                .map_err(|_| TargetError("redis.url: the database is not a number".into()))?
                .unwrap_or(0);
            return Ok(Some(Self::Sentinel {
                sentinels: host_ports(&hosts, "redis.url")?,
                master_name,
                username,
                password,
                db,
            }));
        }
        if let Some(rest) = url.strip_prefix("redis+cluster://") {
            let ((username, password), rest) = split_credentials(rest)?;
            let hosts: Vec<String> = rest
                .trim_end_matches('/')
                .split(',')
                .map(str::to_owned)
                .collect();
            return Ok(Some(Self::Cluster {
                nodes: host_ports(&hosts, "redis.url")?,
                username,
                password,
            }));
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")
        {
            return Ok(Some(Self::Single(url.to_owned())));
        }
        Err(TargetError(
            "redis.url must start with redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://".into(),
        ))
    }

    /// `single`, `sentinel` or `cluster`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Single(_) => "single",
            Self::Sentinel { .. } => "sentinel",
            Self::Cluster { .. } => "cluster",
        }
    }
}

/// A connection to any of the targets, usable wherever the `redis` crate takes a connection.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Sentinel(SentinelConn),
    Cluster(ClusterConnection),
}

impl Conn {
    pub(super) async fn open(target: &RedisTarget, timeout: Duration) -> Result<Self, RedisError> {
        match target {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                Ok(Self::Single(
                    ConnectionManager::new_with_config(client, config).await?,
                ))
            }
            RedisTarget::Sentinel {
                sentinels,
                master_name,
                username,
                password,
                db,
            } => {
                let nodes = sentinels
                    .iter()
                    .map(|(h, p)| ConnectionAddr::Tcp(h.clone(), *p));
                let mut builder = SentinelClientBuilder::new(
                    nodes,
                    master_name.clone(),
                    SentinelServerType::Master,
                )?
                .set_client_to_redis_db(*db);
                if let Some(u) = username {
                    builder = builder.set_client_to_redis_username(u);
                }
                if let Some(p) = password {
                    builder = builder.set_client_to_redis_password(p);
                }
                let conn = SentinelConn {
                    inner: Arc::new(SentinelInner {
                        client: tokio::sync::Mutex::new(builder.build()?),
                        current: std::sync::Mutex::new(None),
                        generation: AtomicU64::new(0),
                        config: AsyncConnectionConfig::new()
                            .set_connection_timeout(Some(timeout))
                            .set_response_timeout(Some(timeout)),
                        db: *db,
                    }),
                };
                // Fail now, as for one server, when no sentinel knows a reachable master.
                conn.connection().await?;
                Ok(Self::Sentinel(conn))
            }
            RedisTarget::Cluster {
                nodes,
                username,
                password,
            } => {
                let urls: Vec<String> = nodes
                    .iter()
                    .map(|(h, p)| format!("redis://{h}:{p}"))
                    .collect();
                let mut builder = redis::cluster::ClusterClientBuilder::new(urls)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(3)
                    .max_retry_wait(500);
                if let Some(u) = username {
                    builder = builder.username(u);
                }
                if let Some(p) = password {
                    builder = builder.password(p);
                }
                Ok(Self::Cluster(
                    builder.build()?.get_async_connection().await?,
                ))
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Sentinel(c) => c.inner.db,
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// The current master's connection, found through the sentinels; dropped (and looked up
/// again on the next call) after a connection error or a `READONLY` answer: the master it
/// reached has died or been demoted by a failover.
#[derive(Clone)]
pub(super) struct SentinelConn {
    inner: Arc<SentinelInner>,
}

struct SentinelInner {
    client: tokio::sync::Mutex<SentinelClient>,
    /// The connection in use and its generation.
    current: std::sync::Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicU64,
    config: AsyncConnectionConfig,
    db: i64,
}

/// Whether `err` means that the connection no longer reaches a master.
fn lost_master(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || matches!(
            err.kind(),
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
        )
}

impl SentinelConn {
    fn cached(&self) -> Option<(u64, MultiplexedConnection)> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn connection(&self) -> Result<(u64, MultiplexedConnection), RedisError> {
        if let Some(found) = self.cached() {
            return Ok(found);
        }
        // One lookup at a time; those who waited take its result.
        let mut client = self.inner.client.lock().await;
        if let Some(found) = self.cached() {
            return Ok(found);
        }
        let conn = client
            .get_async_connection_with_config(&self.inner.config)
            .await?;
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *self
            .inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    /// Drops connection `generation` if it is still the current one.
    fn forget(&self, generation: u64) {
        let mut current = self
            .inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
            tracing::warn!("redis sentinel: lost the master, looking it up again");
        }
    }

    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut conn) = self.connection().await?;
            let answer = conn.req_packed_command(cmd).await;
            match &answer {
                Err(e) if lost_master(e) => self.forget(generation),
                Ok(Value::ServerError(e)) if e.kind() == Some(redis::ServerErrorKind::ReadOnly) => {
                    self.forget(generation)
                }
                _ => {}
            }
            answer
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut conn) = self.connection().await?;
            let answer = conn.req_packed_commands(cmd, offset, count).await;
            match &answer {
                Err(e) if lost_master(e) => self.forget(generation),
                // A pipeline that ignores errors hands READONLY back as a value.
                Ok(values)
                    if values.iter().any(|v| {
                        matches!(v, Value::ServerError(e)
                            if e.kind() == Some(redis::ServerErrorKind::ReadOnly))
                    }) =>
                {
                    self.forget(generation)
                }
                _ => {}
            }
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Option<RedisTarget>, TargetError> {
        RedisTarget::from_settings(url, &[], "", &[])
    }

    #[test]
    fn sentinel_and_cluster_urls_and_keys_are_understood() {
        assert_eq!(parse("").ok(), Some(None));
        assert_eq!(
            parse("redis://127.0.0.1:6379/0").ok(),
            Some(Some(RedisTarget::Single("redis://127.0.0.1:6379/0".into())))
        );
        assert_eq!(
            parse("redis+sentinel://:p%40ss@s1:26379,s2:26380/mymaster/2").ok(),
            Some(Some(RedisTarget::Sentinel {
                sentinels: vec![("s1".into(), 26379), ("s2".into(), 26380)],
                master_name: "mymaster".into(),
                username: None,
                password: Some("p@ss".into()),
                db: 2,
            }))
        );
        assert_eq!(
            parse("redis+cluster://u:pw@n1:7000,n2:7001").ok(),
            Some(Some(RedisTarget::Cluster {
                nodes: vec![("n1".into(), 7000), ("n2".into(), 7001)],
                username: Some("u".into()),
                password: Some("pw".into()),
            }))
        );
        let keys = RedisTarget::from_settings(
            "redis://:pw@/3",
            &["s1:26379".into(), " s2:26379".into()],
            "mymaster",
            &[],
        );
        assert_eq!(
            keys.ok(),
            Some(Some(RedisTarget::Sentinel {
                sentinels: vec![("s1".into(), 26379), ("s2".into(), 26379)],
                master_name: "mymaster".into(),
                username: None,
                password: Some("pw".into()),
                db: 3,
            }))
        );
        let nodes = RedisTarget::from_settings("", &[], "", &["n1:7000".into()]);
        assert!(matches!(nodes, Ok(Some(RedisTarget::Cluster { .. }))));
    }

    #[test]
    fn bad_redis_settings_are_refused_without_their_password() {
        for (url, sentinels, master, nodes) in [
            ("redis+sentinel://:secretpw@s1:26379", vec![], "", vec![]),
            ("redis+sentinel://:secretpw@s1/m", vec![], "", vec![]),
            ("redis+cluster://:secretpw@", vec![], "", vec![]),
            ("http://:secretpw@x", vec![], "", vec![]),
            ("", vec!["s1:1".to_owned()], "", vec![]),
            ("", vec!["s1:1".to_owned()], "m", vec!["n1:1".to_owned()]),
            ("redis://:secretpw@/1", vec![], "", vec!["n1:1".to_owned()]),
        ] {
            let err = RedisTarget::from_settings(url, &sentinels, master, &nodes)
                .err()
                .unwrap_or_else(|| panic!("{url} {sentinels:?} {nodes:?} accepted"));
            assert!(!err.to_string().contains("secretpw"), "{err}");
        }
        let shown = format!("{:?}", parse("redis+sentinel://:secretpw@s1:1/m"));
        assert!(!shown.contains("secretpw"), "{shown}");
    }
}
