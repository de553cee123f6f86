//! The Sonatype Nexus backends of the upload engine (reference upload-plugins §7): an HTTP client
//! with Basic auth, custom CA / insecure TLS and retries by the one policy ([`crate::retry`]); two
//! [`Destination`]s for the engine's scheduling, progress and summary:
//!
//! - [`NexusPut`]: one `PUT` per file, to the Nexus 3 repository path
//!   (`/repository/<repo>/<path>`, hosted raw and maven2) or the Nexus 2 one
//!   (`/content/repositories/<repo>/<path>`);
//! - [`ComponentsApi`]: the Nexus 3 components API (`POST /service/rest/v1/components`), one
//!   multipart request per [`Component`], which groups up to three assets (jar + pom + sources),
//!   so the engine schedules components the way it schedules files.
//!
//! Every body is streamed from disk in 64 KiB chunks (the anchor built the whole form in memory,
//! so memory grew with the artifact). Nexus stores an asset only once its whole body arrived, so a
//! failed or retried request leaves nothing half-written under the final path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Body, Client, RequestBuilder, Response};
use tokio::io::AsyncReadExt as _;

use crate::secret::Secret;
use crate::tls::CaBundle;
use crate::upload::transfer::{Destination, Item, Progress, Remote, TransferError};

/// Chunk size of streamed bodies: small enough that memory stays flat, large enough for speed.
const CHUNK: usize = 64 * 1024;
/// The most assets of one component request (the components API's `asset1`..`asset3`).
pub const MAX_ASSETS: usize = 3;

/// Why the HTTP client cannot be built. One line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NexusError {
    /// The TLS stack refused the configuration.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// How to reach the server.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// The custom CA (`PLUGIN_PEM_FILE_*`), trusted beside the roots of [`crate::tls`].
    pub ca: Option<CaBundle>,
    /// Accept any certificate (self-signed servers without a CA at hand).
    pub insecure: bool,
}

/// Builds the HTTP client. Proxies come from `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`.
pub fn client(opts: &ClientOptions) -> Result<Client, NexusError> {
    crate::tls::reqwest_builder(&opts.ca)
        .connect_timeout(Duration::from_secs(10))
        // Per read, not per request: a large upload may take long, a silent server may not.
        .read_timeout(Duration::from_secs(300))
        .user_agent(concat!("longshore-nexus/", env!("CARGO_PKG_VERSION")))
        .danger_accept_invalid_certs(opts.insecure)
        .build()
        .map_err(|e| NexusError::Client(e.to_string()))
}

/// The client, the login and the retry policy every request goes through.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    username: String,
    password: Secret,
    retries: u32,
}

impl Http {
    /// A client logging in as `username` (Basic auth, as Nexus user tokens also use).
    pub fn new(client: Client, username: &str, password: Secret, retries: u32) -> Self {
        Http {
            client,
            username: username.to_string(),
            password,
            retries,
        }
    }

    /// Sends the request `build` makes (once per attempt, so a streamed body is reopened),
    /// retrying transient failures: connection errors, timeouts, 408, 429 and 5xx but 501.
    /// Any other answer is returned: the caller decides what a status means.
    async fn send<F, Fut>(&self, key: &str, build: F) -> Result<Response, TransferError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<RequestBuilder, TransferError>>,
    {
        // PLUGIN_RETRIES is the user's count of retries; the rest is the one policy.
        let mut tries = crate::retry::policy()
            .with_attempts(self.retries + 1)
            .start();
        loop {
            let req = build(self.client.clone())
                .await?
                .basic_auth(&self.username, Some(self.password.expose()));
            let (why, retry_after) = match req.send().await {
                Ok(resp) if !crate::retry::transient_status(resp.status().as_u16()) => {
                    return Ok(resp);
                }
                Ok(resp) => {
                    let after = crate::retry::retry_after(resp.headers());
                    let status = resp.status();
                    let body = message(resp).await;
                    (crate::retry::refused(status.as_u16(), &body), after)
                }
                Err(e) => {
                    if let Some(why) = crate::upload::pem_certificate_error(&e) {
                        return Err(TransferError {
                            key: key.to_string(),
                            reason: why,
                            fatal: true,
                        });
                    }
                    (crate::retry::transport_error(&e), None)
                }
            };
            if !tries.pause(key, &why, retry_after).await {
                return Err(TransferError {
                    key: key.to_string(),
                    reason: tries.exhausted(&why),
                    fatal: false,
                });
            }
        }
    }
}

