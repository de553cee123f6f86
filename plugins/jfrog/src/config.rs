//! [`JfrogSettings`] → a validated [`Config`]: the login chosen, the URL, TLS and proxies
//! checked, every file matched and mapped to its artifact path with its properties — all
//! before any network call (reference upload-plugins §6.1–§6.3).

use std::collections::HashMap;
use std::path::Path;

use longshore_core::ci::Ci;
use longshore_core::settings::{Env, SettingsError};
use longshore_core::tls::{self, CaBundle};
use longshore_core::upload::artifactory::spec::{
    self, JfrogSpecError, Planned, Props, UploadRule, parse_file_spec, parse_props, parse_spec_vars,
};
use longshore_core::upload::artifactory::{self, Auth, Proxies};
use tracing::warn;

use crate::settings::JfrogSettings;

/// The anchor's message when no login is given.
const NO_LOGIN: &str = "either username/password, api key or access token needs to be set";

/// Variables of the anchor's other commands (Maven/Gradle builds, download, promote…).
pub(crate) const OTHER_COMMANDS: &[&str] = &["PLUGIN_COMMAND", "PLUGIN_BUILD_TOOL"];

/// A validated run.
#[derive(Debug)]
pub(crate) struct Config {
    /// The login.
    pub auth: Auth,
    /// `PLUGIN_URL` with a trailing `/`.
    pub base: String,
    /// The REST base (`…/artifactory/`) when the URL has one.
    pub api_base: Option<String>,
    /// What goes where.
    pub files: Vec<Planned>,
    /// TLS and proxies.
    pub client: artifactory::ClientOptions,
    /// Files in flight.
    pub threads: usize,
    /// Retries per request.
    pub retries: u32,
    /// Build name and number.
    pub build: Option<(String, String)>,
    /// Publish the build info.
    pub publish_build_info: bool,
    /// Skip unchanged artifacts.
    pub skip_unchanged: bool,
    /// Print the plan only.
    pub dry_run: bool,
    /// `PLUGIN_ARTIFACT_FILE`.
    pub artifact_file: Option<String>,
    /// `DRONE_OUTPUT`.
    pub drone_output: Option<String>,
    /// CI metadata for the build info.
    pub ci: Ci,
    /// Link of the CI build (`DRONE_BUILD_LINK`…).
    pub build_link: String,
}

impl Config {
    /// Target properties of each artifact path.
    pub(crate) fn props_by_key(&self) -> HashMap<String, Props> {
        self.files
            .iter()
            .map(|p| (p.key.clone(), p.props.clone()))
            .collect()
    }
}

fn invalid(var: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError::invalid(var, reason)
}

/// The login, in the anchor's order: username + password, API key, access token.
fn login(s: &JfrogSettings) -> Result<Auth, SettingsError> {
    let has_password = !s.password.is_empty();
    if !s.username.is_empty() && has_password {
        if !s.api_key.is_empty() || !s.access_token.is_empty() {
            warn!(
                "PLUGIN_USERNAME/PLUGIN_PASSWORD is used; PLUGIN_API_KEY/PLUGIN_ACCESS_TOKEN are ignored (the anchor's priority)"
            );
        }
        // The Basic header's base64 of `user:password` is masked too, should it ever be printed.
        longshore_core::secret::register(&format!("{}:{}", s.username, s.password.expose()));
        return Ok(Auth::Basic {
            user: s.username.clone(),
            password: s.password.clone(),
        });
    }
    if !s.username.is_empty() {
        warn!("PLUGIN_USERNAME without PLUGIN_PASSWORD is ignored");
    } else if has_password {
        warn!("PLUGIN_PASSWORD without PLUGIN_USERNAME is ignored");
    }
    if !s.api_key.is_empty() {
        return Ok(Auth::ApiKey(s.api_key.clone()));
    }
    if !s.access_token.is_empty() {
        return Ok(Auth::Bearer(s.access_token.clone()));
    }
    Err(SettingsError::Required {
        var: "PLUGIN_ACCESS_TOKEN".into(),
        hint: format!(
            "{NO_LOGIN} (PLUGIN_USERNAME + PLUGIN_PASSWORD, PLUGIN_API_KEY or PLUGIN_ACCESS_TOKEN)"
        ),
    })
}

