//! One run: print the plan (all of it in a dry run), deploy through the shared engine, publish
//! the build info when asked, write the outputs, and fail when anything was not deployed.

use std::sync::Arc;

use longshore_core::cli::BoxError;
use longshore_core::output::{self, FileArtifact};
use longshore_core::upload::artifactory::{
    self, Artifactory, BuildInfo, MIN_CHECKSUM_DEPLOY, Options, publish_build_info, repo_and_path,
};
use longshore_core::upload::transfer::{
    self, Destination as _, Item, ObjectHeaders, TransferOptions,
};
use tracing::info;

use crate::config::Config;

/// Runs a validated configuration.
pub fn run(cfg: Config) -> Result<(), BoxError> {
    let total: u64 = cfg.files.iter().map(|f| f.size).sum();
    info!(
        "plan: upload {} files ({:.1} MiB) to {}",
        cfg.files.len(),
        total as f64 / 1048576.0,
        cfg.base
    );
    if cfg.dry_run {
        for f in &cfg.files {
            let props: Vec<String> = f.props.iter().map(|(k, v)| format!("{k}={v}")).collect();
            info!(
                "plan: {} → {}{} ({} bytes{})",
                f.shown,
                cfg.base,
                f.key,
                f.size,
                if props.is_empty() {
                    String::new()
                } else {
                    format!(", properties {}", props.join(";"))
                }
            );
        }
        info!("dry run: nothing uploaded");
        return Ok(());
    }
    longshore_core::cli::block_on(execute(cfg))
}

async fn execute(cfg: Config) -> Result<(), BoxError> {
    let client = artifactory::client(&cfg.client)?;
    let started = chrono::Local::now();
    let build_props = match &cfg.build {
        Some((name, number)) => vec![
            ("build.name".to_string(), name.clone()),
            ("build.number".to_string(), number.clone()),
            (
                "build.timestamp".to_string(),
                started.timestamp_millis().to_string(),
            ),
        ],
        None => Vec::new(),
    };
    let dest = Artifactory::new(
        client.clone(),
        cfg.auth.clone(),
        Options {
            base: cfg.base.clone(),
            retries: cfg.retries,
            min_checksum_deploy: MIN_CHECKSUM_DEPLOY,
            build_props,
        },
        cfg.props_by_key(),
    );
    let items: Vec<Item> = cfg
        .files
        .iter()
        .map(|f| Item {
            path: f.path.clone(),
            size: f.size,
            key: f.key.clone(),
            headers: ObjectHeaders::default(),
        })
        .collect();
    let opts = TransferOptions {
        concurrency: cfg.threads,
        skip_unchanged: cfg.skip_unchanged,
    };
    let summary = transfer::upload(Arc::clone(&dest), items, &opts).await;
    let by_checksum = dest.deployed_by_checksum();
    for line in summary.lines(&dest.describe()) {
        info!("summary: {line}");
    }
    if !by_checksum.is_empty() {
        info!(
            "summary: {} of them deployed by checksum (Artifactory had the content; no bytes sent)",
            by_checksum.len()
        );
    }
    outputs(&cfg, &summary, &by_checksum, |k| dest.url(k))?;
    // The first real failure (a fatal one stops the rest, which are then "not attempted").
    let first = summary
        .failed
        .iter()
        .find(|f| f.fatal)
        .or(summary.failed.first());
    if let Some(first) = first {
        return Err(format!(
            "{} of {} artifacts failed (first: {first})",
            summary.failed.len(),
            summary.failed.len() + summary.uploaded.len() + summary.skipped.len()
        )
        .into());
    }
    if cfg.publish_build_info
        && let (Some((name, number)), Some(api)) = (&cfg.build, &cfg.api_base)
    {
        let artifacts = dest
            .deployed()
            .into_iter()
            .map(|(key, sums)| {
                let (repo, path) = repo_and_path(api, &cfg.base, &key);
                (repo, path, sums)
            })
            .collect();
        let info = BuildInfo {
            name: name.clone(),
            number: number.clone(),
            started,
            agent: ("longshore-jfrog".into(), env!("CARGO_PKG_VERSION").into()),
            url: cfg.build_link.clone(),
            vcs: (
                cfg.ci.remote_url.clone(),
                cfg.ci.commit_sha.clone(),
                cfg.ci.branch.clone(),
            ),
            artifacts,
        };
        publish_build_info(&client, &cfg.auth, api, &info, cfg.retries).await?;
        info!("build info published: {name} #{number} ({api}api/build)");
    }
    Ok(())
}

fn outputs(
    cfg: &Config,
    s: &transfer::Summary,
    by_checksum: &[String],
    url: impl Fn(&str) -> String,
) -> Result<(), longshore_core::Error> {
    if let Some(path) = &cfg.artifact_file {
        let files: Vec<FileArtifact> = s
            .uploaded
            .iter()
            .chain(&s.skipped)
            .map(|k| FileArtifact {
                name: k.clone(),
                url: url(k),
            })
            .collect();
        output::write_file_artifact(path, &files)?;
    }
    if let Some(path) = &cfg.drone_output {
        let urls: Vec<String> = s.uploaded.iter().map(|k| url(k)).collect();
        output::write_drone_output(
            path,
            &[
                ("uploaded_count", s.uploaded.len().to_string()),
                ("checksum_deployed_count", by_checksum.len().to_string()),
                ("skipped_count", s.skipped.len().to_string()),
                ("failed_count", s.failed.len().to_string()),
                ("uploaded_bytes", s.bytes.to_string()),
                ("urls", urls.join(",")),
            ],
        )?;
    }
    Ok(())
}
