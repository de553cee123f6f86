//! End-to-end tests of `longshore-nexus` against the Nexus fixture (`nexus_fixture`): the
//! components API form per format, direct PUT, the Nexus 2 layout, outputs, wrong credentials,
//! settings refused before any request, transient 503s, and a large file streamed with flat
//! memory.

use std::collections::BTreeMap;
use std::path::Path;

use longshore_tests::nexus_fixture::{Fixture, Options};
use longshore_tests::{Plugin, Run, write_files};

fn plugin(f: &Fixture, dir: &Path, repo: &str) -> Plugin {
    Plugin::new("nexus", dir).envs([
        ("PLUGIN_SERVER_URL", f.base.as_str()),
        ("PLUGIN_USERNAME", "admin"),
        ("PLUGIN_PASSWORD", "admin123-pw"),
        ("PLUGIN_REPOSITORY", repo),
    ])
}

fn drone_output(dir: &Path) -> BTreeMap<String, String> {
    dotenv(&dir.join("out.env"))
}

fn dotenv(p: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

fn artifact_urls(p: &Path) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    assert_eq!(v["kind"], "fileUpload/v1");
    v["data"]["fileArtifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["url"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn maven2_component_with_jar_pom_and_sources_in_one_request() {
    let f = Fixture::start(Options::nexus3());
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("target/app-1.2.0.jar", "jar bytes"),
            ("target/app-1.2.0.pom", "<project/>"),
            ("target/app-1.2.0-sources.jar", "sources bytes"),
        ],
    );
    let artifacts = r#"[
        {"file":"target/app-1.2.0.jar","artifactId":"app","version":"1.2.0","type":"jar"},
        {"file":"target/app-1.2.0.pom","artifactId":"app","version":"1.2.0","type":"pom"},
        {"file":"target/app-1.2.0-sources.jar","artifactId":"app","version":"1.2.0","type":"jar","classifier":"sources"}
    ]"#;
    let run = plugin(&f, dir.path(), "maven-releases")
        .env("PLUGIN_GROUP_ID", "com.example")
        .env("PLUGIN_ARTIFACTS", artifacts)
        .env("PLUGIN_ARTIFACT_FILE", dir.path().join("artifact.json"))
        .env("DRONE_OUTPUT", dir.path().join("out.env"))
        .run();
    run.assert_success();
    let got = f.received();
    assert_eq!(got.len(), 1, "one request for the component: {got:#?}");
    let r = &got[0];
    assert_eq!(
        (r.method.as_str(), r.url.as_str(), r.status),
        (
            "POST",
            "/service/rest/v1/components?repository=maven-releases",
            204
        )
    );
    assert_eq!(
        r.fields,
        fields(&[
            ("maven2.groupId", "com.example"),
            ("maven2.artifactId", "app"),
            ("maven2.version", "1.2.0"),
            ("maven2.asset1.extension", "jar"),
            ("maven2.asset2.extension", "pom"),
            ("maven2.asset3.extension", "jar"),
            ("maven2.asset3.classifier", "sources"),
        ])
    );
    let parts: Vec<(&str, &str)> = r
        .files
        .iter()
        .map(|p| (p.field.as_str(), p.filename.as_str()))
        .collect();
    assert_eq!(
        parts,
        vec![
            ("maven2.asset1", "app-1.2.0.jar"),
            ("maven2.asset2", "app-1.2.0.pom"),
            ("maven2.asset3", "app-1.2.0-sources.jar"),
        ]
    );
    let base = "com/example/app/1.2.0/app-1.2.0";
    for (suffix, bytes) in [
        (".jar", "jar bytes"),
        (".pom", "<project/>"),
        ("-sources.jar", "sources bytes"),
    ] {
        let stored = f.stored("maven-releases", &format!("{base}{suffix}"));
        assert_eq!(stored.as_deref(), Some(bytes.as_bytes()), "{suffix}");
    }
    let urls = artifact_urls(&dir.path().join("artifact.json"));
    assert_eq!(
        urls,
        vec![
            (
                format!("{base}.jar"),
                format!("{}/repository/maven-releases/{base}.jar", f.base)
            ),
            (
                format!("{base}.pom"),
                format!("{}/repository/maven-releases/{base}.pom", f.base)
            ),
            (
                format!("{base}-sources.jar"),
                format!("{}/repository/maven-releases/{base}-sources.jar", f.base)
            ),
        ]
    );
    let out = drone_output(dir.path());
    assert_eq!(out["UPLOAD_STATUS"], "Success");
    assert_eq!(out["uploaded_count"], "3");
    assert_eq!(out["failed_count"], "0");
    assert_eq!(out["uploaded_bytes"], "32");
    assert_eq!(out["urls"].split(',').count(), 3);
}

