//! Why a key cannot be made: the `strip_prefix`, `target` and key-safety refusals, one line each.

/// A key that cannot be made, or a local path that would be unsafe. One line naming it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The absolute `strip_prefix` is not valid.
    #[error("strip_prefix '{prefix}' {problem}")]
    StripPrefix {
        /// The prefix as written.
        prefix: String,
        /// What is wrong with it.
        problem: StripPrefixProblem,
    },
    /// The `strip_prefix` pattern does not compile.
    #[error("strip_prefix '{prefix}' cannot be used: {source}")]
    Regex {
        /// The prefix as written.
        prefix: String,
        /// The regex compiler's error.
        #[source]
        source: regex::Error,
    },
    /// The prefix leaves nothing of the path (a warning in key mapping: the path is kept).
    #[error("strip_prefix '{prefix}' removes entire path {path}")]
    RemovesEntirePath {
        /// The prefix as written.
        prefix: String,
        /// The path it was applied to.
        path: String,
    },
    /// The target would put keys above the bucket root.
    #[error("target '{target}' {reason}")]
    Target {
        /// The target as written.
        target: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The file would get an unsafe key.
    #[error("{path}: cannot make an object key: {reason}")]
    UnsafeKey {
        /// The file as matched.
        path: String,
        /// What is wrong with the key.
        reason: &'static str,
    },
    /// Two files would be uploaded to the same key.
    #[error("{first} and {second} would both be uploaded to key '{key}'")]
    Collision {
        /// The key.
        key: String,
        /// One file.
        first: String,
        /// The other one.
        second: String,
    },
    /// A downloaded object would be written outside the target directory.
    #[error("refusing to download '{rel}' into {dir}: {reason}")]
    UnsafeLocalPath {
        /// The relative path from the object key.
        rel: String,
        /// The target directory.
        dir: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why an absolute `strip_prefix` is refused (drone-s3's `validateStripPrefix` categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripPrefixProblem {
    /// It does not start with `/`.
    NotAbsolute,
    /// It starts with a Windows drive letter.
    DriveLetter,
    /// It is longer than 256 characters.
    TooLong,
    /// It has more than 20 wildcards.
    TooManyWildcards,
    /// It has `//`.
    EmptySegment,
    /// `**` is part of a segment instead of a whole one.
    DoubleStarSegment,
}

impl std::fmt::Display for StripPrefixProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StripPrefixProblem::NotAbsolute => "must start with '/'",
            StripPrefixProblem::DriveLetter => "must not start with a drive letter",
            StripPrefixProblem::TooLong => "is too long (at most 256 characters)",
            StripPrefixProblem::TooManyWildcards => "has too many wildcards (at most 20)",
            StripPrefixProblem::EmptySegment => "has an empty segment ('//')",
            StripPrefixProblem::DoubleStarSegment => {
                "uses '**' inside a name: it must be a standalone directory segment"
            }
        })
    }
}
