//! `longshore-core`: what every longshore plugin shares.
//!
//! A plugin binary is thin: it loads its settings from the environment
//! ([`settings`](mod@settings)), turns them into a validated configuration before any network call
//! or daemon start, runs the work through one of the engines here, and writes the outputs
//! ([`output`]) a CI runner reads.
//!
//! | module | owns |
//! |---|---|
//! | [`settings`](mod@settings) | reading `PLUGIN_*` variables: aliases, Go booleans, lists, `.env` files, unknown names |
//! | [`secret`] | the [`secret::Secret`] type and the masking of every known secret in our output |
//! | [`telemetry`] | the CI-log formatter (one line per step, secrets masked) |
//! | [`cli`] | the shared entry of every binary: flags, logging, env file, exit mapping |
//! | [`cancel`] | SIGTERM / SIGINT: the work dropped, clean-ups run, exit 128 + signal |
//! | [`child_env`] | the environment a child process we start inherits (no settings, no secrets) |
//! | [`ci`] | commit / branch / build metadata from Drone, Woodpecker and Harness variables |
//! | [`output`] | `DRONE_OUTPUT`, the Harness artifact file, the Drone card |
//! | [`error`] | the core error type and its one-line rendering |
//! | [`retry`] | the one retry policy: attempts, total time (`PLUGIN_RETRY_MAX_TIME`), backoff, what is transient |
//! | [`files`] | reading small repository files without following links, excerpts of untrusted text |
//! | [`tls`] | the one trust store: CA settings, `HARNESS_CA_PATH`, system roots, our reqwest clients' trust |
//! | `docker` (feature `docker`) | the image family: settings, context, engine; `daemon/` (bollard) and `login/` (ECR, GCR/GAR, ACR) |
//! | `registry` (feature `docker`) | the registry client: references, credentials, pull and push without a daemon |
//! | `upload` (feature `upload`) | the upload engine: file selection (globs, excludes), object keys, per-object headers |
//!
//! Cloud SDKs never live here unconditionally: each sits behind a cargo feature so a binary links
//! only what it needs.
#![deny(missing_docs)]

pub mod cancel;
pub mod child_env;
pub mod ci;
pub mod cli;
pub mod error;
pub mod files;
#[cfg(any(
    feature = "docker",
    feature = "gcp-auth",
    feature = "gcs",
    feature = "nexus",
    feature = "artifactory"
))]
pub(crate) mod http_body;
pub mod output;
pub mod retry;
pub mod secret;
pub mod settings;
pub mod telemetry;
pub mod tls;

#[cfg(feature = "docker")]
pub mod docker;

// The registry client needs no daemon; it ships with the image family's feature for now.
#[cfg(feature = "docker")]
pub mod registry;

#[cfg(feature = "upload")]
pub mod upload;

#[cfg(feature = "aws")]
pub mod aws;

#[cfg(feature = "gcp-auth")]
pub mod gcp_auth;

pub use error::Error;