#[test]
fn single_file_mode_sends_the_classifier() {
    let f = Fixture::start(Options::nexus3());
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("dist/tool.zip", "zip")]);
    plugin(&f, dir.path(), "maven-releases")
        .env("PLUGIN_FILENAME", "dist/tool.zip")
        .env(
            "PLUGIN_ATTRIBUTES",
            "-CgroupId=org.acme -CartifactId=tool -Cversion=2.0 -Aextension=zip -Aclassifier=linux",
        )
        .run()
        .assert_success();
    let r = &f.received()[0];
    assert_eq!(r.fields["maven2.asset1.classifier"], "linux");
    assert_eq!(
        f.stored("maven-releases", "org/acme/tool/2.0/tool-2.0-linux.zip")
            .as_deref(),
        Some(&b"zip"[..])
    );
}

#[test]
fn generate_pom_and_packaging() {
    let f = Fixture::start(Options::nexus3());
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("lib.war", "war bytes")]);
    plugin(&f, dir.path(), "maven-releases")
        .env(
            "PLUGIN_ARTIFACTS",
            r#"[{"file":"lib.war","groupId":"org.acme","artifactId":"lib","version":"3","type":"war"}]"#,
        )
        .env("PLUGIN_GENERATE_POM", "true")
        .env("PLUGIN_PACKAGING", "war")
        .run()
        .assert_success();
    let r = &f.received()[0];
    assert_eq!(r.fields["maven2.generate-pom"], "true");
    assert_eq!(r.fields["maven2.packaging"], "war");
    let pom = f
        .stored("maven-releases", "org/acme/lib/3/lib-3.pom")
        .unwrap();
    assert!(
        String::from_utf8(pom)
            .unwrap()
            .contains("<packaging>war</packaging>")
    );
}

#[test]
fn raw_files_by_glob_grouped_by_directory() {
    let f = Fixture::start(Options::nexus3());
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("dist/a.txt", "a"),
            ("dist/c.bin", "c"),
            ("dist/sub/b.txt", "b"),
            ("dist/debug.log", "no"),
        ],
    );
    let run = plugin(&f, dir.path(), "raw-hosted")
        .env("PLUGIN_FORMAT", "raw")
        .env("PLUGIN_SOURCE", "dist/**")
        .env("PLUGIN_EXCLUDE", "**/*.log")
        .env("PLUGIN_STRIP_PREFIX", "dist/")
        .env("PLUGIN_TARGET", "site/1.0")
        .env("DRONE_OUTPUT", dir.path().join("out.env"))
        .run();
    run.assert_success();
    let got = f.received();
    assert_eq!(got.len(), 2, "{got:#?}");
    let mut dirs: Vec<&str> = got
        .iter()
        .map(|r| r.fields["raw.directory"].as_str())
        .collect();
    dirs.sort();
    assert_eq!(dirs, vec!["/site/1.0", "/site/1.0/sub"]);
    let top = got
        .iter()
        .find(|r| r.fields["raw.directory"] == "/site/1.0")
        .unwrap();
    assert_eq!(
        top.fields,
        fields(&[
            ("raw.directory", "/site/1.0"),
            ("raw.asset1.filename", "a.txt"),
            ("raw.asset2.filename", "c.bin"),
        ])
    );
    assert_eq!(
        f.paths(),
        vec![
            "raw-hosted/site/1.0/a.txt",
            "raw-hosted/site/1.0/c.bin",
            "raw-hosted/site/1.0/sub/b.txt"
        ]
    );
    assert_eq!(f.stored("raw-hosted", "site/1.0/sub/b.txt").unwrap(), b"b");
    assert_eq!(drone_output(dir.path())["uploaded_count"], "3");
}

