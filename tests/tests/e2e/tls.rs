//! Certificate verification, end to end (issue #8): every plugin verifies TLS by default; a
//! private CA is trusted only through the setting or standard variable its users already use
//! (`PLUGIN_PEM_FILE_CONTENTS` / `PLUGIN_PEM_FILE_PATH` for jfrog and nexus, `AWS_CA_BUNDLE` for
//! s3, `SSL_CERT_FILE` for gcs, `/etc/docker/certs.d/<host>/ca.crt` for the image plugins); an
//! unverified connection only when `PLUGIN_INSECURE` (or `PLUGIN_INSECURE_REGISTRIES`) asks.
//! `HARNESS_CA_PATH`, the runner's CA bundle, is trusted by every plugin (issue #15): one test per
//! client kind (our HTTP client, the AWS SDK, the Google token client, the registry client, the
//! dockerd we start; the Azure pipeline's is in `acr.rs`).
//!
//! Each test makes a fresh CA nothing on this machine trusts (`tls::TestCa`) and serves the
//! fixture or service through a TLS-terminating forwarder (`tls::TlsFront`). The harness runs the
//! plugins with an empty environment, so `SSL_CERT_FILE`, `AWS_CA_BUNDLE` & co. of this machine
//! never reach them: the CA is trusted only where a test sets it. A refusal is checked three
//! ways: exit 1 with one line naming the certificate problem and the settings that fix it,
//! nothing stored, and no connection completed its handshake (nothing was relayed).

use std::path::Path;

use longshore_tests::artifactory_fixture::{Artifactory, TOKEN};
use longshore_tests::nexus_fixture::{Fixture, Options};
use longshore_tests::tls::{TestCa, TlsFront, socket_of};
use longshore_tests::{Plugin, Run, Services, aws_cli, require_services, write_files};

/// The one error line of a failed run (progress and warnings aside), after checking exit 1 and
/// no panic.
fn error_line(run: &Run, case: &str) -> String {
    assert_eq!(run.code, 1, "{case}: expected exit 1:\n{}", run.output());
    assert!(!run.output().contains("panicked"), "{case}: panicked");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.contains(" WARN ") && !l.contains(" INFO ") && !l.contains("DEBUG "))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{case}: expected one error line:\n{}",
        run.stderr
    );
    lines[0].to_string()
}

/// Panics unless `line` says the problem is the certificate and names every fix in `fixes`.
fn assert_certificate_error(line: &str, fixes: &[&str], case: &str) {
    assert!(
        line.to_ascii_lowercase().contains("certificate"),
        "{case}: not a certificate error: {line}"
    );
    for fix in fixes {
        assert!(line.contains(fix), "{case}: {fix} not named in: {line}");
    }
}

/// The two refusals a plugin owes a server whose CA it was not given: with no CA setting
/// (`<name>, no CA`), and with a CA that did not sign the certificate given as `other`
/// (`<name>, other CA`, the variable and its value). Each is one error line naming the
/// certificate and every fix in `fixes`; no request is relayed.
fn assert_refused_without_the_signer(
    name: &str,
    plugin: impl Fn() -> Plugin,
    other: (&str, impl AsRef<std::ffi::OsStr>),
    fixes: &[&str],
    front: &TlsFront,
) {
    let case = format!("{name}, no CA");
    assert_certificate_error(&error_line(&plugin().run(), &case), fixes, &case);
    let case = format!("{name}, other CA");
    let run = plugin().env(other.0, other.1).run();
    assert_certificate_error(&error_line(&run, &case), fixes, &case);
    assert_eq!(
        front.forwarded(),
        0,
        "a refused certificate relayed a request"
    );
}

/// What a jfrog or nexus certificate refusal names: the settings that fix it.
const PEM_FIXES: &[&str] = &[
    "PLUGIN_PEM_FILE_CONTENTS",
    "PLUGIN_PEM_FILE_PATH",
    "PLUGIN_INSECURE",
];

