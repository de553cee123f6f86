//! End-to-end tests of the tags users ask for (issue #22): `auto_tag` together with the user's
//! tags, the metadata-action tag rules, and the OCI labels, against the shared daemon and the
//! plain registry; and the refusal of a bad rule before any daemon starts.

use longshore_tests::{Plugin, Registry, docker_cli, require_services, unique, write_files};

use super::docker::{docker_plugin, fake_dockerd, workspace};

#[test]
fn auto_tags_and_the_users_tags_on_a_tag_ref_push_both_sets() {
    let s = require_services!();
    let dir = workspace(&s, "RUN true\n");
    let name = unique("e2e/autowith");
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", format!("{}/{name}", s.registry_plain))
        .env("PLUGIN_AUTO_TAG", "true")
        .env("PLUGIN_AUTO_TAG_WITH_TAGS", "true")
        .env("PLUGIN_TAGS", "stable,1.2")
        .env("DRONE_COMMIT_REF", "refs/tags/v1.2.3")
        .env("DRONE_REPO_BRANCH", "main")
        .run();
    run.assert_success();
    assert!(
        run.output().contains(":stable (PLUGIN_TAGS)") && run.output().contains(":1.2 (auto_tag)"),
        "the plan names where each tag came from:\n{}",
        run.output()
    );
    assert_eq!(
        Registry::plain(&s).tags(&name),
        Some(vec![
            "1".into(),
            "1.2".into(),
            "1.2.3".into(),
            "stable".into()
        ])
    );
}

/// A branch build with rules pushes the branch and commit tags; with either builder the OCI
/// labels (computed, and from PLUGIN_ANNOTATIONS) are in the pushed image's config.
fn branch_build_with_rules(buildkit: bool) {
    let s = require_services!();
    let dir = workspace(&s, "RUN true\n");
    let name = unique(if buildkit {
        "e2e/rules"
    } else {
        "e2e/rules-legacy"
    });
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_BUILDKIT", buildkit.to_string())
        .env("PLUGIN_REPO", format!("{}/{name}", s.registry_plain))
        .env(
            "PLUGIN_TAG_RULES",
            "type=ref,event=branch\ntype=ref,event=pr\ntype=semver,pattern={{version}}\ntype=sha",
        )
        .env(
            "PLUGIN_ANNOTATIONS",
            r#"["org.opencontainers.image.description=An app, tagged by rules", "manifest:org.opencontainers.image.licenses=MIT"]"#,
        )
        .env("DRONE_COMMIT_REF", "refs/heads/feature/x")
        .env("DRONE_COMMIT_SHA", "abcdef1234567890abcdef1234567890abcdef12")
        .env("DRONE_REPO_BRANCH", "main")
        .env("DRONE_BUILD_EVENT", "push")
        .env("DRONE_REPO_NAME", "app")
        .env(
            "DRONE_REMOTE_URL",
            "https://x-token:t0ken-in-url@git.example/team/app.git",
        )
        .run();
    run.assert_success();
    assert!(
        run.output().contains(":feature-x (type=ref,event=branch)")
            && run.output().contains(":sha-abcdef1 (type=sha)"),
        "the plan names the rule of each tag:\n{}",
        run.output()
    );
    let reg = Registry::plain(&s);
    assert_eq!(
        reg.tags(&name),
        Some(vec!["feature-x".into(), "sha-abcdef1".into()])
    );
    let cfg = reg.config(&name, "feature-x");
    let labels = &cfg["config"]["Labels"];
    let oci = |k: &str| labels[format!("org.opencontainers.image.{k}")].clone();
    assert_eq!(oci("description"), "An app, tagged by rules");
    assert_eq!(oci("licenses"), "MIT");
    assert_eq!(oci("version"), "feature-x");
    assert_eq!(oci("title"), "app");
    assert_eq!(oci("revision"), "abcdef1234567890abcdef1234567890abcdef12");
    assert_eq!(oci("source"), "https://git.example/team/app.git");
    assert!(
        !cfg.to_string().contains("t0ken-in-url"),
        "credentials in the config: {cfg}"
    );
}

#[test]
fn a_branch_build_with_rules_pushes_the_branch_and_sha_tags_with_oci_labels() {
    branch_build_with_rules(true);
}

