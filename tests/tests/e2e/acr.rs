//! End-to-end tests of `longshore-acr`: Azure AD and the ACR token exchange are the fixtures of
//! `longshore_tests::azure_fixture` (reached through the plugin's real settings: the authority
//! host, the registry host, and `SSL_CERT_FILE` to trust the test CA); the build runs on the real
//! daemon and the push lands in the real TLS registry, through the fixture's registry host.

use std::path::{Path, PathBuf};

use longshore_tests::azure_fixture::{
    AAD_ACCESS_TOKEN, ACR_REFRESH_TOKEN, AzureFixture, ClientAuth, Expect, SCOPE,
};
use longshore_tests::{Plugin, Registry, Services, require_services, unique, write_files};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "0a1b2c3d-app-longshore";
const CLIENT_SECRET: &str = "Az+Secret/value~0123456789";
const OIDC_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmxvbmdzaG9yZSJ9.c2lnbmF0dXJl";
const IDENTITY_HEADER: &str = "longshore-identity-header-value";

fn fixture(s: &Services, auth: ClientAuth) -> AzureFixture {
    let tls_dir = s.ca.parent().expect("CA directory");
    AzureFixture::start(
        Expect {
            tenant: TENANT.into(),
            client_id: CLIENT_ID.into(),
            auth,
            identity_header: IDENTITY_HEADER.into(),
        },
        tls_dir,
        &s.ca,
        &s.registry_tls,
    )
}

/// A workspace with a Dockerfile on the local base image.
fn workspace(s: &Services) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN echo acr > /acr.txt\nCMD [\"/bin/cat\", \"/acr.txt\"]\n",
                s.base_image
            ),
        )],
    );
    dir
}

/// The plugin against the running daemon, trusting the test CA for the Azure calls.
fn acr_plugin(s: &Services, dir: &Path, fx: &AzureFixture) -> Plugin {
    Plugin::new("acr", dir)
        .env("DOCKER_HOST", &s.docker_host)
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_PULL_IMAGE", "false")
        .env("PLUGIN_REGISTRY", &fx.registry)
        .env("AZURE_AUTHORITY_HOST", &fx.authority)
        .env("SSL_CERT_FILE", &s.ca)
}
/// A push to check: a fresh workspace, the repository name `unique(prefix)` and the artifact
/// file the plugin writes there. The workspace lives as long as this.
struct Push {
    dir: tempfile::TempDir,
    name: String,
    artifact: PathBuf,
}

impl Push {
    fn new(s: &Services, prefix: &str) -> Push {
        let dir = workspace(s);
        let artifact = dir.path().join("artifact.json");
        Push {
            dir,
            name: unique(prefix),
            artifact,
        }
    }

    /// [`acr_plugin`] in this workspace, writing this push's artifact file.
    fn plugin(&self, s: &Services, fx: &AzureFixture) -> Plugin {
        acr_plugin(s, self.dir.path(), fx).env("PLUGIN_ARTIFACT_FILE", &self.artifact)
    }
}

/// Runs `plugin` and checks that it succeeded without a secret in its output, which it returns.
fn run_ok(plugin: Plugin) -> String {
    let run = plugin.run();
    run.assert_success();
    let out = run.output();
    assert_no_secret(&out);
    out
}

fn assert_no_secret(out: &str) {
    for secret in [
        CLIENT_SECRET,
        OIDC_TOKEN,
        AAD_ACCESS_TOKEN,
        ACR_REFRESH_TOKEN,
        IDENTITY_HEADER,
    ] {
        assert!(
            !out.contains(secret),
            "a secret leaked into the output:\n{out}"
        );
    }
}