/// `PLUGIN_URL`: http(s), no credentials in it, a trailing `/` added.
fn base_url(url: &str) -> Result<String, SettingsError> {
    if url.is_empty() {
        return Err(SettingsError::Required {
            var: "PLUGIN_URL".into(),
            hint: "JFrog Artifactory URL must be set (https://host/artifactory/)".into(),
        });
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid(
            "PLUGIN_URL",
            format!("'{url}' is not an http(s) URL"),
        ));
    };
    if !matches!(scheme, "http" | "https") {
        return Err(invalid(
            "PLUGIN_URL",
            format!("'{url}' is not an http(s) URL"),
        ));
    }
    let host = rest.split('/').next().unwrap_or("");
    if host.contains('@') {
        // Credentials here would be printed with every artifact URL.
        return Err(invalid(
            "PLUGIN_URL",
            "holds a login (user@host): use PLUGIN_USERNAME / PLUGIN_PASSWORD or PLUGIN_ACCESS_TOKEN",
        ));
    }
    if host.is_empty()
        || rest.contains(|c: char| c.is_whitespace() || c.is_control())
        || rest.contains(['?', '#', ';'])
    {
        return Err(invalid(
            "PLUGIN_URL",
            format!("'{url}' is not a usable base URL"),
        ));
    }
    Ok(if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    })
}

/// Maps a spec error to the variable it comes from.
fn spec_error(e: JfrogSpecError, spec_mode: bool) -> SettingsError {
    let var = match (&e, spec_mode) {
        (_, true) => "PLUGIN_SPEC",
        (JfrogSpecError::Target { .. }, false) => "PLUGIN_TARGET",
        (JfrogSpecError::Props(_), false) => "PLUGIN_TARGET_PROPS",
        _ => "PLUGIN_SOURCE",
    };
    invalid(var, e.to_string())
}

/// The upload rules: one from source/target, or those of the file spec.
fn rules(s: &JfrogSettings, cwd: &Path) -> Result<Vec<UploadRule>, SettingsError> {
    let exclusions: Vec<String> = s
        .exclusions
        .split([';', ','])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    if !s.spec.is_empty() {
        for (var, set) in [
            ("PLUGIN_SOURCE", !s.source.is_empty()),
            ("PLUGIN_TARGET", !s.target.is_empty()),
            ("PLUGIN_TARGET_PROPS", !s.target_props.is_empty()),
        ] {
            if set {
                warn!("{var} is ignored: PLUGIN_SPEC is set (as in the anchor)");
            }
        }
        let path = cwd.join(&s.spec);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| invalid("PLUGIN_SPEC", format!("cannot read {}: {e}", s.spec)))?;
        let vars = parse_spec_vars(&s.spec_vars)
            .map_err(|e| invalid("PLUGIN_SPEC_VARS", e.to_string()))?;
        let spec = parse_file_spec(&text, &vars).map_err(|e| spec_error(e, true))?;
        for w in &spec.warnings {
            warn!("PLUGIN_SPEC: {w}");
        }
        // The anchor passes --flat (and jf lets a flag override the spec) only as a setting:
        // here PLUGIN_FLAT overrides the entries only when it is set.
        let flat_set = s.set_by.is_set("flat");
        let recursive_set = s.set_by.is_set("recursive");
        let mut rules = spec.rules;
        for r in &mut rules {
            if flat_set {
                r.flat = s.flat;
            }
            if recursive_set {
                r.recursive = s.recursive;
            }
            if !exclusions.is_empty() {
                r.exclusions = exclusions.clone();
            }
        }
        return Ok(rules);
    }
    if !s.spec_vars.is_empty() {
        warn!("PLUGIN_SPEC_VARS is ignored without PLUGIN_SPEC");
    }
    if s.source.is_empty() {
        return Err(SettingsError::Required {
            var: "PLUGIN_SOURCE".into(),
            hint: "the files to upload (a jf wildcard pattern), or PLUGIN_SPEC".into(),
        });
    }
    if s.target.is_empty() {
        return Err(SettingsError::Required {
            var: "PLUGIN_TARGET".into(),
            hint: "where to upload: repo/path/ (folder) or repo/path/file".into(),
        });
    }
    let (props, warnings) = parse_props(&s.target_props).map_err(|e| spec_error(e, false))?;
    for w in warnings {
        warn!("PLUGIN_TARGET_PROPS: {w}");
    }
    let mut rule = UploadRule::new(&s.source, &s.target);
    rule.flat = s.flat;
    rule.recursive = s.recursive;
    rule.exclusions = exclusions;
    rule.props = props;
    Ok(vec![rule])
}

