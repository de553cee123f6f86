//! End-to-end tests of `longshore-gcs` against gcp-storage-emulator (checked through its JSON
//! API), and the Google OAuth2 / STS / IAM fixtures for the credentials. A small recording
//! proxy in front of the emulator sees the `Authorization` of every storage request and pages
//! object listings by `maxResults` / `pageToken` as GCS does (the emulator ignores both and
//! returns everything in one page). Object counts stay small: the emulator rewrites its whole
//! index on every write.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use longshore_tests::google_fixture::{
    ACCESS_TOKEN, Fixture, Role, service_account_json, test_key,
};
use longshore_tests::{Plugin, Run, Services, require_services, unique, write_files};

/// The emulator, or `None` when this env file predates it (a failure under CI).
fn emulator(s: &Services) -> Option<(String, String)> {
    if s.gcs_emulator.is_empty() {
        let msg = "LONGSHORE_GCS_EMULATOR is missing: run tests/scripts/services-up.sh";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipped: {msg}");
        return None;
    }
    Some((s.gcs_emulator.clone(), s.gcs_bucket.clone()))
}

macro_rules! require_emulator {
    () => {{
        let s = require_services!();
        match emulator(&s) {
            Some(e) => e,
            None => return,
        }
    }};
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Object resources under `prefix`, by name.
fn objects(emu: &str, bucket: &str, prefix: &str) -> BTreeMap<String, serde_json::Value> {
    let v: serde_json::Value = http()
        .get(format!(
            "{emu}/storage/v1/b/{bucket}/o?prefix={}",
            enc(prefix)
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o["name"].as_str().unwrap().to_string(), o))
        .collect()
}

/// The stored bytes of an object.
fn bytes(emu: &str, bucket: &str, name: &str) -> Vec<u8> {
    let r = http()
        .get(format!(
            "{emu}/download/storage/v1/b/{bucket}/o/{}?alt=media",
            enc(name)
        ))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{name}: {}", r.status());
    r.bytes().unwrap().to_vec()
}

/// Deletes every object under `prefix` (the emulator keeps them in memory; soft delete is off).
fn delete_prefix(emu: &str, bucket: &str, prefix: &str) {
    for name in objects(emu, bucket, prefix).keys() {
        let _ = http()
            .delete(format!("{emu}/storage/v1/b/{bucket}/o/{}", enc(name)))
            .send();
    }
}

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// Deterministic pseudo-random bytes (xorshift), incompressible enough for upload tests.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.extend_from_slice(&seed.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn gcs(dir: &Path, emu: &str) -> Plugin {
    Plugin::new("gcs", dir).env("STORAGE_EMULATOR_HOST", emu.trim_start_matches("http://"))
}

