//! The local disk as the repository under build (or a bucket's object names) may have laid it
//! out: symbolic links planted in a download target, files swapped for links between selection
//! and upload. This module owns every open of a file the upload engine transfers:
//!
//! - [`TargetDir`] / [`Partial`]: downloads. Each directory below the target is opened one
//!   component at a time with `O_NOFOLLOW | O_DIRECTORY` (created with `mkdirat` when missing),
//!   so a link anywhere under the target is refused instead of followed; the object is written
//!   to a partial file with an unpredictable name, created `O_EXCL` with mode 0600, then renamed
//!   over the final name within the same opened directory.
//! - [`remember`] / [`open_selected`]: uploads. Selection records what it saw of each file
//!   (device, inode, size); every open for the transfer (checksums, body, retries) goes through
//!   [`open_selected`], without following a link in the last component, and is refused unless
//!   it is that same regular file: a file swapped for a link to `/proc/self/environ` after
//!   selection is never read.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

/// Why a download target or an upload source was refused. One line naming the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalFsError {
    /// A component of the download target is a symbolic link (or not a directory).
    #[error("refusing to write {path}: '{component}' is a symbolic link or not a directory")]
    Link {
        /// The full target path.
        path: String,
        /// The offending component, as named under the target directory.
        component: String,
    },
    /// The name is not a plain relative path (`..`, absolute, empty).
    #[error("refusing to write {path}: not a plain name under the target directory")]
    NotPlain {
        /// The name as given.
        path: String,
    },
    /// Any other I/O failure.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done (`cannot create`, `cannot read`).
        what: &'static str,
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl LocalFsError {
    fn io(what: &'static str, path: &Path, source: impl Into<io::Error>) -> Self {
        Self::Io {
            what,
            path: path.display().to_string(),
            source: source.into(),
        }
    }
}

/// The download target directory, opened once. Its own path is the user's setting and is
/// trusted (a CI may point it through a link); everything below it is not.
#[derive(Debug)]
pub struct TargetDir {
    root: PathBuf,
    fd: File,
}

impl TargetDir {
    /// Creates `root` if needed and opens it.
    pub fn open(root: &Path) -> Result<Self, LocalFsError> {
        let shown = if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root
        };
        std::fs::create_dir_all(shown).map_err(|e| LocalFsError::io("cannot create", shown, e))?;
        let fd = rustix::fs::open(
            shown,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| LocalFsError::io("cannot open", shown, e))?;
        Ok(Self {
            root: root.to_path_buf(),
            fd: File::from(fd),
        })
    }

    /// The directory as configured.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens (creating as needed) every directory of `rel` without following links and creates
    /// a fresh partial file beside its last component.
    pub fn create_partial(&self, rel: &Path) -> Result<Partial, LocalFsError> {
        let full = self.root.join(rel);
        let names = plain_names(rel).ok_or_else(|| LocalFsError::NotPlain {
            path: full.display().to_string(),
        })?;
        let Some((last, dirs)) = names.split_last() else {
            return Err(LocalFsError::NotPlain {
                path: full.display().to_string(),
            });
        };
        let mut dir = self
            .fd
            .try_clone()
            .map_err(|e| LocalFsError::io("cannot open", &self.root, e))?;
        let mut walked = PathBuf::new();
        for name in dirs {
            walked.push(name);
            dir = open_subdir(&dir, name).map_err(|e| self.component_error(&full, &walked, e))?;
        }
        let (file, tmp) = create_exclusive(&dir, last)
            .map_err(|e| LocalFsError::io("cannot create a partial file for", &full, e))?;
        Ok(Partial {
            dir,
            tmp,
            name: last.to_os_string(),
            full,
            file: Some(file),
        })
    }

    fn component_error(&self, full: &Path, walked: &Path, e: Errno) -> LocalFsError {
        if e == Errno::LOOP || e == Errno::NOTDIR {
            LocalFsError::Link {
                path: full.display().to_string(),
                component: walked.display().to_string(),
            }
        } else {
            LocalFsError::io("cannot create", &self.root.join(walked), e)
        }
    }
}

/// The plain components of a relative path; `None` for `..`, a root or a prefix.
fn plain_names(rel: &Path) -> Option<Vec<&OsStr>> {
    rel.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// Opens the directory `name` inside `dir`, creating it when missing; a link is `ELOOP` or
/// `ENOTDIR`, never followed.
fn open_subdir(dir: &File, name: &OsStr) -> Result<File, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Err(Errno::NOENT) => match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
            // Another download of the same tree made it first: open what is there.
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e),
        },
        other => return other.map(File::from),
    }
    // Opened again after mkdirat: whatever is there now is checked the same way.
    rustix::fs::openat(dir, name, flags, Mode::empty()).map(File::from)
}

/// Creates `.<name>.<random>.longshore-partial` in `dir` with `O_EXCL` and mode 0600: a name
/// nobody can plant a link under in advance, and never an existing file.
fn create_exclusive(dir: &File, name: &OsStr) -> io::Result<(File, OsString)> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut last = Errno::EXIST;
    for _ in 0..8 {
        let tmp = partial_name(name);
        match rustix::fs::openat(dir, &tmp, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => return Ok((File::from(fd), tmp)),
            Err(Errno::EXIST) => last = Errno::EXIST,
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.into())
}

