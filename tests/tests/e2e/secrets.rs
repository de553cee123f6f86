//! The secrets leak suite (issue 8, "Secrets"): end-to-end scenarios of every plugin, run with
//! recognisable secret values through `longshore_tests::leaks`, which fails on any of them (or
//! their base64 forms, or the base64 of a registry's `user:password`) in the output, in the command
//! line of any process while the step runs, in a file left behind or changed, in the step's
//! temporary directory once it ended (after success and after failure), in a process that
//! outlives the step, and, for the docker-family plugins, in the built image's history and layers.
//!
//! Every plugin has succeeding and failing scenarios (a wrong password, a refused token, a
//! failing build, refused settings): error paths are where secrets slip into messages. Two
//! self-tests prove the checks catch what they are meant to catch.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use longshore_tests::azure_fixture::{
    AAD_ACCESS_TOKEN, ACR_REFRESH_TOKEN, AzureFixture, ClientAuth, Expect,
};
use longshore_tests::google_fixture::{
    ACCESS_TOKEN, AuthProxy, FEDERATED_TOKEN, Fixture, Role, service_account_json, test_key,
};
use longshore_tests::leaks::{Checked, Monitor, Needles, check, image_findings, login};
use longshore_tests::{Plugin, Registry, Services, require_services, unique, write_files};

/// The findings of a plugin's scenarios, asserted empty at the end so one run reports them all.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn add(&mut self, scenario: &str, found: &[String]) {
        self.0
            .extend(found.iter().map(|f| format!("[{scenario}] {f}")));
    }

    fn run(&mut self, scenario: &str, c: &Checked) {
        self.add(scenario, &c.findings);
    }

    fn image(&mut self, scenario: &str, s: &Services, image: &str, secrets: &[(&str, &str)]) {
        self.add(scenario, &image_findings(s, image, secrets));
    }

    /// Takes out the findings that contain `part` (a known leak, asserted on its own).
    fn take(&mut self, part: &str) -> Vec<String> {
        let (taken, rest) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|f| f.contains(part));
        self.0 = rest;
        taken
    }

    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "secrets leaked ({}):\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

fn dockerfile(s: &Services, body: &str) -> String {
    format!("FROM {}\n{body}", s.base_image)
}

/// A workspace with a Dockerfile on the local base image.
fn workspace(s: &Services, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", &dockerfile(s, body))]);
    dir
}

/// A docker-family plugin against the running daemon, no base-image pulls.
fn engine_plugin(name: &str, s: &Services, dir: &Path) -> Plugin {
    Plugin::new(name, dir).envs([
        ("DOCKER_HOST", s.docker_host.as_str()),
        ("PLUGIN_DAEMON_OFF", "true"),
        ("PLUGIN_PULL_IMAGE", "false"),
    ])
}

/// A fresh ed25519 key from ssh-keygen (never committed), as its private key file's text.
fn ssh_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    let ok = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "longshore-leaks",
            "-f",
        ])
        .arg(&file)
        .status()
        .expect("ssh-keygen (openssh-client)");
    assert!(ok.success());
    std::fs::read_to_string(&file).unwrap()
}

/// The run's output for a failure message, unless it holds a secret (then it is a finding).
fn shown(c: &Checked) -> String {
    if c.findings.iter().any(|f| f.starts_with("std")) {
        "(output not shown: it holds a secret)".to_string()
    } else {
        c.run.output()
    }
}

fn assert_failed(c: &Checked, scenario: &str) {
    assert_eq!(c.run.code, 1, "{scenario}: expected exit 1:\n{}", shown(c));
    assert!(!c.run.output().contains("panicked"), "{scenario}: panicked");
}

fn assert_succeeded(c: &Checked, scenario: &str) {
    assert_eq!(c.run.code, 0, "{scenario} failed:\n{}", shown(c));
}

// --- self-tests -------------------------------------------------------------------------------

#[test]
fn the_process_monitor_catches_a_secret_in_any_command_line() {
    let fake = "longshore-fake-secret-in-argv-5b8e2d";
    let encoded = URL_SAFE_NO_PAD.encode(fake);
    let monitor = Monitor::start(Arc::new(Needles::new(&[("fake secret", fake)])), None);
    let mut plain = Command::new("sleep").arg0(fake).arg("0.3").spawn().unwrap();
    monitor.watch(plain.id());
    let mut b64 = Command::new("sleep")
        .arg("0.3")
        .arg0(&encoded)
        .spawn()
        .unwrap();
    plain.wait().unwrap();
    b64.wait().unwrap();
    let seen = monitor.stop();
    assert!(seen.polls > 10, "polled only {} times", seen.polls);
    let findings: Vec<&String> = seen.findings.iter().collect();
    assert!(
        findings.iter().any(|f| f.contains("fake secret (as is)")),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.contains("fake secret (") && f.contains("base64")),
        "{findings:?}"
    );
    // What is recorded of a process never shows the secret itself.
    assert!(
        seen.processes.iter().any(|p| p == "*** 0.3"),
        "{:?}",
        seen.processes
    );
    assert!(findings.iter().all(|f| !f.contains(fake)), "{findings:?}");
}

