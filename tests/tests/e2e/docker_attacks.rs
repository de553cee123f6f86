//! Issue #20's attacks on the image side, each reproduced against the release binary and then
//! refused: a `.tags` link to the environment, a `.dockerignore` that fails open, the Dockerfile
//! leaking into `COPY .`, a registry that sends the upload (and the password) elsewhere or
//! answers with an enormous body, a login for one registry sent to another, credentials in URLs,
//! secrets in children's environments, and a cancel that leaves secrets or tags behind.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use longshore_tests::hostile_registry::{Attack, HostileRegistry};
use longshore_tests::{Plugin, Services, docker_cli, require_services, unique, write_files};

/// Values that stand for the secrets a CI step's environment holds.
const NETRC: &str = "netrc-pw-6c1e9a";
const AWS_SECRET: &str = "aws-secret-0f7d3b";

/// No daemon anywhere: a run that got as far as starting one would fail differently.
fn no_daemon(dir: &std::path::Path) -> Plugin {
    Plugin::new("docker", dir)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PLUGIN_DAEMON_OFF", "true")
}

fn executable(path: &std::path::Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_tags_file_linked_to_the_environment_is_refused_and_prints_none_of_it() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    std::os::unix::fs::symlink("/proc/self/environ", dir.path().join(".tags")).unwrap();
    let run = no_daemon(dir.path())
        .env("PLUGIN_REPO", "127.0.0.1:5000/attack/tags")
        .env("DRONE_NETRC_PASSWORD", NETRC)
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .run();
    run.assert_refused(".tags: cannot be read: is a symbolic link", "tags link");
    for secret in [NETRC, AWS_SECRET] {
        assert!(!run.output().contains(secret), "{}", run.output());
    }
    // A file of junk: only the start of the bad tag is echoed.
    std::fs::remove_file(dir.path().join(".tags")).unwrap();
    std::fs::write(
        dir.path().join(".tags"),
        format!("ok,{}{NETRC}", "#".repeat(200)),
    )
    .unwrap();
    let run = no_daemon(dir.path())
        .env("PLUGIN_REPO", "127.0.0.1:5000/attack/tags")
        .run();
    run.assert_refused("is not a valid tag", "junk tags");
    assert!(!run.output().contains(NETRC), "{}", run.output());
}

#[test]
fn a_registry_login_is_never_sent_to_the_repository_host_of_another_registry() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let run = no_daemon(dir.path())
        .env("PLUGIN_REPO", "myorg/app")
        .env("PLUGIN_REGISTRY", "registry.corp.example")
        .env("PLUGIN_USERNAME", "corpuser")
        .env("PLUGIN_PASSWORD", "corp-password-77")
        .env("PLUGIN_DRY_RUN", "true")
        .run();
    run.assert_refused(
        "PLUGIN_REPO: pushes to docker.io but the login is for PLUGIN_REGISTRY registry.corp.example",
        "login host",
    );
    // The same registry named in the repository is fine: the run gets as far as the daemon.
    let run = no_daemon(dir.path())
        .env("PLUGIN_REPO", "registry.corp.example/myorg/app")
        .env("PLUGIN_REGISTRY", "registry.corp.example")
        .env("PLUGIN_USERNAME", "corpuser")
        .env("PLUGIN_PASSWORD", "corp-password-77")
        .run();
    assert!(!run.output().contains("login is for"), "{}", run.output());
}

#[test]
fn credentials_in_urls_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let run = Plugin::new("docker", dir.path())
        .env("DOCKER_HOST", "tcp://daemonuser:daemon-pw-5521@127.0.0.1:1")
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_REPO", "127.0.0.1:5000/attack/url")
        .env(
            "DRONE_REMOTE_URL",
            "https://x-token:clone-token-8812@git.example/r.git",
        )
        .env("PLUGIN_DEBUG", "true")
        .run();
    run.assert_failure();
    for secret in ["daemon-pw-5521", "clone-token-8812"] {
        assert!(!run.output().contains(secret), "{}", run.output());
    }
}