/// A fresh CA named `name`, another that signs nothing here, and a workspace holding
/// `dist/app.bin` (`body`) and the first CA's PEM as `ca.pem`.
fn pem_workspace(name: &str, body: &str) -> (TestCa, TestCa, tempfile::TempDir) {
    let ca = TestCa::new(name);
    let other = TestCa::new(&format!("{name}-other"));
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("dist/app.bin", body), ("ca.pem", &ca.ca_pem())],
    );
    (ca, other, dir)
}

// ------------------------------------------------------------------------- jfrog

fn jfrog(front: &TlsFront, dir: &Path) -> Plugin {
    Plugin::new("jfrog", dir)
        .env("PLUGIN_URL", format!("{}/artifactory/", front.url()))
        .env("PLUGIN_ACCESS_TOKEN", TOKEN)
        .env("PLUGIN_SOURCE", "dist/app.bin")
        .env("PLUGIN_TARGET", "libs/tls/")
        .env("PLUGIN_FLAT", "true")
}

#[test]
fn jfrog_verifies_the_certificate_and_trusts_a_ca_only_through_its_settings() {
    let body = "artifact over TLS";
    let (ca, other, dir) = pem_workspace("jfrog", body);
    let fx = Artifactory::start(&["libs"]);
    let front = TlsFront::start(fx.addr.parse().unwrap(), &ca);

    // No CA setting, or a CA that did not sign the server certificate: refused, nothing
    // relayed, nothing stored.
    assert_refused_without_the_signer(
        "jfrog",
        || jfrog(&front, dir.path()),
        ("PLUGIN_PEM_FILE_CONTENTS", other.ca_pem()),
        PEM_FIXES,
        &front,
    );
    assert!(fx.artifacts().is_empty(), "{:?}", fx.artifacts().keys());
    assert!(fx.requests().is_empty());

    // The signer's PEM, inline (also with the `\n`-escaped form a secret field often holds).
    let key = "libs/tls/app.bin";
    for (case, pem) in [
        ("contents", ca.ca_pem()),
        ("escaped contents", ca.ca_pem().replace('\n', "\\n")),
    ] {
        jfrog(&front, dir.path())
            .env("PLUGIN_PEM_FILE_CONTENTS", &pem)
            .run()
            .assert_success();
        assert_eq!(
            fx.artifact(key).map(|a| a.bytes),
            Some(body.as_bytes().to_vec()),
            "{case}"
        );
    }
    // The signer's PEM as a file.
    let before = front.forwarded();
    jfrog(&front, dir.path())
        .env("PLUGIN_PEM_FILE_PATH", "ca.pem")
        .run()
        .assert_success();
    assert!(front.forwarded() > before);
    // Insecure, explicitly.
    fx.clear_requests();
    jfrog(&front, dir.path())
        .env("PLUGIN_INSECURE", "true")
        .run()
        .assert_success();
    assert!(
        fx.requests().iter().any(|r| r.method == "PUT"),
        "{:?}",
        fx.requests()
    );
    assert_eq!(
        fx.artifact(key).map(|a| a.bytes),
        Some(body.as_bytes().to_vec())
    );
}

// ------------------------------------------------------------------------- nexus

fn nexus(front: &TlsFront, dir: &Path) -> Plugin {
    Plugin::new("nexus", dir).envs([
        ("PLUGIN_SERVER_URL", front.url().as_str()),
        ("PLUGIN_USERNAME", "admin"),
        ("PLUGIN_PASSWORD", "admin123-pw"),
        ("PLUGIN_REPOSITORY", "raw-hosted"),
        ("PLUGIN_FORMAT", "raw"),
        ("PLUGIN_SOURCE", "dist/app.bin"),
        ("PLUGIN_STRIP_PREFIX", "dist/"),
        ("PLUGIN_TARGET", "tls"),
    ])
}

