//! End-to-end tests of `longshore-docker` against the real daemon and registries started by
//! `tests/scripts/services-up.sh`.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use longshore_tests::{
    Plugin, Registry, Services, docker_cli, require_services, unique, write_files,
};

pub(crate) fn dockerfile(s: &Services, body: &str) -> String {
    format!("FROM {}\n{body}", s.base_image)
}

/// A workspace holding only a Dockerfile: `FROM` the base image, then `body`.
pub(crate) fn workspace(s: &Services, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", &dockerfile(s, body))]);
    dir
}

/// A plugin run against the running daemon (no dockerd of our own), no base-image pulls.
pub(crate) fn docker_plugin(s: &Services, dir: &std::path::Path) -> Plugin {
    Plugin::new("docker", dir).envs([
        ("DOCKER_HOST", s.docker_host.as_str()),
        ("PLUGIN_DAEMON_OFF", "true"),
        ("PLUGIN_PULL_IMAGE", "false"),
    ])
}

fn dotenv(path: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).expect("DRONE_OUTPUT written");
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

#[test]
fn builds_pushes_several_tags_and_the_image_runs() {
    let s = require_services!();
    let dir = workspace(
        &s,
        "ARG GREETING\nRUN echo \"$GREETING from RUN\" > /hello.txt\nLABEL team=ship\nCMD [\"/bin/cat\", \"/hello.txt\"]\n",
    );
    let name = unique("e2e/run");
    let repo = format!("{}/{name}", s.registry_plain);
    let out = dir.path().join("out.env");
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &repo)
        .env("PLUGIN_TAGS", "1,1.0,latest")
        .env("PLUGIN_BUILD_ARGS", "GREETING=ahoy")
        .env(
            "PLUGIN_CUSTOM_LABELS",
            "com.example.tier=gold,com.example.owner=qa",
        )
        .env("DRONE_COMMIT_SHA", "0123456789abcdef")
        .env("DRONE_OUTPUT", &out)
        .run();
    run.assert_success();

    let reg = Registry::plain(&s);
    assert_eq!(
        reg.tags(&name),
        Some(vec!["1".into(), "1.0".into(), "latest".into()])
    );
    // Labels (custom, Dockerfile, auto) are in the pushed image's config.
    let cfg = reg.config(&name, "1");
    let labels = &cfg["config"]["Labels"];
    assert_eq!(labels["com.example.tier"], "gold");
    assert_eq!(labels["com.example.owner"], "qa");
    assert_eq!(labels["team"], "ship");
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        "0123456789abcdef"
    );
    assert!(
        labels["org.opencontainers.image.created"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // Purge removed the local tags, so this pull really comes from the registry.
    assert_ne!(
        docker_cli(&s, &["image", "inspect", &format!("{repo}:1.0")]).code,
        0,
        "purge left the tag"
    );
    docker_cli(&s, &["pull", &format!("{repo}:1.0")]).assert_success();
    let ran = docker_cli(&s, &["run", "--rm", &format!("{repo}:1.0")]);
    ran.assert_success();
    assert_eq!(
        ran.stdout.trim(),
        "ahoy from RUN",
        "the build arg reached RUN"
    );
    docker_cli(&s, &["rmi", &format!("{repo}:1.0")]);

    // DRONE_OUTPUT carries the digest the registry reports.
    let vars = dotenv(&out);
    let digest = reg.digest(&name, "1");
    assert_eq!(vars["digest"], digest);
    assert_eq!(vars["image_ref"], format!("{repo}@{digest}"));
    assert_eq!(vars["tags"], "1,1.0,latest");
}

#[test]
fn auth_registry_push_writes_the_artifact_file_with_the_registry_digest() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("Dockerfile", &dockerfile(&s, "RUN echo auth > /f\n"))],
    );
    let name = unique("e2e/auth");
    let repo = format!("{}/{name}", s.registry_tls);
    let artifact = dir.path().join("meta/artifact.json");
    let out = dir.path().join("out.env");
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &repo)
        .env("PLUGIN_TAGS", "v1,stable")
        .env("PLUGIN_REGISTRY", &s.registry_tls)
        .env("PLUGIN_USERNAME", &s.user)
        .env("PLUGIN_PASSWORD", &s.password)
        .env("PLUGIN_ARTIFACT_FILE", &artifact)
        .env("DRONE_OUTPUT", &out)
        .run();
    run.assert_success();
    assert!(
        !run.output().contains(&s.password),
        "password in output:\n{}",
        run.output()
    );

    let reg = Registry::tls(&s);
    assert_eq!(reg.tags(&name), Some(vec!["stable".into(), "v1".into()]));
    let digest = reg.digest(&name, "v1");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&artifact).unwrap()).unwrap();
    assert_eq!(doc["kind"], "docker/v1");
    assert_eq!(doc["data"]["registryType"], "Docker");
    assert_eq!(doc["data"]["registryUrl"], s.registry_tls.as_str());
    let images = doc["data"]["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["image"], format!("{repo}:v1"));
    assert_eq!(images[1]["image"], format!("{repo}:stable"));
    for img in images {
        assert_eq!(img["digest"], digest.as_str());
    }
    assert_eq!(dotenv(&out)["digest"], digest);
}

