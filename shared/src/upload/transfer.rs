//! The transfer half of the upload engine: one [`Destination`] trait that each backend (S3, GCS,
//! Artifactory, Nexus) implements — put an object with its headers, head it, list, get — and the
//! scheduling around it that every backend shares: bounded concurrency, skip-unchanged, progress
//! lines for long transfers, and the final summary. Backends own their wire details (multipart,
//! checksums, retries of the SDK); the engine owns what a user sees.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use tracing::{info, warn};

use super::local_fs::TargetDir;

/// Headers and metadata of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHeaders {
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

/// One file to upload.
#[derive(Debug, Clone)]
pub struct Item {
    /// The local file.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// The object key.
    pub key: String,
    /// Headers.
    pub headers: ObjectHeaders,
}

/// What a destination knows of a stored object.
#[derive(Debug, Clone, Default)]
pub struct Remote {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The SHA-256 we stored in its metadata on upload, if any.
    pub sha256: Option<String>,
}

/// The metadata key under which the content's SHA-256 is stored, for skip-unchanged.
pub const SHA256_META: &str = "longshore-sha256";

/// A failed transfer of one object.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct TransferError {
    /// The object.
    pub key: String,
    /// Why (the service's message).
    pub reason: String,
    /// Every other transfer would fail the same way (no bucket, bad credentials): stop.
    pub fatal: bool,
}

/// The reason given to transfers skipped after a fatal error.
const NOT_ATTEMPTED: &str = "not attempted after a fatal error";

/// Counts bytes as they go, for the progress lines.
#[derive(Debug, Default)]
pub struct Progress {
    bytes: AtomicU64,
}

impl Progress {
    /// Adds transferred bytes.
    pub fn add(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Where objects go. Implementations retry transient failures themselves (their SDKs do), and
/// never leave a partial object under the final key: a failed put leaves the old object or none.
pub trait Destination: Send + Sync + 'static {
    /// `s3://bucket/prefix`, for the log.
    fn describe(&self) -> String;
    /// The URL of an object, for the artifact file.
    fn url(&self, key: &str) -> String;
    /// The object, if it exists.
    fn head(&self, key: &str)
    -> impl Future<Output = Result<Option<Remote>, TransferError>> + Send;
    /// Stores `item` (streamed from disk) under its key.
    fn put(
        &self,
        item: &Item,
        progress: &Progress,
    ) -> impl Future<Output = Result<(), TransferError>> + Send;
    /// Every object under `prefix` (all pages).
    fn list(&self, prefix: &str)
    -> impl Future<Output = Result<Vec<Remote>, TransferError>> + Send;
    /// Writes the object into `file`, a fresh partial file the caller made safe and renames
    /// into place; `shown` names it in messages.
    fn get(
        &self,
        key: &str,
        file: &mut tokio::fs::File,
        shown: &Path,
    ) -> impl Future<Output = Result<u64, TransferError>> + Send;
}

/// How to transfer.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Files in flight.
    pub concurrency: usize,
    /// Do not upload an object whose size and SHA-256 match.
    pub skip_unchanged: bool,
}

/// What an upload did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Keys uploaded.
    pub uploaded: Vec<String>,
    /// Keys skipped as unchanged.
    pub skipped: Vec<String>,
    /// Failures.
    pub failed: Vec<TransferError>,
    /// Bytes sent.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl Summary {
    /// The summary lines.
    pub fn lines(&self, dest: &str) -> Vec<String> {
        let secs = self.elapsed.as_secs_f64().max(0.001);
        let mut v = vec![format!(
            "{} uploaded, {} skipped (unchanged), {} failed to {dest}: {:.1} MiB in {:.2}s ({:.1} MiB/s)",
            self.uploaded.len(),
            self.skipped.len(),
            self.failed.len(),
            self.bytes as f64 / 1048576.0,
            secs,
            self.bytes as f64 / 1048576.0 / secs
        )];
        // The first few failures say why; a long list of identical lines would bury that.
        let (skipped, tried): (Vec<&TransferError>, Vec<&TransferError>) =
            self.failed.iter().partition(|f| f.reason == NOT_ATTEMPTED);
        for f in tried.iter().take(10) {
            v.push(format!("failed: {f}"));
        }
        if tried.len() > 10 {
            v.push(format!("failed: … and {} more", tried.len() - 10));
        }
        if !skipped.is_empty() {
            v.push(format!(
                "not attempted after a fatal error: {}",
                skipped.len()
            ));
        }
        v
    }
}