#[test]
fn nexus_verifies_the_certificate_and_trusts_a_ca_only_through_its_settings() {
    let body = "component over TLS";
    let (ca, other, dir) = pem_workspace("nexus", body);
    let fx = Fixture::start(Options::nexus3());
    let front = TlsFront::start(fx.addr.parse().unwrap(), &ca);

    assert_refused_without_the_signer(
        "nexus",
        || nexus(&front, dir.path()),
        ("PLUGIN_PEM_FILE_CONTENTS", other.ca_pem()),
        PEM_FIXES,
        &front,
    );
    assert!(fx.received().is_empty(), "{:?}", fx.received());
    assert!(fx.paths().is_empty());

    for (case, var, value) in [
        ("contents", "PLUGIN_PEM_FILE_CONTENTS", ca.ca_pem()),
        ("path", "PLUGIN_PEM_FILE_PATH", "ca.pem".to_string()),
        ("insecure", "PLUGIN_INSECURE", "true".to_string()),
    ] {
        let n = fx.received().len();
        nexus(&front, dir.path())
            .env(var, &value)
            .run()
            .assert_success();
        assert!(fx.received().len() > n, "{case}: nothing received");
        assert_eq!(
            fx.stored("raw-hosted", "tls/app.bin"),
            Some(body.as_bytes().to_vec()),
            "{case}"
        );
    }
}

// ------------------------------------------------------------------------- s3

/// The object's bytes, read back through s3s-fs's own plain endpoint; `None` when absent.
fn s3_object(s: &Services, key: &str) -> Option<Vec<u8>> {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("object");
    let run = aws_cli(
        s,
        &s.s3sfs,
        (&s.s3sfs_access_key, &s.s3sfs_secret_key),
        &[
            "s3api",
            "get-object",
            "--bucket",
            &s.bucket,
            "--key",
            key,
            file.to_str().unwrap(),
        ],
    );
    (run.code == 0).then(|| std::fs::read(&file).unwrap())
}

