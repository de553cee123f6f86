//! From [`DockerSettings`] to a validated [`Config`]: every check happens here, before any daemon
//! start or network call, and every failure names the `PLUGIN_` variable (reference
//! image-plugins §3.1–3.3 for what each setting means to the anchor).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::warn;

use super::build_config::build_config;
pub use super::build_config::{BuildConfig, BuildSecret, Builder, CacheTo, SecretValue};
use super::daemon::start::{DEFAULT_HOST, DaemonConfig};
use super::settings::{DockerSettings, UNSUPPORTED};
use super::{tag_rules, tags};
use crate::ci::Ci;
use crate::registry::auth::{Credentials, RegistryAuth, parse_config_json};
use crate::registry::reference::{Repository, registry_host};
use crate::settings::{Env, List, SettingsError};

/// Build, or push an image already in the daemon.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Build from a Dockerfile.
    Build(Box<BuildConfig>),
    /// `push_only`: the local image to push (None: `repo:tag` for each tag).
    PushOnly(Option<String>),
    /// `push_only` + `source_tar_path`: push this tarball without a daemon.
    PushTarball(PathBuf),
}

/// Output files.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// `PLUGIN_ARTIFACT_FILE`.
    pub artifact_file: Option<String>,
    /// `registryType`.
    pub registry_type: String,
    /// `registryUrl`.
    pub registry_url: String,
    /// `DRONE_OUTPUT`.
    pub drone_output: Option<String>,
    /// `DRONE_CARD_PATH`.
    pub card_path: Option<String>,
}

/// A validated run of the docker engine.
#[derive(Debug, Clone)]
pub struct Config {
    /// The daemon.
    pub daemon: DaemonConfig,
    /// The repository pushed to.
    pub repo: Repository,
    /// Tags, validated and de-duplicated.
    pub tags: Vec<String>,
    /// What made each tag (a variable, `auto_tag`, a tag rule), for the plan.
    pub tag_origins: BTreeMap<String, String>,
    /// Build or push-only.
    pub mode: Mode,
    /// Push (false in dry run / no push).
    pub push: bool,
    /// Logins.
    pub credentials: Credentials,
    /// Save the image here too.
    pub tar_path: Option<PathBuf>,
    /// Remove what we created when done.
    pub purge: bool,
    /// The push registry may be reached over plain HTTP (PLUGIN_INSECURE or listed as insecure).
    pub insecure: bool,
    /// Output files.
    pub outputs: Outputs,
    /// Written into the manifest a daemonless push builds (`PLUGIN_ANNOTATIONS` given): the
    /// automatic OCI labels and the user's annotations. Empty: a plain Docker manifest.
    pub manifest_annotations: BTreeMap<String, String>,
}

/// What the settings ask for.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Run this.
    Run(Box<Config>),
    /// Nothing to do (auto_tag on a branch that is not the default); the reason is logged.
    Skip(String),
}

