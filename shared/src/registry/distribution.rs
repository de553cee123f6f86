//! Daemonless push (`PLUGIN_PUSH_ONLY` + `PLUGIN_SOURCE_TAR_PATH`): an image tarball — `docker
//! save` output or an OCI image-layout archive — pushed straight to the registry over the
//! distribution API, without a daemon. Blobs the registry already has are not sent again.
//!
//! `docker save` layers are uncompressed tars; they are gzip-compressed (deterministically, so a
//! second push finds the same digests) and pushed with a Docker v2 schema-2 manifest, which every
//! registry and every docker version pulls. A layer's compressed bytes flow into an upload session
//! while they are made (see [`super::spool`]): its digest is known only at the end, when a
//! registry that already has the blob makes us drop the upload instead of finishing it. OCI
//! archives are pushed as they are. Registry auth: Basic, or the Bearer token flow the registry announces
//! in `WWW-Authenticate`. TLS trusts the system roots plus `/etc/docker/certs.d/<host>/ca.crt`,
//! the docker convention. An insecure registry gets TLS without verification, else plain HTTP,
//! as dockerd does; a loopback registry may speak plain HTTP, but one that speaks TLS is verified
//! (dockerd accepts any certificate there).

use std::collections::HashMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use sha2::Digest as _;
use tracing::{debug, info, warn};

use super::auth::RegistryAuth;
use super::spool::{Progress, Spool, follow};

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
    Range { offset: u64 },
    /// A file we wrote (a compressed layer, sent again after a failed streamed upload).
    File(PathBuf),
    /// Bytes in memory (the image config).
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Blob {
    digest: String,
    size: u64,
    source: BlobSource,
}

/// An uncompressed `docker save` layer: a range of the tarball.
struct RawLayer {
    offset: u64,
    len: u64,
}

/// The manifest to push, or what is needed to write it once the layers' digests are known.
enum Manifest {
    Ready {
        bytes: Vec<u8>,
        media_type: String,
    },
    Docker {
        config_digest: String,
        config_size: u64,
    },
}

/// What the tarball holds, ready to push.
struct Image {
    /// Blobs whose digest the archive gives.
    blobs: Vec<Blob>,
    /// `docker save` layers, compressed while they are pushed.
    layers: Vec<RawLayer>,
    manifest: Manifest,
    /// Where compressed layers are spooled.
    tmp: tempfile::TempDir,
}

/// What the blob uploads did.
#[derive(Debug, Default, Clone, Copy)]
struct Sent {
    uploaded: usize,
    present: usize,
    bytes: u64,
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
    // Reading the archive's index and reaching the registry (TLS roots, the /v2/ probe) go side
    // by side; neither needs the other.
    let read = async {
        tokio::task::spawn_blocking(move || read_image(&tarball_owned))
            .await
            .map_err(|e| fail(format!("reading the tarball failed: {e}")))?
    };
    let (image, client) = tokio::try_join!(read, Registry::connect(host, path, auth, insecure))?;
    // Blobs go once; later tags only need the manifest.
    let (manifest, media_type, sent) = push_blobs(&client, &image, tarball).await?;
    let mut out = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let digest = client.put_manifest(tag, &manifest, &media_type).await?;
        info!("{host}/{path}:{tag} digest {digest}");
        let sent = if i == 0 { sent } else { Sent::default() };
        out.push((
            tag.clone(),
            TarPush {
                digest,
                uploaded: sent.uploaded,
                present: sent.present,
                bytes: sent.bytes,
            },
        ));
    }
    Ok(out)
}

/// Layers compressed and uploaded at the same time.
const LAYERS_AT_ONCE: usize = 3;

