//! Daemonless push (`PLUGIN_PUSH_ONLY` + `PLUGIN_SOURCE_TAR_PATH`): an image tarball — `docker
//! save` output or an OCI image-layout archive — pushed straight to the registry over the
//! distribution API, without a daemon. Blobs the registry already has are not sent again.
//!
//! `docker save` layers are uncompressed tars; they are gzip-compressed (deterministically, so a
//! second push finds the same digests) into a private temporary directory and pushed with a
//! Docker v2 schema-2 manifest, which every registry and every docker version pulls. OCI archives
//! are pushed as they are. Registry auth: Basic, or the Bearer token flow the registry announces
//! in `WWW-Authenticate`. TLS trusts the system roots plus `/etc/docker/certs.d/<host>/ca.crt`,
//! the docker convention. An insecure registry gets TLS without verification, else plain HTTP,
//! as dockerd does; a loopback registry may speak plain HTTP, but one that speaks TLS is verified
//! (dockerd accepts any certificate there).

use std::collections::HashMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::Digest as _;
use tracing::{debug, info, warn};

use super::auth::RegistryAuth;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A failure of the daemonless push, one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DistributionError(pub String);

fn fail(msg: impl Into<String>) -> DistributionError {
    DistributionError(msg.into())
}

/// A blob to push: where its bytes are.
#[derive(Debug, Clone)]
enum BlobSource {
    /// A range of the tarball.
    Range { offset: u64, len: u64 },
    /// A file we wrote (compressed layer).
    File(PathBuf),
    /// Bytes in memory (config, converted manifest).
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Blob {
    digest: String,
    size: u64,
    source: BlobSource,
}

/// What the tarball holds, ready to push.
struct Image {
    blobs: Vec<Blob>,
    manifest: Vec<u8>,
    media_type: String,
    _tmp: tempfile::TempDir,
}

/// The outcome of a push.
#[derive(Debug, Clone)]
pub struct TarPush {
    /// Manifest digest.
    pub digest: String,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs the registry already had.
    pub present: usize,
    /// Bytes uploaded.
    pub bytes: u64,
}

/// Pushes the image in `tarball` as `host/path:tag` for every tag.
pub async fn push_tarball(
    tarball: &Path,
    host: &str,
    path: &str,
    tags: &[String],
    auth: Option<&RegistryAuth>,
    insecure: bool,
) -> Result<Vec<(String, TarPush)>, DistributionError> {
    let tarball_owned = tarball.to_path_buf();
    let image = tokio::task::spawn_blocking(move || read_image(&tarball_owned))
        .await
        .map_err(|e| fail(format!("reading the tarball failed: {e}")))??;
    let client = Registry::connect(host, path, auth, insecure).await?;
    let mut out = Vec::new();
    let mut first = true;
    for tag in tags {
        let mut uploaded = 0;
        let mut present = 0;
        let mut bytes = 0;
        // Blobs go once; later tags only need the manifest.
        if first {
            for blob in &image.blobs {
                if client.has_blob(&blob.digest).await? {
                    present += 1;
                    debug!("blob {} already present", blob.digest);
                    continue;
                }
                client.put_blob(blob, tarball).await?;
                uploaded += 1;
                bytes += blob.size;
            }
            info!(
                "blobs: {uploaded} uploaded ({:.1} MiB), {present} already present",
                bytes as f64 / 1048576.0
            );
            first = false;
        }
        let digest = client
            .put_manifest(tag, &image.manifest, &image.media_type)
            .await?;
        info!("{host}/{path}:{tag} digest {digest}");
        out.push((
            tag.clone(),
            TarPush {
                digest,
                uploaded,
                present,
                bytes,
            },
        ));
    }
    Ok(out)
}

// ------------------------------------------------------------------------------ tarball

struct Entry {
    offset: u64,
    len: u64,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn read_image(tarball: &Path) -> Result<Image, DistributionError> {
    let file = std::fs::File::open(tarball)
        .map_err(|e| fail(format!("cannot open {}: {e}", tarball.display())))?;
    let mut archive = tar::Archive::new(file);
    let mut entries: HashMap<String, Entry> = HashMap::new();
    for e in archive
        .entries()
        .map_err(|e| fail(format!("{} is not a tar archive: {e}", tarball.display())))?
    {
        let e = e.map_err(|e| {
            fail(format!(
                "{} is not a valid tar archive: {e}",
                tarball.display()
            ))
        })?;
        let name = e
            .path()
            .map_err(|e| fail(e.to_string()))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        entries.insert(
            name,
            Entry {
                offset: e.raw_file_position(),
                len: e.size(),
            },
        );
    }
    let read = |name: &str| -> Result<Vec<u8>, DistributionError> {
        let en = entries
            .get(name)
            .ok_or_else(|| fail(format!("{} has no {name}", tarball.display())))?;
        if en.len > 64 * 1024 * 1024 {
            return Err(fail(format!(
                "{name} in {} is too large for metadata",
                tarball.display()
            )));
        }
        let mut f = std::fs::File::open(tarball).map_err(|e| fail(e.to_string()))?;
        f.seek(SeekFrom::Start(en.offset))
            .map_err(|e| fail(e.to_string()))?;
        let mut buf = vec![0u8; en.len as usize];
        f.read_exact(&mut buf).map_err(|e| fail(e.to_string()))?;
        Ok(buf)
    };
    let tmp = tempfile::Builder::new()
        .prefix("longshore-push-")
        .tempdir()
        .map_err(|e| fail(format!("cannot create a temporary directory: {e}")))?;
    if entries.contains_key("manifest.json") {
        docker_save(tarball, &entries, &read, tmp)
    } else if entries.contains_key("index.json") {
        oci_layout(&entries, &read, tmp)
    } else {
        Err(fail(format!(
            "{} is neither a docker save tarball (manifest.json) nor an OCI layout (index.json)",
            tarball.display()
        )))
    }
}

fn docker_save(
    tarball: &Path,
    entries: &HashMap<String, Entry>,
    read: &dyn Fn(&str) -> Result<Vec<u8>, DistributionError>,
    tmp: tempfile::TempDir,
) -> Result<Image, DistributionError> {
    let manifest: serde_json::Value = serde_json::from_slice(&read("manifest.json")?)
        .map_err(|e| fail(format!("manifest.json is not JSON: {e}")))?;
    let first = manifest
        .get(0)
        .ok_or_else(|| fail("manifest.json lists no image"))?;
    if manifest.as_array().is_some_and(|a| a.len() > 1) {
        warn!("the tarball holds several images; pushing the first");
    }
    let config_name = first["Config"]
        .as_str()
        .ok_or_else(|| fail("manifest.json has no Config"))?;
    let config = read(config_name)?;
    let config_digest = format!("sha256:{}", sha256_hex(&config));
    let mut blobs = vec![Blob {
        digest: config_digest.clone(),
        size: config.len() as u64,
        source: BlobSource::Bytes(config.clone()),
    }];
    let mut layers = Vec::new();
    for (i, layer) in first["Layers"]
        .as_array()
        .ok_or_else(|| fail("manifest.json has no Layers"))?
        .iter()
        .enumerate()
    {
        let name = layer
            .as_str()
            .ok_or_else(|| fail("a layer name is not a string"))?;
        let en = entries
            .get(name)
            .ok_or_else(|| fail(format!("{} has no {name}", tarball.display())))?;
        let out = tmp.path().join(format!("layer-{i}.tar.gz"));
        let (digest, size) = gzip_range(tarball, en.offset, en.len, &out)?;
        layers.push(
            serde_json::json!({ "mediaType": DOCKER_LAYER_GZIP, "size": size, "digest": digest }),
        );
        blobs.push(Blob {
            digest,
            size,
            source: BlobSource::File(out),
        });
    }
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": { "mediaType": DOCKER_CONFIG, "size": config.len(), "digest": config_digest },
        "layers": layers,
    });
    let manifest = serde_json::to_vec(&m).map_err(|e| fail(e.to_string()))?;
    Ok(Image {
        blobs,
        manifest,
        media_type: DOCKER_MANIFEST.into(),
        _tmp: tmp,
    })
}