/// Checks every setting and builds the run. `cwd` is the working directory (the workspace).
pub fn prepare(
    s: DockerSettings,
    env: &Env,
    ci: &Ci,
    cwd: &Path,
) -> Result<Prepared, SettingsError> {
    for (var, why) in UNSUPPORTED {
        if env.string(&[var]).is_some() {
            return Err(SettingsError::invalid(*var, *why));
        }
    }
    if s.repo.is_empty() {
        return Err(SettingsError::Required {
            var: "PLUGIN_REPO".into(),
            hint: "the image repository to push to, e.g. registry.example.com/team/app".into(),
        });
    }
    let repo = Repository::parse(&s.repo).map_err(|r| SettingsError::invalid("PLUGIN_REPO", r))?;
    if s.push_only && s.dry_run {
        return Err(SettingsError::Conflict {
            first: "PLUGIN_PUSH_ONLY".into(),
            second: "PLUGIN_DRY_RUN".into(),
            reason: "push-only pushes and dry run does not".into(),
        });
    }

    // Tags: auto_tag decides first, since it can end the run before anything starts.
    let tagged = match tags_to_push(&s, ci, cwd)? {
        Ok(tags) => tags,
        Err(skip) => return Ok(Prepared::Skip(skip)),
    };

    let mut daemon = daemon_config(&s, env)?;
    daemon.certs_d = certs_d_hosts(&s, &repo);
    let credentials = credentials(&s, &repo)?;
    if !s.email.is_empty() {
        warn!("PLUGIN_EMAIL is ignored: registries no longer take an e-mail at login");
    }
    check_login_host(&s, &repo, &credentials)?;

    let version = image_version(&s, ci, &tagged);
    let manifest_annotations = if s.annotations.is_empty() {
        BTreeMap::new()
    } else {
        super::build_config::oci_annotations(&s, ci, version.as_deref())?
    };
    let mode = if s.push_only && !s.source_tar_path.is_empty() {
        let path = cwd.join(&s.source_tar_path);
        if let Err(e) = std::fs::File::open(&path) {
            return Err(SettingsError::invalid(
                "PLUGIN_SOURCE_TAR_PATH",
                format!("cannot read {}: {e}", path.display()),
            ));
        }
        Mode::PushTarball(path)
    } else if !s.source_tar_path.is_empty() {
        return Err(SettingsError::invalid(
            "PLUGIN_SOURCE_TAR_PATH",
            "needs PLUGIN_PUSH_ONLY=true",
        ));
    } else if s.push_only {
        Mode::PushOnly((!s.source_image.is_empty()).then(|| s.source_image.clone()))
    } else {
        Mode::Build(Box::new(build_config(
            &s,
            env,
            ci,
            cwd,
            version.as_deref(),
        )?))
    };
    let tar_path = (!s.tar_path.is_empty()).then(|| cwd.join(&s.tar_path));
    let insecure = (s.insecure && registry_host(&s.registry) == repo.host)
        || s.insecure_registries.0.contains(&repo.host);
    let outputs = Outputs {
        artifact_file: (!s.artifact_file.is_empty()).then(|| s.artifact_file.clone()),
        registry_type: s.registry_type.clone(),
        registry_url: s.registry.clone(),
        drone_output: env.string(&["DRONE_OUTPUT"]),
        card_path: env.string(&["DRONE_CARD_PATH"]),
    };
    Ok(Prepared::Run(Box::new(Config {
        daemon,
        repo,
        tags: tagged.iter().map(|(t, _)| t.clone()).collect(),
        tag_origins: tagged.into_iter().collect(),
        mode,
        push: !s.dry_run,
        credentials,
        tar_path,
        purge: s.purge,
        insecure,
        outputs,
        manifest_annotations,
    })))
}

/// A tag and where it came from: the variable an error names, and the words the plan shows.
struct Candidate {
    tag: String,
    var: &'static str,
    origin: String,
}

/// The tags to push, validated and de-duplicated (first one wins, order kept), each with where
/// it came from; `Err` carries why `auto_tag` skips this run.
fn tags_to_push(
    s: &DockerSettings,
    ci: &Ci,
    cwd: &Path,
) -> Result<Result<Vec<(String, String)>, String>, SettingsError> {
    if s.auto_tag_with_tags && !s.auto_tag {
        return Err(SettingsError::invalid(
            "PLUGIN_AUTO_TAG_WITH_TAGS",
            "needs PLUGIN_AUTO_TAG=true (without it the tags are pushed anyway)",
        ));
    }
    if !s.tag_flavor.is_empty() && s.tag_rules.is_empty() {
        return Err(SettingsError::invalid(
            "PLUGIN_TAG_FLAVOR",
            "needs PLUGIN_TAG_RULES (the flavor applies to the tags the rules make)",
        ));
    }
    let candidates = if !s.tag_rules.is_empty() {
        let mut by_rules = rule_tags(s, ci)?;
        if by_rules.is_empty() {
            return Ok(Err(format!(
                "tag rules give no tag for ref '{}' (event '{}'): nothing to push (PLUGIN_TAG_RULES)",
                ci.commit_ref, ci.event
            )));
        }
        by_rules.extend(given_tags(s, cwd, false)?);
        by_rules
    } else if s.auto_tag {
        match auto_tags(s, ci)? {
            Ok(mut auto) => {
                if s.auto_tag_with_tags {
                    auto.extend(given_tags(s, cwd, false)?);
                }
                auto
            }
            Err(skip) => return Ok(Err(skip)),
        }
    } else {
        given_tags(s, cwd, true)?
    };
    let no_tags_var = candidates.first().map_or_else(|| tags_var(s), |c| c.var);
    let clean = clean_tags(candidates)?;
    if clean.is_empty() {
        return Err(SettingsError::invalid(no_tags_var, "no tags to push"));
    }
    Ok(Ok(clean))
}

