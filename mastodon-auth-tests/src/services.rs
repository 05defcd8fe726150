//! Throw-away Redis and PostgreSQL servers for tests that need real ones.
//!
//! Each server runs from the Debian packages' binaries (`redis-server`; PostgreSQL's `initdb`,
//! `postgres` and `pg_ctl`, found on `PATH` or in `/usr/lib/postgresql/*/bin`), in its own
//! temporary folder, on a free port of `127.0.0.1` and nowhere else (PostgreSQL's unix socket
//! stays inside the temporary folder). It stops when dropped, and can be stopped and started
//! again on the same port in the middle of a test.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, the cluster belongs to the
//! `postgres` system user that the Debian package creates (or to `nobody` without it), and its
//! programs run with that user's ids.
//!
//! A machine without the packages skips such tests: [`RedisServer::start_or_skip`] and
//! [`PostgresServer::start_or_skip`] print `skipped: install redis-server / postgresql (Debian
//! packages) to run this test` and return `None`. With `MASTODON_AUTH_REQUIRE_SERVICES=1` (as
//! in CI) a missing binary fails the test instead.

use std::fmt;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that turns a missing server from a skipped test into a failure.
pub const REQUIRE_SERVICES: &str = "MASTODON_AUTH_REQUIRE_SERVICES";

/// How long a server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A throw-away server could not be started or stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServiceError {
    /// The program is not installed.
    Missing {
        /// The program that was looked for (`redis-server`, `initdb`, …).
        program: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A program could not be run, or failed.
    Failed {
        /// What was being done.
        action: String,
        /// What went wrong, with the end of the server's log where there is one.
        detail: String,
    },
}

impl ServiceError {
    fn failed(action: impl Into<String>, detail: impl fmt::Display) -> Self {
        Self::Failed {
            action: action.into(),
            detail: detail.to_string(),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { program, package } => write!(
                f,
                "{program} is not installed (not on PATH, nor in /usr/sbin or /usr/lib/postgresql/*/bin): install the Debian package {package}"
            ),
            Self::Failed { action, detail } => write!(f, "could not {action}: {detail}"),
        }
    }
}

impl std::error::Error for ServiceError {}

/// `Some(value)` when started; `None` after printing the skip line when the program is missing
/// and [`REQUIRE_SERVICES`] is not `1`. Panics otherwise, which fails the calling test.
fn or_skip<T>(started: Result<T, ServiceError>) -> Option<T> {
    match started {
        Ok(server) => Some(server),
        Err(missing @ ServiceError::Missing { .. }) if !services_required() => {
            // Straight to the process's stderr: libtest captures `eprintln!` of passing tests,
            // and this line is for the person wondering why nothing ran.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: install redis-server / postgresql (Debian packages) to run this test ({missing})"
            );
            None
        }
        Err(e) => panic!(
            "{e}{}",
            if services_required() {
                format!(" ({REQUIRE_SERVICES}=1: tests that need real servers must run)")
            } else {
                String::new()
            }
        ),
    }
}

fn services_required() -> bool {
    std::env::var(REQUIRE_SERVICES).is_ok_and(|v| v == "1")
}

/// A free TCP port on `127.0.0.1` (free when asked; the server binds it right after).
fn free_port() -> Result<u16, ServiceError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ServiceError::failed("find a free port on 127.0.0.1", e))
}

/// `program` in the folders of `PATH`, then in `extra` (in order).
fn find_program(program: &'static str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// `/usr/lib/postgresql/<version>/bin` folders, newest version first.
fn postgres_bin_dirs() -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// The last lines of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    if tail.is_empty() {
        format!("(nothing in {})", path.display())
    } else {
        format!("{}:\n{tail}", path.display())
    }
}