/// The server's message from an error answer: Nexus sends a JSON list of `{id, message}` for
/// validation errors, plain text or HTML otherwise. Kept to one short line.
async fn message(resp: Response) -> String {
    let line = crate::http_body::error_message(resp, |v| {
        Some(match v {
            serde_json::Value::Array(a) => a.iter().collect(),
            other => vec![other],
        })
    })
    .await;
    if line.is_empty() {
        "(no message)".into()
    } else {
        line
    }
}

/// What a non-2xx answer means, as a [`TransferError`]. Wrong credentials, missing permission
/// and a missing repository would fail every other upload the same way: fatal.
async fn refused(key: &str, what: &str, resp: Response) -> TransferError {
    let status = resp.status().as_u16();
    let body = message(resp).await;
    let (reason, fatal) = match status {
        401 => (
            "authentication failed (HTTP 401): check PLUGIN_USERNAME and PLUGIN_PASSWORD".into(),
            true,
        ),
        403 => (
            format!("permission denied (HTTP 403) to {what}: {body}"),
            true,
        ),
        404 => (
            format!("not found (HTTP 404) — does the repository exist? {body}"),
            true,
        ),
        _ => (format!("{what} refused (HTTP {status}): {body}"), false),
    };
    TransferError {
        key: key.to_string(),
        reason,
        fatal,
    }
}

/// A body that reads `path` from disk chunk by chunk, counting into `sent`. Fails (so the
/// request fails) when the file does not have `size` bytes: a file changed under us must not
/// land half-written or with a wrong length.
async fn file_body(path: &Path, size: u64, sent: Arc<AtomicU64>) -> std::io::Result<Body> {
    let file = crate::upload::local_fs::open_selected_async(path).await?;
    Ok(Body::wrap_stream(file_stream(file, size, sent)))
}

/// The chunks of `file`, which must hold exactly `size` bytes.
fn file_stream(
    file: tokio::fs::File,
    size: u64,
    sent: Arc<AtomicU64>,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    futures_util::stream::unfold((file, 0u64, false), move |(mut file, read, done)| {
        let sent = sent.clone();
        async move {
            if done {
                return None;
            }
            let mut buf = vec![0u8; CHUNK];
            match file.read(&mut buf).await {
                Ok(0) if read == size => None,
                Ok(0) => Some((
                    Err(std::io::Error::other(format!(
                        "file shrank while uploading ({read} of {size} bytes)"
                    ))),
                    (file, read, true),
                )),
                Ok(n) if read + n as u64 > size => Some((
                    Err(std::io::Error::other(
                        "file grew while uploading".to_string(),
                    )),
                    (file, read, true),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    sent.fetch_add(n as u64, Ordering::Relaxed);
                    Some((Ok(buf), (file, read + n as u64, false)))
                }
                Err(e) => Some((Err(e), (file, read, true))),
            }
        }
    })
}

/// Runs `fut` while moving the bytes counted in `sent` into `progress` once a second, capped
/// at `size` (a retried body is counted once); on success the rest is added.
async fn with_progress<T>(
    fut: impl Future<Output = Result<T, TransferError>>,
    sent: &AtomicU64,
    size: u64,
    progress: &Progress,
) -> Result<T, TransferError> {
    let mut reported = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(fut);
    loop {
        tokio::select! {
            r = &mut fut => {
                if r.is_ok() {
                    progress.add(size - reported);
                }
                return r;
            }
            _ = tick.tick() => {
                let now = sent.load(Ordering::Relaxed).min(size);
                if now > reported {
                    progress.add(now - reported);
                    reported = now;
                }
            }
        }
    }
}

/// Percent-encodes each segment of a repository path (slashes kept).
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            // Sub-delims Nexus and browsers keep as they are in paths.
            b'+' | b'@' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b',' | b';' | b'='
            | b':' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The Maven 2 repository path of an artifact:
/// `g/r/o/u/p/<artifactId>/<version>/<artifactId>-<version>[-<classifier>].<extension>`.
pub fn maven_path(
    group: &str,
    artifact: &str,
    version: &str,
    classifier: Option<&str>,
    extension: &str,
) -> String {
    let classifier = classifier
        .filter(|c| !c.is_empty())
        .map(|c| format!("-{c}"))
        .unwrap_or_default();
    format!(
        "{}/{artifact}/{version}/{artifact}-{version}{classifier}.{extension}",
        group.replace('.', "/")
    )
}

/// Which server layout a [`NexusPut`] writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Nexus 3: `{server}/repository/<repo>/<path>`.
    Nexus3,
    /// Nexus 2: `{server}/content/repositories/<repo>/<path>`.
    Nexus2,
}

