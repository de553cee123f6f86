//! [`S3Settings`] → a validated [`Config`]: every setting checked and every local file selected
//! and mapped to its key before any network call (reference upload-plugins §2).

use std::path::{Path, PathBuf};

use longshore_core::aws::AwsAuth;
use longshore_core::settings::{Env, SettingsError, check_range};
use longshore_core::upload::headers::HeaderRules;
use longshore_core::upload::keys::normalize_path;
use longshore_core::upload::plan::{HeaderSettings, PlanSettings, items, plan_files};
use longshore_core::upload::s3::S3Options;
use longshore_core::upload::s3::body::{CHECKSUM_NAMES, Checksum};
use longshore_core::upload::transfer::Item;

use crate::settings::S3Settings;

const ACLS: &[&str] = &[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
];
const ENCRYPTIONS: &[&str] = &["AES256", "aws:kms", "aws:kms:dsse"];
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
];

/// Upload or download.
#[derive(Debug)]
pub(crate) enum Mode {
    /// Upload these files.
    Upload(Vec<Item>),
    /// Download every object under `prefix` into `dir`.
    Download {
        /// Key prefix.
        prefix: String,
        /// Local directory.
        dir: PathBuf,
        /// String put before each local path (the anchor's download `strip_prefix`).
        prepend: String,
    },
}

/// A validated run.
#[derive(Debug)]
pub(crate) struct Config {
    /// Credentials.
    pub auth: AwsAuth,
    /// Bucket.
    pub bucket: String,
    /// Custom endpoint (with scheme).
    pub endpoint: Option<String>,
    /// Path-style addressing.
    pub path_style: bool,
    /// Per-object options.
    pub s3: S3Options,
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

/// Checks everything; selects and maps the files. The checks run in the settings' order: bucket,
/// endpoint, object options, concurrency, credentials, then the selection.
pub(crate) fn prepare(s: S3Settings, env: &Env, cwd: &Path) -> Result<Config, SettingsError> {
    check_bucket(&s.bucket)?;
    let endpoint = endpoint(&s.endpoint)?;
    let s3 = object_options(&s, endpoint.as_deref())?;
    check_concurrency(&s)?;
    let auth = credentials(&s, env)?;
    let mode = selection(&s, cwd)?;
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    Ok(Config {
        auth,
        bucket: s.bucket.clone(),
        s3,
        endpoint,
        path_style: s.path_style,
        mode,
        // s3-sync read `DRY_RUN` too; either one asking for a dry run wins, so a leftover
        // `false` in one of them can never turn a requested dry run into a real upload.
        dry_run: s.dry_run || s.dry_run_sync,
        concurrency: s.concurrency,
        skip_unchanged: s.skip_unchanged,
        artifact_file: opt(&s.artifact_file),
        drone_output: env.string(&["DRONE_OUTPUT"]),
    })
}

/// `PLUGIN_BUCKET`: given, and a name S3 accepts.
fn check_bucket(bucket: &str) -> Result<(), SettingsError> {
    if bucket.is_empty() {
        return Err(SettingsError::Required {
            var: "PLUGIN_BUCKET".into(),
            hint: "the bucket to upload to".into(),
        });
    }
    if bucket.len() < 3
        || bucket.len() > 63
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(SettingsError::invalid(
            "PLUGIN_BUCKET",
            format!(
                "'{bucket}' is not a valid bucket name (3-63 lower-case letters, digits, . and -)"
            ),
        ));
    }
    Ok(())
}

/// `PLUGIN_ENDPOINT` as an http(s) URL without a trailing `/` (`https://` when no scheme is
/// given); `None` for AWS itself.
fn endpoint(raw: &str) -> Result<Option<String>, SettingsError> {
    if raw.is_empty() {
        return Ok(None);
    }
    let ep = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let ok = (ep.starts_with("http://") || ep.starts_with("https://"))
        && ep
            .split("://")
            .nth(1)
            .is_some_and(|h| !h.is_empty() && !h.contains(char::is_whitespace));
    if !ok {
        return Err(SettingsError::invalid(
            "PLUGIN_ENDPOINT",
            format!("'{raw}' is not an http(s) URL"),
        ));
    }
    Ok(Some(ep.trim_end_matches('/').to_string()))
}

