//! `longshore-ecr`: log in to Amazon ECR (and manage the repository when asked), then build,
//! tag and push through the shared docker engine — a drop-in for plugins/ecr. The ECR flow lives
//! in `longshore_core::docker::login::ecr`; everything else in `longshore_core::docker`.

use std::process::ExitCode;

use longshore_core::cli;
use longshore_core::docker::DockerSettings;
use longshore_core::docker::login::ecr::{EcrFlow, EcrSettings};
use longshore_core::docker::login::flow;
use longshore_core::settings::Setting;

/// The shared docker settings whose default differs in this plugin, listed first so that
/// `--help` and the README show these rows instead of the docker ones.
const OWN_DEFAULTS: &[Setting] = &[
    Setting {
        names: &["PLUGIN_REGISTRY", "DOCKER_REGISTRY"],
        kind: "string",
        default: "",
        doc: "Registry to log in to and push to: by default the ECR host in `PLUGIN_REPO`, else the endpoint the ECR token names.",
    },
    Setting {
        names: &["PLUGIN_REGISTRY_TYPE"],
        kind: "string",
        default: "ECR",
        doc: "`registryType` in the artifact file.",
    },
];

fn main() -> ExitCode {
    let plugin = cli::Plugin {
        name: "longshore-ecr",
        about: "log in to Amazon ECR, build an image and push it (a drop-in for plugins/ecr)",
        version: env!("CARGO_PKG_VERSION"),
        settings: &[
            OWN_DEFAULTS,
            EcrSettings::SETTINGS,
            DockerSettings::SETTINGS,
        ],
        other_known: longshore_core::docker::settings::UNSUPPORTED_NAMES,
    };
    cli::main(&plugin, |env| flow::run(env, EcrFlow::default()))
}
