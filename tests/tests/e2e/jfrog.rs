//! End-to-end tests of `longshore-jfrog` against the Artifactory fixture (the REST API of
//! reference upload-plugins §6.4: deploy, deploy by checksum, matrix properties, checksum
//! verification, the three logins, build info), which stores what it receives and records
//! every request.

use std::collections::BTreeMap;
use std::path::Path;

use longshore_tests::artifactory_fixture::{API_KEY, Artifactory, PASSWORD, TOKEN, USER};
use longshore_tests::{Plugin, write_files};

/// The plugin pointed at the fixture with the access token.
fn plugin(fx: &Artifactory, dir: &Path) -> Plugin {
    Plugin::new("jfrog", dir)
        .env("PLUGIN_URL", fx.url())
        .env("PLUGIN_ACCESS_TOKEN", TOKEN)
}

/// Deterministic bytes of a given size (not compressible into a pattern a bug could hide).
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

fn stored_keys(fx: &Artifactory, prefix: &str) -> Vec<String> {
    fx.artifacts()
        .into_keys()
        .filter(|k| k.starts_with(prefix))
        .collect()
}

fn assert_same(fx: &Artifactory, key: &str, local: &Path) {
    let a = fx
        .artifact(key)
        .unwrap_or_else(|| panic!("{key} not stored"));
    assert_eq!(
        a.bytes,
        std::fs::read(local).unwrap(),
        "{key}: bytes differ"
    );
}

#[test]
fn uploads_a_tree_flat_and_not_flat_to_folder_and_file_targets() {
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_files(
        d,
        &[
            ("dist/app-1.0.zip", "app"),
            ("dist/readme.txt", "text"),
            ("dist/sub/lib-2.3.zip", "lib"),
            ("dist/sub/deep/x-0.1.zip", "x"),
        ],
    );
    // Not flat: `*` crosses directories, the relative path is kept under the folder target.
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "dist/*.zip")
        .env("PLUGIN_TARGET", "libs/tree/")
        .run()
        .assert_success();
    assert_eq!(
        stored_keys(&fx, "libs/tree/"),
        [
            "libs/tree/dist/app-1.0.zip",
            "libs/tree/dist/sub/deep/x-0.1.zip",
            "libs/tree/dist/sub/lib-2.3.zip"
        ]
    );
    assert_same(
        &fx,
        "libs/tree/dist/sub/lib-2.3.zip",
        &d.join("dist/sub/lib-2.3.zip"),
    );

    // Flat: only the names.
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "dist/*.zip")
        .env("PLUGIN_TARGET", "libs/flat/")
        .env("PLUGIN_FLAT", "true")
        .run()
        .assert_success();
    assert_eq!(
        stored_keys(&fx, "libs/flat/"),
        [
            "libs/flat/app-1.0.zip",
            "libs/flat/lib-2.3.zip",
            "libs/flat/x-0.1.zip"
        ]
    );

    // Not recursive: only the folder's own files.
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "dist/*")
        .env("PLUGIN_TARGET", "libs/top/")
        .env("PLUGIN_FLAT", "true")
        .env("PLUGIN_RECURSIVE", "false")
        .run()
        .assert_success();
    assert_eq!(
        stored_keys(&fx, "libs/top/"),
        ["libs/top/app-1.0.zip", "libs/top/readme.txt"]
    );

    // A target without a trailing slash is the exact artifact path.
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "dist/readme.txt")
        .env("PLUGIN_TARGET", "libs/docs/README")
        .run()
        .assert_success();
    assert_same(&fx, "libs/docs/README", &d.join("dist/readme.txt"));

    // `{1}`, `{2}` from the pattern's groups.
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "dist/(*)-(*).zip")
        .env("PLUGIN_TARGET", "libs/ph/{1}/{2}/{1}.zip")
        .run()
        .assert_success();
    assert_eq!(
        stored_keys(&fx, "libs/ph/"),
        [
            "libs/ph/app/1.0/app.zip",
            "libs/ph/sub/deep/x/0.1/sub/deep/x.zip",
            "libs/ph/sub/lib/2.3/sub/lib.zip"
        ]
    );
    assert_same(&fx, "libs/ph/app/1.0/app.zip", &d.join("dist/app-1.0.zip"));

    // A URL that already holds the repository (the Harness docs' form).
    Plugin::new("jfrog", d)
        .env("PLUGIN_URL", format!("{}libs/inurl", fx.url()))
        .env("PLUGIN_ACCESS_TOKEN", TOKEN)
        .env("PLUGIN_SOURCE", "dist/app-1.0.zip")
        .env("PLUGIN_TARGET", "groupId/artifactId/1.0/")
        .env("PLUGIN_FLAT", "true")
        .run()
        .assert_success();
    assert_same(
        &fx,
        "libs/inurl/groupId/artifactId/1.0/app-1.0.zip",
        &d.join("dist/app-1.0.zip"),
    );

    // Every deploy carried the three checksum headers.
    for r in fx.requests().iter().filter(|r| r.method == "PUT") {
        for h in ["x-checksum-sha1", "x-checksum-sha256", "x-checksum-md5"] {
            assert!(!r.header(h).is_empty(), "{} without {h}", r.url);
        }
    }
}