fn drone_output(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// A forwarding proxy to the emulator that records each request's method, path and
/// `Authorization`, and pages `GET …/o` listings with `maxResults` / `pageToken`.
struct Proxy {
    server: Arc<tiny_http::Server>,
    base: String,
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let base = format!("http://{}", server.server_addr().to_ip().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (srv, rec, up, me) = (
            server.clone(),
            seen.clone(),
            upstream.to_string(),
            base.clone(),
        );
        let thread = std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .unwrap();
            for mut req in srv.incoming_requests() {
                let auth = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                    .map(|h| h.value.as_str().to_string())
                    .unwrap_or_default();
                let url = req.url().to_string();
                rec.lock()
                    .unwrap()
                    .push((req.method().as_str().to_string(), url.clone(), auth));
                let mut body = Vec::new();
                let _ = req.as_reader().read_to_end(&mut body);
                let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
                let parsed = url::Url::parse(&format!("http://x{url}")).unwrap();
                let is_list = method == reqwest::Method::GET
                    && parsed.path().starts_with("/storage/v1/b/")
                    && parsed.path().ends_with("/o");
                let mut fwd = client.request(method, format!("{up}{url}"));
                for h in req.headers() {
                    let name = h.field.as_str().as_str().to_ascii_lowercase();
                    if ["host", "content-length", "transfer-encoding", "connection"]
                        .contains(&name.as_str())
                    {
                        continue;
                    }
                    fwd = fwd.header(name, h.value.as_str());
                }
                let resp = match fwd.body(body).send() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = req.respond(
                            tiny_http::Response::from_string(format!("proxy: {e}"))
                                .with_status_code(502),
                        );
                        continue;
                    }
                };
                let status = resp.status().as_u16();
                let mut headers = Vec::new();
                for (k, v) in resp.headers() {
                    let v = v.to_str().unwrap_or("").to_string();
                    match k.as_str() {
                        "content-length" | "transfer-encoding" | "connection" => {}
                        "location" => headers.push(
                            tiny_http::Header::from_bytes("Location", v.replace(&up, &me)).unwrap(),
                        ),
                        _ => headers.push(tiny_http::Header::from_bytes(k.as_str(), v).unwrap()),
                    }
                }
                let mut data = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
                if is_list && status == 200 {
                    let q: BTreeMap<String, String> = parsed.query_pairs().into_owned().collect();
                    let size: usize = q
                        .get("maxResults")
                        .and_then(|m| m.parse().ok())
                        .unwrap_or(1000);
                    let start: usize = q.get("pageToken").and_then(|t| t.parse().ok()).unwrap_or(0);
                    let mut v: serde_json::Value = serde_json::from_slice(&data).unwrap();
                    let items = v["items"].as_array().cloned().unwrap_or_default();
                    let page: Vec<_> = items.iter().skip(start).take(size).cloned().collect();
                    v["items"] = page.into();
                    if start + size < items.len() {
                        v["nextPageToken"] = (start + size).to_string().into();
                    }
                    data = serde_json::to_vec(&v).unwrap();
                }
                let len = data.len();
                let _ = req.respond(tiny_http::Response::new(
                    tiny_http::StatusCode(status),
                    headers,
                    std::io::Cursor::new(data),
                    Some(len),
                    None,
                ));
            }
        });
        Proxy {
            server,
            base,
            seen,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<(String, String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn uploads_a_nested_tree_with_ignore_gzip_headers_and_outputs() {
    let (emu, bucket) = require_emulator!();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("tree");
    write_files(
        dir.path(),
        &[
            ("upload/file.txt", "text"),
            ("upload/file.js", "javascript"),
            ("upload/sub/file.css", "sub style"),
            ("upload/sub/file.bin", "binary"),
            ("upload/deep/a/b/c.txt", "deep"),
            ("upload/node_modules/m/x.js", "module"),
            ("upload/deep/cache.tmp", "tmp"),
        ],
    );
    let out = dir.path().join("out.env");
    let artifact = dir.path().join("artifact.json");
    gcs(dir.path(), &emu)
        .envs([
            ("PLUGIN_SOURCE", "upload"),
            ("PLUGIN_TARGET", &format!("{bucket}/{prefix}/")),
            ("PLUGIN_IGNORE", "sub/*.bin,node_modules,**/*.tmp"),
            ("PLUGIN_GZIP", "js"),
            ("PLUGIN_CACHE_CONTROL", "public,max-age=10"),
            ("PLUGIN_METADATA", r#"{"x-foo":"bar"}"#),
            ("PLUGIN_ACL", "allUsers:READER"),
            ("PLUGIN_ARTIFACT_FILE", artifact.to_str().unwrap()),
            ("DRONE_OUTPUT", out.to_str().unwrap()),
        ])
        .run()
        .assert_success();
    let objs = objects(&emu, &bucket, &format!("{prefix}/"));
    let names: Vec<&str> = objs.keys().map(String::as_str).collect();
    let want =
        ["deep/a/b/c.txt", "file.js", "file.txt", "sub/file.css"].map(|n| format!("{prefix}/{n}"));
    assert_eq!(names, want.iter().map(String::as_str).collect::<Vec<_>>());
    for (name, ctype) in [
        ("file.txt", "text/plain"),
        ("file.js", "text/javascript"),
        ("sub/file.css", "text/css"),
    ] {
        let o = &objs[&format!("{prefix}/{name}")];
        assert!(o["contentType"].as_str().unwrap().starts_with(ctype), "{o}");
        assert_eq!(o["cacheControl"], "public,max-age=10", "{o}");
        assert_eq!(o["metadata"]["x-foo"], "bar", "{o}");
        assert_eq!(o["acl"][0]["entity"], "allUsers", "{o}");
        assert_eq!(o["acl"][0]["role"], "READER", "{o}");
    }
    let js = &objs[&format!("{prefix}/file.js")];
    assert_eq!(js["contentEncoding"], "gzip");
    assert_eq!(
        gunzip(&bytes(&emu, &bucket, &format!("{prefix}/file.js"))),
        "javascript"
    );
    assert!(objs[&format!("{prefix}/file.txt")]["contentEncoding"].is_null());
    assert_eq!(bytes(&emu, &bucket, &format!("{prefix}/file.txt")), b"text");

    let art: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&artifact).unwrap()).unwrap();
    assert_eq!(art["kind"], "fileUpload/v1");
    let urls: Vec<&str> = art["data"]["fileArtifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls.len(), 4);
    assert!(
        urls.contains(&format!("{emu}/{bucket}/{prefix}/deep/a/b/c.txt").as_str()),
        "{urls:?}"
    );
    let o = drone_output(&out);
    assert_eq!(o["uploaded_count"], "4");
    assert_eq!(o["failed_count"], "0");
}

#[test]
fn double_star_matches_every_depth_without_flattening() {
    let (emu, bucket) = require_emulator!();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("glob");
    write_files(
        dir.path(),
        &[
            ("dist/a/x.js", "a"),
            ("dist/b/x.js", "b"),
            ("dist/b/c/d.js", "d"),
            ("dist/top.js", "t"),
            ("dist/style.css", "s"),
        ],
    );
    gcs(dir.path(), &emu)
        .envs([
            ("PLUGIN_SOURCE", "dist/**/*.js"),
            ("PLUGIN_TARGET", &format!("{bucket}/{prefix}")),
        ])
        .run()
        .assert_success();
    let objs = objects(&emu, &bucket, &format!("{prefix}/"));
    let got: Vec<String> = objs.keys().cloned().collect();
    let want: Vec<String> = ["a/x.js", "b/c/d.js", "b/x.js", "top.js"]
        .iter()
        .map(|n| format!("{prefix}/{n}"))
        .collect();
    assert_eq!(got, want);
    assert_eq!(bytes(&emu, &bucket, &format!("{prefix}/b/x.js")), b"b");
}

#[test]
fn large_file_goes_resumable_and_a_download_round_trips_through_pages() {
    let (emu, bucket) = require_emulator!();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("big");
    let big = noise(40 * 1024 * 1024 + 17, 0x9e3779b97f4a7c15);
    std::fs::create_dir_all(dir.path().join("up/nested")).unwrap();
    std::fs::write(dir.path().join("up/big.bin"), &big).unwrap();
    write_files(
        dir.path(),
        &[
            ("up/a.txt", "a"),
            ("up/nested/b.txt", "b"),
            ("up/page.js", "gz me"),
        ],
    );
    let started = std::time::Instant::now();
    let run = gcs(dir.path(), &emu)
        .envs([
            ("PLUGIN_SOURCE", "up"),
            ("PLUGIN_TARGET", &format!("{bucket}/{prefix}")),
            ("PLUGIN_GZIP", "js"),
        ])
        .run();
    run.assert_success();
    eprintln!("upload of 40 MiB + 3 files: {:?}", started.elapsed());
    assert_eq!(bytes(&emu, &bucket, &format!("{prefix}/big.bin")), big);

    // Download through the paging proxy, two objects per page.
    let proxy = Proxy::start(&emu);
    let started = std::time::Instant::now();
    gcs(dir.path(), &emu)
        .envs([
            ("PLUGIN_ENDPOINT", proxy.base.as_str()),
            ("PLUGIN_DOWNLOAD", "true"),
            ("PLUGIN_SOURCE", &format!("{bucket}/{prefix}/")),
            ("PLUGIN_TARGET", "down"),
            ("PLUGIN_PAGE_SIZE", "2"),
        ])
        .run()
        .assert_success();
    eprintln!("download of the same: {:?}", started.elapsed());
    let pages = proxy
        .seen()
        .iter()
        .filter(|(m, p, _)| m == "GET" && p.starts_with(&format!("/storage/v1/b/{bucket}/o?")))
        .count();
    assert_eq!(pages, 2, "{:?}", proxy.seen());
    let down = dir.path().join("down").join(&prefix);
    assert_eq!(std::fs::read(down.join("big.bin")).unwrap(), big);
    assert_eq!(
        std::fs::read_to_string(down.join("nested/b.txt")).unwrap(),
        "b"
    );
    // Stored gzipped, downloaded as the original content.
    assert_eq!(
        std::fs::read_to_string(down.join("page.js")).unwrap(),
        "gz me"
    );
    let leftovers: Vec<_> = walk(&dir.path().join("down"))
        .into_iter()
        .filter(|p| p.contains("longshore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    delete_prefix(&emu, &bucket, &format!("{prefix}/"));
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path().display().to_string());
        }
    }
    out
}

#[test]
fn dry_run_uploads_nothing() {
    let (emu, bucket) = require_emulator!();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("dry");
    write_files(dir.path(), &[("a/x.txt", "x"), ("a/y.js", "y")]);
    let run = gcs(dir.path(), &emu)
        .envs([
            ("PLUGIN_SOURCE", "a"),
            ("PLUGIN_TARGET", &format!("{bucket}/{prefix}/")),
            ("PLUGIN_DRY_RUN", "true"),
        ])
        .run();
    run.assert_success();
    assert!(
        run.output()
            .contains(&format!("gs://{bucket}/{prefix}/y.js")),
        "{}",
        run.output()
    );
    assert!(objects(&emu, &bucket, &format!("{prefix}/")).is_empty());
}

#[test]
fn skip_unchanged_uploads_only_what_changed() {
    let (emu, bucket) = require_emulator!();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("skip");
    write_files(
        dir.path(),
        &[("s/a.txt", "a"), ("s/b.txt", "b"), ("s/c.js", "c")],
    );
    let run = |n: &str| {
        let out = dir.path().join(n);
        gcs(dir.path(), &emu)
            .envs([
                ("PLUGIN_SOURCE", "s"),
                ("PLUGIN_TARGET", &format!("{bucket}/{prefix}")),
                ("PLUGIN_SKIP_UNCHANGED", "true"),
                ("PLUGIN_GZIP", "js"),
                ("DRONE_OUTPUT", out.to_str().unwrap()),
            ])
            .run()
            .assert_success();
        drone_output(&out)
    };
    assert_eq!(run("1.env")["uploaded_count"], "3");
    let second = run("2.env");
    assert_eq!(
        (
            second["uploaded_count"].as_str(),
            second["skipped_count"].as_str()
        ),
        ("0", "3")
    );
    std::fs::write(dir.path().join("s/b.txt"), "changed").unwrap();
    let third = run("3.env");
    assert_eq!(
        (
            third["uploaded_count"].as_str(),
            third["skipped_count"].as_str()
        ),
        ("1", "2")
    );
    assert_eq!(bytes(&emu, &bucket, &format!("{prefix}/b.txt")), b"changed");
}

#[test]
fn an_object_stored_by_another_tool_is_recognised_by_its_crc32c() {
    let (emu, bucket) = require_emulator!();
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}/other.txt", unique("crc"));
    // Uploaded without our SHA-256 metadata, as the anchor or gsutil would.
    let r = http()
        .post(format!(
            "{emu}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
            enc(&name)
        ))
        .body("same bytes")
        .send()
        .unwrap();
    assert!(r.status().is_success());
    write_files(dir.path(), &[("other.txt", "same bytes")]);
    let out = dir.path().join("o.env");
    gcs(dir.path(), &emu)
        .envs([
            ("PLUGIN_SOURCE", "other.txt"),
            ("PLUGIN_TARGET", &format!("{bucket}/{name}")),
            ("PLUGIN_SKIP_UNCHANGED", "true"),
            ("DRONE_OUTPUT", out.to_str().unwrap()),
        ])
        .run()
        .assert_success();
    assert_eq!(drone_output(&out)["skipped_count"], "1");
}