/// The custom CA: `PLUGIN_PEM_FILE_CONTENTS` first (always fresh, unlike the anchor's file
/// written once and then kept), else the file at `PLUGIN_PEM_FILE_PATH`.
fn custom_ca(s: &JfrogSettings, cwd: &Path) -> Result<Option<CaBundle>, SettingsError> {
    if s.insecure {
        if !s.pem_file_contents.is_empty() || !s.pem_file_path.is_empty() {
            warn!("PLUGIN_INSECURE=true: the custom CA is not needed and not used");
        }
        return Ok(None);
    }
    tls::pem_settings(
        &s.pem_file_contents,
        &s.pem_file_path,
        cwd,
        tls::BothPem::ContentsFirst,
    )
}

/// Checks everything; matches and maps the files. The checks run in this order: other jf
/// commands, URL, login, limits, build, TLS and proxies, then the files.
pub(crate) fn prepare(s: JfrogSettings, env: &Env, cwd: &Path) -> Result<Config, SettingsError> {
    refuse_other_commands(env)?;
    let base = base_url(&s.url)?;
    let api_base = artifactory::sanitize_url(&base).ok();
    let auth = login(&s)?;
    let threads = check_limits(&s)?;
    let build = build(&s, &base)?;
    let ca = custom_ca(&s, cwd)?;
    let proxies = proxies(&s, env)?;
    let files = selection(&s, cwd)?;
    let ci = Ci::from_env(env);
    Ok(Config {
        auth,
        base,
        api_base,
        files,
        client: artifactory::ClientOptions {
            ca,
            insecure: s.insecure,
            proxies,
            user_agent: concat!("longshore-jfrog/", env!("CARGO_PKG_VERSION")).into(),
        },
        threads,
        retries: s.retries,
        build,
        publish_build_info: s.publish_build_info,
        skip_unchanged: s.skip_unchanged,
        dry_run: s.dry_run,
        artifact_file: (!s.artifact_file.is_empty()).then(|| s.artifact_file.clone()),
        drone_output: env.string(&["DRONE_OUTPUT"]),
        ci,
        build_link: env
            .string(&["DRONE_BUILD_LINK", "CI_PIPELINE_URL", "CI_BUILD_LINK"])
            .unwrap_or_default(),
    })
}

/// The jf commands this plugin does not replace are refused, not ignored.
fn refuse_other_commands(env: &Env) -> Result<(), SettingsError> {
    for var in OTHER_COMMANDS {
        if let Some(v) = env.string(&[var]) {
            return Err(invalid(
                var,
                format!(
                    "'{v}': longshore-jfrog replaces the upload path only (no Maven/Gradle builds, download, promote or scan commands)"
                ),
            ));
        }
    }
    Ok(())
}

/// `PLUGIN_THREADS` (0: the default, 3) and `PLUGIN_RETRIES`; the thread count.
fn check_limits(s: &JfrogSettings) -> Result<usize, SettingsError> {
    let threads = match s.threads {
        0 => 3,
        n @ 1..=64 => n,
        n => {
            return Err(invalid(
                "PLUGIN_THREADS",
                format!("{n} is not between 0 and 64"),
            ));
        }
    };
    if s.retries > 20 {
        return Err(invalid(
            "PLUGIN_RETRIES",
            format!("{} is not between 0 and 20", s.retries),
        ));
    }
    Ok(threads)
}

