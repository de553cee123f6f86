//! The GCS backend of the upload engine (reference upload-plugins §5): the anchor's file
//! selection and object naming with its bugs fixed ([`plan`](mod@plan)), the credentials
//! ([`auth`](mod@auth)), the [`Destination`] (here) and a download's gunzip sink (`download`).
//!
//! **Naming.** Each `source` item has a *base*: a file's directory, a directory itself, or for a
//! glob its fixed leading directory (the segments before the first `*`, `?` or `[`). An object
//! is named `prefix/<path relative to the base>`, so `dist/**` keeps `css/a.css` (the anchor
//! re-based on every matched directory and flattened the first level, colliding `a/x.js` with
//! `b/x.js`). `**` matches at every depth (a trailing `**` is everything under), `*` one
//! segment, `?` one character, `[…]` a class, `{a,b}` alternatives. Ignore patterns use the same
//! syntax against the same relative path; one that matches a directory ignores all under it.
//! A single literal file with a prefix not ending in `/` is uploaded *as* the prefix (the
//! anchor's rename); a bucket-only target names objects by their relative path (the anchor
//! made an empty name). Two files mapping to one name are an error naming both.
//!
//! **Wire.** Objects below the resumable threshold are written with the official
//! `google-cloud-storage` crate (`write_object`, single-shot multipart, our CRC32C + MD5 passed
//! as known checksums so the service validates them). Larger ones use a resumable session over
//! the JSON API with reqwest, declaring our CRC32C only (the service computes the MD5; an MD5 of
//! a large file would cost ~1.3 s of CPU per GiB before the first byte is sent, and CRC32C is
//! what GCS itself recommends for integrity): the crate sets `Host` without the port (gax-internal
//! `host::header`), so against any endpoint that builds the session URL from `Host` (the
//! emulator) its session URL points at port 80. Listing, metadata reads and downloads also use
//! the JSON API: the crate lists only over gRPC, and its `read_object` requires an
//! `x-goog-generation` header the emulator does not send (cloud-crate-facts §3).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt as _;
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
use tracing::{info, warn};

use crate::upload::transfer::{Destination, Item, Progress, Remote, SHA256_META, TransferError};

/// URLs as the settings parse them.
pub use reqwest::Url;

/// Google's endpoint (JSON API and uploads).
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// Objects at or above this size go through a resumable session.
pub const RESUMABLE_THRESHOLD: u64 = 8 * 1024 * 1024;
/// GCS's limit on object names, in bytes of UTF-8.
const MAX_NAME: usize = 1024;
/// Metadata holding the size before compression of a gzip-encoded object.
pub const ORIGINAL_SIZE_META: &str = "longshore-original-size";
/// The most of a JSON answer (a listing page, an object's metadata) we read: a page of 1000
/// objects with metadata is well under 8 MiB; a larger answer is a broken or hostile server.
const MAX_JSON: usize = 32 * 1024 * 1024;
/// The most of an error body we read; the message is cut to 300 characters anyway.
const MAX_ERROR_BODY: usize = 8 * 1024;
/// A gzip-encoded object without a stated original size decodes to at most this many times its
/// stored size (and at least [`MIN_GUNZIP_CAP`]): text compresses 5-20×, a gzip bomb 1000×.
const MAX_GUNZIP_RATIO: u64 = 200;
/// The decoded size always allowed, whatever the stored size.
const MIN_GUNZIP_CAP: u64 = 64 * 1024 * 1024;

pub mod auth;
mod download;
pub mod plan;

use auth::CrateCredentials;
pub use auth::{AuthSettings, GcsAuth, auth};
use download::Gunzip;
pub use plan::*;

// ----------------------------------------------------------------------------- destination

