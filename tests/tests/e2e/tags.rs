//! End-to-end tests of the tags users ask for (issue #22): `auto_tag` together with the user's
//! tags, the metadata-action tag rules, and the OCI labels, against the shared daemon and the
//! plain registry; and the refusal of a bad rule before any daemon starts.

use longshore_tests::{Plugin, write_files};

use super::docker::fake_dockerd;

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