/// The build name and number (both or neither), and what publishing its info and
/// `PLUGIN_SKIP_UNCHANGED` need of them.
fn build(s: &JfrogSettings, base: &str) -> Result<Option<(String, String)>, SettingsError> {
    let build = match (s.build_name.is_empty(), s.build_number.is_empty()) {
        (true, true) => None,
        (false, false) => Some((s.build_name.clone(), s.build_number.clone())),
        (false, true) => {
            return Err(SettingsError::Required {
                var: "PLUGIN_BUILD_NUMBER".into(),
                hint: "PLUGIN_BUILD_NAME is set: the build name and number go together".into(),
            });
        }
        (true, false) => {
            return Err(SettingsError::Required {
                var: "PLUGIN_BUILD_NAME".into(),
                hint: "PLUGIN_BUILD_NUMBER is set: the build name and number go together".into(),
            });
        }
    };
    if s.publish_build_info {
        if build.is_none() {
            return Err(SettingsError::Required {
                var: "PLUGIN_BUILD_NAME".into(),
                hint: "PLUGIN_PUBLISH_BUILD_INFO needs PLUGIN_BUILD_NAME and PLUGIN_BUILD_NUMBER"
                    .into(),
            });
        }
        if let Err(e) = artifactory::sanitize_url(base) {
            return Err(invalid(
                "PLUGIN_URL",
                format!("{e} (the build info goes to …/artifactory/api/build)"),
            ));
        }
    }
    if s.skip_unchanged && build.is_some() {
        return Err(SettingsError::Conflict {
            first: "PLUGIN_SKIP_UNCHANGED".into(),
            second: "PLUGIN_BUILD_NAME".into(),
            reason:
                "a skipped artifact would not get the build properties that link it to the build"
                    .into(),
        });
    }
    Ok(build)
}

/// The Harness proxy variables when `PLUGIN_ENABLE_PROXY` asks for them, checked.
fn proxies(s: &JfrogSettings, env: &Env) -> Result<Proxies, SettingsError> {
    let proxies = if s.enable_proxy {
        Proxies {
            http: env.string(&["HARNESS_HTTP_PROXY"]),
            https: env.string(&["HARNESS_HTTPS_PROXY"]),
            no_proxy: env.string(&["HARNESS_NO_PROXY"]),
        }
    } else {
        Proxies::default()
    };
    artifactory::build_proxies(&proxies)
        .map_err(|e| invalid("PLUGIN_ENABLE_PROXY", e.to_string()))?;
    Ok(proxies)
}

/// The files matched by the spec or the source patterns, each with its target path.
fn selection(s: &JfrogSettings, cwd: &Path) -> Result<Vec<Planned>, SettingsError> {
    let rules = rules(s, cwd)?;
    let spec_mode = !s.spec.is_empty();
    let files = spec::plan_all(&rules, cwd).map_err(|e| spec_error(e, spec_mode))?;
    if files.is_empty() {
        if s.fail_no_op {
            return Err(invalid(
                if spec_mode {
                    "PLUGIN_SPEC"
                } else {
                    "PLUGIN_SOURCE"
                },
                "no file matched (PLUGIN_FAIL_NO_OP=true)",
            ));
        }
        warn!("no file matched: nothing to upload");
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> JfrogSettings {
        JfrogSettings::load(&Env::from_pairs(pairs.iter().copied())).unwrap()
    }

    /// The anchor's `TestSetAuthParams` table (§6.1).
    #[test]
    fn login_priority_table() {
        let auth = |p: &[(&str, &str)]| login(&settings(p));
        assert!(matches!(
            auth(&[("PLUGIN_USERNAME", "john"), ("PLUGIN_PASSWORD", "password123")]).unwrap(),
            Auth::Basic { user, .. } if user == "john"
        ));
        assert!(matches!(
            auth(&[("PLUGIN_API_KEY", "secretkey")]).unwrap(),
            Auth::ApiKey(_)
        ));
        assert!(matches!(
            auth(&[("PLUGIN_ACCESS_TOKEN", "token123")]).unwrap(),
            Auth::Bearer(_)
        ));
        let e = auth(&[]).unwrap_err().to_string();
        assert!(e.contains(NO_LOGIN), "{e}");
        assert!(matches!(
            auth(&[("PLUGIN_USERNAME", "user"), ("PLUGIN_API_KEY", "apikey123")]).unwrap(),
            Auth::ApiKey(_)
        ));
        // Username + password beat the others, as in the anchor.
        assert!(matches!(
            auth(&[
                ("PLUGIN_USERNAME", "u"),
                ("PLUGIN_PASSWORD", "p4ss"),
                ("PLUGIN_ACCESS_TOKEN", "t0ken"),
            ])
            .unwrap(),
            Auth::Basic { .. }
        ));
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            base_url("https://h/artifactory").unwrap(),
            "https://h/artifactory/"
        );
        assert_eq!(
            base_url("http://h:8081/artifactory/libs/").unwrap(),
            "http://h:8081/artifactory/libs/"
        );
        for bad in [
            "h/artifactory",
            "ftp://h/",
            "https://u:p@h/artifactory",
            "https://h/a?x=1",
            "https://",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }
}