/// Pushes every blob the registry lacks; returns the manifest and its media type.
async fn push_blobs(
    client: &Registry,
    image: &Image,
    tarball: &Path,
) -> Result<(Vec<u8>, String, Sent), DistributionError> {
    let mut sent = Sent::default();
    for blob in &image.blobs {
        if client.has_blob(&blob.digest).await? {
            sent.present += 1;
            debug!("blob {} already present", blob.digest);
            continue;
        }
        client.put_blob(blob, tarball).await?;
        sent.uploaded += 1;
        sent.bytes += blob.size;
    }
    let mut descriptors = Vec::new();
    let count = image.layers.len();
    // A few layers at a time, as dockerd does: a small layer's round trips (POST, PATCH, HEAD,
    // PUT) then overlap a large one's compression. Results come back in layer order.
    let pushes = image.layers.iter().enumerate().map(|(i, layer)| {
        let spool = image.tmp.path().join(format!("layer-{i}.tar.gz"));
        async move { client.push_layer(tarball, layer, &spool).await }
    });
    let mut pushes = futures_util::stream::iter(pushes).buffered(LAYERS_AT_ONCE);
    let mut i = 0;
    while let Some(pushed) = pushes.next().await {
        let pushed = pushed?;
        let layer = &image.layers[i];
        i += 1;
        info!(
            "layer {i}/{count}: {:.1} MiB compressed to {:.1} MiB, {} {}",
            layer.len as f64 / 1048576.0,
            pushed.size as f64 / 1048576.0,
            pushed.digest,
            if pushed.uploaded {
                "uploaded"
            } else {
                "already present"
            }
        );
        if pushed.uploaded {
            sent.uploaded += 1;
            sent.bytes += pushed.size;
        } else {
            sent.present += 1;
        }
        descriptors.push(serde_json::json!({
            "mediaType": DOCKER_LAYER_GZIP, "size": pushed.size, "digest": pushed.digest,
        }));
    }
    info!(
        "blobs: {} uploaded ({:.1} MiB), {} already present",
        sent.uploaded,
        sent.bytes as f64 / 1048576.0,
        sent.present
    );
    let (manifest, media_type) = match &image.manifest {
        Manifest::Ready { bytes, media_type } => (bytes.clone(), media_type.clone()),
        Manifest::Docker {
            config_digest,
            config_size,
        } => {
            let m = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": { "mediaType": DOCKER_CONFIG, "size": config_size, "digest": config_digest },
                "layers": descriptors,
            });
            let bytes = serde_json::to_vec(&m).map_err(|e| fail(e.to_string()))?;
            (bytes, DOCKER_MANIFEST.to_string())
        }
    };
    Ok((manifest, media_type, sent))
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
    // Seek over the members' contents instead of reading them: only the headers are needed.
    for e in archive
        .entries_with_seek()
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
    let tmp = crate::files::private_tempdir("longshore-push-")
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
    let blobs = vec![Blob {
        digest: config_digest.clone(),
        size: config.len() as u64,
        source: BlobSource::Bytes(config.clone()),
    }];
    let mut layers = Vec::new();
    for layer in first["Layers"]
        .as_array()
        .ok_or_else(|| fail("manifest.json has no Layers"))?
    {
        let name = layer
            .as_str()
            .ok_or_else(|| fail("a layer name is not a string"))?;
        let en = entries
            .get(name)
            .ok_or_else(|| fail(format!("{} has no {name}", tarball.display())))?;
        layers.push(RawLayer {
            offset: en.offset,
            len: en.len,
        });
    }
    Ok(Image {
        blobs,
        layers,
        manifest: Manifest::Docker {
            config_digest,
            config_size: config.len() as u64,
        },
        tmp,
    })
}

/// Input per compressed block. Blocks are compressed on every core (pigz-style: each block a
/// run of deflate blocks ending on a byte boundary, one gzip stream in all), so the output
/// depends on this size and the level, never on the number of threads: the same layer gives the
/// same digest on any machine, and a second push finds it.
const GZIP_BLOCK: usize = 1 << 20;

/// Compresses a tar range deterministically (no timestamp, fixed level and block size) into
/// `spool`; returns the compressed blob's digest and size.
fn gzip_range(
    tarball: &Path,
    offset: u64,
    len: u64,
    spool: Spool,
) -> Result<(String, u64), DistributionError> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    gzip_range_on(tarball, offset, len, spool, threads)
}

