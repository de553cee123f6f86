//! One run of the docker engine, step by step: daemon, build (or push-only source), tag, push,
//! save, outputs, purge. Each step is a tracing span and is timed for the summary.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::RemoveImageOptionsBuilder;
use futures_util::StreamExt as _;
use tracing::{Instrument as _, info, info_span, warn};

use super::DockerError;
use super::config::{CacheTo, Config, Mode};
use super::daemon::build::{build, stream_error};
use super::daemon::push;
use super::daemon::start::Daemon;
use crate::Error;
use crate::files::random_suffix;
use crate::output::{self, ArtifactImage};

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Repository pushed to.
    pub repo: String,
    /// Tags pushed, in order.
    pub pushed: Vec<String>,
    /// Tags created locally.
    pub tagged: Vec<String>,
    /// Digest of the pushed manifest.
    pub digest: Option<String>,
    /// Local image id.
    pub image_id: String,
    /// Time per step.
    pub steps: Vec<(&'static str, Duration)>,
}

impl Report {
    /// The summary lines printed at the end.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = vec![format!("repository: {}", self.repo)];
        if self.pushed.is_empty() {
            lines.push(format!("tagged (not pushed): {}", self.tagged.join(", ")));
        } else {
            lines.push(format!("pushed: {}", self.pushed.join(", ")));
        }
        if let Some(d) = &self.digest {
            lines.push(format!("digest: {d}"));
        }
        lines.push(format!("image id: {}", self.image_id));
        let times: Vec<String> = self
            .steps
            .iter()
            .map(|(s, d)| format!("{s} {:.2}s", d.as_secs_f64()))
            .collect();
        lines.push(format!("time: {}", times.join(", ")));
        lines
    }
}

/// Runs a validated configuration.
pub async fn run(cfg: &Config) -> Result<Report, Error> {
    let mut report = Report {
        repo: cfg.repo.name.clone(),
        ..Default::default()
    };
    if let Mode::PushTarball(path) = &cfg.mode {
        push_tarball(cfg, path, &mut report)
            .instrument(info_span!("push"))
            .await?;
        write_outputs(cfg, &report, None)?;
        return Ok(report);
    }
    let t = Instant::now();
    let daemon = Daemon::connect(&cfg.daemon)
        .instrument(info_span!("daemon"))
        .await?;
    report.steps.push(("daemon", t.elapsed()));
    let result = run_steps(cfg, &daemon.docker, &mut report).await;
    if let Some(tail) = daemon.log_tail() {
        for line in tail.lines() {
            info!("dockerd: {line}");
        }
    }
    result.map(|()| report)
}

async fn run_steps(cfg: &Config, docker: &Docker, report: &mut Report) -> Result<(), Error> {
    // The temporary tag names what we built until it gets its real tags.
    let temp = format!("longshore-build-{}:{}", random_suffix(), "build");
    // A cancel mid-run must not leave the temporary tag on a shared daemon.
    let _untag_on_cancel = crate::cancel::on_cancel({
        let (docker, temp) = (docker.clone(), temp.clone());
        move || async move { remove(&docker, &temp).await }
    });
    let source = source_image(cfg, docker, &temp, report).await?;

    let t = Instant::now();
    let mut created = Vec::new();
    for tag in &cfg.tags {
        let target = cfg.repo.with_tag(tag);
        let from = source.clone().unwrap_or_else(|| target.clone());
        if from != target {
            tag_image(docker, &from, &cfg.repo.name, tag).await?;
            created.push(target.clone());
        }
        if report.image_id.is_empty() {
            report.image_id = inspect_id(docker, &target).await?;
        }
        info!("tag: {target}");
        report.tagged.push(target);
    }
    report.steps.push(("tag", t.elapsed()));

    let card = card_data(docker, &report.tagged[0], cfg).await;

    if cfg.push {
        push_tags(cfg, docker, &temp, report).await?;
    } else {
        info!("push: skipped (dry run)");
    }

    if let Some(path) = &cfg.tar_path {
        let t = Instant::now();
        save(docker, &report.tagged, path)
            .instrument(info_span!("save"))
            .await?;
        report.steps.push(("save", t.elapsed()));
    }

    write_outputs(cfg, report, card)?;

    if cfg.purge {
        let t = Instant::now();
        if source.as_deref() == Some(temp.as_str()) {
            remove(docker, &temp).await;
        }
        // Pushed tags live on in the registry; in a dry run the local image is the product.
        if cfg.push {
            for r in &created {
                remove(docker, r).await;
            }
        }
        report.steps.push(("purge", t.elapsed()));
    }
    Ok(())
}