#[test]
fn auto_tag_for_a_tag_ref_pushes_exactly_the_semver_tags() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", &dockerfile(&s, "RUN true\n"))]);
    let name = unique("e2e/autotag");
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", format!("{}/{name}", s.registry_plain))
        .env("PLUGIN_AUTO_TAG", "true")
        .env("PLUGIN_TAGS", "ignored-by-auto-tag")
        .env("DRONE_COMMIT_REF", "refs/tags/v1.2.3")
        .env("DRONE_REPO_BRANCH", "main")
        .run();
    run.assert_success();
    assert_eq!(
        Registry::plain(&s).tags(&name),
        Some(vec!["1".into(), "1.2".into(), "1.2.3".into()])
    );
}

#[test]
fn auto_tag_on_another_branch_skips_and_pushes_nothing() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", &dockerfile(&s, "RUN true\n"))]);
    let name = unique("e2e/autoskip");
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", format!("{}/{name}", s.registry_plain))
        .env("PLUGIN_AUTO_TAG", "true")
        .env("DRONE_COMMIT_REF", "refs/heads/feature")
        .env("DRONE_REPO_BRANCH", "main")
        .run();
    run.assert_success();
    assert!(
        run.output().contains("skipping the build"),
        "{}",
        run.output()
    );
    assert_eq!(Registry::plain(&s).tags(&name), None);
}

#[test]
fn dry_run_builds_but_pushes_nothing() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("Dockerfile", &dockerfile(&s, "RUN echo dry > /d\n"))],
    );
    let name = unique("e2e/dry");
    let repo = format!("{}/{name}", s.registry_plain);
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &repo)
        .env("PLUGIN_TAGS", "a")
        .env("PLUGIN_DRY_RUN", "true")
        .run();
    run.assert_success();
    assert!(run.output().contains("push: skipped"), "{}", run.output());
    assert_eq!(Registry::plain(&s).tags(&name), None, "dry run pushed");
    // The built image stays in the daemon: it is the product of a dry run.
    docker_cli(&s, &["image", "inspect", &format!("{repo}:a")]).assert_success();
    docker_cli(&s, &["rmi", &format!("{repo}:a")]);
}

#[test]
fn wrong_password_fails_with_an_authentication_error_and_never_shows_it() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", &dockerfile(&s, "RUN true\n"))]);
    let name = unique("e2e/badpw");
    let wrong = "Wr0ng+pass/word?=x";
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", format!("{}/{name}", s.registry_tls))
        .env("PLUGIN_TAGS", "1,2")
        .env("PLUGIN_USERNAME", &s.user)
        .env("PLUGIN_PASSWORD", wrong)
        .run();
    run.assert_failure();
    let out = run.output();
    assert!(out.contains("authentication failed"), "{out}");
    assert!(out.contains("pushed: none; not pushed: 1, 2"), "{out}");
    assert!(!out.contains(wrong), "password leaked:\n{out}");
    assert!(!out.contains("Wr0ng"), "password leaked:\n{out}");
    assert_eq!(Registry::tls(&s).tags(&name), None);
}

