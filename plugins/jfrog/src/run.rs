//! One run: print the plan (all of it in a dry run), deploy through the shared engine, publish
//! the build info when asked, write the outputs, and fail when anything was not deployed.

use std::sync::Arc;

use longshore_core::cli::BoxError;
use longshore_core::upload::artifactory::{
    self, Artifactory, BuildInfo, MIN_CHECKSUM_DEPLOY, Options, publish_build_info, repo_and_path,
};
use longshore_core::upload::transfer::{
    self, Destination as _, Item, ObjectHeaders, TransferOptions,
};
use tracing::info;

use crate::config::Config;

/// Runs a validated configuration.
pub(crate) fn run(cfg: Config) -> Result<(), BoxError> {
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
    summary.write_outputs(
        cfg.artifact_file.as_deref(),
        cfg.drone_output.as_deref(),
        |k| dest.url(k),
        &[("checksum_deployed_count", by_checksum.len().to_string())],
    )?;
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
