//! Reading an image tarball (`docker save` or an OCI layout) without a daemon: its index,
//! manifests and layers, each layer compressed to a private spool in parallel blocks.

use super::*;

pub(super) struct Entry {
    offset: u64,
    len: u64,
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

pub(super) fn read_image(tarball: &Path) -> Result<Image, DistributionError> {
    let file = std::fs::File::open(tarball).map_err(|source| DistributionError::File {
        action: "open",
        path: tarball.to_path_buf(),
        source,
    })?;
    let mut archive = tar::Archive::new(file);
    let mut entries: HashMap<String, Entry> = HashMap::new();
    // Seek over the members' contents instead of reading them: only the headers are needed.
    for e in archive
        .entries_with_seek()
        .map_err(|source| DistributionError::NotTar {
            path: tarball.to_path_buf(),
            source,
        })?
    {
        let e = e.map_err(|source| DistributionError::BadTar {
            path: tarball.to_path_buf(),
            source,
        })?;
        let name = e
            .path()?
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
            .ok_or_else(|| DistributionError::Missing {
                path: tarball.to_path_buf(),
                name: name.to_string(),
            })?;
        if en.len > 64 * 1024 * 1024 {
            return Err(DistributionError::TooLarge {
                name: name.to_string(),
                path: tarball.to_path_buf(),
            });
        }
        let mut f = std::fs::File::open(tarball)?;
        f.seek(SeekFrom::Start(en.offset))?;
        let mut buf = vec![0u8; en.len as usize];
        f.read_exact(&mut buf)?;
        Ok(buf)
    };
    let tmp =
        crate::files::private_tempdir("longshore-push-").map_err(DistributionError::TempDir)?;
    if entries.contains_key("manifest.json") {
        docker_save(tarball, &entries, &read, tmp)
    } else if entries.contains_key("index.json") {
        oci_layout(&entries, &read, tmp)
    } else {
        Err(DistributionError::NotAnImage {
            path: tarball.to_path_buf(),
        })
    }
}

pub(super) fn docker_save(
    tarball: &Path,
    entries: &HashMap<String, Entry>,
    read: &dyn Fn(&str) -> Result<Vec<u8>, DistributionError>,
    tmp: tempfile::TempDir,
) -> Result<Image, DistributionError> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&read("manifest.json")?).map_err(|source| {
            DistributionError::NotJson {
                name: "manifest.json",
                source,
            }
        })?;
    let first = manifest
        .get(0)
        .ok_or_else(|| DistributionError::Layout("manifest.json lists no image"))?;
    if manifest.as_array().is_some_and(|a| a.len() > 1) {
        warn!("the tarball holds several images; pushing the first");
    }
    let config_name = first["Config"]
        .as_str()
        .ok_or_else(|| DistributionError::Layout("manifest.json has no Config"))?;
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
        .ok_or_else(|| DistributionError::Layout("manifest.json has no Layers"))?
    {
        let name = layer
            .as_str()
            .ok_or_else(|| DistributionError::Layout("a layer name is not a string"))?;
        let en = entries
            .get(name)
            .ok_or_else(|| DistributionError::Missing {
                path: tarball.to_path_buf(),
                name: name.to_string(),
            })?;
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
pub(super) const GZIP_BLOCK: usize = 1 << 20;

/// Compresses a tar range deterministically (no timestamp, fixed level and block size) into
/// `spool`; returns the compressed blob's digest and size.
pub(super) fn gzip_range(
    tarball: &Path,
    offset: u64,
    len: u64,
    spool: Spool,
) -> Result<(String, u64), DistributionError> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    gzip_range_on(tarball, offset, len, spool, threads)
}

pub(super) fn gzip_range_on(
    tarball: &Path,
    offset: u64,
    len: u64,
    spool: Spool,
    threads: usize,
) -> Result<(String, u64), DistributionError> {
    use gzp::ZWriter as _;
    let mut f = std::fs::File::open(tarball)?;
    f.seek(SeekFrom::Start(offset))?;
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
            .map_err(DistributionError::Compressor)?
            .compression_level(flate2::Compression::fast())
            .from_borrowed_writer(&mut w, scope);
        let copied = std::io::copy(&mut src, &mut gz);
        // finish() always, even after a failed read: a compressor dropped unfinished panics.
        let finished = gz.finish();
        let copied = copied.map_err(DistributionError::Compress)?;
        finished.map_err(DistributionError::CompressEnd)?;
        Ok::<u64, DistributionError>(copied)
    })?;
    if copied != len {
        return Err(DistributionError::Shrank {
            path: tarball.to_path_buf(),
        });
    }
    let digest = format!("sha256:{}", hex::encode(w.hash.finalize()));
    let size = w.inner.finish().map_err(DistributionError::Spool)?;
    Ok((digest, size))
}

/// How deep indexes may nest in an OCI layout: real ones nest once (a multi-platform index).
pub(super) const MAX_INDEX_DEPTH: usize = 4;

pub(super) fn oci_layout(
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
            return Err(DistributionError::BlobDigest {
                blob: crate::files::excerpt(d, 80),
                actual,
            });
        }
        Ok(bytes)
    };
    let index: serde_json::Value =
        serde_json::from_slice(&read("index.json")?).map_err(|source| {
            DistributionError::NotJson {
                name: "index.json",
                source,
            }
        })?;
    let mut desc = index["manifests"]
        .get(0)
        .cloned()
        .ok_or_else(|| DistributionError::Layout("index.json lists no manifest"))?;
    // A nested index (multi-platform): take its first manifest, a few levels deep at most.
    let mut depth = 0;
    while desc["mediaType"] == OCI_INDEX {
        depth += 1;
        if depth > MAX_INDEX_DEPTH {
            return Err(DistributionError::Nesting);
        }
        let d = desc["digest"]
            .as_str()
            .ok_or_else(|| DistributionError::Layout("a descriptor has no digest"))?;
        let nested: serde_json::Value = serde_json::from_slice(&read_blob(d)?)?;
        desc = nested["manifests"]
            .get(0)
            .cloned()
            .ok_or_else(|| DistributionError::Layout("a nested index lists no manifest"))?;
    }
    let digest = desc["digest"]
        .as_str()
        .ok_or_else(|| DistributionError::Layout("the manifest descriptor has no digest"))?;
    let manifest = read_blob(digest)?;
    let m: serde_json::Value = serde_json::from_slice(&manifest)?;
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
            .ok_or_else(|| DistributionError::Layout("a blob descriptor has no digest"))?
            .to_string();
        let en = entries
            .get(&blob_name(&digest))
            .ok_or_else(|| DistributionError::NoBlob {
                digest: digest.clone(),
            })?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(err.to_string().contains("has digest"), "{err}");
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
        assert!(
            err.to_string().contains("changed while it was read"),
            "{err}"
        );
    }
}
