//! The build context: the context directory as a tar stream for the daemon, with `.dockerignore`
//! applied as the docker CLI does (patterns are relative to the context root; `!` re-includes),
//! symlinks kept as links (never followed out of the tree), and the Dockerfile added under a
//! private name when it lives outside the context.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::DockerError;

/// A context ready to send.
pub struct Context {
    /// The tar (gzip-compressed when asked).
    pub tar: Vec<u8>,
    /// The Dockerfile's path inside the tar.
    pub dockerfile: String,
    /// How many files went in.
    pub files: usize,
}

/// Packs `dir` (with `dockerfile`, a path relative to the working directory).
pub fn pack(dir: &Path, dockerfile: &Path, compress: bool) -> Result<Context, DockerError> {
    let err = |reason: String| DockerError::Context {
        path: dir.display().to_string(),
        reason,
    };
    let ignore = matcher(dir).map_err(err)?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Deterministic);
    let mut files = 0usize;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&abs)
            .map_err(|e| err(format!("cannot read {}: {e}", abs.display())))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let rel_path = rel.join(entry.file_name());
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(|e| err(format!("cannot stat {}: {e}", rel_path.display())))?;
            let is_dir = meta.is_dir();
            let always = rel_path == Path::new(".dockerignore");
            if !always
                && ignore
                    .matched_path_or_any_parents(&rel_path, is_dir)
                    .is_ignore()
            {
                // An excluded directory may still hold re-included files (`!dir/keep`).
                if is_dir && has_negations(&ignore) {
                    stack.push(rel_path);
                }
                continue;
            }
            if is_dir {
                builder
                    .append_dir(&rel_path, entry.path())
                    .map_err(|e| err(format!("cannot add {}: {e}", rel_path.display())))?;
                stack.push(rel_path);
            } else {
                builder
                    .append_path_with_name(entry.path(), &rel_path)
                    .map_err(|e| err(format!("cannot add {}: {e}", rel_path.display())))?;
                files += 1;
            }
        }
    }
    // The Dockerfile always goes in, even when ignored or outside the context.
    let name = match dockerfile.strip_prefix(dir) {
        Ok(inside)
            if !ignore
                .matched_path_or_any_parents(inside, false)
                .is_ignore() =>
        {
            inside.to_string_lossy().into_owned()
        }
        _ => {
            let name = format!(".longshore-dockerfile-{}", super::random_suffix());
            builder
                .append_path_with_name(dockerfile, &name)
                .map_err(|e| err(format!("cannot add the Dockerfile: {e}")))?;
            name
        }
    };
    let tar = builder.into_inner().map_err(|e| err(e.to_string()))?;
    let tar = if compress {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).map_err(|e| err(e.to_string()))?;
        gz.finish().map_err(|e| err(e.to_string()))?
    } else {
        tar
    };
    Ok(Context {
        tar,
        dockerfile: name,
        files,
    })
}

fn has_negations(ignore: &Gitignore) -> bool {
    ignore.num_whitelists() > 0
}

/// `.dockerignore` as a gitignore matcher with every pattern anchored at the root, which is
/// how docker reads it (`*.log` means root-level `.log` files only; `**/*.log` means any).
fn matcher(dir: &Path) -> Result<Gitignore, String> {
    let mut b = GitignoreBuilder::new(dir);
    let path = dir.join(".dockerignore");
    if let Ok(text) = std::fs::read_to_string(&path) {
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (neg, pat) = match line.strip_prefix('!') {
                Some(p) => ("!", p.trim()),
                None => ("", line),
            };
            let pat = pat.trim_start_matches("./").trim_start_matches('/');
            let anchored = if pat.starts_with("**") {
                pat.to_string()
            } else {
                format!("/{pat}")
            };
            b.add_line(None, &format!("{neg}{anchored}"))
                .map_err(|e| format!(".dockerignore: bad pattern '{line}': {e}"))?;
        }
    }
    b.build().map_err(|e| format!(".dockerignore: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        let mut v: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string()
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn dockerignore_is_anchored_and_negations_work() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("sub")).unwrap();
        std::fs::create_dir_all(p.join("build")).unwrap();
        for f in [
            "a.log",
            "sub/b.log",
            "keep.txt",
            "build/out",
            "build/keep",
            "Dockerfile",
        ] {
            std::fs::write(p.join(f), f).unwrap();
        }
        std::fs::write(p.join(".dockerignore"), "*.log\nbuild\n!build/keep\n").unwrap();
        let ctx = pack(p, &p.join("Dockerfile"), false).unwrap();
        assert_eq!(ctx.dockerfile, "Dockerfile");
        assert_eq!(
            names(&ctx.tar),
            vec![
                ".dockerignore",
                "Dockerfile",
                "build/keep",
                "keep.txt",
                "sub",
                "sub/b.log"
            ]
        );
    }

    #[test]
    fn dockerfile_outside_the_context_is_added() {
        let d = tempfile::tempdir().unwrap();
        let ctx_dir = d.path().join("ctx");
        std::fs::create_dir_all(&ctx_dir).unwrap();
        std::fs::write(ctx_dir.join("x"), "x").unwrap();
        std::fs::write(d.path().join("Dockerfile.app"), "FROM scratch").unwrap();
        let ctx = pack(&ctx_dir, &d.path().join("Dockerfile.app"), false).unwrap();
        assert!(ctx.dockerfile.starts_with(".longshore-dockerfile-"));
        assert!(names(&ctx.tar).contains(&ctx.dockerfile));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ctx");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("Dockerfile"), "FROM scratch").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", p.join("link")).unwrap();
        let ctx = pack(&p, &p.join("Dockerfile"), false).unwrap();
        let mut a = tar::Archive::new(&ctx.tar[..]);
        let link = a
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path().unwrap().ends_with("link"))
            .unwrap();
        assert!(link.header().entry_type().is_symlink());
    }
}