#[test]
fn properties_in_both_syntaxes_are_stored() {
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.bin", "a"), ("b.bin", "b")]);
    plugin(&fx, dir.path())
        .env("PLUGIN_SOURCE", "a.bin")
        .env("PLUGIN_TARGET", "libs/p/")
        .env(
            "PLUGIN_TARGET_PROPS",
            r"team=core;os=linux,darwin;note=a\,b c;empty=",
        )
        .run()
        .assert_success();
    let props = fx.artifact("libs/p/a.bin").unwrap().props;
    let want: BTreeMap<String, Vec<String>> = [
        ("team", vec!["core"]),
        ("os", vec!["linux", "darwin"]),
        ("note", vec!["a,b c"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(props, want);
    // The URL carried them escaped: the comma inside a value and the space.
    let put = fx
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert!(put.url.contains(";note=a%2Cb%20c"), "{}", put.url);

    // The README's comma form gives two properties; a JSON map with a list.
    plugin(&fx, dir.path())
        .env("PLUGIN_SOURCE", "b.bin")
        .env("PLUGIN_TARGET", "libs/p/")
        .env("PLUGIN_TARGET_PROPS", "key1=value1,key2=value2")
        .run()
        .assert_success();
    let props = fx.artifact("libs/p/b.bin").unwrap().props;
    assert_eq!(props["key1"], ["value1"]);
    assert_eq!(props["key2"], ["value2"]);
    plugin(&fx, dir.path())
        .env("PLUGIN_SOURCE", "b.bin")
        .env("PLUGIN_TARGET", "libs/j/")
        .env(
            "PLUGIN_TARGET_PROPS",
            r#"{"release": "1.2;3", "arch": ["amd64", "arm64"]}"#,
        )
        .run()
        .assert_success();
    let props = fx.artifact("libs/j/b.bin").unwrap().props;
    assert_eq!(props["release"], ["1.2;3"]);
    assert_eq!(props["arch"], ["amd64", "arm64"]);
}

#[test]
fn second_run_deploys_big_files_by_checksum_without_a_body() {
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("big.bin"), bytes(20 * 1024, 1)).unwrap();
    std::fs::write(d.join("small.bin"), bytes(1024, 2)).unwrap();
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "*.bin")
        .env("PLUGIN_TARGET", "libs/first/")
        .run()
        .assert_success();
    let reqs = fx.requests();
    let big: Vec<_> = reqs.iter().filter(|r| r.url.contains("big.bin")).collect();
    // Unknown content: checksum deploy 404, then the body.
    assert_eq!(big.len(), 2, "{big:?}");
    assert!(big[0].is_checksum_deploy() && big[0].status == 404 && big[0].body_len == 0);
    assert!(!big[1].is_checksum_deploy() && big[1].status == 201);
    assert_eq!(big[1].body_len, 20 * 1024);
    // Under 10 KiB: no checksum deploy at all.
    let small: Vec<_> = reqs
        .iter()
        .filter(|r| r.url.contains("small.bin"))
        .collect();
    assert_eq!(small.len(), 1);
    assert!(!small[0].is_checksum_deploy() && small[0].body_len == 1024);

    fx.clear_requests();
    let out = d.join("out.env");
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "*.bin")
        .env("PLUGIN_TARGET", "libs/second/")
        .env("DRONE_OUTPUT", &out)
        .run()
        .assert_success();
    let reqs = fx.requests();
    let big: Vec<_> = reqs.iter().filter(|r| r.url.contains("big.bin")).collect();
    assert_eq!(big.len(), 1, "{big:?}");
    assert!(big[0].is_checksum_deploy() && big[0].status == 201 && big[0].body_len == 0);
    assert_same(&fx, "libs/second/big.bin", &d.join("big.bin"));
    assert_same(&fx, "libs/second/small.bin", &d.join("small.bin"));
    let out = std::fs::read_to_string(out).unwrap();
    assert!(out.contains("checksum_deployed_count=\"1\""), "{out}");
    assert!(out.contains("uploaded_count=\"2\""), "{out}");
}

