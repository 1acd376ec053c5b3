//! A real PostgreSQL server on 127.0.0.1 for tests: `initdb` into a temp
//! dir, a free port, stopped (and the dir removed) on drop.
//!
//! The server binaries are the distribution's (`/usr/lib/postgresql/<ver>/bin`,
//! not on `PATH`; `$LLMTAP_PG_BIN` overrides; `tests/postgres/setup.sh`
//! installs them with apt-get when missing), and they refuse to run as
//! root, so as root (CI) every server command runs as `nobody` through
//! `runuser`, with the data directory owned by it. Trust authentication on
//! loopback only, `fsync` off (but for [`PostgresServer::start_durable`]):
//! a test database, nothing else.
//!
//! [`PostgresServer::start_tls`] starts one with `ssl = on`, its
//! certificate (for `127.0.0.1` and `localhost`) signed by a CA made for it
//! alone, with the `openssl` command (Debian's `postgresql` depends on it).
//!
//! ```ignore
//! let Some(pg) = PostgresServer::start() else { return }; // no server installed
//! let url = pg.url(); // postgres://postgres@127.0.0.1:PORT/postgres
//! pg.restart();       // the same port and data, after a fast stop
//! let tls = PostgresServer::start_tls().unwrap();
//! let ca = tls.ca_file().unwrap(); // for sslrootcert=
//! ```

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The running server; dropping it stops it and removes its data.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_nobody: bool,
    ca: Option<PathBuf>,
    /// fsync on: for benchmarks, where commits must cost what they cost.
    durable: bool,
}

impl PostgresServer {
    /// Starts a fresh server, or `None` when no PostgreSQL server is
    /// installed and `tests/postgres/setup.sh` could not install one (the
    /// caller says so and skips, or fails where one must be).
    pub fn start() -> Option<Self> {
        Self::start_with(false, false)
    }

    /// [`PostgresServer::start`] with `fsync` on, as a production server
    /// runs: for benchmarks of what a commit costs.
    pub fn start_durable() -> Option<Self> {
        Self::start_with(false, true)
    }

    /// [`PostgresServer::start`] with TLS on (and plain TCP still accepted):
    /// `server.crt` and `server.key` (mode 0600, owned by the server's
    /// user) in the data directory, signed by the CA at
    /// [`PostgresServer::ca_file`].
    pub fn start_tls() -> Option<Self> {
        Self::start_with(true, false)
    }

    fn start_with(tls: bool, durable: bool) -> Option<Self> {
        let bin = server_bin().or_else(|| {
            let setup = crate::fixtures::at_root("tests/postgres/setup.sh");
            let installed = Command::new("bash").arg(setup).status();
            installed
                .is_ok_and(|s| s.success())
                .then(server_bin)
                .flatten()
        })?;
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "llmtap-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let as_nobody = is_root();
        if as_nobody {
            let (uid, gid) = nobody();
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown to nobody");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = PostgresServer {
            bin,
            dir: dir.clone(),
            port,
            as_nobody,
            ca: tls.then(|| dir.join("ca.crt")),
            durable,
        };
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        if tls {
            server.make_certificates();
        }
        server.start_server();
        Some(server)
    }

    /// [`PostgresServer::start`] for a test: `None` (after saying so) only
    /// when no server can be had and `LLMTAP_SKIP_POSTGRES=1`; otherwise no
    /// server fails the test, since CI must run it.
    pub fn for_test() -> Option<Self> {
        Self::or_skip(Self::start())
    }

    /// [`PostgresServer::start_tls`] for a test, skipped or failed as
    /// [`PostgresServer::for_test`] is.
    pub fn for_test_tls() -> Option<Self> {
        Self::or_skip(Self::start_tls())
    }

    fn or_skip(server: Option<Self>) -> Option<Self> {
        match server {
            Some(pg) => Some(pg),
            None if std::env::var("LLMTAP_SKIP_POSTGRES").is_ok_and(|v| v == "1") => {
                eprintln!("SKIPPED: no PostgreSQL server installed (LLMTAP_SKIP_POSTGRES=1)");
                None
            }
            None => panic!(
                "no PostgreSQL server in /usr/lib/postgresql/*/bin and tests/postgres/setup.sh \
                 could not install one (LLMTAP_SKIP_POSTGRES=1 skips the database tests)"
            ),
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The CA that signed the server's certificate (PEM), when started
    /// with [`PostgresServer::start_tls`].
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast: open connections are cut); the data stays.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Starts it again after [`PostgresServer::stop`], same port and data.
    pub fn start_server(&self) {
        let options = format!(
            "-h 127.0.0.1 -p {} -k {}{} -c max_connections=50",
            self.port,
            self.dir.display(),
            if self.durable { "" } else { " -F" }
        );
        let log = self.dir.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    /// Stops and starts it: a database restarted mid-run.
    pub fn restart(&self) {
        self.stop();
        self.start_server();
    }

    /// A CA (`ca.crt`), and a certificate it signs for `localhost` and
    /// `127.0.0.1` (EC P-256, valid two days), in the files
    /// `postgresql.conf`'s defaults name; then `ssl = on`.
    fn make_certificates(&self) {
        std::fs::write(
            self.dir.join("tls.cnf"),
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = llmtap test CA\n\
             [ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign\n\
             subjectKeyIdentifier = hash\n\
             [server]\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n\
             basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n",
        )
        .expect("write tls.cnf");
        const NEW_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        for args in [
            format!("req -x509 -new -config tls.cnf -extensions ca -days 2 {NEW_KEY} -keyout ca.key -out ca.crt"),
            format!("req -new -config tls.cnf -subj /CN=localhost {NEW_KEY} -keyout data/server.key -out server.csr"),
            "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 2 \
             -extfile tls.cnf -extensions server -out data/server.crt"
                .to_owned(),
        ] {
            self.openssl(&args);
        }
        let data = self.dir.join("data");
        let (key, cert) = (data.join("server.key"), data.join("server.crt"));
        // The server refuses a key others can read, or one it does not own.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .expect("chmod server.key");
        if self.as_nobody {
            let (uid, gid) = nobody();
            for file in [&key, &cert] {
                std::os::unix::fs::chown(file, Some(uid), Some(gid)).expect("chown to nobody");
            }
        }
        let mut config = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("open postgresql.conf");
        config
            .write_all(b"\nssl = on\n")
            .expect("write postgresql.conf");
    }

    /// `openssl ARGS` in the server's directory; panics with its output.
    fn openssl(&self, args: &str) {
        let out = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("openssl (for the TLS test server): {e}"));
        assert!(
            out.status.success(),
            "openssl {args} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut cmd = match self.as_nobody {
            true => {
                let mut c = Command::new("runuser");
                c.args(["-u", "nobody", "--"]).arg(&program);
                c
            }
            false => Command::new(&program),
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = match self.as_nobody {
            true => Command::new("runuser")
                .args(["-u", "nobody", "--"])
                .arg(&program)
                .args(args)
                .output(),
            false => Command::new(&program).args(args).output(),
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/<ver>/bin` with `initdb`, or `$LLMTAP_PG_BIN`.
fn server_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LLMTAP_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            Path::new(&bin.join("initdb"))
                .exists()
                .then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // The `id` of the process, without a libc binding.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn nobody() -> (u32, u32) {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, "nobody"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(65534)
    };
    (id("-u"), id("-g"))
}
