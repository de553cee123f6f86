//! [`GcsSettings`] → a validated [`Config`]: every setting checked, the credentials chosen,
//! every local file selected and named, before any network call (reference upload-plugins §5).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use longshore_core::gcp_auth::GoogleSettings;
use longshore_core::settings::{Env, SettingsError, check_range};
use longshore_core::tls;
use longshore_core::upload::gcs::{
    self, AuthSettings, DEFAULT_ENDPOINT, GcsAuth, GcsOptions, RESUMABLE_THRESHOLD,
};
use longshore_core::upload::transfer::{Item, ObjectHeaders};

use crate::settings::GcsSettings;

/// Upload or download.
#[derive(Debug)]
pub(crate) enum Mode {
    /// Upload these files (and whether each is gzipped).
    Upload(Vec<(Item, bool)>),
    /// Download every object under `prefix` into `dir`.
    Download {
        /// Object name prefix.
        prefix: String,
        /// Local directory.
        dir: PathBuf,
    },
}

/// A validated run.
#[derive(Debug)]
pub(crate) struct Config {
    /// Credentials.
    pub auth: GcsAuth,
    /// Bucket.
    pub bucket: String,
    /// Destination options.
    pub gcs: GcsOptions,
    /// What to do.
    pub mode: Mode,
    /// Print the plan only.
    pub dry_run: bool,
    /// Files in flight.
    pub concurrency: usize,
    /// Skip unchanged objects.
    pub skip_unchanged: bool,
    /// `PLUGIN_ARTIFACT_FILE`.
    pub artifact_file: Option<String>,
    /// `DRONE_OUTPUT`.
    pub drone_output: Option<String>,
}

const TOKEN_VARS: &[&str] = &["PLUGIN_TOKEN", "GOOGLE_CREDENTIALS", "TOKEN"];

/// Bucket names: 3–63 characters (222 with dots) of lower-case letters, digits, `-`, `_`, `.`,
/// starting and ending with a letter or digit.
fn check_bucket(var: &str, b: &str) -> Result<(), SettingsError> {
    let max = if b.contains('.') { 222 } else { 63 };
    let ok = (3..=max).contains(&b.len())
        && b.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.')
        })
        && b.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.bytes().last().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(SettingsError::invalid(
            var,
            format!(
                "'{b}' is not a valid bucket name (3-63 lower-case letters, digits, -, _ and .)"
            ),
        ))
    }
}

