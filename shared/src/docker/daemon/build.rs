//! The build: the legacy builder through `POST /build` (streamed output, image id from the last
//! `aux`), or BuildKit through bollard's gRPC session when secrets are used — the only path on
//! which BuildKit secrets reach `RUN --mount=type=secret` (bollard-facts §2).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use bollard::Docker;
use bollard::models::{BuildInfo, BuildInfoAux};
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt as _;
use tracing::{debug, info, warn};

use crate::docker::DockerError;
use crate::docker::config::{BuildConfig, SecretValue};
use crate::docker::context;
use crate::registry::auth::Credentials;

/// Builds the image and tags it `tag`; returns the image id.
pub async fn build(
    docker: &Docker,
    cfg: &BuildConfig,
    creds: &Credentials,
    tag: &str,
) -> Result<String, DockerError> {
    for image in &cfg.cache_from {
        pull_cache_image(docker, image, creds).await;
    }
    // Every check that can fail before the request does: a bad context sends nothing.
    let manifest = context::scan(&cfg.context, &cfg.dockerfile)?;
    if cfg.uses_buildkit() {
        // bollard's BuildKit session takes the context as one buffer.
        let ctx = manifest.pack(false)?;
        info!(files = ctx.files, bytes = ctx.tar.len(), "context packed");
        buildkit(docker, cfg, creds, tag, ctx).await
    } else {
        info!(
            files = manifest.files(),
            "context scanned; streaming it to the daemon"
        );
        legacy(docker, cfg, creds, tag, manifest).await
    }
}

async fn legacy(
    docker: &Docker,
    cfg: &BuildConfig,
    creds: &Credentials,
    tag: &str,
    manifest: context::Manifest,
) -> Result<String, DockerError> {
    let dockerfile = manifest.dockerfile().to_string();
    let args: HashMap<&str, &str> = cfg
        .build_args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let labels: HashMap<&str, &str> = cfg
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut opts = BuildImageOptionsBuilder::default()
        .dockerfile(&dockerfile)
        .t(tag)
        .rm(true)
        // Unlike the anchor, a failed step's container is removed too.
        .forcerm(true)
        .nocache(cfg.no_cache)
        .q(cfg.quiet)
        .squash(cfg.squash)
        .buildargs(&args)
        .labels(&labels);
    if cfg.pull {
        opts = opts.pull("1");
    }
    if let Some(t) = &cfg.target {
        opts = opts.target(t);
    }
    if let Some(p) = &cfg.platform {
        opts = opts.platform(p);
    }
    if !cfg.cache_from.is_empty() {
        opts = opts.cachefrom(&cfg.cache_from);
    }
    if !cfg.add_hosts.is_empty() {
        opts = opts.extrahosts(&cfg.add_hosts.join(","));
    }
    let creds_map = creds.build_map();
    let (body, packing) = context::stream(manifest, cfg.compress)?;
    let stream = docker.build_image(
        opts.build(),
        (!creds_map.is_empty()).then_some(creds_map),
        Some(bollard::body_try_stream(body)),
    );
    // Returning drops the request and with it the body, which frees a packer still waiting on it.
    let built = read_output(stream, cfg.quiet).await;
    // The packer's error first: a file that vanished mid-upload fails the request too, but
    // only the packer can say which file. The wait is bounded in case the connection still
    // holds the body; the request's own outcome is then all there is.
    let packed = tokio::time::timeout(PACKER_GRACE, packing.outcome()).await;
    let image_id = match (built, packed) {
        (_, Ok(Err(e))) => return Err(e),
        (Err(e), _) => return Err(e),
        (Ok(id), Ok(Ok(context::Packed::Complete { bytes }))) => {
            info!(bytes, "context sent");
            id
        }
        (Ok(id), _) => {
            debug!("the daemon answered before reading the whole context");
            id
        }
    };
    match image_id {
        Some(id) => Ok(id),
        None => inspect_id(docker, tag).await,
    }
}

/// How long a failed request waits for the packer's verdict.
const PACKER_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Logs the legacy builder's output; returns the image id when the output names it.
async fn read_output(
    stream: impl futures_util::Stream<Item = Result<BuildInfo, bollard::errors::Error>>,
    quiet: bool,
) -> Result<Option<String>, DockerError> {
    let mut stream = std::pin::pin!(stream);
    let mut image_id = None;
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| DockerError::Build(stream_error(e)))?;
        if let Some(text) = info.stream.as_deref() {
            for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                // With `q`, the only output is the image id.
                if quiet && line.starts_with("sha256:") {
                    image_id = Some(line.to_string());
                } else {
                    info!("  {line}");
                }
            }
        }
        if let Some(status) = info.status.as_deref() {
            debug!("  {status}");
        }
        // One aux per finished stage: the last one is the image (bollard-facts §1).
        if let Some(BuildInfoAux::Default(id)) = &info.aux
            && let Some(id) = &id.id
        {
            image_id = Some(id.clone());
        }
    }
    Ok(image_id)
}