/// Per-run options of the destination.
#[derive(Debug, Clone)]
pub struct GcsOptions {
    /// JSON API base URL (no trailing `/`).
    pub endpoint: String,
    /// Object ACL entries `(entity, role)`.
    pub acl: Vec<(String, String)>,
    /// Extensions (no dot) compressed with gzip on upload.
    pub gzip: Vec<String>,
    /// Objects at or above this size use a resumable session; 0 sends everything that way
    /// (used when a proxy is configured by settings, which the crate's client cannot take).
    pub resumable_threshold: u64,
    /// Objects per listing page.
    pub page_size: u32,
    /// Proxies from `PLUGIN_ENABLE_PROXY` (`http`, `https`, `no_proxy`).
    pub proxy: Option<(Option<String>, Option<String>, Option<String>)>,
    /// The certificates of `SSL_CERT_FILE`, trusted by our JSON API client beside the roots of
    /// [`crate::tls`] (the crate's client reads the variable itself).
    pub extra_roots: Option<crate::tls::CaBundle>,
}

/// What a listing says of an object, kept for the download's integrity check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ObjectJson {
    name: String,
    size: String,
    crc32c: String,
    md5_hash: String,
    content_encoding: String,
    metadata: BTreeMap<String, String>,
}

/// A GCS bucket.
pub struct Gcs {
    storage: google_cloud_storage::client::Storage,
    http: reqwest::Client,
    auth: Arc<GcsAuth>,
    bucket: String,
    opts: GcsOptions,
    /// Key → local file, so `head` can compare a stored CRC32C with the local one.
    local: HashMap<String, (PathBuf, bool)>,
    /// What the listing said, for `get`.
    listed: Mutex<HashMap<String, ObjectJson>>,
}

/// A request's failure: the message and whether to retry it.
struct Failure {
    reason: String,
    transient: bool,
    status: Option<u16>,
}

impl Gcs {
    /// A destination for `bucket`. `local` maps each object name to its file (and whether it is
    /// gzipped on upload). Builds the clients; no request is made.
    pub async fn new(
        bucket: &str,
        auth: Arc<GcsAuth>,
        opts: GcsOptions,
        local: HashMap<String, (PathBuf, bool)>,
    ) -> Result<Arc<Gcs>, String> {
        use google_cloud_gax::retry_policy::RetryPolicyExt as _;
        let policy = crate::retry::policy();
        let mut b = crate::tls::reqwest_builder(&opts.extra_roots)
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .no_gzip()
            .user_agent(concat!("longshore-gcs/", env!("CARGO_PKG_VERSION")));
        if let Some((http_p, https_p, no)) = &opts.proxy {
            let no = reqwest::NoProxy::from_string(no.as_deref().unwrap_or(""));
            if let Some(p) = http_p {
                b = b.proxy(
                    reqwest::Proxy::http(p.as_str())
                        .map_err(|e| format!("HARNESS_HTTP_PROXY: {e}"))?
                        .no_proxy(no.clone()),
                );
            }
            if let Some(p) = https_p {
                b = b.proxy(
                    reqwest::Proxy::https(p.as_str())
                        .map_err(|e| format!("HARNESS_HTTPS_PROXY: {e}"))?
                        .no_proxy(no),
                );
            }
        }
        let http = b.build().map_err(|e| crate::error::one_line(&e))?;
        let mut sb = google_cloud_storage::client::Storage::builder()
            // The crate retries the object writes itself: with our attempts, waits and time.
            .with_retry_policy(
                google_cloud_storage::retry_policy::RetryableErrors
                    .with_attempt_limit(policy.attempts)
                    .with_time_limit(policy.max_time),
            )
            .with_backoff_policy(
                google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder::new()
                    .with_initial_delay(policy.base)
                    .with_maximum_delay(policy.cap)
                    .build()
                    .map_err(|e| crate::error::one_line(&e))?,
            )
            .with_resumable_upload_threshold(usize::MAX);
        if opts.endpoint != DEFAULT_ENDPOINT {
            sb = sb.with_endpoint(opts.endpoint.clone());
        }
        sb = if auth.is_anonymous() {
            sb.with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
        } else {
            sb.with_credentials(google_cloud_auth::credentials::Credentials::from(
                CrateCredentials(auth.clone()),
            ))
        };
        // The crate's gRPC channel (built for any https endpoint, Google's included) asks rustls
        // for the process-wide provider, which rustls cannot choose when both of its providers
        // are linked (reqwest brings ring, the Google crates aws-lc): it panicked. Pick aws-lc,
        // the one the crate's HTTP client uses; `Err` only means one is installed already.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let storage = sb.build().await.map_err(|e| crate::error::one_line(&e))?;
        Ok(Arc::new(Gcs {
            storage,
            http,
            auth,
            bucket: bucket.to_string(),
            opts,
            local,
            listed: Mutex::new(HashMap::new()),
        }))
    }