fn s3(s: &Services, front: &TlsFront, dir: &Path, key: &str) -> Plugin {
    let (target, _) = key.rsplit_once('/').unwrap();
    Plugin::new("s3", dir).envs([
        ("PLUGIN_BUCKET", s.bucket.as_str()),
        ("PLUGIN_ENDPOINT", front.url().as_str()),
        ("PLUGIN_PATH_STYLE", "true"),
        ("PLUGIN_ACCESS_KEY", s.s3sfs_access_key.as_str()),
        ("PLUGIN_SECRET_KEY", s.s3sfs_secret_key.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("PLUGIN_SOURCE", "app.bin"),
        ("PLUGIN_TARGET", target),
    ])
}

#[test]
fn s3_verifies_the_certificate_and_trusts_a_ca_through_aws_ca_bundle() {
    let s = require_services!();
    let ca = TestCa::new("s3");
    let other = TestCa::new("s3-other");
    let dir = tempfile::tempdir().unwrap();
    let body = "object over TLS";
    write_files(dir.path(), &[("app.bin", body), ("not-a-pem.txt", "hello")]);
    let front = TlsFront::start(socket_of(&s.s3sfs), &ca);
    let prefix = longshore_tests::unique("tls");

    // Default: verified against the system roots, which do not hold the test CA; a bundle
    // that does not hold the signer is no better.
    let key = format!("{prefix}/none/app.bin");
    assert_refused_without_the_signer(
        "s3",
        || s3(&s, &front, dir.path(), &key),
        ("AWS_CA_BUNDLE", other.ca_path()),
        &["AWS_CA_BUNDLE"],
        &front,
    );
    assert_eq!(s3_object(&s, &key), None);

    // A bad bundle is refused before any connection, naming the variable.
    let refused = front.refused();
    for bad in ["not-a-pem.txt", "missing.pem"] {
        s3(&s, &front, dir.path(), &key)
            .env("AWS_CA_BUNDLE", dir.path().join(bad))
            .run()
            .assert_refused("AWS_CA_BUNDLE", bad);
    }
    assert_eq!(front.refused(), refused, "a bad bundle still connected");

    // The signer through AWS_CA_BUNDLE, the variable AWS users already set.
    let key = format!("{prefix}/bundle/app.bin");
    s3(&s, &front, dir.path(), &key)
        .env("AWS_CA_BUNDLE", ca.ca_path())
        .run()
        .assert_success();
    assert_eq!(s3_object(&s, &key), Some(body.as_bytes().to_vec()));
    assert!(front.forwarded() > 0);

    // AWS_CA_BUNDLE does not get in the way of a plain-HTTP endpoint (it is often set
    // machine-wide, as on this one).
    let key = format!("{prefix}/plain/app.bin");
    Plugin::new("s3", dir.path())
        .envs([
            ("PLUGIN_BUCKET", s.bucket.as_str()),
            ("PLUGIN_ENDPOINT", s.s3sfs.as_str()),
            ("PLUGIN_PATH_STYLE", "true"),
            ("PLUGIN_ACCESS_KEY", s.s3sfs_access_key.as_str()),
            ("PLUGIN_SECRET_KEY", s.s3sfs_secret_key.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("PLUGIN_SOURCE", "app.bin"),
            ("PLUGIN_TARGET", &format!("{prefix}/plain")),
        ])
        .env("AWS_CA_BUNDLE", ca.ca_path())
        .run()
        .assert_success();
    assert_eq!(s3_object(&s, &key), Some(body.as_bytes().to_vec()));
}

// ------------------------------------------------------------------------- gcs

/// The object's bytes, read back from the emulator directly; `None` when absent.
fn gcs_object(s: &Services, name: &str) -> Option<Vec<u8>> {
    let enc: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let r = reqwest::blocking::get(format!(
        "{}/download/storage/v1/b/{}/o/{enc}?alt=media",
        s.gcs_emulator, s.gcs_bucket
    ))
    .unwrap();
    r.status().is_success().then(|| r.bytes().unwrap().to_vec())
}

fn gcs(s: &Services, front: &TlsFront, dir: &Path, prefix: &str) -> Plugin {
    // The emulator convention, with a scheme: anonymous requests, no token endpoint involved.
    Plugin::new("gcs", dir).envs([
        ("STORAGE_EMULATOR_HOST", front.url().as_str()),
        ("PLUGIN_SOURCE", "app.bin"),
        ("PLUGIN_TARGET", &format!("{}/{prefix}/", s.gcs_bucket)),
    ])
}

#[test]
fn gcs_verifies_the_certificate_and_trusts_a_ca_through_ssl_cert_file() {
    let s = require_services!();
    if s.gcs_emulator.is_empty() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "LONGSHORE_GCS_EMULATOR is missing"
        );
        return;
    }
    let ca = TestCa::new("gcs");
    let dir = tempfile::tempdir().unwrap();
    let body = "object over TLS";
    write_files(dir.path(), &[("app.bin", body), ("not-a-pem.txt", "hello")]);
    let front = TlsFront::start(socket_of(&s.gcs_emulator), &ca);
    let prefix = longshore_tests::unique("tls");

    // Default: verified; the CA is trusted nowhere. (The crate retries the refused handshake
    // for a while before giving up.)
    let run = gcs(&s, &front, dir.path(), &format!("{prefix}/none")).run();
    assert_certificate_error(
        &error_line(&run, "gcs, no CA"),
        &["SSL_CERT_FILE"],
        "gcs, no CA",
    );
    assert_eq!(
        front.forwarded(),
        0,
        "a refused certificate relayed a request"
    );
    assert_eq!(gcs_object(&s, &format!("{prefix}/none/app.bin")), None);
    // A bad file is refused before any connection, naming the variable.
    let refused = front.refused();
    gcs(&s, &front, dir.path(), &format!("{prefix}/bad"))
        .env("SSL_CERT_FILE", dir.path().join("not-a-pem.txt"))
        .run()
        .assert_refused("SSL_CERT_FILE", "gcs, bad SSL_CERT_FILE");
    assert_eq!(front.refused(), refused, "a bad file still connected");

    // The signer through SSL_CERT_FILE: the upload (the crate's client) and, on the second run,
    // the skip-unchanged metadata request (our JSON API client) both trust it.
    let name = format!("{prefix}/ok/app.bin");
    gcs(&s, &front, dir.path(), &format!("{prefix}/ok"))
        .env("SSL_CERT_FILE", ca.ca_path())
        .run()
        .assert_success();
    assert_eq!(gcs_object(&s, &name), Some(body.as_bytes().to_vec()));
    let again = gcs(&s, &front, dir.path(), &format!("{prefix}/ok"))
        .env("SSL_CERT_FILE", ca.ca_path())
        .env("PLUGIN_SKIP_UNCHANGED", "true")
        .run();
    again.assert_success();
    assert!(
        again.output().contains("0 uploaded, 1 skipped"),
        "{}",
        again.output()
    );
}