#[test]
fn direct_put_on_nexus3() {
    let f = Fixture::start(Options::nexus3());
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("out/a b.txt", "spaced"), ("out/x.json", "{}")],
    );
    plugin(&f, dir.path(), "raw-hosted")
        .env("PLUGIN_FORMAT", "raw")
        .env("PLUGIN_API", "put")
        .env("PLUGIN_SOURCE", "out/*")
        .env("PLUGIN_TARGET", "builds/7")
        .run()
        .assert_success();
    let mut urls: Vec<(String, String, u16)> = f
        .received()
        .into_iter()
        .map(|r| (r.method, r.url, r.status))
        .collect();
    urls.sort();
    assert_eq!(
        urls,
        vec![
            (
                "PUT".into(),
                "/repository/raw-hosted/builds/7/out/a%20b.txt".into(),
                201
            ),
            (
                "PUT".into(),
                "/repository/raw-hosted/builds/7/out/x.json".into(),
                201
            ),
        ]
    );
    assert_eq!(
        f.stored("raw-hosted", "builds/7/out/a b.txt").unwrap(),
        b"spaced"
    );

    // maven2 by PUT: the Maven layout.
    write_files(dir.path(), &[("app.jar", "jar")]);
    plugin(&f, dir.path(), "maven-releases")
        .env("PLUGIN_API", "put")
        .env(
            "PLUGIN_ARTIFACTS",
            r#"[{"file":"app.jar","groupId":"com.example.team","artifactId":"app","version":"1.0","type":"jar"}]"#,
        )
        .run()
        .assert_success();
    let last = f.received().pop().unwrap();
    assert_eq!(
        last.url,
        "/repository/maven-releases/com/example/team/app/1.0/app-1.0.jar"
    );
    assert_eq!(last.headers["content-length"], "3");
}

#[test]
fn nexus2_layout() {
    let f = Fixture::start(Options::nexus2());
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("app.jar", "jar"), ("app-src.jar", "src")]);
    // The anchor's multi-file form: host without scheme + PLUGIN_PROTOCOL.
    let run = Plugin::new("nexus", dir.path())
        .envs([
            ("PLUGIN_SERVER_URL", f.addr.as_str()),
            ("PLUGIN_PROTOCOL", "http"),
            ("PLUGIN_USERNAME", "admin"),
            ("PLUGIN_PASSWORD", "admin123-pw"),
            ("PLUGIN_REPOSITORY", "maven-releases"),
            ("PLUGIN_NEXUS_VERSION", "nexus2"),
            ("PLUGIN_GROUP_ID", "com.example"),
            (
                "PLUGIN_ARTIFACTS",
                r#"[{"file":"app.jar","artifactId":"app","version":"1.0","type":"jar"},
                    {"file":"app-src.jar","artifactId":"app","version":"1.0","type":"jar","classifier":"sources"}]"#,
            ),
        ])
        .env("PLUGIN_ARTIFACT_FILE", dir.path().join("a.json"))
        .run();
    run.assert_success();
    let mut urls: Vec<String> = f.received().into_iter().map(|r| r.url).collect();
    urls.sort();
    assert_eq!(
        urls,
        vec![
            "/content/repositories/maven-releases/com/example/app/1.0/app-1.0-sources.jar",
            "/content/repositories/maven-releases/com/example/app/1.0/app-1.0.jar",
        ]
    );
    assert_eq!(
        f.stored("maven-releases", "com/example/app/1.0/app-1.0-sources.jar")
            .unwrap(),
        b"src"
    );
    let urls = artifact_urls(&dir.path().join("a.json"));
    assert!(urls.iter().any(|(_, u)| u
        == &format!(
            "{}/content/repositories/maven-releases/com/example/app/1.0/app-1.0.jar",
            f.base
        )));
}

