//! End-to-end tests of `longshore-s3` against s3s-fs (signatures and checksums verified) and
//! moto (ACLs, encryption, storage classes, STS), checked with the AWS CLI.

use std::collections::BTreeMap;
use std::path::Path;

use longshore_tests::{Plugin, Services, aws_cli, require_services, unique, write_files};

const MOTO_KEYS: (&str, &str) = ("testing", "testing");

fn s3sfs_keys(s: &Services) -> (&str, &str) {
    (&s.s3sfs_access_key, &s.s3sfs_secret_key)
}

/// The plugin against s3s-fs with its real keys, as a user of an S3-compatible store sets it up.
fn s3sfs_plugin(s: &Services, dir: &Path) -> Plugin {
    Plugin::new("s3", dir).envs([
        ("PLUGIN_BUCKET", s.bucket.as_str()),
        ("PLUGIN_ENDPOINT", s.s3sfs.as_str()),
        ("PLUGIN_PATH_STYLE", "true"),
        ("PLUGIN_ACCESS_KEY", s.s3sfs_access_key.as_str()),
        ("PLUGIN_SECRET_KEY", s.s3sfs_secret_key.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ])
}

fn moto_plugin(s: &Services, dir: &Path) -> Plugin {
    Plugin::new("s3", dir).envs([
        ("PLUGIN_BUCKET", s.bucket.as_str()),
        ("PLUGIN_ENDPOINT", s.moto.as_str()),
        ("PLUGIN_PATH_STYLE", "true"),
        ("PLUGIN_ACCESS_KEY", MOTO_KEYS.0),
        ("PLUGIN_SECRET_KEY", MOTO_KEYS.1),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ])
}

/// Keys and sizes under a prefix, as the AWS CLI lists them.
fn list(s: &Services, endpoint: &str, keys: (&str, &str), prefix: &str) -> BTreeMap<String, u64> {
    let run = aws_cli(
        s,
        endpoint,
        keys,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            &s.bucket,
            "--prefix",
            prefix,
            "--output",
            "json",
        ],
    );
    run.assert_success();
    if run.stdout.trim().is_empty() {
        return BTreeMap::new();
    }
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    v["Contents"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    (
                        o["Key"].as_str().unwrap().to_string(),
                        o["Size"].as_u64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn head(s: &Services, endpoint: &str, keys: (&str, &str), key: &str) -> serde_json::Value {
    let run = aws_cli(
        s,
        endpoint,
        keys,
        &[
            "s3api",
            "head-object",
            "--bucket",
            &s.bucket,
            "--key",
            key,
            "--output",
            "json",
        ],
    );
    run.assert_success();
    serde_json::from_str(&run.stdout).unwrap()
}

/// Downloads `key` from s3s-fs with the AWS CLI.
fn fetch_from_s3sfs(s: &Services, key: &str, to: &Path) {
    aws_cli(
        s,
        &s.s3sfs,
        s3sfs_keys(s),
        &[
            "s3",
            "cp",
            &format!("s3://{}/{key}", s.bucket),
            to.to_str().unwrap(),
        ],
    )
    .assert_success();
}

fn md5_of(path: &Path) -> String {
    let out = std::process::Command::new("md5sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn uploads_a_tree_with_excludes_content_types_and_a_multipart_file() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("site/index.html", "<html></html>"),
        ("site/notes.txt", "notes"),
        ("site/js/app.js", "console.log(1)"),
        ("site/js/app.js.map", "{}"),
        ("site/css/main.css", "a{}"),
        ("site/data/info.json", "{}"),
        ("site/img/logo.svg", "<svg/>"),
        ("site/bin/mod.wasm", "\0asm"),
        ("site/fonts/f.woff2", "wOF2"),
        ("site/dl/pkg.zip", "PK"),
        ("site/dl/src.tar.gz", "gz"),
        ("site/deep/a/b/c/d.txt", "deep"),
    ];
    write_files(dir.path(), &files);
    let big = dir.path().join("site/dl/big.bin");
    std::fs::write(
        &big,
        (0..40u32 * 1024 * 1024)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let prefix = unique("tree");
    let out = dir.path().join("out.env");
    let artifact = dir.path().join("artifact.json");
    let run = s3sfs_plugin(&s, dir.path())
        .env("PLUGIN_SOURCE", "site/**/*")
        .env("PLUGIN_EXCLUDE", "**/*.map")
        .env("PLUGIN_TARGET", &prefix)
        .env("PLUGIN_STRIP_PREFIX", "site/")
        .env(
            "PLUGIN_CACHE_CONTROL",
            r#"{"\\.html$": "no-cache", ".*": "max-age=3600"}"#,
        )
        .env("PLUGIN_METADATA", r#"{"build": "42"}"#)
        .env("PLUGIN_ARTIFACT_FILE", &artifact)
        .env("DRONE_OUTPUT", &out)
        .run();
    run.assert_success();
    assert!(
        !run.output().contains(&s.s3sfs_secret_key),
        "secret in output"
    );

    let listed = list(&s, &s.s3sfs, s3sfs_keys(&s), &format!("{prefix}/"));
    let mut want: BTreeMap<String, u64> = files
        .iter()
        .filter(|(p, _)| !p.ends_with(".map"))
        .map(|(p, c)| {
            (
                format!("{prefix}/{}", p.trim_start_matches("site/")),
                c.len() as u64,
            )
        })
        .collect();
    want.insert(format!("{prefix}/dl/big.bin"), 40 * 1024 * 1024);
    assert_eq!(listed, want);

    let types = [
        ("index.html", "text/html"),
        ("notes.txt", "text/plain"),
        ("js/app.js", "text/javascript"),
        ("css/main.css", "text/css"),
        ("data/info.json", "application/json"),
        ("img/logo.svg", "image/svg+xml"),
        ("bin/mod.wasm", "application/wasm"),
        ("fonts/f.woff2", "font/woff2"),
        ("dl/pkg.zip", "application/zip"),
        ("dl/src.tar.gz", "application/gzip"),
    ];
    for (k, ct) in types {
        let h = head(&s, &s.s3sfs, s3sfs_keys(&s), &format!("{prefix}/{k}"));
        assert_eq!(h["ContentType"], ct, "{k}");
        assert_eq!(h["Metadata"]["build"], "42", "{k}");
        let cc = if k.ends_with(".html") {
            "no-cache"
        } else {
            "max-age=3600"
        };
        assert_eq!(h["CacheControl"], cc, "{k}");
    }
    // The 40 MiB file went multipart and reads back byte-identical.
    let h = head(
        &s,
        &s.s3sfs,
        s3sfs_keys(&s),
        &format!("{prefix}/dl/big.bin"),
    );
    assert!(
        h["ETag"].as_str().unwrap().contains('-'),
        "not multipart: {h}"
    );
    let back = dir.path().join("back.bin");
    fetch_from_s3sfs(&s, &format!("{prefix}/dl/big.bin"), &back);
    assert_eq!(md5_of(&back), md5_of(&big));

    let vars = std::fs::read_to_string(&out).unwrap();
    assert!(vars.contains("uploaded_count=\"12\""), "{vars}");
    let art: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&artifact).unwrap()).unwrap();
    assert_eq!(art["kind"], "fileUpload/v1");
    let urls: Vec<&str> = art["data"]["fileArtifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["url"].as_str().unwrap())
        .collect();
    assert!(
        urls.contains(&format!("{}/{}/{prefix}/index.html", s.s3sfs, s.bucket).as_str()),
        "{urls:?}"
    );
}

/// Every `PLUGIN_CHECKSUM` against s3s-fs, which verifies Content-MD5 and the flexible checksum
/// headers (a wrong value is `BadDigest`): a small object and a multipart one each time, read
/// back byte-identical, and the flexible checksum stored on the small object is the known one.
#[test]
fn every_checksum_is_accepted_by_a_store_that_verifies_it() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("up/hello.txt", "hello world")]);
    let big = dir.path().join("up/big.bin");
    std::fs::write(
        &big,
        (0..20u32 * 1024 * 1024 + 5)
            .map(|i| (i.wrapping_mul(2246822519) >> 11) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    // The values of "hello world" in S3's encoding (base64 of the big-endian digest).
    let known = [
        ("md5", None),
        ("crc32", Some(("ChecksumCRC32", "DUoRhQ=="))),
        ("crc32c", Some(("ChecksumCRC32C", "yZRlqg=="))),
        (
            "sha256",
            Some((
                "ChecksumSHA256",
                "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
            )),
        ),
        ("none", None),
    ];
    for (name, stored) in known {
        let prefix = unique(&format!("sum-{name}"));
        let run = s3sfs_plugin(&s, dir.path())
            .env("PLUGIN_SOURCE", "up/*")
            .env("PLUGIN_STRIP_PREFIX", "up/")
            .env("PLUGIN_TARGET", &prefix)
            .env("PLUGIN_CHECKSUM", name)
            .run();
        run.assert_success();
        let listed = list(&s, &s.s3sfs, s3sfs_keys(&s), &format!("{prefix}/"));
        assert_eq!(listed.len(), 2, "{name}: {listed:?}");
        let back = dir.path().join(format!("back-{name}.bin"));
        fetch_from_s3sfs(&s, &format!("{prefix}/big.bin"), &back);
        assert_eq!(md5_of(&back), md5_of(&big), "{name}: multipart object");
        let h = aws_cli(
            &s,
            &s.s3sfs,
            s3sfs_keys(&s),
            &[
                "s3api",
                "head-object",
                "--bucket",
                &s.bucket,
                "--key",
                &format!("{prefix}/hello.txt"),
                "--checksum-mode",
                "ENABLED",
                "--output",
                "json",
            ],
        );
        h.assert_success();
        let h: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
        // md5("hello world"): the single-part ETag.
        if name == "md5" {
            assert_eq!(h["ETag"], "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"", "{h}");
        }
        if let Some((field, value)) = stored {
            assert_eq!(h[field], value, "{name}: {h}");
        }
    }
}

#[test]
fn acl_encryption_and_storage_class_reach_the_objects() {
    // moto, because s3s-fs implements none of the three (shape only: moto checks no auth).
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.txt", "a"), ("b.txt", "b")]);
    let prefix = unique("acl");
    moto_plugin(&s, dir.path())
        .env("PLUGIN_SOURCE", "*.txt")
        .env("PLUGIN_TARGET", &prefix)
        .env("PLUGIN_ACL", "public-read")
        .env("PLUGIN_ENCRYPTION", "AES256")
        .env("PLUGIN_STORAGE_CLASS", "STANDARD_IA")
        .run()
        .assert_success();
    let key = format!("{prefix}/a.txt");
    let h = head(&s, &s.moto, MOTO_KEYS, &key);
    assert_eq!(h["ServerSideEncryption"], "AES256");
    assert_eq!(h["StorageClass"], "STANDARD_IA");
    let acl = aws_cli(
        &s,
        &s.moto,
        MOTO_KEYS,
        &[
            "s3api",
            "get-object-acl",
            "--bucket",
            &s.bucket,
            "--key",
            &key,
            "--output",
            "json",
        ],
    );
    acl.assert_success();
    assert!(
        acl.stdout
            .contains("http://acs.amazonaws.com/groups/global/AllUsers"),
        "{}",
        acl.stdout
    );
    assert!(acl.stdout.contains("READ"));
}

#[test]
fn assume_role_with_external_id_is_used_even_with_static_keys() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("r.txt", "role")]);
    let prefix = unique("role");
    let run = moto_plugin(&s, dir.path())
        .env("PLUGIN_SOURCE", "r.txt")
        .env("PLUGIN_TARGET", &prefix)
        .env(
            "PLUGIN_ASSUME_ROLE",
            "arn:aws:iam::123456789012:role/deployer",
        )
        .env("PLUGIN_EXTERNAL_ID", "ext-123")
        .env("AWS_ENDPOINT_URL_STS", &s.moto)
        .run();
    run.assert_success();
    assert!(
        run.output()
            .contains("assume role arn:aws:iam::123456789012:role/deployer with external id"),
        "{}",
        run.output()
    );
    assert_eq!(list(&s, &s.moto, MOTO_KEYS, &format!("{prefix}/")).len(), 1);
    // The role really is assumed through STS: with STS unreachable the step fails.
    let dead = moto_plugin(&s, dir.path())
        .env("PLUGIN_SOURCE", "r.txt")
        .env("PLUGIN_TARGET", unique("role-dead"))
        .env(
            "PLUGIN_ASSUME_ROLE",
            "arn:aws:iam::123456789012:role/deployer",
        )
        .env("PLUGIN_EXTERNAL_ID", "ext-123")
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
        .run();
    dead.assert_failure();
}

#[test]
fn download_mode_fetches_more_than_a_thousand_objects() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(String, String)> = (0..1005)
        .map(|i| (format!("many/f{i:04}.txt"), format!("file {i}")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_files(dir.path(), &refs);
    let prefix = unique("dl");
    s3sfs_plugin(&s, dir.path())
        .env("PLUGIN_SOURCE", "many")
        .env("PLUGIN_TARGET", &prefix)
        .env("PLUGIN_STRIP_PREFIX", "many/")
        .run()
        .assert_success();
    let down = tempfile::tempdir().unwrap();
    let run = s3sfs_plugin(&s, down.path())
        .env("PLUGIN_DOWNLOAD", "true")
        .env("PLUGIN_SOURCE", &prefix)
        .env("PLUGIN_TARGET", "out")
        .run();
    run.assert_success();
    let got = std::fs::read_dir(down.path().join("out")).unwrap().count();
    assert_eq!(got, 1005, "{}", run.output());
    assert_eq!(
        std::fs::read_to_string(down.path().join("out/f1004.txt")).unwrap(),
        "file 1004"
    );
}

#[test]
fn dry_run_uploads_nothing_and_prints_the_table() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("d/a.txt", "a")]);
    let prefix = unique("dry");
    let run = s3sfs_plugin(&s, dir.path())
        .env("PLUGIN_SOURCE", "d/*.txt")
        .env("PLUGIN_TARGET", &prefix)
        .env("PLUGIN_DRY_RUN", "true")
        .run();
    run.assert_success();
    assert!(
        run.output()
            .contains(&format!("d/a.txt → s3://{}/{prefix}/d/a.txt", s.bucket)),
        "{}",
        run.output()
    );
    assert!(list(&s, &s.s3sfs, s3sfs_keys(&s), &format!("{prefix}/")).is_empty());
}

