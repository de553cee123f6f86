//! The body and integrity checksum of one S3 request (a PutObject or an UploadPart): which
//! checksum is sent ([`Checksum`], the `PLUGIN_CHECKSUM` setting), and the read of the file range
//! that computes it.
//!
//! Why a read of our own: a checksum sent as a header must be known before the body, so the SDK
//! cannot compute it while streaming (it can only as an `aws-chunked` trailer, which many
//! S3-compatible stores refuse). The range is therefore read once, in large blocking reads, and
//! hashed block by block while the block is still in the cache; when the memory budget allows,
//! the bytes read are kept and become the request body, so the file is read once. Otherwise the
//! checksum pass is followed by the SDK's own streamed read of the same range.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;

/// The integrity checksum sent with every object or part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Checksum {
    /// The SDK's own flexible checksum (CRC32 as a streamed trailer): the default on AWS.
    #[default]
    Sdk,
    /// `Content-MD5`: checked by every S3-compatible store; the default on custom endpoints.
    Md5,
    /// `x-amz-checksum-crc32`.
    Crc32,
    /// `x-amz-checksum-crc32c` (hardware-accelerated: the cheapest to compute).
    Crc32c,
    /// `x-amz-checksum-sha256`.
    Sha256,
    /// No checksum: the body is protected by TCP (and TLS) only, as the anchor plugin does on
    /// custom endpoints.
    None,
}

/// The values `PLUGIN_CHECKSUM` accepts.
pub const CHECKSUM_NAMES: &[&str] = &["auto", "md5", "crc32", "crc32c", "sha256", "none"];

impl Checksum {
    /// The checksum named by `PLUGIN_CHECKSUM`; `auto` is MD5 on a custom endpoint (the one
    /// checksum every S3-compatible store verifies) and the SDK's CRC32 on AWS.
    pub fn from_setting(name: &str, custom_endpoint: bool) -> Option<Checksum> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "" | "auto" if custom_endpoint => Checksum::Md5,
            "" | "auto" => Checksum::Sdk,
            "md5" => Checksum::Md5,
            "crc32" => Checksum::Crc32,
            "crc32c" => Checksum::Crc32c,
            "sha256" => Checksum::Sha256,
            "none" => Checksum::None,
            _ => return None,
        })
    }

    /// Whether we compute it (rather than the SDK, or nobody).
    pub fn computed(self) -> bool {
        !matches!(self, Checksum::Sdk | Checksum::None)
    }

    /// The flexible checksum algorithm to declare on CreateMultipartUpload, if any.
    pub fn algorithm(self) -> Option<aws_sdk_s3::types::ChecksumAlgorithm> {
        use aws_sdk_s3::types::ChecksumAlgorithm as A;
        match self {
            Checksum::Crc32 => Some(A::Crc32),
            Checksum::Crc32c => Some(A::Crc32C),
            Checksum::Sha256 => Some(A::Sha256),
            _ => None,
        }
    }
}

/// A checksum value of a byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sum {
    /// Which checksum.
    pub kind: Checksum,
    /// The raw digest (an MD5 is also compared with the ETag).
    pub raw: Vec<u8>,
}

impl Sum {
    /// Base64, as the S3 headers carry it.
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.raw)
    }
}

enum Hasher {
    Md5(md5::Md5),
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn new(kind: Checksum) -> Option<Hasher> {
        use md5::Digest as _;
        Some(match kind {
            Checksum::Md5 => Hasher::Md5(md5::Md5::new()),
            Checksum::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            Checksum::Crc32c => Hasher::Crc32c(0),
            Checksum::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Checksum::Sdk | Checksum::None => return None,
        })
    }

    fn update(&mut self, data: &[u8]) {
        use md5::Digest as _;
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Hasher::Sha256(h) => sha2::Digest::update(h, data),
        }
    }

    fn finish(self) -> Vec<u8> {
        use md5::Digest as _;
        match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            // S3 sends CRCs big-endian.
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc32c(c) => c.to_be_bytes().to_vec(),
            Hasher::Sha256(h) => sha2::Digest::finalize(h).to_vec(),
        }
    }
}

/// How much of a read is hashed at once: large enough for few system calls, small enough to hash
/// the block while it is still in the CPU cache.
const BLOCK: usize = 1 << 20;

/// Bytes of file data that may be held in memory as request bodies at once (the default part
/// size times the default part concurrency). A read that does not fit is not kept: its body is
/// streamed from the file instead, so memory stays bounded whatever the mix of files.
pub const BUFFER_BUDGET: usize = 32 * 1024 * 1024;