async fn push_tarball(
    cfg: &Config,
    path: &std::path::Path,
    report: &mut Report,
) -> Result<(), DockerError> {
    let t = Instant::now();
    let (host, repo_path) = match crate::registry::reference::split_host(&cfg.repo.name) {
        (Some(h), p) if !cfg.repo.is_hub() => (h.to_string(), p.to_string()),
        (_, p) => {
            let p = if p.contains('/') {
                p.to_string()
            } else {
                format!("library/{p}")
            };
            ("registry-1.docker.io".to_string(), p)
        }
    };
    let pushed = crate::registry::distribution::push_tarball(
        path,
        &host,
        &repo_path,
        &cfg.tags,
        cfg.credentials.push.as_ref(),
        cfg.insecure,
        &cfg.manifest_annotations,
    )
    .await
    .map_err(|e| DockerError::Push {
        failed: cfg.repo.name.clone(),
        hint: push::hint(&e.0, cfg.credentials.push_source),
        reason: e.0,
        pushed: vec![],
        not_pushed: cfg.tags.clone(),
    })?;
    for (tag, p) in pushed {
        report.digest.get_or_insert(p.digest);
        report.tagged.push(cfg.repo.with_tag(&tag));
        report.pushed.push(tag);
    }
    report.image_id = "(not in a daemon)".into();
    report.steps.push(("push", t.elapsed()));
    Ok(())
}

/// The image the tags point at: the one built under `temp`, or the local image `push_only`
/// names (None: each `repo:tag` is already in the daemon).
async fn source_image(
    cfg: &Config,
    docker: &Docker,
    temp: &str,
    report: &mut Report,
) -> Result<Option<String>, DockerError> {
    let t = Instant::now();
    Ok(match &cfg.mode {
        Mode::Build(b) => {
            let id = build(docker, &cfg.daemon.host, b, &cfg.credentials, temp)
                .instrument(info_span!("build"))
                .await;
            let id = match id {
                Ok(id) => id,
                Err(e) => {
                    remove(docker, temp).await;
                    return Err(e);
                }
            };
            info!(parent: None, "build: image {id}");
            report.image_id = id;
            report.steps.push(("build", t.elapsed()));
            Some(temp.to_string())
        }
        // Handled in `run`, without a daemon.
        Mode::PushTarball(_) => None,
        Mode::PushOnly(src) => {
            let src = src.clone().map(|s| {
                if has_tag(&s) {
                    s
                } else {
                    format!("{s}:latest")
                }
            });
            if let Some(s) = &src {
                report.image_id = inspect_id(docker, s).await?;
            }
            src
        }
    })
}

