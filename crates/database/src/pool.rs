//! A small bounded pool of PostgreSQL connections for one configured database, owned by the
//! backend instance (no statics): at most `max_open` connections at once, at most `max_idle`
//! kept between requests, none older than `max_lifetime`. Dropping the pool closes every idle
//! connection (each connection's driver task is aborted with it).

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::DbError;

/// How long a request waits for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Most connections open at once (at least 1).
    pub max_open: usize,
    /// Most idle connections kept.
    pub max_idle: usize,
    /// Oldest a connection may get before it is closed (`None`: no limit).
    pub max_lifetime: Option<Duration>,
}

struct Idle {
    client: Client,
    driver: JoinHandle<()>,
    born: Instant,
}

impl Drop for Idle {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// The pool of one configured database.
pub struct Pool {
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    limits: PoolLimits,
    permits: Semaphore,
    idle: Mutex<Vec<Idle>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A connection borrowed from the pool; given back (or closed) when dropped.
pub struct Conn<'a> {
    pool: &'a Pool,
    inner: Option<Idle>,
    _permit: SemaphorePermit<'a>,
}

impl Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // `inner` is only taken in Drop.
        match &self.inner {
            Some(i) => &i.client,
            None => unreachable!("connection used after drop"),
        }
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.inner {
            Some(i) => &mut i.client,
            None => unreachable!("connection used after drop"),
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(idle) = self.inner.take()
            && self.pool.reusable(&idle)
            && let Ok(mut list) = self.pool.idle.lock()
            && list.len() < self.pool.limits.max_idle
        {
            list.push(idle);
        }
    }
}

/// Opens one connection with `config`, over TLS through `tls` when given (the config's
/// `sslmode` says whether TLS is required). Used by the pool and for `verify_connection`.
pub async fn connect(
    config: &tokio_postgres::Config,
    tls: Option<&MakeRustlsConnect>,
) -> Result<(Client, JoinHandle<()>), DbError> {
    fn drive<F>(connection: F) -> JoinHandle<()>
    where
        F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
    {
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "database connection closed with an error");
            }
        })
    }
    let timeout = |_| DbError::ConnectTimeout;
    match tls {
        None => {
            let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls))
                .await
                .map_err(timeout)??;
            Ok((client, drive(connection)))
        }
        Some(tls) => {
            let (client, connection) =
                tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls.clone()))
                    .await
                    .map_err(timeout)??;
            Ok((client, drive(connection)))
        }
    }
}

impl Pool {
    /// A pool opening connections with `config` and `tls` (nothing is opened yet).
    pub fn new(
        config: tokio_postgres::Config,
        tls: Option<MakeRustlsConnect>,
        limits: PoolLimits,
    ) -> Self {
        let max_open = limits.max_open.max(1);
        Self {
            config,
            tls,
            limits: PoolLimits { max_open, ..limits },
            permits: Semaphore::new(max_open),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn reusable(&self, idle: &Idle) -> bool {
        !idle.client.is_closed()
            && self
                .limits
                .max_lifetime
                .is_none_or(|max| idle.born.elapsed() < max)
    }

    /// A connection: an idle one that is still open and young enough, or a new one.
    pub async fn get(&self) -> Result<Conn<'_>, DbError> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| DbError::PoolTimeout)?
            .map_err(|_| DbError::Internal("connection pool closed".into()))?;
        loop {
            let next = self.idle.lock().ok().and_then(|mut l| l.pop());
            match next {
                Some(idle) if self.reusable(&idle) => {
                    return Ok(Conn {
                        pool: self,
                        inner: Some(idle),
                        _permit: permit,
                    });
                }
                Some(_stale) => continue,
                None => break,
            }
        }
        let (client, driver) = connect(&self.config, self.tls.as_ref()).await?;
        Ok(Conn {
            pool: self,
            inner: Some(Idle {
                client,
                driver,
                born: Instant::now(),
            }),
            _permit: permit,
        })
    }

    /// How many idle connections are kept now (for tests).
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map(|l| l.len()).unwrap_or(0)
    }
}
