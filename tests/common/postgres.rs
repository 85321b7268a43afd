//! A throwaway PostgreSQL server for the tests of one test binary, and a fresh database per
//! test in it.
//!
//! The first test that asks starts the server: `initdb` into a temporary folder (as the
//! `postgres` user when the tests run as root: PostgreSQL refuses root), then `postgres` on a
//! Unix socket in that folder only (no TCP port, so clusters of several test binaries never
//! collide), fsync off. The server is stopped and its folder removed when the test binary
//! exits (an `atexit` handler), and it dies with the test binary if that is killed (its parent
//! death signal), so no server outlives the tests.
//!
//! With `NEXTBEST_TEST_POSTGRES_URL` set (a URL whose user may create databases) the tests use
//! that server instead and drop their databases when done.
//!
//! The PostgreSQL binaries are looked up on `PATH`, then in Debian's
//! `/usr/lib/postgresql/<version>/bin`. Missing, a test fails and says so: PostgreSQL tests are
//! never skipped silently.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The variable naming an existing server to test against.
pub const EXTERNAL_URL: &str = "NEXTBEST_TEST_POSTGRES_URL";

/// The socket port: any number works, the socket lives in the cluster's own folder.
const PORT: u16 = 5432;

enum Server {
    Throwaway { socket_dir: PathBuf },
    External { admin_url: String },
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// The running throwaway cluster, for the exit handler: (postmaster pid, its folder).
static RUNNING: Mutex<Option<(i32, PathBuf)>> = Mutex::new(None);

/// A database of its own for one test; dropped at the end on an external server.
pub struct TestDatabase {
    /// The `postgres://` URL of the database.
    pub url: String,
    name: String,
    external_admin: Option<String>,
}

impl TestDatabase {
    /// A new, empty database (the store creates its tables).
    pub fn create() -> TestDatabase {
        let server = SERVER
            .get_or_init(start)
            .as_ref()
            .unwrap_or_else(|e| panic!("{e}"));
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "nb_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (admin, url, external_admin) = match server {
            Server::Throwaway { socket_dir } => {
                let host = percent_encode_path(socket_dir);
                (
                    format!("postgres://postgres@{host}:{PORT}/postgres"),
                    format!("postgres://postgres@{host}:{PORT}/{name}"),
                    None,
                )
            }
            Server::External { admin_url } => (
                admin_url.clone(),
                with_database(admin_url, &name),
                Some(admin_url.clone()),
            ),
        };
        admin_sql(&admin, &format!("CREATE DATABASE {name}"));
        TestDatabase {
            url,
            name,
            external_admin,
        }
    }

    /// Runs SQL on this database (as its owner), for a test's own checks and tampering.
    pub fn execute(&self, sql: &str) {
        admin_sql(&self.url, sql);
    }

    /// The first column of each row an SQL query answers, as text.
    pub fn query_strings(&self, sql: &str) -> Vec<String> {
        let url = self.url.clone();
        let sql = sql.to_string();
        off_any_runtime(move || {
            let mut client = connect(&url);
            client
                .query(sql.as_str(), &[])
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect()
        })
    }

    /// A connection to this database (use it off any async runtime).
    pub fn connect(&self) -> postgres::Client {
        connect(&self.url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(admin) = &self.external_admin {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let admin = admin.clone();
            let _ = std::thread::spawn(move || {
                if let Ok(mut client) = postgres::Client::connect(&admin, postgres::NoTls) {
                    let _ = client.batch_execute(&sql);
                }
            })
            .join();
        }
    }
}

/// Runs `f` on a thread of its own: the `postgres` client must not run on an async runtime's
/// thread (an `#[actix_web::test]`).
fn off_any_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f)
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting to the test server: {e:?}"))
}

fn admin_sql(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    off_any_runtime(move || {
        connect(&url)
            .batch_execute(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    });
}

fn percent_encode_path(path: &Path) -> String {
    path.to_string_lossy()
        .replace('%', "%25")
        .replace('/', "%2F")
}

/// The URL with its database (the path after the host) replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{database}{query}", &base[..path_start])
}