#[test]
fn children_start_without_the_step_settings() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let d = dir.path().display();
    executable(
        &bin.join("dockerd"),
        &format!("#!/bin/sh\nenv > {d}/dockerd.env\nexit 3\n"),
    );
    executable(
        &bin.join("ssh-agent"),
        &format!("#!/bin/sh\nenv > {d}/agent.env\nexec /usr/bin/ssh-agent \"$@\"\n"),
    );
    executable(
        &bin.join("ssh-add"),
        &format!("#!/bin/sh\nenv > {d}/add.env\nexec /usr/bin/ssh-add \"$@\"\n"),
    );
    let keyfile = dir.path().join("key");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "attack", "-f"])
        .arg(&keyfile)
        .status()
        .expect("ssh-keygen (openssh-client)");
    assert!(keygen.success());
    let key = std::fs::read_to_string(&keyfile).unwrap();
    let key_line = key.lines().nth(1).unwrap().to_string();
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let run = Plugin::new("docker", dir.path())
        .path_prepend(&bin)
        .env("DOCKER_HOST", format!("unix://{d}/none.sock"))
        .env("PLUGIN_REPO", "127.0.0.1:5000/attack/children")
        .env("PLUGIN_USERNAME", "u")
        .env("PLUGIN_PASSWORD", "child-password-31")
        .env(
            "PLUGIN_CONFIG",
            r#"{"auths":{"x":{"auth":"Y2ZndXNlcjpjaGlsZC1jb25maWctNDQ="}}}"#,
        )
        .env("PLUGIN_SSH_AGENT_KEY", &key)
        .env("HTTPS_PROXY", "http://127.0.0.1:3128")
        .run();
    run.assert_failure();
    let mut read = 0;
    for name in ["dockerd.env", "agent.env", "add.env"] {
        let Ok(env) = std::fs::read_to_string(dir.path().join(name)) else {
            continue;
        };
        read += 1;
        for secret in [
            "child-password-31",
            "Y2ZndXNlcjpjaGlsZC1jb25maWctNDQ=",
            key_line.as_str(),
            "PLUGIN_",
        ] {
            assert!(!env.contains(secret), "{name} has {secret}:\n{env}");
        }
        assert!(
            env.contains("HTTPS_PROXY=http://127.0.0.1:3128"),
            "{name}: proxy kept"
        );
    }
    assert_eq!(
        read,
        3,
        "dockerd, ssh-agent and ssh-add all ran: {}",
        run.output()
    );
}

fn save_base(s: &Services, dir: &std::path::Path) {
    let tar = dir.join("base.tar");
    docker_cli(s, &["save", "-o", tar.to_str().unwrap(), &s.base_image]).assert_success();
}

#[test]
fn an_upload_sent_to_another_host_gets_no_credentials() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    save_base(&s, dir.path());
    let reg = HostileRegistry::start(Attack::ForeignLocation);
    let run = no_daemon(dir.path())
        .env("PLUGIN_REPO", format!("{}/attack/location", reg.addr))
        .env("PLUGIN_REGISTRY", &reg.addr)
        .env("PLUGIN_USERNAME", "u")
        .env("PLUGIN_PASSWORD", "location-password-9")
        .env("PLUGIN_PUSH_ONLY", "true")
        .env("PLUGIN_SOURCE_TAR_PATH", "base.tar")
        .run();
    run.assert_failure();
    let foreign = reg.accomplice_seen.lock().unwrap().clone();
    assert!(
        !foreign.is_empty(),
        "the upload never went to the other host"
    );
    assert!(foreign.iter().all(|r| !r.authorized), "{foreign:?}");
    assert!(!run.output().contains("location-password-9"));
}