impl Layout {
    /// The base URL of a repository's content.
    pub fn repository_url(self, server: &str, repository: &str) -> String {
        match self {
            Layout::Nexus3 => format!("{server}/repository/{}", encode_path(repository)),
            Layout::Nexus2 => {
                format!("{server}/content/repositories/{}", encode_path(repository))
            }
        }
    }
}

/// One file per `PUT` to a repository path (item keys are repository paths).
pub struct NexusPut {
    http: Http,
    base: String,
}

impl NexusPut {
    /// A destination writing under `layout.repository_url(server, repository)`.
    pub fn new(http: Http, server: &str, repository: &str, layout: Layout) -> Arc<Self> {
        Arc::new(NexusPut {
            http,
            base: layout.repository_url(server, repository),
        })
    }
}

impl Destination for NexusPut {
    fn describe(&self) -> String {
        self.base.clone()
    }

    fn url(&self, key: &str) -> String {
        format!("{}/{}", self.base, encode_path(key))
    }

    async fn head(&self, _key: &str) -> Result<Option<Remote>, TransferError> {
        // Nexus keeps no metadata of ours to compare with: skip-unchanged is not offered.
        Ok(None)
    }

    async fn put(&self, item: &Item, progress: &Progress) -> Result<(), TransferError> {
        let url = self.url(&item.key);
        let sent = Arc::new(AtomicU64::new(0));
        let content_type = if item.headers.content_type.is_empty() {
            "application/octet-stream".to_string()
        } else {
            item.headers.content_type.clone()
        };
        let send = self.http.send(&item.key, |client| {
            let (url, sent, path, ct) = (
                url.clone(),
                sent.clone(),
                item.path.clone(),
                content_type.clone(),
            );
            let size = item.size;
            let key = item.key.clone();
            async move {
                let body = file_body(&path, size, sent)
                    .await
                    .map_err(|e| read_error(&key, &path, e))?;
                Ok(client
                    .put(url)
                    .header(reqwest::header::CONTENT_TYPE, ct)
                    .header(reqwest::header::CONTENT_LENGTH, size)
                    .body(body))
            }
        });
        let resp = with_progress(send, &sent, item.size, progress).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(refused(&item.key, "upload", resp).await)
        }
    }

    async fn list(&self, _prefix: &str) -> Result<Vec<Remote>, TransferError> {
        Err(unsupported("listing"))
    }

    async fn get(
        &self,
        _key: &str,
        _file: &mut tokio::fs::File,
        _shown: &Path,
    ) -> Result<u64, TransferError> {
        Err(unsupported("download"))
    }
}

fn unsupported(what: &str) -> TransferError {
    TransferError {
        key: String::new(),
        reason: format!("{what} is not supported by the Nexus destination"),
        fatal: true,
    }
}

fn read_error(key: &str, path: &Path, e: std::io::Error) -> TransferError {
    TransferError {
        key: key.to_string(),
        reason: format!("cannot read {}: {e}", path.display()),
        fatal: false,
    }
}

/// One file of a component request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// The form field of the file (`maven2.asset1`, `raw.asset2`, `pypi.asset`).
    pub field: String,
    /// The local file.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Where it lands in the repository, when the format says (maven2, raw, yum): for the
    /// artifact file and the outputs.
    pub repo_path: Option<String>,
}

