//! Reading small files that come from repository content (`.tags`, `.dockerignore`, key files
//! named by a setting) as an attacker would leave them: never through a symbolic link, never
//! anything but a regular file, never more than a stated number of bytes. A link named `.tags`
//! pointing at `/proc/self/environ` must be an error, not a way to print the environment.
//! Also the private temporary directories (0700) and random names that secret files, spools
//! and temporary tags use.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Reads `path` whole when it is a regular file of at most `cap` bytes, without following a
/// symbolic link in its last component (`O_NOFOLLOW`). The error says which rule was broken and
/// never carries any of the file's bytes.
pub fn read_capped_nofollow(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a symbolic link, which is not followed",
            ),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("is larger than {cap} bytes"),
        ));
    }
    Ok(bytes)
}

/// At most `max` characters of untrusted text (a server's answer, a value from a file) for an
/// error line: control characters shown as spaces, an ellipsis where it was cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(feature = "docker")]
/// A temporary directory only we can enter (0700): it holds secret files, the ssh-agent socket,
/// or the daemon log, and is removed when dropped.
pub(crate) fn private_tempdir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        b.permissions(std::fs::Permissions::from_mode(0o700));
    }
    b.tempdir()
}

#[cfg(feature = "docker")]
/// 16 random lower-case letters and digits, for temporary names.
pub(crate) fn random_suffix() -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(feature = "docker")]
/// Writes a new file only we can read (0600); refuses to replace one that exists.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_refused_and_its_target_never_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "TOKEN=abc").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), dir.path().join(".tags")).unwrap();
        let err = read_capped_nofollow(&dir.path().join(".tags"), 1024).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!err.to_string().contains("TOKEN"));
    }

    #[test]
    fn a_file_over_the_cap_is_refused_and_a_small_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'a'; 11]).unwrap();
        assert!(read_capped_nofollow(&path, 10).is_err());
        assert_eq!(read_capped_nofollow(&path, 11).unwrap().len(), 11);
        assert!(read_capped_nofollow(dir.path(), 10).is_err(), "a directory");
    }

    #[test]
    fn an_excerpt_is_cut_on_a_character_and_flattened() {
        assert_eq!(excerpt("ab\ncd", 10), "ab cd");
        assert_eq!(excerpt("ééééé", 2), "éé…");
    }
}
