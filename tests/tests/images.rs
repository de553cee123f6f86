//! The shipped images, run exactly as a CI runner runs a step: `docker run` with only `PLUGIN_*`
//! / `DRONE_*` variables, the workspace mounted as the working directory and the output files
//! inside it, against the real local services. The images are built by `docker/build.sh`;
//! `tests/scripts/test-images.sh` builds them on the locally made dind base and runs these tests
//! (they are `#[ignore]`d in the main suite: the nine release builds do not fit CI's budget yet).

use std::path::Path;

use longshore_tests::{
    Registry, Run, Services, aws_cli, docker_cli, require_services, unique, write_files,
};

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
#[ignore = "needs the release images: run tests/scripts/test-images.sh"]
fn every_image_starts_reports_its_version_and_carries_the_oci_labels() {
    let s = require_services!();
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
#[ignore = "needs the release images: run tests/scripts/test-images.sh"]
fn upload_images_are_a_static_binary_and_ca_certificates() {
    let s = require_services!();
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
        // The target is 15 MB; the AWS SDK alone is most of s3's size (see BENCHMARKS.md).
        assert!(size <= 25 * 1000 * 1000, "{p}: image is {size} bytes");
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
#[ignore = "needs the release images: run tests/scripts/test-images.sh"]
fn s3_image_uploads_as_a_pipeline_step() {
    let s = require_services!();
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
#[ignore = "needs the release images: run tests/scripts/test-images.sh"]
fn docker_image_with_the_host_socket_builds_and_pushes() {
    let s = require_services!();
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
#[ignore = "needs the release images: run tests/scripts/test-images.sh"]
fn ecr_image_logs_in_through_moto_and_pushes() {
    let s = require_services!();
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
#[ignore = "needs the release images: run tests/scripts/test-images.sh"]
fn registry_images_refuse_bad_settings_before_any_work() {
    let s = require_services!();
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
#[ignore = "needs the release images: run tests/scripts/test-images.sh"]
fn docker_image_in_docker_in_docker_mode_where_privileged_containers_are_allowed() {
    let s = require_services!();
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