#[test]
fn each_login_mode_reaches_artifactory() {
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("f.txt", "x")]);
    // (case, variables, expected auth header prefix; "" for the API key header)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            "basic",
            &[("PLUGIN_USERNAME", USER), ("PLUGIN_PASSWORD", PASSWORD)],
            "Basic ",
        ),
        (
            "basic with a token",
            &[("PLUGIN_USERNAME", USER), ("PLUGIN_PASSWORD", TOKEN)],
            "Basic ",
        ),
        ("api key", &[("PLUGIN_API_KEY", API_KEY)], ""),
        ("bearer", &[("PLUGIN_ACCESS_TOKEN", TOKEN)], "Bearer "),
        // A username without a password is ignored, as in the anchor.
        (
            "api key, lone username",
            &[("PLUGIN_USERNAME", USER), ("PLUGIN_API_KEY", API_KEY)],
            "",
        ),
    ];
    for (case, vars, scheme) in cases {
        fx.clear_requests();
        let run = Plugin::new("jfrog", dir.path())
            .env("PLUGIN_URL", fx.url())
            .envs(vars.iter().copied())
            .env("PLUGIN_SOURCE", "f.txt")
            .env("PLUGIN_TARGET", format!("libs/{}/", case.replace(' ', "-")))
            .run();
        run.assert_success();
        let r = &fx.requests()[0];
        assert_eq!(r.status, 201, "{case}");
        if scheme.is_empty() {
            assert_eq!(r.header("x-jfrog-art-api"), API_KEY, "{case}");
            assert!(r.header("authorization").is_empty(), "{case}");
        } else {
            assert!(r.header("authorization").starts_with(scheme), "{case}");
        }
    }
}

#[test]
fn wrong_token_is_one_clear_line_without_the_secret() {
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("a.txt", "a"),
            ("b.txt", "b"),
            ("c.txt", "c"),
            ("d.txt", "d"),
            ("e.txt", "e"),
        ],
    );
    let wrong = "wrong-token-4f9a1c2b";
    let run = Plugin::new("jfrog", dir.path())
        .env("PLUGIN_URL", fx.url())
        .env("PLUGIN_ACCESS_TOKEN", wrong)
        .env("PLUGIN_SOURCE", "*.txt")
        .env("PLUGIN_TARGET", "libs/x/")
        .env("PLUGIN_THREADS", "1")
        .run();
    run.assert_failure();
    let out = run.output();
    assert!(!out.contains(wrong), "secret leaked:\n{out}");
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("401") && errors[0].contains("PLUGIN_ACCESS_TOKEN"),
        "{}",
        errors[0]
    );
    // Bad credentials are fatal: no retries, the other files not attempted.
    assert_eq!(fx.requests().len(), 1, "{:?}", fx.requests());
    assert!(fx.artifacts().is_empty());
}

