//! [`NexusSettings`] → a validated [`Config`]: the server URL, login, repository, Nexus version,
//! format and API checked; the artifacts parsed (single-file attributes, the JSON list, or
//! globs); every file found; every repository path computed and checked; the components
//! grouped — all before any network call (reference upload-plugins §7).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use longshore_core::secret::Secret;
use longshore_core::settings::{Env, SettingsError, check_range};
use longshore_core::tls;
use longshore_core::upload::nexus::{ClientOptions, Component, Layout};
use longshore_core::upload::transfer::Item;

use crate::plan::*;
use crate::settings::NexusSettings;

/// Formats the components API takes as one `<format>.asset` file (Nexus reads the coordinates
/// from the package itself).
const SINGLE_ASSET_FORMATS: &[&str] = &[
    "pypi", "helm", "npm", "nuget", "rubygems", "r", "apt", "docker",
];

/// Which Nexus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// Nexus Repository 3.
    Nexus3,
    /// Nexus Repository 2.
    Nexus2,
}

/// The repository format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Format {
    /// Maven 2 coordinates.
    Maven2,
    /// Files in directories.
    Raw,
    /// RPMs in directories.
    Yum,
    /// A format whose package file carries its coordinates.
    Single(String),
}

/// How the files go up.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Nexus 3 components API: one request per component.
    Components(Vec<Component>),
    /// One PUT per file to a repository path.
    Put {
        /// Nexus 3 or Nexus 2 paths.
        layout: Layout,
        /// Items keyed by repository path.
        items: Vec<Item>,
    },
}

/// A validated run.
#[derive(Debug)]
pub(crate) struct Config {
    /// Base URL, scheme included, no trailing slash.
    pub server: String,
    /// Login.
    pub username: String,
    /// Password.
    pub password: Secret,
    /// Repository.
    pub repository: String,
    /// TLS options.
    pub tls: ClientOptions,
    /// Retries per request.
    pub retries: u32,
    /// Requests in flight.
    pub concurrency: usize,
    /// What to upload.
    pub plan: Plan,
    /// Local files per engine key (component label or repository path), for `UPLOAD_STATUS`.
    pub files: HashMap<String, Vec<String>>,
    /// Print the plan only.
    pub dry_run: bool,
    /// `PLUGIN_ARTIFACT_FILE`.
    pub artifact_file: Option<String>,
    /// `DRONE_OUTPUT`.
    pub drone_output: Option<String>,
}

/// One artifact with Maven-style coordinates (single-file and many-file modes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Artifact {
    /// groupId (for raw: the directory).
    pub group: String,
    /// artifactId.
    pub artifact: String,
    /// version.
    pub version: String,
    /// classifier, if any.
    pub classifier: Option<String>,
    /// extension (`type` in the list).
    pub extension: String,
    /// The file as given.
    pub file: String,
}

/// A local file found on disk.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) shown: String,
    pub(crate) abs: PathBuf,
    pub(crate) size: u64,
}

pub(crate) fn invalid(var: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError::invalid(var, reason)
}

pub(crate) fn required(var: &str, hint: &str) -> SettingsError {
    SettingsError::Required {
        var: var.into(),
        hint: hint.into(),
    }
}

/// Checks everything; finds the files; makes the plan. The checks run in this order: server,
/// login, repository, version and format, API, limits, TLS, upload mode, then the files.
pub(crate) fn prepare(s: NexusSettings, env: &Env, cwd: &Path) -> Result<Config, SettingsError> {
    let server = server_url(&s.server_url, &s.protocol)?;
    check_login(&s)?;
    check_repository(&s.repository)?;
    let version = parse_version(&s.nexus_version)?;
    let format = parse_format(&s.format)?;
    let put = api(&s, &format, version)?;
    check_limits(&s)?;
    let tls = tls(&s, cwd)?;
    let globbing = upload_mode(&s)?;
    let mut files: HashMap<String, Vec<String>> = HashMap::new();
    let plan = selection(&s, &format, put, version, globbing, cwd, &mut files)?;
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    Ok(Config {
        server,
        username: s.username.clone(),
        password: s.password.clone(),
        repository: s.repository.clone(),
        tls,
        retries: s.retries,
        concurrency: s.concurrency,
        plan,
        files,
        dry_run: s.dry_run,
        artifact_file: opt(&s.artifact_file),
        drone_output: env.string(&["DRONE_OUTPUT"]),
    })
}

