//! The build half of the docker settings: from [`DockerSettings`] to a validated [`BuildConfig`]
//! (context and Dockerfile, build arguments, labels, secrets, the builder and its cache), each
//! check naming the `PLUGIN_` variable, before any daemon start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::settings::DockerSettings;
use crate::ci::Ci;
use crate::registry::reference::Repository;
use crate::secret::Secret;
use crate::settings::{Env, List, SettingsError};

/// A BuildKit secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSecret {
    /// The id `RUN --mount=type=secret,id=…` names.
    pub id: String,
    /// Where its value comes from.
    pub source: SecretValue,
}

/// The value of a BuildKit secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretValue {
    /// A file given by the user; it is read by the build, never copied.
    File(PathBuf),
    /// A value (from an environment variable); it reaches the build through a 0600 file in a
    /// private directory that is removed when the build ends.
    Value(Secret),
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// Absolute context directory.
    pub context: PathBuf,
    /// Absolute Dockerfile path.
    pub dockerfile: PathBuf,
    /// Build arguments (later duplicates win, as with repeated `--build-arg`).
    pub build_args: BTreeMap<String, String>,
    /// Image labels.
    pub labels: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// Cache sources: images (legacy builder) or registry cache refs (BuildKit).
    pub cache_from: Vec<String>,
    /// `PLUGIN_CACHE_TO`: the registry ref the image carrying the inline build cache is pushed to.
    pub cache_to: Option<CacheTo>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`.
    pub pull: bool,
    /// `--squash`.
    pub squash: bool,
    /// Gzip the context.
    pub compress: bool,
    /// `--quiet`.
    pub quiet: bool,
    /// `--platform`.
    pub platform: Option<String>,
    /// `--add-host` entries `host:ip`.
    pub add_hosts: Vec<String>,
    /// BuildKit secrets.
    pub secrets: Vec<BuildSecret>,
    /// `PLUGIN_SSH_AGENT_KEY`: forwarded through an ssh-agent to `RUN --mount=type=ssh`; BuildKit.
    pub ssh_key: Option<Secret>,
    /// Which builder runs the build.
    pub builder: Builder,
}

/// Where the build cache goes: the image, carrying BuildKit's inline cache, is pushed here too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTo {
    /// The repository.
    pub repo: Repository,
    /// The tag (`latest` when the ref names none).
    pub tag: String,
}

/// The daemon's builder a build goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    /// The embedded BuildKit: the default, as for the anchor.
    BuildKit,
    /// The legacy builder, on request (`DOCKER_BUILDKIT=0`).
    Legacy,
}

impl BuildConfig {
    /// True when the build goes to BuildKit.
    pub fn uses_buildkit(&self) -> bool {
        self.builder == Builder::BuildKit
    }
}

/// Checks the build settings.
/// `version` is the image's version for the `org.opencontainers.image.version` label.
pub(super) fn build_config(
    s: &DockerSettings,
    env: &Env,
    ci: &Ci,
    cwd: &Path,
    version: Option<&str>,
) -> Result<BuildConfig, SettingsError> {
    let (context, dockerfile) = context_and_dockerfile(s, cwd)?;
    let builder = builder(s);
    let platform = (!s.platform.is_empty())
        .then(|| super::settings::normalize_platform(&s.platform))
        .transpose()
        .map_err(|reason| SettingsError::invalid("PLUGIN_PLATFORM", reason))?;
    check_add_hosts(&s.add_host)?;
    Ok(BuildConfig {
        context,
        dockerfile,
        build_args: build_args(s, env)?.into_iter().collect(),
        labels: labels(s, ci, version)?,
        target: (!s.target.is_empty()).then(|| s.target.clone()),
        cache_from: s.cache_from.0.clone(),
        cache_to: cache_to(s, builder)?,
        no_cache: s.no_cache,
        pull: s.pull_image,
        squash: squash(s, builder),
        compress: s.compress,
        quiet: s.quiet,
        platform,
        add_hosts: s.add_host.0.clone(),
        secrets: secrets(s, env, cwd, builder)?,
        ssh_key: ssh_key(s, builder)?,
        builder,
    })
}

fn context_and_dockerfile(
    s: &DockerSettings,
    cwd: &Path,
) -> Result<(PathBuf, PathBuf), SettingsError> {
    let context = cwd.join(&s.context);
    if !context.is_dir() {
        return Err(SettingsError::invalid(
            "PLUGIN_CONTEXT",
            format!("{} is not a directory", context.display()),
        ));
    }
    let dockerfile = cwd.join(&s.dockerfile);
    if let Err(e) = std::fs::File::open(&dockerfile)
        .and_then(|f| f.metadata())
        .and_then(|m| {
            if m.is_file() {
                Ok(())
            } else {
                Err(std::io::Error::other("not a file"))
            }
        })
    {
        return Err(SettingsError::invalid(
            "PLUGIN_DOCKERFILE",
            format!("cannot read {}: {e}", dockerfile.display()),
        ));
    }
    Ok((context, dockerfile))
}

/// BuildKit unless the user asks for the legacy builder, with the variable docker users know
/// (`DOCKER_BUILDKIT=0`) or `PLUGIN_BUILDKIT=false`.
fn builder(s: &DockerSettings) -> Builder {
    if !s.buildkit {
        return Builder::Legacy;
    }
    if s.compress {
        warn!(
            "PLUGIN_COMPRESS has no BuildKit counterpart (the context goes through the build session): ignored"
        );
    }
    Builder::BuildKit
}

/// Build args: user args, then proxy variables, then build_args_from_env (the anchor's order).
fn build_args(s: &DockerSettings, env: &Env) -> Result<Vec<(String, String)>, SettingsError> {
    let mut args: Vec<(String, String)> = Vec::new();
    let (var, user_args) = if s.multiple_build_args {
        ("PLUGIN_BUILD_ARGS_NEW", List::split(&s.build_args_new, ';'))
    } else {
        ("PLUGIN_BUILD_ARGS", s.build_args.0.clone())
    };
    for a in user_args {
        match a.split_once('=') {
            Some((k, _)) if k.trim().is_empty() => {
                return Err(SettingsError::invalid(
                    var,
                    format!("'{a}' has no name before '='"),
                ));
            }
            Some((k, v)) => args.push((k.trim().to_string(), v.to_string())),
            // `--build-arg NAME` takes the value from the environment, like the docker CLI.
            None => {
                if let Some(v) = env.get(&a) {
                    args.push((a.clone(), v.to_string()));
                }
            }
        }
    }
    let has = |args: &[(String, String)], k: &str| args.iter().any(|(n, _)| n == k);
    for key in ["http_proxy", "https_proxy", "no_proxy"] {
        let upper = key.to_uppercase();
        let harness = format!("HARNESS_{upper}");
        if let Some(v) = env.string(&[key, &upper, &harness]) {
            for k in [key.to_string(), upper.clone()] {
                if !has(&args, &k) {
                    args.push((k, v.clone()));
                }
            }
        }
    }
    for name in &s.build_args_from_env.0 {
        let upper = name.to_uppercase();
        let harness = format!("HARNESS_{upper}");
        let Some(v) = env.string(&[name, &upper, &harness]) else {
            warn!("PLUGIN_BUILD_ARGS_FROM_ENV: {name} is not set; no build argument added");
            continue;
        };
        // Exact names, not the anchor's prefix match (its FOO_BAR=x hid FOO).
        if [name.as_str(), &upper, &harness]
            .iter()
            .any(|k| has(&args, k))
        {
            continue;
        }
        args.push((name.clone(), v.clone()));
        if upper != *name {
            args.push((upper, v));
        }
    }
    Ok(args)
}

/// The auto labels (OCI `created`, `revision`, `source`, `url`, `version`, `title`, the label
/// schema), then `PLUGIN_ANNOTATIONS`, then the user's labels: a later one wins.
fn labels(
    s: &DockerSettings,
    ci: &Ci,
    version: Option<&str>,
) -> Result<BTreeMap<String, String>, SettingsError> {
    let mut labels = oci_annotations(s, ci, version)?;
    for l in &s.custom_labels.0 {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.trim().is_empty() {
            return Err(SettingsError::invalid(
                "PLUGIN_CUSTOM_LABELS",
                format!("'{l}' has no label name"),
            ));
        }
        labels.insert(k.trim().to_string(), v.to_string());
    }
    Ok(labels)
}

/// The automatic OCI labels (with `auto_label`), then `PLUGIN_ANNOTATIONS`: the image's labels
/// but the user's own, and the manifest annotations of a daemonless push.
pub(super) fn oci_annotations(
    s: &DockerSettings,
    ci: &Ci,
    version: Option<&str>,
) -> Result<BTreeMap<String, String>, SettingsError> {
    let mut out = BTreeMap::new();
    if s.auto_label {
        auto_labels(s, ci, version, &mut out);
    }
    for a in &s.annotations.0 {
        let (k, v) = annotation(a)?;
        out.insert(k, v);
    }
    Ok(out)
}

/// The OCI labels computed from the CI variables. An empty one says nothing and is left out.
/// URLs never carry credentials (a clone URL may hold a token).
fn auto_labels(
    s: &DockerSettings,
    ci: &Ci,
    version: Option<&str>,
    labels: &mut BTreeMap<String, String>,
) {
    const OCI: &str = "org.opencontainers.image";
    labels.insert(
        format!("{OCI}.created"),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    labels.insert(format!("{OCI}.revision"), ci.commit_sha.clone());
    let url = if s.repo_link.is_empty() {
        &ci.repo_link
    } else {
        &s.repo_link
    };
    for (k, v) in [
        ("source", ci.remote_url.as_str()),
        ("url", url.as_str()),
        ("version", version.unwrap_or_default()),
        ("title", ci.repo_name.as_str()),
    ] {
        if !v.is_empty() {
            labels.insert(
                format!("{OCI}.{k}"),
                crate::secret::without_userinfo(v).into_owned(),
            );
        }
    }
    for l in &s.label_schema.0 {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(format!("{OCI}.{}", k.trim()), v.to_string());
    }
}

/// One `PLUGIN_ANNOTATIONS` item: `key=value`, with metadata-action's level prefix
/// (`manifest:`, `index:`, `manifest-descriptor:`, `index-descriptor:`) dropped, since it
/// becomes a label of the image config.
fn annotation(item: &str) -> Result<(String, String), SettingsError> {
    const VAR: &str = "PLUGIN_ANNOTATIONS";
    let (k, v) = item
        .split_once('=')
        .ok_or_else(|| SettingsError::invalid(VAR, format!("'{item}' is not key=value")))?;
    let k = k.trim();
    let k = [
        "manifest:",
        "index:",
        "manifest-descriptor:",
        "index-descriptor:",
    ]
    .iter()
    .find_map(|p| k.strip_prefix(p))
    .unwrap_or(k)
    .trim();
    if k.is_empty() || k.contains(char::is_whitespace) || k.contains(':') {
        return Err(SettingsError::invalid(
            VAR,
            format!("'{item}' has no valid key (letters, digits, . - _ /, no spaces)"),
        ));
    }
    Ok((
        k.to_string(),
        crate::secret::without_userinfo(v).into_owned(),
    ))
}

fn secrets(
    s: &DockerSettings,
    env: &Env,
    cwd: &Path,
    builder: Builder,
) -> Result<Vec<BuildSecret>, SettingsError> {
    let mut secrets = Vec::new();
    if !s.secret.is_empty() {
        secrets.push(parse_raw_secret(&s.secret, env, cwd)?);
    }
    for entry in &s.secrets_from_env.0 {
        let (id, var) = entry
            .split_once('=')
            .filter(|(id, var)| !id.trim().is_empty() && !var.trim().is_empty())
            .ok_or_else(|| {
                SettingsError::invalid(
                    "PLUGIN_SECRETS_FROM_ENV",
                    format!("'{entry}' is not id=ENV_VAR"),
                )
            })?;
        let value = env.get(var.trim()).ok_or_else(|| {
            SettingsError::invalid(
                "PLUGIN_SECRETS_FROM_ENV",
                format!("{} is not set", var.trim()),
            )
        })?;
        secrets.push(BuildSecret {
            id: id.trim().into(),
            source: SecretValue::Value(Secret::new(value)),
        });
    }
    for entry in &s.secrets_from_file.0 {
        let (id, path) = entry
            .split_once('=')
            .filter(|(id, p)| !id.trim().is_empty() && !p.trim().is_empty())
            .ok_or_else(|| {
                SettingsError::invalid(
                    "PLUGIN_SECRETS_FROM_FILE",
                    format!("'{entry}' is not id=/path"),
                )
            })?;
        secrets.push(BuildSecret {
            id: id.trim().into(),
            source: secret_file("PLUGIN_SECRETS_FROM_FILE", &cwd.join(path.trim()))?,
        });
    }
    if let Some(first) = secrets.first()
        && builder == Builder::Legacy
    {
        return Err(SettingsError::invalid(
            legacy_var(s),
            format!(
                "the legacy builder has no build secrets (secret '{}'): let the build use BuildKit",
                first.id
            ),
        ));
    }
    Ok(secrets)
}

fn ssh_key(s: &DockerSettings, builder: Builder) -> Result<Option<Secret>, SettingsError> {
    if s.ssh_agent_key.expose().trim().is_empty() {
        return Ok(None);
    }
    if builder == Builder::Legacy {
        return Err(SettingsError::invalid(
            legacy_var(s),
            "the legacy builder cannot forward PLUGIN_SSH_AGENT_KEY: let the build use BuildKit",
        ));
    }
    Ok(Some(s.ssh_agent_key.clone()))
}

/// `PLUGIN_CACHE_TO`: a registry ref, plain or in buildx's `type=registry,ref=…` form.
fn cache_to(s: &DockerSettings, builder: Builder) -> Result<Option<CacheTo>, SettingsError> {
    const VAR: &str = "PLUGIN_CACHE_TO";
    let raw = s.cache_to.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if builder == Builder::Legacy {
        return Err(SettingsError::invalid(
            VAR,
            "exporting a build cache needs BuildKit",
        ));
    }
    let mut reference = raw;
    if raw.contains('=') {
        reference = "";
        for part in raw.split(',') {
            match part.trim().split_once('=') {
                Some(("type", "registry" | "inline")) => {}
                Some(("ref", r)) => reference = r.trim(),
                Some(("mode", m)) => {
                    if m.trim() != "min" {
                        warn!(
                            "{VAR}: mode={} is not available on the daemon's BuildKit, which exports the inline cache (the final image's layers, as mode=min)",
                            m.trim()
                        );
                    }
                }
                _ => {
                    return Err(SettingsError::invalid(
                        VAR,
                        format!("'{part}' is not one of type=registry, ref=, mode="),
                    ));
                }
            }
        }
    }
    // The tag is the part after a ':' in the last path component (a port has a '/' after it).
    let (name, tag) = match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (reference, "latest"),
    };
    if !super::tags::is_valid_tag(tag) {
        return Err(SettingsError::invalid(
            VAR,
            format!("'{tag}' is not a valid tag"),
        ));
    }
    let repo = Repository::parse(name).map_err(|r| SettingsError::invalid(VAR, r))?;
    Ok(Some(CacheTo {
        repo,
        tag: tag.to_string(),
    }))
}

fn squash(s: &DockerSettings, builder: Builder) -> bool {
    if !s.squash {
        return false;
    }
    if builder == Builder::BuildKit {
        warn!(
            "PLUGIN_SQUASH has no BuildKit counterpart: building without squash (DOCKER_BUILDKIT=0 selects the legacy builder, which squashes)"
        );
        return false;
    }
    if !s.experimental {
        warn!("PLUGIN_SQUASH needs PLUGIN_EXPERIMENTAL=true: building without squash");
        return false;
    }
    true
}

/// The variable that selected the legacy builder, for errors about it.
fn legacy_var(s: &DockerSettings) -> &'static str {
    s.set_by.var("buildkit").unwrap_or("PLUGIN_BUILDKIT")
}

fn check_add_hosts(hosts: &List) -> Result<(), SettingsError> {
    for h in &hosts.0 {
        let ok = h.split_once(':').is_some_and(|(host, ip)| {
            !host.is_empty() && (ip.parse::<std::net::IpAddr>().is_ok() || ip == "host-gateway")
        });
        if !ok {
            return Err(SettingsError::invalid(
                "PLUGIN_ADD_HOST",
                format!("'{h}' is not host:ip"),
            ));
        }
    }
    Ok(())
}

/// `PLUGIN_SECRET`: `id=NAME,src=PATH` (also `source=`) or `id=NAME,env=VAR`.
fn parse_raw_secret(raw: &str, env: &Env, cwd: &Path) -> Result<BuildSecret, SettingsError> {
    const VAR: &str = "PLUGIN_SECRET";
    let mut id = None;
    let mut src = None;
    let mut var = None;
    for part in raw.split(',') {
        match part.trim().split_once('=') {
            Some(("id", v)) => id = Some(v.trim().to_string()),
            Some(("src" | "source", v)) => src = Some(v.trim().to_string()),
            Some(("env", v)) => var = Some(v.trim().to_string()),
            Some(("type", "file" | "env")) => {}
            _ => {
                return Err(SettingsError::invalid(
                    VAR,
                    format!("'{part}' is not one of id=, src=, env=, type="),
                ));
            }
        }
    }
    let id = id
        .filter(|i| !i.is_empty())
        .ok_or_else(|| SettingsError::invalid(VAR, "needs id=NAME"))?;
    let source = match (src, var) {
        (Some(p), None) => secret_file(VAR, &cwd.join(p))?,
        (None, Some(v)) => SecretValue::Value(Secret::new(
            env.get(&v)
                .ok_or_else(|| SettingsError::invalid(VAR, format!("{v} is not set")))?,
        )),
        // `id=x` alone: docker reads the variable or file of the same name; we read the variable.
        (None, None) => SecretValue::Value(Secret::new(env.get(&id).ok_or_else(|| {
            SettingsError::invalid(VAR, format!("needs src= or env= ({id} is not set)"))
        })?)),
        (Some(_), Some(_)) => {
            return Err(SettingsError::invalid(VAR, "give src= or env=, not both"));
        }
    };
    Ok(BuildSecret { id, source })
}

/// A secret file must be readable now; its text (when it is text) is masked in our output.
fn secret_file(var: &str, path: &Path) -> Result<SecretValue, SettingsError> {
    let bytes = std::fs::read(path)
        .map_err(|e| SettingsError::invalid(var, format!("cannot read {}: {e}", path.display())))?;
    if let Ok(text) = std::str::from_utf8(&bytes) {
        crate::secret::register(text);
    }
    Ok(SecretValue::File(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels_for(
        pairs: &[(&str, &str)],
        version: Option<&str>,
    ) -> Result<BTreeMap<String, String>, String> {
        let env = Env::from_pairs(pairs.iter().copied());
        let s = DockerSettings::load(&env).map_err(|e| e.to_string())?;
        labels(&s, &Ci::from_env(&env), version).map_err(|e| e.to_string())
    }

    #[test]
    fn oci_labels_come_from_the_ci_variables_without_credentials() {
        let l = labels_for(
            &[
                ("DRONE_COMMIT_SHA", "abc123"),
                (
                    "DRONE_REMOTE_URL",
                    "https://x-token:s3cret@git.example/team/app.git",
                ),
                ("PLUGIN_REPO_LINK", "https://u:p@git.example/team/app"),
                ("DRONE_REPO_NAME", "app"),
            ],
            Some("1.2.3"),
        )
        .unwrap();
        let oci = |k: &str| l[&format!("org.opencontainers.image.{k}")].clone();
        assert_eq!(oci("revision"), "abc123");
        assert_eq!(oci("source"), "https://git.example/team/app.git");
        assert_eq!(oci("url"), "https://git.example/team/app");
        assert_eq!(oci("version"), "1.2.3");
        assert_eq!(oci("title"), "app");
        assert!(oci("created").ends_with('Z'));
        assert!(!format!("{l:?}").contains("s3cret"));
        // Woodpecker's names, and no version when none is known.
        let l = labels_for(&[("CI_REPO_NAME", "wp"), ("CI_COMMIT_SHA", "def")], None).unwrap();
        assert_eq!(l["org.opencontainers.image.title"], "wp");
        assert!(!l.contains_key("org.opencontainers.image.version"));
        assert!(
            labels_for(&[("PLUGIN_AUTO_LABEL", "false")], Some("1"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn annotations_are_labels_between_the_automatic_and_the_custom_ones() {
        let l = labels_for(
            &[
                (
                    "PLUGIN_ANNOTATIONS",
                    r#"["org.opencontainers.image.description=An app, with commas", "manifest:org.opencontainers.image.licenses=MIT", "org.opencontainers.image.title=Custom", "org.opencontainers.image.documentation=https://a:b@docs.example/"]"#,
                ),
                ("PLUGIN_CUSTOM_LABELS", "org.opencontainers.image.licenses=Apache-2.0"),
                ("DRONE_REPO_NAME", "app"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            l["org.opencontainers.image.description"],
            "An app, with commas"
        );
        assert_eq!(l["org.opencontainers.image.title"], "Custom");
        assert_eq!(l["org.opencontainers.image.licenses"], "Apache-2.0");
        assert_eq!(
            l["org.opencontainers.image.documentation"],
            "https://docs.example/"
        );
        for (bad, want) in [
            ("novalue", "PLUGIN_ANNOTATIONS: 'novalue' is not key=value"),
            ("=x", "PLUGIN_ANNOTATIONS: '=x' has no valid key"),
            (
                "bad key=x",
                "PLUGIN_ANNOTATIONS: 'bad key=x' has no valid key",
            ),
            (
                "other:k=x",
                "PLUGIN_ANNOTATIONS: 'other:k=x' has no valid key",
            ),
        ] {
            let err = labels_for(&[("PLUGIN_ANNOTATIONS", bad)], None).unwrap_err();
            assert!(err.starts_with(want), "{bad}: {err}");
        }
    }
}
