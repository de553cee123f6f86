//! The seam between the shared docker engine and a registry plugin (ecr, gcr, gar, acr): a
//! [`RegistryFlow`] adjusts the settings before validation (registry host, repository prefix,
//! artifact `registryType`) and obtains the push login — and does any registry-side work — after
//! validation and before the build. [`run`] is the whole docker-family run; the docker plugin
//! uses it with [`NoFlow`].

use std::future::Future;

use tracing::info;

use crate::ci::Ci;
use crate::cli::BoxError;
use crate::docker::config::{Config, Mode, Prepared};
use crate::docker::settings::DockerSettings;
use crate::settings::{Env, SettingsError};

/// What a registry plugin adds to the docker engine.
pub trait RegistryFlow {
    /// The flow's own error: what its login or registry-side work can fail with.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Validates the flow's own settings and adjusts the docker settings. No I/O here.
    fn prepare(&mut self, s: &mut DockerSettings, env: &Env) -> Result<(), SettingsError>;
    /// How the flow will log in, for the plan printed before it does (None: the settings' login).
    fn login_label(&self) -> Option<String> {
        None
    }
    /// The registry host, in words, when only the login will tell it (ECR's proxy endpoint):
    /// the plan shows it instead of the repository's own (host-less, so Docker Hub) name.
    fn pending_registry(&self) -> Option<&'static str> {
        None
    }
    /// Logs in (sets `cfg.credentials.push`) and does registry-side work. `Ok(false)` ends the
    /// run successfully without building (e.g. every tag already exists).
    fn before_build<'a>(
        &'a self,
        cfg: &'a mut Config,
    ) -> impl Future<Output = Result<bool, Self::Error>> + 'a;
}

/// The docker plugin: no cloud flow.
pub struct NoFlow;

impl RegistryFlow for NoFlow {
    type Error = std::convert::Infallible;
    fn prepare(&mut self, _: &mut DockerSettings, _: &Env) -> Result<(), SettingsError> {
        Ok(())
    }
    async fn before_build(&self, _: &mut Config) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// Loads, validates, prints the plan, then runs login + engine. Must run before any other thread
/// exists: it starts the ssh agent and points `SSH_AUTH_SOCK` at it
/// (`SshAgent::export`, which refuses once a second thread exists) before the runtime starts.
pub fn run(env: Env, mut flow: impl RegistryFlow) -> Result<(), BoxError> {
    let mut s = DockerSettings::load(&env)?;
    flow.prepare(&mut s, &env)?;
    let ci = Ci::from_env(&env);
    let mut cfg = match crate::docker::prepare(s, &env, &ci, &crate::cli::cwd()?)? {
        Prepared::Skip(reason) => {
            info!("{reason}");
            return Ok(());
        }
        Prepared::Run(cfg) => cfg,
    };
    let login = flow.login_label();
    for line in crate::docker::plan::describe(&cfg, login.as_deref(), flow.pending_registry()) {
        info!("plan: {line}");
    }
    // The agent must exist, and SSH_AUTH_SOCK point at it, before the runtime starts threads.
    let _agent = match &cfg.mode {
        Mode::Build(b) => match &b.ssh_key {
            Some(key) => {
                let agent = crate::docker::daemon::ssh::SshAgent::start(key)?;
                agent.export()?;
                info!("ssh: agent started with the key of PLUGIN_SSH_AGENT_KEY");
                Some(agent)
            }
            None => None,
        },
        _ => None,
    };
    crate::cli::block_on(async {
        if !flow.before_build(&mut cfg).await? {
            return Ok(());
        }
        let report = crate::docker::run(&cfg).await?;
        for line in report.summary() {
            info!("summary: {line}");
        }
        Ok(())
    })
}