    fn terr(&self, key: &str, f: Failure) -> TransferError {
        // rustls's text for every verification failure: every request would fail the same way.
        let untrusted = f.reason.contains("invalid peer certificate");
        let fatal = untrusted
            || matches!(f.status, Some(401 | 403))
            || (f.status == Some(404) && f.reason.contains("ucket"));
        let mut reason = f.reason;
        if untrusted {
            reason.push_str(
                " (the endpoint's TLS certificate is not trusted: set SSL_CERT_FILE to a PEM file holding its CA)",
            );
        }
        TransferError {
            key: key.to_string(),
            reason,
            fatal,
        }
    }

    fn object_url(&self, name: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.opts.endpoint,
            enc(&self.bucket),
            enc(name)
        )
    }

    /// Sends a request (rebuilt per attempt, with a fresh token) under the one retry policy
    /// (408 / 429 / 5xx and connection failures). Returns the final response, whatever its
    /// status, unless it is a transient failure on the last attempt.
    async fn send(
        &self,
        req: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Failure> {
        let mut tries = crate::retry::policy().start();
        loop {
            let mut r = req();
            match self.auth.token().await {
                Ok(Some(t)) => r = r.bearer_auth(t.expose()),
                Ok(None) => {}
                Err(e) => {
                    return Err(Failure {
                        reason: e.to_string(),
                        transient: false,
                        status: Some(401),
                    });
                }
            }
            let (why, after) = match r.send().await {
                Ok(resp) if !crate::retry::transient_status(resp.status().as_u16()) => {
                    return Ok(resp);
                }
                Ok(resp) => (
                    format!("HTTP {}", resp.status().as_u16()),
                    crate::retry::retry_after(resp.headers()),
                ),
                Err(e) => {
                    let f = Failure {
                        reason: crate::error::one_line(&e),
                        transient: crate::retry::transient_transport(&e),
                        status: None,
                    };
                    if !f.transient {
                        return Err(f);
                    }
                    (f.reason, None)
                }
            };
            if !tries.pause("gcs", &why, after).await {
                return Err(Failure {
                    reason: tries.exhausted(&why),
                    transient: true,
                    status: None,
                });
            }
        }
    }

    /// Reads a JSON API answer: the body as `T` on 2xx, else GCS's error message.
    async fn json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, Failure> {
        let status = resp.status().as_u16();
        let ok = (200..300).contains(&status);
        let cap = if ok { MAX_JSON } else { MAX_ERROR_BODY };
        let (text, cut) = crate::http_body::read_capped(resp, cap)
            .await
            .map_err(|e| Failure {
                reason: crate::error::one_line(&e),
                transient: true,
                status: None,
            })?;
        if !ok {
            return Err(api_error(status, &String::from_utf8_lossy(&text)));
        }
        if cut {
            return Err(Failure {
                reason: format!("unexpected answer: larger than {} MiB", MAX_JSON >> 20),
                transient: false,
                status: Some(status),
            });
        }
        serde_json::from_slice(&text).map_err(|e| Failure {
            reason: format!("unexpected answer: {e}"),
            transient: false,
            status: Some(status),
        })
    }

    async fn put_small(
        &self,
        item: &Item,
        path: &Path,
        size: u64,
        sums: Sums,
    ) -> Result<(), TransferError> {
        let mut tries = crate::retry::policy().start();
        let obj = loop {
            let file = crate::upload::local_fs::open_selected_async(path)
                .await
                .map_err(|e| TransferError {
                    key: item.key.clone(),
                    reason: format!("cannot read {}: {e}", path.display()),
                    fatal: false,
                })?;
            let h = &item.headers;
            let mut w = self
                .storage
                .write_object(
                    format!("projects/_/buckets/{}", self.bucket),
                    &item.key,
                    file,
                )
                .set_content_type(&h.content_type)
                .set_metadata(h.metadata.clone())
                .with_known_crc32c(sums.0)
                // An upload of the same bytes to the same name is idempotent for us: retry it.
                .with_idempotency(true);
            if let Some(m) = sums.1 {
                w = w.with_known_md5_hash(m);
            }
            if let Some(v) = &h.cache_control {
                w = w.set_cache_control(v);
            }
            if let Some(v) = &h.content_encoding {
                w = w.set_content_encoding(v);
            }
            if !self.opts.acl.is_empty() {
                w = w.set_acl(self.opts.acl.iter().map(|(e, r)| {
                    google_cloud_storage::model::ObjectAccessControl::new()
                        .set_entity(e)
                        .set_role(r)
                }));
            }
            match w.send_unbuffered().await {
                Ok(obj) => break obj,
                // The client retries what failed before an answer, not an answer cut short (it
                // cannot read it): the object may or may not be stored, and resending the same
                // bytes (checked by their CRC32C and MD5) to the same name is safe.
                Err(e)
                    if e.is_deserialization()
                        && tries
                            .pause(&item.key, &crate::error::one_line(&e), None)
                            .await => {}
                Err(e) => {
                    return Err(self.terr(
                        &item.key,
                        Failure {
                            reason: crate::error::one_line(&e),
                            transient: false,
                            status: e.http_status_code(),
                        },
                    ));
                }
            }
        };
        let crc = obj.checksums.as_ref().and_then(|c| c.crc32c);
        let md5 = obj.checksums.as_ref().map(|c| c.md5_hash.to_vec());
        verify(
            &item.key,
            size,
            obj.size.max(0) as u64,
            crc,
            md5.as_deref(),
            sums,
        )
    }

    /// A resumable session: started with the object's metadata and our checksums (the service
    /// refuses to finalise an object whose bytes do not match), the file streamed from disk in
    /// one PUT, and on a transient failure the persisted offset queried and the rest resent.
    /// A session given up on is cancelled, so no object is created.
    async fn put_resumable(
        &self,
        item: &Item,
        path: &Path,
        size: u64,
        sums: Sums,
        progress: &Progress,
    ) -> Result<(), TransferError> {
        let h = &item.headers;
        let mut resource = serde_json::json!({
            "name": item.key,
            "contentType": h.content_type,
            "crc32c": STANDARD.encode(sums.0.to_be_bytes()),
        });
        if let Some(m) = sums.1 {
            resource["md5Hash"] = STANDARD.encode(m).into();
        }
        if let Some(v) = &h.cache_control {
            resource["cacheControl"] = v.clone().into();
        }
        if let Some(v) = &h.content_encoding {
            resource["contentEncoding"] = v.clone().into();
        }
        if !h.metadata.is_empty() {
            resource["metadata"] = serde_json::to_value(&h.metadata).unwrap_or_default();
        }
        if !self.opts.acl.is_empty() {
            resource["acl"] = self
                .opts
                .acl
                .iter()
                .map(|(e, r)| serde_json::json!({"entity": e, "role": r}))
                .collect();
        }
        let start = format!(
            "{}/upload/storage/v1/b/{}/o",
            self.opts.endpoint,
            enc(&self.bucket)
        );
        let resp = self
            .send(|| {
                self.http
                    .post(&start)
                    .query(&[("uploadType", "resumable"), ("name", item.key.as_str())])
                    .header("X-Upload-Content-Type", &h.content_type)
                    .header("X-Upload-Content-Length", size)
                    .json(&resource)
            })
            .await
            .map_err(|f| self.terr(&item.key, f))?;
        let status = resp.status().as_u16();
        let session = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let session = match (status, session) {
            (200..=299, Some(s)) => s,
            _ => {
                let text = resp.text().await.unwrap_or_default();
                return Err(self.terr(&item.key, api_error(status, &text)));
            }
        };
        let mut offset = 0u64;
        let mut tries = crate::retry::policy().start();
        loop {
            let result = self.send_rest(&session, path, offset, size, progress).await;
            let failure = match result {
                Ok(Some(obj)) => {
                    let crc = decode_crc(&obj.crc32c);
                    let md5 = STANDARD.decode(&obj.md5_hash).ok();
                    let stored = obj.size.parse().unwrap_or(0);
                    return verify(&item.key, size, stored, crc, md5.as_deref(), sums);
                }
                Ok(None) => Failure {
                    reason: "the session is not complete".into(),
                    transient: true,
                    status: Some(308),
                },
                Err(f) => f,
            };
            if !failure.transient || !tries.pause(&item.key, &failure.reason, None).await {
                self.cancel(&session).await;
                return Err(self.terr(&item.key, failure));
            }
            match self.query(&session, size).await {
                Ok(Ok(persisted)) => {
                    // Bytes got through: the next failure is a new one, with the full policy
                    // (a long upload must not lose its retries to the time it took).
                    if persisted > offset {
                        tries = crate::retry::policy().start();
                    }
                    offset = persisted;
                }
                Ok(Err(obj)) => {
                    let crc = decode_crc(&obj.crc32c);
                    let md5 = STANDARD.decode(&obj.md5_hash).ok();
                    let stored = obj.size.parse().unwrap_or(0);
                    return verify(&item.key, size, stored, crc, md5.as_deref(), sums);
                }
                Err(f) => {
                    self.cancel(&session).await;
                    return Err(self.terr(&item.key, f));
                }
            }
        }
    }

    /// PUTs bytes `offset..size` of the file. `Some(object)` when the upload is complete.
    async fn send_rest(
        &self,
        session: &str,
        path: &Path,
        offset: u64,
        size: u64,
        progress: &Progress,
    ) -> Result<Option<ObjectJson>, Failure> {
        let local = |e: std::io::Error| Failure {
            reason: format!("cannot read {}: {e}", path.display()),
            transient: false,
            status: None,
        };
        let mut file = crate::upload::local_fs::open_selected_async(path)
            .await
            .map_err(local)?;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(local)?;
        let len = size - offset;
        let range = if size == 0 {
            "bytes */0".to_string()
        } else {
            format!("bytes {offset}-{}/{size}", size - 1)
        };
        let stream = futures_util::stream::unfold((file, len), move |(mut f, left)| async move {
            if left == 0 {
                return None;
            }
            let mut buf = vec![0u8; (256 * 1024).min(left as usize)];
            match f.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file shrank while uploading",
                    )),
                    (f, 0),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(bytes::Bytes::from(buf)), (f, left - n as u64)))
                }
                Err(e) => Some((Err(e), (f, 0))),
            }
        });
        // The body must be 'static: its byte counts reach `progress` through a channel.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let counted = stream.inspect(move |c| {
            if let Ok(b) = c {
                let _ = tx.send(b.len() as u64);
            }
        });
        let mut req = self
            .http
            .put(session)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .header(reqwest::header::CONTENT_RANGE, range)
            .body(reqwest::Body::wrap_stream(counted));
        if let Some(t) = self.auth.token().await.map_err(|e| Failure {
            reason: e.to_string(),
            transient: false,
            status: Some(401),
        })? {
            req = req.bearer_auth(t.expose());
        }
        let mut sending = std::pin::pin!(req.send());
        let sent = loop {
            tokio::select! {
                r = &mut sending => break r,
                Some(n) = rx.recv() => progress.add(n),
            }
        };
        while let Ok(n) = rx.try_recv() {
            progress.add(n);
        }
        let resp = sent.map_err(|e| Failure {
            reason: crate::error::one_line(&e),
            transient: true,
            status: None,
        })?;
        let status = resp.status().as_u16();
        match status {
            200 | 201 => Ok(Some(Self::json(resp).await?)),
            308 => Ok(None),
            _ => {
                let text = resp.text().await.unwrap_or_default();
                let mut f = api_error(status, &text);
                f.transient = status == 408 || status == 429 || status >= 500;
                Err(f)
            }
        }
    }

    /// The persisted offset of a session (`Ok(Ok(n))`), or its object when already complete.
    async fn query(&self, session: &str, size: u64) -> Result<Result<u64, ObjectJson>, Failure> {
        let resp = self
            .send(|| {
                self.http
                    .put(session)
                    .header(reqwest::header::CONTENT_LENGTH, 0)
                    .header(reqwest::header::CONTENT_RANGE, format!("bytes */{size}"))
            })
            .await?;
        match resp.status().as_u16() {
            200 | 201 => Ok(Err(Self::json(resp).await?)),
            308 => Ok(Ok(resp
                .headers()
                .get(reqwest::header::RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| r.rsplit('-').next())
                .and_then(|n| n.parse::<u64>().ok())
                .map(|last| last + 1)
                .unwrap_or(0))),
            s => {
                let text = resp.text().await.unwrap_or_default();
                Err(api_error(s, &text))
            }
        }
    }

    async fn cancel(&self, session: &str) {
        let r = self.send(|| self.http.delete(session)).await;
        match r {
            // GCS answers 499 to a cancelled session.
            Ok(resp) if resp.status().as_u16() == 499 || resp.status().is_success() => {
                info!("cancelled the resumable upload: no object was created")
            }
            Ok(resp) => warn!(
                "could not cancel the resumable upload: HTTP {}",
                resp.status().as_u16()
            ),
            Err(f) => warn!("could not cancel the resumable upload: {}", f.reason),
        }
    }
}