#[test]
fn the_leak_check_catches_output_command_lines_files_temp_entries_and_leftover_processes() {
    // A leaky stand-in for dockerd, started by the plugin in daemon mode: it leaks a value the
    // plugin does not know (so the plugin cannot mask it) in every way the check looks for.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let script = bin.join("dockerd");
    std::fs::write(
        &script,
        r#"#!/bin/sh
# The plugin starts dockerd with a cleared environment: the values come from a file beside it.
. "$(dirname "$0")/leak.env"
sh -c 'sleep 1; true' "$LEAK_SELFTEST" &
mkdir -p "$HOME/.docker"
printf '{"auths":{"r.example":{"auth":"%s"}}}' "$LEAK_LOGIN" > "$HOME/.docker/config.json"
printf '%s' "$LEAK_SELFTEST" > "$TMPDIR/leaked"
chmod 644 "$TMPDIR/leaked"
sleep 29 &
echo $! > "$LEAK_PIDFILE"
echo "level=error msg=\"cannot log in with $LEAK_ENCODED\""
sleep 1.5
exit 3
"#,
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let secret = "leak-selftest-value-?~>-e41f";
    let creds = login("leak", secret);
    let pidfile = dir.path().join("sleep.pid");
    std::fs::write(
        bin.join("leak.env"),
        format!(
            "LEAK_SELFTEST='{secret}'\nLEAK_LOGIN='{}'\nLEAK_ENCODED='{}'\nLEAK_PIDFILE='{}'\n",
            STANDARD.encode(&creds),
            URL_SAFE_NO_PAD.encode(secret),
            pidfile.display()
        ),
    )
    .unwrap();
    let plugin = Plugin::new("docker", dir.path())
        .path_prepend(&bin)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/none.sock", dir.path().display()),
        )
        .env("PLUGIN_REPO", "127.0.0.1:5000/leaks/selftest")
        .env("PLUGIN_DAEMON_RETRY_COUNT", "10")
        .env("LEAK_SELFTEST", secret)
        .env("LEAK_LOGIN", STANDARD.encode(&creds))
        .env("LEAK_ENCODED", URL_SAFE_NO_PAD.encode(secret))
        .env("LEAK_PIDFILE", &pidfile);
    let c = check(
        plugin,
        &[("selftest secret", secret), ("selftest login", &creds)],
        dir.path(),
    );
    if let Ok(pid) = std::fs::read_to_string(&pidfile) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    assert_failed(&c, "self-test");
    let text = c.findings.join("\n");
    for want in [
        "stderr: selftest secret (URL-safe base64 without padding)",
        "command line of process",
        "a credential file appeared:",
        "/home/.docker/config.json: selftest login (base64)",
        "temporary entry leaked is not private while the step runs (mode 644)",
        "left in the step's TMPDIR after the step: leaked",
        "/tmp/leaked: selftest secret (as is)",
        "process left running after the step: `sleep 29`",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(c.started("dockerd --data-root="), "{:?}", c.processes);
    assert!(
        !text.contains(secret),
        "a finding shows the secret:\n{text}"
    );
}

// --- docker -----------------------------------------------------------------------------------

#[test]
fn docker_leaks_no_secret() {
    let s = require_services!();
    let mut found = Findings::default();
    let registry = [
        ("registry password", s.password.as_str()),
        ("registry login", &login(&s.user, &s.password)),
    ];

    // 1. BuildKit secrets from env and file, an ssh key, a registry login: a dry run whose
    //    image stays local for the layer and history checks.
    let env_secret = "bk-env-secret-leakcheck-3f9a1c";
    let file_secret = "bk-file-secret-leakcheck-77ab0e";
    let key = ssh_key();
    let dir = workspace(
        &s,
        "RUN --mount=type=secret,id=token,required=true /bin/busybox sha256sum /run/secrets/token > /token.sha\n\
         RUN --mount=type=secret,id=key,required=true /bin/busybox wc -c < /run/secrets/key > /key.len\n\
         RUN --mount=type=ssh /bin/busybox test -S \"$SSH_AUTH_SOCK\" && echo forwarded > /ssh.txt\n",
    );
    write_files(dir.path(), &[("key.txt", file_secret)]);
    let mut secrets = vec![
        ("BuildKit env secret", env_secret),
        ("BuildKit file secret", file_secret),
        ("ssh key", key.as_str()),
    ];
    secrets.extend(registry.iter().copied());
    let repo = format!("{}/{}", s.registry_plain, unique("leaks/docker-bk"));
    let c = check(
        engine_plugin("docker", &s, dir.path())
            .env("PLUGIN_REPO", &repo)
            .env("PLUGIN_TAGS", "1")
            .env("PLUGIN_DRY_RUN", "true")
            .env("PLUGIN_NO_CACHE", "true")
            // The login's host is the repository's: a login for another host is refused.
            .env("PLUGIN_REGISTRY", &s.registry_plain)
            .env("PLUGIN_USERNAME", &s.user)
            .env("PLUGIN_PASSWORD", &s.password)
            .env("BUILD_TOKEN", env_secret)
            .env("PLUGIN_SECRETS_FROM_ENV", "token=BUILD_TOKEN")
            .env("PLUGIN_SECRETS_FROM_FILE", "key=key.txt")
            .env("PLUGIN_SSH_AGENT_KEY", &key),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "docker BuildKit");
    // The checks really looked at the credential files and the agent while they existed.
    assert!(c.started("ssh-agent"), "{:?}", c.processes);
    assert!(
        c.saw_temp("longshore-secrets-") && c.saw_temp("/secret-"),
        "{:?}",
        c.temp_seen
    );
    assert!(c.saw_temp("agent.sock"), "{:?}", c.temp_seen);
    found.run("docker: BuildKit secrets + ssh key, dry run", &c);
    found.image(
        "docker: BuildKit secrets + ssh key, image",
        &s,
        &format!("{repo}:1"),
        &secrets,
    );

    // 2. A build that fails in a RUN step holding the secrets: the temporary files and the
    //    agent must be gone after a failure too; the step printing the secret is masked.
    let dir = workspace(
        &s,
        "RUN --mount=type=secret,id=token,required=true --mount=type=ssh /bin/busybox cat /run/secrets/token; exit 3\n",
    );
    let c = check(
        engine_plugin("docker", &s, dir.path())
            .env(
                "PLUGIN_REPO",
                format!("{}/{}", s.registry_plain, unique("leaks/docker-fail")),
            )
            .env("PLUGIN_NO_CACHE", "true")
            .env("BUILD_TOKEN", env_secret)
            .env("PLUGIN_SECRETS_FROM_ENV", "token=BUILD_TOKEN")
            .env("PLUGIN_SSH_AGENT_KEY", &key),
        &secrets,
        dir.path(),
    );
    assert_failed(&c, "docker failing build");
    assert!(c.started("ssh-agent"), "{:?}", c.processes);
    assert!(c.saw_temp("/secret-"), "{:?}", c.temp_seen);
    found.run("docker: failing BuildKit build with secrets", &c);

    // 3. A push with the registry password.
    let dir = workspace(&s, "RUN echo leaks-push > /f\n");
    let name = unique("leaks/docker-push");
    let c = check(
        engine_plugin("docker", &s, dir.path())
            .env("PLUGIN_REPO", format!("{}/{name}", s.registry_tls))
            .env("PLUGIN_REGISTRY", &s.registry_tls)
            .env("PLUGIN_USERNAME", &s.user)
            .env("PLUGIN_PASSWORD", &s.password)
            .env("PLUGIN_ARTIFACT_FILE", "artifact.json")
            .env("DRONE_OUTPUT", dir.path().join("out.env")),
        &registry,
        dir.path(),
    );
    assert_succeeded(&c, "docker push");
    assert_eq!(Registry::tls(&s).tags(&name), Some(vec!["latest".into()]));
    found.run("docker: push with a password", &c);

    // 4. A push with PLUGIN_CONFIG credentials.
    let config = format!(
        r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
        s.registry_tls,
        STANDARD.encode(login(&s.user, &s.password))
    );
    let mut config_secrets = registry.to_vec();
    config_secrets.push(("PLUGIN_CONFIG", &config));
    let name = unique("leaks/docker-config");
    let c = check(
        engine_plugin("docker", &s, dir.path())
            .env("PLUGIN_REPO", format!("{}/{name}", s.registry_tls))
            .env("PLUGIN_CONFIG", &config),
        &config_secrets,
        dir.path(),
    );
    assert_succeeded(&c, "docker PLUGIN_CONFIG");
    assert_eq!(Registry::tls(&s).tags(&name), Some(vec!["latest".into()]));
    found.run("docker: push with PLUGIN_CONFIG", &c);

    // 5. Daemon mode: the plugin starts "dockerd" itself. The stand-in links the socket it is
    //    told to serve to the running daemon's, so the whole step (login, build, push) runs,
    //    and stays up until the plugin kills it: its command line is watched all along.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("dockerd");
    let real_socket = s.docker_host.trim_start_matches("unix://");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in --host=unix://*) sock=\"${{a#--host=unix://}}\";; esac; done\n\
             ln -s {real_socket} \"$sock\"\nwhile :; do sleep 0.2; done\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.path().join("dind.sock");
    let name = unique("leaks/docker-dind");
    let c = check(
        Plugin::new("docker", dir.path())
            .path_prepend(&bin)
            .env("DOCKER_HOST", format!("unix://{}", socket.display()))
            .env("PLUGIN_PULL_IMAGE", "false")
            .env("PLUGIN_DAEMON_RETRY_COUNT", "10")
            .env("PLUGIN_REPO", format!("{}/{name}", s.registry_tls))
            .env("PLUGIN_REGISTRY", &s.registry_tls)
            .env("PLUGIN_USERNAME", &s.user)
            .env("PLUGIN_PASSWORD", &s.password)
            .env("PLUGIN_MIRROR", "https://mirror.example")
            .env("PLUGIN_INSECURE_REGISTRIES", "10.0.0.1:5000"),
        &registry,
        dir.path(),
    );
    let _ = std::fs::remove_file(&socket);
    assert_succeeded(&c, "docker daemon mode");
    assert!(c.started("dockerd --data-root="), "{:?}", c.processes);
    assert_eq!(Registry::tls(&s).tags(&name), Some(vec!["latest".into()]));
    found.run("docker: daemon mode, push with a password", &c);

    // 6. A wrong password, refused by the registry at the push.
    let wrong = "Wr0ng+leak/check?=pw-5521";
    let wrong_login = login(&s.user, wrong);
    let c = check(
        engine_plugin("docker", &s, dir.path())
            .env(
                "PLUGIN_REPO",
                format!("{}/{}", s.registry_tls, unique("leaks/docker-wrong")),
            )
            .env("PLUGIN_USERNAME", &s.user)
            .env("PLUGIN_PASSWORD", wrong),
        &[("wrong password", wrong), ("wrong login", &wrong_login)],
        dir.path(),
    );
    assert_failed(&c, "docker wrong password");
    assert!(c.run.output().contains("authentication failed"));
    found.run("docker: wrong password", &c);

    // 7. Settings refused before any network call, with credentials in them.
    let cfg_secret = "cfg-secret-leakcheck-0c77d";
    let cfg_login = login("someone", cfg_secret);
    let broken = format!(
        r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}"#,
        STANDARD.encode(&cfg_login)
    );
    for (what, var, value, want) in [
        (
            "password without a user",
            "PLUGIN_PASSWORD",
            cfg_secret,
            "PLUGIN_USERNAME is required",
        ),
        (
            "malformed PLUGIN_CONFIG",
            "PLUGIN_CONFIG",
            broken.as_str(),
            "PLUGIN_CONFIG",
        ),
    ] {
        let c = check(
            Plugin::new("docker", dir.path())
                .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
                .env("PLUGIN_DAEMON_OFF", "true")
                .env("PLUGIN_REPO", "127.0.0.1:5443/leaks/refused")
                .env(var, value),
            &[
                ("config secret", cfg_secret),
                ("config login", &cfg_login),
                ("broken config", &broken),
            ],
            dir.path(),
        );
        assert_failed(&c, what);
        assert!(c.run.stderr.contains(want), "{what}: {}", c.run.stderr);
        found.run(&format!("docker: refused settings, {what}"), &c);
    }
    let open_dirs = found.take("is not private while the step runs");
    found.assert_none();
    // Regression: these directories (BuildKit secret files, the ssh-agent socket, the daemon
    // log) were once created 0755; the engine now makes them 0700.
    assert!(
        open_dirs.is_empty(),
        "temporary directories not private:\n{}",
        open_dirs.join("\n")
    );
}