/// `PLUGIN_USERNAME` and `PLUGIN_PASSWORD`, both needed.
fn check_login(s: &NexusSettings) -> Result<(), SettingsError> {
    if s.username.is_empty() {
        return Err(required("PLUGIN_USERNAME", "the Nexus user to log in as"));
    }
    if s.password.is_empty() {
        return Err(required(
            "PLUGIN_PASSWORD",
            "the password of PLUGIN_USERNAME",
        ));
    }
    Ok(())
}

/// `PLUGIN_REPOSITORY`: given, and a repository name.
fn check_repository(repository: &str) -> Result<(), SettingsError> {
    if repository.is_empty() {
        return Err(required("PLUGIN_REPOSITORY", "the repository to upload to"));
    }
    if !repository
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(invalid(
            "PLUGIN_REPOSITORY",
            format!("'{repository}' is not a repository name (letters, digits, '.', '_', '-')"),
        ));
    }
    Ok(())
}

/// Whether uploads are PUTs (`PLUGIN_API`, defaulting by version), and the settings only the
/// components API takes (`PLUGIN_GENERATE_POM`, `PLUGIN_PACKAGING`) checked against it.
fn api(s: &NexusSettings, format: &Format, version: Version) -> Result<bool, SettingsError> {
    let put = match (s.api.trim().to_ascii_lowercase().as_str(), version) {
        ("", Version::Nexus3) | ("components" | "component", Version::Nexus3) => false,
        ("" | "put", Version::Nexus2) | ("put", Version::Nexus3) => true,
        ("components" | "component", Version::Nexus2) => {
            return Err(invalid(
                "PLUGIN_API",
                "Nexus 2 has no components API: leave it empty or use 'put'",
            ));
        }
        (other, _) => {
            return Err(invalid(
                "PLUGIN_API",
                format!("'{other}' is not 'components' or 'put'"),
            ));
        }
    };
    if put && !matches!(format, Format::Maven2 | Format::Raw) {
        let var = if version == Version::Nexus2 {
            "PLUGIN_FORMAT"
        } else {
            "PLUGIN_API"
        };
        return Err(invalid(
            var,
            format!(
                "PUT uploads take the maven2 and raw formats only, not '{}'",
                s.format
            ),
        ));
    }
    if s.generate_pom && (*format != Format::Maven2 || put) {
        return Err(invalid(
            "PLUGIN_GENERATE_POM",
            "only the components API generates a POM, for the maven2 format",
        ));
    }
    if !s.packaging.is_empty() {
        if *format != Format::Maven2 || put {
            return Err(invalid(
                "PLUGIN_PACKAGING",
                "only the components API takes a packaging, for the maven2 format",
            ));
        }
        check_coordinate("PLUGIN_PACKAGING", "packaging", &s.packaging)?;
    }
    Ok(put)
}

/// `PLUGIN_RETRIES` and `PLUGIN_CONCURRENCY`.
fn check_limits(s: &NexusSettings) -> Result<(), SettingsError> {
    if s.retries > 10 {
        return Err(invalid(
            "PLUGIN_RETRIES",
            format!("{} is more than 10", s.retries),
        ));
    }
    check_range("PLUGIN_CONCURRENCY", s.concurrency, 1, 64)
}

/// Exactly one upload mode (attributes, the artifact list, globs) and only its settings; whether
/// it is the glob mode.
fn upload_mode(s: &NexusSettings) -> Result<bool, SettingsError> {
    let modes = [
        ("PLUGIN_ATTRIBUTES", !s.attributes.is_empty()),
        ("PLUGIN_ARTIFACTS", !s.artifacts.is_empty()),
        ("PLUGIN_SOURCE", !s.source.is_empty()),
    ];
    let set: Vec<&str> = modes.iter().filter(|m| m.1).map(|m| m.0).collect();
    match set.as_slice() {
        [] => {
            return Err(required(
                "PLUGIN_ARTIFACTS",
                "set PLUGIN_ARTIFACTS (a JSON list), PLUGIN_ATTRIBUTES with PLUGIN_FILENAME, or PLUGIN_SOURCE (globs)",
            ));
        }
        [_] => {}
        [a, b, ..] => {
            return Err(SettingsError::Conflict {
                first: a.to_string(),
                second: b.to_string(),
                reason: "they select the upload mode: set exactly one".into(),
            });
        }
    }
    if !s.filename.is_empty() && s.attributes.is_empty() {
        return Err(invalid(
            "PLUGIN_FILENAME",
            "is only read with PLUGIN_ATTRIBUTES (single-file mode)",
        ));
    }
    let globbing = !s.source.is_empty();
    for (var, set) in [
        ("PLUGIN_EXCLUDE", !s.exclude.is_empty()),
        ("PLUGIN_TARGET", !s.target.is_empty()),
        ("PLUGIN_STRIP_PREFIX", !s.strip_prefix.is_empty()),
    ] {
        if set && !globbing {
            return Err(invalid(var, "is only read with PLUGIN_SOURCE"));
        }
    }
    Ok(globbing)
}