/// GCS's error JSON (`{"error":{"code":…,"message":…}}`) on one line.
fn api_error(status: u16, body: &str) -> Failure {
    let msg = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    Failure {
        reason: crate::retry::refused(status, &msg),
        transient: crate::retry::transient_status(status),
        status: Some(status),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a path segment or query).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_crc(b64: &str) -> Option<u32> {
    let b = STANDARD.decode(b64).ok()?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

/// Compares what the service stored with what we sent.
fn verify(
    key: &str,
    size: u64,
    stored_size: u64,
    crc: Option<u32>,
    md5: Option<&[u8]>,
    sums: Sums,
) -> Result<(), TransferError> {
    let err = |reason: String| {
        Err(TransferError {
            key: key.to_string(),
            reason,
            fatal: false,
        })
    };
    if stored_size != size {
        return err(format!("stored {stored_size} bytes, sent {size}"));
    }
    if let Some(c) = crc
        && c != sums.0
    {
        return err(format!(
            "stored CRC32C {c:08x} does not match the local {:08x}",
            sums.0
        ));
    }
    if let (Some(m), Some(local)) = (md5, sums.1)
        && !m.is_empty()
        && m != local
    {
        return err("stored MD5 does not match the local MD5".into());
    }
    Ok(())
}

/// A file's CRC32C, and its MD5 when asked for.
pub type Sums = (u32, Option<[u8; 16]>);

/// The CRC32C of a file (and its MD5 when `with_md5`), streamed.
pub async fn checksums(path: &Path, with_md5: bool) -> std::io::Result<Sums> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use md5::Digest as _;
        use std::io::Read as _;
        let mut f = crate::upload::local_fs::open_selected(&path)?;
        let mut crc = 0u32;
        let mut md5 = with_md5.then(md5::Md5::new);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            if let Some(h) = md5.as_mut() {
                h.update(&buf[..n]);
            }
        }
        Ok((crc, md5.map(|h| h.finalize().into())))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Gzips `path` into a temporary file (deleted when dropped).
async fn gzip_file(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut input = crate::upload::local_fs::open_selected(&path)?;
        let tmp = tempfile::Builder::new()
            .prefix(".longshore-gzip-")
            .tempfile()?;
        let mut enc = flate2::write::GzEncoder::new(tmp.reopen()?, flate2::Compression::default());
        std::io::copy(&mut input, &mut enc)?;
        enc.finish()?.sync_all()?;
        Ok(tmp)
    })
    .await
    .map_err(std::io::Error::other)?
}

