//! Logging for CI logs: one human line per event on stderr, no timestamps (the runner adds
//! them), every registered secret masked before a byte is written. `PLUGIN_DEBUG=true` or
//! `RUST_LOG` shows more.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::secret;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
#[allow(
    clippy::disallowed_methods,
    reason = "RUST_LOG belongs to tracing, not to the settings table"
)]
pub fn init(debug: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.trim().is_empty() => EnvFilter::new(f),
        _ if debug => EnvFilter::new("debug,hyper=info,h2=info,tonic=info,tower=info,rustls=info"),
        _ => EnvFilter::new("info"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MaskedStderr)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}

/// A writer that masks secrets and writes to stderr. The fmt layer writes each formatted event
/// in one `write` call, so a secret is never split across two calls.
#[derive(Clone, Copy)]
pub struct MaskedStderr;

impl Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(secret::mask(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for MaskedStderr {
    type Writer = MaskedStderr;
    fn make_writer(&'a self) -> Self::Writer {
        MaskedStderr
    }
}