#[test]
fn service_account_key_tokens_come_from_its_token_uri_and_reach_storage() {
    let (emu, bucket) = require_emulator!();
    let key = test_key();
    let email = "ci@longshore-test.iam.gserviceaccount.com";
    let oauth = Fixture::start(Role::OAuth {
        public_pem: key.public_pem.clone(),
        email: email.into(),
    });
    let proxy = Proxy::start(&emu);
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("sa");
    let mut big = noise(9 * 1024 * 1024, 7);
    big.extend_from_slice(b"end");
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    write_files(dir.path(), &[("small.txt", "small")]);
    let json = service_account_json(&key, email, &format!("{}/token", oauth.base));
    let run = Plugin::new("gcs", dir.path())
        .envs([
            ("GOOGLE_CREDENTIALS", json.as_str()),
            ("PLUGIN_ENDPOINT", proxy.base.as_str()),
            ("PLUGIN_SOURCE", "small.txt,big.bin"),
            ("PLUGIN_TARGET", &format!("{bucket}/{prefix}/")),
        ])
        .run();
    run.assert_success();
    assert!(!run.output().contains("PRIVATE KEY"));
    let grants = oauth.received();
    assert_eq!(grants.len(), 1, "one token for the whole run");
    assert_eq!(grants[0].status, 200);
    let seen = proxy.seen();
    // The small file through the crate (one multipart request), the large one through a
    // resumable session (start + PUT).
    assert!(seen.len() >= 3, "{seen:?}");
    for (m, p, auth) in &seen {
        assert_eq!(auth, &format!("Bearer {ACCESS_TOKEN}"), "{m} {p}");
    }
    assert!(
        seen.iter()
            .any(|(_, p, _)| p.contains("uploadType=multipart")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(_, p, _)| p.contains("uploadType=resumable")),
        "{seen:?}"
    );
    assert_eq!(bytes(&emu, &bucket, &format!("{prefix}/big.bin")), big);
    delete_prefix(&emu, &bucket, &format!("{prefix}/"));
}

