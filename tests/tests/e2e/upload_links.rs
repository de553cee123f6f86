//! Issue 20, the upload side, as an attacker would try it against the release binaries: links
//! planted in a download target (s3s-fs, the gcs emulator), links that lead jfrog out of the
//! workspace or around an exclude, and a hostile GCS server (a `nextPageToken` repeated forever,
//! a gzip bomb). Each test also checks that the legitimate case still works.

use std::io::Write as _;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

use longshore_tests::artifactory_fixture::{Artifactory, TOKEN};
use longshore_tests::{Plugin, Services, require_services, unique, write_files};

fn s3sfs(s: &Services, dir: &Path) -> Plugin {
    Plugin::new("s3", dir).envs([
        ("PLUGIN_BUCKET", s.bucket.as_str()),
        ("PLUGIN_ENDPOINT", s.s3sfs.as_str()),
        ("PLUGIN_PATH_STYLE", "true"),
        ("PLUGIN_ACCESS_KEY", s.s3sfs_access_key.as_str()),
        ("PLUGIN_SECRET_KEY", s.s3sfs_secret_key.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ])
}

/// `target/link -> elsewhere` and `target/.ok.txt.longshore-partial -> elsewhere/victim`, the
/// links of the issue; returns `elsewhere`.
fn plant_links(target: &Path, root: &Path) -> std::path::PathBuf {
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("victim"), "keep").unwrap();
    std::fs::create_dir_all(target).unwrap();
    symlink(&elsewhere, target.join("link")).unwrap();
    symlink(
        elsewhere.join("victim"),
        target.join(".ok.txt.longshore-partial"),
    )
    .unwrap();
    elsewhere
}

fn assert_untouched(elsewhere: &Path) {
    assert!(
        !elsewhere.join("inside.txt").exists(),
        "written through a link"
    );
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("victim")).unwrap(),
        "keep"
    );
}

#[test]
fn s3_download_does_not_write_through_links_in_the_target() {
    let s = require_services!();
    let up = tempfile::tempdir().unwrap();
    write_files(
        up.path(),
        &[("pre/link/inside.txt", "attack"), ("pre/ok.txt", "fine")],
    );
    let prefix = unique("links");
    s3sfs(&s, up.path())
        .env("PLUGIN_SOURCE", "pre/**")
        .env("PLUGIN_TARGET", &prefix)
        .env("PLUGIN_STRIP_PREFIX", "pre/")
        .run()
        .assert_success();
    let root = tempfile::tempdir().unwrap();
    let elsewhere = plant_links(&root.path().join("dl"), root.path());
    let run = s3sfs(&s, root.path())
        .env("PLUGIN_DOWNLOAD", "true")
        .env("PLUGIN_SOURCE", &prefix)
        .env("PLUGIN_TARGET", "dl")
        .run();
    run.assert_failure();
    assert!(
        run.output().contains("'link' is a symbolic link"),
        "{}",
        run.output()
    );
    assert_untouched(&elsewhere);
    // The legitimate object still lands, over nothing planted.
    let ok = root.path().join("dl/ok.txt");
    assert_eq!(std::fs::read_to_string(&ok).unwrap(), "fine");
    assert!(std::fs::symlink_metadata(&ok).unwrap().is_file());
}

/// The emulator, or `None` (skipped) when this env file predates it.
fn emulator(s: &Services) -> Option<(String, String)> {
    (!s.gcs_emulator.is_empty()).then(|| (s.gcs_emulator.clone(), s.gcs_bucket.clone()))
}

fn gcs(dir: &Path, emu: &str) -> Plugin {
    Plugin::new("gcs", dir).env("STORAGE_EMULATOR_HOST", emu.trim_start_matches("http://"))
}

#[test]
fn gcs_download_does_not_write_through_links_in_the_target() {
    let s = require_services!();
    let Some((emu, bucket)) = emulator(&s) else {
        return;
    };
    let up = tempfile::tempdir().unwrap();
    write_files(
        up.path(),
        &[("pre/link/inside.txt", "attack"), ("pre/ok.txt", "fine")],
    );
    let prefix = unique("links");
    gcs(up.path(), &emu)
        .env("PLUGIN_SOURCE", "pre")
        .env("PLUGIN_TARGET", format!("{bucket}/{prefix}"))
        .run()
        .assert_success();
    let root = tempfile::tempdir().unwrap();
    // gcs writes each object at `target/<full object name>`.
    let elsewhere = plant_links(&root.path().join("dl").join(&prefix), root.path());
    let run = gcs(root.path(), &emu)
        .env("PLUGIN_DOWNLOAD", "true")
        .env("PLUGIN_SOURCE", format!("{bucket}/{prefix}/"))
        .env("PLUGIN_TARGET", "dl")
        .run();
    run.assert_failure();
    assert!(
        run.output().contains("is a symbolic link"),
        "{}",
        run.output()
    );
    assert_untouched(&elsewhere);
    let ok = root.path().join("dl").join(&prefix).join("ok.txt");
    assert_eq!(std::fs::read_to_string(&ok).unwrap(), "fine");
}