/// Buffers from this size up are reused rather than freed: a fresh large buffer per part costs
/// page faults, and the allocator keeps freed ones around anyway (measured: 76–84 MiB peak RSS
/// for a 1 GiB upload with fresh 8 MiB buffers, against a 32 MiB budget).
const REUSE_FROM: usize = 1 << 20;

#[derive(Default)]
struct PoolState {
    /// Bytes of buffers lent out (a buffer counts until the last copy of its body is dropped).
    lent: usize,
    /// Buffers given back, each filled to its capacity.
    spare: Vec<Vec<u8>>,
}

/// The buffers of a run: at most [`BUFFER_BUDGET`] bytes lent at once, large ones reused.
#[derive(Clone)]
pub struct BufferPool {
    state: Arc<Mutex<PoolState>>,
    limit: usize,
}

impl Default for BufferPool {
    fn default() -> Self {
        BufferPool::with_limit(BUFFER_BUDGET)
    }
}

impl BufferPool {
    fn with_limit(limit: usize) -> BufferPool {
        BufferPool {
            state: Arc::default(),
            limit,
        }
    }

    /// A buffer of at least `len` bytes, if it fits in the budget now (never waits).
    fn lend(&self, len: usize) -> Option<Vec<u8>> {
        let mut st = self.state.lock().ok()?;
        // The smallest spare buffer that is large enough and fits.
        let room = self.limit.checked_sub(st.lent)?;
        let pick = st
            .spare
            .iter()
            .enumerate()
            .filter(|(_, v)| v.len() >= len && v.len() <= room)
            .min_by_key(|(_, v)| v.len())
            .map(|(i, _)| i);
        let buf = match pick {
            Some(i) => st.spare.swap_remove(i),
            None if len <= room => vec![0u8; len],
            None => return None,
        };
        st.lent += buf.len();
        Some(buf)
    }

    /// Takes a buffer back when the last copy of its body is gone.
    fn give_back(&self, buf: Vec<u8>) {
        if let Ok(mut st) = self.state.lock() {
            st.lent = st.lent.saturating_sub(buf.len());
            let spare: usize = st.spare.iter().map(Vec::len).sum();
            if buf.len() >= REUSE_FROM && spare + buf.len() <= self.limit {
                st.spare.push(buf);
            }
        }
    }
}