#[test]
fn workload_identity_federation_exchanges_the_oidc_token() {
    let (emu, bucket) = require_emulator!();
    let oidc = "eyJhbGciOiJSUzI1NiJ9.longshore-oidc.sig";
    let email = "ci@longshore-test.iam.gserviceaccount.com";
    let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/ci-pool/providers/harness";
    let sts = Fixture::start(Role::Sts {
        subject_token: oidc.into(),
        audience: audience.into(),
    });
    let iam = Fixture::start(Role::Iam {
        email: email.into(),
    });
    let proxy = Proxy::start(&emu);
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.txt", "wif")]);
    let prefix = unique("wif");
    let run = Plugin::new("gcs", dir.path())
        .envs([
            ("PLUGIN_OIDC_TOKEN_ID", oidc),
            ("PLUGIN_PROJECT_NUMBER", "123456"),
            ("PLUGIN_POOL_ID", "ci-pool"),
            ("PLUGIN_PROVIDER_ID", "harness"),
            ("PLUGIN_SERVICE_ACCOUNT_EMAIL", email),
            ("PLUGIN_STS_ENDPOINT", sts.base.as_str()),
            ("PLUGIN_IAM_ENDPOINT", iam.base.as_str()),
            ("PLUGIN_ENDPOINT", proxy.base.as_str()),
            ("PLUGIN_SOURCE", "a.txt"),
            ("PLUGIN_TARGET", &format!("{bucket}/{prefix}/")),
        ])
        .run();
    run.assert_success();
    assert!(!run.output().contains(oidc));
    assert_eq!(sts.received().len(), 1);
    assert_eq!(iam.received().len(), 1);
    assert!(
        proxy
            .seen()
            .iter()
            .all(|(_, _, a)| a == &format!("Bearer {ACCESS_TOKEN}"))
    );
    assert_eq!(bytes(&emu, &bucket, &format!("{prefix}/a.txt")), b"wif");
}

