//! The harness of the end-to-end tests: where the real local services are (written by
//! `tests/scripts/services-up.sh` to `$LONGSHORE_STATE/env`), a builder that runs a plugin binary
//! exactly as a runner does (a clean environment of `PLUGIN_*`/`DRONE_*` variables and a working
//! directory), and a small client of the registry HTTP API to check what landed.
//!
//! Services missing: with `CI=true` the test fails; elsewhere it is skipped with a message.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test, messages go to the test log, and the \
              harness reads its own knobs (LONGSHORE_*, CI) from the environment"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub mod artifactory_fixture;
pub mod azure_fixture;
pub mod ecr_public_fixture;
pub mod faults;
pub mod google_fixture;
pub mod hostile_registry;
pub mod leaks;
pub mod nexus_fixture;
pub mod tls;

/// Where the local services listen.
#[derive(Debug, Clone)]
pub struct Services {
    /// `unix:///var/run/docker.sock`.
    pub docker_host: String,
    /// Plain HTTP registry `127.0.0.1:5000`, no auth.
    pub registry_plain: String,
    /// TLS registry `127.0.0.1:5443` with htpasswd auth.
    pub registry_tls: String,
    /// User of the TLS registry.
    pub user: String,
    /// Password of the TLS registry.
    pub password: String,
    /// CA certificate of the TLS registry.
    pub ca: PathBuf,
    /// A local base image (no pulls are possible here).
    pub base_image: String,
    /// moto server URL (S3 shapes, ACLs, STS; checks neither auth nor checksums).
    pub moto: String,
    /// s3s-fs URL (verifies signatures and checksums).
    pub s3sfs: String,
    /// s3s-fs access key.
    pub s3sfs_access_key: String,
    /// s3s-fs secret key.
    pub s3sfs_secret_key: String,
    /// The test bucket on both S3 servers.
    pub bucket: String,
    /// The AWS CLI, to check what landed with a real client.
    pub aws_cli: String,
    /// gcp-storage-emulator URL (GCS JSON API, no auth); empty when the env file predates it.
    pub gcs_emulator: String,
    /// The test bucket on the GCS emulator.
    pub gcs_bucket: String,
}

/// The services, or `None` (with a message) when they are not running and this is not CI.
pub fn services() -> Option<Services> {
    let state =
        std::env::var("LONGSHORE_STATE").unwrap_or_else(|_| "/tmp/longshore-services".into());
    let path = Path::new(&state).join("env");
    let Ok(text) = std::fs::read_to_string(&path) else {
        let msg = format!(
            "{} is missing: run tests/scripts/services-up.sh",
            path.display()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("skipped: {msg}");
        return None;
    };
    let vars: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches('\'').to_string(),
            )
        })
        .collect();
    let get = |k: &str| {
        vars.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("{k} missing from {}", path.display()))
    };
    Some(Services {
        docker_host: get("DOCKER_HOST"),
        registry_plain: get("LONGSHORE_REGISTRY_PLAIN"),
        registry_tls: get("LONGSHORE_REGISTRY_TLS"),
        user: get("LONGSHORE_REGISTRY_USER"),
        password: get("LONGSHORE_REGISTRY_PASSWORD"),
        ca: PathBuf::from(get("LONGSHORE_REGISTRY_CA")),
        base_image: get("LONGSHORE_BASE_IMAGE"),
        moto: get("LONGSHORE_MOTO"),
        s3sfs: get("LONGSHORE_S3SFS"),
        s3sfs_access_key: get("LONGSHORE_S3SFS_ACCESS_KEY"),
        s3sfs_secret_key: get("LONGSHORE_S3SFS_SECRET_KEY"),
        bucket: get("LONGSHORE_S3_BUCKET"),
        aws_cli: get("LONGSHORE_AWS_CLI"),
        // Optional, so an env file written before the emulator was added fails only the gcs tests.
        gcs_emulator: vars
            .get("LONGSHORE_GCS_EMULATOR")
            .cloned()
            .unwrap_or_default(),
        gcs_bucket: vars
            .get("LONGSHORE_GCS_BUCKET")
            .cloned()
            .unwrap_or_default(),
    })
}

