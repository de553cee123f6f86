//! From the `source` / `exclude` settings to the list of local files to upload.
//!
//! The rules (the anchor's behaviour, reference upload-plugins §2.3, with its bugs fixed):
//! - Several sources, each a glob or a literal path; a missing literal path is an error, a glob
//!   that matches nothing a warning (an error with `fail_on_empty`).
//! - A directory, given as a source or matched by a glob, stands for all the files under it
//!   (the anchor fails instead). A file reached twice, say through a matched directory and a
//!   match inside it, is uploaded once, under the path it was first reached by.
//! - Excludes are globs tested against the *same* normalised path as the includes: both are
//!   made absolute against `cwd` and lexically cleaned (the anchor compares raw strings, so
//!   `source: /abs/dist/**/*` + `exclude: dist/**/*.map` excluded nothing). An exclude that
//!   matches a directory excludes everything under it, as a matched source directory includes
//!   it.
//! - Symlinks never lead out of `cwd`: a symlink whose target resolves outside it is skipped
//!   with a warning, and symlinked directories are not entered. Excludes apply to where a link
//!   resolves as well as to its own path.
//! - What was selected is recorded (device, inode, size) so the transfer reads that file and
//!   no other ([`super::local_fs::open_selected`]).
//! - The order is deterministic (sources in order, each one's matches sorted, directories
//!   walked in name order) and has no duplicates.
//!
//! This file and the glob walk are the only parts of the upload engine that read the disk.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::glob::{self, GlobError, Matcher, clean_path};
use super::local_fs::{FileId, remember};

/// One local file to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// The path as matched (relative for a relative source, absolute for an absolute one):
    /// what the object key is made from.
    pub path: PathBuf,
    /// The absolute, lexically cleaned path, to open the file.
    pub abs: PathBuf,
    /// The size in bytes (of the target, for a symlink).
    pub size: u64,
}

/// What [`select`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The files to upload, in upload order.
    pub files: Vec<LocalFile>,
    /// Things the user should know: empty sources, skipped symlinks, sources fully excluded.
    pub warnings: Vec<String>,
}

/// Why no selection could be made. One line naming the source, pattern or path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// A source or exclude pattern is invalid, or a literal source does not exist.
    #[error(transparent)]
    Glob(#[from] GlobError),
    /// A source matched no file and `fail_on_empty` is set.
    #[error("source '{source_pattern}' matched no files")]
    EmptySource {
        /// The source as written.
        source_pattern: String,
    },
    /// Nothing is left to upload and `fail_on_empty` is set.
    #[error("no files to upload (every match is excluded)")]
    NothingSelected,
    /// The working directory or a matched path cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Selects the files to upload: every source expanded against `cwd`, directories walked, the
/// excludes removed. See the module docs for the rules.
pub fn select(
    sources: &[String],
    excludes: &[String],
    cwd: &Path,
    fail_on_empty: bool,
) -> Result<Selection, SelectError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SelectError::Io { path, source }
    };
    let cwd = std::path::absolute(cwd).map_err(io_err(cwd))?;
    let cwd = PathBuf::from(clean_path(&cwd.to_string_lossy()));
    let canonical_cwd = fs::canonicalize(&cwd).map_err(io_err(&cwd))?;
    let cwd_str = cwd.to_string_lossy().into_owned();
    let excludes = excludes
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(|e| Matcher::new(&absolute_pattern(e, &cwd_str)))
        .collect::<Result<Vec<_>, _>>()?;

    let mut walker = Walker {
        cwd: &cwd,
        canonical_cwd: &canonical_cwd,
        excludes: &excludes,
        seen: HashSet::new(),
        selection: Selection::default(),
        reached: 0,
    };
    for source in sources.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        walker.reached = 0;
        let kept_before = walker.selection.files.len();
        for matched in glob::expand(source, &cwd)? {
            let abs = absolute_path(&matched, &cwd_str);
            walker.entry(&matched, &abs, true)?;
        }
        if walker.reached == 0 {
            if fail_on_empty {
                return Err(SelectError::EmptySource {
                    source_pattern: source.to_string(),
                });
            }
            walker
                .selection
                .warnings
                .push(format!("source '{source}' matched no files"));
        } else if walker.selection.files.len() == kept_before && !walker.excludes.is_empty() {
            walker.selection.warnings.push(format!(
                "source '{source}': all {} matched files are excluded or already selected",
                walker.reached
            ));
        }
    }
    if walker.selection.files.is_empty() && fail_on_empty {
        return Err(SelectError::NothingSelected);
    }
    Ok(walker.selection)
}