fn one_error_line(run: &Run) -> String {
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.contains(" INFO ") && !l.contains(" WARN "))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.output());
    lines[0].to_string()
}

#[test]
fn wrong_credentials_and_a_missing_bucket_fail_with_one_line_and_no_secret() {
    let (emu, bucket) = require_emulator!();
    let key = test_key();
    let other = test_key();
    let email = "ci@longshore-test.iam.gserviceaccount.com";
    // The token endpoint knows another key: the grant is refused.
    let oauth = Fixture::start(Role::OAuth {
        public_pem: other.public_pem.clone(),
        email: email.into(),
    });
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.txt", "a")]);
    let json = service_account_json(&key, email, &format!("{}/token", oauth.base));
    let run = Plugin::new("gcs", dir.path())
        .envs([
            ("PLUGIN_TOKEN", json.as_str()),
            ("PLUGIN_ENDPOINT", emu.as_str()),
            ("PLUGIN_SOURCE", "a.txt"),
            ("PLUGIN_TARGET", &format!("{bucket}/x/")),
        ])
        .run();
    run.assert_failure();
    let line = one_error_line(&run);
    assert!(
        line.contains("token endpoint") && line.contains("400"),
        "{line}"
    );
    let body = key.private_pem.lines().nth(1).unwrap();
    assert!(!run.output().contains(body) && !run.output().contains("PRIVATE KEY"));

    let run = gcs(dir.path(), &emu)
        .envs([
            ("PLUGIN_SOURCE", "a.txt"),
            ("PLUGIN_TARGET", "longshore-no-such-bucket/x/"),
        ])
        .run();
    run.assert_failure();
    let line = one_error_line(&run);
    assert!(line.contains("404"), "{line}");
}

