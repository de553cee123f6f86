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
        agent.child.try_wait().ok();
        Ok(agent)
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
