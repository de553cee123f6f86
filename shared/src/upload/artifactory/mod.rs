//! The JFrog Artifactory backend of the upload engine, speaking the REST API directly
//! (reference upload-plugins §6.4) — no JFrog CLI:
//!
//! - auth: `Authorization: Bearer` (access token), Basic (user + password or token), or the
//!   legacy `X-JFrog-Art-Api` header (API key);
//! - [`Artifactory`], the engine's [`Destination`]: for files of 10 KiB and more a
//!   **checksum deploy** first (`PUT` with `X-Checksum-Deploy: true` and the checksums, no body:
//!   201 when Artifactory already has the content, 404 when not), then a normal `PUT` whose body
//!   is streamed from disk with `X-Checksum-Sha1`/`-Sha256`/`-Md5` headers, so Artifactory
//!   rejects a body that changed on the way; properties as matrix parameters
//!   (`;key=value`, escaped); retries by the one policy ([`crate::retry`]) on connection
//!   errors, timeouts, 408, 429, 5xx and checksum rejections (the body was damaged in transit:
//!   the checksums are computed again and the file sent again);
//! - skip-unchanged ([`Destination::head`]): a `HEAD` of the artifact's URL, whose answer
//!   carries `Content-Length` and `X-Checksum-Sha256` (no API base path needed, so it works
//!   with a repository in the URL);
//! - build info: the `build.name` / `build.number` / `build.timestamp` properties on each
//!   artifact, and [`publish_build_info`] (`PUT /api/build`).
//!
//! Artifactory writes an artifact only once its whole body arrived and matched the checksum
//! headers, so a failed or retried deploy leaves the old artifact or none, never a partial one.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Body, Client, RequestBuilder, Response, StatusCode};
use tokio::io::AsyncReadExt as _;
use tracing::info;

mod error;
pub mod file_spec;
pub mod spec;

pub use error::ArtifactoryError;

use crate::secret::Secret;
use crate::tls::CaBundle;
use crate::upload::transfer::{Destination, Item, Progress, Remote, TransferError};
use spec::Props;

/// Files at least this big are tried by checksum first (jf's `DefaultMinChecksumDeploy`).
pub const MIN_CHECKSUM_DEPLOY: u64 = 10 * 1024;
/// Chunk size of streamed bodies: memory stays flat whatever the file size.
const CHUNK: usize = 64 * 1024;

/// How requests authenticate, in the anchor's priority order.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Basic `user:password` (the password may be an access token or reference token).
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: Secret,
    },
    /// `X-JFrog-Art-Api` (legacy API key).
    ApiKey(Secret),
    /// `Authorization: Bearer` (access or identity token).
    Bearer(Secret),
}

impl Auth {
    /// Adds the credentials to a request.
    pub fn apply(&self, req: RequestBuilder) -> RequestBuilder {
        match self {
            Auth::Basic { user, password } => req.basic_auth(user, Some(password.expose())),
            Auth::ApiKey(k) => req.header("X-JFrog-Art-Api", k.expose()),
            Auth::Bearer(t) => req.bearer_auth(t.expose()),
        }
    }

    /// Which settings a rejected login points at.
    pub fn settings(&self) -> &'static str {
        match self {
            Auth::Basic { .. } => "PLUGIN_USERNAME / PLUGIN_PASSWORD",
            Auth::ApiKey(_) => "PLUGIN_API_KEY",
            Auth::Bearer(_) => "PLUGIN_ACCESS_TOKEN",
        }
    }
}

/// The anchor's `sanitizeURL`: scheme, host and the path up to `/artifactory/`, the base of the
/// REST API (`…/artifactory/api/build`).
pub fn sanitize_url(url: &str) -> Result<String, ArtifactoryError> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, r)| matches!(*s, "http" | "https") && !r.is_empty())
        .ok_or_else(|| ArtifactoryError::InvalidUrl(url.to_string()))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return Err(ArtifactoryError::InvalidUrl(url.to_string()));
    }
    let path = format!("/{path}");
    let Some(i) = path.find("/artifactory") else {
        return Err(ArtifactoryError::NoArtifactory(url.to_string()));
    };
    let end = i + "/artifactory".len();
    if path.len() > end && !path[end..].starts_with('/') {
        return Err(ArtifactoryError::NoArtifactory(url.to_string()));
    }
    Ok(format!("{scheme}://{host}{}/", &path[..end]))
}