#[test]
fn invalid_settings_are_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.txt", "a"), ("d/b.txt", "b")]);
    // Nothing listens here: a run that got as far as a request would fail differently.
    let closed = format!("127.0.0.1:{}", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let base = [
        ("STORAGE_EMULATOR_HOST", closed.as_str()),
        ("PLUGIN_SOURCE", "a.txt"),
        ("PLUGIN_TARGET", "longshore-test/x/"),
    ];
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("PLUGIN_SOURCE", "")], "PLUGIN_SOURCE is required"),
        (&[("PLUGIN_TARGET", "")], "PLUGIN_TARGET is required"),
        (
            &[("PLUGIN_TARGET", "Bad_Bucket!/x")],
            "PLUGIN_TARGET: 'Bad_Bucket!'",
        ),
        (
            &[("PLUGIN_SOURCE", "missing.txt")],
            "PLUGIN_SOURCE: source path 'missing.txt' does not exist",
        ),
        (
            &[("PLUGIN_SOURCE", "d/*.zip")],
            "PLUGIN_SOURCE: glob pattern 'd/*.zip' matched no files",
        ),
        (&[("PLUGIN_ACL", "allUsers")], "PLUGIN_ACL:"),
        (&[("PLUGIN_ACL", "allUsers:WRITER")], "PLUGIN_ACL:"),
        (&[("PLUGIN_METADATA", "{not json")], "PLUGIN_METADATA"),
        (&[("PLUGIN_GZIP", "*.js")], "PLUGIN_GZIP:"),
        (&[("PLUGIN_CONCURRENCY", "0")], "PLUGIN_CONCURRENCY:"),
        (&[("PLUGIN_PAGE_SIZE", "5000")], "PLUGIN_PAGE_SIZE:"),
        (&[("PLUGIN_DRY_RUN", "yes")], "PLUGIN_DRY_RUN"),
        (&[("PLUGIN_TOKEN", "not a key!")], "PLUGIN_TOKEN:"),
        (
            &[("PLUGIN_TOKEN", r#"{"type":"authorized_user"}"#)],
            "PLUGIN_TOKEN: is a 'authorized_user' credentials file",
        ),
        (
            &[("PLUGIN_JSON_KEY", r#"{"type": 1"#)],
            "PLUGIN_JSON_KEY: is not a valid credentials JSON",
        ),
        (
            &[
                ("PLUGIN_OIDC_TOKEN_ID", "eyJ.secret.oidc"),
                ("PLUGIN_POOL_ID", "p"),
            ],
            "is required: workload identity federation needs all five",
        ),
        (
            &[("PLUGIN_ENDPOINT", "ftp://example.com")],
            "PLUGIN_ENDPOINT:",
        ),
        (
            &[
                ("PLUGIN_DOWNLOAD", "true"),
                ("PLUGIN_SOURCE", "longshore-test/x"),
                ("PLUGIN_TARGET", ""),
            ],
            "PLUGIN_TARGET is required",
        ),
        (&[("PLUGIN_IGNORE", "[z-a]")], "PLUGIN_IGNORE:"),
    ];
    for (extra, want) in cases {
        let mut env: BTreeMap<&str, &str> = base.iter().copied().collect();
        env.extend(extra.iter().copied());
        let run = Plugin::new("gcs", dir.path())
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .run();
        let case = format!("{extra:?}");
        run.assert_refused(want, &case);
        assert!(!run.output().contains("eyJ.secret.oidc"), "{case}");
    }
    // Two sources mapping to one name are refused naming both.
    write_files(dir.path(), &[("e/b.txt", "other")]);
    let run = Plugin::new("gcs", dir.path())
        .envs(base)
        .env("PLUGIN_SOURCE", "d/b.txt,e/b.txt")
        .run();
    run.assert_refused("d/b.txt", "collision");
    assert!(run.stderr.contains("e/b.txt"));
}