#[test]
fn an_enormous_error_body_is_read_only_in_part_and_printed_short() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    save_base(&s, dir.path());
    let reg = HostileRegistry::start(Attack::HugeError(300 << 20));
    let started = Instant::now();
    let run = no_daemon(dir.path())
        .env("PLUGIN_REPO", format!("{}/attack/body", reg.addr))
        .env("PLUGIN_PUSH_ONLY", "true")
        .env("PLUGIN_SOURCE_TAR_PATH", "base.tar")
        .run();
    run.assert_failure();
    assert!(run.stderr.contains("400"), "{}", run.stderr);
    assert!(
        run.output().len() < 8 * 1024,
        "{} bytes of output",
        run.output().len()
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn dockerignore_that_starts_with_a_bom_and_a_private_dockerfile_stay_out_of_copy() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join(".dockerignore"),
        b"\xef\xbb\xbf.env\n\xff\nbuild.Dockerfile\n",
    )
    .unwrap();
    std::fs::write(ctx.join(".env"), "SECRET=dotenv-value").unwrap();
    std::fs::write(ctx.join("app.txt"), "app").unwrap();
    std::fs::write(
        ctx.join("build.Dockerfile"),
        format!("FROM {}\nCOPY . /ctx/\n", s.base_image),
    )
    .unwrap();
    let name = unique("attack/ignore");
    let repo = format!("{}/{name}", s.registry_plain);
    let run = Plugin::new("docker", dir.path())
        .env("DOCKER_HOST", s.docker_host.as_str())
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_PULL_IMAGE", "false")
        .env("PLUGIN_CONTEXT", "ctx")
        .env("PLUGIN_DOCKERFILE", "ctx/build.Dockerfile")
        .env("PLUGIN_REPO", &repo)
        .env("PLUGIN_TAGS", "1")
        .env("PLUGIN_DRY_RUN", "true")
        .run();
    run.assert_success();
    let image = format!("{repo}:1");
    let ls = docker_cli(&s, &["run", "--rm", &image, "ls", "-a", "/ctx"]);
    ls.assert_success();
    let listed: Vec<&str> = ls.stdout.split_whitespace().collect();
    assert!(listed.contains(&"app.txt"), "{listed:?}");
    for absent in [".env", "build.Dockerfile", ".dockerignore"] {
        assert!(
            !listed.contains(&absent),
            "{absent} in the image: {listed:?}"
        );
    }
    assert!(
        !listed
            .iter()
            .any(|n| n.starts_with(".longshore-dockerfile")),
        "{listed:?}"
    );
    docker_cli(&s, &["rmi", &image]);
}

/// A registry that accepts connections and never answers: a push to it hangs until cancelled.
fn silent_registry() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    addr
}

#[test]
fn sigterm_removes_secrets_and_the_temporary_tag_and_exits_143() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let unique_label = unique("cancel");
    write_files(
        dir.path(),
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nLABEL test.cancel={unique_label}\nRUN --mount=type=secret,id=token test -s /run/secrets/token\n",
                s.base_image
            ),
        )],
    );
    let registry = silent_registry();
    let child = Plugin::new("docker", dir.path())
        .env("DOCKER_HOST", s.docker_host.as_str())
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_PULL_IMAGE", "false")
        .env("TMPDIR", &tmp)
        .env("BUILD_TOKEN", "cancel-token-4411")
        .env("PLUGIN_SECRETS_FROM_ENV", "token=BUILD_TOKEN")
        .env("PLUGIN_REPO", format!("{registry}/attack/cancel"))
        .env("PLUGIN_TAGS", "1")
        .spawn();
    let pid = child.id();
    // Wait until the build is done and the push hangs on the silent registry.
    let deadline = Instant::now() + Duration::from_secs(60);
    let built = || {
        let out = docker_cli(
            &s,
            &[
                "images",
                "-q",
                "--filter",
                &format!("label=test.cancel={unique_label}"),
            ],
        );
        !out.stdout.trim().is_empty()
    };
    while !built() {
        assert!(Instant::now() < deadline, "the build never finished");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(143), "{text}");
    assert!(text.contains("cancelled by SIGTERM"), "{text}");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
    let tags = docker_cli(
        &s,
        &[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            &format!("label=test.cancel={unique_label}"),
        ],
    );
    assert!(
        !tags.stdout.contains("longshore-build-"),
        "temporary tag left: {}",
        tags.stdout
    );
    for t in tags.stdout.lines() {
        docker_cli(&s, &["rmi", t.trim()]);
    }
}
