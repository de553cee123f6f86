//! The shipped images, run exactly as a CI runner runs a step: `docker run` with only `PLUGIN_*`
//! / `DRONE_*` variables, the workspace mounted as the working directory and the output files
//! inside it, against the real local services and fixtures. `tests/scripts/test.sh` (and so
//! `.ci/run`) builds the images from the very binaries the other tests ran (`docker/build.sh
//! --prebuilt`) and sets `LONGSHORE_IMAGES=built`; without it these tests skip, or fail under
//! `CI=true`, so an image that is not built and run is never reported as tested.

use std::path::Path;

use longshore_tests::{Registry, Run, Services, aws_cli, docker_cli, unique, write_files};

const WORKSPACE: &str = "/drone/src";

/// The plugins that exist, by kind.
fn plugins() -> Vec<&'static str> {
    [
        "docker", "ecr", "gcr", "gar", "acr", "s3", "gcs", "jfrog", "nexus",
    ]
    .into_iter()
    .filter(|p| {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins"))
            .join(p)
            .is_dir()
    })
    .collect()
}

/// The services, once the images of this build exist (see the file's doc).
macro_rules! require_images {
    () => {{
        let Some(s) = longshore_tests::services() else {
            return;
        };
        if std::env::var("LONGSHORE_IMAGES").as_deref() != Ok("built") {
            let msg = "the plugin images of this build are not there: run tests/scripts/test.sh";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
            eprintln!("skipped: {msg}");
            return;
        }
        s
    }};
}

fn image(plugin: &str) -> String {
    format!("longshore/{plugin}:latest")
}

