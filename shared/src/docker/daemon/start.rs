//! The Docker daemon: connect to the one at `DOCKER_HOST`, or start `dockerd` ourselves (the
//! Docker-in-Docker mode of plugins/docker) and wait until `/_ping` answers.
//!
//! Unlike the anchor, a daemon that never answers is a failure, reported with the tail of its
//! log; and a daemon that exits while we wait fails at once instead of after the timeout.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bollard::Docker;
use tracing::{debug, info};

use crate::docker::DockerError;
use crate::registry::auth::fix_registry_headers;

/// How often readiness is polled: dockerd is ready in 0.1–0.5 s here, so a one-second poll (the
/// anchor's) would mostly wait.
const POLL: Duration = Duration::from_millis(50);

/// Lines of the daemon log shown when it fails.
const LOG_TAIL_LINES: usize = 20;

/// The default socket, where dockerd listens when we start it without `DOCKER_HOST`.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How to reach (or start) the daemon.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Start `dockerd` (unless one already answers at `host`).
    pub start: bool,
    /// `DOCKER_HOST` or the default socket.
    pub host: String,
    /// Arguments for `dockerd` (every value as `--flag=value`, so no value can become a flag).
    pub args: Vec<String>,
    /// How long to wait for the daemon we start.
    pub timeout: Duration,
    /// Copy the daemon log to our log when done.
    pub debug: bool,
    /// The registries the step talks to through the daemon (push, login, mirrors), by their
    /// `certs.d` name: the ones handed the `HARNESS_CA_PATH` CAs when we start dockerd.
    pub certs_d: Vec<String>,
}

/// A connected daemon, and the `dockerd` process when we started it.
pub struct Daemon {
    /// The Engine API client.
    pub docker: Docker,
    child: Option<tokio::process::Child>,
    log: Option<PathBuf>,
    _log_dir: Option<tempfile::TempDir>,
    /// The Harness CA files of the dockerd we started, removed with it.
    _certs_d: crate::tls::CertsDFiles,
}

impl Daemon {
    /// Connects, starting `dockerd` first when configured to.
    pub async fn connect(cfg: &DaemonConfig) -> Result<Daemon, DockerError> {
        if !cfg.start {
            let docker = client(&cfg.host)?;
            docker.ping().await.map_err(|e| DockerError::Unreachable {
                host: cfg.host.clone(),
                reason: e.to_string(),
            })?;
            info!(host = %cfg.host, "using the running daemon");
            return Ok(Daemon {
                docker,
                child: None,
                log: None,
                _log_dir: None,
                _certs_d: Default::default(),
            });
        }
        // A mounted socket with a live daemon: starting a second one would fight over it.
        if let Ok(docker) = client(&cfg.host)
            && tokio::time::timeout(Duration::from_secs(2), docker.ping())
                .await
                .is_ok_and(|r| r.is_ok())
        {
            info!(host = %cfg.host, "a daemon already answers, using it");
            return Ok(Daemon {
                docker,
                child: None,
                log: None,
                _log_dir: None,
                _certs_d: Default::default(),
            });
        }
        start(cfg).await
    }

    /// The daemon log, when we started it and `debug` is on.
    pub fn log_tail(&self) -> Option<String> {
        self.log.as_deref().map(tail)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // Inside a DinD container the daemon ends with the container; elsewhere (tests,
            // a reused workspace) it must not outlive the step.
            let _ = child.start_kill();
        }
    }
}

fn client(host: &str) -> Result<Docker, DockerError> {
    Docker::connect_with_host(host)
        .map(|d| d.with_request_modifier(fix_registry_headers))
        .map_err(|e| DockerError::Unreachable {
            host: host.to_string(),
            reason: e.to_string(),
        })
}

async fn start(cfg: &DaemonConfig) -> Result<Daemon, DockerError> {
    let dir =
        crate::files::private_tempdir("longshore-dockerd-").map_err(|e| DockerError::Start {
            reason: format!("cannot create a log directory: {e}"),
            log_tail: String::new(),
        })?;
    let log_path = dir.path().join("dockerd.log");
    let log = std::fs::File::create(&log_path).map_err(|e| DockerError::Start {
        reason: format!("cannot create the daemon log: {e}"),
        log_tail: String::new(),
    })?;
    let log_err = log.try_clone().map_err(|e| DockerError::Start {
        reason: e.to_string(),
        log_tail: String::new(),
    })?;
    // dockerd trusts a registry's CA only through certs.d (it reads no variable of ours).
    let written =
        crate::tls::write_certs_d(Path::new(crate::tls::CERTS_D), &cfg.certs_d).map_err(|e| {
            DockerError::Start {
                reason: format!(
                    "cannot hand HARNESS_CA_PATH to dockerd in {}: {e}",
                    crate::tls::CERTS_D
                ),
                log_tail: String::new(),
            }
        })?;
    if !written.files().is_empty() {
        info!(registries = %cfg.certs_d.join(" "), "HARNESS_CA_PATH trusted by dockerd");
    }
    info!(args = %cfg.args.join(" "), "starting dockerd");
    let started = Instant::now();
    let mut child = tokio::process::Command::new("dockerd")
        .args(&cfg.args)
        .env_clear()
        .envs(crate::child_env::inherited())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| DockerError::Start {
            reason: format!(
                "cannot run dockerd ({e}); set PLUGIN_DAEMON_OFF=true to use a mounted socket"
            ),
            log_tail: String::new(),
        })?;
    let deadline = started + cfg.timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(DockerError::Start {
                reason: format!("dockerd exited ({status}) before it answered"),
                log_tail: tail(&log_path),
            });
        }
        if let Ok(docker) = client(&cfg.host) {
            let left = deadline.saturating_duration_since(Instant::now()).max(POLL);
            if let Ok(Ok(_)) =
                tokio::time::timeout(left.min(Duration::from_secs(5)), docker.ping()).await
            {
                info!(elapsed = ?started.elapsed(), "ready");
                return Ok(Daemon {
                    docker,
                    child: Some(child),
                    log: cfg.debug.then(|| log_path.clone()),
                    _log_dir: Some(dir),
                    _certs_d: written,
                });
            }
        }
        if Instant::now() >= deadline {
            let _ = child.start_kill();
            return Err(DockerError::Start {
                reason: format!(
                    "dockerd did not answer at {} within {}s (PLUGIN_DAEMON_RETRY_COUNT)",
                    cfg.host,
                    cfg.timeout.as_secs()
                ),
                log_tail: tail(&log_path),
            });
        }
        debug!("not ready yet");
        tokio::time::sleep(POLL).await;
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines[start..].join("\n")
}