/// Percent-encodes everything but RFC 3986's unreserved characters (and `/` when `slash`):
/// a `;` in a path must not start a matrix parameter, and `+`, `,`, `=` in a property must
/// not be read as separators.
pub fn escape(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `;k=v;k=v2…` for a deploy URL; several values of one key are repeated pairs, as jf sends.
pub fn matrix_params(props: &Props) -> String {
    props
        .iter()
        .map(|(k, v)| format!(";{}={}", escape(k, false), escape(v, false)))
        .collect()
}

/// The proxies of `PLUGIN_ENABLE_PROXY` (Harness's `HARNESS_*_PROXY`).
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// `HARNESS_HTTP_PROXY`.
    pub http: Option<String>,
    /// `HARNESS_HTTPS_PROXY`.
    pub https: Option<String>,
    /// `HARNESS_NO_PROXY`.
    pub no_proxy: Option<String>,
}

/// How to reach the server.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// The custom CA (`PLUGIN_PEM_FILE_*`), trusted beside the roots of [`crate::tls`].
    pub ca: Option<CaBundle>,
    /// Accept any certificate.
    pub insecure: bool,
    /// Explicit proxies (otherwise `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`).
    pub proxies: Proxies,
    /// `User-Agent`.
    pub user_agent: String,
}

/// The proxies as reqwest takes them; also the check made before any request.
pub fn build_proxies(p: &Proxies) -> Result<Vec<reqwest::Proxy>, ArtifactoryError> {
    let no_proxy = p
        .no_proxy
        .as_deref()
        .and_then(reqwest::NoProxy::from_string);
    let mut out = Vec::new();
    for (var, url, https) in [
        ("HARNESS_HTTP_PROXY", &p.http, false),
        ("HARNESS_HTTPS_PROXY", &p.https, true),
    ] {
        let Some(url) = url.as_deref().filter(|u| !u.trim().is_empty()) else {
            continue;
        };
        // A proxy URL may carry a login: it is masked in whatever we print.
        if let Some((_, rest)) = url.split_once("://")
            && let Some((userinfo, _)) = rest.split_once('@')
        {
            crate::secret::register(userinfo);
            if let Some((_, pw)) = userinfo.split_once(':') {
                crate::secret::register(pw);
            }
        }
        let bad = |reason: String| ArtifactoryError::Proxy {
            var: var.into(),
            url: crate::secret::mask(url).into_owned(),
            reason,
        };
        if !url.contains("://") {
            return Err(bad("no scheme (http://host:port)".into()));
        }
        let proxy = if https {
            reqwest::Proxy::https(url)
        } else {
            reqwest::Proxy::http(url)
        }
        .map_err(|e| bad(e.to_string()))?;
        out.push(proxy.no_proxy(no_proxy.clone()));
    }
    Ok(out)
}

/// Builds the HTTP client.
pub fn client(opts: &ClientOptions) -> Result<Client, ArtifactoryError> {
    let mut b = crate::tls::reqwest_builder(&opts.ca)
        .connect_timeout(Duration::from_secs(10))
        // Per read, not per request: a large upload may take long, a silent server may not.
        .read_timeout(Duration::from_secs(300))
        .user_agent(opts.user_agent.clone())
        .danger_accept_invalid_certs(opts.insecure);
    for p in build_proxies(&opts.proxies)? {
        b = b.proxy(p);
    }
    b.build()
        .map_err(|e| ArtifactoryError::Client(e.to_string()))
}

/// The three checksums Artifactory stores, hex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checksums {
    /// SHA-1.
    pub sha1: String,
    /// SHA-256.
    pub sha256: String,
    /// MD5.
    pub md5: String,
}

