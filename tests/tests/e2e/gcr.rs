//! End-to-end tests of `longshore-gcr` and `longshore-gar`: every Google login flow against the
//! fixture servers of `google_fixture` (OAuth2 token endpoint, STS, IAM, metadata server, and an
//! auth-checking proxy for `_json_key`), the image built by the real daemon and pushed to the
//! local registries, and checked there. Settings errors are checked with every endpoint at a
//! closed port: they must come before any network call.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use longshore_tests::google_fixture::{
    ACCESS_TOKEN, AuthProxy, FEDERATED_TOKEN, Fixture, Role, closed_port, service_account_json,
    test_key,
};
use longshore_tests::{Plugin, Registry, Run, Services, require_services, unique, write_files};

const EMAIL: &str = "ci-pusher@longshore-test.iam.gserviceaccount.com";

/// A plugin run against the running daemon, no base-image pulls, `HOME` in the test's own
/// directory (so no gcloud credentials file of the machine is found).
fn plugin(name: &str, s: &Services, dir: &Path) -> Plugin {
    write_files(
        dir,
        &[(
            "Dockerfile",
            &format!("FROM {}\nRUN echo google > /f\n", s.base_image),
        )],
    );
    Plugin::new(name, dir).envs([
        ("DOCKER_HOST", s.docker_host.as_str()),
        ("PLUGIN_DAEMON_OFF", "true"),
        ("PLUGIN_PULL_IMAGE", "false"),
        ("HOME", dir.to_str().unwrap()),
    ])
}

/// A run that must fail on its settings: no services, the daemon and every Google endpoint at
/// closed ports, so any network call would show up as a different error.
fn offline(name: &str, dir: &Path) -> Plugin {
    write_files(dir, &[("Dockerfile", "FROM scratch\n")]);
    let closed = closed_port();
    Plugin::new(name, dir).envs([
        ("DOCKER_HOST", format!("tcp://{closed}").as_str()),
        ("PLUGIN_DAEMON_OFF", "true"),
        ("HOME", dir.to_str().unwrap()),
        ("PLUGIN_STS_ENDPOINT", format!("http://{closed}").as_str()),
        ("PLUGIN_IAM_ENDPOINT", format!("http://{closed}").as_str()),
        ("GCE_METADATA_HOST", closed.as_str()),
    ])
}

/// The artifact file: kind, type, registry host, and every image with the registry's digest.
fn check_artifact(path: &Path, registry_type: &str, registry_url: &str, image: &str, digest: &str) {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("artifact file")).unwrap();
    assert_eq!(doc["kind"], "docker/v1");
    assert_eq!(doc["data"]["registryType"], registry_type);
    assert_eq!(doc["data"]["registryUrl"], registry_url);
    let images = doc["data"]["images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["image"], image);
    assert_eq!(images[0]["digest"], digest);
}

/// None of `secrets` (nor any line of a multi-line one, nor its base64) is in the output.
fn assert_no_secrets(run: &Run, secrets: &[&str]) {
    let out = run.output();
    for s in secrets {
        let b64 = base64::engine::general_purpose::STANDARD.encode(s);
        assert!(!out.contains(*s), "secret in output:\n{out}");
        assert!(
            !out.contains(b64.trim_end_matches('=')),
            "base64 secret in output:\n{out}"
        );
        for line in s.lines().map(str::trim).filter(|l| l.len() >= 16) {
            assert!(!out.contains(line), "a line of a secret in output:\n{out}");
        }
    }
}

/// The one error line of a failed run.
fn error_line(run: &Run) -> String {
    run.assert_failure();
    let out = run.output();
    let errors: Vec<&str> = out.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "expected one error line:\n{out}");
    errors[0].to_string()
}