#[test]
fn buildkit_secret_is_usable_in_run_but_absent_from_layers_history_and_logs() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let secret = "bk-s3cret-Value-91f2c";
    let file_secret = "file-s3cret-Value-77ab0";
    write_files(
        dir.path(),
        &[
            (
                "Dockerfile",
                &dockerfile(
                    &s,
                    "RUN --mount=type=secret,id=token,required=true /bin/busybox sha256sum /run/secrets/token | /bin/busybox cut -d' ' -f1 > /token.sha\n\
                     RUN --mount=type=secret,id=key,required=true /bin/busybox wc -c < /run/secrets/key > /key.len\n",
                ),
            ),
            ("key.txt", file_secret),
        ],
    );
    let name = unique("e2e/secret");
    let repo = format!("{}/{name}", s.registry_plain);
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &repo)
        .env("PLUGIN_TAGS", "1")
        .env("PLUGIN_DRY_RUN", "true")
        .env("BUILD_TOKEN", secret)
        .env("PLUGIN_SECRETS_FROM_ENV", "token=BUILD_TOKEN")
        .env("PLUGIN_SECRETS_FROM_FILE", "key=key.txt")
        .run();
    run.assert_success();
    assert!(
        !run.output().contains(secret) && !run.output().contains(file_secret),
        "secret in logs:\n{}",
        run.output()
    );

    let image = format!("{repo}:1");
    // Usable: the RUN step saw the secret (its hash and the file's length are in the image).
    let sha = docker_cli(
        &s,
        &[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/cat",
            &image,
            "/token.sha",
        ],
    );
    sha.assert_success();
    use sha2_free::sha256_hex;
    assert_eq!(sha.stdout.trim(), sha256_hex(secret.as_bytes()));
    let len = docker_cli(
        &s,
        &[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/cat",
            &image,
            "/key.len",
        ],
    );
    assert_eq!(len.stdout.trim(), file_secret.len().to_string());
    // Absent: not in the history, not in any byte of the saved image.
    let history = docker_cli(&s, &["history", "--no-trunc", &image]);
    assert!(!history.output().contains(secret), "{}", history.output());
    let tar = dir.path().join("image.tar");
    docker_cli(&s, &["save", "-o", tar.to_str().unwrap(), &image]).assert_success();
    let bytes = std::fs::read(&tar).unwrap();
    for needle in [secret, file_secret] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "secret {needle} in image layers"
        );
    }
    docker_cli(&s, &["rmi", &image]);
}

/// sha256 without a crypto dependency in the test crate: the busybox in the base image computes
/// the expected value the same way the RUN step does.
mod sha2_free {
    pub(crate) fn sha256_hex(data: &[u8]) -> String {
        use std::io::Write as _;
        let mut child = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sha256sum");
        child.stdin.take().unwrap().write_all(data).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }
}

/// A fake `dockerd` that records that it was started, prints a log line, then never answers.
pub(crate) fn fake_dockerd(dir: &std::path::Path, behaviour: &str) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("dockerd");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntouch {}/started\necho 'level=error msg=\"fake dockerd: storage driver exploded\"'\n{behaviour}\n", dir.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn missing_repo_fails_before_any_daemon_start() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_dockerd(dir.path(), "sleep 30");
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let run = Plugin::new("docker", dir.path())
        .path_prepend(&bin)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/none.sock", dir.path().display()),
        )
        .env("PLUGIN_TAGS", "1")
        .run();
    run.assert_failure();
    assert!(
        run.stderr.contains("PLUGIN_REPO is required"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("started").exists(), "dockerd was started");
}

#[test]
fn a_daemon_that_never_answers_fails_fast_with_its_log_tail() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_dockerd(dir.path(), "sleep 60");
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let started = Instant::now();
    let run = Plugin::new("docker", dir.path())
        .path_prepend(&bin)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/none.sock", dir.path().display()),
        )
        .env("PLUGIN_REPO", "127.0.0.1:5000/never/up")
        .env("PLUGIN_DAEMON_RETRY_COUNT", "2")
        .run();
    run.assert_failure();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        dir.path().join("started").exists(),
        "dockerd was not started"
    );
    assert!(run.stderr.contains("did not answer"), "{}", run.stderr);
    assert!(
        run.stderr.contains("storage driver exploded"),
        "no log tail:\n{}",
        run.stderr
    );
}