impl Destination for Gcs {
    fn describe(&self) -> String {
        format!("gs://{}", self.bucket)
    }

    fn url(&self, key: &str) -> String {
        let name = key.split('/').map(enc).collect::<Vec<_>>().join("/");
        if self.opts.endpoint == DEFAULT_ENDPOINT {
            format!("https://storage.googleapis.com/{}/{name}", self.bucket)
        } else {
            format!("{}/{}/{name}", self.opts.endpoint, self.bucket)
        }
    }

    async fn head(&self, key: &str) -> Result<Option<Remote>, TransferError> {
        let url = self.object_url(key);
        let resp = self
            .send(|| self.http.get(&url))
            .await
            .map_err(|f| self.terr(key, f))?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let obj: ObjectJson = Self::json(resp).await.map_err(|f| self.terr(key, f))?;
        let mut size = obj.size.parse().unwrap_or(0);
        if obj.content_encoding.eq_ignore_ascii_case("gzip")
            && let Some(original) = obj.metadata.get(ORIGINAL_SIZE_META)
        {
            size = original.parse().unwrap_or(size);
        }
        let mut sha256 = obj.metadata.get(SHA256_META).cloned();
        // Stored by another tool (or the anchor): the service's CRC32C decides.
        if sha256.is_none()
            && let Some((path, false)) = self.local.get(key)
            && let Some(remote_crc) = decode_crc(&obj.crc32c)
            && let Ok((crc, _)) = checksums(path, false).await
            && crc == remote_crc
        {
            sha256 = crate::upload::transfer::sha256_file(path).await.ok();
        }
        Ok(Some(Remote {
            key: key.to_string(),
            size,
            sha256,
        }))
    }