/// The run pushed `name` with `tags`, the artifact file names the pushed digest, type ACR.
fn assert_pushed(s: &Services, fx: &AzureFixture, name: &str, tags: &[&str], artifact: &Path) {
    let reg = Registry::tls(s);
    let mut want: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    want.sort();
    assert_eq!(reg.tags(name), Some(want));
    let digest = reg.digest(name, tags[0]);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifact).expect("artifact file")).unwrap();
    assert_eq!(doc["kind"], "docker/v1");
    assert_eq!(doc["data"]["registryType"], "ACR");
    assert_eq!(doc["data"]["registryUrl"], fx.registry.as_str());
    let images = doc["data"]["images"].as_array().expect("images");
    assert_eq!(images.len(), tags.len());
    for (img, tag) in images.iter().zip(tags) {
        assert_eq!(img["image"], format!("{}/{name}:{tag}", fx.registry));
        assert_eq!(img["digest"], digest.as_str());
    }
}

/// The exchange carried the documented fields, with the token Azure AD issued.
fn assert_exchange(fx: &AzureFixture) {
    let acr = fx.received_by("acr");
    assert_eq!(acr.len(), 1, "{acr:#?}");
    let ex = &acr[0];
    assert_eq!(
        (ex.method.as_str(), ex.path.as_str(), ex.status),
        ("POST", "/oauth2/exchange", 200)
    );
    assert_eq!(ex.form["grant_type"], "access_token");
    assert_eq!(ex.form["service"], fx.registry);
    assert_eq!(ex.form["tenant"], TENANT);
    // Recorded as its length only; the fixture checked the value itself (status 200).
    assert_eq!(
        ex.form["access_token"],
        format!("<{} bytes>", AAD_ACCESS_TOKEN.len())
    );
}

#[test]
fn client_secret_login_exchanges_the_token_and_pushes() {
    let s = require_services!();
    let fx = fixture(&s, ClientAuth::Secret(CLIENT_SECRET.into()));
    let push = Push::new(&s, "acr/secret");
    let name = &push.name;
    run_ok(
        push.plugin(&s, &fx)
            .env("PLUGIN_REPO", name)
            .env("PLUGIN_TAGS", "1.0,latest")
            .env("CLIENT_ID", CLIENT_ID)
            .env("PLUGIN_CLIENT_SECRET", CLIENT_SECRET)
            .env("PLUGIN_TENANT_ID", TENANT),
    );

    let aad = fx.received_by("aad");
    assert_eq!(aad.len(), 1, "{aad:#?}");
    assert_eq!(aad[0].path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(aad[0].status, 200);
    assert_eq!(aad[0].form["grant_type"], "client_credentials");
    assert_eq!(aad[0].form["client_id"], CLIENT_ID);
    assert_eq!(aad[0].form["scope"], SCOPE);
    assert!(aad[0].form.contains_key("client_secret"));
    assert_exchange(&fx);
    assert_pushed(&s, &fx, name, &["1.0", "latest"], &push.artifact);
    // The fixture proxied the push to the TLS registry: pull it back from there and run it.
    let image = format!("{}/{name}:1.0", s.registry_tls);
    assert_eq!(
        longshore_tests::pull_back_and_run(&s, &image, &["/bin/cat", "/acr.txt"]).trim(),
        "acr"
    );
}

#[test]
fn federated_oidc_token_login_pushes() {
    let s = require_services!();
    let fx = fixture(&s, ClientAuth::Assertion(OIDC_TOKEN.into()));
    let push = Push::new(&s, "acr/oidc");
    run_ok(
        push.plugin(&s, &fx)
            .env("PLUGIN_REPO", format!("{}/{}", fx.registry, push.name))
            .env("PLUGIN_TAG", "oidc")
            .env("AZURE_CLIENT_ID", CLIENT_ID)
            .env("AZURE_TENANT_ID", TENANT)
            .env("PLUGIN_OIDC_TOKEN_ID", OIDC_TOKEN),
    );

    let aad = fx.received_by("aad");
    assert_eq!(aad.len(), 1, "{aad:#?}");
    assert_eq!(aad[0].status, 200);
    assert_eq!(
        aad[0].form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert!(!aad[0].form.contains_key("client_secret"));
    assert_exchange(&fx);
    assert_pushed(&s, &fx, &push.name, &["oidc"], &push.artifact);
}

/// A throwaway certificate made with openssl: (base64 of cert + key PEM, x5t, RSA public key).
fn certificate(dir: &Path) -> (String, String, Vec<u8>) {
    use base64::Engine as _;
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "1",
        "-subj",
        "/CN=longshore-acr-test",
    ]);
    openssl(&[
        "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
    ]);
    openssl(&[
        "rsa",
        "-in",
        "key.pem",
        "-RSAPublicKey_out",
        "-outform",
        "DER",
        "-out",
        "pub.der",
    ]);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let thumb = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &read("cert.der"),
    );
    let pem = [read("cert.pem"), read("key.pem")].concat();
    (
        base64::engine::general_purpose::STANDARD.encode(pem),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(thumb.as_ref()),
        read("pub.der"),
    )
}

