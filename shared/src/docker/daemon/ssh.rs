//! `PLUGIN_SSH_AGENT_KEY`: a private ssh-agent holding the key, whose socket BuildKit forwards to
//! `RUN --mount=type=ssh`. The anchor writes the key to `~/.ssh/id_rsa` and leaves it there; we keep
//! it in the agent's memory only (it reaches `ssh-add` through a pipe), and the agent and its
//! private socket directory go away with the step.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::docker::DockerError;
use crate::secret::Secret;

/// A running ssh-agent with one key.
pub struct SshAgent {
    child: Child,
    /// The agent's socket (`SSH_AUTH_SOCK`).
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl SshAgent {
    /// Starts `ssh-agent` on a socket in a private directory and adds `key` to it.
    pub fn start(key: &Secret) -> Result<SshAgent, DockerError> {
        let fail = |reason: String| DockerError::Build(format!("PLUGIN_SSH_AGENT_KEY: {reason}"));
        let dir = crate::files::private_tempdir("longshore-ssh-")
            .map_err(|e| fail(format!("cannot create a private directory: {e}")))?;
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .env_clear()
            .envs(crate::child_env::inherited())
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                fail(format!(
                    "cannot run ssh-agent ({e}); it comes with openssh-client"
                ))
            })?;
        let mut agent = SshAgent {
            child,
            socket,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !agent.socket.exists() {
            if Instant::now() > deadline {
                return Err(fail("ssh-agent did not create its socket within 5s".into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut add = Command::new("ssh-add")
            .arg("-q")
            .arg("-")
            .env_clear()
            .envs(crate::child_env::inherited())
            .env("SSH_AUTH_SOCK", &agent.socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run ssh-add: {e}")))?;
        let mut text = key.expose().to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if let Some(mut stdin) = add.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| fail(format!("cannot pass the key to ssh-add: {e}")))?;
        }
        let out = add
            .wait_with_output()
            .map_err(|e| fail(format!("ssh-add failed: {e}")))?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr);
            return Err(fail(format!(
                "ssh-add refused the key: {}",
                crate::secret::mask(msg.trim())
            )));
        }
        let _ = agent.child.try_wait();
        Ok(agent)
    }

    /// Points this process's `SSH_AUTH_SOCK` at the agent: bollard's BuildKit session finds the
    /// agent only there. The one `unsafe` act of the workspace, and the only write to the process
    /// environment. Refuses, instead of racing, once this process has a second thread.
    #[allow(
        unsafe_code,
        reason = "std::env::set_var; sound only while single-threaded, checked"
    )]
    pub(crate) fn export(&self) -> Result<(), DockerError> {
        match thread_count() {
            Some(1) => {}
            n => {
                let seen = n.map_or_else(|| "an unknown number of".to_string(), |n| n.to_string());
                return Err(DockerError::Build(format!(
                    "PLUGIN_SSH_AGENT_KEY: cannot set SSH_AUTH_SOCK: this process already runs \
                     {seen} threads (it must be set before the async runtime starts)"
                )));
            }
        }
        // SAFETY: `set_var` is unsound only when another thread may read or write the environment
        // at the same time. The kernel just counted one thread in this process (`/proc/self/task`)
        // — this one — and a new thread can only be started by a running one, so none can start
        // between that count and this write. In the binaries this runs in `login::flow::run`,
        // after the settings and plan and before `cli::block_on` starts the tokio runtime.
        unsafe { std::env::set_var("SSH_AUTH_SOCK", &self.socket) };
        Ok(())
    }
}

/// How many threads this process has, as the kernel lists them (None: `/proc` is not mounted).
fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task")
        .ok()
        .map(|tasks| tasks.count())
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "checks the process environment itself"
    )]
    fn export_refuses_while_another_thread_runs() {
        let (stop, parked) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || parked.recv());
        let agent_socket = PathBuf::from("/nonexistent/agent.sock");
        let before = std::env::var_os("SSH_AUTH_SOCK");
        // Not a started agent: only `export` is under test, and it must stop before the write.
        let child = Command::new("true").spawn().expect("true runs");
        let agent = SshAgent {
            child,
            socket: agent_socket,
            _dir: tempfile::tempdir().expect("temp dir"),
        };
        let err = agent.export().expect_err("two threads run");
        assert!(err.to_string().contains("threads"), "{err}");
        assert_eq!(std::env::var_os("SSH_AUTH_SOCK"), before);
        stop.send(()).expect("the other thread waits");
        other.join().expect("joins").expect("received");
    }
}
