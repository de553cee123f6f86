//! A setting that cannot be used: invalid, missing, or in conflict with another. Every error of
//! the settings phase is one of these, naming the variable.

/// A setting that cannot be used. Renders as one line naming the variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The value does not parse.
    #[error("{var}: {reason}")]
    Invalid {
        /// The variable that was read.
        var: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A required setting is missing.
    #[error("{var} is required: {hint}")]
    Required {
        /// The variable (first alias).
        var: String,
        /// What to set.
        hint: String,
    },
    /// Two settings cannot be used together.
    #[error("{first} and {second} cannot be used together: {reason}")]
    Conflict {
        /// One variable.
        first: String,
        /// The other one.
        second: String,
        /// Why.
        reason: String,
    },
}

impl SettingsError {
    /// Shorthand for [`SettingsError::Invalid`].
    pub fn invalid(var: impl Into<String>, reason: impl Into<String>) -> Self {
        SettingsError::Invalid {
            var: var.into(),
            reason: reason.into(),
        }
    }
}