#[test]
fn skip_unchanged_uploads_nothing_the_second_time() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("u/a.txt", "a"), ("u/b.txt", "b")]);
    let prefix = unique("skip");
    let go = || {
        s3sfs_plugin(&s, dir.path())
            .env("PLUGIN_SOURCE", "u")
            .env("PLUGIN_TARGET", &prefix)
            .env("PLUGIN_SKIP_UNCHANGED", "true")
            .run()
    };
    let first = go();
    first.assert_success();
    assert!(
        first.output().contains("2 uploaded, 0 skipped"),
        "{}",
        first.output()
    );
    let second = go();
    second.assert_success();
    assert!(
        second.output().contains("0 uploaded, 2 skipped"),
        "{}",
        second.output()
    );
    std::fs::write(dir.path().join("u/b.txt"), "changed").unwrap();
    let third = go();
    assert!(
        third.output().contains("1 uploaded, 1 skipped"),
        "{}",
        third.output()
    );
}

fn one_error_line(run: &longshore_tests::Run) -> String {
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    errors[0].to_string()
}

#[test]
fn missing_bucket_bad_credentials_and_unreadable_file_fail_with_one_line() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("e/a.txt", "a"), ("e/b.txt", "b")]);

    // moto: s3s-fs 0.14.1 creates a missing bucket's directory on PutObject instead of failing.
    let run = moto_plugin(&s, dir.path())
        .env("PLUGIN_BUCKET", "longshore-no-such-bucket")
        .env("PLUGIN_SOURCE", "e")
        .run();
    run.assert_failure();
    assert!(
        one_error_line(&run).contains("NoSuchBucket"),
        "{}",
        run.stderr
    );

    let wrong = "Wr0ngS3cret+key/for-test";
    let run = s3sfs_plugin(&s, dir.path())
        .env("PLUGIN_SECRET_KEY", wrong)
        .env("PLUGIN_SOURCE", "e")
        .run();
    run.assert_failure();
    assert!(
        one_error_line(&run).contains("SignatureDoesNotMatch"),
        "{}",
        run.stderr
    );
    assert!(!run.output().contains(wrong) && !run.output().contains(&s.s3sfs_secret_key));

    let unreadable = dir.path().join("e/secret.txt");
    std::fs::write(&unreadable, "x").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads any file: make it a directory entry that cannot be opened instead.
    std::fs::remove_file(&unreadable).unwrap();
    std::os::unix::fs::symlink("/proc/self/mem-does-not-exist", &unreadable).unwrap();
    let run = s3sfs_plugin(&s, dir.path())
        .env("PLUGIN_SOURCE", "e/secret.txt")
        .run();
    run.assert_failure();
    assert!(
        one_error_line(&run).contains("PLUGIN_SOURCE"),
        "{}",
        run.stderr
    );
}