/// SHA-1, SHA-256 and MD5 of a file in one streamed pass.
pub async fn checksums_file(path: &Path) -> std::io::Result<Checksums> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use md5::Digest as _;
        use sha1::Digest as _;
        use std::io::Read as _;
        let mut f = crate::upload::local_fs::open_selected(&path)?;
        let mut s1 = sha1::Sha1::new();
        let mut s256 = sha2::Sha256::new();
        let mut m5 = md5::Md5::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sha1::Digest::update(&mut s1, &buf[..n]);
            sha2::Digest::update(&mut s256, &buf[..n]);
            md5::Digest::update(&mut m5, &buf[..n]);
        }
        Ok(Checksums {
            sha1: hex::encode(sha1::Digest::finalize(s1)),
            sha256: hex::encode(sha2::Digest::finalize(s256)),
            md5: hex::encode(md5::Digest::finalize(m5)),
        })
    })
    .await
    .map_err(std::io::Error::other)?
}

/// What the destination needs besides the client.
#[derive(Debug, Clone)]
pub struct Options {
    /// `PLUGIN_URL` with a trailing `/`: artifact paths are appended to it.
    pub base: String,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Checksum deploy from this size on.
    pub min_checksum_deploy: u64,
    /// Properties on every artifact (`build.name`, `build.number`, `build.timestamp`).
    pub build_props: Props,
}

/// An Artifactory instance as an upload destination. Keys are artifact paths relative to
/// [`Options::base`] (`repo/dir/file` when the URL ends at `/artifactory/`).
pub struct Artifactory {
    client: Client,
    auth: Auth,
    opts: Options,
    /// Target properties of each key (a file spec gives each group its own).
    props: HashMap<String, Props>,
    /// What was deployed, for the build info.
    deployed: Mutex<BTreeMap<String, Checksums>>,
    /// Keys deployed by checksum (no body sent).
    by_checksum: Mutex<Vec<String>>,
}

/// How one attempt ended, when it did not succeed.
enum Failure {
    /// Worth another attempt (transport error, 408, 429, 5xx).
    Transient(String, Option<Duration>),
    /// The server says the body does not match the checksum headers.
    Checksum(String),
    /// Every other request would fail the same way (bad credentials).
    Fatal(String),
    /// This artifact cannot be deployed (404 repository, 409 conflict…).
    Final(String),
}

impl Artifactory {
    /// A destination; `props` gives each key its target properties.
    pub fn new(
        client: Client,
        auth: Auth,
        opts: Options,
        props: HashMap<String, Props>,
    ) -> Arc<Self> {
        Arc::new(Artifactory {
            client,
            auth,
            opts,
            props,
            deployed: Mutex::new(BTreeMap::new()),
            by_checksum: Mutex::new(Vec::new()),
        })
    }