#[test]
fn client_certificate_login_signs_an_assertion_and_pushes() {
    let s = require_services!();
    let keys = tempfile::tempdir().unwrap();
    let (cert, x5t, rsa_public_key) = certificate(keys.path());
    let fx = fixture(
        &s,
        ClientAuth::Certificate {
            x5t,
            rsa_public_key,
        },
    );
    let push = Push::new(&s, "acr/cert");
    let out = run_ok(
        push.plugin(&s, &fx)
            .env("PLUGIN_REPO", &push.name)
            .env("PLUGIN_TAG", "cert")
            .env("PLUGIN_CLIENT_ID", CLIENT_ID)
            .env("TENANT_ID", TENANT)
            .env("PLUGIN_CLIENT_CERTIFICATE", &cert),
    );
    assert!(!out.contains(&cert[..40]), "{out}");
    let aad = fx.received_by("aad");
    assert_eq!(aad.len(), 1, "{aad:#?}");
    assert_eq!(
        aad[0].status, 200,
        "the fixture verified the signed assertion"
    );
    assert_exchange(&fx);
    assert_pushed(&s, &fx, &push.name, &["cert"], &push.artifact);
}

#[test]
fn app_service_managed_identity_login_pushes() {
    let s = require_services!();
    let fx = fixture(&s, ClientAuth::Secret("unused-secret-value".into()));
    let push = Push::new(&s, "acr/msi");
    // No secret, certificate nor token: the managed identity (App Service's documented variables).
    run_ok(
        push.plugin(&s, &fx)
            .env("PLUGIN_REPO", &push.name)
            .env("PLUGIN_TAG", "msi")
            .env("PLUGIN_TENANT_ID", TENANT)
            .env("IDENTITY_ENDPOINT", &fx.identity_endpoint)
            .env("IDENTITY_HEADER", IDENTITY_HEADER),
    );
    assert!(fx.received_by("aad").is_empty());
    let msi = fx.received_by("msi");
    assert_eq!(msi.len(), 1, "{msi:#?}");
    assert_eq!(msi[0].status, 200);
    assert_eq!(msi[0].form["resource"], "https://management.azure.com");
    assert_exchange(&fx);
    assert_pushed(&s, &fx, &push.name, &["msi"], &push.artifact);
}

#[test]
fn service_principal_direct_login_skips_the_exchange() {
    let s = require_services!();
    let fx = fixture(&s, ClientAuth::Secret(CLIENT_SECRET.into()));
    let push = Push::new(&s, "acr/direct");
    // The TLS registry accepts this pair, as ACR accepts a service principal's id and secret.
    run_ok(
        push.plugin(&s, &fx)
            .env("PLUGIN_REPO", &push.name)
            .env("PLUGIN_TAG", "direct")
            .env(
                "SERVICE_PRINCIPAL_CLIENT_ID",
                "00000000-0000-0000-0000-000000000000",
            )
            .env("SERVICE_PRINCIPAL_CLIENT_SECRET", ACR_REFRESH_TOKEN),
    );
    assert!(fx.received().is_empty(), "{:#?}", fx.received());
    assert_pushed(&s, &fx, &push.name, &["direct"], &push.artifact);
}

