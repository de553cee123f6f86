//! The image family, shared by the docker, ecr, gcr, gar and acr plugins: settings →
//! [`config::prepare`] (all validation) → [`engine::run`] (daemon, build, tag, push, save,
//! outputs, purge).
//!
//! | folder / file | owns |
//! |---|---|
//! | [`settings`], [`config`], [`build_config`], [`plan`], [`tags`], [`tag_rules`] | the image settings, their validation into a [`Config`] (the build's half in [`build_config`], labels included), the dry-run plan, `auto_tag` and tag validity, metadata-action's tag rules |
//! | [`context`] | the build context: `.dockerignore`, the Dockerfile, the tar sent to a builder |
//! | [`engine`] | one run: build, tag, push (daemon or daemonless), save, outputs, purge |
//! | [`daemon`] | everything that talks to dockerd through bollard: start, build, push, SSH agent |
//! | [`login`] | the cloud logins (ECR, GCR/GAR, ACR) and the flow every registry plugin shares |
//!
//! The registry client (pull, push, auth, references, blob spool) is [`crate::registry`]: it
//! never needs a daemon, so the native builder and the manifest plugin use it alone.

pub mod build_config;
pub mod config;
pub mod context;
pub mod daemon;
pub mod engine;
mod error;
pub mod login;
pub mod plan;
pub mod settings;
pub mod tag_rules;
pub mod tags;

pub use config::{Config, Prepared, prepare};
pub use engine::{Report, run};
pub use error::DockerError;
pub use settings::DockerSettings;