impl Summary {
    /// Writes what every upload plugin leaves for the runner: the `fileUpload/v1` artifact file
    /// (one entry per object that is in place, uploaded or unchanged) and the `DRONE_OUTPUT`
    /// counts and URLs, with a backend's `extra` outputs after them.
    pub fn write_outputs(
        &self,
        artifact_file: Option<&str>,
        drone_output: Option<&str>,
        url: impl Fn(&str) -> String,
        extra: &[(&str, String)],
    ) -> Result<(), crate::Error> {
        use crate::output::{self, FileArtifact};
        if let Some(path) = artifact_file {
            let files: Vec<FileArtifact> = self
                .uploaded
                .iter()
                .chain(&self.skipped)
                .map(|k| FileArtifact {
                    name: k.clone(),
                    url: url(k),
                })
                .collect();
            output::write_file_artifact(path, &files)?;
        }
        if let Some(path) = drone_output {
            let urls: Vec<String> = self.uploaded.iter().map(|k| url(k)).collect();
            let mut pairs = vec![
                ("uploaded_count", self.uploaded.len().to_string()),
                ("skipped_count", self.skipped.len().to_string()),
                ("failed_count", self.failed.len().to_string()),
                ("uploaded_bytes", self.bytes.to_string()),
                ("urls", urls.join(",")),
            ];
            pairs.extend(extra.iter().cloned());
            output::write_drone_output(path, &pairs)?;
        }
        Ok(())
    }

    /// The step's verdict: an error naming how many objects failed and the first failure.
    pub fn verdict(&self) -> Result<(), String> {
        match self.failed.first() {
            None => Ok(()),
            Some(first) => Err(format!(
                "{} of {} objects failed (first: {first})",
                self.failed.len(),
                self.failed.len() + self.uploaded.len() + self.skipped.len()
            )),
        }
    }
}