#[test]
fn wrong_secret_is_one_clear_line_without_the_secret() {
    let s = require_services!();
    let fx = fixture(&s, ClientAuth::Secret("the-right-secret-value".into()));
    let dir = workspace(&s);
    let run = acr_plugin(&s, dir.path(), &fx)
        .env("PLUGIN_REPO", unique("acr/wrong"))
        .env("CLIENT_ID", CLIENT_ID)
        .env("PLUGIN_CLIENT_SECRET", CLIENT_SECRET)
        .env("PLUGIN_TENANT_ID", TENANT)
        .run();
    run.assert_failure();
    let out = run.output();
    assert_no_secret(&out);
    let errors: Vec<&str> = out.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{out}");
    assert!(errors[0].contains("cannot get an Azure AD token"), "{out}");
    assert!(
        errors[0].contains("AADSTS7000215: Invalid client secret provided."),
        "{out}"
    );
    // Azure AD refused: no exchange was tried, nothing was built.
    assert!(fx.received_by("acr").is_empty());
}

#[test]
fn missing_or_bad_settings_fail_before_any_network_call() {
    let s = require_services!();
    let fx = fixture(&s, ClientAuth::Secret(CLIENT_SECRET.into()));
    let dir = workspace(&s);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("PLUGIN_REGISTRY", "")], "PLUGIN_REGISTRY is required"),
        (
            &[
                ("CLIENT_ID", CLIENT_ID),
                ("PLUGIN_CLIENT_SECRET", CLIENT_SECRET),
            ],
            "PLUGIN_TENANT_ID is required",
        ),
        (
            &[
                ("PLUGIN_TENANT_ID", TENANT),
                ("PLUGIN_CLIENT_SECRET", CLIENT_SECRET),
            ],
            "PLUGIN_CLIENT_ID is required",
        ),
        (
            &[
                ("PLUGIN_TENANT_ID", TENANT),
                ("CLIENT_ID", CLIENT_ID),
                ("PLUGIN_CLIENT_SECRET", CLIENT_SECRET),
                ("PLUGIN_OIDC_TOKEN_ID", OIDC_TOKEN),
            ],
            "PLUGIN_CLIENT_SECRET and PLUGIN_OIDC_TOKEN_ID cannot be used together",
        ),
        (
            &[
                ("PLUGIN_TENANT_ID", TENANT),
                ("CLIENT_ID", CLIENT_ID),
                ("PLUGIN_CLIENT_SECRET", CLIENT_SECRET),
                ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:9"),
            ],
            "AZURE_AUTHORITY_HOST: 'http://127.0.0.1:9' must be an https URL",
        ),
        (
            &[
                ("PLUGIN_TENANT_ID", TENANT),
                ("CLIENT_ID", CLIENT_ID),
                ("PLUGIN_CLIENT_CERTIFICATE", "bm90IGEgY2VydGlmaWNhdGU="),
            ],
            "PLUGIN_CLIENT_CERTIFICATE: has no CERTIFICATE block",
        ),
    ];
    for (vars, want) in cases {
        // An unreachable daemon too: the run must stop before it would be needed.
        let run = acr_plugin(&s, dir.path(), &fx)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("PLUGIN_REPO", "app")
            .envs(vars.iter().copied())
            .run();
        run.assert_failure();
        let out = run.output();
        assert!(out.contains(want), "expected '{want}':\n{out}");
        assert_no_secret(&out);
    }
    assert!(fx.received().is_empty(), "{:#?}", fx.received());
}

#[test]
fn certificate_the_service_principal_does_not_have_is_refused() {
    let s = require_services!();
    let (registered, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, x5t, rsa_public_key) = certificate(registered.path());
    let (cert, _, _) = certificate(other.path());
    let fx = fixture(
        &s,
        ClientAuth::Certificate {
            x5t,
            rsa_public_key,
        },
    );
    let dir = workspace(&s);
    let run = acr_plugin(&s, dir.path(), &fx)
        .env("PLUGIN_REPO", unique("acr/othercert"))
        .env("PLUGIN_CLIENT_ID", CLIENT_ID)
        .env("TENANT_ID", TENANT)
        .env("PLUGIN_CLIENT_CERTIFICATE", &cert)
        .run();
    run.assert_failure();
    let out = run.output();
    assert!(
        out.contains("AADSTS700027: client assertion rejected"),
        "{out}"
    );
    assert!(!out.contains(&cert[..40]), "{out}");
    assert!(fx.received_by("acr").is_empty());
}