// --- ecr --------------------------------------------------------------------------------------

/// The password inside moto's ECR token for an account (its `user:password` is `AWS:<this>`).
fn moto_token(account: &str) -> String {
    format!("{account}-auth-token")
}

fn ecr_plugin(s: &Services, dir: &Path) -> Plugin {
    engine_plugin("ecr", s, dir).envs([
        ("AWS_ENDPOINT_URL", s.moto.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("PLUGIN_REGISTRY", s.registry_tls.as_str()),
    ])
}

#[test]
fn ecr_leaks_no_secret() {
    let s = require_services!();
    let mut found = Findings::default();
    let dir = workspace(&s, "RUN echo leaks-ecr > /f\n");
    let secret_key = "ecr-leak-secret-key-9d2f1+/Qx";
    let session = "ecr-leak-session-token-FQoGZXIvYXdzEJr";
    let token = moto_token("123456789012");
    let token_login = login("AWS", &token);
    let secrets = [
        ("AWS secret key", secret_key),
        ("AWS session token", session),
        ("ECR token password", token.as_str()),
        ("ECR token (AWS login)", token_login.as_str()),
    ];

    // 1. Static keys with a session token, push.
    let name = unique("leaks/ecr-keys");
    let c = check(
        ecr_plugin(&s, dir.path())
            .env("PLUGIN_ACCESS_KEY", "AKIALEAKCHECK0000001")
            .env("PLUGIN_SECRET_KEY", secret_key)
            .env("PLUGIN_SESSION_TOKEN", session)
            .env("PLUGIN_REPO", &name)
            .env("PLUGIN_ARTIFACT_FILE", "artifact.json"),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "ecr keys");
    assert_eq!(Registry::tls(&s).tags(&name), Some(vec!["latest".into()]));
    found.run("ecr: static keys + session token, push", &c);

    // 2. An OIDC token for AssumeRoleWithWebIdentity, dry run: the image is checked.
    let oidc = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJlY3ItbGVha3MifQ.ZWNyLW9pZGMtbGVhaw";
    let mut oidc_secrets = secrets.to_vec();
    oidc_secrets.push(("OIDC token", oidc));
    let name = unique("leaks/ecr-oidc");
    let c = check(
        ecr_plugin(&s, dir.path())
            .env(
                "PLUGIN_ASSUME_ROLE",
                "arn:aws:iam::123456789012:role/ci-push",
            )
            .env("PLUGIN_OIDC_TOKEN_ID", oidc)
            .env("PLUGIN_REPO", &name)
            .env("PLUGIN_DRY_RUN", "true"),
        &oidc_secrets,
        dir.path(),
    );
    assert_succeeded(&c, "ecr oidc");
    found.run("ecr: OIDC web identity, dry run", &c);
    found.image(
        "ecr: OIDC web identity, image",
        &s,
        &format!("{}/{name}:latest", s.registry_tls),
        &oidc_secrets,
    );

    // 3. A role in another account: its token is refused by the registry at the push.
    let other = moto_token("210987654321");
    let other_login = login("AWS", &other);
    let mut refused = secrets.to_vec();
    refused.extend([
        ("refused ECR token password", other.as_str()),
        ("refused ECR token", other_login.as_str()),
    ]);
    let c = check(
        ecr_plugin(&s, dir.path())
            .env("PLUGIN_ACCESS_KEY", "AKIALEAKCHECK0000001")
            .env("PLUGIN_SECRET_KEY", secret_key)
            .env("PLUGIN_SESSION_TOKEN", session)
            .env(
                "PLUGIN_ASSUME_ROLE",
                "arn:aws:iam::210987654321:role/ci-push",
            )
            .env("PLUGIN_REPO", unique("leaks/ecr-refused")),
        &refused,
        dir.path(),
    );
    assert_failed(&c, "ecr refused token");
    found.run("ecr: token refused by the registry", &c);
    found.assert_none();
}

// --- s3 ---------------------------------------------------------------------------------------

fn s3_plugin(s: &Services, dir: &Path, endpoint: &str) -> Plugin {
    Plugin::new("s3", dir).envs([
        ("PLUGIN_BUCKET", s.bucket.as_str()),
        ("PLUGIN_ENDPOINT", endpoint),
        ("PLUGIN_PATH_STYLE", "true"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("PLUGIN_SOURCE", "up/**"),
    ])
}

#[test]
fn s3_leaks_no_secret() {
    let s = require_services!();
    let mut found = Findings::default();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("up/a.txt", "leak check a"), ("up/b/c.txt", "leak check c")],
    );

    // 1. s3s-fs, which verifies signatures, with its real keys.
    let c = check(
        s3_plugin(&s, dir.path(), &s.s3sfs)
            .env("PLUGIN_ACCESS_KEY", &s.s3sfs_access_key)
            .env("PLUGIN_SECRET_KEY", &s.s3sfs_secret_key)
            .env("PLUGIN_TARGET", unique("leaks-keys"))
            .env("PLUGIN_ARTIFACT_FILE", "artifact.json"),
        &[("s3s-fs secret key", &s.s3sfs_secret_key)],
        dir.path(),
    );
    assert_succeeded(&c, "s3 keys");
    found.run("s3: static keys, upload", &c);

    // 2. A wrong secret key: s3s-fs refuses the signature.
    let wrong = "s3-wrong-secret-key-c41d+/ZZ";
    let c = check(
        s3_plugin(&s, dir.path(), &s.s3sfs)
            .env("PLUGIN_ACCESS_KEY", &s.s3sfs_access_key)
            .env("PLUGIN_SECRET_KEY", wrong)
            .env("PLUGIN_TARGET", unique("leaks-wrong")),
        &[("wrong secret key", wrong)],
        dir.path(),
    );
    assert_failed(&c, "s3 wrong key");
    found.run("s3: wrong secret key", &c);

    // 3. Temporary keys with a session token (moto).
    let secret_key = "s3-leak-secret-key-b7e2a9+/Wq";
    let session = "s3-leak-session-token-IQoJb3JpZ2luX2Vj";
    let c = check(
        s3_plugin(&s, dir.path(), &s.moto)
            .env("PLUGIN_ACCESS_KEY", "AKIALEAKCHECK0000002")
            .env("PLUGIN_SECRET_KEY", secret_key)
            .env("PLUGIN_SESSION_TOKEN", session)
            .env("PLUGIN_TARGET", unique("leaks-session")),
        &[
            ("AWS secret key", secret_key),
            ("AWS session token", session),
        ],
        dir.path(),
    );
    assert_succeeded(&c, "s3 session token");
    found.run("s3: session token, upload", &c);

    // 4. An OIDC token for AssumeRoleWithWebIdentity (moto's STS), then a refused one: STS down.
    let oidc = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzMy1sZWFrcyJ9.czMtb2lkYy1sZWFr";
    for (what, sts, ok) in [
        ("OIDC web identity, upload", s.moto.as_str(), true),
        ("OIDC token, STS unreachable", "http://127.0.0.1:9", false),
    ] {
        let c = check(
            s3_plugin(&s, dir.path(), &s.moto)
                .env("AWS_ENDPOINT_URL_STS", sts)
                .env("AWS_MAX_ATTEMPTS", "1")
                .env("PLUGIN_ASSUME_ROLE", "arn:aws:iam::123456789012:role/oidc")
                .env("PLUGIN_OIDC_TOKEN_ID", oidc)
                .env("PLUGIN_TARGET", unique("leaks-oidc")),
            &[("OIDC token", oidc)],
            dir.path(),
        );
        if ok {
            assert_succeeded(&c, what);
        } else {
            assert_failed(&c, what);
        }
        found.run(&format!("s3: {what}"), &c);
    }
    found.assert_none();
}