    /// Every artifact deployed so far with its checksums.
    pub fn deployed(&self) -> BTreeMap<String, Checksums> {
        self.deployed.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// The keys deployed by checksum (Artifactory had the content; no body was sent), sorted.
    pub fn deployed_by_checksum(&self) -> Vec<String> {
        let mut v = self
            .by_checksum
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn artifact_url(&self, key: &str) -> String {
        format!("{}{}", self.opts.base, escape(key, true))
    }

    fn deploy_url(&self, key: &str) -> String {
        let mut props = self.props.get(key).cloned().unwrap_or_default();
        props.extend(self.opts.build_props.iter().cloned());
        format!("{}{}", self.artifact_url(key), matrix_params(&props))
    }

    /// The attempts of one request: the one policy, with the user's PLUGIN_RETRIES.
    fn tries(&self) -> crate::retry::Attempts {
        crate::retry::policy()
            .with_attempts(self.opts.retries + 1)
            .start()
    }

    fn err(&self, key: &str, reason: String, fatal: bool) -> TransferError {
        TransferError {
            key: key.to_string(),
            reason,
            fatal,
        }
    }

    /// What a non-success answer means.
    async fn classify(&self, resp: Response) -> Failure {
        let status = resp.status();
        let after = crate::retry::retry_after(resp.headers());
        let msg = message(resp).await;
        let code = status.as_u16();
        match code {
            401 => Failure::Fatal(format!(
                "HTTP 401 Unauthorized: Artifactory rejected the credentials (check {}){}",
                self.auth.settings(),
                if msg.is_empty() {
                    String::new()
                } else {
                    format!(": {msg}")
                }
            )),
            403 => Failure::Fatal(format!(
                "HTTP 403 Forbidden: the user may not deploy here (Deploy permission; properties need Annotate): {msg}"
            )),
            400 | 409 if msg.to_ascii_lowercase().contains("checksum") => {
                Failure::Checksum(format!("HTTP {code}: {msg}"))
            }
            404 => Failure::Final(format!(
                "HTTP 404 Not Found: {msg} (does the repository in PLUGIN_URL / PLUGIN_TARGET exist?)"
            )),
            _ if crate::retry::transient_status(code) => {
                Failure::Transient(format!("HTTP {code}: {msg}"), after)
            }
            _ => Failure::Final(format!("HTTP {code}: {msg}")),
        }
    }

    /// One attempt: checksum deploy when big enough, else (or on 404) a streamed PUT.
    /// `Ok(true)` when deployed by checksum.
    async fn attempt(&self, item: &Item, sums: &Checksums) -> Result<bool, Failure> {
        let url = self.deploy_url(&item.key);
        let with_sums = |req: RequestBuilder| {
            req.header("X-Checksum-Sha1", &sums.sha1)
                .header("X-Checksum-Sha256", &sums.sha256)
                .header("X-Checksum-Md5", &sums.md5)
        };
        if item.size >= self.opts.min_checksum_deploy {
            let req = with_sums(self.auth.apply(self.client.put(&url)))
                .header("X-Checksum-Deploy", "true")
                .header(reqwest::header::CONTENT_LENGTH, 0);
            match req.send().await {
                Ok(r) if r.status().is_success() => {
                    info!(
                        "deployed by checksum: {} (Artifactory had the content)",
                        item.key
                    );
                    return Ok(true);
                }
                // Unknown content: upload it.
                Ok(r) if r.status() == StatusCode::NOT_FOUND => {}
                Ok(r) => return Err(self.classify(r).await),
                Err(e) => return Err(transport_failure(&e)),
            }
        }
        let file = crate::upload::local_fs::open_selected_async(&item.path)
            .await
            .map_err(|e| Failure::Final(format!("cannot read {}: {e}", item.path.display())))?;
        let req = with_sums(self.auth.apply(self.client.put(&url)))
            .header(reqwest::header::CONTENT_LENGTH, item.size)
            .body(file_body(file));
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Err(transport_failure(&e)),
        };
        if !resp.status().is_success() {
            return Err(self.classify(resp).await);
        }
        // The ItemCreated answer repeats what was stored: a second, end-to-end check.
        let text = resp.text().await.unwrap_or_default();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(stored) = v["checksums"]["sha1"].as_str()
            && !stored.eq_ignore_ascii_case(&sums.sha1)
        {
            return Err(Failure::Checksum(format!(
                "Artifactory stored SHA-1 {stored}, the local file has {}",
                sums.sha1
            )));
        }
        Ok(false)
    }
}

/// A body streamed from `file` in [`CHUNK`]s (never the whole file in memory). Progress is
/// counted per finished file: the stream must be `'static` and cannot borrow the counter.
fn file_body(file: tokio::fs::File) -> Body {
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; CHUNK];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    Body::wrap_stream(stream)
}

impl Destination for Artifactory {
    fn describe(&self) -> String {
        self.opts.base.clone()
    }

    fn url(&self, key: &str) -> String {
        self.artifact_url(key)
    }