/// Kills and reaps a child, ignoring one that has already gone.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits until `ready` says yes, failing early when `child` exits.
fn wait_until_ready(
    what: &str,
    child: &mut Child,
    log: &Path,
    mut ready: impl FnMut() -> bool,
) -> Result<(), ServiceError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(ServiceError::failed(
                format!("start {what}"),
                format!("it exited with {status}; {}", log_tail(log)),
            ));
        }
        if Instant::now() > deadline {
            kill(child);
            return Err(ServiceError::failed(
                format!("start {what}"),
                format!(
                    "not ready after {} s; {}",
                    READY_TIMEOUT.as_secs(),
                    log_tail(log)
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A `redis-server` on `127.0.0.1`, without persistence, in a temporary folder.
///
/// ```no_run
/// use mastodon_auth_tests::RedisServer;
/// let Some(mut redis) = RedisServer::start_or_skip() else { return Ok(()) };
/// assert!(redis.url().starts_with("redis://127.0.0.1:"));
/// redis.kill(); // the "server died" case
/// redis.restart()?; // same port, empty data
/// # Ok::<(), mastodon_auth_tests::ServiceError>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    program: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port.
    ///
    /// # Errors
    /// [`ServiceError::Missing`] without `redis-server`; [`ServiceError::Failed`] when it does
    /// not come up.
    pub fn start() -> Result<Self, ServiceError> {
        let program = find_program("redis-server", &[PathBuf::from("/usr/sbin")]).ok_or(
            ServiceError::Missing {
                program: "redis-server",
                package: "redis-server",
            },
        )?;
        let dir = tempfile::Builder::new()
            .prefix("mastodon-auth-redis-")
            .tempdir()
            .map_err(|e| ServiceError::failed("create a folder for redis-server", e))?;
        let mut server = Self {
            program,
            dir,
            port: free_port()?,
            child: None,
        };
        server.restart()?;
        Ok(server)
    }

    /// [`start`](Self::start) for a test: `None` (after printing why) when `redis-server` is
    /// not installed and [`REQUIRE_SERVICES`] is not `1`.
    ///
    /// # Panics
    /// When the server cannot be started otherwise, which fails the test.
    #[must_use]
    pub fn start_or_skip() -> Option<Self> {
        or_skip(Self::start())
    }

    /// `redis://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The listening address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Kills the server (SIGKILL, as a crash would); a no-op when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }

    /// Starts the server again on the same port (killing it first if it is running), with
    /// no data: nothing is persisted.
    ///
    /// # Errors
    /// [`ServiceError::Failed`] when it does not come up.
    pub fn restart(&mut self) -> Result<(), ServiceError> {
        self.kill();
        let log = self.dir.path().join("redis.log");
        let port = self.port.to_string();
        let mut child = Command::new(&self.program)
            .args(["--bind", "127.0.0.1", "--port", &port])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ServiceError::failed("run redis-server", e))?;
        let addr = self.addr();
        wait_until_ready("redis-server", &mut child, &log, || redis_pong(addr))?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `PING` answered with `+PONG`.
fn redis_pong(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// Who owns and runs the cluster: the current user, or an unprivileged one when running as
/// root (PostgreSQL refuses root).
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl RunAs {
    /// `None` when not root. Otherwise the `postgres` system user (from the Debian package),
    /// or `nobody`.
    fn for_postgres() -> Result<Option<Self>, ServiceError> {
        use std::os::unix::fs::MetadataExt;
        // The owner of /proc/self is the process's effective user.
        let euid = std::fs::metadata("/proc/self")
            .map_err(|e| ServiceError::failed("find out who runs the tests", e))?
            .uid();
        if euid != 0 {
            return Ok(None);
        }
        let passwd = std::fs::read_to_string("/etc/passwd")
            .map_err(|e| ServiceError::failed("read /etc/passwd", e))?;
        let user = |name: &str| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                (fields.next()? == name).then_some(())?;
                let _password = fields.next()?;
                Some(Self {
                    uid: fields.next()?.parse().ok()?,
                    gid: fields.next()?.parse().ok()?,
                })
            })
        };
        ["postgres", "nobody"]
            .into_iter()
            .find_map(user)
            .map(Some)
            .ok_or_else(|| {
                ServiceError::failed(
                    "run PostgreSQL as root",
                    "it refuses root, and neither a postgres nor a nobody user exists",
                )
            })
    }

    fn command(self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.uid(self.uid).gid(self.gid);
        command
    }
}

/// A PostgreSQL cluster in a temporary folder, serving `127.0.0.1` on a free port, with
/// `trust` authentication for the superuser `postgres`.
///
/// ```no_run
/// use mastodon_auth_tests::PostgresServer;
/// let Some(mut pg) = PostgresServer::start_or_skip() else { return Ok(()) };
/// println!("{}", pg.url()); // postgres://postgres@127.0.0.1:PORT/postgres
/// pg.crash()?; // immediate shutdown: no clean checkpoint, recovery on the next start
/// pg.restart()?; // same port, same data
/// # Ok::<(), mastodon_auth_tests::ServiceError>(())
/// ```
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    run_as: Option<RunAs>,
    port: u16,
    child: Option<Child>,
}

impl PostgresServer {
    /// Creates a cluster (`initdb`) and starts it on a free port.
    ///
    /// # Errors
    /// [`ServiceError::Missing`] without PostgreSQL's programs; [`ServiceError::Failed`] when
    /// the cluster cannot be created or does not come up.
    pub fn start() -> Result<Self, ServiceError> {
        let initdb = find_program("initdb", &postgres_bin_dirs()).ok_or(ServiceError::Missing {
            program: "initdb",
            package: "postgresql",
        })?;
        // The other programs sit beside the real initdb, not beside a symbolic link to it.
        let initdb = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        let bin = initdb.parent().unwrap_or(Path::new("/")).to_path_buf();
        for program in ["postgres", "pg_ctl", "pg_isready"] {
            if !bin.join(program).is_file() {
                return Err(ServiceError::Missing {
                    program,
                    package: "postgresql",
                });
            }
        }
        let run_as = RunAs::for_postgres()?;
        let dir = tempfile::Builder::new()
            .prefix("mastodon-auth-postgres-")
            .tempdir()
            .map_err(|e| ServiceError::failed("create a folder for PostgreSQL", e))?;
        if let Some(user) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid))
                .map_err(|e| ServiceError::failed("hand the folder to the postgres user", e))?;
        }
        let mut server = Self {
            bin,
            dir,
            run_as,
            port: free_port()?,
            child: None,
        };
        let log = server.dir.path().join("initdb.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| ServiceError::failed("create the initdb log", e))?;
        if let Some(user) = run_as {
            let _ = std::os::unix::fs::chown(&log, Some(user.uid), Some(user.gid));
        }
        let status = server
            .command("initdb")
            .arg("-D")
            .arg(server.data_dir())
            .args(["--username=postgres", "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync"])
            .stdin(Stdio::null())
            .stdout(
                log_file
                    .try_clone()
                    .map_err(|e| ServiceError::failed("open the initdb log", e))?,
            )
            .stderr(log_file)
            .status()
            .map_err(|e| ServiceError::failed("run initdb", e))?;
        if !status.success() {
            return Err(ServiceError::failed(
                "create a PostgreSQL cluster",
                format!("initdb exited with {status}; {}", log_tail(&log)),
            ));
        }
        server.restart()?;
        Ok(server)
    }

    /// [`start`](Self::start) for a test: `None` (after printing why) when PostgreSQL is not
    /// installed and [`REQUIRE_SERVICES`] is not `1`.
    ///
    /// # Panics
    /// When the server cannot be started otherwise, which fails the test.
    #[must_use]
    pub fn start_or_skip() -> Option<Self> {
        or_skip(Self::start())
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres` (no password: `trust` on loopback).
    #[must_use]
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The listening address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as {
            Some(user) => user.command(&path),
            None => Command::new(path),
        }
    }

    /// Stops the server with an immediate shutdown (every backend killed, no checkpoint: a
    /// crash as far as the data is concerned); a no-op when it is not running.
    ///
    /// # Errors
    /// [`ServiceError::Failed`] when `pg_ctl` cannot be run.
    pub fn crash(&mut self) -> Result<(), ServiceError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let stopped = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "-t", "60"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Whatever pg_ctl managed, the postmaster must be gone before anything else runs.
        kill(&mut child);
        stopped
            .map(drop)
            .map_err(|e| ServiceError::failed("run pg_ctl stop", e))
    }

    /// Starts the server again on the same port with the same data (crashing it first if it
    /// is running).
    ///
    /// # Errors
    /// [`ServiceError::Failed`] when it does not come up.
    pub fn restart(&mut self) -> Result<(), ServiceError> {
        self.crash()?;
        let log = self.dir.path().join("postgres.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| ServiceError::failed("open the PostgreSQL log", e))?;
        let stderr = log_file
            .try_clone()
            .map_err(|e| ServiceError::failed("open the PostgreSQL log", e))?;
        let port = self.port.to_string();
        let mut child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &port, "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            // Throw-away data: skip the flushes to disk (a killed server still loses nothing
            // that was committed, the operating system keeps it), and allow many connections
            // for tests that start many processes.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=200", "-c", "logging_collector=off"])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .spawn()
            .map_err(|e| ServiceError::failed("run postgres", e))?;
        let isready = self.bin.join("pg_isready");
        wait_until_ready("postgres", &mut child, &log, || {
            Command::new(&isready)
                .args(["-q", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.crash();
    }
}