#[test]
fn an_exclude_also_applies_to_where_a_link_points() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("secret/key.pem", "PRIVATE KEY"),
            ("dist/app.txt", "app"),
            ("dist/real.txt", "real"),
        ],
    );
    symlink("../secret/key.pem", dir.path().join("dist/alias.pem")).unwrap();
    symlink("real.txt", dir.path().join("dist/same.txt")).unwrap();
    let prefix = unique("excl");
    let run = s3sfs(&s, dir.path())
        .env("PLUGIN_SOURCE", "dist/**")
        .env("PLUGIN_EXCLUDE", "secret/**")
        .env("PLUGIN_TARGET", &prefix)
        .env("PLUGIN_DRY_RUN", "true")
        .run();
    run.assert_success();
    let out = run.output();
    assert!(!out.contains("alias.pem"), "{out}");
    // A link inside the tree to a file no exclude names is uploaded as before.
    for f in ["dist/app.txt", "dist/real.txt", "dist/same.txt"] {
        assert!(out.contains(&format!("{f} → ")), "{f}: {out}");
    }
}

#[test]
fn jfrog_follows_links_only_inside_the_workspace() {
    let fx = Artifactory::start(&["libs"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_files(d, &[("dist/a.txt", "a")]);
    symlink("/etc/passwd", d.join("dist/passwd")).unwrap();
    symlink("/etc", d.join("dist/etc")).unwrap();
    symlink("/proc/self/environ", d.join("dist/env")).unwrap();
    symlink("a.txt", d.join("dist/b.txt")).unwrap();
    let run = Plugin::new("jfrog", d)
        .env("PLUGIN_URL", fx.url())
        .env("PLUGIN_ACCESS_TOKEN", TOKEN)
        .env("PLUGIN_SOURCE", "dist/")
        .env("PLUGIN_TARGET", "libs/d/")
        .run();
    run.assert_success();
    let keys: Vec<String> = fx.artifacts().into_keys().collect();
    assert!(
        keys.iter()
            .all(|k| k.ends_with("/a.txt") || k.ends_with("/b.txt")),
        "{keys:?}\n{}",
        run.output()
    );
    assert_eq!(keys.len(), 2, "{keys:?}\n{}", run.output());
    // A literal source that is itself a link out of the workspace is refused.
    let run = Plugin::new("jfrog", d)
        .env("PLUGIN_URL", fx.url())
        .env("PLUGIN_ACCESS_TOKEN", TOKEN)
        .env("PLUGIN_SOURCE", "dist/passwd")
        .env("PLUGIN_TARGET", "libs/x/")
        .run();
    run.assert_failure();
    assert!(
        run.output().contains("outside the working directory"),
        "{}",
        run.output()
    );
}

/// A fake GCS JSON API: listings under any prefix answer `list`, downloads answer `media`.
struct FakeGcs {
    server: Arc<tiny_http::Server>,
    base: String,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeGcs {
    fn start(list: serde_json::Value, media: Vec<u8>) -> FakeGcs {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let base = format!("http://{}", server.server_addr().to_ip().unwrap());
        let srv = server.clone();
        let thread = std::thread::spawn(move || {
            for req in srv.incoming_requests() {
                let body = if req.url().starts_with("/download/") {
                    media.clone()
                } else {
                    serde_json::to_vec(&list).unwrap()
                };
                let _ = req.respond(tiny_http::Response::from_data(body));
            }
        });
        FakeGcs {
            server,
            base,
            thread: Some(thread),
        }
    }

    fn plugin(&self, dir: &Path) -> Plugin {
        Plugin::new("gcs", dir)
            .env(
                "STORAGE_EMULATOR_HOST",
                self.base.trim_start_matches("http://"),
            )
            .env("PLUGIN_ENDPOINT", &self.base)
            .env("PLUGIN_DOWNLOAD", "true")
            .env("PLUGIN_SOURCE", "bucket/pre/")
            .env("PLUGIN_TARGET", "dl")
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn gcs_listing_that_repeats_its_page_token_stops() {
    let fake = FakeGcs::start(
        serde_json::json!({"items": [], "nextPageToken": "again"}),
        Vec::new(),
    );
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let run = fake.plugin(dir.path()).run();
    run.assert_failure();
    assert!(
        run.output().contains("repeated a nextPageToken"),
        "{}",
        run.output()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gcs_gzip_download_is_capped_at_its_stated_size() {
    let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
    let item = |original: usize| {
        serde_json::json!({"items": [{
            "name": "pre/x.txt",
            "size": bomb.len().to_string(),
            "contentEncoding": "gzip",
            "metadata": {"longshore-original-size": original.to_string()},
        }]})
    };
    // States 10 bytes, decodes to 64 MiB: refused, nothing left behind.
    let fake = FakeGcs::start(item(10), bomb.clone());
    let dir = tempfile::tempdir().unwrap();
    let run = fake.plugin(dir.path()).run();
    run.assert_failure();
    assert!(
        run.output().contains("decodes to more than 10 bytes"),
        "{}",
        run.output()
    );
    let left: Vec<_> = std::fs::read_dir(dir.path().join("dl/pre"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    drop(fake);
    // The same object stating its real size downloads.
    let fake = FakeGcs::start(item(64 * 1024 * 1024), bomb);
    let run = fake.plugin(dir.path()).run();
    run.assert_success();
    let got = std::fs::metadata(dir.path().join("dl/pre/x.txt")).unwrap();
    assert_eq!(got.len(), 64 * 1024 * 1024);
}