/// Compresses a tar range deterministically (no timestamp, fixed level).
fn gzip_range(
    tarball: &Path,
    offset: u64,
    len: u64,
    out: &Path,
) -> Result<(String, u64), DistributionError> {
    use std::io::Write as _;
    let mut f = std::fs::File::open(tarball).map_err(|e| fail(e.to_string()))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| fail(e.to_string()))?;
    let mut src = f.take(len);
    let file = std::fs::File::create(out)
        .map_err(|e| fail(format!("cannot write {}: {e}", out.display())))?;
    struct Hashing<W> {
        inner: W,
        hash: sha2::Sha256,
        n: u64,
    }
    impl<W: std::io::Write> std::io::Write for Hashing<W> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(b)?;
            self.hash.update(&b[..n]);
            self.n += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let w = Hashing {
        inner: std::io::BufWriter::new(file),
        hash: sha2::Sha256::new(),
        n: 0,
    };
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(w, flate2::Compression::fast());
    std::io::copy(&mut src, &mut gz)
        .map_err(|e| fail(format!("compressing a layer failed: {e}")))?;
    let mut w = gz.finish().map_err(|e| fail(e.to_string()))?;
    w.flush().map_err(|e| fail(e.to_string()))?;
    Ok((format!("sha256:{}", hex::encode(w.hash.finalize())), w.n))
}