fn gzip_range_on(
    tarball: &Path,
    offset: u64,
    len: u64,
    spool: Spool,
    threads: usize,
) -> Result<(String, u64), DistributionError> {
    use gzp::ZWriter as _;
    let mut f = std::fs::File::open(tarball).map_err(|e| fail(e.to_string()))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| fail(e.to_string()))?;
    let mut src = f.take(len);
    struct Hashing<W> {
        inner: W,
        hash: sha2::Sha256,
    }
    impl<W: std::io::Write> std::io::Write for Hashing<W> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(b)?;
            self.hash.update(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let mut w = Hashing {
        inner: spool,
        hash: sha2::Sha256::new(),
    };
    let copied = std::thread::scope(|scope| {
        let mut gz = gzp::par::compress::ParCompressBuilder::<gzp::deflate::Gzip>::new()
            .num_threads(threads)
            .and_then(|b| b.buffer_size(GZIP_BLOCK))
            .map_err(|e| fail(format!("cannot start the compressor: {e}")))?
            .compression_level(flate2::Compression::fast())
            .from_borrowed_writer(&mut w, scope);
        let copied = std::io::copy(&mut src, &mut gz);
        // finish() always, even after a failed read: a compressor dropped unfinished panics.
        let finished = gz.finish();
        let copied = copied.map_err(|e| fail(format!("compressing a layer failed: {e}")))?;
        finished.map_err(|e| fail(format!("compressing a layer failed: {e}")))?;
        Ok::<u64, DistributionError>(copied)
    })?;
    if copied != len {
        return Err(fail(format!(
            "{} changed while it was read (a layer ends early)",
            tarball.display()
        )));
    }
    let digest = format!("sha256:{}", hex::encode(w.hash.finalize()));
    let size = w
        .inner
        .finish()
        .map_err(|e| fail(format!("writing a compressed layer failed: {e}")))?;
    Ok((digest, size))
}

/// How deep indexes may nest in an OCI layout: real ones nest once (a multi-platform index).
const MAX_INDEX_DEPTH: usize = 4;

fn oci_layout(
    entries: &HashMap<String, Entry>,
    read: &dyn Fn(&str) -> Result<Vec<u8>, DistributionError>,
    tmp: tempfile::TempDir,
) -> Result<Image, DistributionError> {
    let blob_name = |d: &str| format!("blobs/{}", d.replacen(':', "/", 1));
    // A blob is what its digest says, or the archive lies: checked on every read, which also
    // makes an index that names itself impossible to follow.
    let read_blob = |d: &str| -> Result<Vec<u8>, DistributionError> {
        let bytes = read(&blob_name(d))?;
        let actual = format!("sha256:{}", sha256_hex(&bytes));
        if actual != d {
            return Err(fail(format!(
                "blob {} in the OCI layout has digest {actual}",
                crate::files::excerpt(d, 80)
            )));
        }
        Ok(bytes)
    };
    let index: serde_json::Value = serde_json::from_slice(&read("index.json")?)
        .map_err(|e| fail(format!("index.json is not JSON: {e}")))?;
    let mut desc = index["manifests"]
        .get(0)
        .cloned()
        .ok_or_else(|| fail("index.json lists no manifest"))?;
    // A nested index (multi-platform): take its first manifest, a few levels deep at most.
    let mut depth = 0;
    while desc["mediaType"] == OCI_INDEX {
        depth += 1;
        if depth > MAX_INDEX_DEPTH {
            return Err(fail(format!(
                "the OCI layout nests indexes more than {MAX_INDEX_DEPTH} deep"
            )));
        }
        let d = desc["digest"]
            .as_str()
            .ok_or_else(|| fail("a descriptor has no digest"))?;
        let nested: serde_json::Value =
            serde_json::from_slice(&read_blob(d)?).map_err(|e| fail(e.to_string()))?;
        desc = nested["manifests"]
            .get(0)
            .cloned()
            .ok_or_else(|| fail("a nested index lists no manifest"))?;
    }
    let digest = desc["digest"]
        .as_str()
        .ok_or_else(|| fail("the manifest descriptor has no digest"))?;
    let manifest = read_blob(digest)?;
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
            source: BlobSource::Range { offset: en.offset },
        });
    }
    Ok(Image {
        blobs,
        layers: Vec::new(),
        manifest: Manifest::Ready {
            bytes: manifest,
            media_type,
        },
        tmp,
    })
}