// ------------------------------------------------------------------------- image plugins

/// Removes a `certs.d` directory made by a test, even when the test fails.
struct CertsD(std::path::PathBuf);

impl Drop for CertsD {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The TLS registry of the services behind a front serving a certificate of `ca`, and a
/// `docker save` tarball of the base image to push to it without a daemon.
struct TlsRegistry {
    dir: tempfile::TempDir,
    front: TlsFront,
    /// The front's `127.0.0.1:<port>`: the registry host the plugin sees.
    host: String,
    registry: longshore_tests::Registry,
}

impl TlsRegistry {
    fn start(s: &Services, ca: &TestCa) -> TlsRegistry {
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("base.tar");
        longshore_tests::docker_cli(s, &["save", "-o", tar.to_str().unwrap(), &s.base_image])
            .assert_success();
        let front =
            TlsFront::start_to_tls(socket_of(&format!("https://{}", s.registry_tls)), ca, &s.ca);
        TlsRegistry {
            dir,
            host: front.addr.to_string(),
            front,
            registry: longshore_tests::Registry::tls(s),
        }
    }

    /// A daemonless push of the tarball as `<host>/<name>:1`.
    fn push(&self, s: &Services, name: &str) -> Plugin {
        Plugin::new("docker", self.dir.path())
            .env("PLUGIN_USERNAME", &s.user)
            .env("PLUGIN_PASSWORD", &s.password)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("PLUGIN_DAEMON_OFF", "true")
            .env("PLUGIN_REPO", format!("{}/{name}", self.host))
            .env("PLUGIN_TAGS", "1")
            .env("PLUGIN_PUSH_ONLY", "true")
            .env("PLUGIN_SOURCE_TAR_PATH", "base.tar")
    }
}

#[test]
fn daemonless_push_verifies_the_registry_certificate_unless_the_registry_is_insecure() {
    let s = require_services!();
    let ca = TestCa::new("registry");
    // The TLS registry behind a front with a fresh CA: a loopback registry with a certificate
    // nothing trusts (dockerd would take it as insecure; we do not).
    let r = TlsRegistry::start(&s, &ca);
    let (front, host, registry) = (&r.front, r.host.clone(), &r.registry);
    let push = |name: &str| r.push(&s, name);

    let name = longshore_tests::unique("tls/refused");
    let run = push(&name).run();
    let line = error_line(&run, "registry, untrusted");
    assert_certificate_error(
        &line,
        &["PLUGIN_INSECURE_REGISTRIES", "/etc/docker/certs.d/"],
        "registry, untrusted",
    );
    assert_eq!(
        front.forwarded(),
        0,
        "a refused certificate relayed a request"
    );
    assert_eq!(registry.tags(&name), None);

    // Named insecure, either way: TLS without verification.
    let name = longshore_tests::unique("tls/insecure-registries");
    push(&name)
        .env("PLUGIN_INSECURE_REGISTRIES", &host)
        .run()
        .assert_success();
    assert_eq!(registry.tags(&name), Some(vec!["1".to_string()]));
    let name = longshore_tests::unique("tls/insecure");
    push(&name)
        .env("PLUGIN_INSECURE", "true")
        .env("PLUGIN_REGISTRY", &host)
        .run()
        .assert_success();
    assert_eq!(registry.tags(&name), Some(vec!["1".to_string()]));
    // PLUGIN_INSECURE marks PLUGIN_REGISTRY only, as in the anchor: another registry is not
    // made insecure by it.
    let name = longshore_tests::unique("tls/other-registry");
    let run = push(&name)
        .env("PLUGIN_INSECURE", "true")
        .env("PLUGIN_REGISTRY", "registry.example.com")
        // Anonymous: a login for registry.example.com would be refused before any request.
        .env("PLUGIN_USERNAME", "")
        .env("PLUGIN_PASSWORD", "")
        .run();
    assert_certificate_error(
        &error_line(&run, "registry, insecure elsewhere"),
        &["PLUGIN_INSECURE_REGISTRIES"],
        "registry, insecure elsewhere",
    );
    assert_eq!(registry.tags(&name), None);

    // Trusted the docker way: the CA in /etc/docker/certs.d/<host>/ca.crt (needs root, as
    // services-up.sh does for the TLS registry).
    let certs_d = Path::new("/etc/docker/certs.d").join(&host);
    if std::fs::create_dir_all(&certs_d).is_ok() {
        let _guard = CertsD(certs_d.clone());
        std::fs::write(certs_d.join("ca.crt"), ca.ca_pem()).unwrap();
        let name = longshore_tests::unique("tls/certs-d");
        push(&name).run().assert_success();
        assert_eq!(registry.tags(&name), Some(vec!["1".to_string()]));
    }
}

// ------------------------------------------------------------------------- HARNESS_CA_PATH

// `HARNESS_CA_PATH` (issue #15): the PEM bundle of extra CAs the Harness runner mounts, read once
// by every plugin's entry point and trusted by every kind of client we make or configure. Each
// test below shows one client kind refusing the fresh CA without it and trusting it with it.

/// A missing file, a text file and a key: each refused on one line naming `HARNESS_CA_PATH`,
/// before any connection (the front saw no handshake, good or bad).
fn assert_bad_harness_ca_refused(plugin: impl Fn() -> Plugin, dir: &Path, front: &TlsFront) {
    write_files(
        dir,
        &[
            ("harness/not-a-pem.txt", "hello"),
            (
                "harness/key.pem",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
        ],
    );
    let before = (front.forwarded(), front.refused());
    for bad in ["missing.pem", "not-a-pem.txt", "key.pem"] {
        plugin()
            .env("HARNESS_CA_PATH", dir.join("harness").join(bad))
            .run()
            .assert_refused("HARNESS_CA_PATH", bad);
    }
    assert_eq!(
        (front.forwarded(), front.refused()),
        before,
        "a bad HARNESS_CA_PATH still connected"
    );
}

#[test]
fn harness_ca_path_is_trusted_by_our_http_client_nexus() {
    let ca = TestCa::new("harness-nexus");
    let other = TestCa::new("harness-nexus-other");
    let dir = tempfile::tempdir().unwrap();
    let body = "component over TLS, CA from the runner";
    write_files(dir.path(), &[("dist/app.bin", body)]);
    let fx = Fixture::start(Options::nexus3());
    let front = TlsFront::start(fx.addr.parse().unwrap(), &ca);

    // A bundle without the signer does not make the connection insecure.
    assert_refused_without_the_signer(
        "nexus",
        || nexus(&front, dir.path()),
        ("HARNESS_CA_PATH", other.ca_path()),
        &[],
        &front,
    );
    assert_bad_harness_ca_refused(|| nexus(&front, dir.path()), dir.path(), &front);
    assert!(fx.received().is_empty(), "{:?}", fx.received());

    nexus(&front, dir.path())
        .env("HARNESS_CA_PATH", ca.ca_path())
        .run()
        .assert_success();
    assert!(front.forwarded() > 0);
    assert_eq!(
        fx.stored("raw-hosted", "tls/app.bin"),
        Some(body.as_bytes().to_vec())
    );
}

#[test]
fn harness_ca_path_is_trusted_by_the_aws_sdk_s3() {
    let s = require_services!();
    let ca = TestCa::new("harness-s3");
    let dir = tempfile::tempdir().unwrap();
    let body = "object over TLS, CA from the runner";
    write_files(dir.path(), &[("app.bin", body)]);
    let front = TlsFront::start(socket_of(&s.s3sfs), &ca);
    let prefix = longshore_tests::unique("harness-ca");

    let key = format!("{prefix}/none/app.bin");
    let run = s3(&s, &front, dir.path(), &key).run();
    assert_certificate_error(&error_line(&run, "s3, no CA"), &[], "s3, no CA");
    assert_eq!(
        front.forwarded(),
        0,
        "a refused certificate relayed a request"
    );
    assert_eq!(s3_object(&s, &key), None);
    assert_bad_harness_ca_refused(|| s3(&s, &front, dir.path(), &key), dir.path(), &front);

    let key = format!("{prefix}/harness/app.bin");
    s3(&s, &front, dir.path(), &key)
        .env("HARNESS_CA_PATH", ca.ca_path())
        .run()
        .assert_success();
    assert_eq!(s3_object(&s, &key), Some(body.as_bytes().to_vec()));
    assert!(front.forwarded() > 0);
}

#[test]
fn harness_ca_path_is_trusted_by_the_google_token_client_gcs() {
    use longshore_tests::google_fixture::{Fixture as Google, Role};
    let s = require_services!();
    if s.gcs_emulator.is_empty() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "LONGSHORE_GCS_EMULATOR is missing"
        );
        return;
    }
    let oidc = "eyJhbGciOiJSUzI1NiJ9.longshore-harness-ca.sig";
    let email = "ci@longshore-test.iam.gserviceaccount.com";
    let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/ci-pool/providers/harness";
    let sts = Google::start(Role::Sts {
        subject_token: oidc.into(),
        audience: audience.into(),
    });
    let iam = Google::start(Role::Iam {
        email: email.into(),
    });
    // Both token endpoints behind TLS with a CA only HARNESS_CA_PATH holds; the bucket is the
    // emulator's plain endpoint, so the only TLS in the run is the token client's.
    let ca = TestCa::new("harness-google");
    let sts_front = TlsFront::start(sts.addr.parse().unwrap(), &ca);
    let iam_front = TlsFront::start(iam.addr.parse().unwrap(), &ca);
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a.txt", "token over TLS")]);
    let prefix = longshore_tests::unique("harness-ca");
    let gcs = || {
        Plugin::new("gcs", dir.path()).envs([
            ("PLUGIN_OIDC_TOKEN_ID", oidc),
            ("PLUGIN_PROJECT_NUMBER", "123456"),
            ("PLUGIN_POOL_ID", "ci-pool"),
            ("PLUGIN_PROVIDER_ID", "harness"),
            ("PLUGIN_SERVICE_ACCOUNT_EMAIL", email),
            ("PLUGIN_STS_ENDPOINT", sts_front.url().as_str()),
            ("PLUGIN_IAM_ENDPOINT", iam_front.url().as_str()),
            ("PLUGIN_ENDPOINT", s.gcs_emulator.as_str()),
            ("PLUGIN_SOURCE", "a.txt"),
            ("PLUGIN_TARGET", &format!("{}/{prefix}/", s.gcs_bucket)),
        ])
    };

