//! The Nexus upload plan: the files named or matched (`PLUGIN_FILENAME`, `PLUGIN_ARTIFACTS`,
//! `PLUGIN_SOURCE`) turned into components (Maven coordinates, raw directories) or direct PUTs.

use crate::settings::NexusSettings;
use longshore_core::settings::SettingsError;
use longshore_core::upload::headers::content_type;
use longshore_core::upload::nexus::{self, Component, Layout, MAX_ASSETS, MavenAsset, maven_path};
use longshore_core::upload::plan::{PlanSettings, plan_files};
use longshore_core::upload::transfer::{Item, ObjectHeaders};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::*;

pub(crate) fn find_file(var: &str, file: &str, cwd: &Path) -> Result<Found, SettingsError> {
    let abs = cwd.join(file);
    let meta =
        std::fs::metadata(&abs).map_err(|e| invalid(var, format!("cannot read {file}: {e}")))?;
    if !meta.is_file() {
        return Err(invalid(var, format!("{file} is not a regular file")));
    }
    Ok(Found {
        shown: file.to_string(),
        abs,
        size: meta.len(),
    })
}

/// Glob mode: the selected files with their repository paths.
pub(crate) fn glob_files(
    s: &NexusSettings,
    cwd: &Path,
) -> Result<Vec<(Found, String)>, SettingsError> {
    // The anchor failed on a missing file; a glob that matches nothing is as much a mistake.
    let files = plan_files(
        &PlanSettings {
            sources: &s.source.0,
            excludes: &s.exclude.0,
            target: &s.target,
            strip_prefix: &s.strip_prefix,
            fail_on_empty: true,
        },
        cwd,
    )?;
    Ok(files
        .into_iter()
        .map(|(f, key)| {
            (
                Found {
                    shown: f.path.to_string_lossy().into_owned(),
                    abs: f.abs,
                    size: f.size,
                },
                key,
            )
        })
        .collect())
}

pub(crate) fn put_item(f: &Found, key: String) -> Item {
    Item {
        path: f.abs.clone(),
        size: f.size,
        headers: ObjectHeaders {
            content_type: content_type(&key).to_string(),
            ..Default::default()
        },
        key,
    }
}

/// `dir/name` → (`dir`, `name`).
pub(crate) fn split_dir(key: &str) -> (&str, &str) {
    key.rsplit_once('/').unwrap_or(("", key))
}

/// Raw files grouped by directory, up to [`MAX_ASSETS`] per component, in first-seen order.
pub(crate) fn raw_components(
    files: Vec<(Found, String)>,
    out: &mut HashMap<String, Vec<String>>,
) -> Vec<Component> {
    let mut order: Vec<String> = Vec::new();
    let mut by_dir: HashMap<String, Vec<(Found, String)>> = HashMap::new();
    for (f, key) in files {
        let (dir, _) = split_dir(&key);
        let dir = dir.to_string();
        if !by_dir.contains_key(&dir) {
            order.push(dir.clone());
        }
        by_dir.entry(dir).or_default().push((f, key));
    }
    let mut comps = Vec::new();
    for dir in order {
        let group = by_dir.remove(&dir).unwrap_or_default();
        for chunk in group.chunks(MAX_ASSETS) {
            let assets: Vec<(PathBuf, u64, String)> = chunk
                .iter()
                .map(|(f, key)| (f.abs.clone(), f.size, split_dir(key).1.to_string()))
                .collect();
            comps.push((
                nexus::raw_component(&dir, &assets),
                chunk.iter().map(|(f, _)| f.shown.clone()).collect(),
            ));
        }
    }
    label_files(comps, out)
}

/// Records each component's local files under its (unique) label, as the engine will key it.
pub(crate) fn label_files(
    comps: Vec<(Component, Vec<String>)>,
    out: &mut HashMap<String, Vec<String>>,
) -> Vec<Component> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    comps
        .into_iter()
        .map(|(c, shown)| {
            let n = seen.entry(c.label.clone()).or_insert(0);
            *n += 1;
            let label = if *n == 1 {
                c.label.clone()
            } else {
                format!("{} #{n}", c.label)
            };
            out.insert(label, shown);
            c
        })
        .collect()
}

/// Glob mode plan (raw, yum, single-file formats).
pub(crate) fn paths_plan(
    format: &Format,
    put: bool,
    version: Version,
    files: Vec<(Found, String)>,
    out: &mut HashMap<String, Vec<String>>,
) -> Result<Plan, SettingsError> {
    if put {
        let layout = layout(version);
        let items = files
            .into_iter()
            .map(|(f, key)| {
                out.insert(key.clone(), vec![f.shown.clone()]);
                put_item(&f, key)
            })
            .collect();
        return Ok(Plan::Put { layout, items });
    }
    Ok(Plan::Components(file_components(format, files, out)))
}

/// The components of files whose repository paths are known (raw, yum, single-file formats;
/// maven2 groups by coordinates instead, so it has none here).
fn file_components(
    format: &Format,
    files: Vec<(Found, String)>,
    out: &mut HashMap<String, Vec<String>>,
) -> Vec<Component> {
    match format {
        Format::Raw => raw_components(files, out),
        Format::Yum => label_files(
            files
                .into_iter()
                .map(|(f, key)| {
                    let (dir, name) = split_dir(&key);
                    (
                        nexus::yum_component(dir, f.abs.clone(), f.size, name),
                        vec![f.shown],
                    )
                })
                .collect(),
            out,
        ),
        Format::Single(fmt) => label_files(
            files
                .into_iter()
                .map(|(f, _)| {
                    (
                        nexus::single_asset_component(fmt, f.abs.clone(), f.size),
                        vec![f.shown],
                    )
                })
                .collect(),
            out,
        ),
        Format::Maven2 => Vec::new(),
    }
}