/// One request of the components API: its text fields and its assets, in form order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// What the log calls it (`com.example:app:1.0`, `raw:/dist`).
    pub label: String,
    /// Text fields (`maven2.groupId`, `maven2.asset1.extension`, `raw.directory`, …).
    pub fields: Vec<(String, String)>,
    /// Files.
    pub assets: Vec<Asset>,
}

impl Component {
    /// Total bytes of its assets.
    pub fn size(&self) -> u64 {
        self.assets.iter().map(|a| a.size).sum()
    }
}

/// Maven coordinates and one asset file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MavenAsset {
    /// The local file.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// `maven2.assetN.extension`.
    pub extension: String,
    /// `maven2.assetN.classifier` (none when empty).
    pub classifier: Option<String>,
}

/// A maven2 component of up to [`MAX_ASSETS`] assets. `packaging` is sent when given (it
/// matters for a generated POM).
pub fn maven2_component(
    group: &str,
    artifact: &str,
    version: &str,
    generate_pom: bool,
    packaging: Option<&str>,
    assets: &[MavenAsset],
) -> Component {
    let mut fields = vec![
        ("maven2.groupId".to_string(), group.to_string()),
        ("maven2.artifactId".to_string(), artifact.to_string()),
        ("maven2.version".to_string(), version.to_string()),
    ];
    if generate_pom {
        fields.push(("maven2.generate-pom".into(), "true".into()));
    }
    if let Some(p) = packaging.filter(|p| !p.is_empty()) {
        fields.push(("maven2.packaging".into(), p.to_string()));
    }
    let mut files = Vec::new();
    for (i, a) in assets.iter().enumerate() {
        let n = i + 1;
        fields.push((format!("maven2.asset{n}.extension"), a.extension.clone()));
        if let Some(c) = a.classifier.as_deref().filter(|c| !c.is_empty()) {
            fields.push((format!("maven2.asset{n}.classifier"), c.to_string()));
        }
        files.push(Asset {
            field: format!("maven2.asset{n}"),
            path: a.path.clone(),
            size: a.size,
            repo_path: Some(maven_path(
                group,
                artifact,
                version,
                a.classifier.as_deref(),
                &a.extension,
            )),
        });
    }
    Component {
        label: format!("{group}:{artifact}:{version}"),
        fields,
        assets: files,
    }
}

/// A raw component: up to [`MAX_ASSETS`] files `(local path, size, file name)` in `directory`.
pub fn raw_component(directory: &str, files: &[(PathBuf, u64, String)]) -> Component {
    let dir = directory.trim_matches('/');
    let mut fields = vec![("raw.directory".to_string(), format!("/{dir}"))];
    let mut assets = Vec::new();
    for (i, (path, size, name)) in files.iter().enumerate() {
        let n = i + 1;
        fields.push((format!("raw.asset{n}.filename"), name.clone()));
        assets.push(Asset {
            field: format!("raw.asset{n}"),
            path: path.clone(),
            size: *size,
            repo_path: Some(if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            }),
        });
    }
    Component {
        label: format!("raw:/{dir}"),
        fields,
        assets,
    }
}

/// A yum component: one rpm in `directory` under `filename`.
pub fn yum_component(directory: &str, path: PathBuf, size: u64, filename: &str) -> Component {
    let dir = directory.trim_matches('/');
    Component {
        label: format!("yum:/{dir}/{filename}"),
        fields: vec![
            ("yum.directory".into(), format!("/{dir}")),
            ("yum.asset.filename".into(), filename.to_string()),
        ],
        assets: vec![Asset {
            field: "yum.asset".into(),
            path,
            size,
            repo_path: Some(if dir.is_empty() {
                filename.to_string()
            } else {
                format!("{dir}/{filename}")
            }),
        }],
    }
}

/// A single-asset component (`pypi`, `helm`, `npm`, `nuget`, `rubygems`, `r`, `apt`,
/// `docker`): the package file as `<format>.asset`; Nexus reads the coordinates from it.
pub fn single_asset_component(format: &str, path: PathBuf, size: u64) -> Component {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Component {
        label: format!("{format}:{name}"),
        fields: Vec::new(),
        assets: vec![Asset {
            field: format!("{format}.asset"),
            path,
            size,
            repo_path: None,
        }],
    }
}