// --- gcr / gar --------------------------------------------------------------------------------

const EMAIL: &str = "ci-pusher@longshore-test.iam.gserviceaccount.com";

fn google_plugin(name: &str, s: &Services, dir: &Path) -> Plugin {
    engine_plugin(name, s, dir)
}

#[test]
fn gcr_leaks_no_secret() {
    let s = require_services!();
    let mut found = Findings::default();
    let dir = workspace(&s, "RUN echo leaks-gcr > /f\n");

    // 1. A JSON key (given base64-encoded) as the `_json_key` login, push through the
    //    auth-checking proxy.
    let key = test_key();
    let json = service_account_json(&key, EMAIL, "https://oauth2.googleapis.com/token");
    let json_login = login("_json_key", &json);
    let b64 = STANDARD.encode(&json);
    let secrets = [
        ("JSON key", json.as_str()),
        ("JSON key base64", b64.as_str()),
        ("private key", key.private_pem.as_str()),
        ("_json_key login", json_login.as_str()),
    ];
    let proxy = AuthProxy::start(&s.registry_plain, "_json_key", &json);
    let name = unique("leaks/gcr-key");
    let c = check(
        google_plugin("gcr", &s, dir.path())
            .env("PLUGIN_REGISTRY", &proxy.addr)
            .env("PLUGIN_REPO", &name)
            .env("PLUGIN_JSON_KEY", &b64)
            .env("PLUGIN_ARTIFACT_FILE", "artifact.json"),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "gcr json key");
    assert!(proxy.accepted() > 0);
    found.run("gcr: JSON key, push", &c);

    // 2. A key the registry does not accept: the push is refused.
    let wrong = test_key();
    let wrong_json = service_account_json(&wrong, EMAIL, "https://oauth2.googleapis.com/token");
    let wrong_login = login("_json_key", &wrong_json);
    let c = check(
        google_plugin("gcr", &s, dir.path())
            .env("PLUGIN_REGISTRY", &proxy.addr)
            .env("PLUGIN_REPO", unique("leaks/gcr-wrong"))
            .env("GCR_JSON_KEY", &wrong_json),
        &[
            ("refused JSON key", wrong_json.as_str()),
            ("refused private key", wrong.private_pem.as_str()),
            ("refused _json_key login", wrong_login.as_str()),
        ],
        dir.path(),
    );
    assert_failed(&c, "gcr refused key");
    found.run("gcr: JSON key refused by the registry", &c);
    drop(proxy);

    // 3. Workload identity: the key signs a JWT for the token endpoint, whose access token logs
    //    in as oauth2accesstoken. Dry run: the image is checked.
    let oauth = Fixture::start(Role::OAuth {
        public_pem: key.public_pem.clone(),
        email: EMAIL.into(),
    });
    let json = service_account_json(&key, EMAIL, &format!("{}/token", oauth.base));
    let token_login = login("oauth2accesstoken", ACCESS_TOKEN);
    let secrets = [
        ("JSON key", json.as_str()),
        ("private key", key.private_pem.as_str()),
        ("access token", ACCESS_TOKEN),
        ("oauth2accesstoken login", token_login.as_str()),
    ];
    let name = unique("leaks/gcr-wi");
    let c = check(
        google_plugin("gcr", &s, dir.path())
            .env("PLUGIN_REGISTRY", &s.registry_tls)
            .env("PLUGIN_REPO", &name)
            .env("PLUGIN_JSON_KEY", &json)
            .env("PLUGIN_WORKLOAD_IDENTITY", "true")
            .env("PLUGIN_DRY_RUN", "true"),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "gcr workload identity");
    // The signed assertion the plugin sent is a bearer credential too.
    let got = oauth.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let assertion = got[0].form["assertion"].as_str();
    let shown = Needles::new(&[("JWT assertion", assertion)]).find(c.run.output().as_bytes());
    found.add(
        "gcr: workload identity, dry run",
        &shown
            .into_iter()
            .map(|h| format!("output: {h}"))
            .collect::<Vec<_>>(),
    );
    found.run("gcr: workload identity, dry run", &c);
    found.image(
        "gcr: workload identity, image",
        &s,
        &format!("{}/{name}:latest", s.registry_tls),
        &secrets,
    );
    found.assert_none();
}