/// Returns early from a test when the services are not there (and this is not CI).
#[macro_export]
macro_rules! require_services {
    () => {
        match $crate::services() {
            Some(s) => s,
            None => return,
        }
    };
}

/// Path of a plugin binary, built in the same profile and target as the tests
/// (`tests/scripts/build.sh`, or `cargo build --workspace` for a plain `cargo test`).
pub fn plugin_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/longshore-<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(format!("longshore-{name}"));
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace in the tests' profile first (tests/scripts/build.sh)",
        bin.display()
    );
    bin
}

/// A plugin run, configured like a CI runner configures a step.
pub struct Plugin {
    cmd: Command,
}

/// The result of a run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Both streams.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Panics with the output unless the run succeeded.
    pub fn assert_success(&self) -> &Self {
        assert_eq!(self.code, 0, "plugin failed:\n{}", self.output());
        self
    }

    /// Panics unless the run was refused the way bad input must be: exit 1, exactly one line
    /// on stderr besides warnings, naming the problem (`want`), and no panic.
    pub fn assert_refused(&self, want: &str, case: &str) {
        assert_eq!(self.code, 1, "{case}: expected exit 1:\n{}", self.output());
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.contains(" WARN "))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{case}: expected one error line:\n{}",
            self.stderr
        );
        assert!(
            lines[0].contains(want),
            "{case}: wanted {want:?} in {:?}",
            lines[0]
        );
        assert!(!self.output().contains("panicked"), "{case}: panicked");
    }

    /// Panics unless the run failed with exit 1.
    pub fn assert_failure(&self) -> &Self {
        assert_eq!(self.code, 1, "expected exit 1:\n{}", self.output());
        self
    }
}

impl Plugin {
    /// `longshore-<name>` in `workdir` with an empty environment but `PATH` and `HOME`.
    pub fn new(name: &str, workdir: &Path) -> Self {
        let mut cmd = Command::new(plugin_bin(name));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "HOME",
                std::env::var("HOME").unwrap_or_else(|_| "/root".into()),
            )
            .current_dir(workdir);
        Plugin { cmd }
    }

    /// Sets a variable.
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Sets many variables.
    pub fn envs<'a>(mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (k, v) in vars {
            self.cmd.env(k, v);
        }
        self
    }

    /// Puts `dir` first in `PATH` (fake programs).
    pub fn path_prepend(mut self, dir: &Path) -> Self {
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        self.cmd.env("PATH", path);
        self
    }

    /// Starts the run and returns at once, stdout and stderr piped and stdin closed, for checks
    /// made while the plugin runs (`wait_with_output` collects it).
    pub fn spawn(mut self) -> std::process::Child {
        self.cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn plugin")
    }

    /// Runs to completion.
    pub fn run(mut self) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = self.cmd.output().expect("run plugin");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

/// A unique, valid repository path component for one test.
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{:x}", std::process::id(), n & 0xffff_ffff)
}

/// A client of a registry's HTTP API (`/v2/…`), to check what a push stored.
pub struct Registry {
    base: String,
    client: reqwest::blocking::Client,
    auth: Option<(String, String)>,
}

const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";

impl Registry {
    /// The plain registry.
    pub fn plain(s: &Services) -> Self {
        Registry {
            base: format!("http://{}", s.registry_plain),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            auth: None,
        }
    }

    /// The TLS registry, trusting the test CA, with the test login.
    pub fn tls(s: &Services) -> Self {
        let ca = std::fs::read(&s.ca).expect("read CA");
        let cert = reqwest::Certificate::from_pem(&ca).expect("CA pem");
        Registry {
            base: format!("https://{}", s.registry_tls),
            client: reqwest::blocking::Client::builder()
                .add_root_certificate(cert)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            auth: Some((s.user.clone(), s.password.clone())),
        }
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        let mut req = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Accept", MANIFEST_TYPES);
        if let Some((u, p)) = &self.auth {
            req = req.basic_auth(u, Some(p));
        }
        req.send().expect("registry request")
    }