/// `docker run` of a plugin image as a step: workspace mounted at /drone/src, host network (the
/// services listen on loopback), only the given variables.
fn step(s: &Services, plugin: &str, workspace: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--network".into(),
        "host".into(),
        "-v".into(),
        format!("{}:{WORKSPACE}", workspace.display()),
        "-w".into(),
        WORKSPACE.into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    for (k, v) in env {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    args.push(image(plugin));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker_cli(s, &refs)
}

#[test]
fn every_image_starts_reports_its_version_and_carries_the_oci_labels() {
    let s = require_images!();
    for p in plugins() {
        let run = docker_cli(&s, &["run", "--rm", &image(p), "--version"]);
        assert_eq!(run.code, 0, "{p}: {}", run.output());
        assert!(
            run.stdout.starts_with(&format!("longshore-{p} ")),
            "{p}: {}",
            run.stdout
        );
        let labels = docker_cli(
            &s,
            &[
                "image",
                "inspect",
                "-f",
                "{{json .Config.Labels}}",
                &image(p),
            ],
        );
        let labels: serde_json::Value = serde_json::from_str(labels.stdout.trim()).unwrap();
        for key in ["source", "revision", "version", "title"] {
            let v = labels[format!("org.opencontainers.image.{key}")]
                .as_str()
                .unwrap_or("");
            assert!(!v.is_empty(), "{p}: label {key} missing: {labels}");
        }
    }
}

#[test]
fn upload_images_are_a_static_binary_and_ca_certificates() {
    let s = require_images!();
    for p in plugins()
        .into_iter()
        .filter(|p| ["s3", "gcs", "jfrog", "nexus"].contains(p))
    {
        // FROM scratch: the filesystem is the binary and the CA bundle, nothing else (no shell,
        // no libc), so `--version` running at all proves the binary is static.
        let dir = tempfile::tempdir().unwrap();
        let tar = dir.path().join("fs.tar");
        let created = docker_cli(&s, &["create", &image(p)]);
        assert_eq!(created.code, 0, "{p}: {}", created.output());
        let id = created.stdout.trim().to_string();
        docker_cli(&s, &["export", "-o", tar.to_str().unwrap(), &id]).assert_success();
        docker_cli(&s, &["rm", &id]);
        let listing = std::process::Command::new("tar")
            .arg("-tf")
            .arg(&tar)
            .output()
            .unwrap();
        let mut files: Vec<String> = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .filter(|l| !l.ends_with('/'))
            .map(str::to_string)
            .collect();
        files.sort();
        // docker adds its own empty mount points for /etc/hosts and friends and .dockerenv.
        files.retain(|f| {
            !matches!(
                f.as_str(),
                ".dockerenv"
                    | "etc/hosts"
                    | "etc/hostname"
                    | "etc/resolv.conf"
                    | "etc/mtab"
                    | "proc"
                    | "sys"
                    | "dev/console"
                    | "dev/pts"
                    | "dev/shm"
            )
        });
        assert_eq!(
            files,
            vec!["bin/plugin", "etc/ssl/certs/ca-certificates.crt"],
            "{p}"
        );
        let size: u64 = docker_cli(&s, &["image", "inspect", "-f", "{{.Size}}", &image(p)])
            .stdout
            .trim()
            .parse()
            .unwrap();
        eprintln!("{p}: image {size} bytes");
        // The issue's target: an upload image is at most 15 MB.
        assert!(size <= 15 * 1000 * 1000, "{p}: image is {size} bytes");
        let no_shell = docker_cli(
            &s,
            &[
                "run",
                "--rm",
                "--entrypoint",
                "/bin/sh",
                &image(p),
                "-c",
                "true",
            ],
        );
        assert_ne!(no_shell.code, 0, "{p}: the image has a shell");
    }
}

#[test]
fn s3_image_uploads_as_a_pipeline_step() {
    let s = require_images!();
    let ws = tempfile::tempdir().unwrap();
    write_files(
        ws.path(),
        &[
            ("dist/index.html", "<html></html>"),
            ("dist/app.js", "x"),
            ("dist/app.js.map", "{}"),
        ],
    );
    let prefix = unique("image-s3");
    let run = step(
        &s,
        "s3",
        ws.path(),
        &[],
        &[
            ("PLUGIN_BUCKET", &s.bucket),
            ("PLUGIN_ENDPOINT", &s.s3sfs),
            ("PLUGIN_PATH_STYLE", "true"),
            ("PLUGIN_ACCESS_KEY", &s.s3sfs_access_key),
            ("PLUGIN_SECRET_KEY", &s.s3sfs_secret_key),
            ("PLUGIN_SOURCE", "dist/**/*"),
            ("PLUGIN_EXCLUDE", "**/*.map"),
            ("PLUGIN_STRIP_PREFIX", "dist/"),
            ("PLUGIN_TARGET", &prefix),
            ("PLUGIN_ARTIFACT_FILE", "/drone/src/.out/artifact.json"),
            ("DRONE_OUTPUT", "/drone/src/.out/output.env"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let listed = aws_cli(
        &s,
        &s.s3sfs,
        (&s.s3sfs_access_key, &s.s3sfs_secret_key),
        &[
            "s3",
            "ls",
            "--recursive",
            &format!("s3://{}/{prefix}/", s.bucket),
        ],
    );
    assert!(
        listed.stdout.contains(&format!("{prefix}/index.html")),
        "{}",
        listed.stdout
    );
    assert!(listed.stdout.contains(&format!("{prefix}/app.js")));
    assert!(!listed.stdout.contains(".map"));
    let out = std::fs::read_to_string(ws.path().join(".out/output.env")).unwrap();
    assert!(out.contains("uploaded_count=\"2\""), "{out}");
    let art = std::fs::read_to_string(ws.path().join(".out/artifact.json")).unwrap();
    assert!(
        art.contains("fileUpload/v1") && art.contains(&format!("{prefix}/index.html")),
        "{art}"
    );
}

#[test]
fn docker_image_with_the_host_socket_builds_and_pushes() {
    let s = require_images!();
    let ws = tempfile::tempdir().unwrap();
    write_files(
        ws.path(),
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN echo from-image > /i\nCMD [\"/bin/cat\", \"/i\"]\n",
                s.base_image
            ),
        )],
    );
    let name = unique("image/docker");
    let repo = format!("{}/{name}", s.registry_plain);
    let run = step(
        &s,
        "docker",
        ws.path(),
        &["-v", "/var/run/docker.sock:/var/run/docker.sock"],
        &[
            ("PLUGIN_DAEMON_OFF", "true"),
            ("PLUGIN_PULL_IMAGE", "false"),
            ("PLUGIN_REPO", &repo),
            ("PLUGIN_TAGS", "1,latest"),
            ("PLUGIN_ARTIFACT_FILE", "/drone/src/.out/artifact.json"),
            ("DRONE_OUTPUT", "/drone/src/.out/output.env"),
            ("DRONE_COMMIT_SHA", "abcdef0123"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let reg = Registry::plain(&s);
    assert_eq!(reg.tags(&name), Some(vec!["1".into(), "latest".into()]));
    let digest = reg.digest(&name, "1");
    let out = std::fs::read_to_string(ws.path().join(".out/output.env")).unwrap();
    assert!(out.contains(&format!("digest=\"{digest}\"")), "{out}");
    let art = std::fs::read_to_string(ws.path().join(".out/artifact.json")).unwrap();
    assert!(art.contains(&digest), "{art}");
    docker_cli(&s, &["pull", &format!("{repo}:1")]).assert_success();
    assert_eq!(
        docker_cli(&s, &["run", "--rm", &format!("{repo}:1")])
            .stdout
            .trim(),
        "from-image"
    );
    docker_cli(&s, &["rmi", &format!("{repo}:1")]);
}

#[test]
fn ecr_image_logs_in_through_moto_and_pushes() {
    let s = require_images!();
    let ws = tempfile::tempdir().unwrap();
    write_files(
        ws.path(),
        &[(
            "Dockerfile",
            &format!("FROM {}\nRUN echo ecr-image > /e\n", s.base_image),
        )],
    );
    let name = unique("image/ecr");
    let run = step(
        &s,
        "ecr",
        ws.path(),
        &["-v", "/var/run/docker.sock:/var/run/docker.sock"],
        &[
            ("PLUGIN_DAEMON_OFF", "true"),
            ("PLUGIN_PULL_IMAGE", "false"),
            ("PLUGIN_REGISTRY", &s.registry_tls),
            ("PLUGIN_REPO", &name),
            ("PLUGIN_TAGS", "1"),
            ("PLUGIN_ACCESS_KEY", "AKIAIMAGETEST"),
            ("PLUGIN_SECRET_KEY", "image-test-secret-key"),
            ("AWS_ENDPOINT_URL", &s.moto),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(!run.output().contains("image-test-secret-key"));
    assert_eq!(Registry::tls(&s).tags(&name), Some(vec!["1".into()]));
}

#[test]
fn registry_images_refuse_bad_settings_before_any_work() {
    let s = require_images!();
    let ws = tempfile::tempdir().unwrap();
    for p in plugins()
        .into_iter()
        .filter(|p| ["docker", "ecr", "gcr", "gar", "acr"].contains(p))
    {
        let run = step(
            &s,
            p,
            ws.path(),
            &[],
            &[("PLUGIN_REPO", "x/y"), ("PLUGIN_DRY_RUN", "maybe")],
        );
        assert_eq!(run.code, 1, "{p}: {}", run.output());
        assert!(
            run.stderr
                .contains("PLUGIN_DRY_RUN: 'maybe' is not a boolean"),
            "{p}: {}",
            run.stderr
        );
    }
}

#[test]
fn docker_image_in_docker_in_docker_mode_where_privileged_containers_are_allowed() {
    let s = require_images!();
    let ws = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_files(
        ws.path(),
        &[
            ("Dockerfile", "FROM scratch\nCOPY hello.txt /hello.txt\n"),
            ("hello.txt", "dind"),
        ],
    );
    // Its own network namespace (not host): a second dockerd beside the host's would delete the
    // host's docker0. No registry is reachable from there, so this step builds and saves.
    let probe = docker_cli(
        &s,
        &[
            "run",
            "--rm",
            "--privileged",
            "--entrypoint",
            "/bin/true",
            &image("docker"),
        ],
    );
    if probe.code != 0 && probe.stderr.contains("operation not permitted") {
        eprintln!(
            "skipped: this machine does not allow privileged containers ({})",
            probe.stderr.trim()
        );
        return;
    }
    let args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--privileged".into(),
        "-v".into(),
        format!("{}:{WORKSPACE}", ws.path().display()),
        "-w".into(),
        WORKSPACE.into(),
        "-v".into(),
        format!("{}:/var/lib/docker", data.path().display()),
        "-e".into(),
        "PLUGIN_REPO=local/dind".into(),
        "-e".into(),
        "PLUGIN_DRY_RUN=true".into(),
        "-e".into(),
        "PLUGIN_PULL_IMAGE=false".into(),
        "-e".into(),
        "PLUGIN_TAR_PATH=out/image.tar".into(),
        image("docker"),
    ];
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = docker_cli(&s, &refs);
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(ws.path().join("out/image.tar").is_file());
}

/// The image plugins' step arguments: the host's daemon through its socket.
const HOST_SOCKET: [&str; 2] = ["-v", "/var/run/docker.sock:/var/run/docker.sock"];

fn dockerfile(ws: &Path, s: &Services, line: &str) {
    write_files(
        ws,
        &[(
            "Dockerfile",
            &format!("FROM {}\nRUN echo {line} > /l\n", s.base_image),
        )],
    );
}

/// The `docker/v1` artifact file the step wrote names the registry's digest of `image`.
fn assert_docker_artifact(ws: &Path, registry_type: &str, image: &str, digest: &str) {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.join(".out/artifact.json")).expect("artifact file"),
    )
    .unwrap();
    assert_eq!(doc["kind"], "docker/v1", "{doc}");
    assert_eq!(doc["data"]["registryType"], registry_type, "{doc}");
    assert_eq!(doc["data"]["images"][0]["image"], image, "{doc}");
    assert_eq!(doc["data"]["images"][0]["digest"], digest, "{doc}");
}

#[test]
fn gcr_image_logs_in_with_the_json_key_and_pushes() {
    use longshore_tests::google_fixture::{AuthProxy, service_account_json, test_key};
    let s = require_images!();
    let ws = tempfile::tempdir().unwrap();
    dockerfile(ws.path(), &s, "gcr-image");
    let key = test_key();
    let json = service_account_json(
        &key,
        "ci@longshore-test.iam.gserviceaccount.com",
        "https://oauth2.googleapis.com/token",
    );
    // The registry side accepts exactly `_json_key` with the whole key as the password.
    let proxy = AuthProxy::start(&s.registry_plain, "_json_key", &json);
    let name = unique("image/gcr");
    let run = step(
        &s,
        "gcr",
        ws.path(),
        &HOST_SOCKET,
        &[
            ("PLUGIN_DAEMON_OFF", "true"),
            ("PLUGIN_PULL_IMAGE", "false"),
            ("PLUGIN_REGISTRY", &proxy.addr),
            ("PLUGIN_REPO", &name),
            ("PLUGIN_TAGS", "v1"),
            ("PLUGIN_JSON_KEY", &json),
            ("PLUGIN_ARTIFACT_FILE", "/drone/src/.out/artifact.json"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(!run.output().contains(&key.private_pem[40..80]));
    assert!(proxy.accepted() > 0, "nothing reached the registry");
    let digest = Registry::plain(&s).digest(&name, "v1");
    assert_docker_artifact(
        ws.path(),
        "GCR",
        &format!("{}/{name}:v1", proxy.addr),
        &digest,
    );
}

#[test]
fn gar_image_exchanges_an_oidc_token_and_pushes() {
    use longshore_tests::google_fixture::{FEDERATED_TOKEN, Fixture, Role};
    let s = require_images!();
    let ws = tempfile::tempdir().unwrap();
    dockerfile(ws.path(), &s, "gar-image");
    let oidc = "eyJhbGciOiJSUzI1NiJ9.longshore-image-oidc.c2lnbmF0dXJl";
    let audience = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci-pool/providers/harness";
    let sts = Fixture::start(Role::Sts {
        subject_token: oidc.into(),
        audience: audience.into(),
    });
    let iam = Fixture::start(Role::Iam {
        email: "ci@longshore-test.iam.gserviceaccount.com".into(),
    });
    let name = unique("image/gar");
    let iam_endpoint = format!("{}/", iam.base);
    let run = step(
        &s,
        "gar",
        ws.path(),
        &HOST_SOCKET,
        &[
            ("PLUGIN_DAEMON_OFF", "true"),
            ("PLUGIN_PULL_IMAGE", "false"),
            ("PLUGIN_LOCATION", "europe-west1"),
            ("PLUGIN_REGISTRY", &s.registry_tls),
            ("PLUGIN_REPO", &name),
            ("PLUGIN_TAGS", "v1"),
            ("PLUGIN_OIDC_TOKEN_ID", oidc),
            ("PLUGIN_PROJECT_NUMBER", "123456789012"),
            ("PLUGIN_POOL_ID", "ci-pool"),
            ("PLUGIN_PROVIDER_ID", "harness"),
            (
                "PLUGIN_SERVICE_ACCOUNT_EMAIL",
                "ci@longshore-test.iam.gserviceaccount.com",
            ),
            ("PLUGIN_STS_ENDPOINT", &sts.base),
            ("PLUGIN_IAM_ENDPOINT", &iam_endpoint),
            ("PLUGIN_ARTIFACT_FILE", "/drone/src/.out/artifact.json"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(!run.output().contains(oidc) && !run.output().contains(FEDERATED_TOKEN));
    let got = sts.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].form["subject_token"], oidc);
    assert_eq!(iam.received().len(), 1);
    let digest = Registry::tls(&s).digest(&name, "v1");
    assert_docker_artifact(
        ws.path(),
        "GAR",
        &format!("{}/{name}:v1", s.registry_tls),
        &digest,
    );
}

#[test]
fn acr_image_logs_in_through_azure_ad_and_pushes() {
    use longshore_tests::azure_fixture::{AzureFixture, ClientAuth, Expect};
    let s = require_images!();
    let ws = tempfile::tempdir().unwrap();
    dockerfile(ws.path(), &s, "acr-image");
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let client = "0a1b2c3d-app-longshore";
    let secret = "Az+Image/secret~0123456789";
    let fx = AzureFixture::start(
        Expect {
            tenant: tenant.into(),
            client_id: client.into(),
            auth: ClientAuth::Secret(secret.into()),
            identity_header: "unused".into(),
        },
        s.ca.parent().expect("CA directory"),
        &s.ca,
        &s.registry_tls,
    );
    // The fixture's certificates are signed by the test CA: the container trusts it through the
    // standard variable, from a file in the mounted workspace.
    std::fs::copy(&s.ca, ws.path().join("test-ca.crt")).unwrap();
    let name = unique("image/acr");
    let run = step(
        &s,
        "acr",
        ws.path(),
        &HOST_SOCKET,
        &[
            ("PLUGIN_DAEMON_OFF", "true"),
            ("PLUGIN_PULL_IMAGE", "false"),
            ("PLUGIN_REGISTRY", &fx.registry),
            ("PLUGIN_REPO", &name),
            ("PLUGIN_TAGS", "1.0"),
            ("AZURE_AUTHORITY_HOST", &fx.authority),
            ("SSL_CERT_FILE", "/drone/src/test-ca.crt"),
            ("CLIENT_ID", client),
            ("PLUGIN_CLIENT_SECRET", secret),
            ("PLUGIN_TENANT_ID", tenant),
            ("PLUGIN_ARTIFACT_FILE", "/drone/src/.out/artifact.json"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(!run.output().contains(secret));
    assert_eq!(fx.received_by("aad").len(), 1);
    assert_eq!(fx.received_by("acr").len(), 1);
    let digest = Registry::tls(&s).digest(&name, "1.0");
    assert_docker_artifact(
        ws.path(),
        "ACR",
        &format!("{}/{name}:1.0", fx.registry),
        &digest,
    );
}

#[test]
fn gcs_image_uploads_as_a_pipeline_step() {
    let s = require_images!();
    assert!(
        !s.gcs_emulator.is_empty(),
        "LONGSHORE_GCS_EMULATOR is missing: run tests/scripts/services-up.sh"
    );
    let ws = tempfile::tempdir().unwrap();
    write_files(
        ws.path(),
        &[("site/index.html", "<p>gcs</p>"), ("site/a/app.js", "js")],
    );
    let prefix = unique("image-gcs");
    let run = step(
        &s,
        "gcs",
        ws.path(),
        &[],
        &[
            (
                "STORAGE_EMULATOR_HOST",
                s.gcs_emulator.trim_start_matches("http://"),
            ),
            ("PLUGIN_SOURCE", "site"),
            ("PLUGIN_TARGET", &format!("{}/{prefix}/", s.gcs_bucket)),
            ("PLUGIN_ARTIFACT_FILE", "/drone/src/.out/artifact.json"),
            ("DRONE_OUTPUT", "/drone/src/.out/output.env"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    for (name, want) in [("index.html", "<p>gcs</p>"), ("a/app.js", "js")] {
        let url = format!(
            "{}/download/storage/v1/b/{}/o/{}?alt=media",
            s.gcs_emulator,
            s.gcs_bucket,
            url::form_urlencoded::byte_serialize(format!("{prefix}/{name}").as_bytes())
                .collect::<String>()
        );
        let got = reqwest::blocking::get(&url).unwrap();
        assert!(got.status().is_success(), "{url}: {}", got.status());
        assert_eq!(got.text().unwrap(), want, "{name}");
    }
    let out = std::fs::read_to_string(ws.path().join(".out/output.env")).unwrap();
    assert!(out.contains("uploaded_count=\"2\""), "{out}");
    let art = std::fs::read_to_string(ws.path().join(".out/artifact.json")).unwrap();
    assert!(
        art.contains("fileUpload/v1") && art.contains(&prefix),
        "{art}"
    );
}

#[test]
fn jfrog_image_uploads_as_a_pipeline_step() {
    use longshore_tests::artifactory_fixture::{Artifactory, TOKEN};
    let s = require_images!();
    let fx = Artifactory::start(&["libs"]);
    let ws = tempfile::tempdir().unwrap();
    write_files(ws.path(), &[("dist/app-1.0.zip", "zip bytes")]);
    // By name, not address: the static binary in an image with no NSS modules and no libc
    // must still resolve it (from the /etc/hosts docker gives the container).
    let url = fx.url().replace("127.0.0.1", "localhost");
    let run = step(
        &s,
        "jfrog",
        ws.path(),
        &[],
        &[
            ("PLUGIN_URL", &url),
            ("PLUGIN_ACCESS_TOKEN", TOKEN),
            ("PLUGIN_SOURCE", "dist/*.zip"),
            ("PLUGIN_TARGET", "libs/releases/"),
            ("PLUGIN_FLAT", "true"),
            ("DRONE_OUTPUT", "/drone/src/.out/output.env"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(!run.output().contains(TOKEN));
    let stored = fx
        .artifact("libs/releases/app-1.0.zip")
        .unwrap_or_else(|| panic!("not stored: {:?}", fx.artifacts().keys()));
    assert_eq!(stored.bytes, b"zip bytes");
}

#[test]
fn nexus_image_uploads_as_a_pipeline_step() {
    use longshore_tests::nexus_fixture::{Fixture, Options};
    let s = require_images!();
    let fx = Fixture::start(Options::nexus3());
    let ws = tempfile::tempdir().unwrap();
    write_files(ws.path(), &[("target/app-1.2.0.jar", "jar bytes")]);
    let run = step(
        &s,
        "nexus",
        ws.path(),
        &[],
        &[
            ("PLUGIN_SERVER_URL", &fx.base),
            ("PLUGIN_USERNAME", "admin"),
            ("PLUGIN_PASSWORD", "admin123-pw"),
            ("PLUGIN_REPOSITORY", "maven-releases"),
            ("PLUGIN_GROUP_ID", "com.example"),
            (
                "PLUGIN_ARTIFACTS",
                r#"[{"file":"target/app-1.2.0.jar","artifactId":"app","version":"1.2.0","type":"jar"}]"#,
            ),
            ("PLUGIN_ARTIFACT_FILE", "/drone/src/.out/artifact.json"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(!run.output().contains("admin123-pw"));
    assert_eq!(
        fx.stored("maven-releases", "com/example/app/1.2.0/app-1.2.0.jar")
            .as_deref(),
        Some(&b"jar bytes"[..])
    );
    let art = std::fs::read_to_string(ws.path().join(".out/artifact.json")).unwrap();
    assert!(art.contains("app-1.2.0.jar"), "{art}");
}
