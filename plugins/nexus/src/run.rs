//! One run: print the plan (all of it in a dry run), build the client, upload through the shared
//! engine (components or PUTs), write the outputs the anchor writes (`UPLOAD_STATUS`) plus ours,
//! and fail when anything was not uploaded.

use std::collections::HashMap;

use longshore_core::cli::BoxError;
use longshore_core::output::{self, FileArtifact};
use longshore_core::upload::nexus::{self, ComponentsApi, Http, NexusPut};
use longshore_core::upload::transfer::{self, Destination as _, Summary, TransferOptions};
use tracing::info;

use crate::config::{Config, Plan};

/// Runs a validated configuration.
pub(crate) fn run(cfg: Config) -> Result<(), BoxError> {
    match &cfg.plan {
        Plan::Components(comps) => {
            let total: u64 = comps.iter().map(|c| c.size()).sum();
            info!(
                "plan: {} components ({} files, {:.1} MiB) to {} with the components API",
                comps.len(),
                comps.iter().map(|c| c.assets.len()).sum::<usize>(),
                total as f64 / 1048576.0,
                cfg.repository
            );
            for c in comps {
                let fields: Vec<String> =
                    c.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let assets: Vec<String> = c
                    .assets
                    .iter()
                    .map(|a| {
                        format!(
                            "{}={} ({} bytes{})",
                            a.field,
                            a.path.display(),
                            a.size,
                            a.repo_path
                                .as_deref()
                                .map(|p| format!(" → {p}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                info!(
                    "plan: {}: {} {}",
                    c.label,
                    fields.join(" "),
                    assets.join(" ")
                );
            }
        }
        Plan::Put { layout, items } => {
            let base = layout.repository_url(&cfg.server, &cfg.repository);
            let total: u64 = items.iter().map(|i| i.size).sum();
            info!(
                "plan: PUT {} files ({:.1} MiB) to {base}",
                items.len(),
                total as f64 / 1048576.0
            );
            for i in items {
                info!(
                    "plan: {} → {}/{} ({} bytes)",
                    i.path.display(),
                    base,
                    i.key,
                    i.size
                );
            }
        }
    }
    if cfg.dry_run {
        info!("dry run: nothing uploaded");
        return Ok(());
    }
    longshore_core::cli::block_on(execute(cfg))
}

async fn execute(cfg: Config) -> Result<(), BoxError> {
    let client = nexus::client(&cfg.tls)?;
    let http = Http::new(client, &cfg.username, cfg.password.clone(), cfg.retries);
    let opts = TransferOptions {
        concurrency: cfg.concurrency,
        skip_unchanged: false,
    };
    // (asset name, URL) per uploaded key, for the artifact file and the outputs.
    let (summary, described, assets) = match cfg.plan {
        Plan::Components(comps) => {
            let (api, items) = ComponentsApi::new(http, &cfg.server, &cfg.repository, comps);
            let summary = transfer::upload(api.clone(), items, &opts).await;
            let assets = |key: &str| -> Vec<(String, String)> {
                api.component(key)
                    .map(|c| {
                        c.assets
                            .iter()
                            .map(|a| match &a.repo_path {
                                Some(p) => (p.clone(), api.asset_url(p)),
                                None => (
                                    a.path
                                        .file_name()
                                        .map(|n| n.to_string_lossy().into_owned())
                                        .unwrap_or_default(),
                                    api.browse_url(),
                                ),
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let map: HashMap<String, Vec<(String, String)>> = summary
                .uploaded
                .iter()
                .map(|k| (k.clone(), assets(k)))
                .collect();
            (summary, api.describe(), map)
        }
        Plan::Put { layout, items } => {
            let dest = NexusPut::new(http, &cfg.server, &cfg.repository, layout);
            let summary = transfer::upload(dest.clone(), items, &opts).await;
            let map = summary
                .uploaded
                .iter()
                .map(|k| (k.clone(), vec![(k.clone(), dest.url(k))]))
                .collect();
            (summary, dest.describe(), map)
        }
    };
    for line in summary.lines(&described) {
        info!("summary: {line}");
    }
    outputs(
        &cfg.artifact_file,
        &cfg.drone_output,
        &summary,
        &assets,
        &cfg.files,
    )?;
    match summary.failed.first() {
        None => {
            info!("[OK] Successfully uploaded");
            Ok(())
        }
        Some(first) => Err(format!(
            "{} of {} uploads failed (first: {first})",
            summary.failed.len(),
            summary.failed.len() + summary.uploaded.len()
        )
        .into()),
    }
}

fn outputs(
    artifact_file: &Option<String>,
    drone_output: &Option<String>,
    s: &Summary,
    assets: &HashMap<String, Vec<(String, String)>>,
    files: &HashMap<String, Vec<String>>,
) -> Result<(), longshore_core::Error> {
    let uploaded: Vec<&(String, String)> = s
        .uploaded
        .iter()
        .flat_map(|k| assets.get(k).into_iter().flatten())
        .collect();
    if let Some(path) = artifact_file {
        let list: Vec<FileArtifact> = uploaded
            .iter()
            .map(|(name, url)| FileArtifact {
                name: name.clone(),
                url: url.clone(),
            })
            .collect();
        output::write_file_artifact(path, &list)?;
    }
    if let Some(path) = drone_output {
        // The anchor writes `Success`, or its list of failed files as Go's %v prints a slice.
        let status = if s.failed.is_empty() {
            "Success".to_string()
        } else {
            let failed: Vec<String> = s
                .failed
                .iter()
                .flat_map(|f| {
                    files
                        .get(&f.key)
                        .cloned()
                        .unwrap_or_else(|| vec![f.key.clone()])
                })
                .collect();
            format!("[{}]", failed.join(" "))
        };
        let mut urls: Vec<&str> = uploaded.iter().map(|(_, u)| u.as_str()).collect();
        urls.dedup();
        output::write_drone_output(
            path,
            &[
                ("UPLOAD_STATUS", status),
                ("uploaded_count", uploaded.len().to_string()),
                ("skipped_count", s.skipped.len().to_string()),
                (
                    "failed_count",
                    s.failed
                        .iter()
                        .map(|f| files.get(&f.key).map_or(1, Vec::len))
                        .sum::<usize>()
                        .to_string(),
                ),
                ("uploaded_bytes", s.bytes.to_string()),
                ("urls", urls.join(",")),
            ],
        )?;
    }
    Ok(())
}
