//! `longshore-docker`: build an image through the Docker Engine API, tag it, push it — a drop-in
//! for plugins/docker. Everything but the entry lives in `longshore_core::docker`.

use std::process::ExitCode;

use longshore_core::cli;
use longshore_core::docker::DockerSettings;
use longshore_core::docker::login::flow;

fn main() -> ExitCode {
    let plugin = cli::Plugin {
        name: "longshore-docker",
        about: "build an image and push it (a drop-in for plugins/docker)",
        version: env!("CARGO_PKG_VERSION"),
        settings: &[DockerSettings::SETTINGS],
        other_known: longshore_core::docker::settings::UNSUPPORTED_NAMES,
    };
    cli::main(&plugin, |env| flow::run(env, flow::NoFlow))
}