#[test]
fn a_daemon_that_exits_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_dockerd(dir.path(), "exit 3");
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let started = Instant::now();
    let run = Plugin::new("docker", dir.path())
        .path_prepend(&bin)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/none.sock", dir.path().display()),
        )
        .env("PLUGIN_REPO", "127.0.0.1:5000/never/up")
        .env("PLUGIN_DAEMON_RETRY_COUNT", "30")
        .run();
    run.assert_failure();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited for the timeout: {:?}",
        started.elapsed()
    );
    assert!(run.stderr.contains("exited"), "{}", run.stderr);
    assert!(
        run.stderr.contains("storage driver exploded"),
        "{}",
        run.stderr
    );
}

#[test]
fn push_only_pushes_a_local_image_under_new_tags() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let local = format!("longshore-e2e/{}:src", unique("pushonly"));
    docker_cli(&s, &["tag", &s.base_image, &local]).assert_success();
    let name = unique("e2e/pushonly");
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", format!("{}/{name}", s.registry_plain))
        .env("PLUGIN_PUSH_ONLY", "true")
        .env("PLUGIN_SOURCE_IMAGE", &local)
        .env("PLUGIN_TAGS", "x,y")
        .run();
    run.assert_success();
    assert_eq!(
        Registry::plain(&s).tags(&name),
        Some(vec!["x".into(), "y".into()])
    );
    docker_cli(&s, &["rmi", &local]);
}

#[test]
fn tags_file_and_tar_path() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("Dockerfile", &dockerfile(&s, "RUN true\n")),
            (".tags", "t1, t2\n"),
        ],
    );
    let name = unique("e2e/tagsfile");
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", format!("{}/{name}", s.registry_plain))
        .env("PLUGIN_TAR_PATH", "out/image.tar")
        .run();
    run.assert_success();
    assert_eq!(
        Registry::plain(&s).tags(&name),
        Some(vec!["t1".into(), "t2".into()])
    );
    let tar = std::fs::read(dir.path().join("out/image.tar")).unwrap();
    assert!(
        tar.windows(13).any(|w| w == b"manifest.json"),
        "not a docker save tarball"
    );
}

#[test]
fn bad_boolean_is_refused_with_the_variable_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = Plugin::new("docker", dir.path())
        .env("PLUGIN_REPO", "127.0.0.1:5000/x/y")
        .env("PLUGIN_DRY_RUN", "yes")
        .run();
    run.assert_failure();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains("PLUGIN_DRY_RUN: 'yes' is not a boolean"),
        "{}",
        run.stderr
    );
}

#[test]
fn ssh_agent_key_is_forwarded_to_run_and_left_nowhere() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let keyfile = dir.path().join("key");
    let keygen = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "longshore-test",
            "-f",
        ])
        .arg(&keyfile)
        .status()
        .expect("ssh-keygen (openssh-client)");
    assert!(keygen.success());
    let key = std::fs::read_to_string(&keyfile).unwrap();
    std::fs::remove_file(&keyfile).unwrap();
    let key_line = key.lines().nth(1).unwrap().to_string();
    write_files(
        dir.path(),
        &[(
            "Dockerfile",
            &dockerfile(
                &s,
                "RUN --mount=type=ssh /bin/busybox test -S \"$SSH_AUTH_SOCK\" && echo forwarded > /ssh.txt\n",
            ),
        )],
    );
    let name = unique("e2e/ssh");
    let repo = format!("{}/{name}", s.registry_plain);
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &repo)
        .env("PLUGIN_TAGS", "1")
        .env("PLUGIN_DRY_RUN", "true")
        .env("PLUGIN_SSH_AGENT_KEY", &key)
        .run();
    run.assert_success();
    assert!(
        !run.output().contains(&key_line),
        "key in output:\n{}",
        run.output()
    );
    let image = format!("{repo}:1");
    let out = docker_cli(
        &s,
        &[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/cat",
            &image,
            "/ssh.txt",
        ],
    );
    assert_eq!(out.stdout.trim(), "forwarded", "{}", out.output());
    let tar = dir.path().join("image.tar");
    docker_cli(&s, &["save", "-o", tar.to_str().unwrap(), &image]).assert_success();
    let bytes = std::fs::read(&tar).unwrap();
    assert!(
        !bytes
            .windows(key_line.len())
            .any(|w| w == key_line.as_bytes()),
        "key in image"
    );
    assert!(!std::path::Path::new(&format!("{}/.ssh/id_rsa", dir.path().display())).exists());
    docker_cli(&s, &["rmi", &image]);
}