#[test]
fn oidc_web_identity_and_a_second_role_hop() {
    // moto's STS answers AssumeRoleWithWebIdentity and AssumeRole (it checks no signature).
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("w.txt", "web identity")]);
    let prefix = unique("oidc");
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsb25nc2hvcmUifQ.c2lnbmF0dXJlLW9pZGMtdGVzdA";
    let run = Plugin::new("s3", dir.path())
        .envs([
            ("PLUGIN_BUCKET", s.bucket.as_str()),
            ("PLUGIN_ENDPOINT", s.moto.as_str()),
            ("PLUGIN_PATH_STYLE", "true"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ENDPOINT_URL_STS", s.moto.as_str()),
            ("PLUGIN_SOURCE", "w.txt"),
            ("PLUGIN_ASSUME_ROLE", "arn:aws:iam::123456789012:role/oidc"),
            ("PLUGIN_OIDC_TOKEN_ID", token),
            (
                "PLUGIN_USER_ROLE_ARN",
                "arn:aws:iam::210987654321:role/cross",
            ),
            ("PLUGIN_USER_ROLE_EXTERNAL_ID", "hop-2"),
        ])
        .env("PLUGIN_TARGET", &prefix)
        .run();
    run.assert_success();
    let out = run.output();
    assert!(
        out.contains("web identity for role arn:aws:iam::123456789012:role/oidc"),
        "{out}"
    );
    assert!(
        out.contains("then assume role arn:aws:iam::210987654321:role/cross"),
        "{out}"
    );
    assert!(!out.contains(token), "token leaked");
    assert_eq!(list(&s, &s.moto, MOTO_KEYS, &format!("{prefix}/")).len(), 1);
}