#[test]
fn the_legacy_builder_writes_the_same_labels() {
    branch_build_with_rules(false);
}

#[test]
fn an_invalid_tag_rule_is_refused_before_any_daemon_start() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_dockerd(dir.path(), "sleep 30");
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("PLUGIN_TAG_RULES", "type=ref,event=push")],
            "PLUGIN_TAG_RULES: rule 'type=ref,event=push': event 'push' is not branch, tag or pr",
        ),
        (
            &[("PLUGIN_TAG_RULES", r#"[{"type":"semver"}]"#)],
            "PLUGIN_TAG_RULES: rule 'type=semver': type=semver needs pattern=",
        ),
        (
            &[("PLUGIN_TAG_RULES", "type=raw,value=.x")],
            "PLUGIN_TAG_RULES: rule 'type=raw,value=.x' gives '.x', which is not a valid tag",
        ),
        (
            &[
                ("PLUGIN_TAG_RULES", "type=sha"),
                ("PLUGIN_TAG_FLAVOR", "latest=maybe"),
            ],
            "PLUGIN_TAG_FLAVOR: latest 'maybe' is not auto, true or false",
        ),
        (
            &[("PLUGIN_AUTO_TAG_WITH_TAGS", "true")],
            "PLUGIN_AUTO_TAG_WITH_TAGS: needs PLUGIN_AUTO_TAG=true",
        ),
    ];
    for (vars, want) in cases {
        let run = Plugin::new("docker", dir.path())
            .path_prepend(&bin)
            .env(
                "DOCKER_HOST",
                format!("unix://{}/none.sock", dir.path().display()),
            )
            .env("PLUGIN_REPO", "a/b")
            .env("DRONE_COMMIT_REF", "refs/heads/main")
            .envs(vars.iter().copied())
            .run();
        run.assert_refused(want, &format!("{vars:?}"));
        assert!(
            !dir.path().join("started").exists(),
            "{vars:?}: dockerd was started"
        );
    }
}

#[test]
fn a_daemonless_push_writes_the_annotations_into_an_oci_manifest() {
    let s = require_services!();
    let dir = workspace(&s, "RUN echo annotated > /a.txt\n");
    let local = format!("longshore-e2e/{}", unique("annotated"));
    docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &local)
        .env("PLUGIN_TAGS", "src")
        .env("PLUGIN_DRY_RUN", "true")
        .run()
        .assert_success();
    let tar = dir.path().join("image.tar");
    docker_cli(
        &s,
        &["save", "-o", tar.to_str().unwrap(), &format!("{local}:src")],
    )
    .assert_success();
    docker_cli(&s, &["rmi", &format!("{local}:src")]);

    let name = unique("e2e/annotated");
    let run = Plugin::new("docker", dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_REPO", format!("{}/{name}", s.registry_plain))
        .env("PLUGIN_PUSH_ONLY", "true")
        .env("PLUGIN_SOURCE_TAR_PATH", "image.tar")
        .env(
            "PLUGIN_TAG_RULES",
            "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}",
        )
        .env(
            "PLUGIN_ANNOTATIONS",
            "org.opencontainers.image.description=Pushed without a daemon",
        )
        .env("DRONE_COMMIT_REF", "refs/tags/v3.1.4")
        .env("DRONE_COMMIT_SHA", "abcdef1234567890")
        .env("DRONE_REPO_NAME", "app")
        .run();
    run.assert_success();
    let reg = Registry::plain(&s);
    assert_eq!(
        reg.tags(&name),
        Some(vec!["3".into(), "3.1.4".into(), "latest".into()])
    );
    let m = reg.manifest(&name, "3.1.4");
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let a = &m["annotations"];
    assert_eq!(
        a["org.opencontainers.image.description"],
        "Pushed without a daemon"
    );
    assert_eq!(a["org.opencontainers.image.version"], "3.1.4");
    assert_eq!(a["org.opencontainers.image.revision"], "abcdef1234567890");
    assert_eq!(a["org.opencontainers.image.title"], "app");
    // The image still pulls and runs.
    let image = format!("{}/{name}:3", s.registry_plain);
    docker_cli(&s, &["pull", &image]).assert_success();
    docker_cli(&s, &["rmi", &image]);
}