fn loopback(url: &gcs::Url) -> bool {
    let host = url.host_str().unwrap_or("");
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The JSON API base URL: `PLUGIN_ENDPOINT`, else `STORAGE_EMULATOR_HOST` (`host:port`, plain
/// http as Google's clients take it), else Google's.
fn endpoint(s: &GcsSettings, anonymous: bool) -> Result<String, SettingsError> {
    let (var, raw) = if !s.endpoint.trim().is_empty() {
        ("PLUGIN_ENDPOINT", s.endpoint.trim().to_string())
    } else if !s.emulator_host.trim().is_empty() {
        let h = s.emulator_host.trim();
        let url = if h.contains("://") {
            h.to_string()
        } else {
            format!("http://{h}")
        };
        ("STORAGE_EMULATOR_HOST", url)
    } else {
        return Ok(DEFAULT_ENDPOINT.into());
    };
    let url = gcs::Url::parse(&raw)
        .map_err(|e| SettingsError::invalid(var, format!("'{raw}' is not a URL: {e}")))?;
    let fine = match url.scheme() {
        "https" => url.host_str().is_some_and(|h| !h.is_empty()),
        // A token must not cross a network in clear text.
        "http" => loopback(&url) || anonymous,
        _ => false,
    };
    if !fine || !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(SettingsError::invalid(
            var,
            format!(
                "'{raw}' must be an https:// URL without user or query (plain http only to a loopback address or without credentials)"
            ),
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Checks everything; chooses the credentials; selects and names the files. The checks run in
/// this order: limits, object options, credentials, endpoint, proxy, selection, extra CAs.
pub(crate) fn prepare(s: GcsSettings, env: &Env, cwd: &Path) -> Result<Config, SettingsError> {
    check_limits(&s)?;
    let acl = object_options(&s)?;
    let auth = credentials(&s, env)?;
    let endpoint = endpoint(&s, auth.is_anonymous())?;
    let proxy = proxy(&s, env)?;
    let (bucket, mode) = selection(&s, cwd)?;
    let opt = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
    Ok(Config {
        auth,
        gcs: GcsOptions {
            endpoint,
            acl,
            gzip: s
                .gzip
                .0
                .iter()
                .map(|e| e.trim().trim_start_matches('.').to_string())
                .collect(),
            // The crate's client cannot take our proxy settings nor extra CAs (it reads only
            // the process's SSL_CERT_FILE): everything goes through our own resumable sessions
            // then.
            resumable_threshold: if proxy.is_some() || tls::harness_ca().is_some() {
                0
            } else {
                RESUMABLE_THRESHOLD
            },
            page_size: s.page_size as u32,
            proxy,
            // The standard variable; Google's clients read it. A bad file is refused here,
            // before any request.
            extra_roots: tls::ca_file_setting(env, "SSL_CERT_FILE")?,
        },
        bucket,
        mode,
        dry_run: s.dry_run,
        concurrency: s.concurrency,
        skip_unchanged: s.skip_unchanged,
        artifact_file: opt(&s.artifact_file),
        drone_output: env.string(&["DRONE_OUTPUT"]),
    })
}

/// `PLUGIN_CONCURRENCY` and `PLUGIN_PAGE_SIZE`.
fn check_limits(s: &GcsSettings) -> Result<(), SettingsError> {
    check_range("PLUGIN_CONCURRENCY", s.concurrency, 1, 1024)?;
    check_range("PLUGIN_PAGE_SIZE", s.page_size, 1, 1000)
}

/// What every object gets: `PLUGIN_CACHE_CONTROL` and `PLUGIN_METADATA` checked, `PLUGIN_GZIP`'s
/// extensions checked, and the parsed `PLUGIN_ACL`.
fn object_options(s: &GcsSettings) -> Result<Vec<(String, String)>, SettingsError> {
    let invalid = SettingsError::invalid;
    if s.cache_control.contains(['\r', '\n', '\0']) {
        return Err(invalid(
            "PLUGIN_CACHE_CONTROL",
            "contains a line break".to_string(),
        ));
    }
    for (k, v) in &s.metadata.0 {
        if k.trim().is_empty() || k.chars().any(char::is_control) || v.contains(['\r', '\n', '\0'])
        {
            return Err(invalid(
                "PLUGIN_METADATA",
                format!("'{k}' is not a valid metadata entry (no empty names or line breaks)"),
            ));
        }
    }
    let acl = gcs::parse_acl(&s.acl.0).map_err(|e| invalid("PLUGIN_ACL", e))?;
    for e in &s.gzip.0 {
        let e = e.trim().trim_start_matches('.');
        if e.is_empty() || e.contains(['/', '\\', '*', ' ']) {
            return Err(invalid(
                "PLUGIN_GZIP",
                format!("'{e}' is not a file extension (write `js,css`, without dots)"),
            ));
        }
    }
    Ok(acl)
}

/// The Google credentials: a token or key from this plugin's settings (naming the variable that
/// gave it), else the shared Google settings.
fn credentials(s: &GcsSettings, env: &Env) -> Result<GcsAuth, SettingsError> {
    let token = env
        .first_set(TOKEN_VARS)
        .filter(|(_, v)| !v.trim().is_empty())
        .and_then(|(name, _)| TOKEN_VARS.iter().copied().find(|n| *n == name))
        .map(|var| (var, s.token.clone()));
    gcs::auth(
        &AuthSettings {
            token,
            json_key: s.json_key.clone(),
            google: GoogleSettings::load(env)?,
            emulator: !s.emulator_host.trim().is_empty(),
        },
        env,
    )
}

/// The Harness proxy variables as [`GcsOptions::proxy`] takes them: http, https, no-proxy.
type Proxy = (Option<String>, Option<String>, Option<String>);

/// The Harness proxy variables, when `PLUGIN_ENABLE_PROXY` asks for them.
fn proxy(s: &GcsSettings, env: &Env) -> Result<Option<Proxy>, SettingsError> {
    let proxy = s.enable_proxy.then(|| {
        (
            env.string(&["HARNESS_HTTP_PROXY"]),
            env.string(&["HARNESS_HTTPS_PROXY"]),
            env.string(&["HARNESS_NO_PROXY"]),
        )
    });
    if let Some((h, hs, _)) = &proxy {
        for (var, v) in [("HARNESS_HTTP_PROXY", h), ("HARNESS_HTTPS_PROXY", hs)] {
            if let Some(v) = v
                && gcs::Url::parse(v).is_err()
            {
                return Err(SettingsError::invalid(
                    var,
                    format!("'{v}' is not a proxy URL"),
                ));
            }
        }
    }
    Ok(proxy)
}

/// The bucket and what to do: the files to upload, each named and with its headers, or the
/// prefix to download and where to.
fn selection(s: &GcsSettings, cwd: &Path) -> Result<(String, Mode), SettingsError> {
    if s.download {
        let source = s.source.0.join(",");
        let (bucket, prefix) = gcs::split_target(&source);
        if bucket.is_empty() {
            return Err(SettingsError::Required {
                var: "PLUGIN_SOURCE".into(),
                hint: "in download mode, the bucket/prefix to download".into(),
            });
        }
        check_bucket("PLUGIN_SOURCE", &bucket)?;
        if s.target.trim().is_empty() {
            return Err(SettingsError::Required {
                var: "PLUGIN_TARGET".into(),
                hint: "in download mode, the local directory to download into".into(),
            });
        }
        let dir = cwd.join(s.target.trim());
        return Ok((bucket, Mode::Download { prefix, dir }));
    }
    if s.source.is_empty() {
        return Err(SettingsError::Required {
            var: "PLUGIN_SOURCE".into(),
            hint: "the files to upload (paths or globs)".into(),
        });
    }
    let (bucket, prefix) = gcs::split_target(&s.target);
    if bucket.is_empty() {
        return Err(SettingsError::Required {
            var: "PLUGIN_TARGET".into(),
            hint: "bucket[/prefix] to upload to".into(),
        });
    }
    check_bucket("PLUGIN_TARGET", &bucket)?;
    let planned = gcs::plan(&s.source.0, &s.ignore.0, &prefix, cwd).map_err(|e| {
        let var = match e {
            gcs::PlanError::Ignore { .. } => "PLUGIN_IGNORE",
            gcs::PlanError::Name(_) => "PLUGIN_TARGET",
            _ => "PLUGIN_SOURCE",
        };
        SettingsError::invalid(var, e.to_string())
    })?;
    let items = planned
        .into_iter()
        .map(|p| {
            let gz = gcs::gzip_wanted(&s.gzip.0, &p.name);
            let item = Item {
                path: p.path,
                size: p.size,
                headers: ObjectHeaders {
                    content_type: gcs::content_type(&p.name).to_string(),
                    content_encoding: None,
                    cache_control: (!s.cache_control.trim().is_empty())
                        .then(|| s.cache_control.trim().to_string()),
                    metadata: s.metadata.0.clone(),
                },
                key: p.name,
            };
            (item, gz)
        })
        .collect();
    Ok((bucket, Mode::Upload(items)))
}
