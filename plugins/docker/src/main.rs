//! `longshore-docker`: build an image through the Docker Engine API, tag it, push it — a drop-in
//! for plugins/docker. Settings → validated config → engine; one error line and exit 1 on failure.

use std::process::ExitCode;

use longshore_core::docker::{self, DockerSettings, Prepared};
use longshore_core::settings::{self, Env};
use longshore_core::{ci::Ci, error::one_line, telemetry};
use tracing::{error, info, warn};

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version" | "-V") => {
            println!("longshore-docker {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--help" | "-h") => {
            println!(
                "longshore-docker {}: build an image and push it (a drop-in for plugins/docker).\nConfigured only by environment variables:\n\n{}",
                env!("CARGO_PKG_VERSION"),
                settings::help_table(&[DockerSettings::SETTINGS])
            );
            return ExitCode::SUCCESS;
        }
        Some("--settings-markdown") => {
            println!("{}", settings::markdown_table(&[DockerSettings::SETTINGS]));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let env = Env::from_process();
    telemetry::init(
        env.string(&["PLUGIN_DEBUG", "DOCKER_LAUNCH_DEBUG"])
            .is_some_and(|v| v == "true" || v == "1"),
    );
    match run(env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(env: Env) -> Result<(), longshore_core::Error> {
    let env = env.with_env_file()?;
    for (name, guess) in settings::unknown_variables(
        &env,
        &[DockerSettings::SETTINGS],
        docker::settings::OTHER_KNOWN,
    ) {
        match guess {
            Some(g) => warn!("{name} is not a setting of this plugin (did you mean {g}?)"),
            None => warn!("{name} is not a setting of this plugin; ignored"),
        }
    }
    let s = DockerSettings::load(&env)?;
    let ci = Ci::from_env(&env);
    let cwd = std::env::current_dir().map_err(|e| {
        settings::SettingsError::invalid("PWD", format!("no working directory: {e}"))
    })?;
    let cfg = match docker::prepare(s, &env, &ci, &cwd)? {
        Prepared::Skip(reason) => {
            info!("{reason}");
            return Ok(());
        }
        Prepared::Run(cfg) => cfg,
    };
    for line in docker::plan::describe(&cfg) {
        info!("plan: {line}");
    }
    // The agent must exist, and SSH_AUTH_SOCK point at it, before the runtime starts threads.
    let _agent = match &cfg.mode {
        docker::config::Mode::Build(b) => match &b.ssh_key {
            Some(key) => {
                let agent = docker::ssh::SshAgent::start(key)?;
                set_ssh_auth_sock(&agent.socket);
                info!("ssh: agent started with the key of PLUGIN_SSH_AGENT_KEY");
                Some(agent)
            }
            None => None,
        },
        _ => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| settings::SettingsError::invalid("runtime", e.to_string()))?;
    let report = rt.block_on(docker::run(&cfg))?;
    for line in report.summary() {
        info!("summary: {line}");
    }
    Ok(())
}

/// bollard's BuildKit session finds the agent only through this process's `SSH_AUTH_SOCK`.
#[allow(unsafe_code)]
fn set_ssh_auth_sock(socket: &std::path::Path) {
    // SAFETY: called from `main` before the tokio runtime (or any other thread) exists, so no
    // other thread can read or write the environment concurrently.
    unsafe { std::env::set_var("SSH_AUTH_SOCK", socket) };
}