/// The files found and planned: by glob, or from the artifact list / single-file attributes.
/// `files` gets each upload's local files, for the summary.
fn selection(
    s: &NexusSettings,
    format: &Format,
    put: bool,
    version: Version,
    globbing: bool,
    cwd: &Path,
    files: &mut HashMap<String, Vec<String>>,
) -> Result<Plan, SettingsError> {
    if globbing {
        if *format == Format::Maven2 {
            return Err(invalid(
                "PLUGIN_SOURCE",
                "globs upload raw, yum and single-file formats; for maven2 give coordinates in PLUGIN_ARTIFACTS",
            ));
        }
        let found = glob_files(s, cwd)?;
        return paths_plan(format, put, version, found, files);
    }
    let (var, artifacts) = if !s.attributes.is_empty() {
        if s.filename.is_empty() {
            return Err(required(
                "PLUGIN_FILENAME",
                "the file to upload with PLUGIN_ATTRIBUTES",
            ));
        }
        let a = parse_attributes(&s.attributes, &s.filename, &s.group_id)?;
        ("PLUGIN_FILENAME", vec![a])
    } else {
        (
            "PLUGIN_ARTIFACTS",
            parse_artifacts(&s.artifacts, &s.group_id)?,
        )
    };
    let found = artifacts
        .iter()
        .map(|a| find_file(var, &a.file, cwd))
        .collect::<Result<Vec<_>, _>>()?;
    coordinates_plan(s, format, put, version, &artifacts, found, files)
}

/// The anchor's URL rules (§7.3 tests): trailing slashes trimmed; without a scheme,
/// `protocol://` in front.
pub(crate) fn server_url(raw: &str, protocol: &str) -> Result<String, SettingsError> {
    let var = "PLUGIN_SERVER_URL";
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(required(
            var,
            "the Nexus base URL, e.g. https://nexus.example.com",
        ));
    }
    let url = match trimmed.split_once("://") {
        Some((scheme, _)) => {
            if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
                return Err(invalid(
                    var,
                    format!("scheme '{scheme}' is not http or https"),
                ));
            }
            trimmed.to_string()
        }
        None => {
            let p = protocol.trim().to_ascii_lowercase();
            if p != "http" && p != "https" {
                return Err(invalid(
                    "PLUGIN_PROTOCOL",
                    format!("'{protocol}' is not http or https"),
                ));
            }
            format!("{p}://{trimmed}")
        }
    };
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or_default();
    let host = rest.split('/').next().unwrap_or_default();
    if host.contains('@') {
        // Not echoed: the part before '@' is a password.
        return Err(invalid(
            var,
            "contains credentials; use PLUGIN_USERNAME and PLUGIN_PASSWORD",
        ));
    }
    if host.is_empty() || rest.contains(char::is_whitespace) || rest.contains(['?', '#']) {
        return Err(invalid(var, format!("'{url}' is not a server URL")));
    }
    Ok(url)
}

fn parse_version(raw: &str) -> Result<Version, SettingsError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "3" | "nexus3" => Ok(Version::Nexus3),
        "2" | "nexus2" => Ok(Version::Nexus2),
        other => Err(invalid(
            "PLUGIN_NEXUS_VERSION",
            format!("'{other}' is not a Nexus version (nexus3, 3, nexus2 or 2)"),
        )),
    }
}

fn parse_format(raw: &str) -> Result<Format, SettingsError> {
    let f = raw.trim().to_ascii_lowercase();
    Ok(match f.as_str() {
        "maven2" | "maven" => Format::Maven2,
        "raw" => Format::Raw,
        "yum" => Format::Yum,
        other if SINGLE_ASSET_FORMATS.contains(&other) => Format::Single(other.to_string()),
        other => {
            return Err(invalid(
                "PLUGIN_FORMAT",
                format!(
                    "'{other}' is not a format this plugin uploads (maven2, raw, yum, {})",
                    SINGLE_ASSET_FORMATS.join(", ")
                ),
            ));
        }
    })
}

