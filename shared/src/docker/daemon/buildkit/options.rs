//! A [`BuildConfig`] as the options of BuildKit's Dockerfile frontend: the same settings mean the
//! same on this path as on the legacy builder's.

use std::collections::HashMap;
use std::path::Path;

use bollard::grpc::build::{
    ImageBuildFrontendOptions, ImageBuildFrontendOptionsBuilder, ImageBuildHostIp,
    ImageBuildPlatform, SecretSource,
};
use bollard_buildkit_proto::moby::buildkit::v1::CacheOptionsEntry;

use crate::docker::DockerError;
use crate::docker::config::{BuildConfig, SecretValue};

/// The frontend options; secrets given as values are written to files in `secrets_dir` (a private
/// directory the caller removes when the build ends).
pub fn frontend(
    cfg: &BuildConfig,
    dockerfile: &Path,
    secrets_dir: &Path,
) -> Result<ImageBuildFrontendOptions, DockerError> {
    let mut opts = ImageBuildFrontendOptions::builder()
        .dockerfile(dockerfile)
        .pull(cfg.pull)
        .nocache(cfg.no_cache)
        .enable_ssh(cfg.ssh_key.is_some());
    opts = secrets(opts, cfg, secrets_dir)?;
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
        opts = opts.platforms(&platform(p));
    }
    for (host, ip) in cfg.add_hosts.iter().filter_map(|h| h.split_once(':')) {
        // `host-gateway` is resolved by the legacy builder only; BuildKit wants an address.
        if let Ok(ip) = ip.parse() {
            opts = opts.extrahost(&ImageBuildHostIp {
                host: host.to_string(),
                ip,
            });
        }
    }
    // No cache imports: the solve's own imports never reach the Dockerfile frontend of Docker
    // 20.10, which reads them only from frontend attributes bollard does not let us set.
    if cfg.cache_to.is_some() {
        // The daemon's embedded BuildKit exports only the inline cache: the cache metadata
        // travels in the image's config, and the image pushed to the cache ref carries it.
        opts = opts.cacheto(&CacheOptionsEntry {
            r#type: "inline".into(),
            attrs: HashMap::new(),
        });
    }
    Ok(opts.build())
}

fn secrets(
    mut opts: ImageBuildFrontendOptionsBuilder,
    cfg: &BuildConfig,
    dir: &Path,
) -> Result<ImageBuildFrontendOptionsBuilder, DockerError> {
    for s in &cfg.secrets {
        let path = match &s.source {
            SecretValue::File(p) => p.clone(),
            SecretValue::Value(v) => {
                let p = dir.join(format!("secret-{}", crate::files::random_suffix()));
                crate::files::write_private(&p, v.expose().as_bytes()).map_err(|e| {
                    DockerError::Build(format!("cannot write secret {}: {e}", s.id))
                })?;
                p
            }
        };
        opts = opts.set_secret(&s.id, &SecretSource::File(path));
    }
    Ok(opts)
}

fn platform(p: &str) -> ImageBuildPlatform {
    let mut parts = p.split('/');
    ImageBuildPlatform {
        os: parts.next().unwrap_or_default().to_string(),
        architecture: parts.next().unwrap_or_default().to_string(),
        variant: parts.next().map(str::to_string),
    }
}