fn oci_layout(
    entries: &HashMap<String, Entry>,
    read: &dyn Fn(&str) -> Result<Vec<u8>, DistributionError>,
    tmp: tempfile::TempDir,
) -> Result<Image, DistributionError> {
    let blob_name = |d: &str| format!("blobs/{}", d.replacen(':', "/", 1));
    let index: serde_json::Value = serde_json::from_slice(&read("index.json")?)
        .map_err(|e| fail(format!("index.json is not JSON: {e}")))?;
    let mut desc = index["manifests"]
        .get(0)
        .cloned()
        .ok_or_else(|| fail("index.json lists no manifest"))?;
    // A nested index (multi-platform): take its first manifest.
    while desc["mediaType"] == OCI_INDEX {
        let d = desc["digest"]
            .as_str()
            .ok_or_else(|| fail("a descriptor has no digest"))?;
        let nested: serde_json::Value =
            serde_json::from_slice(&read(&blob_name(d))?).map_err(|e| fail(e.to_string()))?;
        desc = nested["manifests"]
            .get(0)
            .cloned()
            .ok_or_else(|| fail("a nested index lists no manifest"))?;
    }
    let digest = desc["digest"]
        .as_str()
        .ok_or_else(|| fail("the manifest descriptor has no digest"))?;
    let manifest = read(&blob_name(digest))?;
    let m: serde_json::Value =
        serde_json::from_slice(&manifest).map_err(|e| fail(e.to_string()))?;
    let media_type = m["mediaType"]
        .as_str()
        .or(desc["mediaType"].as_str())
        .unwrap_or(OCI_MANIFEST)
        .to_string();
    let mut blobs = Vec::new();
    let descs = std::iter::once(&m["config"]).chain(m["layers"].as_array().into_iter().flatten());
    for d in descs {
        let digest = d["digest"]
            .as_str()
            .ok_or_else(|| fail("a blob descriptor has no digest"))?
            .to_string();
        let en = entries
            .get(&blob_name(&digest))
            .ok_or_else(|| fail(format!("the archive has no blob {digest}")))?;
        blobs.push(Blob {
            digest,
            size: en.len,
            source: BlobSource::Range {
                offset: en.offset,
                len: en.len,
            },
        });
    }
    Ok(Image {
        blobs,
        manifest,
        media_type,
        _tmp: tmp,
    })
}

// ------------------------------------------------------------------------------ registry

struct Registry {
    http: reqwest::Client,
    base: String,
    path: String,
    basic: Option<(String, String)>,
    token: tokio::sync::Mutex<Option<String>>,
}