#[test]
fn a_file_spec_with_vars_uploads_each_group_with_its_properties() {
    let fx = Artifactory::start(&["libs", "docs"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_files(
        d,
        &[
            ("out/app.jar", "jar"),
            ("out/app-tmp.jar", "tmp"),
            ("site/index.html", "<html/>"),
            ("site/css/a.css", "a{}"),
        ],
    );
    std::fs::write(
        d.join("upload.json"),
        r#"{"files": [
            {"pattern": "out/*.jar", "target": "libs/${version}/", "flat": "true",
             "targetProps": "kind=jar", "exclusions": ["*-tmp.jar"]},
            {"pattern": "site/", "target": "/docs/${version}/", "props": "kind=site"}
        ]}"#,
    )
    .unwrap();
    plugin(&fx, d)
        .env("PLUGIN_SPEC", "upload.json")
        .env("PLUGIN_SPEC_VARS", "version=1.4.2")
        .run()
        .assert_success();
    assert_eq!(
        fx.artifacts().into_keys().collect::<Vec<_>>(),
        [
            "docs/1.4.2/site/css/a.css",
            "docs/1.4.2/site/index.html",
            "libs/1.4.2/app.jar"
        ]
    );
    assert_eq!(
        fx.artifact("libs/1.4.2/app.jar").unwrap().props["kind"],
        ["jar"]
    );
    assert_eq!(
        fx.artifact("docs/1.4.2/site/index.html").unwrap().props["kind"],
        ["site"]
    );
}

#[test]
fn build_info_is_published_and_links_the_artifacts() {
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("dist")).unwrap();
    std::fs::write(d.join("dist/a.tgz"), bytes(30 * 1024, 3)).unwrap();
    std::fs::write(d.join("dist/b.txt"), "b").unwrap();
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "dist/")
        .env("PLUGIN_TARGET", "libs/rel/")
        .env("PLUGIN_FLAT", "true")
        .env("PLUGIN_BUILD_NAME", "my app")
        .env("PLUGIN_BUILD_NUMBER", "42")
        .env("PLUGIN_PUBLISH_BUILD_INFO", "true")
        .env("DRONE_COMMIT_SHA", "0123abcd")
        .env("DRONE_REMOTE_URL", "https://git.example/app.git")
        .env("DRONE_COMMIT_BRANCH", "main")
        .run()
        .assert_success();
    for key in ["libs/rel/a.tgz", "libs/rel/b.txt"] {
        let props = fx.artifact(key).unwrap().props;
        assert_eq!(props["build.name"], ["my app"], "{key}");
        assert_eq!(props["build.number"], ["42"], "{key}");
        assert!(props["build.timestamp"][0].parse::<u64>().is_ok(), "{key}");
    }
    let builds = fx.builds();
    assert_eq!(builds.len(), 1);
    let b = &builds[0];
    assert_eq!(b["name"], "my app");
    assert_eq!(b["number"], "42");
    assert_eq!(b["vcs"][0]["revision"], "0123abcd");
    let arts = b["modules"][0]["artifacts"].as_array().unwrap();
    assert_eq!(arts.len(), 2);
    let a = arts.iter().find(|a| a["name"] == "a.tgz").unwrap();
    assert_eq!(a["path"], "rel/a.tgz");
    assert_eq!(a["originalDeploymentRepo"], "libs");
    assert_eq!(
        a["sha1"],
        fx.artifact("libs/rel/a.tgz").unwrap().sha1.as_str()
    );
    // The build info went out after every artifact.
    let reqs = fx.requests();
    assert!(
        reqs.last()
            .unwrap()
            .url
            .starts_with("/artifactory/api/build")
    );
}