async fn buildkit(
    docker: &Docker,
    cfg: &BuildConfig,
    creds: &Credentials,
    tag: &str,
    ctx: context::Context,
) -> Result<String, DockerError> {
    use bollard::grpc::build::{
        ImageBuildFrontendOptions, ImageBuildHostIp, ImageBuildLoadInput, ImageBuildPlatform,
        SecretSource,
    };
    use bollard::grpc::driver::Build as _;
    use bollard::grpc::driver::moby::Moby;

    // Values from the environment reach BuildKit as files in a private directory (0700, files
    // 0600) that is removed when this function returns, whatever happens.
    let dir = crate::files::private_tempdir("longshore-secrets-").map_err(|e| {
        DockerError::Build(format!(
            "cannot create a private directory for secrets: {e}"
        ))
    })?;
    let mut opts = ImageBuildFrontendOptions::builder()
        .dockerfile(Path::new(&ctx.dockerfile))
        .pull(cfg.pull)
        .nocache(cfg.no_cache)
        .enable_ssh(cfg.ssh_key.is_some());
    for s in &cfg.secrets {
        let path = match &s.source {
            SecretValue::File(p) => p.clone(),
            SecretValue::Value(v) => {
                let p = dir
                    .path()
                    .join(format!("secret-{}", crate::files::random_suffix()));
                write_private(&p, v.expose().as_bytes()).map_err(|e| {
                    DockerError::Build(format!("cannot write secret {}: {e}", s.id))
                })?;
                p
            }
        };
        opts = opts.set_secret(&s.id, &SecretSource::File(path));
    }
    for (k, v) in &cfg.build_args {
        opts = opts.buildarg(k, v);
    }
    for (k, v) in &cfg.labels {
        opts = opts.label(k, v);
    }
    if let Some(t) = &cfg.target {
        opts = opts.target(t);
    }
    if let Some(p) = &cfg.platform {
        let mut parts = p.split('/');
        opts = opts.platforms(&ImageBuildPlatform {
            os: parts.next().unwrap_or_default().to_string(),
            architecture: parts.next().unwrap_or_default().to_string(),
            variant: parts.next().map(str::to_string),
        });
    }
    for h in &cfg.add_hosts {
        if let Some((host, ip)) = h.split_once(':')
            && let Ok(ip) = ip.parse()
        {
            opts = opts.extrahost(&ImageBuildHostIp {
                host: host.to_string(),
                ip,
            });
        }
    }
    if !cfg.cache_from.is_empty() {
        warn!("PLUGIN_CACHE_FROM is not used by the BuildKit build (only by the legacy builder)");
    }
    let creds_map = creds.build_map();
    let creds_ref: HashMap<&str, bollard::auth::DockerCredentials> = creds_map
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    info!("BuildKit session (output is not streamed by this builder)");
    Moby::new(docker)
        .docker_build(
            tag,
            opts.build(),
            ImageBuildLoadInput::Upload(ctx.tar.into()),
            Some(creds_ref),
            None,
        )
        .await
        .map_err(|e| DockerError::Build(format!("{e}: {e:?}")))?;
    drop(dir);
    inspect_id(docker, tag).await
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}

async fn inspect_id(docker: &Docker, tag: &str) -> Result<String, DockerError> {
    docker
        .inspect_image(tag)
        .await
        .map_err(|e| DockerError::Image {
            op: "inspect",
            image: tag.into(),
            reason: e.to_string(),
        })?
        .id
        .ok_or_else(|| DockerError::Image {
            op: "inspect",
            image: tag.into(),
            reason: "no image id".into(),
        })
}

/// Pre-pulls a cache image; a failure is only a warning (as the anchor).
async fn pull_cache_image(docker: &Docker, image: &str, creds: &Credentials) {
    use bollard::query_parameters::CreateImageOptionsBuilder;
    let host = crate::registry::reference::split_host(image)
        .0
        .unwrap_or("docker.io");
    let auth = creds.for_host(host).map(|a| a.to_docker());
    let mut s = docker.create_image(
        Some(
            CreateImageOptionsBuilder::default()
                .from_image(image)
                .build(),
        ),
        None,
        auth,
    );
    while let Some(item) = s.next().await {
        if let Err(e) = item {
            warn!(
                "could not pull cache image {image}: {}; ignoring",
                stream_error(e)
            );
            return;
        }
    }
    info!("pulled cache image {image}");
}

/// The daemon's message without bollard's wrapping.
pub(crate) fn stream_error(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerStreamError { error } => error,
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => format!("{message} (HTTP {status_code})"),
        other => other.to_string(),
    }
}