/// The tags of `PLUGIN_TAG_RULES` for this build, each with its rule.
fn rule_tags(s: &DockerSettings, ci: &Ci) -> Result<Vec<Candidate>, SettingsError> {
    const VAR: &str = "PLUGIN_TAG_RULES";
    if s.auto_tag {
        return Err(SettingsError::Conflict {
            first: VAR.into(),
            second: s.set_by.var("auto_tag").unwrap_or("PLUGIN_AUTO_TAG").into(),
            reason:
                "the rules decide the tags on every ref (type=semver rules give auto_tag's tags)"
                    .into(),
        });
    }
    let rules = tag_rules::parse_rules(&s.tag_rules).map_err(|e| SettingsError::invalid(VAR, e))?;
    let flavor = tag_rules::parse_flavor(&s.tag_flavor)
        .map_err(|e| SettingsError::invalid("PLUGIN_TAG_FLAVOR", e))?;
    let tags = tag_rules::evaluate(&rules, &flavor, ci, chrono::Utc::now())
        .map_err(|e| SettingsError::invalid(VAR, e))?;
    Ok(tags
        .into_iter()
        .map(|t| Candidate {
            tag: t.tag,
            var: VAR,
            origin: t.rule,
        })
        .collect())
}

/// The image's version label: with tag rules the first tag (metadata-action's `version`
/// output), else the git tag being built, if any.
fn image_version(s: &DockerSettings, ci: &Ci, tagged: &[(String, String)]) -> Option<String> {
    if !s.tag_rules.is_empty() {
        return tagged.first().map(|(t, _)| t.clone());
    }
    ci.commit_ref
        .strip_prefix("refs/tags/")
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The variable the user's tags came from.
fn tags_var(s: &DockerSettings) -> &'static str {
    s.set_by.var("tags").unwrap_or("PLUGIN_TAGS")
}

/// `auto_tag`'s tags for this ref; `Err` carries why the run is skipped.
fn auto_tags(s: &DockerSettings, ci: &Ci) -> Result<Result<Vec<Candidate>, String>, SettingsError> {
    if !tags::use_default_tag(&ci.commit_ref, &ci.default_branch) {
        return Ok(Err(format!(
            "auto_tag: ref '{}' is neither a tag nor the default branch '{}': skipping the build (PLUGIN_AUTO_TAG)",
            ci.commit_ref, ci.default_branch
        )));
    }
    let var = s.set_by.var("auto_tag").unwrap_or("PLUGIN_AUTO_TAG");
    let computed = tags::default_tag_suffix(&ci.commit_ref, &s.auto_tag_suffix).map_err(|e| {
        SettingsError::invalid(
            var,
            format!("cannot compute tags from ref '{}': {e}", ci.commit_ref),
        )
    })?;
    Ok(Ok(computed
        .into_iter()
        .map(|tag| Candidate {
            tag,
            var,
            origin: "auto_tag".into(),
        })
        .collect()))
}

/// The user's tags: `PLUGIN_TAGS` when given, else a `.tags` file, else (only when `default` is
/// true) the default `latest`. `auto_tag_with_tags` passes false: a default `latest` is not a
/// tag the user asked for, and on a tag ref it would move `latest` to every release.
fn given_tags(
    s: &DockerSettings,
    cwd: &Path,
    default: bool,
) -> Result<Vec<Candidate>, SettingsError> {
    let (list, var, origin) = if s.set_by.is_set("tags") {
        (s.tags.0.clone(), tags_var(s), tags_var(s).to_string())
    } else if std::fs::symlink_metadata(cwd.join(".tags")).is_ok() {
        (
            read_tags_file(&cwd.join(".tags"))?,
            ".tags",
            ".tags".to_string(),
        )
    } else if default {
        (s.tags.0.clone(), tags_var(s), "default".to_string())
    } else {
        return Ok(Vec::new());
    };
    Ok(list
        .into_iter()
        .map(|tag| Candidate {
            tag,
            var,
            origin: origin.clone(),
        })
        .collect())
}