/// `.<name>.<16 hex>.longshore-partial`, the name cut so the result fits `NAME_MAX`.
fn partial_name(name: &OsStr) -> OsString {
    let suffix = format!(".{:016x}.longshore-partial", rand::random::<u64>());
    let bytes = name.as_bytes();
    let keep = bytes.len().min(255 - 1 - suffix.len());
    let mut out = OsString::from(".");
    out.push(OsStr::from_bytes(&bytes[..keep]));
    out.push(suffix);
    out
}

/// A download being written: the partial file, in its opened directory.
#[derive(Debug)]
pub struct Partial {
    dir: File,
    tmp: OsString,
    name: OsString,
    full: PathBuf,
    file: Option<File>,
}

impl Partial {
    /// The file to write the object into (taken once).
    pub fn take_file(&mut self) -> Option<File> {
        self.file.take()
    }

    /// The final path, for messages.
    pub fn path(&self) -> &Path {
        &self.full
    }

    /// Renames the partial file over the final name, within the same opened directory: a link
    /// at the final name is replaced, not followed.
    pub fn commit(mut self) -> Result<(), LocalFsError> {
        match rustix::fs::renameat(&self.dir, &self.tmp, &self.dir, &self.name) {
            Ok(()) => {
                // Renamed: nothing is left for the drop to remove.
                self.tmp = OsString::new();
                Ok(())
            }
            Err(e) => Err(LocalFsError::io("cannot rename into", &self.full, e)),
        }
    }

    /// Removes the partial file.
    pub fn discard(self) {}
}

/// A partial file never committed is removed, whether the download failed or was dropped by a
/// cancel: only whole objects are ever left under a final name, and no partial beside them.
impl Drop for Partial {
    fn drop(&mut self) {
        if !self.tmp.is_empty() {
            // Best effort: the failure being reported matters more than a leftover partial.
            let _ = rustix::fs::unlinkat(&self.dir, &self.tmp, AtFlags::empty());
        }
    }
}

/// What selection saw of a file: the one that may be uploaded under that path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
}

impl FileId {
    /// The identity of a file's metadata (followed, for a link selected as its target).
    pub fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
        }
    }
}

/// Selected files by the path the transfer will open. A table beside the plan rather than a
/// field of every `Item`, so every backend and plugin checks the same thing without threading
/// it through each plan.
fn selected() -> &'static Mutex<HashMap<PathBuf, FileId>> {
    static SELECTED: OnceLock<Mutex<HashMap<PathBuf, FileId>>> = OnceLock::new();
    SELECTED.get_or_init(Default::default)
}

/// Records what selection saw at `path`.
pub fn remember(path: &Path, id: FileId) {
    selected()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(path.to_path_buf(), id);
}

fn remembered(path: &Path) -> Option<FileId> {
    selected()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(path)
        .copied()
}

/// Opens an upload source for reading: a link is resolved once (selection only keeps links
/// whose target stays in the working directory) and its target opened with `O_NOFOLLOW`; the
/// opened file must be a regular file, and the very file (device, inode, size) selection saw
/// when it recorded one. Errors name no path: callers say "cannot read `<path>`: …".
pub fn open_selected(path: &Path) -> io::Result<File> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let fd = rustix::fs::open(
        &target,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::LOOP => changed("it became a symbolic link since it was selected"),
        e => e.into(),
    })?;
    let file = File::from(fd);
    check_opened(path, &file.metadata()?)?;
    Ok(file)
}

/// The checks of [`open_selected`] on the opened file.
fn check_opened(path: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    if !meta.is_file() {
        return Err(changed("not a regular file"));
    }
    match remembered(path) {
        Some(id) if (id.dev, id.ino) != (meta.dev(), meta.ino()) => {
            Err(changed("it was replaced since it was selected; refused"))
        }
        Some(id) if id.size != meta.len() => {
            Err(changed("its size changed since it was selected; refused"))
        }
        _ => Ok(()),
    }
}

