//! One run: print the plan (all of it in a dry run), build the S3 client, transfer through the
//! shared engine, write the outputs, and fail when anything was not transferred.

use aws_sdk_s3::config::{
    RequestChecksumCalculation, ResponseChecksumValidation, retry::RetryConfig,
    timeout::TimeoutConfig,
};
use aws_smithy_runtime::client::retries::classifiers::HttpStatusCodeClassifier;
use longshore_core::upload::keys::{resolve_source, safe_local_path};
use longshore_core::upload::s3::S3;
use longshore_core::upload::s3::body::Checksum;
use longshore_core::upload::transfer::{self, Destination as _, TransferOptions};
use tracing::info;

use crate::config::{Config, Mode};

/// Runs a validated configuration.
pub(crate) fn run(cfg: Config) -> Result<(), longshore_core::cli::BoxError> {
    match &cfg.mode {
        Mode::Upload(items) => {
            let total: u64 = items.iter().map(|i| i.size).sum();
            info!(
                "plan: upload {} files ({:.1} MiB) to s3://{}",
                items.len(),
                total as f64 / 1048576.0,
                cfg.bucket
            );
            if cfg.dry_run {
                for i in items {
                    info!(
                        "plan: {} → s3://{}/{} ({}, {} bytes)",
                        i.path.display(),
                        cfg.bucket,
                        i.key,
                        i.headers.content_type,
                        i.size
                    );
                }
                info!("dry run: nothing uploaded");
                return Ok(());
            }
        }
        Mode::Download { prefix, dir, .. } => {
            info!(
                "plan: download s3://{}/{prefix} into {}",
                cfg.bucket,
                dir.display()
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
    let sdk = longshore_core::aws::sdk_config(&cfg.auth).await?;
    let mut b = aws_sdk_s3::config::Builder::from(&sdk)
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        // 429 is throttling too: proxies and S3-compatible stores send it, often without an S3
        // error body, which the SDK's error-code classifier cannot read.
        .retry_classifier(HttpStatusCodeClassifier::new_from_codes(vec![
            429, 500, 502, 503, 504,
        ]))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .build(),
        );
    if cfg.s3.checksum != Checksum::Sdk {
        // We compute the checksum (or send none): the SDK must not add its own trailer.
        b = b.request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
    }
    if let Some(ep) = &cfg.endpoint {
        // S3-compatible stores reject the SDK's aws-chunked checksum trailers.
        b = b
            .endpoint_url(ep)
            .force_path_style(cfg.path_style)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    let client = aws_sdk_s3::Client::from_conf(b.build());
    let dest = S3::new(client, &cfg.bucket, cfg.s3.clone());
    let summary = match cfg.mode {
        Mode::Upload(items) => {
            let opts = TransferOptions {
                concurrency: cfg.concurrency,
                skip_unchanged: cfg.skip_unchanged,
            };
            let s = transfer::upload(dest.clone(), items, &opts).await;
            s.write_outputs(
                cfg.artifact_file.as_deref(),
                cfg.drone_output.as_deref(),
                |k| dest.url(k),
                &[],
            )?;
            s
        }
        Mode::Download {
            prefix,
            dir,
            prepend,
        } => {
            let source_dir = prefix.clone();
            transfer::download(dest.clone(), &prefix, cfg.concurrency, &dir, |key| {
                let rel = resolve_source(&source_dir, key, &prepend);
                safe_local_path(&dir, &rel).map_err(|e| e.to_string())
            })
            .await?
        }
    };
    for line in summary.lines(&dest.describe()) {
        info!("summary: {line}");
    }
    summary.verdict().map_err(Into::into)
}