    /// The tags of a repository, sorted; `None` when the repository does not exist.
    pub fn tags(&self, repo: &str) -> Option<Vec<String>> {
        let r = self.get(&format!("/v2/{repo}/tags/list"));
        if r.status() == 404 {
            return None;
        }
        assert!(r.status().is_success(), "tags/list {repo}: {}", r.status());
        let v: serde_json::Value = r.json().expect("json");
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        Some(tags)
    }

    /// The digest the registry reports for `repo:tag` (`Docker-Content-Digest`).
    pub fn digest(&self, repo: &str, tag: &str) -> String {
        let r = self.get(&format!("/v2/{repo}/manifests/{tag}"));
        assert!(
            r.status().is_success(),
            "manifest {repo}:{tag}: {}",
            r.status()
        );
        r.headers()["docker-content-digest"]
            .to_str()
            .expect("digest")
            .to_string()
    }

    /// The manifest of `repo:tag` (Docker schema 2 or OCI), as the registry stores it.
    pub fn manifest(&self, repo: &str, tag: &str) -> serde_json::Value {
        let r = self.get(&format!("/v2/{repo}/manifests/{tag}"));
        assert!(
            r.status().is_success(),
            "manifest {repo}:{tag}: {}",
            r.status()
        );
        r.json().expect("manifest json")
    }

    /// The image configuration (labels, history, env) of `repo:tag`.
    pub fn config(&self, repo: &str, tag: &str) -> serde_json::Value {
        let r = self.get(&format!("/v2/{repo}/manifests/{tag}"));
        assert!(r.status().is_success());
        let manifest: serde_json::Value = r.json().expect("manifest");
        let digest = manifest["config"]["digest"]
            .as_str()
            .expect("config digest");
        self.get(&format!("/v2/{repo}/blobs/{digest}"))
            .json()
            .expect("config json")
    }
}

/// Runs the docker CLI (test verification only; the plugins never use it).
pub fn docker_cli(s: &Services, args: &[&str]) -> Run {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", &s.docker_host)
        .output()
        .expect("docker CLI");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Pulls `image` from the authenticated TLS registry with the docker CLI, runs `cmd` in it and
/// returns its standard output, then removes the image. The login lives in a private
/// `DOCKER_CONFIG` directory that is deleted at the end, so no credential is left behind.
pub fn pull_back_and_run(s: &Services, image: &str, cmd: &[&str]) -> String {
    use std::io::Write as _;
    let config = tempfile::tempdir().expect("config dir");
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .arg("--config")
            .arg(config.path())
            .args(args)
            .env("DOCKER_HOST", &s.docker_host)
            .output()
            .expect("docker CLI");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut login = Command::new("docker")
        .arg("--config")
        .arg(config.path())
        .args(["login", &s.registry_tls, "-u", &s.user, "--password-stdin"])
        .env("DOCKER_HOST", &s.docker_host)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker login");
    login
        .stdin
        .take()
        .expect("stdin")
        .write_all(s.password.as_bytes())
        .expect("password");
    let out = login.wait_with_output().expect("docker login");
    assert!(
        out.status.success(),
        "docker login: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    docker(&["pull", image]);
    let mut run = vec!["run", "--rm", "--entrypoint", cmd[0], image];
    run.extend_from_slice(&cmd[1..]);
    let stdout = docker(&run);
    docker(&["rmi", image]);
    stdout
}

/// Writes files into a directory: `(relative path, content)`.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }
}

/// Runs the AWS CLI against an S3 endpoint with the given keys (test verification only).
pub fn aws_cli(s: &Services, endpoint: &str, keys: (&str, &str), args: &[&str]) -> Run {
    let out = Command::new(&s.aws_cli)
        .arg("--endpoint-url")
        .arg(endpoint)
        .args(args)
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("aws CLI");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