/// The Nexus 3 components API. The engine's items stand for components: an item's key is the
/// component's label (unique per run) and its size the assets' total; [`ComponentsApi::new`]
/// makes them.
pub struct ComponentsApi {
    http: Http,
    server: String,
    repository: String,
    components: HashMap<String, Component>,
}

impl ComponentsApi {
    /// A destination for `components` in `repository`; labels are made unique (`#2`, `#3`).
    pub fn new(
        http: Http,
        server: &str,
        repository: &str,
        components: Vec<Component>,
    ) -> (Arc<Self>, Vec<Item>) {
        let mut map = HashMap::new();
        let mut items = Vec::new();
        for mut c in components {
            let mut label = c.label.clone();
            let mut n = 1;
            while map.contains_key(&label) {
                n += 1;
                label = format!("{} #{n}", c.label);
            }
            c.label = label.clone();
            items.push(Item {
                path: c.assets.first().map(|a| a.path.clone()).unwrap_or_default(),
                size: c.size(),
                key: label.clone(),
                headers: Default::default(),
            });
            map.insert(label, c);
        }
        let api = ComponentsApi {
            http,
            server: server.to_string(),
            repository: repository.to_string(),
            components: map,
        };
        (Arc::new(api), items)
    }

    /// The component behind an item key.
    pub fn component(&self, key: &str) -> Option<&Component> {
        self.components.get(key)
    }

    /// The URL of a repository path.
    pub fn asset_url(&self, repo_path: &str) -> String {
        format!(
            "{}/{}",
            Layout::Nexus3.repository_url(&self.server, &self.repository),
            encode_path(repo_path)
        )
    }

    /// The repository's browse page (for assets whose path only Nexus knows).
    pub fn browse_url(&self) -> String {
        format!(
            "{}/service/rest/repository/browse/{}/",
            self.server,
            encode_path(&self.repository)
        )
    }

    async fn form(
        c: &Component,
        sent: &Arc<AtomicU64>,
    ) -> Result<reqwest::multipart::Form, TransferError> {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in &c.fields {
            form = form.text(k.clone(), v.clone());
        }
        for a in &c.assets {
            let body = file_body(&a.path, a.size, sent.clone())
                .await
                .map_err(|e| read_error(&c.label, &a.path, e))?;
            let name = a
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // The length makes the whole form's length known, so it goes with Content-Length
            // rather than chunked (some proxies in front of Nexus refuse chunked uploads).
            let part = reqwest::multipart::Part::stream_with_length(body, a.size)
                .file_name(name)
                .mime_str("application/octet-stream")
                .map_err(|e| read_error(&c.label, &a.path, std::io::Error::other(e)))?;
            form = form.part(a.field.clone(), part);
        }
        Ok(form)
    }
}

impl Destination for ComponentsApi {
    fn describe(&self) -> String {
        format!("{} (components API)", self.repository)
    }

    fn url(&self, key: &str) -> String {
        match self.components.get(key).and_then(|c| c.assets.first()) {
            Some(Asset {
                repo_path: Some(p), ..
            }) => self.asset_url(p),
            _ => self.browse_url(),
        }
    }

    async fn head(&self, _key: &str) -> Result<Option<Remote>, TransferError> {
        Ok(None)
    }

    async fn put(&self, item: &Item, progress: &Progress) -> Result<(), TransferError> {
        let Some(c) = self.components.get(&item.key) else {
            return Err(TransferError {
                key: item.key.clone(),
                reason: "no such component in this run".into(),
                fatal: false,
            });
        };
        let url = format!(
            "{}/service/rest/v1/components?repository={}",
            self.server,
            encode_query(&self.repository)
        );
        let sent = Arc::new(AtomicU64::new(0));
        let send = self.http.send(&item.key, |client| {
            let (url, sent) = (url.clone(), sent.clone());
            async move { Ok(client.post(url).multipart(Self::form(c, &sent).await?)) }
        });
        let resp = with_progress(send, &sent, item.size, progress).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(refused(&item.key, "component upload", resp).await)
        }
    }

    async fn list(&self, _prefix: &str) -> Result<Vec<Remote>, TransferError> {
        Err(unsupported("listing"))
    }

    async fn get(
        &self,
        _key: &str,
        _file: &mut tokio::fs::File,
        _shown: &Path,
    ) -> Result<u64, TransferError> {
        Err(unsupported("download"))
    }
}

