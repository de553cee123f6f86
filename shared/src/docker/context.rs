//! The build context: which files of the context directory go to the daemon, and their tar.
//!
//! [`scan`] decides everything that can fail before a build request is sent — the directory is
//! readable, `.dockerignore` parses, the Dockerfile exists, every entry can be stat'ed — and
//! yields a [`Manifest`]. [`stream`] then packs the manifest in a thread of its own into a
//! bounded channel of chunks that the request body reads, so packing, sending and the daemon's
//! unpacking overlap and memory stays a few chunks deep whatever the context's size; [`pack`]
//! writes the same tar into memory (the BuildKit session needs it whole, and tests read it).
//!
//! `.dockerignore` is applied as the docker CLI does (patterns are relative to the context root;
//! `!` re-includes), symlinks are kept as links (never followed out of the tree), and the
//! Dockerfile is added under a private name when it lives outside the context or is ignored.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use tokio::sync::{mpsc, oneshot};

use super::DockerError;

/// One chunk of the streamed tar. Big enough that the channel and hyper handle few of them, small
/// enough that the chunks in flight stay a few MiB.
const CHUNK: usize = 512 * 1024;
/// Chunks queued between the packer and the request body: enough to keep both sides busy.
const DEPTH: usize = 4;

/// A context packed in memory.
pub struct Context {
    /// The tar (gzip-compressed when asked).
    pub tar: Vec<u8>,
    /// The Dockerfile's path inside the tar.
    pub dockerfile: String,
    /// How many files went in.
    pub files: usize,
}

/// What goes in the tar, in order; checked, not yet read.
pub struct Manifest {
    dir: PathBuf,
    entries: Vec<Entry>,
    /// The Dockerfile when it is not among `entries` (outside the context, or ignored); it goes
    /// in last under [`Manifest::dockerfile`].
    extra_dockerfile: Option<PathBuf>,
    dockerfile: String,
    files: usize,
}

struct Entry {
    /// The path inside the context (and the tar).
    rel: PathBuf,
    is_dir: bool,
}

impl Manifest {
    /// The Dockerfile's path inside the tar.
    pub fn dockerfile(&self) -> &str {
        &self.dockerfile
    }

    /// True when the Dockerfile goes in under a private name (it is outside the context, or the
    /// `.dockerignore` excludes it): only the legacy builder hides such a file from `COPY`.
    pub fn dockerfile_is_private(&self) -> bool {
        self.extra_dockerfile.is_some()
    }

    /// How many files (anything but directories) of the context go in.
    pub fn files(&self) -> usize {
        self.files
    }

    /// The whole tar in memory.
    pub fn pack(&self, compress: bool) -> Result<Context, DockerError> {
        Ok(Context {
            tar: write_tar(self, Vec::new(), compress)?,
            dockerfile: self.dockerfile.clone(),
            files: self.files,
        })
    }

    fn error(&self, reason: String) -> DockerError {
        context_error(&self.dir, reason)
    }
}

fn context_error(dir: &Path, reason: String) -> DockerError {
    DockerError::Context {
        path: dir.display().to_string(),
        reason,
    }
}

/// Packs `dir` (with `dockerfile`, a path relative to the working directory) in memory.
pub fn pack(dir: &Path, dockerfile: &Path, compress: bool) -> Result<Context, DockerError> {
    scan(dir, dockerfile)?.pack(compress)
}