#[test]
fn gcr_json_key_logs_in_as_json_key_and_pushes() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let key = test_key();
    let json = service_account_json(&key, EMAIL, "https://oauth2.googleapis.com/token");
    // The registry side demands exactly this login: user _json_key, the whole key as password.
    let proxy = AuthProxy::start(&s.registry_plain, "_json_key", &json);
    let name = unique("gcr/jsonkey");
    let artifact = dir.path().join("artifact.json");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&json);
    let run = plugin("gcr", &s, dir.path())
        .env("PLUGIN_REGISTRY", &proxy.addr)
        .env("PLUGIN_REPO", &name)
        .env("PLUGIN_TAGS", "v1")
        .env("PLUGIN_JSON_KEY", &b64)
        .env("PLUGIN_ARTIFACT_FILE", &artifact)
        .run();
    run.assert_success();
    assert!(run.output().contains("as _json_key"), "{}", run.output());
    assert!(
        proxy.accepted() > 0,
        "nothing reached the registry with the key"
    );
    assert!(
        proxy
            .refused()
            .iter()
            .all(|r| r.contains("no Authorization")),
        "a wrong login reached the proxy: {:?}",
        proxy.refused()
    );
    let digest = Registry::plain(&s).digest(&name, "v1");
    check_artifact(
        &artifact,
        "GCR",
        &proxy.addr,
        &format!("{}/{name}:v1", proxy.addr),
        &digest,
    );
    assert_no_secrets(&run, &[&json, &key.private_pem, &b64]);
}

#[test]
fn gcr_json_key_refused_by_the_registry_fails_without_the_key() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let (right, wrong) = (test_key(), test_key());
    let expected = service_account_json(&right, EMAIL, "https://oauth2.googleapis.com/token");
    let given = service_account_json(&wrong, EMAIL, "https://oauth2.googleapis.com/token");
    let proxy = AuthProxy::start(&s.registry_plain, "_json_key", &expected);
    let name = unique("gcr/jsonkey-wrong");
    let run = plugin("gcr", &s, dir.path())
        .env("PLUGIN_REGISTRY", &proxy.addr)
        .env("PLUGIN_REPO", &name)
        .env("GCR_JSON_KEY", &given)
        .run();
    let line = error_line(&run);
    assert!(line.contains("push"), "{line}");
    assert_eq!(proxy.accepted(), 0);
    assert!(
        proxy
            .refused()
            .iter()
            .any(|r| r.contains("wrong Authorization"))
    );
    assert_eq!(Registry::plain(&s).tags(&name), None);
    assert_no_secrets(&run, &[&given, &wrong.private_pem]);
}

#[test]
fn gcr_workload_identity_mints_a_token_from_the_key_at_its_token_uri() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let key = test_key();
    let oauth = Fixture::start(Role::OAuth {
        public_pem: key.public_pem.clone(),
        email: EMAIL.into(),
    });
    let json = service_account_json(&key, EMAIL, &format!("{}/token", oauth.base));
    let name = unique("gcr/wi");
    let artifact = dir.path().join("artifact.json");
    let run = plugin("gcr", &s, dir.path())
        .env("PLUGIN_REGISTRY", &s.registry_tls)
        .env("PLUGIN_REPO", &name)
        .env("PLUGIN_TAGS", "v1")
        .env("PLUGIN_JSON_KEY", &json)
        .env("PLUGIN_WORKLOAD_IDENTITY", "true")
        .env("PLUGIN_ARTIFACT_FILE", &artifact)
        .run();
    run.assert_success();
    let got = oauth.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].status, 200, "{got:?}");
    assert_eq!(
        got[0].form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let digest = Registry::tls(&s).digest(&name, "v1");
    check_artifact(
        &artifact,
        "GCR",
        &s.registry_tls,
        &format!("{}/{name}:v1", s.registry_tls),
        &digest,
    );
    assert_no_secrets(
        &run,
        &[
            &json,
            &key.private_pem,
            ACCESS_TOKEN,
            &got[0].form["assertion"],
        ],
    );
    let image = format!("{}/{name}:v1", s.registry_tls);
    assert_eq!(
        longshore_tests::pull_back_and_run(&s, &image, &["/bin/cat", "/f"]).trim(),
        "google"
    );
}

