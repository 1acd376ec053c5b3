//! Child processes the tests start: each in its own process group, so that
//! whatever it spawns (LiteLLM's workers, pip) dies with it, and killed on
//! drop, so that a failing assertion leaves nothing running.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long to wait for a pipe's last lines once its process has exited.
const DRAIN: Duration = Duration::from_secs(2);

/// A child process in its own process group, killed (group and all) on drop.
pub struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    /// Starts `cmd` as the leader of a new process group; panics if it cannot
    /// start (a missing binary is a broken test, not a result).
    pub fn spawn(name: impl Into<String>, cmd: &mut Command) -> Proc {
        let name = name.into();
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { child, name }
    }

    /// The name given at spawn, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id, which is also its process group id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Collects stdout (spawned with `Stdio::piped()`) on a thread.
    pub fn collect_stdout(&mut self) -> Collected {
        Collected::start(self.take_stdout(), |_| {})
    }

    /// Collects stderr (spawned with `Stdio::piped()`) on a thread.
    pub fn collect_stderr(&mut self) -> Collected {
        self.collect_stderr_with(|_| {})
    }

    /// Collects stderr, calling `on_line` with each line as it arrives.
    pub fn collect_stderr_with(&mut self, on_line: impl FnMut(&str) + Send + 'static) -> Collected {
        let stderr: ChildStderr = self
            .child
            .stderr
            .take()
            .unwrap_or_else(|| panic!("{}: stderr was not piped", self.name));
        Collected::start(stderr, on_line)
    }

    fn take_stdout(&mut self) -> ChildStdout {
        self.child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("{}: stdout was not piped", self.name))
    }

    /// Sends `signal` (as `kill` spells it: `-TERM`, `-KILL`) to the whole group.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the exit; `None` when `patience` ran out (the group is then killed).
    pub fn wait_for(&mut self, patience: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + patience;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    eprintln!("{} did not finish in {patience:?}: killing it", self.name);
                    self.kill();
                    return None;
                }
            }
        }
    }

    /// Kills the group and reaps the leader.
    pub fn kill(&mut self) {
        self.signal("-KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            self.kill();
        }
    }
}

/// The text of a child's pipe, read line by line on a thread until it closes.
#[derive(Clone)]
pub struct Collected {
    state: Arc<(Mutex<(String, bool)>, Condvar)>,
}

impl Collected {
    fn start(
        stream: impl Read + Send + 'static,
        mut on_line: impl FnMut(&str) + Send + 'static,
    ) -> Self {
        let state = Arc::new((Mutex::new((String::new(), false)), Condvar::new()));
        let shared = state.clone();
        std::thread::spawn(move || {
            let (lock, closed) = &*shared;
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                on_line(&line);
                let mut text = lock.lock().unwrap();
                text.0.push_str(&line);
                text.0.push('\n');
            }
            lock.lock().unwrap().1 = true;
            closed.notify_all();
        });
        Collected { state }
    }

    /// What has been read so far.
    pub fn text(&self) -> String {
        self.state.0.lock().unwrap().0.clone()
    }

    /// Everything, once the pipe has closed (call it after the process
    /// exited); what was read so far if it stays open for [`DRAIN`], as
    /// it does while a grandchild holds it.
    pub fn finish(&self) -> String {
        let (lock, closed) = &*self.state;
        let guard = lock.lock().unwrap();
        let (guard, _) = closed
            .wait_timeout_while(guard, DRAIN, |(_, done)| !*done)
            .unwrap();
        guard.0.clone()
    }
}