/// Sanitises semver build metadata, refuses an invalid tag naming where it came from, and drops
/// duplicates (the first origin is kept).
fn clean_tags(candidates: Vec<Candidate>) -> Result<Vec<(String, String)>, SettingsError> {
    let mut clean: Vec<(String, String)> = Vec::new();
    for c in candidates {
        let t = match tags::sanitize_build_metadata(&c.tag) {
            Some(fixed) => {
                warn!(
                    "tag '{}' has semver build metadata, which a registry rejects: pushing it as '{fixed}'",
                    c.tag
                );
                fixed
            }
            None => c.tag,
        };
        if !tags::is_valid_tag(&t) {
            // The value may come from a file of the repository: echo only the start of it.
            return Err(SettingsError::invalid(
                c.var,
                format!(
                    "'{}' is not a valid tag (letters, digits, _ . -; at most 128; not starting with . or -)",
                    crate::files::excerpt(&t, 40)
                ),
            ));
        }
        if !clean.iter().any(|(have, _)| *have == t) {
            clean.push((t, c.origin));
        }
    }
    Ok(clean)
}

fn daemon_config(s: &DockerSettings, env: &Env) -> Result<DaemonConfig, SettingsError> {
    let host = env
        .string(&["DOCKER_HOST"])
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    if !["unix://", "tcp://", "http://", "https://"]
        .iter()
        .any(|p| host.starts_with(p))
    {
        return Err(SettingsError::invalid(
            "DOCKER_HOST",
            format!("'{host}' is not unix://, tcp:// or https://"),
        ));
    }
    let mut args = vec![
        format!("--data-root={}", s.storage_path),
        format!("--host={host}"),
    ];
    if Path::new("/etc/docker/default.json").is_file() {
        args.push("--seccomp-profile=/etc/docker/default.json".into());
    }
    let flag = |var: &str, name: &str, v: &str| -> Result<String, SettingsError> {
        if v.starts_with('-') || v.contains(char::is_whitespace) {
            return Err(SettingsError::invalid(
                var,
                format!("'{v}' is not a valid value"),
            ));
        }
        Ok(format!("--{name}={v}"))
    };
    if !s.storage_driver.is_empty() {
        args.push(flag(
            "PLUGIN_STORAGE_DRIVER",
            "storage-driver",
            &s.storage_driver,
        )?);
    }
    let mut insecure: Vec<String> = s.insecure_registries.0.clone();
    if s.insecure && !s.registry.is_empty() {
        insecure.insert(0, registry_host(&s.registry));
    }
    for r in insecure {
        args.push(flag("PLUGIN_INSECURE_REGISTRIES", "insecure-registry", &r)?);
    }
    if s.ipv6 {
        args.push("--ipv6".into());
    }
    for m in &s.mirror.0 {
        args.push(flag("PLUGIN_MIRROR", "registry-mirror", m)?);
    }
    if !s.bip.is_empty() {
        args.push(flag("PLUGIN_BIP", "bip", &s.bip)?);
    }
    for d in &s.custom_dns.0 {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(SettingsError::invalid(
                "PLUGIN_CUSTOM_DNS",
                format!("'{d}' is not an IP address"),
            ));
        }
        args.push(format!("--dns={d}"));
    }
    for d in &s.custom_dns_search.0 {
        args.push(flag("PLUGIN_CUSTOM_DNS_SEARCH", "dns-search", d)?);
    }
    if !s.mtu.is_empty() {
        if s.mtu.parse::<u32>().is_err() {
            return Err(SettingsError::invalid(
                "PLUGIN_MTU",
                format!("'{}' is not a whole number", s.mtu),
            ));
        }
        args.push(format!("--mtu={}", s.mtu));
    }
    if s.experimental {
        args.push("--experimental".into());
    }
    let secs = if s.daemon_retry_count <= 0 {
        15
    } else {
        s.daemon_retry_count as u64
    };
    Ok(DaemonConfig {
        start: !s.daemon_off,
        host,
        args,
        timeout: Duration::from_secs(secs),
        debug: s.debug,
        certs_d: Vec::new(),
    })
}

