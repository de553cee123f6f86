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
//! in `WWW-Authenticate`. TLS trusts the roots of [`crate::tls`] (system, `HARNESS_CA_PATH`) plus
//! `/etc/docker/certs.d/<host>/ca.crt`, the docker convention. An insecure registry gets TLS without verification, else plain HTTP,
//! as dockerd does; a loopback registry may speak plain HTTP, but one that speaks TLS is verified
//! (dockerd accepts any certificate there).

use std::collections::{BTreeMap, HashMap};
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
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

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

/// Pushes the image in `tarball` as `host/path:tag` for every tag. Non-empty `annotations` are
/// written into the manifest, which is then an OCI manifest (a Docker schema-2 manifest has no
/// annotations).
pub async fn push_tarball(
    tarball: &Path,
    host: &str,
    path: &str,
    tags: &[String],
    auth: Option<&RegistryAuth>,
    insecure: bool,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<(String, TarPush)>, TarPushError> {
    let tarball_owned = tarball.to_path_buf();
    // Reading the archive's index and reaching the registry (TLS roots, the /v2/ probe) go side
    // by side; neither needs the other.
    let read = async {
        tokio::task::spawn_blocking(move || read_image(&tarball_owned))
            .await
            .map_err(|source| DistributionError::Task {
                what: "reading the tarball",
                source,
            })?
    };
    let (image, client) = tokio::try_join!(read, Registry::connect(host, path, auth, insecure))?;
    // Blobs go once; later tags only need the manifest.
    let (manifest, media_type, sent) = push_blobs(&client, &image, tarball, annotations).await?;
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
    annotations: &BTreeMap<String, String>,
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
        Manifest::Ready { bytes, media_type } => annotate_ready(bytes, media_type, annotations)?,
        Manifest::Docker {
            config_digest,
            config_size,
        } => save_manifest(config_digest, *config_size, descriptors, annotations)?,
    };
    Ok((manifest, media_type, sent))
}

/// The manifest of a `docker save` image: Docker schema 2, or OCI with the annotations.
fn save_manifest(
    config_digest: &str,
    config_size: u64,
    mut layers: Vec<serde_json::Value>,
    annotations: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, String), DistributionError> {
    if annotations.is_empty() {
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": { "mediaType": DOCKER_CONFIG, "size": config_size, "digest": config_digest },
            "layers": layers,
        });
        return Ok((serde_json::to_vec(&m)?, DOCKER_MANIFEST.to_string()));
    }
    for l in &mut layers {
        l["mediaType"] = OCI_LAYER_GZIP.into();
    }
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": OCI_CONFIG, "size": config_size, "digest": config_digest },
        "layers": layers,
        "annotations": annotations,
    });
    Ok((serde_json::to_vec(&m)?, OCI_MANIFEST.to_string()))
}

/// An OCI layout's manifest, with the annotations added (over its own of the same key). A
/// Docker schema-2 manifest cannot carry them: it is pushed as it is, with a warning.
fn annotate_ready(
    bytes: &[u8],
    media_type: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, String), DistributionError> {
    if annotations.is_empty() {
        return Ok((bytes.to_vec(), media_type.to_string()));
    }
    if media_type != OCI_MANIFEST {
        warn!(
            "the image's manifest is {media_type}, which has no annotations: PLUGIN_ANNOTATIONS only reach the image labels of a build"
        );
        return Ok((bytes.to_vec(), media_type.to_string()));
    }
    let mut m: serde_json::Value = serde_json::from_slice(bytes)?;
    if !m["annotations"].is_object() {
        m["annotations"] = serde_json::json!({});
    }
    for (k, v) in annotations {
        m["annotations"][k] = v.clone().into();
    }
    Ok((serde_json::to_vec(&m)?, media_type.to_string()))
}

#[cfg(test)]
mod manifest_tests {
    use super::*;

    #[test]
    fn annotations_make_a_docker_save_image_an_oci_manifest() {
        let layers = vec![serde_json::json!({
            "mediaType": DOCKER_LAYER_GZIP, "size": 3, "digest": "sha256:aa",
        })];
        let (plain, t) = save_manifest("sha256:cc", 5, layers.clone(), &BTreeMap::new()).unwrap();
        assert_eq!(t, DOCKER_MANIFEST);
        assert!(!String::from_utf8(plain).unwrap().contains("annotations"));
        let a = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let (bytes, t) = save_manifest("sha256:cc", 5, layers, &a).unwrap();
        assert_eq!(t, OCI_MANIFEST);
        let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(m["config"]["mediaType"], OCI_CONFIG);
        assert_eq!(m["layers"][0]["mediaType"], OCI_LAYER_GZIP);
        assert_eq!(m["annotations"]["k"], "v");
    }

    #[test]
    fn annotations_join_an_oci_manifest_and_skip_a_docker_one() {
        let a = BTreeMap::from([("k".to_string(), "new".to_string())]);
        let oci = br#"{"schemaVersion":2,"annotations":{"k":"old","x":"y"}}"#;
        let (bytes, _) = annotate_ready(oci, OCI_MANIFEST, &a).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(m["annotations"]["k"], "new");
        assert_eq!(m["annotations"]["x"], "y");
        let docker = br#"{"schemaVersion":2}"#;
        let (bytes, t) = annotate_ready(docker, DOCKER_MANIFEST, &a).unwrap();
        assert_eq!(
            (bytes.as_slice(), t.as_str()),
            (&docker[..], DOCKER_MANIFEST)
        );
        // Nothing asked: the bytes, and so the digest, are unchanged.
        let (bytes, _) = annotate_ready(oci, OCI_MANIFEST, &BTreeMap::new()).unwrap();
        assert_eq!(bytes, oci);
    }
}

mod client;
mod error;
mod tarball;

pub use error::{DistributionError, TarPushError};

use client::Registry;
use tarball::*;
