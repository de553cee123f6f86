//! `longshore-gcr`: build an image and push it to Google Container Registry (`gcr.io`) with a
//! JSON key, an access token minted from it, workload identity federation or the application
//! default credentials — a drop-in for plugins/gcr. The flow lives in
//! `longshore_core::docker::login::gcp`, the engine in `longshore_core::docker`.

use std::process::ExitCode;

use longshore_core::cli;
use longshore_core::docker::DockerSettings;
use longshore_core::docker::login::flow;
use longshore_core::docker::login::gcp::{GcpFlow, GcpSettings, Registry};
use longshore_core::gcp_auth::GoogleSettings;
use longshore_core::settings::Setting;

/// The shared docker settings whose default differs in this plugin, listed first so that
/// `--help` and the README show these rows instead of the docker ones.
const OWN_DEFAULTS: &[Setting] = &[
    Setting {
        names: &["PLUGIN_REGISTRY"],
        kind: "string",
        default: "gcr.io",
        doc: "Registry to push to (a Google host in `PLUGIN_REPO` is used when this is not set). `DOCKER_REGISTRY` is not read, as in the anchor.",
    },
    Setting {
        names: &["PLUGIN_REGISTRY_TYPE"],
        kind: "string",
        default: "GCR",
        doc: "`registryType` in the artifact file.",
    },
];

fn main() -> ExitCode {
    let plugin = cli::Plugin {
        name: "longshore-gcr",
        about: "build an image and push it to Google Container Registry (a drop-in for plugins/gcr)",
        version: env!("CARGO_PKG_VERSION"),
        settings: &[
            OWN_DEFAULTS,
            DockerSettings::SETTINGS,
            GcpSettings::SETTINGS,
            GoogleSettings::SETTINGS,
        ],
        other_known: longshore_core::docker::settings::UNSUPPORTED_NAMES,
    };
    cli::main(&plugin, |env| flow::run(env, GcpFlow::new(Registry::Gcr)))
}