/// Pushes every tag (and the build cache when asked), in order; a failure says which tags went.
async fn push_tags(
    cfg: &Config,
    docker: &Docker,
    temp: &str,
    report: &mut Report,
) -> Result<(), DockerError> {
    let t = Instant::now();
    let span = info_span!("push");
    async {
        for (i, tag) in cfg.tags.iter().enumerate() {
            let started = Instant::now();
            match push::push(docker, &cfg.repo.name, tag, cfg.credentials.push.as_ref()).await {
                Ok(d) => {
                    info!(
                        "{}:{tag} digest {d} ({:.2}s)",
                        cfg.repo.name,
                        started.elapsed().as_secs_f64()
                    );
                    report.pushed.push(tag.clone());
                    report.digest.get_or_insert(d);
                }
                Err(f) => {
                    return Err(DockerError::Push {
                        failed: cfg.repo.with_tag(tag),
                        hint: push::hint(&f.reason, cfg.credentials.push_source),
                        reason: f.reason,
                        pushed: report.pushed.clone(),
                        not_pushed: cfg.tags[i..].to_vec(),
                    });
                }
            }
        }
        Ok(())
    }
    .instrument(span)
    .await?;
    if let Mode::Build(b) = &cfg.mode
        && let Some(cache) = &b.cache_to
    {
        push_cache(docker, cfg, temp, cache)
            .instrument(info_span!("cache"))
            .await;
    }
    report.steps.push(("push", t.elapsed()));
    Ok(())
}

/// Pushes the built image, which carries BuildKit's inline cache, to the `PLUGIN_CACHE_TO` ref.
/// The image's tags are already pushed, so a failure here costs only the next build's cache: a
/// warning, not a failed step.
async fn push_cache(docker: &Docker, cfg: &Config, built: &str, cache: &CacheTo) {
    let target = cache.repo.with_tag(&cache.tag);
    if let Err(e) = tag_image(docker, built, &cache.repo.name, &cache.tag).await {
        warn!("cache: {e}; the next build starts without this cache");
        return;
    }
    let auth = cfg.credentials.for_host(&cache.repo.host);
    match push::push(docker, &cache.repo.name, &cache.tag, auth).await {
        Ok(d) => info!("cache: pushed {target} ({d})"),
        Err(f) => warn!(
            "cache: push of {target} failed: {}; the next build starts without this cache",
            f.reason
        ),
    }
    if cfg.purge {
        remove(docker, &target).await;
    }
}

fn has_tag(image: &str) -> bool {
    image
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
}

async fn inspect_id(docker: &Docker, image: &str) -> Result<String, DockerError> {
    docker
        .inspect_image(image)
        .await
        .map_err(|e| DockerError::Image {
            op: "inspect",
            image: image.into(),
            reason: stream_error(e),
        })?
        .id
        .ok_or_else(|| DockerError::Image {
            op: "inspect",
            image: image.into(),
            reason: "no id".into(),
        })
}

async fn tag_image(docker: &Docker, from: &str, repo: &str, tag: &str) -> Result<(), DockerError> {
    use bollard::query_parameters::TagImageOptionsBuilder;
    docker
        .tag_image(
            from,
            Some(
                TagImageOptionsBuilder::default()
                    .repo(repo)
                    .tag(tag)
                    .build(),
            ),
        )
        .await
        .map_err(|e| DockerError::Image {
            op: "tag",
            image: format!("{from} as {repo}:{tag}"),
            reason: stream_error(e),
        })
}

async fn remove(docker: &Docker, image: &str) {
    // noprune: the untagged parent images may be the layer cache of another build running on
    // the same daemon (a shared host socket); deleting them made such a build fail.
    let opts = RemoveImageOptionsBuilder::default()
        .force(false)
        .noprune(true)
        .build();
    match docker.remove_image(image, Some(opts), None).await {
        Ok(_) => info!("purge: removed {image}"),
        // A tag that was never made (the build failed before it) is nothing to report.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => warn!("purge: could not remove {image}: {}", stream_error(e)),
    }
}

async fn save(docker: &Docker, refs: &[String], path: &std::path::Path) -> Result<(), DockerError> {
    use tokio::io::AsyncWriteExt as _;
    let err = |reason: String| DockerError::Save {
        path: path.display().to_string(),
        reason,
    };
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| err(e.to_string()))?;
    }
    // Written beside the target and renamed, so a failed save leaves no half tarball.
    let partial = path.with_extension(format!("partial-{}", random_suffix()));
    let result = async {
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| err(e.to_string()))?;
        let names: Vec<&str> = refs.iter().map(String::as_str).collect();
        let mut stream = docker.export_images(&names);
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| err(stream_error(e)))?;
            bytes += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|e| err(e.to_string()))?;
        }
        file.sync_all().await.map_err(|e| err(e.to_string()))?;
        tokio::fs::rename(&partial, path)
            .await
            .map_err(|e| err(e.to_string()))?;
        info!(
            "save: {} ({:.1} MiB)",
            path.display(),
            bytes as f64 / 1048576.0
        );
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    result
}