fn federation(project: &str, pool: &str, provider: &str) -> String {
    format!(
        "//iam.googleapis.com/projects/{project}/locations/global/workloadIdentityPools/{pool}/providers/{provider}"
    )
}

#[test]
fn gar_leaks_no_secret() {
    let s = require_services!();
    let mut found = Findings::default();
    let dir = workspace(&s, "RUN echo leaks-gar > /f\n");
    let oidc = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJnYXItbGVha3MifQ.Z2FyLW9pZGMtbGVhaw";
    let sts = Fixture::start(Role::Sts {
        subject_token: oidc.into(),
        audience: federation("123456789012", "ci-pool", "harness"),
    });
    let iam = Fixture::start(Role::Iam {
        email: EMAIL.into(),
    });
    let token_login = login("oauth2accesstoken", ACCESS_TOKEN);
    let secrets = [
        ("OIDC token", oidc),
        ("federated token", FEDERATED_TOKEN),
        ("access token", ACCESS_TOKEN),
        ("oauth2accesstoken login", token_login.as_str()),
    ];
    let federated = |p: Plugin, token: &str| {
        p.env("PLUGIN_LOCATION", "europe-west1")
            .env("PLUGIN_REGISTRY", &s.registry_tls)
            .env("PLUGIN_OIDC_TOKEN_ID", token)
            .env("PLUGIN_PROJECT_NUMBER", "123456789012")
            .env("PLUGIN_POOL_ID", "ci-pool")
            .env("PLUGIN_PROVIDER_ID", "harness")
            .env("PLUGIN_SERVICE_ACCOUNT_EMAIL", EMAIL)
            .env("PLUGIN_STS_ENDPOINT", &sts.base)
            .env("PLUGIN_IAM_ENDPOINT", format!("{}/", iam.base))
    };

    // 1. Workload identity federation (OIDC → STS → IAM), dry run: the image is checked.
    let name = unique("leaks/gar-wif");
    let c = check(
        federated(google_plugin("gar", &s, dir.path()), oidc)
            .env("PLUGIN_REPO", &name)
            .env("PLUGIN_DRY_RUN", "true"),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "gar federation");
    assert_eq!(iam.received().len(), 1);
    found.run("gar: workload identity federation, dry run", &c);
    found.image(
        "gar: workload identity federation, image",
        &s,
        &format!("{}/{name}:latest", s.registry_tls),
        &secrets,
    );

    // 2. An OIDC token the pool does not trust: STS refuses it.
    let untrusted = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1bnRydXN0ZWQifQ.dW50cnVzdGVkLWxlYWs";
    let c = check(
        federated(google_plugin("gar", &s, dir.path()), untrusted)
            .env("PLUGIN_REPO", unique("leaks/gar-refused")),
        &[("untrusted OIDC token", untrusted)],
        dir.path(),
    );
    assert_failed(&c, "gar refused token");
    found.run("gar: OIDC token refused by STS", &c);
    found.assert_none();
}