#[test]
fn config_json_credentials_push_to_the_auth_registry() {
    use base64::Engine as _;
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", &dockerfile(&s, "RUN true\n"))]);
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", s.user, s.password));
    let config = format!(
        r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
        s.registry_tls
    );
    let name = unique("e2e/config");
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", format!("{}/{name}", s.registry_tls))
        .env("PLUGIN_TAGS", "c")
        .env("PLUGIN_CONFIG", &config)
        .run();
    run.assert_success();
    assert!(run.output().contains("PLUGIN_CONFIG"), "{}", run.output());
    assert!(!run.output().contains(&auth) && !run.output().contains(&s.password));
    assert_eq!(Registry::tls(&s).tags(&name), Some(vec!["c".into()]));
    assert!(
        !std::path::Path::new("/root/.docker/config.json").exists() || {
            let text = std::fs::read_to_string("/root/.docker/config.json").unwrap_or_default();
            !text.contains(&auth)
        }
    );
}

#[test]
fn build_options_target_quiet_compress_add_host_no_cache_and_card() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "docker/app.Dockerfile",
                &format!(
                    "FROM {} AS base\nRUN /bin/busybox grep -q 'api.internal' /etc/hosts && echo base > /stage\nFROM base AS final\nRUN echo final > /stage\n",
                    s.base_image
                ),
            ),
            ("ctx/data.txt", "context file"),
            ("ctx/.dockerignore", "*.tmp\n"),
            ("ctx/junk.tmp", "ignored"),
        ],
    );
    let name = unique("e2e/options");
    let repo = format!("{}/{name}", s.registry_plain);
    let card = dir.path().join("card.json");
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &repo)
        .env("PLUGIN_TAGS", "opt")
        .env("PLUGIN_DOCKERFILE", "docker/app.Dockerfile")
        .env("PLUGIN_CONTEXT", "ctx")
        .env("PLUGIN_TARGET", "base")
        .env("PLUGIN_QUIET", "true")
        .env("PLUGIN_COMPRESS", "true")
        .env("PLUGIN_NO_CACHE", "true")
        .env("PLUGIN_ADD_HOST", "api.internal:10.1.2.3")
        .env("PLUGIN_LABEL_SCHEMA", "vendor=longshore")
        .env("DRONE_CARD_PATH", &card)
        .run();
    run.assert_success();
    // Neither the legacy builder's `Step 1/…` nor BuildKit's `#N [base 2/2] RUN …` lines.
    assert!(
        !run.output().contains("Step 1/") && !run.output().contains("RUN /bin/busybox grep"),
        "quiet build printed its steps:\n{}",
        run.output()
    );
    let reg = Registry::plain(&s);
    let cfg = reg.config(&name, "opt");
    assert_eq!(
        cfg["config"]["Labels"]["org.opencontainers.image.vendor"],
        "longshore"
    );
    docker_cli(&s, &["pull", &format!("{repo}:opt")]).assert_success();
    let stage = docker_cli(
        &s,
        &[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/cat",
            &format!("{repo}:opt"),
            "/stage",
        ],
    );
    assert_eq!(
        stage.stdout.trim(),
        "base",
        "target stage not honoured: {}",
        stage.output()
    );
    docker_cli(&s, &["rmi", &format!("{repo}:opt")]);
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card).unwrap()).unwrap();
    assert_eq!(
        card["schema"],
        "https://drone-plugins.github.io/drone-docker/card.json"
    );
    assert!(card["data"]["Id"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(card["data"]["ParsedRepoTags"][0]["Tag"], "opt");
}

#[test]
fn daemon_settings_become_dockerd_flags() {
    let dir = tempfile::tempdir().unwrap();
    // The fake records its arguments, one per line, then exits: we only check the mapping.
    let bin = fake_dockerd(
        dir.path(),
        &format!(
            "for a in \"$@\"; do echo \"$a\"; done > {}/args; exit 1",
            dir.path().display()
        ),
    );
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let run = Plugin::new("docker", dir.path())
        .path_prepend(&bin)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/d.sock", dir.path().display()),
        )
        .env("PLUGIN_REPO", "r.example:5000/a/b")
        .env("PLUGIN_REGISTRY", "r.example:5000")
        .env("PLUGIN_INSECURE", "true")
        .env("PLUGIN_INSECURE_REGISTRIES", "10.0.0.1:5000,reg.local")
        .env("PLUGIN_MIRROR", "https://m1.example,https://m2.example")
        .env("PLUGIN_STORAGE_DRIVER", "vfs")
        .env("PLUGIN_STORAGE_PATH", "/tmp/longshore-test-data")
        .env("PLUGIN_BIP", "172.31.0.1/16")
        .env("PLUGIN_MTU", "1400")
        .env("PLUGIN_CUSTOM_DNS", "1.1.1.1, 8.8.8.8")
        .env("PLUGIN_CUSTOM_DNS_SEARCH", "corp.example")
        .env("PLUGIN_IPV6", "true")
        .env("PLUGIN_EXPERIMENTAL", "true")
        .run();
    run.assert_failure();
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    let args: Vec<&str> = args.lines().collect();
    for want in [
        "--data-root=/tmp/longshore-test-data",
        &format!("--host=unix://{}/d.sock", dir.path().display()),
        "--storage-driver=vfs",
        "--insecure-registry=r.example:5000",
        "--insecure-registry=10.0.0.1:5000",
        "--insecure-registry=reg.local",
        "--registry-mirror=https://m1.example",
        "--registry-mirror=https://m2.example",
        "--bip=172.31.0.1/16",
        "--mtu=1400",
        "--dns=1.1.1.1",
        "--dns=8.8.8.8",
        "--dns-search=corp.example",
        "--ipv6",
        "--experimental",
    ] {
        assert!(args.contains(&want), "missing {want} in {args:?}");
    }
}