/// Walks `dir` and decides what goes in; reads no file's content.
pub fn scan(dir: &Path, dockerfile: &Path) -> Result<Manifest, DockerError> {
    let err = |reason: String| context_error(dir, reason);
    let ignore = matcher(dir).map_err(err)?;
    let mut entries = Vec::new();
    let mut files = 0usize;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let mut listing: Vec<_> = std::fs::read_dir(&abs)
            .map_err(|e| err(format!("cannot read {}: {e}", abs.display())))?
            .filter_map(Result::ok)
            .collect();
        listing.sort_by_key(|e| e.file_name());
        for entry in listing {
            let rel_path = rel.join(entry.file_name());
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(|e| err(format!("cannot stat {}: {e}", rel_path.display())))?;
            let is_dir = meta.is_dir();
            let always = rel_path == Path::new(".dockerignore");
            if !always
                && ignore
                    .matched_path_or_any_parents(&rel_path, is_dir)
                    .is_ignore()
            {
                // An excluded directory may still hold re-included files (`!dir/keep`).
                if is_dir && has_negations(&ignore) {
                    stack.push(rel_path);
                }
                continue;
            }
            if is_dir {
                stack.push(rel_path.clone());
            } else {
                files += 1;
            }
            entries.push(Entry {
                rel: rel_path,
                is_dir,
            });
        }
    }
    // The Dockerfile always goes in, even when ignored or outside the context; checked here so
    // that a missing one fails before the request, not halfway through the upload.
    match std::fs::metadata(dockerfile) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(err(format!(
                "the Dockerfile {} is not a file",
                dockerfile.display()
            )));
        }
        Err(e) => {
            return Err(err(format!(
                "cannot read the Dockerfile {}: {e}",
                dockerfile.display()
            )));
        }
    }
    let (name, extra) = match dockerfile.strip_prefix(dir) {
        Ok(inside)
            if !ignore
                .matched_path_or_any_parents(inside, false)
                .is_ignore() =>
        {
            (inside.to_string_lossy().into_owned(), None)
        }
        _ => (
            format!(".longshore-dockerfile-{}", crate::files::random_suffix()),
            Some(dockerfile.to_path_buf()),
        ),
    };
    Ok(Manifest {
        dir: dir.to_path_buf(),
        entries,
        extra_dockerfile: extra,
        dockerfile: name,
        files,
    })
}

/// Writes the manifest's tar (gzip-compressed when asked) into `out` and hands `out` back.
pub fn write_tar<W: Write>(m: &Manifest, out: W, compress: bool) -> Result<W, DockerError> {
    if compress {
        let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        append_all(m, gz)?
            .finish()
            .map_err(|e| m.error(format!("cannot compress: {e}")))
    } else {
        append_all(m, out)
    }
}

fn append_all<W: Write>(m: &Manifest, out: W) -> Result<W, DockerError> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Deterministic);
    let hiding = match &m.extra_dockerfile {
        Some(_) => Some(dockerignore_hiding(&m.dir, &m.dockerfile).map_err(|e| m.error(e))?),
        None => None,
    };
    let mut wrote_ignore = false;
    for e in &m.entries {
        let abs = m.dir.join(&e.rel);
        if let (Some(text), true) = (&hiding, e.rel == Path::new(".dockerignore")) {
            append_bytes(&mut builder, ".dockerignore", text)
                .map_err(|err| m.error(format!("cannot add .dockerignore: {err}")))?;
            wrote_ignore = true;
            continue;
        }
        let added = if e.is_dir {
            builder.append_dir(&e.rel, &abs)
        } else {
            builder.append_path_with_name(&abs, &e.rel)
        };
        added.map_err(|err| m.error(format!("cannot add {}: {err}", e.rel.display())))?;
    }
    if let (Some(text), false) = (&hiding, wrote_ignore) {
        append_bytes(&mut builder, ".dockerignore", text)
            .map_err(|err| m.error(format!("cannot add .dockerignore: {err}")))?;
    }
    if let Some(path) = &m.extra_dockerfile {
        builder
            .append_path_with_name(path, &m.dockerfile)
            .map_err(|e| m.error(format!("cannot add the Dockerfile: {e}")))?;
    }
    builder
        .into_inner()
        .map_err(|e| m.error(format!("cannot end the tar: {e}")))
}

/// One regular file of `bytes` at `name`, owned by root, mode 0644 (what the CLI writes).
fn append_bytes<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, bytes)
}

/// How a streamed packing ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Packed {
    /// The whole tar went into the body: this many bytes (compressed when asked).
    Complete {
        /// The tar's size as sent.
        bytes: u64,
    },
    /// The body was dropped before the end (the request ended first): the request's own outcome
    /// says why.
    Abandoned,
}

/// The packer's verdict, once it stops.
pub struct Packing {
    done: oneshot::Receiver<Result<Packed, DockerError>>,
    dir: PathBuf,
}

impl Packing {
    /// Waits for the packer to stop. A packer that failed says which path and why, which the
    /// request's error ("error from user's Body stream") cannot.
    pub async fn outcome(self) -> Result<Packed, DockerError> {
        match self.done.await {
            Ok(verdict) => verdict,
            // Only a panic in the packer drops the sender without a verdict.
            Err(_) => Err(context_error(
                &self.dir,
                "the packer stopped unexpectedly".into(),
            )),
        }
    }
}