// --- acr --------------------------------------------------------------------------------------

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "0a1b2c3d-app-longshore";
const ACR_USER: &str = "00000000-0000-0000-0000-000000000000";

fn azure(s: &Services, auth: ClientAuth) -> AzureFixture {
    AzureFixture::start(
        Expect {
            tenant: TENANT.into(),
            client_id: CLIENT_ID.into(),
            auth,
            identity_header: "longshore-leaks-identity-header".into(),
        },
        s.ca.parent().expect("CA directory"),
        &s.ca,
        &s.registry_tls,
    )
}

fn acr_plugin(s: &Services, dir: &Path, fx: &AzureFixture) -> Plugin {
    engine_plugin("acr", s, dir)
        .env("PLUGIN_REGISTRY", &fx.registry)
        .env("AZURE_AUTHORITY_HOST", &fx.authority)
        .env("SSL_CERT_FILE", &s.ca)
        .env("PLUGIN_TENANT_ID", TENANT)
        .env("PLUGIN_CLIENT_ID", CLIENT_ID)
}

#[test]
fn acr_leaks_no_secret() {
    let s = require_services!();
    let mut found = Findings::default();
    let dir = workspace(&s, "RUN echo leaks-acr > /f\n");
    let client_secret = "Az+Leak/Secret~value-0d1e2f";
    let oidc = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhY3ItbGVha3MifQ.YWNyLW9pZGMtbGVhaw";
    let acr_login = login(ACR_USER, ACR_REFRESH_TOKEN);
    let tokens = [
        ("Azure AD access token", AAD_ACCESS_TOKEN),
        ("ACR refresh token", ACR_REFRESH_TOKEN),
        ("ACR login", acr_login.as_str()),
    ];

    // 1. Client secret, push.
    let fx = azure(&s, ClientAuth::Secret(client_secret.into()));
    let mut secrets = vec![("client secret", client_secret)];
    secrets.extend(tokens);
    let name = unique("leaks/acr-secret");
    let c = check(
        acr_plugin(&s, dir.path(), &fx)
            .env("PLUGIN_CLIENT_SECRET", client_secret)
            .env("PLUGIN_REPO", &name)
            .env("PLUGIN_ARTIFACT_FILE", "artifact.json"),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "acr client secret");
    assert_eq!(Registry::tls(&s).tags(&name), Some(vec!["latest".into()]));
    found.run("acr: client secret, push", &c);

    // 2. A wrong client secret: Azure AD refuses it.
    let wrong = "Az+Wrong/Secret~value-9a8b7c";
    let c = check(
        acr_plugin(&s, dir.path(), &fx)
            .env("PLUGIN_CLIENT_SECRET", wrong)
            .env("PLUGIN_REPO", unique("leaks/acr-wrong")),
        &[("wrong client secret", wrong)],
        dir.path(),
    );
    assert_failed(&c, "acr wrong secret");
    found.run("acr: wrong client secret", &c);
    drop(fx);

    // 3. A federated OIDC token, dry run: the image is checked.
    let fx = azure(&s, ClientAuth::Assertion(oidc.into()));
    let mut secrets = vec![("OIDC token", oidc)];
    secrets.extend(tokens);
    let name = unique("leaks/acr-oidc");
    let c = check(
        acr_plugin(&s, dir.path(), &fx)
            .env("PLUGIN_OIDC_TOKEN_ID", oidc)
            .env("PLUGIN_REPO", &name)
            .env("PLUGIN_DRY_RUN", "true"),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "acr oidc");
    assert_eq!(fx.received_by("acr").len(), 1, "no exchange");
    found.run("acr: OIDC token, dry run", &c);
    found.image(
        "acr: OIDC token, image",
        &s,
        &format!("{}/{name}:latest", fx.registry),
        &secrets,
    );
    found.assert_none();
}