#[test]
fn invalid_settings_are_refused_before_any_daemon_start() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_dockerd(dir.path(), "sleep 30");
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("PLUGIN_REPO", "Bad/Repo")], "PLUGIN_REPO: 'Bad/Repo'"),
        (&[("PLUGIN_REPO", "a/b:1")], "must not contain a tag"),
        (
            &[("PLUGIN_REPO", "a/b"), ("PLUGIN_TAGS", "ok,-bad")],
            "PLUGIN_TAGS: '-bad' is not a valid tag",
        ),
        (
            &[
                ("PLUGIN_REPO", "a/b"),
                ("PLUGIN_PUSH_ONLY", "true"),
                ("PLUGIN_DRY_RUN", "true"),
            ],
            "cannot be used together",
        ),
        (
            &[
                ("PLUGIN_REPO", "a/b"),
                ("PLUGIN_DOCKERFILE", "nope/Dockerfile"),
            ],
            "PLUGIN_DOCKERFILE: cannot read",
        ),
        (
            &[("PLUGIN_REPO", "a/b"), ("PLUGIN_CONTEXT", "missing")],
            "PLUGIN_CONTEXT:",
        ),
        (
            &[("PLUGIN_REPO", "a/b"), ("PLUGIN_DAEMON_RETRY_COUNT", "ten")],
            "PLUGIN_DAEMON_RETRY_COUNT: 'ten' is not a whole number",
        ),
        (
            &[("PLUGIN_REPO", "a/b"), ("PLUGIN_BUILD_ARGS", "[\"A=1\",")],
            "PLUGIN_BUILD_ARGS: looks like a JSON array",
        ),
        (
            &[("PLUGIN_REPO", "a/b"), ("PLUGIN_CONFIG", "{not json")],
            "PLUGIN_CONFIG: not valid JSON",
        ),
        (
            &[
                ("PLUGIN_REPO", "a/b"),
                ("PLUGIN_SECRETS_FROM_FILE", "k=/nonexistent/secret"),
            ],
            "PLUGIN_SECRETS_FROM_FILE: cannot read /nonexistent/secret",
        ),
        (
            &[
                ("PLUGIN_REPO", "a/b"),
                ("PLUGIN_SECRETS_FROM_ENV", "k=NOT_SET_ANYWHERE"),
            ],
            "PLUGIN_SECRETS_FROM_ENV: NOT_SET_ANYWHERE is not set",
        ),
        (
            &[
                ("PLUGIN_REPO", "a/b"),
                ("PLUGIN_PASSWORD", "pw-without-user"),
            ],
            "PLUGIN_USERNAME is required",
        ),
        (
            &[("PLUGIN_REPO", "a/b"), ("PLUGIN_MTU", "big")],
            "PLUGIN_MTU: 'big'",
        ),
        (
            &[("PLUGIN_REPO", "a/b"), ("PLUGIN_CUSTOM_DNS", "not-an-ip")],
            "PLUGIN_CUSTOM_DNS:",
        ),
        (
            &[
                ("PLUGIN_REPO", "a/b"),
                ("PLUGIN_PLATFORM", "linux/amd64/v8/extra"),
            ],
            "PLUGIN_PLATFORM:",
        ),
        (
            &[("PLUGIN_REPO", "a/b"), ("PLUGIN_ADD_HOST", "nohost")],
            "PLUGIN_ADD_HOST:",
        ),
        (
            &[("PLUGIN_REPO", "a/b"), ("PLUGIN_COSIGN_PRIVATE_KEY", "k")],
            "PLUGIN_COSIGN_PRIVATE_KEY: cosign signing is not supported",
        ),
        (
            &[
                ("PLUGIN_REPO", "a/b"),
                ("PLUGIN_ENV_FILE", "/nonexistent.env"),
            ],
            "PLUGIN_ENV_FILE: cannot read",
        ),
        (
            &[("PLUGIN_REPO", "a/b"), ("DOCKER_HOST", "ftp://x")],
            "DOCKER_HOST:",
        ),
    ];
    for (vars, want) in cases {
        let mut p = Plugin::new("docker", dir.path()).path_prepend(&bin);
        if !vars.iter().any(|(k, _)| *k == "DOCKER_HOST") {
            p = p.env(
                "DOCKER_HOST",
                format!("unix://{}/none.sock", dir.path().display()),
            );
        }
        let run = p.envs(vars.iter().copied()).run();
        run.assert_refused(want, &format!("{vars:?}"));
        assert!(
            !dir.path().join("started").exists(),
            "{vars:?}: dockerd was started"
        );
    }
}

