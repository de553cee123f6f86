//! A spool file that one thread writes while an HTTP body reads it as it grows.
//!
//! The daemonless push compresses a `docker save` layer into a private temporary file. The
//! compressed bytes are uploaded while they are being made ([`Spool`] publishes how much of the
//! file is written; [`follow`] streams it up to that point and waits for more), so the push costs
//! the larger of compression and upload, not their sum. The compressor never waits for the
//! network: on a slow link the upload trails behind, and when the digest turns out to be one the
//! registry already has, the upload is dropped having sent only what went out meanwhile. The
//! finished file stays as the copy a failed upload is sent again from ([`follow`] with
//! [`Progress::finished`]).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::Stream;

/// Bytes written to the file before they are published to the reader: large enough that the
/// file is written in few system calls, small enough that the upload starts at once.
const CHUNK: usize = 256 * 1024;

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const FAILED: u8 = 2;

/// How far the writer has got, shared with the reader.
#[derive(Debug, Default)]
pub struct Progress {
    written: AtomicU64,
    state: AtomicU8,
    notify: tokio::sync::Notify,
}

impl Progress {
    /// The progress of a file that is already complete (`len` bytes).
    pub fn finished(len: u64) -> Arc<Progress> {
        Arc::new(Progress {
            written: AtomicU64::new(len),
            state: AtomicU8::new(DONE),
            notify: tokio::sync::Notify::new(),
        })
    }

    fn publish(&self, written: u64, state: u8) {
        self.written.store(written, Ordering::Release);
        // The state is stored after the length: a reader that sees DONE sees the final length.
        self.state.store(state, Ordering::Release);
        // notify_one keeps a permit when nobody waits, so a reader that checked just before this
        // store and is about to wait is woken all the same.
        self.notify.notify_one();
    }
}

/// The writing side: buffers `CHUNK` bytes, writes them to the file, then publishes them.
pub struct Spool {
    file: File,
    buf: Vec<u8>,
    written: u64,
    progress: Arc<Progress>,
    finished: bool,
}

impl Spool {
    /// A spool writing to `file`, and the progress its reader follows.
    pub fn new(file: File) -> (Spool, Arc<Progress>) {
        let progress = Arc::new(Progress::default());
        let spool = Spool {
            file,
            buf: Vec::with_capacity(CHUNK),
            written: 0,
            progress: progress.clone(),
            finished: false,
        };
        (spool, progress)
    }

    fn drain(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
            self.progress.publish(self.written, RUNNING);
        }
        Ok(())
    }

    /// Writes what is buffered and tells the reader that the file is complete.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.drain()?;
        self.finished = true;
        self.progress.publish(self.written, DONE);
        Ok(self.written)
    }
}

impl Write for Spool {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = b.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() == CHUNK {
            self.drain()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.drain()
    }
}

impl Drop for Spool {
    /// A spool dropped before `finish` (the compressor failed): the reader ends with an error
    /// instead of waiting for bytes that will never come, or sending a truncated blob.
    fn drop(&mut self) {
        if !self.finished {
            self.progress.publish(self.written, FAILED);
        }
    }
}

/// Streams `file` from `offset` as its writer publishes it, until the writer is done.
pub fn follow(
    file: Arc<File>,
    offset: u64,
    progress: Arc<Progress>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold(0u64, move |pos| {
        let file = file.clone();
        let progress = progress.clone();
        async move {
            loop {
                // State before length: see Progress::publish.
                let state = progress.state.load(Ordering::Acquire);
                let available = progress.written.load(Ordering::Acquire);
                if available > pos {
                    let n = (available - pos).min(CHUNK as u64) as usize;
                    let mut buf = vec![0u8; n];
                    // A read of what was just written comes from the page cache: microseconds,
                    // not worth a hop to the blocking pool.
                    file.read_exact_at(&mut buf, offset + pos)?;
                    return Ok(Some((Bytes::from(buf), pos + n as u64)));
                }
                match state {
                    DONE => return Ok(None),
                    FAILED => {
                        return Err(std::io::Error::other("the layer could not be compressed"));
                    }
                    _ => progress.notify.notified().await,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt as _;

    async fn collect(file: Arc<File>, offset: u64, p: Arc<Progress>) -> std::io::Result<Vec<u8>> {
        let chunks: Vec<Bytes> = follow(file, offset, p).try_collect().await?;
        Ok(chunks.concat())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reader_gets_every_byte_while_the_writer_is_still_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let (mut spool, progress) = Spool::new(File::create(&path).unwrap());
        let reader = Arc::new(File::open(&path).unwrap());
        let read = tokio::spawn(collect(reader, 0, progress));
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let expect = data.clone();
        tokio::task::spawn_blocking(move || {
            for piece in data.chunks(10_007) {
                spool.write_all(piece).unwrap();
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            spool.finish().unwrap()
        })
        .await
        .unwrap();
        assert_eq!(read.await.unwrap().unwrap(), expect);
    }

    #[tokio::test]
    async fn a_writer_dropped_unfinished_ends_the_reader_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let (mut spool, progress) = Spool::new(File::create(&path).unwrap());
        spool.write_all(&[1u8; CHUNK + 10]).unwrap();
        drop(spool);
        let reader = Arc::new(File::open(&path).unwrap());
        let err = collect(reader, 0, progress).await.unwrap_err();
        assert!(err.to_string().contains("could not be compressed"), "{err}");
    }

    #[tokio::test]
    async fn a_finished_file_is_read_from_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whole");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = Arc::new(File::open(&path).unwrap());
        let got = collect(file, 3, Progress::finished(5)).await.unwrap();
        assert_eq!(got, b"34567");
    }
}