impl Registry {
    async fn connect(
        host: &str,
        path: &str,
        auth: Option<&RegistryAuth>,
        insecure: bool,
    ) -> Result<Registry, DistributionError> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("longshore/", env!("CARGO_PKG_VERSION")));
        // The docker convention for a private CA: /etc/docker/certs.d/<host>/ca.crt.
        let ca = Path::new("/etc/docker/certs.d").join(host).join("ca.crt");
        if let Ok(pem) = std::fs::read(&ca) {
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| fail(format!("{}: {e}", ca.display())))?;
            builder = builder.add_root_certificate(cert);
        }
        if insecure {
            // Named insecure (PLUGIN_INSECURE_REGISTRIES, or PLUGIN_INSECURE for PLUGIN_REGISTRY):
            // TLS without verification, else plain HTTP, as dockerd does for such a registry.
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| fail(e.to_string()))?;
        let basic = auth.map(|a| (a.username.clone(), a.password.expose().to_string()));
        let loopback =
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        let mut reg = Registry {
            http,
            base: format!("https://{host}"),
            path: path.to_string(),
            basic,
            token: tokio::sync::Mutex::new(None),
        };
        let https_error = match reg.http.get(format!("{}/v2/", reg.base)).send().await {
            Ok(_) => return Ok(reg),
            Err(e) => e,
        };
        if insecure {
            debug!("https to {host} failed ({https_error}); using http");
            reg.base = format!("http://{host}");
            return Ok(reg);
        }
        // A loopback registry may speak plain HTTP without being named insecure (dockerd's
        // default for 127.0.0.0/8). Unlike dockerd, a loopback registry that speaks TLS is
        // verified: plain HTTP is used only when the port answers it as a registry does
        // (200 or 401 on /v2/), never to get around a certificate that failed.
        if loopback
            && reg
                .http
                .get(format!("http://{host}/v2/"))
                .send()
                .await
                .is_ok_and(|r| matches!(r.status().as_u16(), 200 | 401))
        {
            debug!("https to {host} failed ({https_error}); it answers plain http");
            reg.base = format!("http://{host}");
            return Ok(reg);
        }
        Err(fail(
            match crate::error::untrusted_certificate(&https_error) {
                Some(why) => format!(
                    "the TLS certificate of {host} is not trusted ({why}): put its CA in /etc/docker/certs.d/{host}/ca.crt, or skip verification by naming it in PLUGIN_INSECURE_REGISTRIES (or PLUGIN_REGISTRY={host} with PLUGIN_INSECURE=true)"
                ),
                None => format!(
                    "cannot reach https://{host}: {} (for a plain-HTTP registry set PLUGIN_INSECURE=true)",
                    crate::error::one_line(&https_error)
                ),
            },
        ))
    }

    /// Sends a request, answering the registry's auth challenge once.
    async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DistributionError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = make();
            if let Some(t) = self.token.lock().await.as_deref() {
                req = req.bearer_auth(t);
            } else if let Some((u, p)) = &self.basic {
                req = req.basic_auth(u, Some(p));
            }
            let resp = match req.send().await {
                Ok(r) => r,
                // Every request here is idempotent (HEAD, GET, PUT by digest, POST of a new
                // upload session), so any transport failure is worth another try.
                Err(e) if attempt < 5 => {
                    warn!("registry request failed ({e}); retry {attempt}/4");
                    tokio::time::sleep(Duration::from_millis(300 * attempt)).await;
                    continue;
                }
                Err(e) => return Err(fail(format!("registry request failed: {e}"))),
            };
            if resp.status() == 401 && attempt == 1 {
                let challenge = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                if challenge.to_ascii_lowercase().starts_with("bearer") {
                    let token = self.fetch_token(&challenge).await?;
                    *self.token.lock().await = Some(token);
                    continue;
                }
                if self.basic.is_none() {
                    return Err(fail(
                        "the registry requires credentials and none were given",
                    ));
                }
                return Err(fail(
                    "authentication failed (check the registry credentials)",
                ));
            }
            if (resp.status().is_server_error() || resp.status() == 429) && attempt < 5 {
                warn!("registry answered {}; retry {attempt}/4", resp.status());
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                continue;
            }
            if resp.status() == 401 || resp.status() == 403 {
                return Err(fail(format!(
                    "authentication failed: the registry answered {} (check the registry credentials)",
                    resp.status()
                )));
            }
            return Ok(resp);
        }
    }

    async fn fetch_token(&self, challenge: &str) -> Result<String, DistributionError> {
        let params: HashMap<String, String> = challenge[6..]
            .split(',')
            .filter_map(|kv| kv.trim().split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_string(),
                )
            })
            .collect();
        let realm = params
            .get("realm")
            .ok_or_else(|| fail("the registry's Bearer challenge has no realm"))?;
        let mut req = self
            .http
            .get(realm)
            .query(&[("scope", format!("repository:{}:pull,push", self.path))]);
        if let Some(service) = params.get("service") {
            req = req.query(&[("service", service)]);
        }
        if let Some((u, p)) = &self.basic {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| fail(format!("token request to {realm} failed: {e}")))?;
        if !resp.status().is_success() {
            return Err(fail(format!(
                "authentication failed: the token service answered {}",
                resp.status()
            )));
        }
        let v: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| fail(format!("bad token response: {e}")))?;
        let token = v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .ok_or_else(|| fail("the token response has no token"))?;
        crate::secret::register(token);
        Ok(token.to_string())
    }

    async fn has_blob(&self, digest: &str) -> Result<bool, DistributionError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.path);
        let resp = self.send(|| self.http.head(&url)).await?;
        Ok(resp.status().is_success())
    }

    async fn put_blob(&self, blob: &Blob, tarball: &Path) -> Result<(), DistributionError> {
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.path);
        let resp = self
            .send(|| self.http.post(&start).header("content-length", "0"))
            .await?;
        if resp.status() != 202 {
            return Err(fail(format!(
                "starting the upload of {} failed: {}",
                blob.digest,
                resp.status()
            )));
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| fail("the registry gave no upload location"))?;
        let mut url = if location.starts_with("http") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={}", blob.digest));
        let body = match &blob.source {
            BlobSource::Bytes(b) => b.clone(),
            BlobSource::File(p) => tokio::fs::read(p).await.map_err(|e| fail(e.to_string()))?,
            BlobSource::Range { offset, len } => {
                let mut f = std::fs::File::open(tarball).map_err(|e| fail(e.to_string()))?;
                f.seek(SeekFrom::Start(*offset))
                    .map_err(|e| fail(e.to_string()))?;
                let mut buf = vec![0u8; *len as usize];
                f.read_exact(&mut buf).map_err(|e| fail(e.to_string()))?;
                buf
            }
        };
        let resp = self
            .send(|| {
                self.http
                    .put(&url)
                    .header("content-type", "application/octet-stream")
                    .body(body.clone())
            })
            .await?;
        if resp.status() != 201 {
            let text = resp.text().await.unwrap_or_default();
            return Err(fail(format!(
                "uploading blob {} failed: {}",
                blob.digest,
                text.trim()
            )));
        }
        Ok(())
    }

    async fn put_manifest(
        &self,
        tag: &str,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<String, DistributionError> {
        let url = format!("{}/v2/{}/manifests/{tag}", self.base, self.path);
        let resp = self
            .send(|| {
                self.http
                    .put(&url)
                    .header("content-type", media_type)
                    .body(manifest.to_vec())
            })
            .await?;
        if resp.status() != 201 {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            return Err(fail(format!(
                "pushing the manifest for {tag} failed: {status} {}",
                text.trim()
            )));
        }
        let local = format!("sha256:{}", sha256_hex(manifest));
        match resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            Some(d) if d != local => Err(fail(format!(
                "the registry stored digest {d}, not the {local} we sent"
            ))),
            _ => Ok(local),
        }
    }
}
