//! Connections to the outbox's database: one per process, reopened when lost (a restart, a
//! failover, `pg_terminate_backend`), every statement bounded by a timeout, and the
//! `LISTEN` re-issued on each new connection so inserts keep waking the worker.

use super::tls::MakeRustls;
use super::DatabaseArgs;
use crate::exit::{CliError, Exit};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, Config, Row, Statement};

/// The channel the insert trigger notifies.
pub const CHANNEL: &str = "smtpwire_outbox";

/// The longest any one statement may take before the connection is given up as lost.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to connect: never displayed, it may hold a password.
#[derive(Clone)]
pub struct Settings {
    config: Config,
    tls: MakeRustls,
}

/// The connection settings from `--database`, with the password from PGPASSWORD when the
/// URL has none, and TLS (verified) when `sslmode=require` or `--database-ca` asks for it.
pub fn config(args: &DatabaseArgs, application: &str) -> Result<Settings, CliError> {
    let mut config: Config = args.database.parse().map_err(|e| {
        CliError::usage(format!(
            "--database: not a PostgreSQL URL or key=value list: {e}"
        ))
        .hint(
            "sslmode takes disable, prefer or require (require verifies like libpq's verify-full)",
        )
    })?;
    if config.get_password().is_none() {
        if let Ok(password) = std::env::var("PGPASSWORD") {
            config.password(password);
        }
    }
    let tls = if config.get_ssl_mode() == SslMode::Require || args.database_ca.is_some() {
        config.ssl_mode(SslMode::Require);
        MakeRustls::verifying(args.database_ca.as_deref())
            .map_err(|e| CliError::config(format!("--database-ca {e}")))?
    } else {
        // `prefer` would take TLS unverified, which protects against no one: plain it is,
        // unless asked for (verified) TLS.
        config.ssl_mode(SslMode::Disable);
        MakeRustls::off()
    };
    if config.get_application_name().is_none() {
        config.application_name(application);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    Ok(Settings { config, tls })
}

/// Opens one connection for a short command (`init`, `status`, …); its driver runs on a task.
pub async fn connect_once(settings: &Settings) -> Result<Client, CliError> {
    let (client, connection) = timed(settings.config.connect(settings.tls.clone()))
        .await
        .map_err(|e| unavailable(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A connection failure for the user; the URL (and its password) is never part of it.
pub fn unavailable(error: &DbError) -> CliError {
    CliError::new(
        Exit::Unavailable,
        format!("cannot use the outbox database: {error}"),
    )
    .hint("check --database (or SMTPWIRE_DATABASE_URL) and that PostgreSQL is up")
}

/// A database failure: the server's error, or no answer in time.
#[derive(Debug)]
pub enum DbError {
    /// What PostgreSQL or the connection said.
    Postgres(tokio_postgres::Error),
    /// No answer within the statement timeout.
    Timeout,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Postgres(error) => match error.as_db_error() {
                Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
                None => {
                    // "error performing TLS handshake" says little without its cause.
                    write!(f, "{error}")?;
                    let mut source = std::error::Error::source(error);
                    while let Some(cause) = source {
                        write!(f, ": {cause}")?;
                        source = cause.source();
                    }
                    Ok(())
                }
            },
            Self::Timeout => write!(f, "no answer in {}s", STATEMENT_TIMEOUT.as_secs()),
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Postgres(error)
    }
}

/// Runs a database future with the statement timeout.
pub async fn timed<T>(
    work: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, DbError> {
    match tokio::time::timeout(STATEMENT_TIMEOUT, work).await {
        Ok(result) => result.map_err(DbError::from),
        Err(_) => Err(DbError::Timeout),
    }
}

/// The worker's connection, shared by its tasks and reopened when lost.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    current: Mutex<Option<Conn>>,
    opened: std::sync::atomic::AtomicBool,
    /// Woken by every notification on [`CHANNEL`], and after each reconnection (rows may
    /// have been inserted while no one listened).
    wake: Arc<Notify>,
    /// Set with each wake, for a worker too busy to wait on it.
    woken: Arc<std::sync::atomic::AtomicBool>,
    /// Time spent waiting for the database, in microseconds, for the metrics.
    busy_us: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
    reconnects: std::sync::atomic::AtomicU64,
}

impl Db {
    /// A handle; nothing is opened until first used.
    pub fn new(settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                current: Mutex::new(None),
                opened: Default::default(),
                wake: Arc::new(Notify::new()),
                woken: Arc::default(),
                busy_us: Default::default(),
                errors: Default::default(),
                reconnects: Default::default(),
            }),
        }
    }

    /// Woken by inserts into the outbox.
    pub fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.inner.wake)
    }

    /// Whether a wake came since the last call.
    pub fn take_wake(&self) -> bool {
        self.inner
            .woken
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// Seconds spent waiting for the database so far.
    pub fn busy(&self) -> Duration {
        Duration::from_micros(
            self.inner
                .busy_us
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Failed statements and connection attempts so far.
    pub fn errors(&self) -> u64 {
        self.inner.errors.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connections opened after the first.
    pub fn reconnects(&self) -> u64 {
        self.inner
            .reconnects
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The live connection, opened (and LISTENing) if there is none.
    async fn conn(&self) -> Result<Conn, DbError> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut current = self.inner.current.lock().await;
        if let Some(conn) = current.as_ref() {
            if !conn.client.is_closed() {
                return Ok(conn.clone());
            }
        }
        *current = None;
        let settings = &self.inner.settings;
        let (client, mut connection) = timed(settings.config.connect(settings.tls.clone())).await?;
        let wake = Arc::clone(&self.inner.wake);
        let woken = Arc::clone(&self.inner.woken);
        tokio::spawn(async move {
            // Polling for messages drives the connection; it ends when the connection does.
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => {
                        woken.store(true, Relaxed);
                        wake.notify_one();
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        timed(client.batch_execute(&format!("LISTEN {CHANNEL}"))).await?;
        if self.inner.opened.swap(true, Relaxed) {
            self.inner.reconnects.fetch_add(1, Relaxed);
        }
        let conn = Conn {
            client: Arc::new(client),
            statements: Arc::default(),
        };
        *current = Some(conn.clone());
        self.inner.woken.store(true, Relaxed);
        self.inner.wake.notify_one();
        Ok(conn)
    }

    /// Runs `work` on the connection, timing it; a failure drops a broken connection so the
    /// next call opens a new one.
    pub async fn with<T, F, Fut>(&self, work: F) -> Result<T, DbError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        use std::sync::atomic::Ordering::Relaxed;
        let started = Instant::now();
        let result = match self.conn().await {
            Ok(conn) => {
                let client = Arc::clone(&conn.client);
                timed(work(conn)).await.inspect_err(|error| {
                    if matches!(error, DbError::Timeout) || client.is_closed() {
                        self.forget(&client);
                    }
                })
            }
            Err(error) => Err(error),
        };
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.inner.busy_us.fetch_add(us, Relaxed);
        if result.is_err() {
            self.inner.errors.fetch_add(1, Relaxed);
        }
        result
    }

    /// Drops `client` as the current connection, if it still is.
    fn forget(&self, client: &Arc<Client>) {
        if let Ok(mut current) = self.inner.current.try_lock() {
            if current
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(&c.client, client))
            {
                *current = None;
            }
        }
    }
}

/// One open connection and the statements prepared on it, each prepared once.
#[derive(Clone)]
pub struct Conn {
    client: Arc<Client>,
    statements: Arc<std::sync::Mutex<std::collections::HashMap<&'static str, Statement>>>,
}

impl Conn {
    async fn statement(&self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        let cached = self
            .statements
            .lock()
            .ok()
            .and_then(|cache| cache.get(sql).cloned());
        if let Some(statement) = cached {
            return Ok(statement);
        }
        let statement = self.client.prepare(sql).await?;
        if let Ok(mut cache) = self.statements.lock() {
            cache.insert(sql, statement.clone());
        }
        Ok(statement)
    }

    /// Runs a prepared `sql` and returns its rows.
    pub async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.statement(sql).await?;
        self.client.query(&statement, params).await
    }

    /// Runs a prepared `sql` and returns how many rows it touched.
    pub async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = self.statement(sql).await?;
        self.client.execute(&statement, params).await
    }
}