fn encode_query(v: &str) -> String {
    encode_path(v)
        .replace('/', "%2F")
        .replace('&', "%26")
        .replace('=', "%3D")
        .replace('+', "%2B")
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    #[test]
    fn maven_paths() {
        assert_eq!(
            maven_path("com.example.app", "core", "1.2.0", None, "jar"),
            "com/example/app/core/1.2.0/core-1.2.0.jar"
        );
        assert_eq!(
            maven_path("g", "a", "1", Some("sources"), "jar"),
            "g/a/1/a-1-sources.jar"
        );
        assert_eq!(maven_path("g", "a", "1", Some(""), "pom"), "g/a/1/a-1.pom");
    }

    #[test]
    fn layouts() {
        assert_eq!(
            Layout::Nexus3.repository_url("https://n.example", "releases"),
            "https://n.example/repository/releases"
        );
        assert_eq!(
            Layout::Nexus2.repository_url("https://n.example/nexus", "releases"),
            "https://n.example/nexus/content/repositories/releases"
        );
    }

    #[test]
    fn paths_are_encoded_per_segment() {
        assert_eq!(encode_path("a b/c#d?.zip"), "a%20b/c%23d%3F.zip");
        assert_eq!(encode_path("g/a/1.0+build/a.jar"), "g/a/1.0+build/a.jar");
        assert_eq!(encode_query("my repo&x"), "my%20repo%26x");
    }

    #[test]
    fn maven_fields_carry_classifier_and_extension() {
        let asset = |ext: &str, c: Option<&str>| MavenAsset {
            path: PathBuf::from(format!("/x/f.{ext}")),
            size: 1,
            extension: ext.into(),
            classifier: c.map(str::to_string),
        };
        let c = maven2_component(
            "g.h",
            "a",
            "1",
            false,
            None,
            &[asset("jar", None), asset("jar", Some("sources"))],
        );
        let f: Vec<(&str, &str)> = c
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            f,
            vec![
                ("maven2.groupId", "g.h"),
                ("maven2.artifactId", "a"),
                ("maven2.version", "1"),
                ("maven2.asset1.extension", "jar"),
                ("maven2.asset2.extension", "jar"),
                ("maven2.asset2.classifier", "sources"),
            ]
        );
        assert_eq!(
            c.assets[1].repo_path.as_deref(),
            Some("g/h/a/1/a-1-sources.jar")
        );
        assert_eq!(c.label, "g.h:a:1");
    }

    #[test]
    fn raw_fields() {
        let c = raw_component(
            "/dist/1.0/",
            &[(PathBuf::from("/x/a.zip"), 3, "a.zip".into())],
        );
        assert_eq!(c.fields[0], ("raw.directory".into(), "/dist/1.0".into()));
        assert_eq!(c.fields[1], ("raw.asset1.filename".into(), "a.zip".into()));
        assert_eq!(c.assets[0].field, "raw.asset1");
        assert_eq!(c.assets[0].repo_path.as_deref(), Some("dist/1.0/a.zip"));
    }

    #[tokio::test]
    async fn streamed_body_refuses_a_file_that_changed_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        for (size, want) in [(10, "shrank"), (3, "grew")] {
            let file = tokio::fs::File::open(&p).await.unwrap();
            let chunks: Vec<_> = file_stream(file, size, Arc::new(AtomicU64::new(0)))
                .collect()
                .await;
            let err = chunks.iter().find_map(|c| c.as_ref().err()).unwrap();
            assert!(err.to_string().contains(want), "{err}");
        }
        let file = tokio::fs::File::open(&p).await.unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        let chunks: Vec<_> = file_stream(file, 5, sent.clone()).collect().await;
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].as_ref().unwrap(), b"hello");
        assert_eq!(sent.load(Ordering::Relaxed), 5);
    }
}