/// The client's trust: the custom CA (once: contents or path) and `PLUGIN_INSECURE`.
fn tls(s: &NexusSettings, cwd: &Path) -> Result<ClientOptions, SettingsError> {
    let ca = tls::pem_settings(
        &s.pem_file_contents,
        &s.pem_file_path,
        cwd,
        tls::BothPem::Conflict,
    )?;
    if s.insecure && ca.is_some() {
        tracing::warn!("PLUGIN_INSECURE is set: the custom CA is not needed and not checked");
    }
    Ok(ClientOptions {
        ca,
        insecure: s.insecure,
    })
}

/// A coordinate must be usable as a path segment.
pub(crate) fn check_coordinate(var: &str, what: &str, v: &str) -> Result<(), SettingsError> {
    let ok = !v.is_empty()
        && !v.starts_with('.')
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            var,
            format!(
                "{what} '{v}' may hold only letters, digits and . _ - + ~ (and not start with '.')"
            ),
        ))
    }
}

/// A raw directory (from a groupId): segments without `..`, no backslash.
pub(crate) fn check_directory(var: &str, v: &str) -> Result<(), SettingsError> {
    let bad = v.contains('\\')
        || v.contains(char::is_whitespace)
        || v.split('/').any(|seg| seg == ".." || seg == ".");
    if bad {
        Err(invalid(var, format!("'{v}' is not a repository directory")))
    } else {
        Ok(())
    }
}

/// `-CgroupId=g -CartifactId=a -Cversion=1 -Aextension=zip -Aclassifier=c` (the anchor's
/// syntax). Other `-C`/`-A` keys are ignored with a warning, as the anchor ignores them; a token
/// of another shape is an error (the anchor silently dropped it).
pub(crate) fn parse_attributes(
    raw: &str,
    file: &str,
    default_group: &str,
) -> Result<Artifact, SettingsError> {
    let var = "PLUGIN_ATTRIBUTES";
    let mut got: HashMap<&str, String> = HashMap::new();
    for token in raw.split_whitespace() {
        let Some((key, value)) = token
            .strip_prefix('-')
            .filter(|t| t.starts_with(['C', 'A']))
            .and_then(|t| t.split_once('='))
            .filter(|(k, v)| k.len() > 1 && !v.is_empty())
        else {
            return Err(invalid(
                var,
                format!("'{token}' is not -C<name>=<value> or -A<name>=<value>"),
            ));
        };
        match key {
            "CgroupId" | "CartifactId" | "Cversion" | "Aextension" | "Aclassifier" => {
                got.insert(key, value.to_string());
            }
            other => tracing::warn!("{var}: -{other} is not used; ignored"),
        }
    }
    let group = got
        .remove("CgroupId")
        .unwrap_or_else(|| default_group.to_string());
    let take = |got: &mut HashMap<&str, String>, key: &str| {
        got.remove(key)
            .ok_or_else(|| invalid(var, format!("-{key}=… is required")))
    };
    let artifact = take(&mut got, "CartifactId")?;
    let version = take(&mut got, "Cversion")?;
    let extension = take(&mut got, "Aextension")?;
    if group.is_empty() {
        return Err(invalid(var, "-CgroupId=… is required"));
    }
    Ok(Artifact {
        group,
        artifact,
        version,
        classifier: got.remove("Aclassifier"),
        extension,
        file: file.to_string(),
    })
}