#[test]
fn a_secret_echoed_by_the_build_is_masked_in_our_log() {
    let s = require_services!();
    // A user passing the registry password as a build argument, and a RUN step printing it.
    let dir = workspace(&s, "ARG TOKEN\nRUN echo \"token is $TOKEN\"\n");
    let name = unique("e2e/mask");
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", format!("{}/{name}", s.registry_tls))
        .env("PLUGIN_TAGS", "m")
        .env("PLUGIN_USERNAME", &s.user)
        .env("PLUGIN_PASSWORD", &s.password)
        .env("PLUGIN_BUILD_ARGS", format!("TOKEN={}", s.password))
        .env("PLUGIN_NO_CACHE", "true")
        .run();
    run.assert_success();
    let out = run.output();
    assert!(
        out.contains("token is ******"),
        "build output not relayed or not masked:\n{out}"
    );
    assert!(!out.contains(&s.password), "password leaked:\n{out}");
}

#[test]
fn push_only_from_a_tarball_without_a_daemon_skips_blobs_the_second_time() {
    let s = require_services!();
    // A real image with two layers, saved by the daemon as a user's earlier step would.
    let dir = workspace(
        &s,
        "RUN echo from-tarball > /t.txt\nCMD [\"/bin/cat\", \"/t.txt\"]\n",
    );
    let local = format!("longshore-e2e/{}", unique("tarball"));
    let build = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &local)
        .env("PLUGIN_TAGS", "src")
        .env("PLUGIN_DRY_RUN", "true")
        .run();
    build.assert_success();
    let tar = dir.path().join("image.tar");
    docker_cli(
        &s,
        &["save", "-o", tar.to_str().unwrap(), &format!("{local}:src")],
    )
    .assert_success();
    docker_cli(&s, &["rmi", &format!("{local}:src")]);

    // No daemon at all: DOCKER_HOST points nowhere and dockerd is not started.
    let name = unique("e2e/tarpush");
    let repo = format!("{}/{name}", s.registry_tls);
    let artifact = dir.path().join("artifact.json");
    let push = |tags: &str| {
        Plugin::new("docker", dir.path())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("PLUGIN_DAEMON_OFF", "true")
            .env("PLUGIN_REPO", &repo)
            .env("PLUGIN_TAGS", tags)
            .env("PLUGIN_PUSH_ONLY", "true")
            .env("PLUGIN_SOURCE_TAR_PATH", "image.tar")
            .env("PLUGIN_USERNAME", &s.user)
            .env("PLUGIN_PASSWORD", &s.password)
            .env("PLUGIN_ARTIFACT_FILE", &artifact)
            .run()
    };
    let first = push("1,latest");
    first.assert_success();
    assert!(
        first.output().contains("blobs: 3 uploaded"),
        "{}",
        first.output()
    );
    assert!(!first.output().contains(&s.password));
    let reg = Registry::tls(&s);
    assert_eq!(reg.tags(&name), Some(vec!["1".into(), "latest".into()]));
    let digest = reg.digest(&name, "1");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&artifact).unwrap()).unwrap();
    assert_eq!(doc["data"]["images"][0]["digest"], digest.as_str());

    let second = push("2");
    second.assert_success();
    assert!(
        second
            .output()
            .contains("blobs: 0 uploaded (0.0 MiB), 3 already present"),
        "{}",
        second.output()
    );
    assert_eq!(
        reg.digest(&name, "2"),
        digest,
        "the same tarball gives the same manifest"
    );

    // The pushed image is a real one: the daemon pulls it from the plain registry and runs it.
    let plain = format!("{}/{name}", s.registry_plain);
    Plugin::new("docker", dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_REPO", &plain)
        .env("PLUGIN_TAGS", "run")
        .env("PLUGIN_PUSH_ONLY", "true")
        .env("PLUGIN_SOURCE_TAR_PATH", "image.tar")
        .run()
        .assert_success();
    docker_cli(&s, &["pull", &format!("{plain}:run")]).assert_success();
    let ran = docker_cli(&s, &["run", "--rm", &format!("{plain}:run")]);
    assert_eq!(ran.stdout.trim(), "from-tarball", "{}", ran.output());
    docker_cli(&s, &["rmi", &format!("{plain}:run")]);
}