    async fn head(&self, key: &str) -> Result<Option<Remote>, TransferError> {
        let url = self.artifact_url(key);
        let mut tries = self.tries();
        loop {
            let failure = match self.auth.apply(self.client.head(&url)).send().await {
                Ok(r) if r.status() == StatusCode::NOT_FOUND => return Ok(None),
                Ok(r) if r.status().is_success() => {
                    let h = |n: &str| {
                        r.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    return Ok(Some(Remote {
                        key: key.to_string(),
                        size: h("content-length")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0),
                        sha256: h("x-checksum-sha256").map(|s| s.to_ascii_lowercase()),
                    }));
                }
                Ok(r) => self.classify(r).await,
                Err(e) => transport_failure(&e),
            };
            match failure {
                Failure::Transient(why, after)
                    if tries.pause(&format!("{key}: HEAD"), &why, after).await => {}
                Failure::Fatal(why) => return Err(self.err(key, why, true)),
                Failure::Transient(why, _) => {
                    return Err(self.err(key, tries.exhausted(&why), false));
                }
                Failure::Checksum(why) | Failure::Final(why) => {
                    return Err(self.err(key, why, false));
                }
            }
        }
    }

    async fn put(&self, item: &Item, progress: &Progress) -> Result<(), TransferError> {
        let read_err = |e: std::io::Error| {
            self.err(
                &item.key,
                format!("cannot read {}: {e}", item.path.display()),
                false,
            )
        };
        let mut sums = checksums_file(&item.path).await.map_err(read_err)?;
        let mut tries = self.tries();
        loop {
            let failure = match self.attempt(item, &sums).await {
                Ok(by_checksum) => {
                    progress.add(item.size);
                    if by_checksum && let Ok(mut v) = self.by_checksum.lock() {
                        v.push(item.key.clone());
                    }
                    if let Ok(mut d) = self.deployed.lock() {
                        d.insert(item.key.clone(), sums);
                    }
                    return Ok(());
                }
                Err(f) => f,
            };
            let (why, after) = match failure {
                Failure::Fatal(why) => return Err(self.err(&item.key, why, true)),
                Failure::Final(why) => return Err(self.err(&item.key, why, false)),
                Failure::Transient(why, after) => (why, after),
                Failure::Checksum(why) => {
                    // Damaged on the way, or the file changed: read it again before resending.
                    sums = checksums_file(&item.path).await.map_err(read_err)?;
                    (format!("checksum rejected: {why}"), None)
                }
            };
            if !tries.pause(&item.key, &why, after).await {
                return Err(self.err(&item.key, tries.exhausted(&why), false));
            }
        }
    }

    async fn list(&self, _prefix: &str) -> Result<Vec<Remote>, TransferError> {
        Err(self.err(
            _prefix,
            "listing is not supported by the Artifactory destination".into(),
            true,
        ))
    }

    async fn get(
        &self,
        key: &str,
        f: &mut tokio::fs::File,
        to: &Path,
    ) -> Result<u64, TransferError> {
        use tokio::io::AsyncWriteExt as _;
        let resp = self
            .auth
            .apply(self.client.get(self.artifact_url(key)))
            .send()
            .await
            .map_err(|e| match crate::upload::pem_certificate_error(&e) {
                Some(why) => self.err(key, why, true),
                None => self.err(key, crate::retry::transport_error(&e), false),
            })?;
        if !resp.status().is_success() {
            let (why, fatal) = match self.classify(resp).await {
                Failure::Fatal(w) => (w, true),
                Failure::Transient(w, _) | Failure::Checksum(w) | Failure::Final(w) => (w, false),
            };
            return Err(self.err(key, why, fatal));
        }
        let write_err =
            |e: std::io::Error| self.err(key, format!("cannot write {}: {e}", to.display()), false);
        let mut n = 0u64;
        let mut resp = resp;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.err(key, crate::retry::transport_error(&e), false))?
        {
            f.write_all(&chunk).await.map_err(write_err)?;
            n += chunk.len() as u64;
        }
        f.flush().await.map_err(write_err)?;
        Ok(n)
    }
}

/// A transport failure: worth another attempt, unless the certificate is not trusted.
fn transport_failure(e: &reqwest::Error) -> Failure {
    match crate::upload::pem_certificate_error(e) {
        Some(why) => Failure::Fatal(why),
        None => Failure::Transient(crate::retry::transport_error(e), None),
    }
}

