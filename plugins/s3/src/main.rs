//! `longshore-s3`: upload files matched by globs to an S3 bucket, or download a prefix — a
//! drop-in for plugins/s3. Settings → validated config (files selected, keys mapped) → engine.

mod config;
mod run;
mod settings;

use std::process::ExitCode;

use longshore_core::settings::{self as core_settings, Env};
use longshore_core::{error::one_line, telemetry};
use tracing::{error, warn};

use crate::settings::S3Settings;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("--version" | "-V") => {
            println!("longshore-s3 {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--help" | "-h") => {
            println!(
                "longshore-s3 {}: upload files to S3 (a drop-in for plugins/s3).\nConfigured only by environment variables:\n\n{}",
                env!("CARGO_PKG_VERSION"),
                core_settings::help_table(&[S3Settings::SETTINGS])
            );
            return ExitCode::SUCCESS;
        }
        Some("--settings-markdown") => {
            println!("{}", core_settings::markdown_table(&[S3Settings::SETTINGS]));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let env = Env::from_process();
    telemetry::init(
        env.string(&["PLUGIN_DEBUG"])
            .is_some_and(|v| v == "true" || v == "1"),
    );
    match try_main(env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{}", longshore_core::secret::mask(&one_line(&*e)));
            ExitCode::FAILURE
        }
    }
}

fn try_main(env: Env) -> Result<(), Box<dyn std::error::Error>> {
    let env = env.with_env_file()?;
    for (name, guess) in
        core_settings::unknown_variables(&env, &[S3Settings::SETTINGS], settings::OTHER_KNOWN)
    {
        match guess {
            Some(g) => warn!("{name} is not a setting of this plugin (did you mean {g}?)"),
            None => warn!("{name} is not a setting of this plugin; ignored"),
        }
    }
    let s = S3Settings::load(&env)?;
    let cwd = std::env::current_dir()?;
    let cfg = config::prepare(s, &env, &cwd)?;
    run::run(cfg)
}
