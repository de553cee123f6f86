//! Helpers the fuzz targets share: turning the fuzzer's bytes into the text fields a target
//! needs, escaping a string into a glob that matches only itself, and the small file trees the
//! targets that read the disk (selection, `.dockerignore`) work in.
//!
//! Inputs are text with one field per line, so a seed file is readable and easy to write by
//! hand; bytes that are not UTF-8 are skipped (every setting is a UTF-8 environment string).

use std::path::Path;

/// The input as text split on its first `n - 1` newlines; missing fields are empty. `None` when
/// the bytes are not UTF-8.
pub fn fields(data: &[u8], n: usize) -> Option<Vec<&str>> {
    let text = std::str::from_utf8(data).ok()?;
    let mut out: Vec<&str> = text.splitn(n, '\n').collect();
    out.resize(n, "");
    Some(out)
}

/// `s` with every character that is not an ASCII letter, digit or `/` escaped with `\`, so a
/// glob made of it matches `s` literally (and `.` / `..` segments are no longer seen as such
/// by the lexical path cleaning).
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if !(c.is_ascii_alphanumeric() || c == '/') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Creates the files (with their content) and the empty directories of a test tree under
/// `root`. Panics on an I/O error: the tree is the harness, not the input.
pub fn make_tree(root: &Path, files: &[(&str, &str)], dirs: &[&str]) {
    for d in dirs {
        std::fs::create_dir_all(root.join(d)).expect("create a directory of the tree");
    }
    for (f, content) in files {
        let path = root.join(f);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create a directory of the tree");
        }
        std::fs::write(path, content).expect("write a file of the tree");
    }
}
