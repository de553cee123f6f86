//! Reliability: the plugins behind a fault-injecting proxy (tests/src/faults.rs) in front of the
//! real services. A step either completes with exactly the right data or fails clearly within a
//! bounded time, leaving no partial object and no open multipart upload.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use longshore_tests::faults::{ALL_FAULTS, Fault, FaultProxy};
use longshore_tests::{
    Plugin, Registry, Services, aws_cli, docker_cli, require_services, unique, write_files,
};

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("service address")
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

/// Deterministic file contents of a given size.
fn data(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

fn s3_through(s: &Services, dir: &Path, endpoint: &str) -> Plugin {
    Plugin::new("s3", dir).envs([
        ("PLUGIN_BUCKET", s.bucket.as_str()),
        ("PLUGIN_ENDPOINT", endpoint),
        ("PLUGIN_PATH_STYLE", "true"),
        ("PLUGIN_ACCESS_KEY", s.s3sfs_access_key.as_str()),
        ("PLUGIN_SECRET_KEY", s.s3sfs_secret_key.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ])
}

#[test]
fn s3_upload_survives_20_percent_faults_byte_identical() {
    let s = require_services!();
    let proxy = FaultProxy::start(addr(&s.s3sfs), 0.2, ALL_FAULTS, 0x5eed_0001);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("up")).unwrap();
    for i in 0..24 {
        std::fs::write(
            dir.path().join(format!("up/f{i:02}.bin")),
            data(i, 3000 + i as usize * 517),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("up/big.bin"), data(99, 20 * 1024 * 1024)).unwrap();
    let prefix = unique("faults20");
    let run = s3_through(&s, dir.path(), &proxy.url())
        .env("PLUGIN_SOURCE", "up")
        .env("PLUGIN_STRIP_PREFIX", "up/")
        .env("PLUGIN_TARGET", &prefix)
        .env("PLUGIN_CONCURRENCY", "4")
        .run();
    let (requests, faulted) = proxy.stats();
    run.assert_success();
    assert!(faulted > 0, "no fault was injected ({requests} requests)");
    // Read everything back straight from the server (not through the proxy) and compare.
    let back = tempfile::tempdir().unwrap();
    aws_cli(
        &s,
        &s.s3sfs,
        (&s.s3sfs_access_key, &s.s3sfs_secret_key),
        &[
            "s3",
            "cp",
            "--recursive",
            &format!("s3://{}/{prefix}/", s.bucket),
            back.path().to_str().unwrap(),
        ],
    )
    .assert_success();
    for entry in std::fs::read_dir(dir.path().join("up")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap();
        assert_eq!(
            md5_of(&back.path().join(name)),
            md5_of(&p),
            "{name:?} differs"
        );
    }
    eprintln!("{requests} requests, {faulted} faulted");
}

#[test]
fn s3_faults_that_never_stop_fail_in_bounded_time_and_leave_nothing() {
    let s = require_services!();
    let proxy = FaultProxy::start(
        addr(&s.s3sfs),
        1.0,
        &[Fault::Status503, Fault::ResetBeforeResponse],
        7,
    );
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("n/a.txt", "a"), ("n/b.txt", "b")]);
    let prefix = unique("faults100");
    let started = Instant::now();
    let run = s3_through(&s, dir.path(), &proxy.url())
        .env("PLUGIN_SOURCE", "n")
        .env("PLUGIN_TARGET", &prefix)
        .run();
    run.assert_failure();
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
    assert!(run.output().contains("0 uploaded"), "{}", run.output());
    let listed = aws_cli(
        &s,
        &s.s3sfs,
        (&s.s3sfs_access_key, &s.s3sfs_secret_key),
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            &s.bucket,
            "--prefix",
            &prefix,
            "--output",
            "json",
        ],
    );
    assert!(
        !listed.stdout.contains("\"Key\""),
        "objects exist: {}",
        listed.stdout
    );
}