// ------------------------------------------------------------------------------ registry

struct Registry {
    http: reqwest::Client,
    /// `https://host[:port]` or `http://host[:port]`: the only origin credentials are sent to.
    base: String,
    /// Named insecure by the user: plain HTTP allowed.
    insecure: bool,
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
        let loopback = is_loopback(host).await;
        let mut reg = Registry {
            http,
            insecure,
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

    /// Adds the credentials — the Bearer token once there is one, else Basic — but only to a
    /// request for the registry's own origin: an upload `Location` on another host gets none.
    async fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let same_origin = req
            .try_clone()
            .and_then(|r| r.build().ok())
            .is_some_and(|r| same_origin(&self.base, r.url().as_str()));
        if !same_origin {
            return req;
        }
        if let Some(t) = self.token.lock().await.as_deref() {
            req.bearer_auth(t)
        } else if let Some((u, p)) = &self.basic {
            req.basic_auth(u, Some(p))
        } else {
            req
        }
    }

    /// Sends a request under the one retry policy, answering the registry's auth challenge
    /// once. Every request here is idempotent (HEAD, GET, PUT by digest, POST of a new upload
    /// session), so any transient failure is worth another try.
    async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DistributionError> {
        let mut tries = crate::retry::policy().start();
        let mut challenged = false;
        loop {
            let req = self.authorize(make()).await;
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let why = crate::retry::transport_error(&e);
                    if crate::retry::transient_transport(&e)
                        && tries.pause("registry request", &why, None).await
                    {
                        continue;
                    }
                    return Err(fail(format!(
                        "registry request failed: {}",
                        tries.exhausted(&why)
                    )));
                }
            };
            let status = resp.status();
            if status == 401 && !challenged {
                challenged = true;
                self.answer_challenge(&resp).await?;
                continue;
            }
            if crate::retry::transient_status(status.as_u16()) {
                let after = crate::retry::retry_after(resp.headers());
                let why = format!("the registry answered {status}");
                if tries.pause("registry request", &why, after).await {
                    continue;
                }
            }
            if status == 401 || status == 403 {
                return Err(fail(format!(
                    "authentication failed: the registry answered {status} (check the registry credentials)"
                )));
            }
            return Ok(resp);
        }
    }

    /// A 401's challenge: a Bearer one gets a token (used by the next attempt); Basic means the
    /// credentials we sent, or their absence, were refused.
    async fn answer_challenge(&self, resp: &reqwest::Response) -> Result<(), DistributionError> {
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if challenge.to_ascii_lowercase().starts_with("bearer") {
            let token = self.fetch_token(&challenge).await?;
            *self.token.lock().await = Some(token);
            return Ok(());
        }
        Err(fail(if self.basic.is_none() {
            "the registry requires credentials and none were given"
        } else {
            "authentication failed (check the registry credentials)"
        }))
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
        self.check_realm(realm).await?;
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
        let (body, cut) = crate::http_body::read_capped(resp, TOKEN_BODY_CAP)
            .await
            .map_err(|e| fail(format!("reading the token response failed: {e}")))?;
        if cut {
            return Err(fail(format!(
                "the token response is larger than {TOKEN_BODY_CAP} bytes"
            )));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| fail("the token response is not JSON"))?;
        let token = v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .ok_or_else(|| fail("the token response has no token"))?;
        crate::secret::register(token);
        Ok(token.to_string())
    }

    /// A token realm gets the Basic credentials, so it must be HTTPS, or plain HTTP only to a
    /// loopback address or to the registry's own host when that is named insecure.
    async fn check_realm(&self, realm: &str) -> Result<(), DistributionError> {
        let url = reqwest::Url::parse(realm)
            .map_err(|_| fail("the registry's token realm is not a URL"))?;
        let host = url.host_str().unwrap_or("").to_string();
        let allowed = match url.scheme() {
            "https" => true,
            "http" => (self.insecure && same_host(&self.base, &url)) || is_loopback(&host).await,
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(fail(format!(
                "the registry names the token service {}://{host}, which would receive the credentials without TLS: refused",
                url.scheme()
            )))
        }
    }

    async fn has_blob(&self, digest: &str) -> Result<bool, DistributionError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.path);
        let resp = self.send(|| self.http.head(&url)).await?;
        Ok(resp.status().is_success())
    }

    /// Opens an upload session; returns its URL.
    async fn start_upload(&self) -> Result<String, DistributionError> {
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.path);
        let resp = self
            .send(|| self.http.post(&start).header("content-length", "0"))
            .await?;
        if resp.status() != 202 {
            return Err(refused("starting a blob upload", resp).await);
        }
        upload_location(&self.base, self.insecure, &resp).map_err(fail)
    }

    /// Completes an upload session whose bytes are all sent.
    async fn finish_upload(&self, location: &str, digest: &str) -> Result<(), DistributionError> {
        let url = with_digest(location, digest);
        let resp = self
            .send(|| self.http.put(&url).header("content-length", "0"))
            .await?;
        if resp.status() != 201 {
            return Err(refused(&format!("completing the upload of {digest}"), resp).await);
        }
        Ok(())
    }

    /// Cancels an upload session, best effort: the registry expires abandoned ones anyway.
    async fn cancel_upload(&self, location: &str) {
        let req = self
            .authorize(self.http.delete(location))
            .await
            .timeout(Duration::from_secs(10));
        if let Err(e) = req.send().await {
            debug!("cancelling an upload session failed: {e}");
        }
    }

    /// Uploads a blob whose digest is known, in one PUT streamed from its file (or memory).
    async fn put_blob(&self, blob: &Blob, tarball: &Path) -> Result<(), DistributionError> {
        let url = with_digest(&self.start_upload().await?, &blob.digest);
        let open = |p: &Path| {
            std::fs::File::open(p)
                .map(Arc::new)
                .map_err(|e| fail(format!("cannot read {}: {e}", p.display())))
        };
        let file = match &blob.source {
            BlobSource::Bytes(_) => None,
            BlobSource::File(p) => Some((open(p)?, 0)),
            BlobSource::Range { offset, .. } => Some((open(tarball)?, *offset)),
        };
        let resp = self
            .send(|| {
                let body = match (&blob.source, &file) {
                    (BlobSource::Bytes(b), _) => reqwest::Body::from(b.clone()),
                    (_, Some((f, offset))) => reqwest::Body::wrap_stream(follow(
                        f.clone(),
                        *offset,
                        Progress::finished(blob.size),
                    )),
                    (_, None) => reqwest::Body::from(Vec::new()),
                };
                self.http
                    .put(&url)
                    .header("content-type", "application/octet-stream")
                    .header("content-length", blob.size)
                    .body(body)
            })
            .await?;
        if resp.status() != 201 {
            return Err(refused(&format!("uploading blob {}", blob.digest), resp).await);
        }
        Ok(())
    }

    /// Compresses a `docker save` layer into `spool` and uploads it while it is compressed.
    async fn push_layer(
        &self,
        tarball: &Path,
        layer: &RawLayer,
        spool: &Path,
    ) -> Result<PushedLayer, DistributionError> {
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(spool)
            .map_err(|e| fail(format!("cannot write {}: {e}", spool.display())))?;
        let reader = std::fs::File::open(spool)
            .map(Arc::new)
            .map_err(|e| fail(format!("cannot read {}: {e}", spool.display())))?;
        let (writer, progress) = Spool::new(writer);
        let (tarball, offset, len) = (tarball.to_path_buf(), layer.offset, layer.len);
        let compress =
            tokio::task::spawn_blocking(move || gzip_range(&tarball, offset, len, writer));

        let session = self.start_upload().await?;
        let body = reqwest::Body::wrap_stream(follow(reader, 0, progress));
        let patch = self
            .authorize(self.http.patch(&session))
            .await
            .header("content-type", "application/octet-stream")
            .body(body);
        let (base, insecure) = (self.base.clone(), self.insecure);
        let upload = tokio::spawn(async move {
            let resp = patch
                .send()
                .await
                // Without the URL: the session's long state token says nothing to a reader.
                .map_err(|e| crate::error::one_line(&e.without_url()))?;
            if resp.status() != 202 {
                return Err(format!("the registry answered {}", resp.status()));
            }
            upload_location(&base, insecure, &resp)
        });

        let (digest, size) = compress
            .await
            .map_err(|e| fail(format!("compressing a layer failed: {e}")))??;
        // Only now is the digest known. A registry that has the blob needs none of it: drop the
        // upload, which has sent only what went out while the layer was compressed.
        if self.has_blob(&digest).await? {
            upload.abort();
            self.cancel_upload(&session).await;
            return Ok(PushedLayer {
                digest,
                size,
                uploaded: false,
            });
        }
        let streamed = match upload.await {
            Ok(Ok(location)) => self.finish_upload(&location, &digest).await,
            Ok(Err(e)) => Err(fail(e)),
            Err(e) => Err(fail(e.to_string())),
        };
        if let Err(e) = streamed {
            // The compressed copy is complete: send it again, in one PUT with the usual retries.
            warn!("streaming layer {digest} failed ({e}); sending it again");
            self.cancel_upload(&session).await;
            let blob = Blob {
                digest: digest.clone(),
                size,
                source: BlobSource::File(spool.to_path_buf()),
            };
            self.put_blob(&blob, Path::new("")).await?;
        }
        Ok(PushedLayer {
            digest,
            size,
            uploaded: true,
        })
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
            return Err(refused(&format!("pushing the manifest for {tag}"), resp).await);
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

/// A layer pushed by [`Registry::push_layer`].
struct PushedLayer {
    digest: String,
    size: u64,
    /// False when the registry already had it.
    uploaded: bool,
}

/// The absolute URL of an upload session from a response's `Location`. A location on another
/// origin is followed without credentials ([`Registry::authorize`]), but never from HTTPS down
/// to plain HTTP unless the registry was named insecure.
fn upload_location(base: &str, insecure: bool, resp: &reqwest::Response) -> Result<String, String> {
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or("the registry gave no upload location")?;
    if !location.starts_with("http") {
        return Ok(format!("{base}{location}"));
    }
    let url = reqwest::Url::parse(location)
        .map_err(|_| "the registry's upload location is not a URL".to_string())?;
    if url.scheme() != "https" && base.starts_with("https://") && !insecure {
        return Err(format!(
            "the registry moves the upload to plain-HTTP {}: refused",
            url.host_str().unwrap_or("")
        ));
    }
    Ok(location.to_string())
}

/// Whether `url` is on the registry's origin `base` (scheme, host and port).
fn same_origin(base: &str, url: &str) -> bool {
    match (reqwest::Url::parse(base), reqwest::Url::parse(url)) {
        (Ok(b), Ok(u)) => b.origin() == u.origin(),
        _ => false,
    }
}

/// Whether `url` names the registry's host (any scheme or port).
fn same_host(base: &str, url: &reqwest::Url) -> bool {
    reqwest::Url::parse(base).is_ok_and(|b| b.host_str() == url.host_str())
}

/// Whether `host` (with or without a port) is this machine: exactly `localhost`, a loopback
/// address, or a name every address of which is loopback. Never by string prefix:
/// `localhost-registry.example` or `127.example.com` are not.
async fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    match tokio::net::lookup_host((bare, 0)).await {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// The most of an error answer's body read: enough for any registry's JSON error.
const ERROR_BODY_CAP: usize = 4 * 1024;
/// The most of a token answer read: a JWT is a few KiB.
const TOKEN_BODY_CAP: usize = 1024 * 1024;

/// "`what` failed: <status> <the start of the registry's error body>".
async fn refused(what: &str, resp: reqwest::Response) -> DistributionError {
    let status = resp.status();
    let (body, _) = crate::http_body::read_capped(resp, ERROR_BODY_CAP)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    fail(format!(
        "{what} failed: {status} {}",
        crate::retry::server_message(&text)
    ))
}

/// An upload session URL with the `digest` query that completes it.
fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_is_decided_by_address_never_by_prefix() {
        for host in [
            "127.0.0.1:5000",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
            "127.9.9.9",
        ] {
            assert!(is_loopback(host).await, "{host}");
        }
        for host in [
            "localhost-registry.corp.example:5000",
            "127.example.invalid",
            "10.0.0.1:5000",
            "registry.example.invalid",
        ] {
            assert!(!is_loopback(host).await, "{host}");
        }
    }

    #[test]
    fn credentials_stay_on_the_registry_origin() {
        let base = "https://reg.example:5443";
        assert!(same_origin(
            base,
            "https://reg.example:5443/v2/a/blobs/uploads/1"
        ));
        assert!(!same_origin(base, "https://other.example:5443/v2/a"));
        assert!(!same_origin(base, "http://reg.example:5443/v2/a"));
        assert!(!same_origin(base, "https://reg.example:5444/v2/a"));
    }

    #[test]
    fn a_self_referencing_oci_index_is_refused_not_followed_forever() {
        // index.json names a blob whose bytes claim to be an index naming the same digest.
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("loop.tar");
        let fake = "sha256:".to_string() + &"a".repeat(64);
        let nested = serde_json::json!({"manifests": [{"mediaType": OCI_INDEX, "digest": fake}]});
        let index = serde_json::json!({"manifests": [{"mediaType": OCI_INDEX, "digest": fake}]});
        let mut b = tar::Builder::new(std::fs::File::create(&tar).unwrap());
        for (name, body) in [
            ("index.json".to_string(), index.to_string()),
            (
                format!("blobs/sha256/{}", "a".repeat(64)),
                nested.to_string(),
            ),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.finish().unwrap();
        drop(b);
        let err = read_image(&tar).err().expect("refused");
        assert!(err.0.contains("has digest"), "{err}");
    }

    #[test]
    fn the_digest_query_is_appended_to_any_location() {
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u1", "sha256:ab"),
            "http://r/v2/a/blobs/uploads/u1?digest=sha256:ab"
        );
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u1?_state=x", "sha256:ab"),
            "http://r/v2/a/blobs/uploads/u1?_state=x&digest=sha256:ab"
        );
    }

    #[test]
    fn compression_is_deterministic_and_the_digest_is_of_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("in.tar");
        let data: Vec<u8> = (0..2_700_000u32)
            .map(|i| ((i % 97) ^ (i / 1013)) as u8)
            .collect();
        std::fs::write(&tar, [b"head".as_slice(), &data, b"tail"].concat()).unwrap();
        let run = |name: &str, threads: usize| {
            let out = dir.path().join(name);
            let (spool, _) = Spool::new(std::fs::File::create(&out).unwrap());
            let (digest, size) = gzip_range_on(&tar, 4, data.len() as u64, spool, threads).unwrap();
            (digest, size, std::fs::read(&out).unwrap())
        };
        // The bytes depend on neither the run nor the number of threads.
        let (d1, n1, b1) = run("a.gz", 2);
        let (d2, _, b2) = run("b.gz", 5);
        assert_eq!(d1, d2);
        assert_eq!(b1, b2);
        assert_eq!(n1, b1.len() as u64);
        assert_eq!(d1, format!("sha256:{}", sha256_hex(&b1)));
        // One gzip member (a plain, not multi-member, decoder reads all of it).
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&b1[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn an_empty_layer_compresses_to_a_valid_empty_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("in.tar");
        std::fs::write(&tar, b"").unwrap();
        let out = dir.path().join("o.gz");
        let (spool, _) = Spool::new(std::fs::File::create(&out).unwrap());
        let (digest, size) = gzip_range(&tar, 0, 0, spool).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(digest, format!("sha256:{}", sha256_hex(&bytes)));
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn a_tarball_that_shrank_is_an_error_not_a_short_layer() {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("in.tar");
        std::fs::write(&tar, vec![7u8; 1000]).unwrap();
        let (spool, _) = Spool::new(std::fs::File::create(dir.path().join("o")).unwrap());
        let err = gzip_range(&tar, 0, 5000, spool).unwrap_err();
        assert!(err.0.contains("changed while it was read"), "{err}");
    }
}
