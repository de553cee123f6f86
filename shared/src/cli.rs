//! The entry point every plugin binary shares: `--help` / `--version` / `--settings-markdown`,
//! logging, `PLUGIN_ENV_FILE`, the unknown-variable warnings, `HARNESS_CA_PATH` (read once, see
//! [`crate::tls`]), and the one error-to-exit mapping (one masked line, exit 1). A plugin's `main`
//! is one call to [`main`].

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
    if answer_flag(p) {
        return ExitCode::SUCCESS;
    }
    // A URL with credentials (`PLUGIN_ENDPOINT`, `DOCKER_HOST`, a clone token in
    // `DRONE_REMOTE_URL`) is a secret wherever it is echoed, whoever echoes it.
    #[allow(
        clippy::disallowed_methods,
        reason = "every value is scanned for credentials, not read as a setting"
    )]
    let values: Vec<String> = std::env::vars_os()
        .map(|(_, v)| v.to_string_lossy().into_owned())
        .collect();
    crate::secret::register_url_credentials(values.iter().map(String::as_str));
    let env = Env::from_process();
    let debug = env
        .string(&["PLUGIN_DEBUG", "DOCKER_LAUNCH_DEBUG"])
        .is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"));
    crate::telemetry::init(debug);
    let result = env.with_env_file().map_err(BoxError::from).and_then(|env| {
        crate::retry::configure(&env)?;
        // Before the plugin's settings: a bad bundle fails before any connection or login.
        crate::tls::load_harness_ca(&env)?;
        let mut extra: Vec<&str> = vec![
            "PLUGIN_ENV_FILE",
            "PLUGIN_DEBUG",
            crate::retry::MAX_TIME_VAR,
        ];
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
        Err(e) if e.downcast_ref::<crate::cancel::Cancelled>().is_some() => {
            let c = e.downcast_ref::<crate::cancel::Cancelled>().copied();
            let number = c.map_or(15, |c| c.number);
            error!("{e}");
            // 128 + the signal, what a shell reports for a process the signal ended.
            ExitCode::from(128 + number as u8)
        }
        Err(e) => {
            error!("{}", crate::secret::mask(&crate::error::one_line(&*e)));
            ExitCode::FAILURE
        }
    }
}

/// `--version`, `--help` and `--settings-markdown`: answers on stdout and says whether it did.
/// Logs go through tracing to stderr; stdout carries only these answers (and a Drone card a
/// user sends there, `output::write_card`).
#[allow(
    clippy::print_stdout,
    reason = "the answer to a flag is the program's output"
)]
fn answer_flag(p: &Plugin) -> bool {
    match std::env::args().nth(1).as_deref() {
        Some("--version" | "-V") => println!("{} {}", p.name, p.version),
        Some("--help" | "-h") => println!(
            "{} {}: {}\nConfigured only by environment variables (first one set wins):\n\n{}",
            p.name,
            p.version,
            p.about,
            settings::help_table(p.settings)
        ),
        Some("--settings-markdown") => println!("{}", settings::markdown_table(p.settings)),
        _ => return false,
    }
    true
}

/// The working directory (the workspace), as a settings error when it is gone.
pub fn cwd() -> Result<std::path::PathBuf, settings::SettingsError> {
    std::env::current_dir()
        .map_err(|e| settings::SettingsError::invalid("PWD", format!("no working directory: {e}")))
}

/// Runs the network part of a run on [`runtime`], until it ends or the step is cancelled
/// (SIGTERM / SIGINT: see [`crate::cancel`]).
pub fn block_on<T>(
    work: impl std::future::Future<Output = Result<T, BoxError>>,
) -> Result<T, BoxError> {
    let rt = runtime()?;
    let result = rt.block_on(crate::cancel::until_cancelled(work));
    // A cancelled run does not wait for blocking work it abandoned (a layer half compressed).
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    result
}

/// A tokio runtime for the network part of a run (two workers: the machines have two cores).
pub fn runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
