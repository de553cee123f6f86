//! One run: print the plan (all of it in a dry run), get a first access token (so bad
//! credentials fail once, on one line, before any transfer), transfer through the shared engine,
//! write the outputs, and fail when anything was not transferred.

use std::collections::HashMap;
use std::sync::Arc;

use longshore_core::upload::gcs::Gcs;
use longshore_core::upload::keys::safe_local_path;
use longshore_core::upload::transfer::{self, Destination as _, TransferOptions};
use tracing::info;

use crate::config::{Config, Mode};

/// Runs a validated configuration.
pub(crate) fn run(cfg: Config) -> Result<(), longshore_core::cli::BoxError> {
    match &cfg.mode {
        Mode::Upload(items) => {
            let total: u64 = items.iter().map(|(i, _)| i.size).sum();
            info!(
                "plan: upload {} files ({:.1} MiB) to gs://{} ({})",
                items.len(),
                total as f64 / 1048576.0,
                cfg.bucket,
                cfg.auth.label
            );
            if cfg.dry_run {
                for (i, gz) in items {
                    info!(
                        "plan: {} → gs://{}/{} ({}{}, {} bytes)",
                        i.path.display(),
                        cfg.bucket,
                        i.key,
                        i.headers.content_type,
                        if *gz { ", gzip" } else { "" },
                        i.size
                    );
                }
                info!("dry run: nothing uploaded");
                return Ok(());
            }
        }
        Mode::Download { prefix, dir } => {
            info!(
                "plan: download gs://{}/{prefix} into {} ({})",
                cfg.bucket,
                dir.display(),
                cfg.auth.label
            );
            if cfg.dry_run {
                info!("dry run: nothing downloaded");
                return Ok(());
            }
        }
    }
    longshore_core::cli::block_on(execute(cfg))
}

async fn execute(cfg: Config) -> Result<(), longshore_core::cli::BoxError> {
    let auth = Arc::new(cfg.auth);
    auth.token().await?;
    let summary = match cfg.mode {
        Mode::Upload(items) => {
            let local: HashMap<_, _> = items
                .iter()
                .map(|(i, gz)| (i.key.clone(), (i.path.clone(), *gz)))
                .collect();
            let dest = Gcs::new(&cfg.bucket, auth, cfg.gcs.clone(), local).await?;
            let opts = TransferOptions {
                concurrency: cfg.concurrency,
                skip_unchanged: cfg.skip_unchanged,
            };
            let items = items.into_iter().map(|(i, _)| i).collect();
            let s = transfer::upload(dest.clone(), items, &opts).await;
            s.write_outputs(
                cfg.artifact_file.as_deref(),
                cfg.drone_output.as_deref(),
                |k| dest.url(k),
                &[],
            )?;
            (s, dest.describe())
        }
        Mode::Download { prefix, dir } => {
            let dest = Gcs::new(&cfg.bucket, auth, cfg.gcs.clone(), HashMap::new()).await?;
            // The anchor writes each object at `target/<full object name>`.
            let s = transfer::download(dest.clone(), &prefix, cfg.concurrency, &dir, |key| {
                safe_local_path(&dir, key).map_err(|e| e.to_string())
            })
            .await?;
            (s, dest.describe())
        }
    };
    let (summary, described) = summary;
    for line in summary.lines(&described) {
        info!("summary: {line}");
    }
    summary.verdict().map_err(Into::into)
}