/// A lent buffer as the owner of a request body: `len` bytes of it are the body, and dropping
/// it (when the SDK and we no longer hold the body) returns it to the pool.
struct Lent {
    buf: Vec<u8>,
    len: usize,
    pool: BufferPool,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

/// A range read for a request: its checksum, and its bytes when they were kept.
pub struct Loaded {
    /// The checksum (`None` when [`Checksum::computed`] is false).
    pub sum: Option<Sum>,
    /// The range's bytes, to send as the body; `None`: stream it from the file.
    pub body: Option<Bytes>,
}

/// Reads `len` bytes at `offset` of `path` once, computing `kind`. The bytes are kept when the
/// budget has room; with nothing to compute and no room, nothing is read.
pub async fn load(
    path: &Path,
    offset: u64,
    len: u64,
    kind: Checksum,
    budget: &BufferPool,
) -> std::io::Result<Loaded> {
    let buf = usize::try_from(len).ok().and_then(|n| budget.lend(n));
    if buf.is_none() && !kind.computed() {
        return Ok(Loaded {
            sum: None,
            body: None,
        });
    }
    let path = path.to_path_buf();
    let pool = budget.clone();
    tokio::task::spawn_blocking(move || {
        let mut buf = buf;
        let read = read_range(&path, offset, len, kind, buf.as_deref_mut());
        let body = buf.map(|buf| {
            // Built before the error check, so a failed read gives the buffer back too.
            Bytes::from_owner(Lent {
                buf,
                len: len as usize,
                pool,
            })
        });
        Ok(Loaded { sum: read?, body })
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The blocking read behind [`load`]: `len` bytes at `offset`, into `keep` when given (at least
/// `len` long), hashed block by block.
fn read_range(
    path: &Path,
    offset: u64,
    len: u64,
    kind: Checksum,
    keep: Option<&mut [u8]>,
) -> std::io::Result<Option<Sum>> {
    let mut f = crate::upload::local_fs::open_selected(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    let mut hasher = Hasher::new(kind);
    // Kept: the whole range, filled block by block. Not kept: one block, reused.
    let mut scratch = Vec::new();
    let (buf, keep) = match keep {
        Some(b) => (b, true),
        None => {
            scratch.resize(BLOCK.min(len), 0);
            (scratch.as_mut_slice(), false)
        }
    };
    let mut done = 0usize;
    while done < len {
        let want = BLOCK.min(len - done);
        let start = if keep { done } else { 0 };
        let block = &mut buf[start..start + want];
        let mut filled = 0;
        while filled < want {
            let n = f.read(&mut block[filled..])?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was being uploaded",
                ));
            }
            filled += n;
        }
        if let Some(h) = hasher.as_mut() {
            h.update(block);
        }
        done += want;
    }
    Ok(hasher.map(|h| Sum {
        kind,
        raw: h.finish(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, data).unwrap();
        f
    }

    fn sum(kind: Checksum, data: &[u8], offset: u64, len: u64, keep: bool) -> String {
        let f = file(data);
        let mut buf = vec![0u8; len as usize + 3];
        let s = read_range(f.path(), offset, len, kind, keep.then_some(&mut buf[..])).unwrap();
        if keep {
            let o = offset as usize;
            assert_eq!(
                &buf[..len as usize],
                &data[o..o + len as usize],
                "kept bytes"
            );
        }
        s.unwrap().base64()
    }

    #[test]
    fn known_values_in_the_s3_encoding() {
        // "hello world": the values S3's documentation and `openssl dgst` give.
        let d = b"hello world";
        let n = d.len() as u64;
        for keep in [false, true] {
            assert_eq!(
                sum(Checksum::Md5, d, 0, n, keep),
                "XrY7u+Ae7tCTyyK7j1rNww=="
            );
            assert_eq!(sum(Checksum::Crc32, d, 0, n, keep), "DUoRhQ==");
            assert_eq!(sum(Checksum::Crc32c, d, 0, n, keep), "yZRlqg==");
            assert_eq!(
                sum(Checksum::Sha256, d, 0, n, keep),
                "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
            );
        }
    }

    #[test]
    fn a_range_across_blocks_is_hashed_and_kept_whole() {
        let data: Vec<u8> = (0..3 * BLOCK + 123).map(|i| (i * 31 % 251) as u8).collect();
        let (off, len) = (BLOCK as u64 / 2, 2 * BLOCK as u64 + 7);
        let expected = {
            use md5::Digest as _;
            let o = off as usize;
            base64::engine::general_purpose::STANDARD
                .encode(md5::Md5::digest(&data[o..o + len as usize]))
        };
        assert_eq!(sum(Checksum::Md5, &data, off, len, true), expected);
        assert_eq!(sum(Checksum::Md5, &data, off, len, false), expected);
    }

    #[test]
    fn a_file_that_shrank_is_an_error() {
        let f = file(b"short");
        let mut buf = vec![0u8; 100];
        let e = read_range(f.path(), 0, 100, Checksum::Crc32c, Some(&mut buf)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn settings_names() {
        assert_eq!(Checksum::from_setting("auto", true), Some(Checksum::Md5));
        assert_eq!(Checksum::from_setting("", false), Some(Checksum::Sdk));
        assert_eq!(
            Checksum::from_setting("CRC32C", true),
            Some(Checksum::Crc32c)
        );
        assert_eq!(Checksum::from_setting("none", false), Some(Checksum::None));
        assert_eq!(Checksum::from_setting("crc64", false), None);
        for n in CHECKSUM_NAMES {
            assert!(Checksum::from_setting(n, true).is_some(), "{n}");
        }
    }

    #[tokio::test]
    async fn the_budget_keeps_what_fits_streams_the_rest_and_reuses_buffers() {
        let data: Vec<u8> = (0..REUSE_FROM + 10).map(|i| i as u8).collect();
        let f = file(&data);
        let n = data.len() as u64;
        let budget = BufferPool::with_limit(REUSE_FROM + 100);
        let a = load(f.path(), 0, n, Checksum::None, &budget).await.unwrap();
        assert_eq!(a.body.as_deref(), Some(&data[..]));
        assert!(a.sum.is_none());
        // The budget is used up: the next read is hashed but not kept.
        let b = load(f.path(), 0, n, Checksum::Md5, &budget).await.unwrap();
        assert!(b.body.is_none() && b.sum.is_some());
        // A copy of the body (as the SDK keeps for retries) holds the buffer.
        let copy = a.body.clone();
        drop(a);
        assert_eq!(budget.state.lock().unwrap().lent, data.len());
        drop(copy);
        assert_eq!(budget.state.lock().unwrap().lent, 0);
        // Given back and reused for a smaller read.
        let c = load(f.path(), 5, 1000, Checksum::Md5, &budget)
            .await
            .unwrap();
        assert_eq!(c.body.as_deref(), Some(&data[5..1005]));
        assert_eq!(
            budget.state.lock().unwrap().spare.len(),
            0,
            "the spare was taken"
        );
        // Nothing to compute and no room: nothing is read.
        let d = load(f.path(), 0, n, Checksum::None, &budget).await.unwrap();
        assert!(d.body.is_none() && d.sum.is_none());
    }
}
