//! The build, through one of three doors of the daemon:
//! - `POST /build` with BuildKit (the default, as the anchor): the context streamed in the
//!   request, registry logins through bollard's session, BuildKit's status in the answer's
//!   `aux` items ([`super::buildkit::progress`]), the image id at its end, and the daemon's own
//!   handling of `cache-from` and of the inline cache export;
//! - BuildKit's gRPC solve ([`super::buildkit`]) when the build uses secrets or an SSH agent:
//!   bollard's session serves those only on that path (bollard-facts §2);
//! - `POST /build` with the legacy builder, when the user asks for it with `DOCKER_BUILDKIT=0`
//!   (streamed output, image id from the last `aux`).

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{BuildInfo, BuildInfoAux};
use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use futures_util::StreamExt as _;
use tracing::{debug, info, warn};

use super::buildkit::progress::Progress;
use crate::docker::DockerError;
use crate::docker::config::BuildConfig;
use crate::docker::context;
use crate::registry::auth::Credentials;

/// Builds the image on the daemon at `host` and tags it `tag`; returns the image id.
pub async fn build(
    docker: &Docker,
    host: &str,
    cfg: &BuildConfig,
    creds: &Credentials,
    tag: &str,
) -> Result<String, DockerError> {
    // Every check that can fail before the request does: a bad context sends nothing.
    let manifest = context::scan(&cfg.context, &cfg.dockerfile)?;
    let buildkit = cfg.uses_buildkit() && keeps_buildkit(cfg, &manifest);
    if !buildkit {
        // BuildKit imports its cache from the registry itself; the legacy builder needs the
        // cache images in the daemon.
        for image in &cfg.cache_from {
            pull_cache_image(docker, image, creds).await;
        }
    }
    if buildkit && (!cfg.secrets.is_empty() || cfg.ssh_key.is_some()) {
        if !cfg.cache_from.is_empty() {
            warn!(
                "PLUGIN_CACHE_FROM is not imported by a build with secrets or an SSH key (bollard's gRPC build cannot ask the Dockerfile frontend for it); the build starts from the daemon's own cache"
            );
        }
        // bollard's gRPC session takes the context as one buffer.
        let ctx = manifest.pack(false)?;
        info!(files = ctx.files, bytes = ctx.tar.len(), "context packed");
        super::buildkit::solve(docker, host, cfg, creds, tag, ctx).await?;
        return inspect_id(docker, tag).await;
    }
    info!(
        files = manifest.files(),
        "context scanned; streaming it to the daemon"
    );
    over_http(docker, cfg, creds, tag, manifest, buildkit).await
}

/// Whether a BuildKit build stays on BuildKit. The daemon's BuildKit reads the Dockerfile from
/// the context tar and, for a tar, applies no `.dockerignore`: a Dockerfile outside the context
/// or ignored by it would land in `COPY .` under its private name. Such a build goes to the
/// legacy builder, which hides it, unless it needs BuildKit.
fn keeps_buildkit(cfg: &BuildConfig, manifest: &context::Manifest) -> bool {
    if !manifest.dockerfile_is_private() {
        return true;
    }
    let needs = !cfg.secrets.is_empty() || cfg.ssh_key.is_some() || cfg.cache_to.is_some();
    if needs {
        warn!(
            "the Dockerfile is outside PLUGIN_CONTEXT or ignored by its .dockerignore: with secrets, an SSH key or PLUGIN_CACHE_TO the build needs BuildKit, whose context then holds it as {} (visible to `COPY .`); move it into the context to keep it out",
            manifest.dockerfile()
        );
        return true;
    }
    warn!(
        "the Dockerfile is outside PLUGIN_CONTEXT or ignored by its .dockerignore: building with the legacy builder, which keeps it out of the context (the daemon's BuildKit cannot); move it into the context to build with BuildKit"
    );
    false
}

/// `POST /build`, on BuildKit or on the legacy builder.
async fn over_http(
    docker: &Docker,
    cfg: &BuildConfig,
    creds: &Credentials,
    tag: &str,
    manifest: context::Manifest,
    buildkit: bool,
) -> Result<String, DockerError> {
    let dockerfile = manifest.dockerfile().to_string();
    let mut build_args: HashMap<&str, &str> = cfg
        .build_args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if buildkit && cfg.cache_to.is_some() {
        // The daemon turns this argument into BuildKit's inline cache export.
        build_args.insert("BUILDKIT_INLINE_CACHE", "1");
    }
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
        // BuildKit's quiet is ours to apply (its status also feeds a failure's report).
        .q(cfg.quiet && !buildkit)
        .squash(cfg.squash)
        .buildargs(&build_args)
        .labels(&labels);
    let mut progress = None;
    if buildkit {
        // A fresh session per build: a reused id fails every second build (bollard-facts §2).
        let session = format!("longshore-{}", crate::files::random_suffix());
        opts = opts
            .version(BuilderVersion::BuilderBuildKit)
            .session(&session);
        progress = Some(Progress::new(cfg.quiet));
    }
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
    let (body, packing) = context::stream(manifest, cfg.compress && progress.is_none())?;
    let stream = docker.build_image(
        opts.build(),
        (!creds_map.is_empty()).then_some(creds_map),
        Some(bollard::body_try_stream(body)),
    );
    // Returning drops the request and with it the body, which frees a packer still waiting on it.
    let built = read_output(stream, cfg, progress.as_mut()).await;
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

/// Logs the builder's output (BuildKit's status into `progress`); returns the image id when the
/// output names it.
async fn read_output(
    stream: impl futures_util::Stream<Item = Result<BuildInfo, bollard::errors::Error>>,
    cfg: &BuildConfig,
    mut progress: Option<&mut Progress>,
) -> Result<Option<String>, DockerError> {
    let mut stream = std::pin::pin!(stream);
    let mut image_id = None;
    while let Some(item) = stream.next().await {
        let info = match (item, progress.as_deref()) {
            (Ok(info), _) => info,
            (Err(e), Some(p)) => return Err(super::buildkit::failure(stream_error(e), p, cfg)),
            (Err(e), None) => return Err(DockerError::Build(stream_error(e))),
        };
        if let Some(text) = info.stream.as_deref() {
            for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                // With `q`, the only output is the image id.
                if cfg.quiet && line.starts_with("sha256:") {
                    image_id = Some(line.to_string());
                } else {
                    info!("  {line}");
                }
            }
        }
        if let Some(status) = info.status.as_deref() {
            debug!("  {status}");
        }
        match info.aux {
            Some(BuildInfoAux::BuildKit(status)) => {
                if let Some(p) = progress.as_deref_mut() {
                    p.update(status);
                }
            }
            // The legacy builder sends one per finished stage: the last one is the image
            // (bollard-facts §1). BuildKit sends one, `moby.image.id`, at the end.
            Some(BuildInfoAux::Default(id)) => {
                if let Some(id) = id.id {
                    image_id = Some(id);
                }
            }
            None => {}
        }
    }
    Ok(image_id)
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