// --- gcs --------------------------------------------------------------------------------------

#[test]
fn gcs_leaks_no_secret() {
    let s = require_services!();
    if s.gcs_emulator.is_empty() {
        let msg = "LONGSHORE_GCS_EMULATOR is missing: run tests/scripts/services-up.sh";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipped: {msg}");
        return;
    }
    let mut found = Findings::default();
    let dir = tempfile::tempdir().unwrap();
    // A `.js` file is gzipped through a temporary file: it must be gone after the step too.
    write_files(
        dir.path(),
        &[
            ("up/a.txt", "gcs leak check"),
            ("up/b/app.js", "let x = 1;\n"),
        ],
    );
    let gcs = |target: &str| {
        Plugin::new("gcs", dir.path())
            .env("PLUGIN_ENDPOINT", &s.gcs_emulator)
            .env("PLUGIN_SOURCE", "up")
            .env("PLUGIN_GZIP", "js")
            .env(
                "PLUGIN_TARGET",
                format!("{}/{}/", s.gcs_bucket, unique(target)),
            )
    };

    // 1. A service-account JSON key (base64, as PLUGIN_JSON_KEY): the JWT-bearer grant at the
    //    key's token_uri, then uploads with the access token.
    let key = test_key();
    let oauth = Fixture::start(Role::OAuth {
        public_pem: key.public_pem.clone(),
        email: EMAIL.into(),
    });
    let json = service_account_json(&key, EMAIL, &format!("{}/token", oauth.base));
    let b64 = STANDARD.encode(&json);
    let key_id = "0123456789abcdef0123456789abcdef01234567";
    assert!(json.contains(key_id), "the fixture key changed its id");
    let secrets = [
        ("JSON key", json.as_str()),
        ("JSON key base64", b64.as_str()),
        ("private key", key.private_pem.as_str()),
        ("private key id", key_id),
        ("access token", ACCESS_TOKEN),
    ];
    let c = check(
        gcs("leaks-gcs-key")
            .env("PLUGIN_JSON_KEY", &b64)
            .env("PLUGIN_ARTIFACT_FILE", "artifact.json")
            .env("DRONE_OUTPUT", dir.path().join("out.env")),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "gcs json key");
    let got = oauth.received();
    assert_eq!(got.len(), 1, "{got:?}");
    // The signed assertion is a bearer credential for an hour: never shown either.
    let assertion = got[0].form["assertion"].clone();
    found.add(
        "gcs: JSON key, upload",
        &Needles::new(&[("JWT assertion", &assertion)])
            .find(c.run.output().as_bytes())
            .into_iter()
            .map(|h| format!("output: {h}"))
            .collect::<Vec<_>>(),
    );
    found.run("gcs: JSON key, upload", &c);

    // 2. A key the token endpoint does not know (PLUGIN_TOKEN, raw JSON): refused.
    let wrong = test_key();
    let wrong_json = service_account_json(&wrong, EMAIL, &format!("{}/token", oauth.base));
    let c = check(
        gcs("leaks-gcs-wrong").env("PLUGIN_TOKEN", &wrong_json),
        &[
            ("refused JSON key", wrong_json.as_str()),
            ("refused private key", wrong.private_pem.as_str()),
            ("private key id", key_id),
        ],
        dir.path(),
    );
    assert_failed(&c, "gcs refused key");
    found.run("gcs: JSON key refused by the token endpoint", &c);

    // 3. Workload identity federation: OIDC token → STS → IAM → access token.
    let oidc = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJnY3MtbGVha3MifQ.Z2NzLW9pZGMtbGVhaw";
    let sts = Fixture::start(Role::Sts {
        subject_token: oidc.into(),
        audience: federation("123456789012", "ci-pool", "harness"),
    });
    let iam = Fixture::start(Role::Iam {
        email: EMAIL.into(),
    });
    let federated = |p: Plugin, sts_base: &str| {
        p.env("PLUGIN_OIDC_TOKEN_ID", oidc)
            .env("PLUGIN_PROJECT_NUMBER", "123456789012")
            .env("PLUGIN_POOL_ID", "ci-pool")
            .env("PLUGIN_PROVIDER_ID", "harness")
            .env("PLUGIN_SERVICE_ACCOUNT_EMAIL", EMAIL)
            .env("PLUGIN_STS_ENDPOINT", sts_base)
            .env("PLUGIN_IAM_ENDPOINT", &iam.base)
    };
    let secrets = [
        ("OIDC token", oidc),
        ("federated token", FEDERATED_TOKEN),
        ("access token", ACCESS_TOKEN),
    ];
    let c = check(
        federated(gcs("leaks-gcs-wif"), &sts.base),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "gcs federation");
    assert_eq!(iam.received().len(), 1);
    found.run("gcs: workload identity federation, upload", &c);

    // 4. The same with STS unreachable: the OIDC token must not show in the error.
    let closed = format!("http://{}", longshore_tests::google_fixture::closed_port());
    let c = check(
        federated(gcs("leaks-gcs-down"), &closed),
        &secrets,
        dir.path(),
    );
    assert_failed(&c, "gcs STS unreachable");
    found.run("gcs: workload identity federation, STS unreachable", &c);
    found.assert_none();
}

// --- jfrog ------------------------------------------------------------------------------------