/// The Drone card's data: the image as `docker inspect` shows it, reduced as drone-docker does.
async fn card_data(docker: &Docker, image: &str, cfg: &Config) -> Option<serde_json::Value> {
    cfg.outputs.card_path.as_ref()?;
    let inspect = docker.inspect_image(image).await.ok()?;
    let mut v = serde_json::to_value(&inspect).ok()?;
    let size = inspect.size.unwrap_or(0);
    let url = if cfg.repo.host.contains("amazonaws.com") {
        format!("https://gallery.ecr.aws/{}", cfg.repo.name)
    } else if cfg.repo.host.contains("gcr.io") {
        format!(
            "https://console.cloud.google.com/gcr/images/{}",
            cfg.repo.name
        )
    } else {
        format!("https://hub.docker.com/r/{}", cfg.repo.name)
    };
    if let Some(obj) = v.as_object_mut() {
        obj.retain(|k, _| {
            [
                "Id",
                "RepoTags",
                "RepoDigests",
                "Parent",
                "Comment",
                "Created",
                "DockerVersion",
                "Author",
                "Architecture",
                "Os",
                "Size",
                "Metadata",
            ]
            .contains(&k.as_str())
        });
        let tags: Vec<serde_json::Value> = cfg
            .tags
            .iter()
            .map(|t| serde_json::json!({ "Tag": t }))
            .collect();
        obj.insert("ParsedRepoTags".into(), tags.into());
        obj.insert(
            "SizeString".into(),
            format!("{:.2}MB", size as f64 / 1e6).into(),
        );
        obj.insert("URL".into(), url.into());
    }
    Some(v)
}

fn write_outputs(
    cfg: &Config,
    report: &Report,
    card: Option<serde_json::Value>,
) -> Result<(), Error> {
    if let (Some(path), Some(digest)) = (&cfg.outputs.artifact_file, &report.digest) {
        let images: Vec<ArtifactImage> = report
            .pushed
            .iter()
            .map(|t| ArtifactImage {
                image: cfg.repo.with_tag(t),
                digest: digest.clone(),
            })
            .collect();
        output::write_docker_artifact(
            path,
            &cfg.outputs.registry_type,
            &cfg.outputs.registry_url,
            &images,
        )?;
        info!("output: artifact file {path}");
    } else if cfg.outputs.artifact_file.is_some() {
        info!("output: no artifact file (nothing was pushed)");
    }
    if let Some(path) = &cfg.outputs.drone_output {
        let mut pairs: Vec<(&str, String)> = vec![
            ("image", cfg.repo.name.clone()),
            ("tags", cfg.tags.join(",")),
            ("images", report.tagged.join(",")),
            ("image_id", report.image_id.clone()),
        ];
        if let Some(d) = &report.digest {
            pairs.push(("digest", d.clone()));
            pairs.push(("image_ref", format!("{}@{d}", cfg.repo.name)));
        }
        if let Some(p) = &cfg.tar_path {
            pairs.push(("IMAGE_TAR_PATH", p.display().to_string()));
        }
        output::write_drone_output(path, &pairs)?;
    }
    if let (Some(path), Some(data)) = (&cfg.outputs.card_path, card)
        && let Err(e) = output::write_card(
            path,
            "https://drone-plugins.github.io/drone-docker/card.json",
            &data,
        )
    {
        // The card is decoration: its failure is not the step's.
        warn!("output: {e}");
    }
    Ok(())
}