/// Packs `m` in a thread of its own; returns the tar as a stream of chunks for the request body
/// and the packer's verdict. The stream ends cleanly only after the whole tar: a packer that fails
/// (or panics) ends it with an error, so the daemon never builds from a truncated context.
pub fn stream(
    m: Manifest,
    compress: bool,
) -> Result<
    (
        impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
        Packing,
    ),
    DockerError,
> {
    let (tx, rx) = mpsc::channel(DEPTH);
    let (done_tx, done) = oneshot::channel();
    let dir = m.dir.clone();
    // A plain thread, not spawn_blocking: a packer blocked on a body that nobody reads any more
    // must not hold up the runtime's shutdown at exit.
    std::thread::Builder::new()
        .name("longshore-context".into())
        .spawn(move || {
            let verdict = pack_into(&m, tx, compress);
            // Nobody waiting for the verdict (the build already failed) is not an error.
            drop(done_tx.send(verdict));
        })
        .map_err(|e| context_error(&dir, format!("cannot start the packer thread: {e}")))?;
    let body = futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Chunk::Data(b)) => Some((Ok(b), Some(rx))),
            Some(Chunk::End) => None,
            None => Some((
                Err(std::io::Error::other(
                    "the build context ended early (see the packer's error)",
                )),
                None,
            )),
        }
    });
    Ok((body, Packing { done, dir }))
}

enum Chunk {
    Data(Bytes),
    /// The tar is complete: without it, a closed channel means the packer failed.
    End,
}

fn pack_into(m: &Manifest, tx: mpsc::Sender<Chunk>, compress: bool) -> Result<Packed, DockerError> {
    let mut w = ChannelWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
        sent: 0,
        gone: false,
    };
    let written = write_tar(m, &mut w, compress).map(|_| ());
    match written {
        Ok(()) => match w.finish() {
            Ok(()) => Ok(Packed::Complete { bytes: w.sent }),
            Err(_) => Ok(Packed::Abandoned),
        },
        // The write failed because the body went away: not the context's fault.
        Err(_) if w.gone => Ok(Packed::Abandoned),
        // Returning drops `w` without `End`, which fails the body.
        Err(e) => Err(e),
    }
}

/// Collects writes into chunks and sends each full one, waiting while the channel is full.
struct ChannelWriter {
    tx: mpsc::Sender<Chunk>,
    buf: Vec<u8>,
    sent: u64,
    /// The receiving side was dropped.
    gone: bool,
}

impl ChannelWriter {
    fn send(&mut self, chunk: Chunk) -> std::io::Result<()> {
        if self.gone || self.tx.blocking_send(chunk).is_err() {
            self.gone = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the build request stopped reading the context",
            ));
        }
        Ok(())
    }

    fn send_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let len = full.len() as u64;
        self.send(Chunk::Data(Bytes::from(full)))?;
        self.sent += len;
        Ok(())
    }

    /// Sends what is left and the end marker.
    fn finish(&mut self) -> std::io::Result<()> {
        self.send_buf()?;
        self.send(Chunk::End)
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buf()
    }
}

fn has_negations(ignore: &Gitignore) -> bool {
    ignore.num_whitelists() > 0
}

/// The UTF-8 byte-order mark some editors put first: dockerd drops it, and so must we, or the
/// first pattern (often `.env`) silently matches nothing.
const BOM: &str = "\u{feff}";

/// The text of `dir/.dockerignore`: `None` when there is none. A file that exists but cannot be
/// read is an error, never "no ignore file" (that would send everything it excludes). Bytes that
/// are not UTF-8 are read as U+FFFD within their line, as dockerd reads them byte-wise: every
/// other pattern still applies.
fn read_dockerignore(dir: &Path) -> Result<Option<String>, String> {
    match std::fs::read(dir.join(".dockerignore")) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            Ok(Some(text.strip_prefix(BOM).unwrap_or(&text).to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(".dockerignore cannot be read: {e}")),
    }
}

/// `.dockerignore` as a gitignore matcher with every pattern anchored at the root, which is
/// how docker reads it (`*.log` means root-level `.log` files only; `**/*.log` means any).
fn matcher(dir: &Path) -> Result<Gitignore, String> {
    let mut b = GitignoreBuilder::new(dir);
    if let Some(text) = read_dockerignore(dir)? {
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (neg, pat) = match line.strip_prefix('!') {
                Some(p) => ("!", p.trim()),
                None => ("", line),
            };
            let pat = pat.trim_start_matches("./").trim_start_matches('/');
            let anchored = if pat.starts_with("**") {
                pat.to_string()
            } else {
                format!("/{pat}")
            };
            b.add_line(None, &format!("{neg}{anchored}")).map_err(|e| {
                format!(
                    ".dockerignore: bad pattern '{}': {e}",
                    crate::files::excerpt(line, 80)
                )
            })?;
        }
    }
    b.build().map_err(|e| format!(".dockerignore: {e}"))
}