#[test]
fn s3_failed_parts_abort_the_multipart_upload() {
    // moto: it lists open multipart uploads (s3s-fs does not implement that call).
    let s = require_services!();
    let proxy = FaultProxy::start(addr(&s.moto), 1.0, &[Fault::Status500], 11);
    proxy.only("partNumber=");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.bin"), data(5, 17 * 1024 * 1024)).unwrap();
    let prefix = unique("abort");
    let run = Plugin::new("s3", dir.path())
        .envs([
            ("PLUGIN_BUCKET", s.bucket.as_str()),
            ("PLUGIN_PATH_STYLE", "true"),
            ("PLUGIN_ACCESS_KEY", "testing"),
            ("PLUGIN_SECRET_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("PLUGIN_SOURCE", "big.bin"),
        ])
        .env("PLUGIN_ENDPOINT", proxy.url())
        .env("PLUGIN_TARGET", &prefix)
        .run();
    run.assert_failure();
    assert!(
        run.output().contains("aborted the multipart upload"),
        "{}",
        run.output()
    );
    let open = aws_cli(
        &s,
        &s.moto,
        ("testing", "testing"),
        &[
            "s3api",
            "list-multipart-uploads",
            "--bucket",
            &s.bucket,
            "--prefix",
            &prefix,
            "--output",
            "json",
        ],
    );
    open.assert_success();
    assert!(
        !open.stdout.contains("UploadId"),
        "multipart upload left open: {}",
        open.stdout
    );
    let head = aws_cli(
        &s,
        &s.moto,
        ("testing", "testing"),
        &[
            "s3api",
            "head-object",
            "--bucket",
            &s.bucket,
            "--key",
            &format!("{prefix}/big.bin"),
        ],
    );
    assert_ne!(head.code, 0, "an object exists under the final key");
}

/// A private s3s-fs the test can kill and restart.
struct OwnS3 {
    child: std::process::Child,
    port: u16,
    root: std::path::PathBuf,
    keys: (String, String),
}

impl OwnS3 {
    fn start(port: u16, root: &Path, keys: (&str, &str)) -> OwnS3 {
        let bin = std::env::var("HOME")
            .map(|h| format!("{h}/.cargo/bin/s3s-fs"))
            .unwrap_or_default();
        let bin = if Path::new(&bin).exists() {
            bin
        } else {
            "s3s-fs".into()
        };
        let child = std::process::Command::new(bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                keys.0,
                "--secret-key",
                keys.1,
            ])
            .arg(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("s3s-fs (tests/scripts/install.sh installs it)");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        OwnS3 {
            child,
            port,
            root: root.to_path_buf(),
            keys: (keys.0.into(), keys.1.into()),
        }
    }

    fn restart(&mut self) {
        self.kill();
        let keys = self.keys.clone();
        *self = OwnS3::start(self.port, &self.root.clone(), (&keys.0, &keys.1));
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn s3_rerun_after_the_server_died_sends_only_what_is_missing() {
    let _services = require_services!();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("crash")).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let keys = ("crashkey", "Crash-S3cret-value-0042");
    let mut server = OwnS3::start(port, root.path(), keys);
    // The proxy only counts here: it tells when the server is mid-way through the upload.
    let proxy = FaultProxy::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        0.0,
        ALL_FAULTS,
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("many")).unwrap();
    for i in 0..150 {
        std::fs::write(dir.path().join(format!("many/f{i:03}.bin")), data(i, 2048)).unwrap();
    }
    let plugin = || {
        Plugin::new("s3", dir.path())
            .envs([
                ("PLUGIN_BUCKET", "crash"),
                ("PLUGIN_PATH_STYLE", "true"),
                ("PLUGIN_ACCESS_KEY", keys.0),
                ("PLUGIN_SECRET_KEY", keys.1),
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("PLUGIN_SOURCE", "many"),
                ("PLUGIN_SKIP_UNCHANGED", "true"),
                ("PLUGIN_CONCURRENCY", "2"),
            ])
            .env("PLUGIN_ENDPOINT", proxy.url())
    };
    let first = std::thread::scope(|scope| {
        let h = scope.spawn(|| plugin().run());
        // Kill the server once about a third of the requests went through.
        let deadline = Instant::now() + Duration::from_secs(30);
        while proxy.stats().0 < 100 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        server.kill();
        h.join().unwrap()
    });
    first.assert_failure();
    server.restart();
    let second = plugin().run();
    second.assert_success();
    let out = second.output();
    let summary = out
        .lines()
        .find(|l| l.contains("uploaded,") && l.contains("skipped"))
        .expect("summary line");
    let num = |word: &str| -> usize {
        let i = summary.find(word).unwrap();
        summary[..i]
            .split_whitespace()
            .last()
            .unwrap()
            .trim_start_matches(':')
            .parse()
            .unwrap()
    };
    let (uploaded, skipped) = (num(" uploaded"), num(" skipped"));
    assert_eq!(uploaded + skipped, 150, "{summary}");
    assert!(
        skipped > 0,
        "nothing was kept from the first run: {summary}"
    );
    assert!(
        uploaded > 0,
        "the first run finished before the crash: {summary}"
    );
    for i in 0..150 {
        let stored = root.path().join(format!("crash/many/f{i:03}.bin"));
        assert_eq!(
            std::fs::read(&stored).unwrap(),
            data(i, 2048),
            "{}",
            stored.display()
        );
    }
}

fn dockerfile(s: &Services, body: &str) -> String {
    format!("FROM {}\n{body}", s.base_image)
}

#[test]
fn docker_push_survives_20_percent_faults() {
    let s = require_services!();
    let proxy = FaultProxy::start(s.registry_plain.parse().unwrap(), 0.2, ALL_FAULTS, 0xd0c);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blob.bin"), data(3, 3 * 1024 * 1024)).unwrap();
    write_files(
        dir.path(),
        &[(
            "Dockerfile",
            &dockerfile(
                &s,
                "COPY blob.bin /blob.bin\nRUN echo faulty > /f\nCMD [\"/bin/cat\", \"/f\"]\n",
            ),
        )],
    );
    let name = unique("rel/push20");
    let out = dir.path().join("out.env");
    let run = Plugin::new("docker", dir.path())
        .env("DOCKER_HOST", &s.docker_host)
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_PULL_IMAGE", "false")
        .env("PLUGIN_REPO", format!("{}/{name}", proxy.addr))
        .env("PLUGIN_TAGS", "a,b")
        .env("DRONE_OUTPUT", &out)
        .run();
    run.assert_success();
    let reg = Registry::plain(&s);
    let digest = reg.digest(&name, "a");
    assert_eq!(reg.digest(&name, "b"), digest);
    assert!(std::fs::read_to_string(&out).unwrap().contains(&digest));
    let image = format!("{}/{name}:a", s.registry_plain);
    docker_cli(&s, &["pull", &image]).assert_success();
    assert_eq!(
        docker_cli(&s, &["run", "--rm", &image]).stdout.trim(),
        "faulty"
    );
    docker_cli(&s, &["rmi", &image]);
}

#[test]
fn docker_push_that_never_succeeds_says_what_was_not_pushed() {
    let s = require_services!();
    let proxy = FaultProxy::start(
        s.registry_plain.parse().unwrap(),
        1.0,
        &[Fault::Status503],
        3,
    );
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("Dockerfile", &dockerfile(&s, "RUN echo never > /n\n"))],
    );
    let started = Instant::now();
    let run = Plugin::new("docker", dir.path())
        .env("DOCKER_HOST", &s.docker_host)
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_PULL_IMAGE", "false")
        .env(
            "PLUGIN_REPO",
            format!("{}/{}", proxy.addr, unique("rel/never")),
        )
        .env("PLUGIN_TAGS", "x,y")
        .run();
    run.assert_failure();
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        run.stderr.contains("pushed: none; not pushed: x, y"),
        "{}",
        run.stderr
    );
}