/// An exclude pattern made absolute against the working directory, then cleaned.
fn absolute_pattern(pattern: &str, cwd: &str) -> String {
    if pattern.starts_with('/') {
        clean_path(pattern)
    } else {
        clean_path(&format!("{cwd}/{pattern}"))
    }
}

fn absolute_path(path: &Path, cwd: &str) -> PathBuf {
    PathBuf::from(absolute_pattern(&path.to_string_lossy(), cwd))
}

/// The state of one selection.
struct Walker<'a> {
    cwd: &'a Path,
    canonical_cwd: &'a Path,
    excludes: &'a [Matcher],
    seen: HashSet<PathBuf>,
    selection: Selection,
    /// Files the current source reached, before excludes and de-duplication.
    reached: usize,
}

impl Walker<'_> {
    /// Handles one path: a file is a candidate, a directory is walked, a symlink is followed
    /// only to a file inside the working directory. `top` is true for a glob match or literal
    /// source, whose leading directories may themselves be symlinks.
    fn entry(&mut self, path: &Path, abs: &Path, top: bool) -> Result<(), SelectError> {
        let meta = fs::symlink_metadata(abs).map_err(|source| SelectError::Io {
            path: abs.to_path_buf(),
            source,
        })?;
        let shown = path.display();
        if meta.is_symlink() {
            let Ok(target) = fs::canonicalize(abs) else {
                self.warn(format!("skipping {shown}: broken symlink"));
                return Ok(());
            };
            if !target.starts_with(self.canonical_cwd) {
                self.warn(format!(
                    "skipping {shown}: symlink to {} outside the working directory",
                    target.display()
                ));
                return Ok(());
            }
            let target_meta = fs::metadata(abs).map_err(|source| SelectError::Io {
                path: abs.to_path_buf(),
                source,
            })?;
            if target_meta.is_dir() {
                self.warn(format!(
                    "skipping {shown}: symlinked directories are not followed"
                ));
            } else if target_meta.is_file() {
                let real = self.spelled_in_cwd(&target);
                self.candidate(path, abs, &target_meta, Some(&real));
            } else {
                self.warn(format!("skipping {shown}: not a regular file"));
            }
            return Ok(());
        }
        // A path spelled inside the working directory that resolves outside it went through a
        // symlinked directory (`link/file.txt`): the same rule as for a symlink applies. Paths
        // spelled outside (`../out/a.zip`, `/abs/x`) are what the user asked for.
        let mut real = None;
        if top
            && abs.starts_with(self.cwd)
            && let Ok(resolved) = fs::canonicalize(abs)
        {
            if !resolved.starts_with(self.canonical_cwd) {
                self.warn(format!(
                    "skipping {shown}: it resolves to {} outside the working directory",
                    resolved.display()
                ));
                return Ok(());
            }
            real = Some(self.spelled_in_cwd(&resolved));
        }
        if meta.is_dir() {
            let read_err = |source| SelectError::Io {
                path: abs.to_path_buf(),
                source,
            };
            let mut names = fs::read_dir(abs)
                .map_err(read_err)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(read_err)?;
            names.sort();
            for name in names {
                self.entry(&path.join(&name), &abs.join(&name), false)?;
            }
        } else if meta.is_file() {
            self.candidate(path, abs, &meta, real.as_deref());
        } else {
            self.warn(format!("skipping {shown}: not a regular file"));
        }
        Ok(())
    }

    /// A file reached at `abs`; `real` is where it resolves when links were on the way. An
    /// exclude matching either path excludes it: `dist/alias.pem -> ../secret/key.pem` stays out
    /// with `exclude: secret/**`. Its identity is recorded for the transfer's open.
    fn candidate(&mut self, path: &Path, abs: &Path, meta: &fs::Metadata, real: Option<&Path>) {
        self.reached += 1;
        if self.is_excluded(abs)
            || real.is_some_and(|r| self.is_excluded(r))
            || !self.seen.insert(abs.to_path_buf())
        {
            return;
        }
        remember(abs, FileId::of(meta));
        self.selection.files.push(LocalFile {
            path: path.to_path_buf(),
            abs: abs.to_path_buf(),
            size: meta.len(),
        });
    }

    /// A canonical path inside the working directory, spelled under `cwd` as the excludes are
    /// (the working directory itself may be reached through a link).
    fn spelled_in_cwd(&self, canonical: &Path) -> PathBuf {
        canonical
            .strip_prefix(self.canonical_cwd)
            .map_or_else(|_| canonical.to_path_buf(), |rest| self.cwd.join(rest))
    }

    /// True when an exclude matches the file or one of its directories.
    fn is_excluded(&self, abs: &Path) -> bool {
        !self.excludes.is_empty()
            && abs.ancestors().any(|p| {
                self.excludes
                    .iter()
                    .any(|m| m.is_match(&p.to_string_lossy()))
            })
    }

    fn warn(&mut self, message: String) {
        self.selection.warnings.push(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f.as_bytes()).unwrap();
        }
        dir
    }

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|i| i.to_string()).collect()
    }

    fn paths(sel: &Selection) -> Vec<String> {
        sel.files
            .iter()
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn several_sources_literal_and_glob() {
        let t = tree(&["dist/a.js", "dist/b.css", "README.md"]);
        let sel = select(&s(&["README.md", "dist/*.js"]), &[], t.path(), false).unwrap();
        assert_eq!(paths(&sel), ["README.md", "dist/a.js"]);
        assert!(sel.warnings.is_empty());
        let f = &sel.files[1];
        assert_eq!(f.abs, t.path().join("dist/a.js"));
        assert_eq!(f.size, "dist/a.js".len() as u64);
    }

    #[test]
    fn directories_upload_their_files_recursively_once() {
        let t = tree(&["dist/a.js", "dist/css/b.css", "dist/css/c/d.css"]);
        // A directory as a literal source.
        let sel = select(&s(&["dist"]), &[], t.path(), false).unwrap();
        assert_eq!(
            paths(&sel),
            ["dist/a.js", "dist/css/b.css", "dist/css/c/d.css"]
        );
        // A glob matching a directory and the files under it: each file once.
        let sel = select(&s(&["dist/**/*"]), &[], t.path(), false).unwrap();
        assert_eq!(
            paths(&sel),
            ["dist/a.js", "dist/css/b.css", "dist/css/c/d.css"]
        );
        // The anchor's `dist/**` (direct children, files and directories).
        let sel = select(&s(&["dist/**", "dist/css/b.css"]), &[], t.path(), false).unwrap();
        assert_eq!(
            paths(&sel),
            ["dist/a.js", "dist/css/b.css", "dist/css/c/d.css"]
        );
    }

    #[test]
    fn excludes_compare_normalised_paths() {
        let t = tree(&[
            "dist/app.js",
            "dist/app.js.map",
            "dist/sub/x.js.map",
            "dist/sub/y.js",
        ]);
        let abs_source = format!("{}/dist/**/*", t.path().display());
        // Absolute source, relative exclude: the anchor excluded nothing here.
        let sel = select(&[abs_source], &s(&["dist/**/*.map"]), t.path(), false).unwrap();
        let want: Vec<String> = ["dist/app.js", "dist/sub/y.js"]
            .iter()
            .map(|p| format!("{}/{p}", t.path().display()))
            .collect();
        assert_eq!(paths(&sel), want);
        // Relative source, absolute exclude, with `./` and `..` to clean.
        let abs_exclude = format!("{}/dist/sub/../**/*.map", t.path().display());
        let sel = select(&s(&["./dist/**/*"]), &[abs_exclude], t.path(), false).unwrap();
        assert_eq!(paths(&sel), ["dist/app.js", "dist/sub/y.js"]);
        // An excluded directory excludes its contents; a literal exclude works too.
        let sel = select(
            &s(&["dist"]),
            &s(&["dist/sub", "dist/app.js.map"]),
            t.path(),
            false,
        )
        .unwrap();
        assert_eq!(paths(&sel), ["dist/app.js"]);
    }

    #[test]
    fn fully_excluded_source_warns_and_fails_when_asked() {
        let t = tree(&["dist/a.map"]);
        let sel = select(&s(&["dist/*"]), &s(&["**/*.map"]), t.path(), false).unwrap();
        assert!(sel.files.is_empty());
        assert_eq!(sel.warnings.len(), 1, "{:?}", sel.warnings);
        assert!(sel.warnings[0].contains("excluded"));
        let err = select(&s(&["dist/*"]), &s(&["**/*.map"]), t.path(), true).unwrap_err();
        assert!(matches!(err, SelectError::NothingSelected), "{err}");
    }

    #[test]
    fn empty_globs_warn_or_fail_and_missing_literals_fail() {
        let t = tree(&["dist/a.js"]);
        let sel = select(&s(&["dist/*.css", "dist/a.js"]), &[], t.path(), false).unwrap();
        assert_eq!(paths(&sel), ["dist/a.js"]);
        assert_eq!(sel.warnings, ["source 'dist/*.css' matched no files"]);

        let err = select(&s(&["dist/*.css"]), &[], t.path(), true).unwrap_err();
        assert_eq!(err.to_string(), "source 'dist/*.css' matched no files");

        let err = select(&s(&["dist/missing.js"]), &[], t.path(), false).unwrap_err();
        assert_eq!(err.to_string(), "dist/missing.js: does not exist");

        let err = select(&s(&["dist/*"]), &s(&["dist/[z-a]*"]), t.path(), false).unwrap_err();
        assert!(
            matches!(err, SelectError::Glob(GlobError::Pattern { .. })),
            "{err}"
        );
    }

    #[test]
    fn empty_directory_source_counts_as_empty() {
        let t = tree(&[]);
        fs::create_dir(t.path().join("empty")).unwrap();
        let sel = select(&s(&["empty"]), &[], t.path(), false).unwrap();
        assert!(sel.files.is_empty());
        assert_eq!(sel.warnings, ["source 'empty' matched no files"]);
    }

    #[test]
    fn paths_outside_cwd_keep_their_spelling() {
        let t = tree(&["out/a.zip", "work/x"]);
        let cwd = t.path().join("work");
        let sel = select(&s(&["../out/*"]), &[], &cwd, false).unwrap();
        assert_eq!(paths(&sel), ["../out/a.zip"]);
        assert_eq!(sel.files[0].abs, t.path().join("out/a.zip"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_never_lead_out_of_cwd() {
        use std::os::unix::fs::symlink;
        let t = tree(&["outside/secret.txt", "work/dist/a.js", "work/dist/sub/b.js"]);
        let cwd = t.path().join("work");
        symlink(
            t.path().join("outside/secret.txt"),
            cwd.join("dist/leak.txt"),
        )
        .unwrap();
        symlink(t.path().join("outside"), cwd.join("dist/leakdir")).unwrap();
        symlink(cwd.join("dist/a.js"), cwd.join("dist/alias.js")).unwrap();
        symlink(cwd.join("dist/sub"), cwd.join("dist/subalias")).unwrap();
        symlink(cwd.join("nowhere"), cwd.join("dist/broken")).unwrap();
        symlink(t.path().join("outside"), cwd.join("outlink")).unwrap();

        let sel = select(&s(&["dist"]), &[], &cwd, false).unwrap();
        // The link to a file inside is uploaded (its target's content), nothing else.
        assert_eq!(paths(&sel), ["dist/a.js", "dist/alias.js", "dist/sub/b.js"]);
        assert_eq!(sel.files[1].size, "work/dist/a.js".len() as u64);
        let warnings = sel.warnings.join("\n");
        for (name, why) in [
            ("dist/broken", "broken symlink"),
            ("dist/leak.txt", "outside the working directory"),
            ("dist/leakdir", "outside the working directory"),
            ("dist/subalias", "symlinked directories are not followed"),
        ] {
            assert!(
                sel.warnings
                    .iter()
                    .any(|w| w.contains(name) && w.contains(why)),
                "{name}: {warnings}"
            );
        }

        // A literal path through a symlinked directory that leads outside.
        let sel = select(&s(&["outlink/secret.txt"]), &[], &cwd, false).unwrap();
        assert!(sel.files.is_empty());
        assert!(sel.warnings[0].contains("outside the working directory"));
    }
}