fn changed(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// [`open_selected`] off the async runtime, as a tokio file.
pub async fn open_selected_async(path: &Path) -> io::Result<tokio::fs::File> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || open_selected(&owned))
        .await
        .map_err(io::Error::other)?
        .map(tokio::fs::File::from_std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};
    use std::os::unix::fs::symlink;

    fn write(mut p: Partial, text: &str) -> Result<(), LocalFsError> {
        let mut f = p.take_file().expect("a file");
        f.write_all(text.as_bytes()).expect("write");
        p.commit()
    }

    #[test]
    fn writes_nested_files_and_creates_directories() {
        let d = tempfile::tempdir().expect("tempdir");
        let t = TargetDir::open(&d.path().join("dl")).expect("open");
        write(
            t.create_partial(Path::new("a/b/c.txt")).expect("partial"),
            "x",
        )
        .expect("commit");
        write(
            t.create_partial(Path::new("./a/b/d.txt")).expect("partial"),
            "y",
        )
        .expect("commit");
        let got = std::fs::read_to_string(d.path().join("dl/a/b/c.txt")).expect("read");
        assert_eq!(got, "x");
        let left: Vec<_> = std::fs::read_dir(d.path().join("dl/a/b"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left.len(), 2, "no partial file left: {left:?}");
    }

    #[test]
    fn a_link_inside_the_target_is_refused() {
        let d = tempfile::tempdir().expect("tempdir");
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        std::fs::create_dir_all(d.path().join("dl")).expect("mkdir");
        symlink(&elsewhere, d.path().join("dl/link")).expect("symlink");
        let t = TargetDir::open(&d.path().join("dl")).expect("open");
        let e = t
            .create_partial(Path::new("link/inside.txt"))
            .expect_err("refused");
        assert!(matches!(e, LocalFsError::Link { .. }), "{e}");
        assert!(e.to_string().contains("'link'"), "{e}");
        assert!(!elsewhere.join("inside.txt").exists());
        for rel in ["../x", "/etc/passwd", "", "."] {
            assert!(t.create_partial(Path::new(rel)).is_err(), "{rel}");
        }
    }

    #[test]
    fn a_planted_partial_or_final_link_is_not_followed() {
        let d = tempfile::tempdir().expect("tempdir");
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").expect("write");
        let dl = d.path().join("dl");
        std::fs::create_dir_all(&dl).expect("mkdir");
        symlink(&victim, dl.join(".ok.txt.longshore-partial")).expect("symlink");
        symlink(&victim, dl.join("ok.txt")).expect("symlink");
        let t = TargetDir::open(&dl).expect("open");
        let p = t.create_partial(Path::new("ok.txt")).expect("partial");
        let mode = std::fs::metadata(dl.join(&p.tmp)).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o600);
        write(p, "new").expect("commit");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep");
        let meta = std::fs::symlink_metadata(dl.join("ok.txt")).expect("meta");
        assert!(meta.is_file(), "the link was replaced by the download");
        assert_eq!(
            std::fs::read_to_string(dl.join("ok.txt")).expect("r"),
            "new"
        );
    }

    #[test]
    fn discard_removes_the_partial() {
        let d = tempfile::tempdir().expect("tempdir");
        let t = TargetDir::open(d.path()).expect("open");
        t.create_partial(Path::new("x.txt"))
            .expect("partial")
            .discard();
        assert_eq!(std::fs::read_dir(d.path()).expect("dir").count(), 0);
    }

    #[test]
    fn a_dropped_partial_is_removed_and_a_committed_one_stays() {
        let d = tempfile::tempdir().expect("tempdir");
        let t = TargetDir::open(d.path()).expect("open");
        // A cancel drops the download mid-write.
        drop(t.create_partial(Path::new("x.txt")).expect("partial"));
        assert_eq!(std::fs::read_dir(d.path()).expect("dir").count(), 0);
        t.create_partial(Path::new("y.txt"))
            .expect("partial")
            .commit()
            .expect("commit");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("y.txt")]);
    }

    #[test]
    fn partial_names_are_unpredictable_and_fit() {
        let a = partial_name(OsStr::new("f"));
        assert_ne!(a, partial_name(OsStr::new("f")));
        assert!(partial_name(OsStr::new(&"n".repeat(255))).len() <= 255);
    }

    #[test]
    fn a_file_swapped_after_selection_is_refused() {
        let d = tempfile::tempdir().expect("tempdir");
        let file = d.path().join("zz.txt");
        let secret = d.path().join("secret.txt");
        std::fs::write(&file, "public").expect("write");
        std::fs::write(&secret, "SECRET").expect("write");
        remember(&file, FileId::of(&std::fs::metadata(&file).expect("meta")));
        // Selected, then swapped for a link before the transfer opens it.
        std::fs::remove_file(&file).expect("rm");
        symlink(&secret, &file).expect("symlink");
        let e = open_selected(&file).expect_err("swapped for a link");
        assert!(e.to_string().contains("replaced"), "{e}");
        // Swapped for another regular file of the same size (the selected one kept elsewhere,
        // so its inode number cannot be reused by the new file).
        std::fs::remove_file(&file).expect("rm");
        std::fs::hard_link(&secret, &file).expect("link");
        let e = open_selected(&file).expect_err("swapped for another file");
        assert!(e.to_string().contains("replaced"), "{e}");
        // The legitimate case: the selected file, unchanged.
        remember(&file, FileId::of(&std::fs::metadata(&file).expect("meta")));
        let mut text = String::new();
        open_selected(&file)
            .expect("the selected file")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "SECRET");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .and_then(|mut f| f.write_all(b"!"))
            .expect("append");
        assert!(open_selected(&file).is_err(), "size changed");
    }

    #[test]
    fn a_link_to_a_non_regular_file_is_refused() {
        let d = tempfile::tempdir().expect("tempdir");
        let link = d.path().join("dir-link");
        symlink(d.path(), &link).expect("symlink");
        assert!(open_selected(&link).is_err());
    }
}
