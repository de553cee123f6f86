//! One upload plan for the plugins that take the shared upload settings (`PLUGIN_SOURCE`,
//! `PLUGIN_EXCLUDE`, `PLUGIN_TARGET`, `PLUGIN_STRIP_PREFIX`): the files selected, each with its
//! key, and each failure reported under the variable that caused it. s3 and Nexus call it;
//! the headers and items that follow are each backend's own.

use std::path::Path;

use super::glob::Matcher;
use super::headers::{HeaderRules, resolve_content_type};
use super::keys::{KeyError, KeyMapper};
use super::select::{LocalFile, select};
use super::transfer::{Item, ObjectHeaders};
use crate::settings::SettingsError;

/// The shared upload settings, as read.
#[derive(Debug, Clone, Copy)]
pub struct PlanSettings<'a> {
    /// `PLUGIN_SOURCE`: globs or paths.
    pub sources: &'a [String],
    /// `PLUGIN_EXCLUDE`: globs.
    pub excludes: &'a [String],
    /// `PLUGIN_TARGET`: the key prefix.
    pub target: &'a str,
    /// `PLUGIN_STRIP_PREFIX`.
    pub strip_prefix: &'a str,
    /// Whether a source that matches nothing is an error.
    pub fail_on_empty: bool,
}

/// The selected files with their keys, in selection order. Warnings (an empty directory, a
/// strip prefix that matched nothing) are logged.
pub fn plan_files(
    p: &PlanSettings<'_>,
    cwd: &Path,
) -> Result<Vec<(LocalFile, String)>, SettingsError> {
    check_excludes(p.excludes, "PLUGIN_EXCLUDE")?;
    let selection = select(p.sources, p.excludes, cwd, p.fail_on_empty)
        .map_err(|e| SettingsError::invalid("PLUGIN_SOURCE", e.to_string()))?;
    for w in &selection.warnings {
        tracing::warn!("{w}");
    }
    let mapper = KeyMapper::new(p.target, p.strip_prefix).map_err(|e| {
        let var = if matches!(e, KeyError::Target { .. }) {
            "PLUGIN_TARGET"
        } else {
            "PLUGIN_STRIP_PREFIX"
        };
        SettingsError::invalid(var, e.to_string())
    })?;
    let plan = mapper
        .map_files(&selection.files)
        .map_err(|e| SettingsError::invalid("PLUGIN_TARGET", e.to_string()))?;
    for w in &plan.warnings {
        tracing::warn!("{w}");
    }
    Ok(selection
        .files
        .into_iter()
        .zip(plan.keys)
        .map(|(f, (_, key))| (f, key))
        .collect())
}

/// The per-file header rules of the s3-style settings (`PLUGIN_CONTENT_TYPE`,
/// `PLUGIN_CONTENT_ENCODING`, `PLUGIN_CACHE_CONTROL`, `PLUGIN_METADATA`).
#[derive(Debug, Clone, Default)]
pub struct HeaderSettings {
    /// Content type rules.
    pub content_type: HeaderRules,
    /// Content encoding rules.
    pub content_encoding: HeaderRules,
    /// Cache control rules.
    pub cache_control: HeaderRules,
    /// Metadata for every object.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// The planned files as transfer items, their headers from `rules` (matched against the path
/// as selected).
pub fn items(files: Vec<(LocalFile, String)>, rules: &HeaderSettings) -> Vec<Item> {
    files
        .into_iter()
        .map(|(f, key)| {
            let shown = f.path.to_string_lossy();
            let headers = ObjectHeaders {
                content_type: resolve_content_type(&rules.content_type, &shown).to_string(),
                content_encoding: rules.content_encoding.value_for(&shown).map(str::to_string),
                cache_control: rules.cache_control.value_for(&shown).map(str::to_string),
                metadata: rules.metadata.clone(),
            };
            Item {
                path: f.abs,
                size: f.size,
                key,
                headers,
            }
        })
        .collect()
}

/// Compiles every exclude pattern before the selection does, so that a bad one (an unclosed
/// `{`) is reported under its own variable, not as a `PLUGIN_SOURCE` error.
pub fn check_excludes(excludes: &[String], var: &str) -> Result<(), SettingsError> {
    for e in excludes {
        Matcher::new(e).map_err(|err| SettingsError::invalid(var, err.to_string()))?;
    }
    Ok(())
}