#[test]
fn invalid_settings_are_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("f.txt", "f")]);
    // Every endpoint points at a closed port: a request would fail differently.
    let base = [
        ("PLUGIN_BUCKET", "longshore-test"),
        ("PLUGIN_ENDPOINT", "http://127.0.0.1:9"),
        ("PLUGIN_SOURCE", "f.txt"),
        ("PLUGIN_ACCESS_KEY", "k"),
        ("PLUGIN_SECRET_KEY", "Secr3t-value-abc"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let cases: &[(&str, &str, &str)] = &[
        ("PLUGIN_BUCKET", "", "PLUGIN_BUCKET is required"),
        (
            "PLUGIN_BUCKET",
            "Bad_Bucket",
            "PLUGIN_BUCKET: 'Bad_Bucket' is not a valid bucket name",
        ),
        ("PLUGIN_SOURCE", "", "PLUGIN_SOURCE is required"),
        ("PLUGIN_SOURCE", "missing.txt", "PLUGIN_SOURCE:"),
        (
            "PLUGIN_SOURCE",
            "[\"f.txt\"",
            "PLUGIN_SOURCE: looks like a JSON array",
        ),
        (
            "PLUGIN_PATH_STYLE",
            "yes",
            "PLUGIN_PATH_STYLE: 'yes' is not a boolean",
        ),
        (
            "PLUGIN_DRY_RUN",
            "maybe",
            "PLUGIN_DRY_RUN: 'maybe' is not a boolean",
        ),
        (
            "PLUGIN_CONCURRENCY",
            "0",
            "PLUGIN_CONCURRENCY: 0 is not between",
        ),
        (
            "PLUGIN_CONCURRENCY",
            "many",
            "PLUGIN_CONCURRENCY: 'many' is not a whole number",
        ),
        (
            "PLUGIN_ACL",
            "world-writable",
            "PLUGIN_ACL: 'world-writable' is not a canned ACL",
        ),
        ("PLUGIN_ENCRYPTION", "rot13", "PLUGIN_ENCRYPTION:"),
        ("PLUGIN_STORAGE_CLASS", "COLD", "PLUGIN_STORAGE_CLASS:"),
        (
            "PLUGIN_KMS_KEY_ID",
            "key-1",
            "PLUGIN_KMS_KEY_ID: needs PLUGIN_ENCRYPTION=aws:kms",
        ),
        (
            "PLUGIN_CONTENT_TYPE",
            "{\"[\": \"x\"}",
            "PLUGIN_CONTENT_TYPE:",
        ),
        ("PLUGIN_CACHE_CONTROL", "{not json", "PLUGIN_CACHE_CONTROL:"),
        (
            "PLUGIN_METADATA",
            "[1]",
            "PLUGIN_METADATA: not a JSON object",
        ),
        ("PLUGIN_ENDPOINT", "ftp://x", "PLUGIN_ENDPOINT:"),
        (
            "PLUGIN_CHECKSUM",
            "crc64",
            "PLUGIN_CHECKSUM: 'crc64' is not one of auto, md5, crc32, crc32c, sha256, none",
        ),
        ("PLUGIN_STRIP_PREFIX", "/a//b/", "PLUGIN_STRIP_PREFIX:"),
        ("PLUGIN_TARGET", "../../up", "PLUGIN_TARGET:"),
        ("PLUGIN_SECRET_KEY", "", "PLUGIN_SECRET_KEY is required"),
        (
            "PLUGIN_OIDC_TOKEN_ID",
            "tok-abcdef",
            "PLUGIN_ASSUME_ROLE is required",
        ),
        (
            "PLUGIN_ENV_FILE",
            "/nonexistent.env",
            "PLUGIN_ENV_FILE: cannot read",
        ),
    ];
    for (var, value, want) in cases {
        let mut p = Plugin::new("s3", dir.path());
        for (k, v) in base {
            if k != *var {
                p = p.env(k, v);
            }
        }
        let run = p.env(var, value).run();
        run.assert_refused(want, &format!("{var}={value}"));
        assert!(!run.output().contains("Secr3t-value-abc"), "secret leaked");
        assert!(
            !run.output().contains("credentials:"),
            "{var}: got as far as credentials"
        );
    }
}