#[test]
fn wrong_password_is_one_clear_line_without_the_secret() {
    let f = Fixture::start(Options::nexus3());
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.txt", "a"), ("b.txt", "b")]);
    let secret = "wr0ng-S3cret-value";
    let run = plugin(&f, dir.path(), "raw-hosted")
        .env("PLUGIN_PASSWORD", secret)
        .env("PLUGIN_FORMAT", "raw")
        .env("PLUGIN_API", "put")
        .env("PLUGIN_SOURCE", "*.txt")
        .env("PLUGIN_CONCURRENCY", "1")
        .env("DRONE_OUTPUT", dir.path().join("out.env"))
        .run();
    run.assert_failure();
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains(
            "authentication failed (HTTP 401): check PLUGIN_USERNAME and PLUGIN_PASSWORD"
        ),
        "{}",
        errors[0]
    );
    let out = run.output();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("admin:{secret}"));
    assert!(
        !out.contains(secret) && !out.contains(b64.trim_end_matches('=')),
        "{out}"
    );
    // A 401 is fatal: the second file is not tried (one request, no retries).
    assert_eq!(f.received().len(), 1);
    let o = drone_output(dir.path());
    assert_eq!(o["UPLOAD_STATUS"], "[a.txt b.txt]");
    assert_eq!(o["failed_count"], "2");
}