#[test]
fn daemonless_push_sends_a_layer_again_when_its_streamed_upload_fails() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("base.tar");
    docker_cli(&s, &["save", "-o", tar.to_str().unwrap(), &s.base_image]).assert_success();
    // Only the streamed PATCH of the first layer fails: the registry reads it whole, then the
    // connection drops before any answer.
    let proxy = FaultProxy::start(s.registry_plain.parse().unwrap(), 0.0, ALL_FAULTS, 1);
    proxy.only("PATCH ");
    proxy.fail_next(1, Fault::ResetBeforeResponse);
    let name = unique("rel/tarpatch");
    let run = Plugin::new("docker", dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_REPO", format!("{}/{name}", proxy.addr))
        .env("PLUGIN_TAGS", "1")
        .env("PLUGIN_PUSH_ONLY", "true")
        .env("PLUGIN_SOURCE_TAR_PATH", "base.tar")
        .run();
    run.assert_success();
    assert_eq!(proxy.stats().1, 1, "exactly one PATCH was faulted");
    assert!(
        run.output().contains("failed (") && run.output().contains("sending it again"),
        "{}",
        run.output()
    );
    // What the registry holds is whole: the daemon pulls it and runs it.
    let image = format!("{}/{name}:1", s.registry_plain);
    docker_cli(&s, &["pull", &image]).assert_success();
    let ran = docker_cli(&s, &["run", "--rm", &image, "echo", "whole"]);
    assert_eq!(ran.stdout.trim(), "whole", "{}", ran.output());
    docker_cli(&s, &["rmi", &image]);
}

#[test]
fn daemonless_tarball_push_survives_20_percent_faults() {
    let s = require_services!();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("base.tar");
    docker_cli(&s, &["save", "-o", tar.to_str().unwrap(), &s.base_image]).assert_success();
    let proxy = FaultProxy::start(s.registry_plain.parse().unwrap(), 0.2, ALL_FAULTS, 0x7a2);
    let name = unique("rel/tar20");
    let run = Plugin::new("docker", dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("PLUGIN_REPO", format!("{}/{name}", proxy.addr))
        .env("PLUGIN_TAGS", "1,2,3")
        .env("PLUGIN_PUSH_ONLY", "true")
        .env("PLUGIN_SOURCE_TAR_PATH", "base.tar")
        .run();
    run.assert_success();
    let reg = Registry::plain(&s);
    assert_eq!(
        reg.tags(&name),
        Some(vec!["1".into(), "2".into(), "3".into()])
    );
    let image = format!("{}/{name}:2", s.registry_plain);
    docker_cli(&s, &["pull", &image]).assert_success();
    docker_cli(&s, &["rmi", &image]);
}