#[test]
fn bad_settings_are_refused_before_any_request() {
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_files(d, &[("a.zip", "a"), ("b.zip", "b"), ("bad.json", "{nope")]);
    let url = fx.url();
    let no_artifactory = format!("http://{}/", fx.addr);
    let ok: Vec<(&str, &str)> = vec![
        ("PLUGIN_URL", &url),
        ("PLUGIN_ACCESS_TOKEN", TOKEN),
        ("PLUGIN_SOURCE", "*.zip"),
        ("PLUGIN_TARGET", "libs/x/"),
    ];
    let without = |var: &str| -> Vec<(String, String)> {
        ok.iter()
            .filter(|(k, _)| *k != var)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let with = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut v = without("");
        for (k, val) in pairs {
            v.retain(|(kk, _)| kk != k);
            v.push((k.to_string(), val.to_string()));
        }
        v
    };
    // (case, environment, what the one error line says)
    type Case<'a> = (&'a str, Vec<(String, String)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("no url", without("PLUGIN_URL"), "PLUGIN_URL is required"),
        (
            "no login",
            without("PLUGIN_ACCESS_TOKEN"),
            "either username/password, api key or access token needs to be set",
        ),
        (
            "lone username",
            with(&[("PLUGIN_ACCESS_TOKEN", ""), ("PLUGIN_USERNAME", "u")]),
            "either username/password, api key or access token needs to be set",
        ),
        (
            "ftp url",
            with(&[("PLUGIN_URL", "ftp://h/artifactory")]),
            "PLUGIN_URL",
        ),
        (
            "login in url",
            with(&[("PLUGIN_URL", "https://u:p@h/artifactory/")]),
            "PLUGIN_URL: holds a login",
        ),
        (
            "no source",
            without("PLUGIN_SOURCE"),
            "PLUGIN_SOURCE is required",
        ),
        (
            "no target",
            without("PLUGIN_TARGET"),
            "PLUGIN_TARGET is required",
        ),
        ("flat", with(&[("PLUGIN_FLAT", "maybe")]), "PLUGIN_FLAT"),
        (
            "threads",
            with(&[("PLUGIN_THREADS", "500")]),
            "PLUGIN_THREADS",
        ),
        (
            "retries",
            with(&[("PLUGIN_RETRIES", "-1")]),
            "PLUGIN_RETRIES",
        ),
        (
            "build name alone",
            with(&[("PLUGIN_BUILD_NAME", "b")]),
            "PLUGIN_BUILD_NUMBER is required",
        ),
        (
            "publish without build",
            with(&[("PLUGIN_PUBLISH_BUILD_INFO", "true")]),
            "PLUGIN_BUILD_NAME is required",
        ),
        (
            "publish without /artifactory",
            with(&[
                ("PLUGIN_URL", &no_artifactory),
                ("PLUGIN_BUILD_NAME", "b"),
                ("PLUGIN_BUILD_NUMBER", "1"),
                ("PLUGIN_PUBLISH_BUILD_INFO", "true"),
            ]),
            "url does not contain '/artifactory'",
        ),
        (
            "skip with build",
            with(&[
                ("PLUGIN_SKIP_UNCHANGED", "true"),
                ("PLUGIN_BUILD_NAME", "b"),
                ("PLUGIN_BUILD_NUMBER", "1"),
            ]),
            "PLUGIN_SKIP_UNCHANGED and PLUGIN_BUILD_NAME",
        ),
        (
            "props without a name",
            with(&[("PLUGIN_TARGET_PROPS", "=v")]),
            "PLUGIN_TARGET_PROPS",
        ),
        (
            "props bad json",
            with(&[("PLUGIN_TARGET_PROPS", "{nope")]),
            "PLUGIN_TARGET_PROPS",
        ),
        (
            "unclosed group",
            with(&[("PLUGIN_SOURCE", "(*.zip")]),
            "PLUGIN_SOURCE: pattern '(*.zip': '(' without ')'",
        ),
        (
            "missing folder",
            with(&[("PLUGIN_SOURCE", "nope/*.zip")]),
            "path does not exist: nope",
        ),
        (
            "one path for many files",
            with(&[("PLUGIN_TARGET", "libs/one.zip")]),
            "would both be uploaded to libs/one.zip",
        ),
        (
            "target with ..",
            with(&[
                ("PLUGIN_SOURCE", "a.zip"),
                ("PLUGIN_TARGET", "libs/../a.zip"),
            ]),
            "PLUGIN_TARGET",
        ),
        (
            "spec missing",
            with(&[("PLUGIN_SPEC", "nope.json")]),
            "PLUGIN_SPEC: cannot read nope.json",
        ),
        (
            "spec not json",
            with(&[("PLUGIN_SPEC", "bad.json")]),
            "PLUGIN_SPEC: not a JSON file spec",
        ),
        (
            "spec vars",
            with(&[("PLUGIN_SPEC", "bad.json"), ("PLUGIN_SPEC_VARS", "novalue")]),
            "PLUGIN_SPEC_VARS",
        ),
        (
            "ca",
            with(&[("PLUGIN_PEM_FILE_CONTENTS", "not a pem")]),
            "PLUGIN_PEM_FILE_CONTENTS",
        ),
        (
            "ca path",
            with(&[("PLUGIN_PEM_FILE_PATH", "nope.pem")]),
            "PLUGIN_PEM_FILE_PATH",
        ),
        (
            "proxy",
            with(&[
                ("PLUGIN_ENABLE_PROXY", "true"),
                ("HARNESS_HTTP_PROXY", "not a url"),
            ]),
            "PLUGIN_ENABLE_PROXY",
        ),
        (
            "other commands",
            with(&[("PLUGIN_COMMAND", "download")]),
            "PLUGIN_COMMAND",
        ),
        (
            "fail no op",
            with(&[("PLUGIN_SOURCE", "*.none"), ("PLUGIN_FAIL_NO_OP", "true")]),
            "no file matched",
        ),
    ];
    for (case, vars, want) in cases {
        let run = Plugin::new("jfrog", d)
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .run();
        run.assert_refused(want, case);
        assert!(!run.output().contains(TOKEN), "{case}: token printed");
    }
    assert!(fx.requests().is_empty(), "{:?}", fx.requests());
}