/// The `.dockerignore` sent when the Dockerfile goes in under a private name: the user's
/// patterns plus that name and `.dockerignore` itself, as the docker CLI sends it, so the daemon
/// drops both from what `COPY . /x` sees.
fn dockerignore_hiding(dir: &Path, private_name: &str) -> Result<Vec<u8>, String> {
    let mut text = read_dockerignore(dir)?.unwrap_or_default();
    text.push_str(&format!("\n.dockerignore\n{private_name}\n"));
    Ok(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        let mut v: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string()
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn dockerignore_is_anchored_and_negations_work() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("sub")).unwrap();
        std::fs::create_dir_all(p.join("build")).unwrap();
        for f in [
            "a.log",
            "sub/b.log",
            "keep.txt",
            "build/out",
            "build/keep",
            "Dockerfile",
        ] {
            std::fs::write(p.join(f), f).unwrap();
        }
        std::fs::write(p.join(".dockerignore"), "*.log\nbuild\n!build/keep\n").unwrap();
        let ctx = pack(p, &p.join("Dockerfile"), false).unwrap();
        assert_eq!(ctx.dockerfile, "Dockerfile");
        assert_eq!(
            names(&ctx.tar),
            vec![
                ".dockerignore",
                "Dockerfile",
                "build/keep",
                "keep.txt",
                "sub",
                "sub/b.log"
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_or_a_non_utf8_byte_still_excludes() {
        for ignore in [
            b"\xef\xbb\xbf.env\n".to_vec(),
            b"\xff junk\n.env\n".to_vec(),
        ] {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join(".dockerignore"), &ignore).unwrap();
            std::fs::write(d.path().join(".env"), "SECRET=1").unwrap();
            std::fs::write(d.path().join("Dockerfile"), "FROM scratch").unwrap();
            let ctx = pack(d.path(), &d.path().join("Dockerfile"), false).unwrap();
            assert!(!names(&ctx.tar).contains(&".env".to_string()), "{ignore:?}");
        }
    }

    #[test]
    fn an_unreadable_dockerignore_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(".dockerignore")).unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM scratch").unwrap();
        assert!(scan(d.path(), &d.path().join("Dockerfile")).is_err());
    }

    #[test]
    fn a_private_dockerfile_is_listed_in_the_dockerignore_sent() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".dockerignore"), "Dockerfile\n").unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM scratch").unwrap();
        let ctx = pack(d.path(), &d.path().join("Dockerfile"), false).unwrap();
        let mut a = tar::Archive::new(&ctx.tar[..]);
        let mut sent = String::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap() == Path::new(".dockerignore") {
                std::io::Read::read_to_string(&mut e, &mut sent).unwrap();
            }
        }
        assert!(sent.starts_with("Dockerfile\n"), "{sent}");
        assert!(sent.contains(&format!("\n{}\n", ctx.dockerfile)), "{sent}");
        assert!(sent.contains("\n.dockerignore\n"), "{sent}");
    }

    #[test]
    fn dockerfile_outside_the_context_is_added() {
        let d = tempfile::tempdir().unwrap();
        let ctx_dir = d.path().join("ctx");
        std::fs::create_dir_all(&ctx_dir).unwrap();
        std::fs::write(ctx_dir.join("x"), "x").unwrap();
        std::fs::write(d.path().join("Dockerfile.app"), "FROM scratch").unwrap();
        let ctx = pack(&ctx_dir, &d.path().join("Dockerfile.app"), false).unwrap();
        assert!(ctx.dockerfile.starts_with(".longshore-dockerfile-"));
        assert!(names(&ctx.tar).contains(&ctx.dockerfile));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ctx");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("Dockerfile"), "FROM scratch").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", p.join("link")).unwrap();
        let ctx = pack(&p, &p.join("Dockerfile"), false).unwrap();
        let mut a = tar::Archive::new(&ctx.tar[..]);
        let link = a
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path().unwrap().ends_with("link"))
            .unwrap();
        assert!(link.header().entry_type().is_symlink());
    }

    /// Collects a streamed body; the first error ends it.
    async fn collect(
        body: impl Stream<Item = std::io::Result<Bytes>>,
    ) -> (Vec<u8>, Option<std::io::Error>) {
        use futures_util::StreamExt as _;
        let mut body = std::pin::pin!(body);
        let mut out = Vec::new();
        while let Some(item) = body.next().await {
            match item {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    /// A context bigger than the chunks in flight, so the packer waits on the channel.
    fn big_context() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ctx");
        std::fs::create_dir_all(p.join("sub")).unwrap();
        std::fs::write(p.join("Dockerfile"), "FROM scratch\n").unwrap();
        let big: Vec<u8> = (0..3 * CHUNK * DEPTH + 12345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        std::fs::write(p.join("sub/big.bin"), &big).unwrap();
        std::fs::write(p.join("small.txt"), "small").unwrap();
        std::fs::write(p.join(".dockerignore"), "*.log\n").unwrap();
        std::fs::write(p.join("skip.log"), "skip").unwrap();
        // Outside the context: goes in last under a private name.
        std::fs::write(d.path().join("Dockerfile.app"), "FROM scratch\n").unwrap();
        d
    }

    #[tokio::test]
    async fn streamed_bytes_equal_the_in_memory_tar() {
        let d = big_context();
        let p = d.path().join("ctx");
        for compress in [false, true] {
            let m = scan(&p, &d.path().join("Dockerfile.app")).unwrap();
            let expected = m.pack(compress).unwrap();
            assert_eq!(expected.files, 4);
            let (body, packing) = stream(m, compress).unwrap();
            let (got, err) = collect(body).await;
            assert!(err.is_none(), "{err:?}");
            assert_eq!(got.len(), expected.tar.len());
            assert!(got == expected.tar, "compress={compress}: the bytes differ");
            assert_eq!(
                packing.outcome().await.unwrap(),
                Packed::Complete {
                    bytes: got.len() as u64
                }
            );
        }
        // The compressed stream is the same tar.
        let m = scan(&p, &p.join("Dockerfile")).unwrap();
        let plain = m.pack(false).unwrap().tar;
        let (body, _packing) = stream(m, true).unwrap();
        let (gz, _) = collect(body).await;
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped)
            .unwrap();
        assert!(unzipped == plain);
        assert_eq!(
            names(&plain),
            vec![
                ".dockerignore",
                "Dockerfile",
                "small.txt",
                "sub",
                "sub/big.bin"
            ]
        );
    }

    #[tokio::test]
    async fn a_file_gone_mid_stream_fails_the_body_and_names_the_file() {
        let d = big_context();
        let p = d.path().join("ctx");
        for compress in [false, true] {
            let m = scan(&p, &p.join("Dockerfile")).unwrap();
            // Gone after the scan, as when something deletes it during the upload.
            std::fs::rename(p.join("sub/big.bin"), d.path().join("moved")).unwrap();
            let (body, packing) = stream(m, compress).unwrap();
            let (_, err) = collect(body).await;
            assert!(err.is_some(), "the body must not end cleanly");
            let e = packing.outcome().await.unwrap_err().to_string();
            assert!(e.starts_with("cannot pack the build context "), "{e}");
            assert!(e.contains("cannot add sub/big.bin: "), "{e}");
            std::fs::rename(d.path().join("moved"), p.join("sub/big.bin")).unwrap();
        }
    }

    #[tokio::test]
    async fn a_dropped_body_abandons_the_packer() {
        let d = big_context();
        let p = d.path().join("ctx");
        let m = scan(&p, &p.join("Dockerfile")).unwrap();
        let (body, packing) = stream(m, false).unwrap();
        drop(body);
        assert_eq!(packing.outcome().await.unwrap(), Packed::Abandoned);
    }

    #[test]
    fn a_bad_context_fails_the_scan() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::write(p.join("Dockerfile"), "FROM scratch").unwrap();
        let missing = scan(&p.join("nope"), &p.join("Dockerfile"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            missing.starts_with("cannot pack the build context "),
            "{missing}"
        );
        assert!(missing.contains("cannot read "), "{missing}");
        let no_dockerfile = scan(p, &p.join("Dockerfile.none"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            no_dockerfile.contains("cannot read the Dockerfile "),
            "{no_dockerfile}"
        );
        std::fs::write(p.join(".dockerignore"), "a{b\n").unwrap();
        let bad = scan(p, &p.join("Dockerfile")).err().unwrap().to_string();
        assert!(bad.contains(".dockerignore: bad pattern 'a{b'"), "{bad}");
    }
}
