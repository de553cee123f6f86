//! BuildKit, the default builder of `longshore-docker`, against the real daemon: the Dockerfile
//! syntax only BuildKit has, the progress relayed step by step, a failing step reported with its
//! exit code, a `# syntax=` frontend the daemon cannot pull, the registry cache surviving an
//! emptied build cache, and the legacy builder on request.

use longshore_tests::{Registry, Services, docker_cli, require_services, unique, write_files};

use crate::docker::{docker_plugin, dockerfile, workspace};

/// The last line of a log that is not blank: a failure's one-line summary.
fn last_line(out: &str) -> &str {
    out.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

/// `cat` of a file in a local image.
fn cat(s: &Services, image: &str, path: &str) -> String {
    let run = docker_cli(s, &["run", "--rm", "--entrypoint", "/bin/cat", image, path]);
    run.assert_success();
    run.stdout
}

#[test]
fn buildkit_only_syntax_builds_and_a_cache_mount_is_reused_by_the_next_build() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    // A cache id of our own: other tests' builds on this daemon never share it.
    let cache_id = unique("mount").replace('/', "-");
    let body = format!(
        "ARG NONCE\n\
         RUN --mount=type=cache,id={cache_id},target=/cache echo \"$NONCE\" >> /cache/log && cp /cache/log /runs\n\
         COPY --chmod=755 hello.sh /hello.sh\n\
         RUN --mount=type=bind,from=first,source=/first.txt,target=/mnt/first.txt cat /mnt/first.txt > /from-first\n"
    );
    let text = format!(
        "FROM {} AS first\nRUN echo made-in-first > /first.txt\n{}",
        s.base_image,
        dockerfile(&s, &body)
    );
    write_files(
        dir.path(),
        &[
            ("Dockerfile", &text),
            ("hello.sh", "#!/bin/sh\necho hello\n"),
        ],
    );
    let repo = format!("{}/{}", s.registry_plain, unique("e2e/bk-syntax"));
    let build = |nonce: &str| {
        docker_plugin(&s, dir.path())
            .env("PLUGIN_REPO", &repo)
            .env("PLUGIN_TAGS", nonce)
            .env("PLUGIN_DRY_RUN", "true")
            .env("PLUGIN_BUILD_ARGS", format!("NONCE={nonce}"))
            .run()
    };
    build("one").assert_success();
    build("two").assert_success();

    let image = format!("{repo}:two");
    assert_eq!(
        cat(&s, &image, "/runs"),
        "one\ntwo\n",
        "the cache mount kept the first build's line"
    );
    assert_eq!(cat(&s, &image, "/from-first").trim(), "made-in-first");
    let mode = docker_cli(
        &s,
        &[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/busybox",
            &image,
            "stat",
            "-c",
            "%a",
            "/hello.sh",
        ],
    );
    assert_eq!(mode.stdout.trim(), "755", "COPY --chmod applied");
    for tag in ["one", "two"] {
        docker_cli(&s, &["rmi", &format!("{repo}:{tag}")]);
    }
}

#[test]
fn progress_is_relayed_step_by_step_with_cached_and_done_lines() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let marker = unique("progress").replace('/', "-");
    write_files(
        dir.path(),
        &[(
            "Dockerfile",
            &dockerfile(&s, &format!("RUN echo said-{marker}\nRUN echo second\n")),
        )],
    );
    let repo = format!("{}/{}", s.registry_plain, unique("e2e/bk-progress"));
    let run = || {
        docker_plugin(&s, dir.path())
            .env("PLUGIN_REPO", &repo)
            .env("PLUGIN_TAGS", "p")
            .env("PLUGIN_DRY_RUN", "true")
            .run()
    };
    let first = run();
    first.assert_success();
    let out = first.output();
    let start = out
        .lines()
        .find(|l| l.contains(&format!("RUN echo said-{marker}")) && l.contains('#'))
        .unwrap_or_else(|| panic!("no start line for the RUN step:\n{out}"));
    let number = start
        .split('#')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap();
    assert!(
        out.contains(&format!("#{number} said-{marker}")),
        "the step's output is not relayed under its number:\n{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains(&format!("#{number} DONE")) && l.ends_with('s')),
        "no DONE line with a duration:\n{out}"
    );
    // The second build finds both steps in the daemon's cache.
    let second = run();
    second.assert_success();
    assert!(
        second.output().contains(&format!("#{number} CACHED")),
        "no CACHED line:\n{}",
        second.output()
    );
    docker_cli(&s, &["rmi", &format!("{repo}:p")]);
}