/// (case, variables, the error wanted).
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_settings_are_refused_before_any_request() {
    let f = Fixture::start(Options::nexus3());
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.jar", "a"), ("bad.pem", "not a cert")]);
    let one = r#"[{"file":"a.jar","groupId":"g","artifactId":"a","version":"1","type":"jar"}]"#;
    let cases: &[Case<'_>] = &[
        (
            "unknown version",
            &[
                ("PLUGIN_ARTIFACTS", one),
                ("PLUGIN_NEXUS_VERSION", "nexus4"),
            ],
            "PLUGIN_NEXUS_VERSION: 'nexus4' is not a Nexus version",
        ),
        (
            "unknown format",
            &[("PLUGIN_ARTIFACTS", one), ("PLUGIN_FORMAT", "maven3")],
            "PLUGIN_FORMAT: 'maven3'",
        ),
        ("no mode", &[], "PLUGIN_ARTIFACTS is required"),
        (
            "two modes",
            &[("PLUGIN_ARTIFACTS", one), ("PLUGIN_SOURCE", "*.jar")],
            "PLUGIN_ARTIFACTS and PLUGIN_SOURCE cannot be used together",
        ),
        (
            "attributes without filename",
            &[(
                "PLUGIN_ATTRIBUTES",
                "-CgroupId=g -CartifactId=a -Cversion=1 -Aextension=jar",
            )],
            "PLUGIN_FILENAME is required",
        ),
        (
            "attributes token",
            &[
                ("PLUGIN_ATTRIBUTES", "-CgroupId=g artifactId=a"),
                ("PLUGIN_FILENAME", "a.jar"),
            ],
            "PLUGIN_ATTRIBUTES: 'artifactId=a' is not",
        ),
        (
            "missing artifactId",
            &[(
                "PLUGIN_ARTIFACTS",
                r#"[{"file":"a.jar","groupId":"g","version":"1","type":"jar"}]"#,
            )],
            "PLUGIN_ARTIFACTS: item 1: 'artifactId' is required",
        ),
        (
            "not json",
            &[("PLUGIN_ARTIFACTS", "- file: a.jar")],
            "PLUGIN_ARTIFACTS: not a JSON list",
        ),
        (
            "missing file",
            &[(
                "PLUGIN_ARTIFACTS",
                r#"[{"file":"nope.jar","groupId":"g","artifactId":"a","version":"1","type":"jar"}]"#,
            )],
            "PLUGIN_ARTIFACTS: cannot read nope.jar",
        ),
        (
            "bad coordinate",
            &[(
                "PLUGIN_ARTIFACTS",
                r#"[{"file":"a.jar","groupId":"g","artifactId":"../a","version":"1","type":"jar"}]"#,
            )],
            "PLUGIN_ARTIFACTS: artifactId '../a'",
        ),
        (
            "duplicate",
            &[(
                "PLUGIN_ARTIFACTS",
                r#"[{"file":"a.jar","groupId":"g","artifactId":"a","version":"1","type":"jar"},{"file":"a.jar","groupId":"g","artifactId":"a","version":"1","type":"jar"}]"#,
            )],
            "both go to g/a/1/a-1.jar",
        ),
        (
            "components on nexus2",
            &[
                ("PLUGIN_ARTIFACTS", one),
                ("PLUGIN_NEXUS_VERSION", "2"),
                ("PLUGIN_API", "components"),
            ],
            "PLUGIN_API: Nexus 2 has no components API",
        ),
        (
            "bad api",
            &[("PLUGIN_ARTIFACTS", one), ("PLUGIN_API", "post")],
            "PLUGIN_API: 'post'",
        ),
        (
            "generate pom with put",
            &[
                ("PLUGIN_ARTIFACTS", one),
                ("PLUGIN_API", "put"),
                ("PLUGIN_GENERATE_POM", "true"),
            ],
            "PLUGIN_GENERATE_POM",
        ),
        (
            "globs for maven2",
            &[("PLUGIN_SOURCE", "*.jar")],
            "PLUGIN_SOURCE: globs upload raw",
        ),
        (
            "empty glob",
            &[("PLUGIN_SOURCE", "*.zip"), ("PLUGIN_FORMAT", "raw")],
            "PLUGIN_SOURCE: source '*.zip' matched no files",
        ),
        (
            "retries",
            &[("PLUGIN_ARTIFACTS", one), ("PLUGIN_RETRIES", "99")],
            "PLUGIN_RETRIES: 99 is more than 10",
        ),
        (
            "concurrency",
            &[("PLUGIN_ARTIFACTS", one), ("PLUGIN_CONCURRENCY", "0")],
            "PLUGIN_CONCURRENCY",
        ),
        (
            "bad bool",
            &[("PLUGIN_ARTIFACTS", one), ("PLUGIN_INSECURE", "yes")],
            "PLUGIN_INSECURE: 'yes' is not a boolean",
        ),
        (
            "bad pem",
            &[
                ("PLUGIN_ARTIFACTS", one),
                ("PLUGIN_PEM_FILE_PATH", "bad.pem"),
            ],
            "bad.pem holds no PEM certificate",
        ),
        (
            "missing pem",
            &[
                ("PLUGIN_ARTIFACTS", one),
                ("PLUGIN_PEM_FILE_PATH", "none.pem"),
            ],
            "PLUGIN_PEM_FILE_PATH: cannot read",
        ),
        (
            "bad scheme",
            &[("PLUGIN_ARTIFACTS", one), ("PLUGIN_SERVER_URL", "ftp://x")],
            "PLUGIN_SERVER_URL: scheme 'ftp'",
        ),
        (
            "bad repo",
            &[("PLUGIN_ARTIFACTS", one), ("PLUGIN_REPOSITORY", "a/b")],
            "PLUGIN_REPOSITORY: 'a/b'",
        ),
        (
            "no password",
            &[("PLUGIN_ARTIFACTS", one), ("PLUGIN_PASSWORD", "")],
            "PLUGIN_PASSWORD is required",
        ),
    ];
    for (case, vars, want) in cases {
        let run: Run = plugin(&f, dir.path(), "maven-releases")
            .envs(vars.iter().copied())
            .run();
        run.assert_refused(want, case);
    }
    assert!(
        f.received().is_empty(),
        "a request went out: {:?}",
        f.received()
    );
}

