//! The Python package (`python/`), built and tested through pytest.
//!
//! `python/tests/run.sh` builds the wheel with maturin into the LiteLLM venv
//! (`tests/litellm/setup.sh`), sharing this workspace's `target/`, and runs
//! `python/tests`: the functions, the client (outage, drops, fork, exit
//! flush), the SDK path with `litellm.acompletion` and the proxy path with a
//! real `litellm --config`, against the fake provider and the capture server
//! on 127.0.0.1, and `postgres_url` against a PostgreSQL server this test
//! starts (`LLMTAP_TEST_POSTGRES_URL`). It hands pytest the binaries cargo
//! built and fails with pytest's output when pytest fails.
//!
//! Without PyPI the venv cannot be built: the test fails and says so,
//! unless `LLMTAP_SKIP_PYTHON=1`, when it says why and skips. Without a
//! PostgreSQL server it fails too, unless `LLMTAP_SKIP_POSTGRES=1` (or
//! `LLMTAP_SKIP_PYTHON=1`): then pytest skips only the database tests.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use llmtap_testkit::PostgresServer;
use support::{fixtures, Proc};

/// A first run installs the test requirements and builds the extension in
/// release mode (a few minutes on 2 cores); later runs take ~40 s.
const PATIENCE: Duration = Duration::from_secs(1500);

#[test]
fn the_python_package_passes_its_pytest_suite() {
    let pg = PostgresServer::start();
    if pg.is_none() {
        let why = "no PostgreSQL server in /usr/lib/postgresql/*/bin and tests/postgres/setup.sh \
                   could not install one";
        assert!(
            skip_allowed() || env_is("LLMTAP_SKIP_POSTGRES", "1"),
            "{why} (LLMTAP_SKIP_POSTGRES=1 skips the package's database tests)"
        );
        eprintln!("SKIPPING the Python package's PostgreSQL tests: {why}");
    }
    let mut cmd = Command::new("bash");
    cmd.arg(fixtures::at_root("python/tests/run.sh"))
        .current_dir(fixtures::workspace_root())
        .env("LLMTAP_BIN", env!("CARGO_BIN_EXE_llmtap"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match &pg {
        Some(pg) => cmd.env("LLMTAP_TEST_POSTGRES_URL", pg.url()),
        None => cmd.env_remove("LLMTAP_TEST_POSTGRES_URL"),
    };
    let mut run = Proc::spawn("python/tests/run.sh", &mut cmd);
    let out = run.collect_stdout();
    let err = run.collect_stderr();
    let status = run.wait_for(PATIENCE);
    let log = format!("{}{}", out.finish(), err.finish());
    eprint!("{log}");
    match status {
        Some(s) if s.success() => assert!(log.contains(" passed"), "pytest ran nothing:\n{log}"),
        Some(_) if skip_allowed() && !log.contains("python tests: building the wheel") => {
            eprintln!("SKIPPED the Python package tests (LLMTAP_SKIP_PYTHON=1): the venv could not be built");
        }
        Some(s) => panic!("python/tests/run.sh failed ({s}):\n{log}"),
        None => panic!("python/tests/run.sh took over {PATIENCE:?}:\n{log}"),
    }
}

fn skip_allowed() -> bool {
    env_is("LLMTAP_SKIP_PYTHON", "1")
}

fn env_is(var: &str, value: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == value)
}