/// What every object gets: checksum, canned ACL, encryption, storage class, and the URL base its
/// links are made from.
fn object_options(s: &S3Settings, endpoint: Option<&str>) -> Result<S3Options, SettingsError> {
    let invalid = SettingsError::invalid;
    let checksum = Checksum::from_setting(&s.checksum, endpoint.is_some()).ok_or_else(|| {
        invalid(
            "PLUGIN_CHECKSUM",
            format!(
                "'{}' is not one of {}",
                s.checksum,
                CHECKSUM_NAMES.join(", ")
            ),
        )
    })?;
    if !s.acl.is_empty() && !ACLS.contains(&s.acl.as_str()) {
        return Err(invalid(
            "PLUGIN_ACL",
            format!("'{}' is not a canned ACL ({})", s.acl, ACLS.join(", ")),
        ));
    }
    if !s.encryption.is_empty() && !ENCRYPTIONS.contains(&s.encryption.as_str()) {
        return Err(invalid(
            "PLUGIN_ENCRYPTION",
            format!(
                "'{}' is not one of {}",
                s.encryption,
                ENCRYPTIONS.join(", ")
            ),
        ));
    }
    if !s.kms_key_id.is_empty() && !s.encryption.starts_with("aws:kms") {
        return Err(invalid(
            "PLUGIN_KMS_KEY_ID",
            "needs PLUGIN_ENCRYPTION=aws:kms".to_string(),
        ));
    }
    if !s.storage_class.is_empty() && !STORAGE_CLASSES.contains(&s.storage_class.as_str()) {
        return Err(invalid(
            "PLUGIN_STORAGE_CLASS",
            format!(
                "'{}' is not one of {}",
                s.storage_class,
                STORAGE_CLASSES.join(", ")
            ),
        ));
    }
    let url_base = match (endpoint, s.path_style) {
        (Some(ep), true) => format!("{ep}/{}", s.bucket),
        (Some(ep), false) => match ep.split_once("://") {
            Some((scheme, host)) => format!("{scheme}://{}.{host}", s.bucket),
            None => format!("{ep}/{}", s.bucket),
        },
        (None, _) => format!("https://{}.s3.{}.amazonaws.com", s.bucket, s.region),
    };
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    Ok(S3Options {
        acl: opt(&s.acl),
        encryption: opt(&s.encryption),
        kms_key_id: opt(&s.kms_key_id),
        storage_class: opt(&s.storage_class),
        checksum,
        part_concurrency: s.part_concurrency,
        url_base,
    })
}

/// `PLUGIN_CONCURRENCY` (files in flight) and `PLUGIN_PART_CONCURRENCY` (parts of one file).
fn check_concurrency(s: &S3Settings) -> Result<(), SettingsError> {
    check_range("PLUGIN_CONCURRENCY", s.concurrency, 1, 1024)?;
    check_range("PLUGIN_PART_CONCURRENCY", s.part_concurrency, 1, 64)
}

/// The AWS credential settings, validated (the checks ECR applies too).
fn credentials(s: &S3Settings, env: &Env) -> Result<AwsAuth, SettingsError> {
    let auth = AwsAuth {
        region: s.region.clone(),
        access_key: s.access_key.clone(),
        secret_key: s.secret_key.clone(),
        session_token: s.session_token.clone(),
        assume_role: s.assume_role.clone(),
        session_name: s.assume_role_session_name.clone(),
        external_id: s.external_id.clone(),
        oidc_token: s.oidc_token_id.clone(),
        user_role_arn: s.user_role_arn.clone(),
        user_role_external_id: s.user_role_external_id.clone(),
        ca_bundle: longshore_core::aws::ca_bundle(env)?,
    };
    auth.validate()?;
    Ok(auth)
}

/// The header rules and metadata, then what to do: the files to upload, each with its key and
/// headers, or the prefix to download and where to.
fn selection(s: &S3Settings, cwd: &Path) -> Result<Mode, SettingsError> {
    let invalid = SettingsError::invalid;
    let rules = HeaderSettings {
        content_type: HeaderRules::parse(&s.content_type)
            .map_err(|e| invalid("PLUGIN_CONTENT_TYPE", e))?,
        content_encoding: HeaderRules::parse(&s.content_encoding)
            .map_err(|e| invalid("PLUGIN_CONTENT_ENCODING", e))?,
        cache_control: HeaderRules::parse(&s.cache_control)
            .map_err(|e| invalid("PLUGIN_CACHE_CONTROL", e))?,
        metadata: s.metadata.0.clone(),
    };
    for k in s.metadata.0.keys() {
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "PLUGIN_METADATA",
                format!("'{k}' is not a valid metadata name"),
            ));
        }
    }

    if s.download {
        let source = s.source.0.join(",");
        if s.target.is_empty() {
            return Err(SettingsError::Required {
                var: "PLUGIN_TARGET".into(),
                hint: "the local directory to download into".into(),
            });
        }
        return Ok(Mode::Download {
            prefix: normalize_path(&source),
            dir: cwd.join(&s.target),
            prepend: s.strip_prefix.clone(),
        });
    }
    if s.source.is_empty() {
        return Err(SettingsError::Required {
            var: "PLUGIN_SOURCE".into(),
            hint: "the files to upload (globs or paths)".into(),
        });
    }
    let files = plan_files(
        &PlanSettings {
            sources: &s.source.0,
            excludes: &s.exclude.0,
            target: &s.target,
            strip_prefix: &s.strip_prefix,
            fail_on_empty: s.fail_on_empty,
        },
        cwd,
    )?;
    Ok(Mode::Upload(items(files, &rules)))
}