#[test]
fn gcr_workload_identity_with_a_key_the_endpoint_refuses_fails_in_one_line() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let (known, unknown) = (test_key(), test_key());
    let oauth = Fixture::start(Role::OAuth {
        public_pem: known.public_pem.clone(),
        email: EMAIL.into(),
    });
    let json = service_account_json(&unknown, EMAIL, &format!("{}/token", oauth.base));
    let name = unique("gcr/wi-wrong");
    let run = plugin("gcr", &s, dir.path())
        .env("PLUGIN_REGISTRY", &s.registry_tls)
        .env("PLUGIN_REPO", &name)
        .env("TOKEN", &json)
        .env("PLUGIN_WORKLOAD_IDENTITY", "true")
        .run();
    let line = error_line(&run);
    assert!(
        line.contains("OAuth2 token endpoint") && line.contains("HTTP 400"),
        "{line}"
    );
    let got = oauth.received();
    assert_eq!(got.len(), 1, "a 400 is not retried: {got:?}");
    assert_eq!(Registry::tls(&s).tags(&name), None);
    assert_no_secrets(
        &run,
        &[&json, &unknown.private_pem, &got[0].form["assertion"]],
    );
}

fn federation(project: &str, pool: &str, provider: &str) -> String {
    format!(
        "//iam.googleapis.com/projects/{project}/locations/global/workloadIdentityPools/{pool}/providers/{provider}"
    )
}

#[test]
fn gar_workload_identity_federation_exchanges_the_oidc_token() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let oidc = "eyJhbGciOiJSUzI1NiJ9.longshore-ci-oidc-token.c2lnbmF0dXJl";
    let sts = Fixture::start(Role::Sts {
        subject_token: oidc.into(),
        audience: federation("123456789012", "ci-pool", "harness"),
    });
    let iam = Fixture::start(Role::Iam {
        email: EMAIL.into(),
    });
    let name = unique("gar/wif");
    let artifact = dir.path().join("artifact.json");
    let run = plugin("gar", &s, dir.path())
        .env("PLUGIN_LOCATION", "europe-west1")
        .env("PLUGIN_REGISTRY", &s.registry_tls)
        .env("PLUGIN_REPO", &name)
        .env("PLUGIN_TAGS", "v1")
        .env("PLUGIN_OIDC_TOKEN_ID", oidc)
        .env("PLUGIN_PROJECT_NUMBER", "123456789012")
        .env("PLUGIN_POOL_ID", "ci-pool")
        .env("PLUGIN_PROVIDER_ID", "harness")
        .env("PLUGIN_SERVICE_ACCOUNT_EMAIL", EMAIL)
        .env("PLUGIN_STS_ENDPOINT", &sts.base)
        .env("PLUGIN_IAM_ENDPOINT", format!("{}/", iam.base))
        .env("PLUGIN_ARTIFACT_FILE", &artifact)
        .run();
    run.assert_success();
    let got = sts.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].status, 200, "{got:?}");
    assert_eq!(got[0].form["subject_token"], oidc);
    assert_eq!(
        got[0].form["audience"],
        federation("123456789012", "ci-pool", "harness")
    );
    let got = iam.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].status, 200, "{got:?}");
    assert_eq!(
        got[0].headers["authorization"],
        format!("Bearer {FEDERATED_TOKEN}")
    );
    let digest = Registry::tls(&s).digest(&name, "v1");
    check_artifact(
        &artifact,
        "GAR",
        &s.registry_tls,
        &format!("{}/{name}:v1", s.registry_tls),
        &digest,
    );
    assert_no_secrets(&run, &[oidc, FEDERATED_TOKEN, ACCESS_TOKEN]);
    let image = format!("{}/{name}:v1", s.registry_tls);
    assert_eq!(
        longshore_tests::pull_back_and_run(&s, &image, &["/bin/cat", "/f"]).trim(),
        "google"
    );
}

#[test]
fn gar_federation_with_a_refused_oidc_token_fails_without_the_token() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let sts = Fixture::start(Role::Sts {
        subject_token: "the-token-the-pool-trusts".into(),
        audience: federation("42", "pool", "prov"),
    });
    let iam = Fixture::start(Role::Iam {
        email: EMAIL.into(),
    });
    let oidc = "eyJhbGciOiJSUzI1NiJ9.an-untrusted-oidc-token.c2ln";
    let run = plugin("gar", &s, dir.path())
        .env("PLUGIN_LOCATION", "us")
        .env("PLUGIN_REPO", "proj/repo/app")
        .env("PLUGIN_OIDC_TOKEN_ID", oidc)
        .env("PLUGIN_PROJECT_NUMBER", "42")
        .env("PLUGIN_POOL_ID", "pool")
        .env("PLUGIN_PROVIDER_ID", "prov")
        .env("PLUGIN_SERVICE_ACCOUNT_EMAIL", EMAIL)
        .env("PLUGIN_STS_ENDPOINT", &sts.base)
        .env("PLUGIN_IAM_ENDPOINT", &iam.base)
        .run();
    let line = error_line(&run);
    assert!(
        line.contains("Security Token Service") && line.contains("HTTP 401"),
        "{line}"
    );
    assert_eq!(sts.received().len(), 1);
    assert!(
        iam.received().is_empty(),
        "IAM called after a refused exchange"
    );
    assert_no_secrets(&run, &[oidc]);
}

