//! `longshore-s3`: upload files matched by globs to an S3 bucket, or download a prefix — a
//! drop-in for plugins/s3. Settings → validated config (files selected, keys mapped) → engine.

mod config;
mod run;
mod settings;

use std::process::ExitCode;

use longshore_core::cli;

use crate::settings::S3Settings;

fn main() -> ExitCode {
    let plugin = cli::Plugin {
        name: "longshore-s3",
        about: "upload files to S3, or download a prefix (a drop-in for plugins/s3)",
        version: env!("CARGO_PKG_VERSION"),
        settings: &[S3Settings::SETTINGS],
        other_known: &[],
    };
    cli::main(&plugin, |env| {
        let s = S3Settings::load(&env)?;
        let cfg = config::prepare(s, &env, &cli::cwd()?)?;
        run::run(cfg)
    })
}