/// SHA-256 of a file, hex, streamed.
pub async fn sha256_file(path: &Path) -> std::io::Result<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use sha2::Digest as _;
        use std::io::Read as _;
        let mut f = super::local_fs::open_selected(&path)?;
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(hex::encode(h.finalize()))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Uploads every item, `concurrency` at a time; one failure does not stop the others, so the
/// summary can say exactly what landed.
pub async fn upload<D: Destination>(
    dest: Arc<D>,
    items: Vec<Item>,
    opts: &TransferOptions,
) -> Summary {
    let started = Instant::now();
    let total: u64 = items.iter().map(|i| i.size).sum();
    let count = items.len();
    let progress = Arc::new(Progress::default());
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.tick().await;
            loop {
                tick.tick().await;
                let done = progress.get();
                info!(
                    "progress: {:.1}/{:.1} MiB ({:.0}%), {:.1} MiB/s",
                    done as f64 / 1048576.0,
                    total as f64 / 1048576.0,
                    done as f64 * 100.0 / total.max(1) as f64,
                    done as f64 / 1048576.0 / started.elapsed().as_secs_f64().max(0.001)
                );
            }
        })
    };
    // After a fatal error (no bucket, bad credentials) the rest are not attempted: a thousand
    // identical failures help nobody.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let results: Vec<(Item, Result<bool, TransferError>)> = futures_util::stream::iter(items)
        .map(|mut item| {
            let dest = dest.clone();
            let progress = progress.clone();
            let stop = stop.clone();
            let skip = opts.skip_unchanged;
            async move {
                if stop.load(Ordering::Relaxed) {
                    let e = TransferError {
                        key: item.key.clone(),
                        reason: NOT_ATTEMPTED.into(),
                        fatal: false,
                    };
                    return (item, Err(e));
                }
                let r = upload_one(&*dest, &mut item, &progress, skip).await;
                if let Err(e) = &r
                    && e.fatal
                {
                    stop.store(true, Ordering::Relaxed);
                }
                (item, r)
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    ticker.abort();
    let mut summary = Summary {
        elapsed: started.elapsed(),
        ..Default::default()
    };
    for (item, r) in results {
        match r {
            Ok(true) => {
                summary.bytes += item.size;
                summary.uploaded.push(item.key);
            }
            Ok(false) => summary.skipped.push(item.key),
            Err(e) => {
                if e.reason != NOT_ATTEMPTED {
                    warn!("upload failed: {e}");
                }
                summary.failed.push(e);
            }
        }
    }
    summary.uploaded.sort();
    summary.skipped.sort();
    info!("uploaded {} of {count} files", summary.uploaded.len());
    summary
}

/// Ok(true) uploaded, Ok(false) skipped as unchanged.
async fn upload_one<D: Destination>(
    dest: &D,
    item: &mut Item,
    progress: &Progress,
    skip: bool,
) -> Result<bool, TransferError> {
    if skip {
        let sha = sha256_file(&item.path).await.map_err(|e| TransferError {
            key: item.key.clone(),
            reason: format!("cannot read {}: {e}", item.path.display()),
            fatal: false,
        })?;
        if let Some(remote) = dest.head(&item.key).await?
            && remote.size == item.size
            && remote.sha256.as_deref() == Some(sha.as_str())
        {
            info!("unchanged: {}", item.key);
            return Ok(false);
        }
        item.headers.metadata.insert(SHA256_META.into(), sha);
    }
    let started = Instant::now();
    dest.put(item, progress).await?;
    info!(
        "uploaded: {} ({} bytes, {:.2}s)",
        item.key,
        item.size,
        started.elapsed().as_secs_f64()
    );
    Ok(true)
}

/// Downloads every object under `prefix` into `dir`, `concurrency` at a time. `local` maps a key
/// to a path inside `dir` (or refuses it); files are written beside their target and renamed,
/// and no link under `dir` is followed ([`TargetDir`]).
pub async fn download<D: Destination>(
    dest: Arc<D>,
    prefix: &str,
    concurrency: usize,
    dir: &Path,
    local: impl Fn(&str) -> Result<PathBuf, String>,
) -> Result<Summary, TransferError> {
    let started = Instant::now();
    let target = Arc::new(TargetDir::open(dir).map_err(|e| TransferError {
        key: prefix.to_string(),
        reason: e.to_string(),
        fatal: true,
    })?);
    let objects = dest.list(prefix).await?;
    info!("download: {} objects under '{prefix}'", objects.len());
    let mut jobs = Vec::new();
    let mut summary = Summary::default();
    for o in objects {
        if o.key.ends_with('/') {
            continue;
        }
        match local(&o.key) {
            Ok(p) => jobs.push((o, p)),
            Err(reason) => summary.failed.push(TransferError {
                key: o.key,
                reason,
                fatal: false,
            }),
        }
    }
    let results: Vec<(String, Result<u64, TransferError>)> = futures_util::stream::iter(jobs)
        .map(|(o, path)| {
            let dest = dest.clone();
            let target = target.clone();
            async move {
                let r = get_atomic(&*dest, &target, &o.key, &path).await;
                (o.key, r)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (key, r) in results {
        match r {
            Ok(n) => {
                summary.bytes += n;
                summary.uploaded.push(key);
            }
            Err(e) => summary.failed.push(e),
        }
    }
    summary.uploaded.sort();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

async fn get_atomic<D: Destination>(
    dest: &D,
    target: &TargetDir,
    key: &str,
    path: &Path,
) -> Result<u64, TransferError> {
    let err = |reason: String| TransferError {
        key: key.to_string(),
        reason,
        fatal: false,
    };
    let rel = path.strip_prefix(target.root()).unwrap_or(path);
    let mut partial = target.create_partial(rel).map_err(|e| err(e.to_string()))?;
    let Some(file) = partial.take_file() else {
        partial.discard();
        return Err(err(format!("cannot create {}", path.display())));
    };
    let mut file = tokio::fs::File::from_std(file);
    match dest.get(key, &mut file, path).await {
        Ok(n) => {
            drop(file);
            partial.commit().map_err(|e| err(e.to_string()))?;
            info!("downloaded: {key} → {}", path.display());
            Ok(n)
        }
        Err(e) => {
            drop(file);
            partial.discard();
            Err(e)
        }
    }
}