/// The many-file list: a JSON array of objects (Drone and Harness hand a YAML list over as
/// JSON). Values may be strings or numbers (`version: 1`).
pub(crate) fn parse_artifacts(
    raw: &str,
    default_group: &str,
) -> Result<Vec<Artifact>, SettingsError> {
    let var = "PLUGIN_ARTIFACTS";
    let items: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(raw.trim())
            .map_err(|e| invalid(var, format!("not a JSON list of objects: {e}")))?;
    if items.is_empty() {
        return Err(invalid(var, "the list is empty"));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        for k in item.keys() {
            if ![
                "file",
                "groupId",
                "artifactId",
                "version",
                "type",
                "classifier",
            ]
            .contains(&k.as_str())
            {
                tracing::warn!(
                    "{var}: item {n}: '{k}' is not used (file, groupId, artifactId, version, type, classifier); ignored"
                );
            }
        }
        let field = |k: &str| -> Result<Option<String>, SettingsError> {
            match item.get(k) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.trim().to_string())),
                Some(v @ serde_json::Value::Number(_)) => Ok(Some(v.to_string())),
                Some(other) => Err(invalid(
                    var,
                    format!("item {n}: '{k}' must be a string, not {other}"),
                )),
            }
        };
        let need =
            |k: &str| field(k)?.ok_or_else(|| invalid(var, format!("item {n}: '{k}' is required")));
        let group = match field("groupId")? {
            Some(g) => g,
            None if !default_group.is_empty() => default_group.to_string(),
            None => {
                return Err(required(
                    "PLUGIN_GROUP_ID",
                    &format!("item {n} of PLUGIN_ARTIFACTS has no groupId"),
                ));
            }
        };
        out.push(Artifact {
            file: need("file")?,
            artifact: need("artifactId")?,
            version: need("version")?,
            extension: need("type")?,
            classifier: field("classifier")?,
            group,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The anchor's URL normalisation table (§7.3), single-file and multi-file forms.
    #[test]
    fn server_url_normalisation() {
        for raw in [
            "https://nexus.example.com/",
            "https://nexus.example.com///",
            "https://nexus.example.com",
        ] {
            assert_eq!(
                server_url(raw, "https").unwrap(),
                "https://nexus.example.com"
            );
        }
        for raw in [
            "nexus.example.com/",
            "nexus.example.com///",
            "nexus.example.com",
        ] {
            assert_eq!(
                server_url(raw, "https").unwrap(),
                "https://nexus.example.com"
            );
        }
        assert_eq!(
            server_url("nexus.local:8081/nexus", "http").unwrap(),
            "http://nexus.local:8081/nexus"
        );
        let e = server_url("nexus.example.com", "ftp")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("PLUGIN_PROTOCOL:"), "{e}");
        let e = server_url("https://u:hunter22@n.example", "https")
            .unwrap_err()
            .to_string();
        assert!(e.contains("credentials") && !e.contains("hunter22"), "{e}");
        assert!(server_url("", "https").is_err());
    }

    /// The anchor's multi-file parse test.
    #[test]
    fn artifacts_list() {
        let a = parse_artifacts(
            r#"[{"artifactId":"artifact123","file":"testfile.zip","type":"zip","version":"1"}]"#,
            "group",
        )
        .unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].group, "group");
        assert_eq!(a[0].extension, "zip");
        let a = parse_artifacts(
            r#"[{"artifactId":"x","file":"f","type":"jar","version":2,"groupId":"g","classifier":"sources"}]"#,
            "",
        )
        .unwrap();
        assert_eq!(a[0].version, "2");
        assert_eq!(a[0].classifier.as_deref(), Some("sources"));
        let e = parse_artifacts(r#"[{"file":"f","type":"jar","version":"1"}]"#, "g")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "PLUGIN_ARTIFACTS: item 1: 'artifactId' is required");
        let e = parse_artifacts(
            r#"[{"artifactId":"a","file":"f","type":"jar","version":"1"}]"#,
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("PLUGIN_GROUP_ID is required"), "{e}");
        assert!(parse_artifacts("- file: x", "g").is_err());
    }

    /// The anchor's single-file parse test; the classifier is optional here.
    #[test]
    fn attributes() {
        let a = parse_attributes(
            "-CgroupId=group -CartifactId=artifact123 -Cversion=1.0.0 -Aextension=zip -Aclassifier=classifier",
            "f.zip",
            "",
        )
        .unwrap();
        assert_eq!(
            a,
            Artifact {
                group: "group".into(),
                artifact: "artifact123".into(),
                version: "1.0.0".into(),
                classifier: Some("classifier".into()),
                extension: "zip".into(),
                file: "f.zip".into(),
            }
        );
        let a = parse_attributes(
            "-CartifactId=a -Cversion=1 -Aextension=jar -Cpackaging=jar",
            "f",
            "g",
        )
        .unwrap();
        assert_eq!((a.group.as_str(), a.classifier), ("g", None));
        let e = parse_attributes("-CgroupId=g -Cversion=1 -Aextension=jar", "f", "")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "PLUGIN_ATTRIBUTES: -CartifactId=… is required");
        let e = parse_attributes("groupId=g", "f", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'groupId=g' is not"), "{e}");
    }

    #[test]
    fn versions() {
        for (raw, v) in [
            ("3", Version::Nexus3),
            ("nexus3", Version::Nexus3),
            ("Nexus3", Version::Nexus3),
            ("2", Version::Nexus2),
            ("nexus2", Version::Nexus2),
        ] {
            assert_eq!(parse_version(raw).unwrap(), v);
        }
        let e = parse_version("nexus4").unwrap_err().to_string();
        assert!(e.starts_with("PLUGIN_NEXUS_VERSION: 'nexus4'"), "{e}");
    }
}