    async fn put(&self, item: &Item, progress: &Progress) -> Result<(), TransferError> {
        let local_err = |e: std::io::Error| TransferError {
            key: item.key.clone(),
            reason: format!("cannot read {}: {e}", item.path.display()),
            fatal: false,
        };
        let gz = if gzip_wanted(&self.opts.gzip, &item.key) {
            Some(gzip_file(&item.path).await.map_err(local_err)?)
        } else {
            None
        };
        let mut item = item.clone();
        let path = match &gz {
            Some(t) => {
                item.headers.content_encoding = Some("gzip".into());
                // The stored size is the compressed one: keep the original for skip-unchanged.
                item.headers
                    .metadata
                    .insert(ORIGINAL_SIZE_META.into(), item.size.to_string());
                t.path().to_path_buf()
            }
            None => item.path.clone(),
        };
        let size = tokio::fs::metadata(&path).await.map_err(local_err)?.len();
        let resumable =
            size >= self.opts.resumable_threshold.max(1) || self.opts.resumable_threshold == 0;
        let sums = checksums(&path, !resumable).await.map_err(local_err)?;
        if resumable {
            self.put_resumable(&item, &path, size, sums, progress).await
        } else {
            self.put_small(&item, &path, size, sums).await?;
            progress.add(size);
            Ok(())
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Remote>, TransferError> {
        #[derive(Deserialize, Default)]
        #[serde(default, rename_all = "camelCase")]
        struct Page {
            items: Vec<ObjectJson>,
            next_page_token: String,
        }
        let url = format!(
            "{}/storage/v1/b/{}/o",
            self.opts.endpoint,
            enc(&self.bucket)
        );
        let mut out = Vec::new();
        let mut token = String::new();
        // A server that hands back a token it already gave would be listed forever.
        let mut seen_tokens = HashSet::new();
        let page_size = self.opts.page_size.to_string();
        loop {
            let resp = self
                .send(|| {
                    let mut q = vec![("prefix", prefix), ("maxResults", page_size.as_str())];
                    if !token.is_empty() {
                        q.push(("pageToken", token.as_str()));
                    }
                    self.http.get(&url).query(&q)
                })
                .await
                .map_err(|f| self.terr(prefix, f))?;
            let page: Page = Self::json(resp).await.map_err(|f| {
                let mut e = self.terr(prefix, f);
                e.fatal = true;
                e
            })?;
            let mut listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
            for o in page.items {
                out.push(Remote {
                    key: o.name.clone(),
                    size: o.size.parse().unwrap_or(0),
                    sha256: o.metadata.get(SHA256_META).cloned(),
                });
                listed.insert(o.name.clone(), o);
            }
            drop(listed);
            if page.next_page_token.is_empty() {
                break;
            }
            if !seen_tokens.insert(page.next_page_token.clone()) {
                return Err(TransferError {
                    key: prefix.to_string(),
                    reason: "the listing repeated a nextPageToken it already gave; stopped".into(),
                    fatal: true,
                });
            }
            token = page.next_page_token;
        }
        Ok(out)
    }

    async fn get(
        &self,
        key: &str,
        file: &mut tokio::fs::File,
        to: &Path,
    ) -> Result<u64, TransferError> {
        let info = self
            .listed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
            .unwrap_or_default();
        let url = format!(
            "{}/download/storage/v1/b/{}/o/{}",
            self.opts.endpoint,
            enc(&self.bucket),
            enc(key)
        );
        // Ask for the stored bytes (no decompressive transcoding), so the CRC32C can be checked;
        // a gzip-encoded object is decompressed here, as the anchor's client returned it.
        let resp = self
            .send(|| {
                self.http
                    .get(&url)
                    .query(&[("alt", "media")])
                    .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            })
            .await
            .map_err(|f| self.terr(key, f))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let (text, _) = crate::http_body::read_capped(resp, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            return Err(self.terr(key, api_error(status, &String::from_utf8_lossy(&text))));
        }
        let terr = |reason: String| TransferError {
            key: key.to_string(),
            reason,
            fatal: false,
        };
        let io = |e: std::io::Error| terr(format!("cannot write {}: {e}", to.display()));
        let mut sink = Gunzip::new(&info);
        let mut body = resp.bytes_stream();
        let mut crc = 0u32;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| terr(crate::error::one_line(&e)))?;
            crc = crc32c::crc32c_append(crc, &chunk);
            let out = sink.feed(&chunk).map_err(terr)?;
            file.write_all(out).await.map_err(io)?;
        }
        let out = sink.finish().map_err(terr)?;
        file.write_all(out).await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        if let Some(want) = decode_crc(&info.crc32c)
            && want != crc
        {
            return Err(terr(format!(
                "downloaded CRC32C {crc:08x} does not match the stored {want:08x}"
            )));
        }
        Ok(sink.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_encoding() {
        assert_eq!(enc("a b/c+d"), "a%20b%2Fc%2Bd");
        assert_eq!(decode_crc("AAAAAA=="), Some(0));
    }
}
