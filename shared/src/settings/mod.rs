//! Reading `PLUGIN_*` settings the way the Drone/Harness/Woodpecker runners and the Go plugins
//! do (reference: image-plugins §1), with the Go plugins' sharp edges removed.
//!
//! - [`Env`] is a snapshot of the environment (plus `PLUGIN_ENV_FILE`); nothing below reads the
//!   process environment directly, so tests pass their own pairs.
//! - [`Value`] parses one raw string: Go booleans, whole numbers, lists (comma or JSON array),
//!   JSON maps, [`Secret`](crate::secret::Secret)s.
//! - The [`settings!`](crate::settings!) macro declares a typed settings struct whose doc comments,
//!   variable names (aliases in precedence order) and defaults are the single source for loading,
//!   `--help`, the README tables and the unknown-variable check.
//!
//! Rules: the first variable of a setting that is *set* wins, even when another alias is set too;
//! a set-but-empty value means "not given" (the default applies: the anchors' empty-string-is-false
//! for default-true booleans is a bug, not a contract).

mod env;
mod error;
mod spec;
mod suggest;
mod value;

pub use env::Env;
pub use error::SettingsError;
pub use spec::{Setting, help_table, markdown_table};
pub use suggest::unknown_variables;
pub use value::{GlobList, List, Map, Value};

/// A number setting (a count, a size) within `lo..=hi`; else "`value` is not between `lo` and
/// `hi`", naming `var`.
pub fn check_range(var: &str, value: usize, lo: usize, hi: usize) -> Result<(), SettingsError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(SettingsError::invalid(
            var,
            format!("{value} is not between {lo} and {hi}"),
        ))
    }
}

/// Which variable gave each setting of a [`settings!`](crate::settings!) struct its value: the
/// first of its names that is set (even to an empty value, as [`Env::first_set`]).
#[derive(Debug, Clone, Default)]
pub struct SetBy(std::collections::BTreeMap<&'static str, &'static str>);

impl SetBy {
    /// Notes the variable of `names` that is set for `field`, if any.
    pub fn record(&mut self, field: &'static str, env: &Env, names: &[&'static str]) {
        if let Some(name) = names.iter().find(|n| env.get(n).is_some()) {
            self.0.insert(field, name);
        }
    }

    /// The variable that set `field`, when one did.
    pub fn var(&self, field: &str) -> Option<&'static str> {
        self.0.get(field).copied()
    }

    /// True when a variable set `field` (its default was not used).
    pub fn is_set(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }
}

/// Declares a settings struct loaded from the environment.
///
/// ```
/// longshore_core::settings! {
///     /// Example settings.
///     pub struct Example {
///         /// Build without pushing.
///         dry_run: bool = "false", from ["PLUGIN_DRY_RUN", "PLUGIN_NO_PUSH"];
///         /// Tags to push.
///         tags: longshore_core::settings::List = "latest", from ["PLUGIN_TAG", "PLUGIN_TAGS"];
///     }
/// }
/// let env = longshore_core::settings::Env::from_pairs([("PLUGIN_NO_PUSH", "true")]);
/// let s = Example::load(&env).unwrap();
/// assert!(s.dry_run);
/// assert_eq!(s.tags.0, vec!["latest"]);
/// ```
#[macro_export]
macro_rules! settings {
    (
        $(#[doc = $sdoc:literal])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty = $default:literal, from [$($var:literal),+ $(,)?];
            )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone)]
        $vis struct $name {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )*
            /// Which variable set each setting, so a check names the one the user wrote.
            pub set_by: $crate::settings::SetBy,
        }

        impl $name {
            /// Every setting of this struct: names, kind, default, meaning.
            pub const SETTINGS: &'static [$crate::settings::Setting] = &[
                $(
                    $crate::settings::Setting {
                        names: &[$($var),+],
                        kind: <$ty as $crate::settings::Value>::KIND,
                        default: $default,
                        doc: concat!($($doc),*),
                    },
                )*
            ];

            /// Loads every setting from `env`; the first malformed one is the error.
            pub fn load(
                env: &$crate::settings::Env,
            ) -> ::std::result::Result<Self, $crate::settings::SettingsError> {
                let mut set_by = $crate::settings::SetBy::default();
                $( set_by.record(stringify!($field), env, &[$($var),+]); )*
                Ok(Self {
                    $( $field: env.value::<$ty>(&[$($var),+], $default)?, )*
                    set_by,
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_out_of_range_names_the_variable_and_the_bounds() {
        assert!(check_range("PLUGIN_CONCURRENCY", 1, 1, 64).is_ok());
        assert!(check_range("PLUGIN_CONCURRENCY", 64, 1, 64).is_ok());
        for n in [0, 65] {
            assert_eq!(
                check_range("PLUGIN_CONCURRENCY", n, 1, 64)
                    .unwrap_err()
                    .to_string(),
                format!("PLUGIN_CONCURRENCY: {n} is not between 1 and 64")
            );
        }
    }
}