/// The server's message: Artifactory answers `{"errors":[{"status":…,"message":…}]}`; plain
/// text or HTML from proxies otherwise. One short line.
async fn message(resp: Response) -> String {
    crate::http_body::error_message(resp, |v| Some(v["errors"].as_array()?.iter().collect())).await
}

/// The build-info document of §6.4.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// `build.name`.
    pub name: String,
    /// `build.number`.
    pub number: String,
    /// When the run started.
    pub started: chrono::DateTime<chrono::Local>,
    /// `agent.name` / `agent.version`.
    pub agent: (String, String),
    /// Link to the CI build.
    pub url: String,
    /// `vcs[0]`: url, revision, branch (empty fields are left out).
    pub vcs: (String, String, String),
    /// `(repository, path in repository, checksums)` of each artifact.
    pub artifacts: Vec<(String, String, Checksums)>,
}

/// `started` as Artifactory wants it (`2006-01-02T15:04:05.000-0700`).
pub fn build_started(t: &chrono::DateTime<chrono::Local>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

impl BuildInfo {
    /// The JSON body of `PUT /api/build`.
    pub fn to_json(&self) -> serde_json::Value {
        let artifacts: Vec<serde_json::Value> = self
            .artifacts
            .iter()
            .map(|(repo, path, sums)| {
                let name = path.rsplit('/').next().unwrap_or(path);
                let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
                serde_json::json!({
                    "name": name,
                    "type": ext,
                    "path": path,
                    "originalDeploymentRepo": repo,
                    "sha1": sums.sha1,
                    "sha256": sums.sha256,
                    "md5": sums.md5,
                })
            })
            .collect();
        let mut doc = serde_json::json!({
            "version": "1.0.1",
            "name": self.name,
            "number": self.number,
            "started": build_started(&self.started),
            "agent": {"name": self.agent.0, "version": self.agent.1},
            "buildAgent": {"name": "GENERIC", "version": self.agent.1},
            "modules": [{"type": "generic", "id": self.name, "artifacts": artifacts}],
        });
        if !self.url.is_empty() {
            doc["url"] = self.url.clone().into();
        }
        let (url, revision, branch) = &self.vcs;
        if !url.is_empty() || !revision.is_empty() {
            let mut vcs = serde_json::json!({"url": url, "revision": revision});
            if !branch.is_empty() {
                vcs["branch"] = branch.clone().into();
            }
            doc["vcs"] = serde_json::json!([vcs]);
        }
        doc
    }
}

/// Repository and path of an artifact, from the REST base (`…/artifactory/`), the URL the
/// keys are relative to (which may hold a repository and folders) and the key.
pub fn repo_and_path(api_base: &str, url_base: &str, key: &str) -> (String, String) {
    let prefix = url_base.strip_prefix(api_base).unwrap_or("");
    let full = format!("{prefix}{key}");
    let full = full.trim_start_matches('/');
    match full.split_once('/') {
        Some((repo, path)) => (repo.to_string(), path.to_string()),
        None => (String::new(), full.to_string()),
    }
}

/// `PUT {api_base}api/build` with retries on transient failures.
pub async fn publish_build_info(
    client: &Client,
    auth: &Auth,
    api_base: &str,
    info: &BuildInfo,
    retries: u32,
) -> Result<(), ArtifactoryError> {
    let url = format!("{api_base}api/build");
    let body = info.to_json().to_string();
    let mut tries = crate::retry::policy().with_attempts(retries + 1).start();
    loop {
        let req = auth
            .apply(client.put(&url))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/vnd.org.jfrog.artifactory+json",
            )
            .body(body.clone());
        let (why, transient, after) = match req.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status();
                let after = crate::retry::retry_after(r.headers());
                let msg = message(r).await;
                let hint = if status == StatusCode::UNAUTHORIZED {
                    format!(" (check {})", auth.settings())
                } else {
                    String::new()
                };
                (
                    format!("HTTP {}: {msg}{hint}", status.as_u16()),
                    crate::retry::transient_status(status.as_u16()),
                    after,
                )
            }
            Err(e) => match crate::upload::pem_certificate_error(&e) {
                Some(why) => (why, false, None),
                None => (crate::retry::transport_error(&e), true, None),
            },
        };
        if !transient || !tries.pause("build-info publish", &why, after).await {
            let reason = if transient {
                tries.exhausted(&why)
            } else {
                why
            };
            return Err(ArtifactoryError::BuildInfo { url, reason });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The anchor's `TestSanitizeURL` table (§6.1).
    #[test]
    fn sanitize_url_table() {
        let ok = [
            (
                "https://artifactory.maryout.com/artifactory/test44",
                "https://artifactory.maryout.com/artifactory/",
            ),
            (
                "https://artifactory.maryout.com/artifactory/test/newdir/",
                "https://artifactory.maryout.com/artifactory/",
            ),
            (
                "https://opautomates.jfrog.io/artifactory/test55/",
                "https://opautomates.jfrog.io/artifactory/",
            ),
            (
                "https://opautomates.jfrog.io/artifactory",
                "https://opautomates.jfrog.io/artifactory/",
            ),
        ];
        for (input, want) in ok {
            assert_eq!(sanitize_url(input).unwrap(), want, "{input}");
        }
        assert_eq!(
            sanitize_url("https://example.com/notartifactory")
                .unwrap_err()
                .to_string(),
            "url does not contain '/artifactory': https://example.com/notartifactory"
        );
        assert_eq!(
            sanitize_url("invalid-url").unwrap_err().to_string(),
            "invalid URL: invalid-url"
        );
    }

    #[test]
    fn escaping_and_matrix_params() {
        assert_eq!(escape("a b;c/d+e", true), "a%20b%3Bc/d%2Be");
        assert_eq!(escape("a/b", false), "a%2Fb");
        let props = vec![
            ("k".to_string(), "v1".to_string()),
            ("k".to_string(), "v,2".to_string()),
            ("x y".to_string(), "a=b;c".to_string()),
        ];
        assert_eq!(matrix_params(&props), ";k=v1;k=v%2C2;x%20y=a%3Db%3Bc");
    }

    #[test]
    fn repo_and_path_with_and_without_a_repository_in_the_url() {
        let api = "https://h/artifactory/";
        assert_eq!(
            repo_and_path(api, "https://h/artifactory/", "libs/a/b.zip"),
            ("libs".into(), "a/b.zip".into())
        );
        assert_eq!(
            repo_and_path(api, "https://h/artifactory/libs/x/", "a/b.zip"),
            ("libs".into(), "x/a/b.zip".into())
        );
    }

    #[test]
    fn build_info_shape() {
        let started = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:20:30.123+02:00")
            .unwrap()
            .with_timezone(&chrono::Local);
        let bi = BuildInfo {
            name: "app".into(),
            number: "7".into(),
            started,
            agent: ("longshore-jfrog".into(), "0.1.0".into()),
            url: "https://ci/7".into(),
            vcs: ("https://git/x.git".into(), "abc".into(), "main".into()),
            artifacts: vec![(
                "libs".into(),
                "a/b.zip".into(),
                Checksums {
                    sha1: "s1".into(),
                    sha256: "s256".into(),
                    md5: "m5".into(),
                },
            )],
        };
        let v = bi.to_json();
        assert_eq!(v["name"], "app");
        assert_eq!(v["number"], "7");
        assert!(
            v["started"].as_str().unwrap().len() == 28,
            "{}",
            v["started"]
        );
        assert_eq!(v["buildAgent"]["name"], "GENERIC");
        assert_eq!(v["modules"][0]["type"], "generic");
        assert_eq!(v["modules"][0]["artifacts"][0]["name"], "b.zip");
        assert_eq!(v["modules"][0]["artifacts"][0]["type"], "zip");
        assert_eq!(v["modules"][0]["artifacts"][0]["sha256"], "s256");
        assert_eq!(v["vcs"][0]["branch"], "main");
    }
}