    let run = gcs().run();
    let line = error_line(&run, "gcs token, no CA");
    assert_certificate_error(&line, &[], "gcs token, no CA");
    assert!(line.contains("Security Token Service"), "{line}");
    assert_eq!(
        sts_front.forwarded(),
        0,
        "a refused certificate relayed a request"
    );
    assert!(sts.received().is_empty());
    assert_eq!(gcs_object(&s, &format!("{prefix}/a.txt")), None);

    gcs()
        .env("HARNESS_CA_PATH", ca.ca_path())
        .run()
        .assert_success();
    assert_eq!(sts.received().len(), 1, "{:?}", sts.received());
    assert_eq!(iam.received().len(), 1, "{:?}", iam.received());
    assert_eq!(
        gcs_object(&s, &format!("{prefix}/a.txt")),
        Some(b"token over TLS".to_vec())
    );
}

#[test]
fn harness_ca_path_is_trusted_by_the_registry_client_daemonless_push() {
    let s = require_services!();
    let ca = TestCa::new("harness-registry");
    let r = TlsRegistry::start(&s, &ca);
    let (front, registry) = (&r.front, &r.registry);
    let push = |name: &str| r.push(&s, name);

    let name = longshore_tests::unique("harness-ca/refused");
    let run = push(&name).run();
    assert_certificate_error(&error_line(&run, "registry, no CA"), &[], "registry, no CA");
    assert_eq!(
        front.forwarded(),
        0,
        "a refused certificate relayed a request"
    );
    assert_eq!(registry.tags(&name), None);

    let name = longshore_tests::unique("harness-ca/trusted");
    push(&name)
        .env("HARNESS_CA_PATH", ca.ca_path())
        .run()
        .assert_success();
    assert_eq!(registry.tags(&name), Some(vec!["1".to_string()]));
}