#[test]
fn jfrog_leaks_no_secret() {
    use longshore_tests::artifactory_fixture::{API_KEY, Artifactory, PASSWORD, TOKEN, USER};
    let mut found = Findings::default();
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("dist/a.zip", "jfrog leak a"),
            ("dist/b.txt", "jfrog leak b"),
        ],
    );
    let password_login = login(USER, PASSWORD);
    let token_login = login(USER, TOKEN);
    let secrets = [
        ("Artifactory password", PASSWORD),
        ("Artifactory access token", TOKEN),
        ("Artifactory API key", API_KEY),
        ("Artifactory password login", password_login.as_str()),
        ("Artifactory token login", token_login.as_str()),
    ];
    let jfrog = |url: &str, target: &str| {
        Plugin::new("jfrog", dir.path())
            .env("PLUGIN_URL", url)
            .env("PLUGIN_SOURCE", "dist/*")
            .env("PLUGIN_TARGET", format!("libs/{target}/"))
    };
    let cases: [(&str, &[(&str, &str)]); 4] = [
        (
            "user + password, build info",
            &[
                ("PLUGIN_USERNAME", USER),
                ("PLUGIN_PASSWORD", PASSWORD),
                ("PLUGIN_BUILD_NAME", "leaks"),
                ("PLUGIN_BUILD_NUMBER", "7"),
            ],
        ),
        (
            "user + token as password",
            &[("PLUGIN_USERNAME", USER), ("PLUGIN_PASSWORD", TOKEN)],
        ),
        ("access token", &[("PLUGIN_ACCESS_TOKEN", TOKEN)]),
        ("API key", &[("PLUGIN_API_KEY", API_KEY)]),
    ];
    for (i, (what, vars)) in cases.iter().enumerate() {
        let c = check(
            jfrog(&fx.url(), &format!("ok{i}"))
                .envs(vars.iter().copied())
                .env("PLUGIN_ARTIFACT_FILE", "artifact.json")
                .env("DRONE_OUTPUT", dir.path().join("out.env")),
            &secrets,
            dir.path(),
        );
        assert_succeeded(&c, what);
        assert!(fx.artifact(&format!("libs/ok{i}/dist/a.zip")).is_some());
        found.run(&format!("jfrog: {what}"), &c);
    }

    // Refused: a wrong password, a wrong token (401 from the fixture).
    let wrong = "jfrog-wrong-password-3e8d1a";
    let wrong_login = login(USER, wrong);
    let wrong_token = "jfrog-wrong-token-91c4b7";
    for (what, vars) in [
        (
            "wrong password",
            vec![("PLUGIN_USERNAME", USER), ("PLUGIN_PASSWORD", wrong)],
        ),
        (
            "wrong access token",
            vec![("PLUGIN_ACCESS_TOKEN", wrong_token)],
        ),
    ] {
        let c = check(
            jfrog(&fx.url(), "refused").envs(vars),
            &[
                ("wrong password", wrong),
                ("wrong password login", wrong_login.as_str()),
                ("wrong token", wrong_token),
            ],
            dir.path(),
        );
        assert_failed(&c, what);
        found.run(&format!("jfrog: {what}"), &c);
    }

    // Unreachable server, with the real token.
    let closed = format!(
        "http://{}/artifactory/",
        longshore_tests::google_fixture::closed_port()
    );
    let c = check(
        jfrog(&closed, "down")
            .env("PLUGIN_ACCESS_TOKEN", TOKEN)
            .env("PLUGIN_RETRIES", "1"),
        &secrets,
        dir.path(),
    );
    assert_failed(&c, "jfrog unreachable");
    found.run("jfrog: server unreachable", &c);
    found.assert_none();
}

// --- nexus ------------------------------------------------------------------------------------

#[test]
fn nexus_leaks_no_secret() {
    use longshore_tests::nexus_fixture::{Fixture as Nexus, Options};
    let mut found = Findings::default();
    let password = "Nx+Leak/Password~c0ffee-42";
    let fx = Nexus::start(Options {
        password: password.into(),
        ..Options::nexus3()
    });
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("dist/a.txt", "nexus leak a"),
            ("dist/b.bin", "nexus leak b"),
        ],
    );
    let nexus_login = login("admin", password);
    let secrets = [
        ("Nexus password", password),
        ("Nexus login", nexus_login.as_str()),
    ];
    let nexus = |url: &str, pw: &str| {
        Plugin::new("nexus", dir.path())
            .env("PLUGIN_SERVER_URL", url)
            .env("PLUGIN_USERNAME", "admin")
            .env("PLUGIN_PASSWORD", pw)
    };
    let raw = |p: Plugin| {
        p.env("PLUGIN_REPOSITORY", "raw-hosted")
            .env("PLUGIN_FORMAT", "raw")
            .env("PLUGIN_SOURCE", "dist/**")
            .env("PLUGIN_TARGET", "leaks/1.0")
    };

    // 1. Components API, then a direct PUT (raw).
    let c = check(
        raw(nexus(&fx.base, password)).env("DRONE_OUTPUT", dir.path().join("out.env")),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "nexus raw");
    assert!(
        fx.paths()
            .iter()
            .any(|p| p.starts_with("raw-hosted/leaks/1.0/") && p.ends_with("a.txt")),
        "{:?}",
        fx.paths()
    );
    found.run("nexus: raw upload", &c);
    let c = check(
        raw(nexus(&fx.base, password)).env("PLUGIN_API", "put"),
        &secrets,
        dir.path(),
    );
    assert_succeeded(&c, "nexus raw put");
    found.run("nexus: raw direct PUT", &c);

    // 2. A wrong password (401).
    let wrong = "Nx+Wrong/Password~dead-77";
    let wrong_login = login("admin", wrong);
    let c = check(
        raw(nexus(&fx.base, wrong)),
        &[
            ("wrong password", wrong),
            ("wrong login", wrong_login.as_str()),
        ],
        dir.path(),
    );
    assert_failed(&c, "nexus wrong password");
    found.run("nexus: wrong password", &c);

    // 3. Unreachable server.
    let closed = format!("http://{}", longshore_tests::google_fixture::closed_port());
    let c = check(
        raw(nexus(&closed, password)).env("PLUGIN_RETRIES", "1"),
        &secrets,
        dir.path(),
    );
    assert_failed(&c, "nexus unreachable");
    found.run("nexus: server unreachable", &c);
    found.assert_none();
}