pub(crate) fn layout(v: Version) -> Layout {
    match v {
        Version::Nexus3 => Layout::Nexus3,
        Version::Nexus2 => Layout::Nexus2,
    }
}

/// Single-file and many-file plan: coordinates checked, paths computed, components grouped.
pub(crate) fn coordinates_plan(
    s: &NexusSettings,
    format: &Format,
    put: bool,
    version: Version,
    artifacts: &[Artifact],
    found: Vec<Found>,
    out: &mut HashMap<String, Vec<String>>,
) -> Result<Plan, SettingsError> {
    let var = if s.attributes.is_empty() {
        "PLUGIN_ARTIFACTS"
    } else {
        "PLUGIN_ATTRIBUTES"
    };
    check_coordinates(var, format, artifacts)?;
    let paths = repository_paths(format, artifacts);
    check_distinct(s, var, artifacts, &paths)?;
    if put {
        let items = found
            .iter()
            .zip(paths)
            .map(|(f, key)| {
                out.insert(key.clone(), vec![f.shown.clone()]);
                put_item(f, key)
            })
            .collect();
        return Ok(Plan::Put {
            layout: layout(version),
            items,
        });
    }
    let comps = match format {
        Format::Maven2 => label_files(maven_components(s, artifacts, &found), out),
        _ => file_components(format, found.into_iter().zip(paths).collect(), out),
    };
    Ok(Plan::Components(comps))
}

/// Every coordinate of every artifact is one Nexus accepts (the group a directory outside
/// maven2).
fn check_coordinates(
    var: &str,
    format: &Format,
    artifacts: &[Artifact],
) -> Result<(), SettingsError> {
    for a in artifacts {
        if *format == Format::Maven2 {
            check_coordinate(var, "groupId", &a.group)?;
        } else {
            check_directory(var, &a.group)?;
        }
        check_coordinate(var, "artifactId", &a.artifact)?;
        check_coordinate(var, "version", &a.version)?;
        check_coordinate(var, "extension", &a.extension)?;
        if let Some(c) = &a.classifier {
            check_coordinate(var, "classifier", c)?;
        }
    }
    Ok(())
}

/// The repository path of each artifact: Maven layout, or (raw, yum) the anchor's
/// `<groupId>/<artifactId>.<type>` with the classifier added so two classifiers do not
/// overwrite each other.
fn repository_paths(format: &Format, artifacts: &[Artifact]) -> Vec<String> {
    artifacts
        .iter()
        .map(|a| match format {
            Format::Maven2 => maven_path(
                &a.group,
                &a.artifact,
                &a.version,
                a.classifier.as_deref(),
                &a.extension,
            ),
            _ => {
                let c = a
                    .classifier
                    .as_deref()
                    .map(|c| format!("-{c}"))
                    .unwrap_or_default();
                let dir = a.group.trim_matches('/');
                let name = format!("{}{c}.{}", a.artifact, a.extension);
                if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                }
            }
        })
        .collect()
}

/// No two artifacts go to one path, and a generated POM replaces none that was given.
fn check_distinct(
    s: &NexusSettings,
    var: &str,
    artifacts: &[Artifact],
    paths: &[String],
) -> Result<(), SettingsError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, p) in paths.iter().enumerate() {
        if let Some(j) = seen.insert(p, i) {
            return Err(invalid(
                var,
                format!(
                    "{} and {} both go to {p} (same coordinates, classifier and type)",
                    artifacts[j].file, artifacts[i].file
                ),
            ));
        }
    }
    if s.generate_pom
        && let Some(a) = artifacts
            .iter()
            .find(|a| a.extension == "pom" && a.classifier.is_none())
    {
        return Err(SettingsError::Conflict {
            first: "PLUGIN_GENERATE_POM".into(),
            second: var.into(),
            reason: format!("{} is the POM already", a.file),
        });
    }
    Ok(())
}

/// Maven components: the artifacts of one groupId:artifactId:version form one component (jar +
/// pom + sources in one request, [`MAX_ASSETS`] at most), in the order first given, each with
/// the files it holds.
fn maven_components(
    s: &NexusSettings,
    artifacts: &[Artifact],
    found: &[Found],
) -> Vec<(Component, Vec<String>)> {
    let mut order: Vec<(String, String, String)> = Vec::new();
    let mut by_gav: HashMap<(String, String, String), Vec<(MavenAsset, String)>> = HashMap::new();
    for (a, f) in artifacts.iter().zip(found) {
        let gav = (a.group.clone(), a.artifact.clone(), a.version.clone());
        if !by_gav.contains_key(&gav) {
            order.push(gav.clone());
        }
        by_gav.entry(gav).or_default().push((
            MavenAsset {
                path: f.abs.clone(),
                size: f.size,
                extension: a.extension.clone(),
                classifier: a.classifier.clone(),
            },
            f.shown.clone(),
        ));
    }
    let mut comps = Vec::new();
    for gav in order {
        let assets = by_gav.remove(&gav).unwrap_or_default();
        for (k, chunk) in assets.chunks(MAX_ASSETS).enumerate() {
            let list: Vec<MavenAsset> = chunk.iter().map(|(m, _)| m.clone()).collect();
            comps.push((
                nexus::maven2_component(
                    &gav.0,
                    &gav.1,
                    &gav.2,
                    // One POM per component: generated with the first request only.
                    s.generate_pom && k == 0,
                    (!s.packaging.is_empty() && k == 0).then_some(s.packaging.as_str()),
                    &list,
                ),
                chunk.iter().map(|(_, shown)| shown.clone()).collect(),
            ));
        }
    }
    comps
}