#[test]
fn a_failing_run_is_reported_with_its_step_its_exit_code_and_its_last_output() {
    let s = require_services!();
    let dir = workspace(&s, "RUN echo before-the-failure && exit 3\n");
    let run = docker_plugin(&s, dir.path())
        .env(
            "PLUGIN_REPO",
            format!("{}/{}", s.registry_plain, unique("e2e/bk-fail")),
        )
        .env("PLUGIN_QUIET", "true")
        .run();
    run.assert_failure();
    let out = run.output();
    let last = last_line(&out);
    assert!(
        last.contains("[2/2] RUN echo before-the-failure && exit 3")
            && last.contains("exited with code 3"),
        "the last line does not name the step and its exit code:\n{out}"
    );
    // Quiet hides the output while it runs; the failure shows its last lines anyway.
    assert!(
        out.contains("before-the-failure\n") || out.contains("  before-the-failure"),
        "{out}"
    );
    assert!(
        !out.contains("purge: could not remove"),
        "purge noise:\n{out}"
    );
}

#[test]
fn a_syntax_frontend_the_daemon_cannot_pull_fails_with_what_to_do() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "Dockerfile",
            &format!(
                "# syntax=docker/dockerfile:1\n{}",
                dockerfile(&s, "RUN true\n")
            ),
        )],
    );
    let run = docker_plugin(&s, dir.path())
        .env(
            "PLUGIN_REPO",
            format!("{}/{}", s.registry_plain, unique("e2e/bk-syntax-line")),
        )
        .run();
    run.assert_failure();
    let out = run.output();
    let last = last_line(&out);
    assert!(
        last.contains("`# syntax=docker/dockerfile:1`")
            && last.contains("mirror")
            && last.contains("remove the line"),
        "{out}"
    );
    assert!(!out.contains("rpc error"), "raw gRPC error:\n{out}");
}

#[test]
fn the_registry_cache_makes_a_build_on_an_emptied_daemon_cached() {
    let s = require_services!();
    // The expensive step records a random id: a cached second build carries the first's.
    let dir = workspace(
        &s,
        &format!(
            "RUN echo {} > /id && cat /proc/sys/kernel/random/uuid > /built-at && sleep 3\nRUN echo done\n",
            unique("cache")
        ),
    );
    let name = unique("e2e/bk-cache");
    let repo = format!("{}/{name}", s.registry_plain);
    let cache = format!("{repo}:buildcache");
    let build = |tag: &str| {
        docker_plugin(&s, dir.path())
            .env("PLUGIN_REPO", &repo)
            .env("PLUGIN_TAGS", tag)
            .env("PLUGIN_CACHE_FROM", &cache)
            .env("PLUGIN_CACHE_TO", &cache)
            .run()
    };
    let first = build("first");
    first.assert_success();
    assert!(
        Registry::plain(&s)
            .tags(&name)
            .is_some_and(|t| t.contains(&"buildcache".to_string())),
        "the cache ref was not pushed:\n{}",
        first.output()
    );
    // As a new CI run on a fresh DinD daemon: no build cache, no images of ours. Only the
    // regular records go: other tests' cache mounts stay.
    docker_cli(&s, &["builder", "prune", "-af", "--filter", "type=regular"]).assert_success();
    let second = build("second");
    second.assert_success();
    let out = second.output();
    assert!(
        out.lines()
            .any(|l| l.contains("random/uuid") && l.contains('#'))
            && out.lines().filter(|l| l.ends_with(" CACHED")).count() >= 2,
        "the expensive step was not taken from the registry cache:\n{out}"
    );
    let stamp = |tag: &str| {
        let image = format!("{repo}:{tag}");
        docker_cli(&s, &["pull", &image]).assert_success();
        let t = cat(&s, &image, "/built-at");
        docker_cli(&s, &["rmi", &image]);
        t
    };
    assert_eq!(stamp("first"), stamp("second"), "the step ran again");
}

#[test]
fn the_legacy_builder_on_request_and_what_it_cannot_do() {
    let s = require_services!();
    let dir = workspace(&s, "ARG WHO\nRUN echo \"legacy $WHO\" > /who\n");
    let repo = format!("{}/{}", s.registry_plain, unique("e2e/legacy"));
    let run = docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &repo)
        .env("PLUGIN_TAGS", "l")
        .env("PLUGIN_DRY_RUN", "true")
        .env("PLUGIN_BUILD_ARGS", "WHO=builder")
        .env("DOCKER_BUILDKIT", "0")
        .run();
    run.assert_success();
    // The legacy builder's own output, not BuildKit's numbered steps.
    assert!(run.output().contains("Step 1/"), "{}", run.output());
    assert_eq!(
        cat(&s, &format!("{repo}:l"), "/who").trim(),
        "legacy builder"
    );
    docker_cli(&s, &["rmi", &format!("{repo}:l")]);

    // Secrets need BuildKit: refused before anything starts, naming the variable that chose.
    docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &repo)
        .env("DOCKER_BUILDKIT", "0")
        .env("TOKEN", "x")
        .env("PLUGIN_SECRETS_FROM_ENV", "token=TOKEN")
        .run()
        .assert_refused("DOCKER_BUILDKIT", "a secret on the legacy builder");
    docker_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &repo)
        .env("PLUGIN_BUILDKIT", "false")
        .env("PLUGIN_CACHE_TO", format!("{repo}:cache"))
        .run()
        .assert_refused("PLUGIN_CACHE_TO", "a cache export on the legacy builder");
}