fn start() -> Result<Server, String> {
    if let Ok(url) = std::env::var(EXTERNAL_URL) {
        if !url.trim().is_empty() {
            return Ok(Server::External { admin_url: url });
        }
    }
    let bin = find_binaries()?;
    let dir = std::env::temp_dir().join(format!("nextbest-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let owner = server_user()?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| format!("handing {} to the postgres user: {e}", dir.display()))?;
    }
    let as_owner = |command: &mut Command| {
        if let Some((uid, gid)) = owner {
            command.uid(uid).gid(gid);
        }
    };
    let data = dir.join("data");
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
        .args(["--locale=C", "--no-instructions"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    as_owner(&mut initdb);
    let out = initdb
        .output()
        .map_err(|e| format!("running {}: {e}", bin.join("initdb").display()))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let mut postgres = Command::new(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(&dir)
        .args(["-p", &PORT.to_string(), "-c", "listen_addresses="])
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    as_owner(&mut postgres);
    // The server dies with the test binary, whatever ends it (see `spawn_for_life`).
    let pid = spawn_for_life(postgres)?;
    *RUNNING.lock().unwrap_or_else(|p| p.into_inner()) = Some((pid, dir.clone()));
    // SAFETY: registers a plain function with no arguments; it runs once, at exit.
    unsafe {
        libc::atexit(stop_at_exit);
    }
    let url = format!(
        "postgres://postgres@{}:{PORT}/postgres",
        percent_encode_path(&dir)
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let probe = url.clone();
        let ready =
            off_any_runtime(move || postgres::Client::connect(&probe, postgres::NoTls).map(|_| ()));
        match ready {
            Ok(()) => break,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                return Err(format!("the test server did not start: {e:?}\n{log}"));
            }
        }
    }
    Ok(Server::Throwaway { socket_dir: dir })
}

/// Starts the server from a thread that lives as long as the process, with a parent death
/// signal: the kernel kills the server when that thread — so the process — ends.
fn spawn_for_life(mut command: Command) -> Result<i32, String> {
    let (sent, pid) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || {
            // SAFETY: prctl in the child between fork and exec only sets a flag of that
            // process; it allocates nothing and touches no memory of ours.
            unsafe {
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
            match command.spawn() {
                Ok(child) => {
                    let _ = sent.send(Ok(child.id() as i32));
                    // The child is reaped by the exit handler; this thread only keeps it alive.
                    loop {
                        std::thread::park();
                    }
                }
                Err(e) => {
                    let _ = sent.send(Err(format!("starting postgres: {e}")));
                }
            }
        })
        .map_err(|e| e.to_string())?;
    pid.recv().map_err(|e| e.to_string())?
}

extern "C" fn stop_at_exit() {
    let running = RUNNING.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some((pid, dir)) = running else {
        return;
    };
    // SIGQUIT: PostgreSQL's immediate shutdown (the data is thrown away anyway).
    // SAFETY: signals and waits for our own child process by its pid.
    unsafe {
        libc::kill(pid, libc::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        while libc::waitpid(pid, &mut status, libc::WNOHANG) == 0 {
            if Instant::now() > deadline {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The uid and gid to run the server as: the `postgres` user when we are root (PostgreSQL
/// refuses to run as root), nobody else's otherwise.
fn server_user() -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres") && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .map(Some)
        .ok_or_else(|| {
            "the tests run as root and there is no 'postgres' user to run PostgreSQL as \
             (install PostgreSQL from the distribution's packages, which creates it)"
                .to_string()
        })
}

/// The folder holding `initdb` and `postgres`.
fn find_binaries() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    debian.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    debian.reverse();
    on_path
        .into_iter()
        .chain(debian)
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .ok_or_else(|| {
            format!(
                "PostgreSQL's initdb and postgres were found neither on PATH nor in \
                 /usr/lib/postgresql/*/bin: install PostgreSQL (15 or later; `.ci/run` does), or \
                 set {EXTERNAL_URL} to a server the tests may create databases on"
            )
        })
}
