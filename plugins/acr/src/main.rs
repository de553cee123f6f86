//! `longshore-acr`: log in to Azure Container Registry (Azure AD token exchanged for an ACR
//! refresh token, or a service principal directly), then build, tag and push — a drop-in for
//! plugins/acr. The flow lives in `longshore_core::docker::login::acr`, the engine in `longshore_core::docker`.

use std::process::ExitCode;

use longshore_core::cli;
use longshore_core::docker::DockerSettings;
use longshore_core::docker::login::acr::{AcrFlow, AcrSettings};
use longshore_core::docker::login::flow;
use longshore_core::settings::Setting;

/// The shared docker settings whose default differs in this plugin, listed first so that
/// `--help` and the README show these rows instead of the docker ones.
const OWN_DEFAULTS: &[Setting] = &[
    Setting {
        names: &["PLUGIN_REGISTRY", "DOCKER_REGISTRY"],
        kind: "string",
        default: "",
        doc: "Registry to push to, `<name>.azurecr.io` (required).",
    },
    Setting {
        names: &["PLUGIN_REGISTRY_TYPE"],
        kind: "string",
        default: "ACR",
        doc: "`registryType` in the artifact file.",
    },
];

fn main() -> ExitCode {
    let plugin = cli::Plugin {
        name: "longshore-acr",
        about: "log in to Azure Container Registry, build an image and push it (a drop-in for plugins/acr)",
        version: env!("CARGO_PKG_VERSION"),
        settings: &[
            OWN_DEFAULTS,
            DockerSettings::SETTINGS,
            AcrSettings::SETTINGS,
        ],
        other_known: longshore_core::docker::settings::UNSUPPORTED_NAMES,
    };
    cli::main(&plugin, |env| flow::run(env, AcrFlow::default()))
}