#[test]
fn gcr_without_credentials_uses_the_metadata_server() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let md = Fixture::start(Role::Metadata);
    let name = unique("gcr/adc-md");
    let artifact = dir.path().join("artifact.json");
    let run = plugin("gcr", &s, dir.path())
        .env("PLUGIN_REGISTRY", &s.registry_tls)
        .env("PLUGIN_REPO", &name)
        .env("PLUGIN_TAGS", "v1")
        .env("GCE_METADATA_HOST", &md.addr)
        .env("PLUGIN_ARTIFACT_FILE", &artifact)
        .run();
    run.assert_success();
    let got = md.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].status, 200, "{got:?}");
    assert_eq!(got[0].headers["metadata-flavor"], "Google");
    let digest = Registry::tls(&s).digest(&name, "v1");
    check_artifact(
        &artifact,
        "GCR",
        &s.registry_tls,
        &format!("{}/{name}:v1", s.registry_tls),
        &digest,
    );
    assert_no_secrets(&run, &[ACCESS_TOKEN]);
}

#[test]
fn gar_application_default_credentials_file_mints_a_token() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let key = test_key();
    let oauth = Fixture::start(Role::OAuth {
        public_pem: key.public_pem.clone(),
        email: EMAIL.into(),
    });
    let json = service_account_json(&key, EMAIL, &format!("{}/token", oauth.base));
    let adc = dir.path().join("adc.json");
    std::fs::write(&adc, &json).unwrap();
    let name = unique("gar/adc-file");
    let run = plugin("gar", &s, dir.path())
        .env("PLUGIN_REGISTRY", &s.registry_tls)
        .env("PLUGIN_REPO", &name)
        .env("PLUGIN_TAGS", "v1")
        .env("GOOGLE_APPLICATION_CREDENTIALS", &adc)
        // Must not be asked: the file comes first.
        .env("GCE_METADATA_HOST", closed_port())
        .run();
    run.assert_success();
    assert_eq!(oauth.received().len(), 1);
    assert_eq!(Registry::tls(&s).tags(&name), Some(vec!["v1".into()]));
    assert_no_secrets(&run, &[&json, &key.private_pem, ACCESS_TOKEN]);
}

