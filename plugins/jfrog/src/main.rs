//! `longshore-jfrog`: upload files to JFrog Artifactory through its REST API — a drop-in for
//! `plugins/artifactory`'s upload path, without the JFrog CLI. Settings → validated config
//! (login, URL, files matched and mapped the way `jf rt upload` maps them) → engine.

mod config;
mod run;
mod settings;

use std::process::ExitCode;

use longshore_core::cli;

use crate::settings::JfrogSettings;

fn main() -> ExitCode {
    let plugin = cli::Plugin {
        name: "longshore-jfrog",
        about: "upload files to JFrog Artifactory (a drop-in for plugins/artifactory's upload)",
        version: env!("CARGO_PKG_VERSION"),
        settings: &[JfrogSettings::SETTINGS],
        // Read to refuse them (config::OTHER_COMMANDS), or read by the anchor for its log format.
        other_known: &["PLUGIN_COMMAND", "PLUGIN_BUILD_TOOL", "PLUGIN_LOG_LEVEL"],
    };
    cli::main(&plugin, |env| {
        let s = JfrogSettings::load(&env)?;
        let cfg = config::prepare(s, &env, &cli::cwd()?)?;
        run::run(cfg)
    })
}
