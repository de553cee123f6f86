//! The entry point every plugin binary shares: `--help` / `--version` / `--settings-markdown`,
//! logging, `PLUGIN_ENV_FILE`, the unknown-variable warnings, and the one error-to-exit mapping
//! (one masked line, exit 1). A plugin's `main` is one call to [`main`].

use std::process::ExitCode;

use tracing::{error, warn};

use crate::settings::{self, Env, Setting};

/// What a plugin binary is.
pub struct Plugin {
    /// Binary name, `longshore-<name>`.
    pub name: &'static str,
    /// One line: what it does and what it replaces.
    pub about: &'static str,
    /// `CARGO_PKG_VERSION`.
    pub version: &'static str,
    /// Its settings tables.
    pub settings: &'static [&'static [Setting]],
    /// `PLUGIN_*` variables it reads outside those tables.
    pub other_known: &'static [&'static str],
}

/// An error on its way to the exit: anything that can be shown on one line.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Runs a plugin: handles the flags, prepares the environment, calls `run`, maps the result to
/// the exit code.
pub fn main(p: &Plugin, run: impl FnOnce(Env) -> Result<(), BoxError>) -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("--version" | "-V") => {
            println!("{} {}", p.name, p.version);
            return ExitCode::SUCCESS;
        }
        Some("--help" | "-h") => {
            println!(
                "{} {}: {}\nConfigured only by environment variables (first one set wins):\n\n{}",
                p.name,
                p.version,
                p.about,
                settings::help_table(p.settings)
            );
            return ExitCode::SUCCESS;
        }
        Some("--settings-markdown") => {
            println!("{}", settings::markdown_table(p.settings));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let env = Env::from_process();
    let debug = env
        .string(&["PLUGIN_DEBUG", "DOCKER_LAUNCH_DEBUG"])
        .is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"));
    crate::telemetry::init(debug);
    let result = env.with_env_file().map_err(BoxError::from).and_then(|env| {
        let mut extra: Vec<&str> = vec!["PLUGIN_ENV_FILE", "PLUGIN_DEBUG"];
        extra.extend_from_slice(p.other_known);
        for (name, guess) in settings::unknown_variables(&env, p.settings, &extra) {
            match guess {
                Some(g) => warn!("{name} is not a setting of this plugin (did you mean {g}?)"),
                None => warn!("{name} is not a setting of this plugin; ignored"),
            }
        }
        run(env)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{}", crate::secret::mask(&crate::error::one_line(&*e)));
            ExitCode::FAILURE
        }
    }
}

/// The working directory (the workspace), as a settings error when it is gone.
pub fn cwd() -> Result<std::path::PathBuf, settings::SettingsError> {
    std::env::current_dir()
        .map_err(|e| settings::SettingsError::invalid("PWD", format!("no working directory: {e}")))
}

/// A tokio runtime for the network part of a run (two workers: the machines have two cores).
pub fn runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
