//! `longshore-gcs`: upload files matched by globs to a Google Cloud Storage bucket, or download
//! a prefix — a drop-in for plugins/gcs. Settings → validated config (credentials chosen, files
//! selected and named) → the shared upload engine with the GCS destination.

mod config;
mod run;
mod settings;

use std::process::ExitCode;

use longshore_core::cli;

use longshore_core::gcp_auth::GoogleSettings;

use crate::settings::GcsSettings;

fn main() -> ExitCode {
    let plugin = cli::Plugin {
        name: "longshore-gcs",
        about: "upload files to Google Cloud Storage, or download a prefix (a drop-in for plugins/gcs)",
        version: env!("CARGO_PKG_VERSION"),
        settings: &[GcsSettings::SETTINGS, GoogleSettings::SETTINGS],
        other_known: &[],
    };
    cli::main(&plugin, |env| {
        let s = GcsSettings::load(&env)?;
        let cfg = config::prepare(s, &env, &cli::cwd()?)?;
        run::run(cfg)
    })
}
