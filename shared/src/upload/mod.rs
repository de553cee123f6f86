//! The upload engine shared by the s3, gcs, jfrog and nexus plugins, in the spirit of the
//! `object_store` crate: one engine, thin backends.
//!
//! This part is local and network-free: it decides *what* goes *where*.
//!
//! | module | owns |
//! |---|---|
//! | [`glob`] | go-zglob-compatible patterns (`*`, `**/`, `{a,b}`, `[a-z]`), sorted expansion |
//! | [`select`](mod@select) | sources + excludes → the local files to upload (directories, symlinks, empties) |
//! | [`keys`] | target + `strip_prefix` → object keys, collisions, download-mode local paths |
//! | [`headers`] | content type table, `content_type` / `content_encoding` / `cache_control` rules |
//! | [`local_fs`] | every open of a transferred file: download targets without links, upload sources checked against their selection |
//!
//! | [`plan`](mod@plan) | the shared upload settings → files with keys, and their headers → transfer items |
//! | [`transfer`] | the transfer scheduler every backend plugs into: parallelism, progress, summary |
//!
//! The flow is `select` → `KeyMapper::map_files` → per-file headers → `transfer`. Each backend
//! has its own folder and only reads the plan made here: `s3/` (the AWS SDK, bodies and
//! checksums), `gcs/`, `artifactory/` (with the jf file spec) and `nexus/`.

#[cfg(feature = "artifactory")]
pub mod artifactory;
#[cfg(feature = "gcs")]
pub mod gcs;
pub mod glob;
pub mod headers;
pub mod keys;
pub mod local_fs;
#[cfg(feature = "nexus")]
pub mod nexus;
pub mod plan;
#[cfg(feature = "s3")]
pub mod s3;
pub mod select;
pub mod transfer;

pub use glob::{GlobError, expand, is_glob};
pub use headers::{HeaderRules, content_type, resolve_content_type};
pub use keys::{
    KeyError, KeyMapper, KeyPlan, MappedKey, StripPrefix, check_collisions, normalize_path,
    resolve_key, resolve_source, safe_local_path,
};
pub use select::{LocalFile, SelectError, Selection, select};

/// The one-line error of jfrog and nexus for a server certificate we do not trust, naming the
/// settings that fix it; `None` when `e` is another failure.
#[cfg(any(feature = "artifactory", feature = "nexus"))]
pub(crate) fn pem_certificate_error(e: &reqwest::Error) -> Option<String> {
    crate::error::untrusted_certificate(e).map(|t| {
        format!(
            "the server's TLS certificate is not trusted ({t}): give its CA in PLUGIN_PEM_FILE_CONTENTS or PLUGIN_PEM_FILE_PATH, or set PLUGIN_INSECURE=true to skip verification"
        )
    })
}
