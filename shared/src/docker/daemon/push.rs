//! Push: one tag at a time through `POST /images/{name}/push`, the digest taken from the
//! daemon's `<tag>: digest: sha256:… size: N` status (bollard drops the `aux` item that also
//! carries it, bollard-facts §3), transient failures retried by the one policy ([`crate::retry`]).

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::PushImageOptionsBuilder;
use futures_util::StreamExt as _;
use tracing::{debug, info};

use super::build::stream_error;
use crate::registry::auth::RegistryAuth;

/// Attempts per tag. dockerd already retries each layer five times with backoff, so one more
/// attempt of ours covers a daemon-side hiccup without multiplying the wait on a dead registry.
const ATTEMPTS: u32 = 2;

/// Why a push failed.
#[derive(Debug)]
pub struct PushFailure {
    /// The daemon's message.
    pub reason: String,
    /// True when retrying cannot help (authentication, permissions, bad name).
    pub permanent: bool,
}

/// Pushes `name:tag` and returns the manifest digest the registry stored.
pub async fn push(
    docker: &Docker,
    name: &str,
    tag: &str,
    auth: Option<&RegistryAuth>,
) -> Result<String, PushFailure> {
    let mut tries = crate::retry::policy().with_attempts(ATTEMPTS).start();
    loop {
        match push_once(docker, name, tag, auth).await {
            Ok(d) => return Ok(d),
            Err(f) if f.permanent => return Err(f),
            Err(f) => {
                if !tries.pause(&format!("{name}:{tag}"), &f.reason, None).await {
                    return Err(f);
                }
            }
        }
    }
}

async fn push_once(
    docker: &Docker,
    name: &str,
    tag: &str,
    auth: Option<&RegistryAuth>,
) -> Result<String, PushFailure> {
    let opts = PushImageOptionsBuilder::default().tag(tag).build();
    let mut stream = docker.push_image(
        name,
        Some(opts),
        Some(auth.map(RegistryAuth::to_docker).unwrap_or_default()),
    );
    let mut digest = None;
    let mut last_progress = Instant::now();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| {
            let reason = stream_error(e);
            PushFailure {
                permanent: is_permanent(&reason),
                reason,
            }
        })?;
        let Some(status) = info.status.as_deref() else {
            continue;
        };
        if let Some(d) = parse_digest(status) {
            digest = Some(d.to_string());
        }
        match &info.progress_detail {
            Some(p) if p.total.unwrap_or(0) > 0 => {
                // Long uploads get a progress line every few seconds, not one per chunk.
                if last_progress.elapsed() >= Duration::from_secs(3) {
                    last_progress = Instant::now();
                    info!(
                        "{name}:{tag} layer {:.1}/{:.1} MiB",
                        p.current.unwrap_or(0) as f64 / 1048576.0,
                        p.total.unwrap_or(0) as f64 / 1048576.0
                    );
                }
            }
            _ => debug!("  {status}"),
        }
    }
    digest.ok_or_else(|| PushFailure {
        reason: "the daemon reported no digest for the pushed manifest".into(),
        permanent: false,
    })
}

/// `latest: digest: sha256:… size: 1149` → `sha256:…`.
pub fn parse_digest(status: &str) -> Option<&str> {
    let rest = status.split_once(": digest: ")?.1;
    let d = rest.split_whitespace().next()?;
    (d.starts_with("sha256:") && d.len() == 71).then_some(d)
}

fn is_permanent(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "unauthorized",
        "authentication required",
        "denied",
        "forbidden",
        "no basic auth credentials",
        "not found",
        "does not exist",
        "invalid reference",
        "name unknown",
        "manifest invalid",
    ]
    .iter()
    .any(|p| r.contains(p))
}

/// A hint for the person reading the log.
pub fn hint(reason: &str, login_source: &str) -> String {
    let r = reason.to_ascii_lowercase();
    if r.contains("unauthorized")
        || r.contains("authentication required")
        || r.contains("no basic auth credentials")
        || r.contains("authentication failed")
    {
        format!(" (authentication failed: check the login from {login_source})")
    } else if r.contains("denied") || r.contains("forbidden") {
        " (the registry refused: the user may lack push permission on this repository)".into()
    } else if r.contains("http response to https client") || r.contains("certificate") {
        " (TLS problem: for a plain-HTTP or self-signed registry set PLUGIN_INSECURE=true)".into()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_from_status() {
        let d = "sha256:4f0c4f0c4f0c4f0c4f0c4f0c4f0c4f0c4f0c4f0c4f0c4f0c4f0c4f0c4f0c4f0c";
        assert_eq!(parse_digest(&format!("1: digest: {d} size: 1149")), Some(d));
        assert_eq!(parse_digest("Pushed"), None);
        assert_eq!(parse_digest("x: digest: sha256:short size: 1"), None);
    }

    #[test]
    fn auth_failures_are_permanent() {
        assert!(is_permanent("unauthorized: authentication required"));
        assert!(!is_permanent(
            "received unexpected HTTP status: 503 Service Unavailable"
        ));
        assert!(
            hint("unauthorized: authentication required", "PLUGIN_PASSWORD")
                .contains("authentication failed: check the login from PLUGIN_PASSWORD")
        );
    }
}