#[test]
fn transient_failures_and_corrupted_bodies_are_retried() {
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("f")).unwrap();
    for i in 0..30 {
        let size = if i % 3 == 0 { 24 * 1024 + i } else { 700 + i };
        std::fs::write(d.join(format!("f/{i:02}.bin")), bytes(size, i as u32)).unwrap();
    }
    fx.fail_fraction(0.2, 7);
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "f/")
        .env("PLUGIN_TARGET", "libs/flaky/")
        .env("PLUGIN_FLAT", "true")
        .env("PLUGIN_RETRIES", "8")
        .run()
        .assert_success();
    let faults = fx.requests().iter().filter(|r| r.status >= 500).count();
    assert!(faults >= 5, "only {faults} faults injected");
    for i in 0..30 {
        assert_same(
            &fx,
            &format!("libs/flaky/{i:02}.bin"),
            &d.join(format!("f/{i:02}.bin")),
        );
    }

    // A body damaged on the way is rejected by its checksum and sent again.
    fx.fail_fraction(0.0, 1);
    fx.clear_requests();
    fx.corrupt_next(2);
    std::fs::write(d.join("c.bin"), bytes(4096, 9)).unwrap();
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "c.bin")
        .env("PLUGIN_TARGET", "libs/c.bin")
        .run()
        .assert_success();
    let statuses: Vec<u16> = fx.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [409, 409, 201]);
    assert_same(&fx, "libs/c.bin", &d.join("c.bin"));

    // Out of retries: the failure names the artifact and the server's reason.
    fx.corrupt_next(10);
    let run = plugin(&fx, d)
        .env("PLUGIN_SOURCE", "c.bin")
        .env("PLUGIN_TARGET", "libs/c2.bin")
        .env("PLUGIN_RETRIES", "1")
        .run();
    run.assert_failure();
    assert!(run.stderr.contains("Checksum error"), "{}", run.stderr);
    assert!(fx.artifact("libs/c2.bin").is_none());
}

