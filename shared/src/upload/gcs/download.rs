//! A download's sink: the bytes of an object as stored, gunzipped when the object is stored
//! gzip-encoded, and never more than its stated original size (or a cap) once decoded.

use super::{MAX_GUNZIP_RATIO, MIN_GUNZIP_CAP, ORIGINAL_SIZE_META, ObjectJson};

/// A download's bytes on their way to the file: as they come, or gunzipped as they come for a
/// gzip-encoded object, never more than the object's stated original size (or
/// [`MAX_GUNZIP_RATIO`] times its stored size when it states none).
pub(super) struct Gunzip {
    decoder: Option<flate2::write::GzDecoder<Vec<u8>>>,
    pass: Vec<u8>,
    cap: u64,
    pub(super) written: u64,
}

impl Gunzip {
    pub(super) fn new(info: &ObjectJson) -> Self {
        let gzip = info.content_encoding.eq_ignore_ascii_case("gzip");
        let stored: u64 = info.size.parse().unwrap_or(0);
        let cap = match info.metadata.get(ORIGINAL_SIZE_META) {
            Some(n) => n.parse().unwrap_or(0),
            None => stored.saturating_mul(MAX_GUNZIP_RATIO).max(MIN_GUNZIP_CAP),
        };
        Self {
            decoder: gzip.then(|| flate2::write::GzDecoder::new(Vec::new())),
            pass: Vec::new(),
            cap: if gzip { cap } else { u64::MAX },
            written: 0,
        }
    }

    /// The bytes to write for `chunk`.
    pub(super) fn feed(&mut self, chunk: &[u8]) -> Result<&[u8], String> {
        use std::io::Write as _;
        match &mut self.decoder {
            None => {
                self.pass.clear();
                self.pass.extend_from_slice(chunk);
            }
            Some(d) => {
                d.get_mut().clear();
                d.write_all(chunk)
                    .map_err(|e| format!("cannot gunzip: {e}"))?;
            }
        }
        self.counted()
    }

    /// The last decoded bytes, once the body has ended.
    pub(super) fn finish(&mut self) -> Result<&[u8], String> {
        match &mut self.decoder {
            // Everything was passed on already.
            None => self.pass.clear(),
            Some(d) => {
                d.get_mut().clear();
                d.try_finish().map_err(|e| format!("cannot gunzip: {e}"))?;
            }
        }
        self.counted()
    }

    fn counted(&mut self) -> Result<&[u8], String> {
        let out = match &self.decoder {
            None => &self.pass,
            Some(d) => d.get_ref(),
        };
        self.written += out.len() as u64;
        if self.written > self.cap {
            return Err(format!(
                "the gzip-encoded object decodes to more than {} bytes (its stated size, or {MAX_GUNZIP_RATIO}× its stored size): refused",
                self.cap
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink_output(info: &ObjectJson, chunks: &[&[u8]]) -> Result<Vec<u8>, String> {
        let mut sink = Gunzip::new(info);
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(sink.feed(c)?);
        }
        out.extend_from_slice(sink.finish()?);
        assert_eq!(sink.written, out.len() as u64);
        Ok(out)
    }

    #[test]
    fn the_download_sink_passes_bytes_once_and_caps_gunzip() {
        use std::io::Write as _;
        let plain = ObjectJson::default();
        let got = sink_output(&plain, &[b"fi", b"ne"]).expect("plain");
        assert_eq!(got, b"fine");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&[7u8; 100_000]).expect("gzip");
        let gz = e.finish().expect("gzip");
        let mut info = ObjectJson {
            content_encoding: "gzip".into(),
            size: gz.len().to_string(),
            ..Default::default()
        };
        let (a, b) = gz.split_at(gz.len() / 2);
        info.metadata
            .insert(ORIGINAL_SIZE_META.into(), "100000".into());
        assert_eq!(sink_output(&info, &[a, b]).expect("gunzip").len(), 100_000);
        info.metadata.insert(ORIGINAL_SIZE_META.into(), "99".into());
        let e = sink_output(&info, &[a, b]).expect_err("over the stated size");
        assert!(e.contains("more than 99 bytes"), "{e}");
    }
}