#[test]
fn base_image_credentials_let_the_build_pull_from_an_authenticated_registry() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    // Put a base image into the authenticated registry (daemonless push of the local base).
    let tar = dir.path().join("base.tar");
    docker_cli(&s, &["save", "-o", tar.to_str().unwrap(), &s.base_image]).assert_success();
    let base = format!("{}/{}", s.registry_tls, unique("e2e/privbase"));
    Plugin::new("docker", dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_REPO", &base)
        .env("PLUGIN_TAGS", "1")
        .env("PLUGIN_PUSH_ONLY", "true")
        .env("PLUGIN_SOURCE_TAR_PATH", "base.tar")
        .env("PLUGIN_USERNAME", &s.user)
        .env("PLUGIN_PASSWORD", &s.password)
        .run()
        .assert_success();
    write_files(
        dir.path(),
        &[(
            "Dockerfile",
            &format!("FROM {base}:1\nRUN echo private-base > /p\n"),
        )],
    );
    let name = unique("e2e/fromprivate");
    let build = |with_creds: bool| {
        // The legacy builder: Docker 20.10's BuildKit reaches a registry the daemon counts as
        // insecure (all of 127.0.0.0/8, where this TLS registry listens) over plain HTTP only.
        let mut p = Plugin::new("docker", dir.path())
            .env("DOCKER_HOST", &s.docker_host)
            .env("DOCKER_BUILDKIT", "0")
            .env("PLUGIN_DAEMON_OFF", "true")
            .env("PLUGIN_PULL_IMAGE", "true")
            .env("PLUGIN_REPO", format!("{}/{name}", s.registry_plain))
            .env("PLUGIN_TAGS", "1");
        if with_creds {
            p = p
                .env("PLUGIN_BASE_IMAGE_REGISTRY", &s.registry_tls)
                .env("PLUGIN_BASE_IMAGE_USERNAME", &s.user)
                .env("PLUGIN_BASE_IMAGE_PASSWORD", &s.password);
        }
        p.run()
    };
    // `pull` makes the daemon contact the registry even when the image is local.
    let anonymous = build(false);
    anonymous.assert_failure();
    let ok = build(true);
    ok.assert_success();
    assert!(!ok.output().contains(&s.password));
    assert_eq!(Registry::plain(&s).tags(&name), Some(vec!["1".into()]));
    docker_cli(&s, &["rmi", &format!("{base}:1")]);
}