#[test]
fn dry_run_outputs_and_skip_unchanged() {
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_files(d, &[("p/a.txt", "a"), ("p/b.txt", "b")]);
    let run = plugin(&fx, d)
        .env("PLUGIN_SOURCE", "p/*.txt")
        .env("PLUGIN_TARGET", "libs/d/")
        .env("PLUGIN_DRY_RUN", "true")
        .run();
    run.assert_success();
    assert!(run.output().contains("p/a.txt → "), "{}", run.output());
    assert!(fx.requests().is_empty());

    let artifact = d.join("artifact.json");
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "p/*.txt")
        .env("PLUGIN_TARGET", "libs/d/")
        .env("PLUGIN_ARTIFACT_FILE", &artifact)
        .run()
        .assert_success();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&artifact).unwrap()).unwrap();
    assert_eq!(v["kind"], "fileUpload/v1");
    let urls: Vec<&str> = v["data"]["fileArtifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            format!("{}libs/d/p/a.txt", fx.url()),
            format!("{}libs/d/p/b.txt", fx.url())
        ]
    );

    // Unchanged artifacts (same size and SHA-256 in the HEAD answer) are not deployed again.
    std::fs::write(d.join("p/b.txt"), "changed").unwrap();
    fx.clear_requests();
    plugin(&fx, d)
        .env("PLUGIN_SOURCE", "p/*.txt")
        .env("PLUGIN_TARGET", "libs/d/")
        .env("PLUGIN_SKIP_UNCHANGED", "true")
        .run()
        .assert_success();
    let puts: Vec<String> = fx
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.url.clone())
        .collect();
    assert_eq!(puts, ["/artifactory/libs/d/p/b.txt"]);
    assert_eq!(fx.artifact("libs/d/p/b.txt").unwrap().bytes, b"changed");
}

/// A 200 MiB artifact is streamed: the plugin's peak RSS stays far below the file size.
#[test]
fn a_200_mib_artifact_uploads_with_flat_memory() {
    if !Path::new("/usr/bin/time").is_file() {
        eprintln!("skipped: /usr/bin/time is missing");
        return;
    }
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let size = 200 * 1024 * 1024;
    std::fs::write(d.join("big.img"), bytes(size, 5)).unwrap();
    let rss = d.join("rss");
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(longshore_tests::plugin_bin("jfrog"))
        .env_clear()
        .env("PLUGIN_URL", fx.url())
        .env("PLUGIN_ACCESS_TOKEN", TOKEN)
        .env("PLUGIN_SOURCE", "big.img")
        .env("PLUGIN_TARGET", "libs/big/")
        .current_dir(d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kib: u64 = std::fs::read_to_string(&rss)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    eprintln!(
        "peak RSS of the plugin: {} MiB for a 200 MiB file",
        kib / 1024
    );
    assert!(kib < 64 * 1024, "peak RSS {kib} KiB");
    let a = fx.artifact("libs/big/big.img").unwrap();
    assert_eq!(a.size, size as u64);
    let local = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(d.join("big.img")).unwrap(),
        ))
    };
    assert_eq!(a.sha256, local);
}