/// The base64 body of a PEM text, whitespace removed: the same certificate whatever the line
/// breaks.
fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.split_whitespace())
        .collect()
}

#[test]
fn harness_ca_path_is_handed_to_the_dockerd_we_start_through_certs_d() {
    // A registry name no one else uses, so no other certs.d entry is touched.
    let host = format!("{}.harness-ca.test", longshore_tests::unique("registry"));
    let certs_d = Path::new("/etc/docker/certs.d").join(&host);
    // The plugin writes /etc/docker/certs.d (as root, in its DinD container); a test that cannot
    // write there cannot watch it (the unit tests of tls.rs check the files themselves).
    if std::fs::create_dir_all(&certs_d)
        .and_then(|()| std::fs::remove_dir(&certs_d))
        .is_err()
    {
        eprintln!("skipped: /etc/docker/certs.d is not writable");
        return;
    }
    let _guard = CertsD(certs_d.clone());
    let ca = TestCa::new("harness-dockerd");
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    // A fake dockerd that copies what certs.d holds for the registry when it starts, then exits
    // (no privileges needed, no second daemon on this machine).
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let seen = dir.path().join("seen.crt");
    std::fs::write(
        bin.join("dockerd"),
        format!(
            "#!/bin/sh\ncp {}/harness-ca.crt {} 2>/dev/null\nexit 3\n",
            certs_d.display(),
            seen.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(bin.join("dockerd"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    let docker = || {
        Plugin::new("docker", dir.path())
            .path_prepend(&bin)
            .env(
                "DOCKER_HOST",
                format!("unix://{}/none.sock", dir.path().display()),
            )
            .env("PLUGIN_REPO", format!("{host}/app"))
            .env("PLUGIN_DAEMON_RETRY_COUNT", "30")
    };

    let run = docker().run();
    assert!(run.stderr.contains("exited"), "{}", run.stderr);
    assert!(
        !seen.exists(),
        "a CA was handed to dockerd without HARNESS_CA_PATH"
    );

    let run = docker().env("HARNESS_CA_PATH", ca.ca_path()).run();
    assert!(run.stderr.contains("exited"), "{}", run.stderr);
    let handed = std::fs::read_to_string(&seen).expect("dockerd saw no harness-ca.crt");
    assert_eq!(pem_body(&handed), pem_body(&ca.ca_pem()));
    // Removed with the daemon: nothing of the step is left in the machine's certs.d.
    assert!(!certs_d.exists(), "{} left behind", certs_d.display());
}