#[test]
fn client_id_aliases_follow_plugins_acr_and_a_user_registry_type_is_kept() {
    // #21 rows 9 and 7: with both set, `AZURE_APP_ID` wins over `PLUGIN_CLIENT_ID` (plugins/acr's
    // order, which the kaniko image follows too: the page's `changed` row); the anchors' wrappers
    // overwrote PLUGIN_REGISTRY_TYPE with `ACR`, we keep the user's value (`improved`).
    let s = require_services!();
    let fx = fixture(&s, ClientAuth::Secret(CLIENT_SECRET.into()));
    let push = Push::new(&s, "acr/alias");
    run_ok(
        push.plugin(&s, &fx)
            .env("PLUGIN_REPO", &push.name)
            .env("PLUGIN_TAG", "alias")
            .env("AZURE_APP_ID", CLIENT_ID)
            .env("PLUGIN_CLIENT_ID", "ffffffff-not-the-app")
            .env("PLUGIN_CLIENT_SECRET", CLIENT_SECRET)
            .env("PLUGIN_TENANT_ID", TENANT)
            .env("PLUGIN_REGISTRY_TYPE", "Custom"),
    );
    let aad = fx.received_by("aad");
    assert_eq!(aad.len(), 1, "{aad:#?}");
    assert_eq!(aad[0].form["client_id"], CLIENT_ID);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&push.artifact).expect("artifact file"))
            .unwrap();
    assert_eq!(doc["data"]["registryType"], "Custom");
}

/// `HARNESS_CA_PATH` (issue #15) reaches the Azure pipeline: Azure AD and the registry host serve
/// a certificate of a fresh CA nothing on this machine trusts (no `SSL_CERT_FILE` either), so
/// the login fails without it and goes through with it, token exchange included.
#[test]
fn harness_ca_path_is_trusted_by_the_azure_pipeline() {
    let s = require_services!();
    let ca = longshore_tests::tls::TestCa::new("harness-azure");
    let fx = AzureFixture::start(
        Expect {
            tenant: TENANT.into(),
            client_id: CLIENT_ID.into(),
            auth: ClientAuth::Secret(CLIENT_SECRET.into()),
            identity_header: IDENTITY_HEADER.into(),
        },
        ca.dir(),
        &s.ca,
        &s.registry_tls,
    );
    let dir = workspace(&s);
    let acr = |name: &str| {
        Plugin::new("acr", dir.path())
            .env("DOCKER_HOST", &s.docker_host)
            .env("PLUGIN_DAEMON_OFF", "true")
            .env("PLUGIN_PULL_IMAGE", "false")
            .env("PLUGIN_REGISTRY", &fx.registry)
            .env("AZURE_AUTHORITY_HOST", &fx.authority)
            .env("PLUGIN_REPO", name)
            .env("PLUGIN_TAGS", "1")
            .env("CLIENT_ID", CLIENT_ID)
            .env("PLUGIN_CLIENT_SECRET", CLIENT_SECRET)
            .env("PLUGIN_TENANT_ID", TENANT)
    };

    let name = unique("acr/harness-ca-refused");
    let run = acr(&name).run();
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.stderr.contains("Azure AD token"),
        "not the Azure AD call that failed:\n{}",
        run.stderr
    );
    assert!(fx.received_by("aad").is_empty(), "{:#?}", fx.received());
    assert!(fx.received_by("acr").is_empty(), "{:#?}", fx.received());
    assert_no_secret(&run.output());

    let name = unique("acr/harness-ca");
    let artifact = dir.path().join("artifact.json");
    let run = acr(&name)
        .env("HARNESS_CA_PATH", ca.ca_path())
        .env("PLUGIN_ARTIFACT_FILE", &artifact)
        .run();
    run.assert_success();
    assert_no_secret(&run.output());
    assert_eq!(fx.received_by("aad").len(), 1, "{:#?}", fx.received());
    assert_exchange(&fx);
    assert_pushed(&s, &fx, &name, &["1"], &artifact);
}