/// The registries a daemon we start must trust `HARNESS_CA_PATH` for: the one pushed to, the one
/// logged in to, the mirrors. (A base image's registry is known only to the build; a CA for it
/// goes in `/etc/docker/certs.d` of the runner's image.)
fn certs_d_hosts(s: &DockerSettings, repo: &Repository) -> Vec<String> {
    let mut hosts = vec![repo.host.clone()];
    if !s.registry.trim().is_empty() {
        hosts.push(registry_host(&s.registry));
    }
    hosts.extend(s.mirror.0.iter().map(|m| registry_host(m)));
    let mut out: Vec<String> = Vec::new();
    for h in hosts.iter().map(|h| crate::tls::certs_d_host(h)) {
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

/// A login given for `PLUGIN_REGISTRY` is never sent to another host: with `PLUGIN_REPO=myorg/app`
/// and `PLUGIN_REGISTRY=registry.corp.example`, the anchor logs in to the corporate registry and
/// pushes to Docker Hub; we would have sent the corporate password to Docker Hub. Refused, with
/// the fix named. Credentials found in `PLUGIN_CONFIG` are filed per host and cannot go astray.
fn check_login_host(
    s: &DockerSettings,
    repo: &Repository,
    creds: &Credentials,
) -> Result<(), SettingsError> {
    let login_host = registry_host(&s.registry);
    let given_for_registry = !s.password.is_empty() || !s.access_token.is_empty();
    if s.registry == "https://index.docker.io/v1/" || login_host == repo.host {
        return Ok(());
    }
    if given_for_registry && creds.push.is_some() {
        return Err(SettingsError::invalid(
            "PLUGIN_REPO",
            format!(
                "pushes to {} but the login is for PLUGIN_REGISTRY {login_host}: name the registry in the repository ({login_host}/{}) so the password goes only where it belongs",
                repo.host,
                repo.name
                    .strip_prefix(&format!("{}/", repo.host))
                    .unwrap_or(&repo.name)
            ),
        ));
    }
    warn!(
        "PLUGIN_REGISTRY is {login_host} but PLUGIN_REPO pushes to {}",
        repo.host
    );
    Ok(())
}

fn credentials(s: &DockerSettings, repo: &Repository) -> Result<Credentials, SettingsError> {
    let mut creds = Credentials {
        push_source: "none (anonymous)",
        ..Default::default()
    };
    if !s.config.is_empty() {
        creds.pull = parse_config_json(s.config.expose())
            .map_err(|e| SettingsError::invalid("PLUGIN_CONFIG", e))?;
    }
    if !s.base_image_registry.is_empty() {
        if s.base_image_password.is_empty() {
            warn!(
                "PLUGIN_BASE_IMAGE_REGISTRY is set without a password: base images are pulled anonymously"
            );
        } else {
            creds.pull.push(RegistryAuth::basic(
                &s.base_image_registry,
                &s.base_image_username,
                s.base_image_password.clone(),
            ));
        }
    }
    if !s.password.is_empty() {
        if s.username.is_empty() {
            return Err(SettingsError::Required {
                var: "PLUGIN_USERNAME".into(),
                hint: "PLUGIN_PASSWORD is set, so the registry user name is needed too".into(),
            });
        }
        creds.push = Some(RegistryAuth::basic(
            &repo.host,
            &s.username,
            s.password.clone(),
        ));
        creds.push_source = "PLUGIN_USERNAME and PLUGIN_PASSWORD";
    } else if !s.access_token.is_empty() {
        creds.push = Some(RegistryAuth::basic(
            &repo.host,
            "oauth2accesstoken",
            s.access_token.clone(),
        ));
        creds.push_source = "ACCESS_TOKEN";
    } else if let Some(a) = creds.for_host(&repo.host).cloned() {
        creds.push = Some(a);
        creds.push_source = "PLUGIN_CONFIG";
    }
    Ok(creds)
}

/// The largest `.tags` file read: a list of tags is a few hundred bytes.
const TAGS_FILE_CAP: u64 = 64 * 1024;

/// The tags of a `.tags` file the repository (or an earlier step) wrote: a regular file, not a
/// link (one to `/proc/self/environ` would otherwise print the environment), at most 64 KiB.
/// Errors never carry the file's content.
fn read_tags_file(path: &Path) -> Result<Vec<String>, SettingsError> {
    let bytes = crate::files::read_capped_nofollow(path, TAGS_FILE_CAP)
        .map_err(|e| SettingsError::invalid(".tags", format!("cannot be read: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| SettingsError::invalid(".tags", "is not UTF-8 text"))?;
    let list = <List as crate::settings::Value>::parse(&text)
        .map_err(|_| SettingsError::invalid(".tags", "is not a comma- or line-separated list"))?;
    Ok(if list.is_empty() {
        vec!["latest".to_string()]
    } else {
        list.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(pairs: &[(&str, &str)], repo: &str) -> Vec<String> {
        let env = Env::from_pairs(pairs.iter().copied());
        let s = DockerSettings::load(&env).unwrap();
        certs_d_hosts(&s, &Repository::parse(repo).unwrap())
    }

    /// The tags `pairs` push from an empty working directory (`Err`: skipped or refused).
    fn tags_for(pairs: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let env = Env::from_pairs(pairs.iter().copied());
        let s = DockerSettings::load(&env).map_err(|e| e.to_string())?;
        let dir = tempfile::tempdir().unwrap();
        match tags_to_push(&s, &Ci::from_env(&env), dir.path()) {
            Ok(Ok(tags)) => Ok(tags.into_iter().map(|(t, _)| t).collect()),
            Ok(Err(skip)) => Err(format!("skip: {skip}")),
            Err(e) => Err(e.to_string()),
        }
    }

    const TAG_REF: (&str, &str) = ("DRONE_COMMIT_REF", "refs/tags/v1.2.3");
    const DEFAULT: (&str, &str) = ("DRONE_REPO_BRANCH", "main");

    #[test]
    fn auto_tag_with_tags_keeps_the_users_tags_after_the_computed_ones() {
        let got = tags_for(&[
            ("PLUGIN_AUTO_TAG", "true"),
            ("PLUGIN_AUTO_TAG_WITH_TAGS", "true"),
            ("PLUGIN_TAGS", "stable,1.2,extra"),
            TAG_REF,
            DEFAULT,
        ]);
        assert_eq!(got.unwrap(), ["1", "1.2", "1.2.3", "stable", "extra"]);
        // Without it, auto_tag replaces them, as the anchor.
        let got = tags_for(&[
            ("PLUGIN_AUTO_TAG", "true"),
            ("PLUGIN_TAGS", "stable"),
            TAG_REF,
        ]);
        assert_eq!(got.unwrap(), ["1", "1.2", "1.2.3"]);
    }

    #[test]
    fn auto_tag_with_tags_adds_no_default_latest_and_still_skips_other_branches() {
        let got = tags_for(&[
            ("PLUGIN_AUTO_TAG", "true"),
            ("PLUGIN_AUTO_TAG_WITH_TAGS", "true"),
            TAG_REF,
        ]);
        assert_eq!(got.unwrap(), ["1", "1.2", "1.2.3"]);
        let got = tags_for(&[
            ("PLUGIN_DEFAULT_TAGS", "true"),
            ("PLUGIN_AUTO_TAG_WITH_TAGS", "true"),
            ("PLUGIN_TAGS", "x"),
            ("DRONE_COMMIT_REF", "refs/heads/feature"),
            DEFAULT,
        ]);
        assert!(got.unwrap_err().starts_with("skip: "));
        // On the default branch: latest, then the user's (latest once).
        let got = tags_for(&[
            ("PLUGIN_AUTO_TAG", "true"),
            ("PLUGIN_AUTO_TAG_WITH_TAGS", "true"),
            ("PLUGIN_TAGS", "latest,edge"),
            ("DRONE_COMMIT_REF", "refs/heads/main"),
            DEFAULT,
        ]);
        assert_eq!(got.unwrap(), ["latest", "edge"]);
    }

    #[test]
    fn auto_tag_with_tags_errors_name_the_variable() {
        let err = tags_for(&[("PLUGIN_AUTO_TAG_WITH_TAGS", "true"), ("PLUGIN_TAGS", "x")]);
        assert!(
            err.unwrap_err()
                .starts_with("PLUGIN_AUTO_TAG_WITH_TAGS: needs PLUGIN_AUTO_TAG=true")
        );
        let err = tags_for(&[
            ("PLUGIN_AUTO_TAG", "true"),
            ("PLUGIN_AUTO_TAG_WITH_TAGS", "true"),
            ("PLUGIN_TAG", "ok,-bad"),
            TAG_REF,
        ]);
        assert_eq!(
            err.unwrap_err(),
            "PLUGIN_TAG: '-bad' is not a valid tag (letters, digits, _ . -; at most 128; not starting with . or -)"
        );
    }

    #[test]
    fn auto_tag_with_tags_reads_the_tags_file_when_no_variable_is_set() {
        let env = Env::from_pairs([
            ("PLUGIN_AUTO_TAG", "true"),
            ("PLUGIN_AUTO_TAG_WITH_TAGS", "true"),
            TAG_REF,
        ]);
        let s = DockerSettings::load(&env).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".tags"), "from-file,1.2\n").unwrap();
        let tags = tags_to_push(&s, &Ci::from_env(&env), dir.path())
            .unwrap()
            .unwrap();
        assert_eq!(
            tags,
            [
                ("1".to_string(), "auto_tag".to_string()),
                ("1.2".into(), "auto_tag".into()),
                ("1.2.3".into(), "auto_tag".into()),
                ("from-file".into(), ".tags".into()),
            ]
        );
    }

    #[test]
    fn tag_rules_decide_on_every_ref_and_add_the_given_tags() {
        let rules = ("PLUGIN_TAG_RULES", "type=ref,event=branch\ntype=sha");
        let branch = ("DRONE_COMMIT_REF", "refs/heads/feature/x");
        let sha = ("DRONE_COMMIT_SHA", "abcdef1234567");
        assert_eq!(
            tags_for(&[rules, branch, sha, DEFAULT]).unwrap(),
            ["feature-x", "sha-abcdef1"]
        );
        assert_eq!(
            tags_for(&[rules, branch, sha, ("PLUGIN_TAGS", "extra,feature-x")]).unwrap(),
            ["feature-x", "sha-abcdef1", "extra"]
        );
        let env = Env::from_pairs([rules, branch, sha]);
        let s = DockerSettings::load(&env).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let tagged = tags_to_push(&s, &Ci::from_env(&env), dir.path())
            .unwrap()
            .unwrap();
        assert_eq!(tagged[0].1, "type=ref,event=branch");
        assert_eq!(tagged[1].1, "type=sha");
    }

    #[test]
    fn tag_rules_that_give_nothing_skip_and_bad_ones_are_refused() {
        let got = tags_for(&[
            ("PLUGIN_TAG_RULES", "type=semver,pattern={{version}}"),
            ("DRONE_COMMIT_REF", "refs/heads/main"),
        ]);
        assert!(got.unwrap_err().starts_with("skip: tag rules give no tag"));
        for (pairs, want) in [
            (
                &[("PLUGIN_TAG_RULES", "type=ref,event=push")][..],
                "PLUGIN_TAG_RULES: rule 'type=ref,event=push': event 'push' is not branch, tag or pr",
            ),
            (
                &[
                    ("PLUGIN_TAG_RULES", "type=sha"),
                    ("PLUGIN_AUTO_TAG", "true"),
                ][..],
                "PLUGIN_TAG_RULES and PLUGIN_AUTO_TAG cannot be used together: the rules decide the tags on every ref (type=semver rules give auto_tag's tags)",
            ),
            (
                &[("PLUGIN_TAG_FLAVOR", "latest=false")][..],
                "PLUGIN_TAG_FLAVOR: needs PLUGIN_TAG_RULES (the flavor applies to the tags the rules make)",
            ),
            (
                &[
                    ("PLUGIN_TAG_RULES", "type=sha"),
                    ("PLUGIN_TAG_FLAVOR", "latest=maybe"),
                ][..],
                "PLUGIN_TAG_FLAVOR: latest 'maybe' is not auto, true or false",
            ),
            (
                &[("PLUGIN_TAG_RULES", "type=raw,value=-x")][..],
                "PLUGIN_TAG_RULES: rule 'type=raw,value=-x' gives '-x', which is not a valid tag",
            ),
        ] {
            let err = tags_for(pairs).unwrap_err();
            assert!(err.starts_with(want), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn dockerd_gets_the_harness_ca_for_the_push_registry_the_login_and_the_mirrors() {
        assert_eq!(
            hosts(
                &[
                    ("PLUGIN_REGISTRY", "https://registry.corp:5000"),
                    ("PLUGIN_MIRROR", "https://mirror.corp,registry.corp:5000"),
                ],
                "registry.corp:5000/team/app",
            ),
            ["registry.corp:5000", "mirror.corp"]
        );
        // Docker Hub's certs.d name is its API host.
        assert_eq!(hosts(&[], "team/app"), ["registry-1.docker.io"]);
    }
}