#[test]
fn transient_503s_are_retried() {
    let f = Fixture::start(Options {
        fail_percent: 20,
        ..Options::nexus3()
    });
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(String, String)> = (0..12)
        .map(|i| (format!("pkg/f{i:02}.txt"), format!("content {i}")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_files(dir.path(), &refs);
    for api in ["put", "components"] {
        plugin(&f, dir.path(), "raw-hosted")
            .env("PLUGIN_FORMAT", "raw")
            .env("PLUGIN_API", api)
            .env("PLUGIN_SOURCE", "pkg/*.txt")
            .env("PLUGIN_TARGET", api)
            .run()
            .assert_success();
        for (name, content) in &files {
            assert_eq!(
                f.stored("raw-hosted", &format!("{api}/{name}")).as_deref(),
                Some(content.as_bytes()),
                "{api} {name}"
            );
        }
    }
    let got = f.received();
    let failed = got.iter().filter(|r| r.status == 503).count();
    assert!(failed >= 3, "{failed} of {} answered 503", got.len());
}

/// The plugin's peak RSS, read from `VmHWM` in /proc/<pid>/status while it runs (the probe
/// variable tells our child from the plugins other tests run at the same time).
fn run_measuring_peak_rss(p: Plugin, probe: &str) -> (Run, u64, usize) {
    let me = std::process::id().to_string();
    let probe_var = format!("NEXUS_RSS_PROBE={probe}");
    let p = p.env("NEXUS_RSS_PROBE", probe);
    let handle = std::thread::spawn(move || p.run());
    let mut peak_kib = 0u64;
    let mut samples = 0usize;
    let mut pid: Option<String> = None;
    while !handle.is_finished() {
        if pid.is_none() {
            pid = std::fs::read_dir("/proc").ok().and_then(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                    .find(|n| {
                        let status = std::fs::read_to_string(format!("/proc/{n}/status"))
                            .unwrap_or_default();
                        let env = std::fs::read(format!("/proc/{n}/environ")).unwrap_or_default();
                        status.lines().any(|l| {
                            l.split_whitespace().collect::<Vec<_>>() == ["PPid:", me.as_str()]
                        }) && env.split(|b| *b == 0).any(|v| v == probe_var.as_bytes())
                    })
            });
        }
        if let Some(p) = &pid
            && let Ok(status) = std::fs::read_to_string(format!("/proc/{p}/status"))
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
            samples += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    (handle.join().unwrap(), peak_kib, samples)
}

#[test]
fn a_large_file_is_streamed_with_flat_memory() {
    const SIZE: usize = 50 * 1024 * 1024;
    let f = Fixture::start(Options::nexus3());
    let dir = tempfile::tempdir().unwrap();
    // Not one repeated byte: a body assembled out of order would not compare equal.
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    for (api, repo_path) in [
        ("components", "com/example/big/1/big-1.bin"),
        ("put", "com/example/big/1/big-1.bin"),
    ] {
        let p = plugin(&f, dir.path(), "maven-releases")
            .env("PLUGIN_API", api)
            .env(
                "PLUGIN_ARTIFACTS",
                r#"[{"file":"big.bin","groupId":"com.example","artifactId":"big","version":"1","type":"bin"}]"#,
            );
        let (run, peak_kib, samples) = run_measuring_peak_rss(p, api);
        run.assert_success();
        assert!(samples > 0, "{api}: the plugin was never sampled");
        let peak_mib = peak_kib / 1024;
        eprintln!("{api}: peak RSS (VmHWM) {peak_mib} MiB for a 50 MiB file ({samples} samples)");
        assert!(
            peak_mib < 25,
            "{api}: peak RSS {peak_mib} MiB: the file was buffered"
        );
        let stored = f.stored("maven-releases", repo_path).unwrap();
        assert!(stored == data, "{api}: stored bytes differ");
    }
}

#[test]
fn server_refusals_are_surfaced_with_their_message() {
    let f = Fixture::start(Options::nexus3());
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.jar", "a")]);
    let one = r#"[{"file":"a.jar","groupId":"g","artifactId":"a","version":"1","type":"jar"}]"#;
    // maven2 fields sent to a raw repository: the fixture's 400 message reaches the log.
    let run = plugin(&f, dir.path(), "raw-hosted")
        .env("PLUGIN_ARTIFACTS", one)
        .run();
    run.assert_failure();
    let err = run.stderr.lines().find(|l| l.contains("ERROR")).unwrap();
    assert!(
        err.contains("component upload refused (HTTP 400)") && err.contains("unknown raw field"),
        "{err}"
    );
    // An unknown repository is a 404, fatal, not retried.
    let run = plugin(&f, dir.path(), "nope")
        .env("PLUGIN_ARTIFACTS", one)
        .run();
    run.assert_failure();
    assert!(
        run.stderr.contains("not found (HTTP 404)"),
        "{}",
        run.stderr
    );
    assert_eq!(f.received().iter().filter(|r| r.status == 404).count(), 1);
}
