//! [`Env`]: a snapshot of the variables a plugin reads, with the alias precedence rule and the
//! `PLUGIN_ENV_FILE` dotenv loading (which never overrides a variable already set).

use std::collections::BTreeMap;
use std::path::Path;

use super::{SettingsError, Value};

/// The environment a plugin reads its settings from.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The process environment. Variables whose name or value is not UTF-8 are skipped: no
    /// setting of ours can use them.
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place settings are read from"
    )]
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Env { vars }
    }

    /// An environment made of the given pairs (tests, fixtures).
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Loads `PLUGIN_ENV_FILE` (dotenv format) when it is set: its variables are added, but a
    /// variable already set in the environment keeps its value, as godotenv.Load does.
    pub fn with_env_file(mut self) -> Result<Self, SettingsError> {
        let Some(path) = self.get("PLUGIN_ENV_FILE").filter(|p| !p.trim().is_empty()) else {
            return Ok(self);
        };
        let path = path.trim().to_string();
        let iter = dotenvy::from_path_iter(Path::new(&path)).map_err(|e| {
            SettingsError::invalid("PLUGIN_ENV_FILE", format!("cannot read {path}: {e}"))
        })?;
        for item in iter {
            let (k, v) = item.map_err(|e| {
                SettingsError::invalid(
                    "PLUGIN_ENV_FILE",
                    format!("{path} is not a valid env file: {e}"),
                )
            })?;
            self.vars.entry(k).or_insert(v);
        }
        Ok(self)
    }

    /// The raw value of one variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The first of `names` that is set, with its value (even when that value is empty).
    pub fn first_set<'a>(&'a self, names: &[&'a str]) -> Option<(&'a str, &'a str)> {
        names
            .iter()
            .find_map(|n| self.vars.get(*n).map(|v| (*n, v.as_str())))
    }

    /// True when any of `names` is set.
    pub fn is_set(&self, names: &[&str]) -> bool {
        self.first_set(names).is_some()
    }

    /// A non-empty trimmed value of the first set variable among `names`.
    pub fn string(&self, names: &[&str]) -> Option<String> {
        self.first_set(names)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// Parses a setting: the first set variable of `names`, or `default` when none is set or the
    /// set one is empty.
    pub fn value<T: Value>(&self, names: &[&str], default: &str) -> Result<T, SettingsError> {
        match self.first_set(names) {
            Some((name, raw)) if !raw.trim().is_empty() => {
                T::parse(raw).map_err(|reason| SettingsError::invalid(name, reason))
            }
            _ if !default.is_empty() => T::parse(default).map_err(|reason| {
                SettingsError::invalid(names[0], format!("bad default: {reason}"))
            }),
            _ => Ok(T::unset()),
        }
    }

    /// All variable names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_set_alias_wins_even_when_empty() {
        let env = Env::from_pairs([("PLUGIN_TAG", ""), ("PLUGIN_TAGS", "a")]);
        assert_eq!(
            env.first_set(&["PLUGIN_TAG", "PLUGIN_TAGS"]),
            Some(("PLUGIN_TAG", ""))
        );
        // Empty means "not given": the default applies, the later alias does not.
        let v: String = env.value(&["PLUGIN_TAG", "PLUGIN_TAGS"], "latest").unwrap();
        assert_eq!(v, "latest");
    }

    #[test]
    fn precedence_follows_the_order_of_names() {
        let env = Env::from_pairs([("DOCKER_USERNAME", "b"), ("PLUGIN_USERNAME", "a")]);
        let v: String = env
            .value(&["PLUGIN_USERNAME", "DOCKER_USERNAME"], "")
            .unwrap();
        assert_eq!(v, "a");
    }

    #[test]
    fn env_file_does_not_override() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.env");
        std::fs::write(&file, "PLUGIN_REPO=from-file\nPLUGIN_TAGS=\"a,b\"\n").unwrap();
        let env = Env::from_pairs([
            ("PLUGIN_ENV_FILE", file.to_str().unwrap()),
            ("PLUGIN_REPO", "from-env"),
        ])
        .with_env_file()
        .unwrap();
        assert_eq!(env.get("PLUGIN_REPO"), Some("from-env"));
        assert_eq!(env.get("PLUGIN_TAGS"), Some("a,b"));
    }

    #[test]
    fn missing_env_file_names_the_variable() {
        let env = Env::from_pairs([("PLUGIN_ENV_FILE", "/nonexistent/x.env")]);
        let err = env.with_env_file().unwrap_err().to_string();
        assert!(
            err.starts_with("PLUGIN_ENV_FILE: cannot read /nonexistent/x.env"),
            "{err}"
        );
    }
}