#[test]
fn no_reachable_credentials_fail_fast_in_one_line() {
    let _ = longshore_tests::plugin_bin("gcr");
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let run = offline("gcr", dir.path())
        .env("PLUGIN_REPO", "proj/app")
        .run();
    let line = error_line(&run);
    assert!(
        line.contains("no Google credentials")
            && line.contains("PLUGIN_JSON_KEY")
            && line.contains("GOOGLE_APPLICATION_CREDENTIALS")
            && line.contains("metadata server"),
        "{line}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
}

/// A settings case: binary, variables, what the error line must contain.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);

#[test]
fn missing_or_partial_settings_fail_before_any_network_call() {
    let dir = tempfile::tempdir().unwrap();
    let oidc = "eyJhbGciOiJSUzI1NiJ9.partial-oidc-token.c2ln";
    let cases: Vec<Case<'_>> = vec![
        (
            "gcr",
            vec![
                ("PLUGIN_REPO", "p/app"),
                ("PLUGIN_OIDC_TOKEN_ID", oidc),
                ("PLUGIN_PROJECT_NUMBER", "42"),
                ("PLUGIN_SERVICE_ACCOUNT_EMAIL", EMAIL),
            ],
            vec!["PLUGIN_POOL_ID, PLUGIN_PROVIDER_ID is required"],
        ),
        (
            "gar",
            vec![("PLUGIN_REPO", "p/r/app")],
            vec!["PLUGIN_LOCATION", "PLUGIN_REGISTRY"],
        ),
        (
            "gcr",
            vec![
                ("PLUGIN_REPO", "p/app"),
                ("GOOGLE_CREDENTIALS", "%%not a key%%"),
            ],
            vec!["GOOGLE_CREDENTIALS: is neither a JSON key nor the base64 of one"],
        ),
        (
            "gcr",
            vec![
                ("PLUGIN_REPO", "p/app"),
                (
                    "PLUGIN_JSON_KEY",
                    "{\"type\":\"service_account\",\"client_email\":\"a@b\",\"private_key\":\"not a pem\"}",
                ),
            ],
            vec!["PLUGIN_JSON_KEY: private_key is not an RSA private key"],
        ),
        (
            "gar",
            vec![
                ("PLUGIN_LOCATION", "us"),
                ("PLUGIN_REPO", "p/r/app"),
                ("PLUGIN_JSON_KEY", "{\"type\":\"service_account\"}"),
                ("PLUGIN_OIDC_TOKEN_ID", oidc),
                ("PLUGIN_PROJECT_NUMBER", "42"),
                ("PLUGIN_POOL_ID", "pool"),
                ("PLUGIN_PROVIDER_ID", "prov"),
                ("PLUGIN_SERVICE_ACCOUNT_EMAIL", EMAIL),
            ],
            vec!["PLUGIN_JSON_KEY and PLUGIN_OIDC_TOKEN_ID cannot be used together"],
        ),
        (
            "gcr",
            vec![
                ("PLUGIN_REPO", "p/app"),
                ("PLUGIN_WORKLOAD_IDENTITY", "true"),
                ("PLUGIN_USERNAME", "someone"),
                ("PLUGIN_PASSWORD", "a-password-value"),
            ],
            vec!["PLUGIN_WORKLOAD_IDENTITY and PLUGIN_PASSWORD cannot be used together"],
        ),
        (
            "gcr",
            vec![
                ("PLUGIN_REPO", "p/app"),
                ("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json"),
            ],
            vec!["GOOGLE_APPLICATION_CREDENTIALS: cannot read /nonexistent/adc.json"],
        ),
        (
            "gcr",
            vec![
                ("PLUGIN_REPO", "p/app"),
                ("PLUGIN_WORKLOAD_IDENTITY", "yes please"),
            ],
            vec!["PLUGIN_WORKLOAD_IDENTITY:"],
        ),
    ];
    for (bin, vars, wants) in cases {
        let start = Instant::now();
        let mut p = offline(bin, dir.path());
        for (k, v) in &vars {
            p = p.env(k, v);
        }
        // The endpoints the case would use are closed: a network call would be another error.
        let run = p.env("PLUGIN_STS_ENDPOINT", "https://sts.invalid").run();
        let line = error_line(&run);
        for want in wants {
            assert!(line.contains(want), "{bin} {vars:?}: {line}");
        }
        assert!(
            !line.contains("cannot reach") && !line.contains("docker daemon"),
            "{line}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{line}");
        assert_no_secrets(&run, &[oidc, "a-password-value"]);
    }
}

#[test]
fn gar_location_maps_to_its_registry_host() {
    let _ = longshore_tests::plugin_bin("gar");
    let dir = tempfile::tempdir().unwrap();
    let key = test_key();
    let json = service_account_json(&key, EMAIL, "https://oauth2.googleapis.com/token");
    let run = offline("gar", dir.path())
        .env("PLUGIN_LOCATION", "europe-west1")
        .env("PLUGIN_REPO", "longshore-test/images/app")
        .env("PLUGIN_JSON_KEY", &json)
        .env("PLUGIN_DRY_RUN", "true")
        .run();
    // The daemon is at a closed port, so the run ends there, after the plan and the login.
    run.assert_failure();
    let out = run.output();
    assert!(
        out.contains("europe-west1-docker.pkg.dev/longshore-test/images/app"),
        "{out}"
    );
    assert!(
        out.contains("login: europe-west1-docker.pkg.dev as _json_key"),
        "{out}"
    );
    assert_no_secrets(&run, &[&json, &key.private_pem]);
}
