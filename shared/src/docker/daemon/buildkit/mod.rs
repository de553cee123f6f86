//! The daemon's embedded BuildKit, the default builder (as `plugins/docker`'s, which enables
//! BuildKit for every build). Most builds go through `POST /build` ([`super::build`]); this
//! module holds what every BuildKit build shares (its progress, the one line a failure ends
//! with) and the gRPC solve a build with secrets or an SSH agent needs: bollard's session
//! carries the context, the secrets, the agent and the logins, and a second connection to the
//! control API follows the build's status so each step reaches the CI log while it runs.
//!
//! | file | owns |
//! |---|---|
//! | [`options`] | the settings as Dockerfile-frontend options, cache imports and exports |
//! | [`control`] | the connection to the daemon's BuildKit control API |
//! | [`progress`] | the status stream as log lines; the failed step and its last output |

pub mod control;
pub mod options;
pub mod progress;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::grpc::BuildRef;
use bollard::grpc::build::ImageBuildLoadInput;
use bollard::grpc::driver::Build as _;
use bollard::grpc::driver::moby::Moby;
use bollard::grpc::error::GrpcError;
use bollard_buildkit_proto::moby::buildkit::v1::StatusRequest;
use tracing::{debug, warn};

use crate::docker::DockerError;
use crate::docker::config::BuildConfig;
use crate::docker::context;
use crate::registry::auth::Credentials;
use progress::Progress;

/// How long the status stream may lag behind the end of the solve before we stop reading it.
const STATUS_GRACE: Duration = Duration::from_secs(5);

/// Builds `ctx` through BuildKit's gRPC solve on the daemon at `host` and tags the image `tag`.
pub async fn solve(
    docker: &Docker,
    host: &str,
    cfg: &BuildConfig,
    creds: &Credentials,
    tag: &str,
    ctx: context::Context,
) -> Result<(), DockerError> {
    // Values from the environment reach BuildKit as files in a private directory (0700, files
    // 0600) that is removed when this function returns, whatever happens.
    let dir = crate::files::private_tempdir("longshore-secrets-").map_err(|e| {
        DockerError::Build(format!(
            "cannot create a private directory for secrets: {e}"
        ))
    })?;
    let opts = options::frontend(cfg, Path::new(&ctx.dockerfile), dir.path())?;
    let creds_map = creds.build_map();
    let creds_ref: HashMap<&str, bollard::auth::DockerCredentials> = creds_map
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let build_ref = BuildRef::random();
    let mut progress = Progress::new(cfg.quiet);
    let solved = {
        let solve = Moby::new(docker).docker_build(
            tag,
            opts,
            ImageBuildLoadInput::Upload(ctx.tar.into()),
            Some(creds_ref),
            Some(build_ref.clone()),
        );
        let status = follow(host, build_ref.as_ref(), &mut progress);
        let (mut solve, mut status) = (std::pin::pin!(solve), std::pin::pin!(status));
        tokio::select! {
            solved = &mut solve => {
                // The last messages (the final step's DONE) may still be on their way.
                let _ = tokio::time::timeout(STATUS_GRACE, &mut status).await;
                solved
            }
            () = &mut status => solve.await,
        }
    };
    drop(dir);
    solved.map_err(|e| failure(grpc_message(&e), &progress, cfg))
}

/// Relays the status of the build `build_ref` until BuildKit ends the stream. Progress is a
/// convenience: when it cannot be had the build goes on, with a warning.
async fn follow(host: &str, build_ref: &str, progress: &mut Progress) {
    let mut client = match control::connect(host).await {
        Ok(c) => c,
        Err(e) => {
            warn!("BuildKit progress is not available ({e}); the build goes on without it");
            return;
        }
    };
    let request = StatusRequest {
        r#ref: build_ref.to_string(),
    };
    let mut stream = match client.status(request).await {
        Ok(s) => s.into_inner(),
        Err(e) => {
            warn!(
                "BuildKit progress is not available ({}); the build goes on without it",
                e.message()
            );
            return;
        }
    };
    loop {
        match stream.message().await {
            Ok(Some(status)) => progress.update(status),
            Ok(None) => return,
            Err(e) => {
                debug!("BuildKit status stream ended: {}", e.message());
                return;
            }
        }
    }
}

fn grpc_message(e: &GrpcError) -> String {
    match e {
        GrpcError::TonicStatus { err } => err.message().to_string(),
        // This Display is only "transport error"; the cause is in the debug form.
        other => format!("{other}: {other:?}"),
    }
}

/// One line for a failed build: the step and its exit code (its last output printed above), or
/// what to do about a `# syntax=` frontend the daemon cannot pull, or BuildKit's own `message`.
pub fn failure(message: String, progress: &Progress, cfg: &BuildConfig) -> DockerError {
    let step = progress.failed_step();
    // The frontend's image shows in the step that failed to resolve it.
    let all = match &step {
        Some(s) => format!("{message} {} {}", s.name, s.error),
        None => message.clone(),
    };
    if let Some(image) = syntax_directive(&cfg.dockerfile).filter(|i| all.contains(i.as_str())) {
        return DockerError::Build(format!(
            "the Dockerfile's first line `# syntax={image}` asks for the frontend image {image}, which the daemon cannot pull ({}): mirror that image and name the mirror in the line, or remove the line to build with the daemon's built-in Dockerfile frontend",
            crate::files::excerpt(
                step.as_ref().map_or(message.trim(), |s| s.error.trim()),
                300
            )
        ));
    }
    let Some(step) = step else {
        return DockerError::Build(message);
    };
    if !step.tail.is_empty() {
        warn!("{} — its last output lines:", step.name);
        for line in &step.tail {
            warn!("  {line}");
        }
    }
    DockerError::Build(match step.exit_code() {
        Some(code) => format!("step {} exited with code {code}", step.name),
        None => format!("step {}: {}", step.name, step.error),
    })
}

/// The image of a `# syntax=` parser directive, if the Dockerfile starts with one.
pub fn syntax_directive(dockerfile: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dockerfile).ok()?;
    for line in text.lines().map(str::trim) {
        // Directives come first: the first line that is not one ends them.
        let directive = line.strip_prefix('#')?;
        if let Some((key, value)) = directive.split_once('=')
            && key.trim().eq_ignore_ascii_case("syntax")
        {
            return Some(value.trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_syntax_directive_is_read_only_before_the_first_instruction() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Dockerfile");
        std::fs::write(
            &file,
            "# escape=`\n# Syntax = docker/dockerfile:1.7\nFROM x\n",
        )
        .unwrap();
        assert_eq!(
            syntax_directive(&file).as_deref(),
            Some("docker/dockerfile:1.7")
        );
        std::fs::write(&file, "FROM x\n# syntax=docker/dockerfile:1\n").unwrap();
        assert_eq!(syntax_directive(&file), None);
    }
}
