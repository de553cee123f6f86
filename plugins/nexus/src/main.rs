//! `longshore-nexus`: publish artifacts to Sonatype Nexus — a drop-in for the Nexus publish
//! plugin (`harnesscommunity/publish-nexus-repository`). Settings → validated plan (coordinates
//! checked, files found, API chosen) → the shared upload engine → outputs.

mod config;
mod plan;
mod run;
mod settings;

use std::process::ExitCode;

use longshore_core::cli;

use crate::settings::NexusSettings;

fn main() -> ExitCode {
    let plugin = cli::Plugin {
        name: "longshore-nexus",
        about: "publish artifacts to Sonatype Nexus 3 or 2 (a drop-in for the Nexus publish plugin)",
        version: env!("CARGO_PKG_VERSION"),
        settings: &[NexusSettings::SETTINGS],
        other_known: &[],
    };
    cli::main(&plugin, |env| {
        let s = NexusSettings::load(&env)?;
        let cfg = config::prepare(s, &env, &cli::cwd()?)?;
        run::run(cfg)
    })
}
