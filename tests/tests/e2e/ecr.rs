//! End-to-end tests of `longshore-ecr`: credentials and repositories on moto (ECR, STS), reached
//! through the SDK's own `AWS_ENDPOINT_URL*` variables; the image pushed to the TLS registry,
//! which accepts the login moto's token carries (`AWS` / `123456789012-auth-token`). ECR Public,
//! which moto does not serve, on the `ecr_public_fixture` through `AWS_ENDPOINT_URL_ECR_PUBLIC`.

use std::path::Path;

use longshore_tests::ecr_public_fixture::{self, EcrPublicFixture};
use longshore_tests::{
    Plugin, Registry, Run, Services, aws_cli, docker_cli, require_services, unique, write_files,
};

/// The password inside moto's ECR token for the default account.
const MOTO_TOKEN_PASSWORD: &str = "123456789012-auth-token";
const SECRET_KEY: &str = "ecr-test-secret-key-0001";

/// A plugin run against the running daemon and moto, pushing to the TLS registry, static keys.
fn ecr_plugin(s: &Services, dir: &Path) -> Plugin {
    Plugin::new("ecr", dir).envs([
        ("DOCKER_HOST", s.docker_host.as_str()),
        ("PLUGIN_DAEMON_OFF", "true"),
        ("PLUGIN_PULL_IMAGE", "false"),
        ("AWS_ENDPOINT_URL", s.moto.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("PLUGIN_ACCESS_KEY", "AKIAECRTEST000000001"),
        ("PLUGIN_SECRET_KEY", SECRET_KEY),
        ("PLUGIN_REGISTRY", s.registry_tls.as_str()),
    ])
}

fn workdir(s: &Services, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("Dockerfile", &format!("FROM {}\n{body}", s.base_image))],
    );
    dir
}

/// The AWS CLI against moto with the default test account.
fn aws(s: &Services, args: &[&str]) -> serde_json::Value {
    let run = aws_cli(s, &s.moto, ("testing", "testing"), args);
    run.assert_success();
    if run.stdout.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&run.stdout).unwrap()
}

fn repository(s: &Services, name: &str) -> serde_json::Value {
    aws(
        s,
        &["ecr", "describe-repositories", "--repository-names", name],
    )["repositories"][0]
        .clone()
}

fn assert_no_secret(run: &Run, extra: &[&str]) {
    let out = run.output();
    for secret in [SECRET_KEY, MOTO_TOKEN_PASSWORD].iter().chain(extra) {
        assert!(!out.contains(secret), "{secret} in output:\n{out}");
    }
}

#[test]
fn static_keys_login_push_and_artifact_file_and_the_user_login_does_not_win() {
    let s = require_services!();
    let dir = workdir(&s, "RUN echo ecr > /f\n");
    let name = unique("ecr/static");
    let artifact = dir.path().join("out/artifact.json");
    let run = ecr_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &name)
        .env("PLUGIN_TAGS", "v1,stable")
        .env("PLUGIN_ARTIFACT_FILE", &artifact)
        // §9.8: a user login must not replace the ECR token (this one would be refused).
        .env("PLUGIN_USERNAME", "someone")
        .env("PLUGIN_PASSWORD", "a-wrong-user-password")
        .run();
    run.assert_success();
    assert_no_secret(&run, &["a-wrong-user-password"]);
    let out = run.output();
    assert!(out.contains("credentials: static keys"), "{out}");
    assert!(out.contains("PLUGIN_USERNAME/PLUGIN_PASSWORD (or ACCESS_TOKEN) are ignored"));
    assert!(
        out.contains("ecr: logged in to 127.0.0.1:5443 as AWS"),
        "{out}"
    );

    // What the registry stored is what the artifact file says.
    let reg = Registry::tls(&s);
    assert_eq!(reg.tags(&name), Some(vec!["stable".into(), "v1".into()]));
    let digest = reg.digest(&name, "v1");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&artifact).unwrap()).unwrap();
    assert_eq!(doc["kind"], "docker/v1");
    assert_eq!(doc["data"]["registryType"], "ECR");
    assert_eq!(doc["data"]["registryUrl"], s.registry_tls.as_str());
    let images = doc["data"]["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for (img, tag) in images.iter().zip(["v1", "stable"]) {
        assert_eq!(img["image"], format!("{}/{name}:{tag}", s.registry_tls));
        assert_eq!(img["digest"], digest.as_str());
    }
    // And the pushed image is a real one: pulled back and run.
    let image = format!("{}/{name}:v1", s.registry_tls);
    assert_eq!(
        longshore_tests::pull_back_and_run(&s, &image, &["/bin/cat", "/f"]).trim(),
        "ecr"
    );
}

#[test]
fn assume_role_with_external_id_applies_over_static_keys() {
    let s = require_services!();
    let dir = workdir(&s, "RUN echo role > /f\n");
    let name = unique("ecr/role");
    // Per-service endpoints, as a VPC-endpoint setup has them; the general one is dead.
    let run = ecr_plugin(&s, dir.path())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_ECR", &s.moto)
        .env("AWS_ENDPOINT_URL_STS", &s.moto)
        .env("PLUGIN_REPO", &name)
        .env(
            "PLUGIN_ASSUME_ROLE",
            "arn:aws:iam::123456789012:role/ci-push",
        )
        .env("PLUGIN_EXTERNAL_ID", "longshore-ext-id")
        .run();
    run.assert_success();
    assert_no_secret(&run, &[]);
    assert!(
        run.output().contains(
            "credentials: assume role arn:aws:iam::123456789012:role/ci-push with external id"
        ),
        "{}",
        run.output()
    );
    assert_eq!(
        Registry::tls(&s).tags(&name),
        Some(vec!["latest".to_string()])
    );
}

#[test]
fn a_role_in_another_account_is_really_used_and_its_refused_login_is_a_clear_error() {
    let s = require_services!();
    let dir = workdir(&s, "RUN echo other > /f\n");
    let name = unique("ecr/xacct");
    let role = "arn:aws:iam::210987654321:role/ci-push";
    // moto issues the assumed account's token (`210987654321-auth-token`), which the registry
    // refuses: the role was applied on top of the static keys, and the failure is the login's.
    let run = ecr_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &name)
        .env("PLUGIN_ASSUME_ROLE", role)
        .env("PLUGIN_CREATE_REPOSITORY", "true")
        .run();
    run.assert_failure();
    assert_no_secret(&run, &["210987654321-auth-token"]);
    let out = run.output();
    let last = out.lines().last().unwrap_or_default();
    assert!(last.contains("push of"), "{out}");
    assert!(
        last.to_lowercase().contains("auth"),
        "not an authentication error: {last}"
    );
    assert_eq!(Registry::tls(&s).tags(&name), None);

    // The repository was created in the role's account, not the keys' account.
    let creds = aws(
        &s,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            role,
            "--role-session-name",
            "check",
        ],
    )["Credentials"]
        .clone();
    let other = aws_cli(
        &s,
        &s.moto,
        (
            creds["AccessKeyId"].as_str().unwrap(),
            creds["SecretAccessKey"].as_str().unwrap(),
        ),
        &["ecr", "describe-repositories", "--repository-names", &name],
    );
    other.assert_success();
    assert!(
        other.stdout.contains("\"registryId\": \"210987654321\""),
        "{}",
        other.stdout
    );
    let mine = aws_cli(
        &s,
        &s.moto,
        ("testing", "testing"),
        &["ecr", "describe-repositories", "--repository-names", &name],
    );
    assert_ne!(
        mine.code, 0,
        "created in the keys' account:\n{}",
        mine.stdout
    );
}

#[test]
fn an_unreachable_sts_is_a_clear_error_without_secrets() {
    let s = require_services!();
    let dir = workdir(&s, "RUN true\n");
    let run = ecr_plugin(&s, dir.path())
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("PLUGIN_REPO", unique("ecr/nosts"))
        .env(
            "PLUGIN_ASSUME_ROLE",
            "arn:aws:iam::123456789012:role/ci-push",
        )
        .env("PLUGIN_SESSION_TOKEN", "session-token-not-to-print")
        .run();
    run.assert_failure();
    assert_no_secret(&run, &["session-token-not-to-print"]);
    let last = run.output().lines().last().unwrap_or_default().to_string();
    assert!(
        last.contains("ECR GetAuthorizationToken failed") && last.contains("PLUGIN_ASSUME_ROLE"),
        "{last}"
    );
}

#[test]
fn missing_or_bad_settings_fail_before_any_network_call() {
    let s = require_services!();
    let dir = workdir(&s, "RUN true\n");
    let bad_json = dir.path().join("policy.json");
    std::fs::write(&bad_json, "{\"rules\": [").unwrap();
    let bad_json = bad_json.to_str().unwrap().to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "PLUGIN_REPO is required"),
        (
            vec![("PLUGIN_REPO", "app"), ("PLUGIN_SECRET_KEY", "")],
            "PLUGIN_SECRET_KEY is required",
        ),
        (
            vec![
                ("PLUGIN_REPO", "app"),
                ("PLUGIN_OIDC_TOKEN_ID", "oidc-token-value"),
            ],
            "PLUGIN_ASSUME_ROLE is required",
        ),
        (
            vec![("PLUGIN_REPO", "app"), ("PLUGIN_ASSUME_ROLE", "ci-push")],
            "PLUGIN_ASSUME_ROLE: 'ci-push' is not a role ARN",
        ),
        (
            vec![
                ("PLUGIN_REPO", "app"),
                ("PLUGIN_LIFECYCLE_POLICY", &bad_json),
            ],
            "PLUGIN_LIFECYCLE_POLICY:",
        ),
        (
            vec![
                ("PLUGIN_REPO", "app"),
                ("PLUGIN_REPOSITORY_POLICY", "missing.json"),
            ],
            "PLUGIN_REPOSITORY_POLICY: cannot read missing.json",
        ),
        (
            vec![
                ("PLUGIN_REPO", "app"),
                ("PLUGIN_REGISTRY", "public.ecr.aws"),
            ],
            "PLUGIN_REPO: 'public.ecr.aws/app' is not an ECR Public repository",
        ),
        (
            vec![("PLUGIN_REPO", "app"), ("PLUGIN_REGION", "Moon 1")],
            "PLUGIN_REGION: 'Moon 1' is not a region name",
        ),
        (
            vec![
                ("PLUGIN_REPO", "app"),
                ("PLUGIN_SKIP_PUSH_IF_TAG_EXISTS", "sure"),
            ],
            "PLUGIN_SKIP_PUSH_IF_TAG_EXISTS: 'sure' is not a boolean",
        ),
        (
            vec![("PLUGIN_REPO", "app"), ("PLUGIN_TAG_IMMUTABILITY", "maybe")],
            "PLUGIN_TAG_IMMUTABILITY: 'maybe' is not IMMUTABLE, MUTABLE or a boolean",
        ),
        (
            vec![("PLUGIN_REPO", "app"), ("AWS_CA_BUNDLE", &bad_json)],
            "AWS_CA_BUNDLE:",
        ),
    ];
    for (vars, want) in cases {
        // Every endpoint is a closed port: reaching one would be a different error.
        let run = ecr_plugin(&s, dir.path())
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("DOCKER_HOST", "tcp://127.0.0.1:9")
            .env("PLUGIN_REGISTRY", "127.0.0.1:9")
            .envs(vars.iter().copied())
            .run();
        run.assert_failure();
        let out = run.output();
        let last = out.lines().last().unwrap_or_default();
        assert!(
            last.contains(want),
            "want '{want}' in the last line of:\n{out}"
        );
        assert!(
            !out.contains("credentials:"),
            "reached the AWS chain:\n{out}"
        );
        assert!(!out.contains("plan:"), "got past validation:\n{out}");
        assert!(!out.contains("oidc-token-value"));
    }
}

#[test]
fn create_repository_with_scan_on_push_policies_and_immutable_tags_is_visible_in_moto() {
    let s = require_services!();
    let dir = workdir(&s, "RUN echo create > /f\n");
    let lifecycle = r#"{"rules":[{"rulePriority":1,"description":"keep 5","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr:BatchGetImage"]}]}"#;
    write_files(
        dir.path(),
        &[("lifecycle.json", lifecycle), ("policy.json", policy)],
    );
    let name = unique("ecr/create");
    let run = ecr_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &name)
        .env("ECR_CREATE_REPOSITORY", "true")
        .env("PLUGIN_SCAN_ON_PUSH", "true")
        .env("PLUGIN_TAG_IMMUTABILITY", "true")
        .env("PLUGIN_LIFECYCLE_POLICY", "lifecycle.json")
        .env("PLUGIN_REPOSITORY_POLICY", "policy.json")
        .run();
    run.assert_success();
    assert!(
        run.output()
            .contains(&format!("ecr: created repository {name}"))
    );

    let repo = repository(&s, &name);
    assert_eq!(repo["imageScanningConfiguration"]["scanOnPush"], true);
    assert_eq!(repo["imageTagMutability"], "IMMUTABLE");
    let got = aws(
        &s,
        &["ecr", "get-lifecycle-policy", "--repository-name", &name],
    );
    let text: serde_json::Value =
        serde_json::from_str(got["lifecyclePolicyText"].as_str().unwrap()).unwrap();
    assert_eq!(
        text,
        serde_json::from_str::<serde_json::Value>(lifecycle).unwrap()
    );
    let got = aws(
        &s,
        &["ecr", "get-repository-policy", "--repository-name", &name],
    );
    let text: serde_json::Value =
        serde_json::from_str(got["policyText"].as_str().unwrap()).unwrap();
    assert_eq!(
        text,
        serde_json::from_str::<serde_json::Value>(policy).unwrap()
    );
    assert_eq!(
        Registry::tls(&s).tags(&name),
        Some(vec!["latest".to_string()])
    );
}

#[test]
fn an_existing_repository_keeps_scanning_enabled() {
    let s = require_services!();
    let dir = workdir(&s, "RUN echo keep > /f\n");
    let name = unique("ecr/keep");
    aws(
        &s,
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            &name,
            "--image-scanning-configuration",
            "scanOnPush=true",
        ],
    );
    // The anchor sent PutImageScanningConfiguration(false) here and switched scanning off.
    let run = ecr_plugin(&s, dir.path())
        .env("PLUGIN_REPO", &name)
        .env("PLUGIN_CREATE_REPOSITORY", "true")
        .run();
    run.assert_success();
    assert!(
        run.output()
            .contains(&format!("ecr: repository {name} exists"))
    );
    let repo = repository(&s, &name);
    assert_eq!(repo["imageScanningConfiguration"]["scanOnPush"], true);
    assert_eq!(repo["imageTagMutability"], "MUTABLE", "left as it was");
}

/// Puts a tag into moto's repository (a tiny manifest: moto stores it, nothing is pulled).
fn seed_tag(s: &Services, repo: &str, tag: &str) {
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#;
    aws(
        s,
        &[
            "ecr",
            "put-image",
            "--repository-name",
            repo,
            "--image-tag",
            tag,
            "--image-manifest",
            manifest,
        ],
    );
}

fn auto_tag_run(s: &Services, dir: &Path, name: &str) -> Run {
    ecr_plugin(s, dir)
        .env("PLUGIN_REPO", name)
        .env("PLUGIN_AUTO_TAG", "true")
        .env("DRONE_COMMIT_REF", "refs/tags/v1.2.3")
        .env("DRONE_REPO_BRANCH", "main")
        .env("PLUGIN_SKIP_PUSH_IF_TAG_EXISTS", "true")
        .run()
}

#[test]
fn skip_push_if_tag_exists_checks_the_auto_tags_and_skips_only_existing_ones() {
    let s = require_services!();
    let dir = workdir(&s, "RUN echo skip > /f\n");
    let name = unique("ecr/skip");
    aws(
        &s,
        &["ecr", "create-repository", "--repository-name", &name],
    );
    seed_tag(&s, &name, "1.2.3");

    let run = auto_tag_run(&s, dir.path(), &name);
    run.assert_success();
    assert!(
        run.output()
            .contains(&format!("skip_push_if_tag_exists: 1.2.3 already in {name}")),
        "{}",
        run.output()
    );
    // The auto tags 1 and 1.2 were pushed; 1.2.3, which exists, was not.
    assert_eq!(
        Registry::tls(&s).tags(&name),
        Some(vec!["1".to_string(), "1.2".to_string()])
    );
}

#[test]
fn skip_push_if_tag_exists_ends_without_building_when_every_tag_exists() {
    let s = require_services!();
    let dir = workdir(&s, "RUN echo never > /f\n");
    let name = unique("ecr/skipall");
    aws(
        &s,
        &["ecr", "create-repository", "--repository-name", &name],
    );
    for tag in ["1", "1.2", "1.2.3"] {
        seed_tag(&s, &name, tag);
    }
    let run = auto_tag_run(&s, dir.path(), &name);
    run.assert_success();
    let out = run.output();
    assert!(out.contains("every tag already exists"), "{out}");
    let worked = |step: &str| {
        out.lines()
            .any(|l| l.contains(step) && !l.contains("plan:"))
    };
    assert!(
        !worked("build:") && !worked("push:"),
        "built or pushed anyway:\n{out}"
    );
    assert_eq!(Registry::tls(&s).tags(&name), None);
}

#[test]
fn without_a_registry_the_token_endpoint_is_used_and_a_dry_run_changes_no_repository() {
    let s = require_services!();
    let dir = workdir(&s, "RUN echo dry > /f\n");
    let name = unique("ecr/dry");
    let out_env = dir.path().join("out.env");
    // No PLUGIN_REGISTRY: the repository goes under the token's proxy endpoint.
    let run = Plugin::new("ecr", dir.path())
        .envs([
            ("DOCKER_HOST", s.docker_host.as_str()),
            ("PLUGIN_DAEMON_OFF", "true"),
            ("PLUGIN_PULL_IMAGE", "false"),
            ("AWS_ENDPOINT_URL", s.moto.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ACCESS_KEY_ID", "AKIAECRTEST000000002"),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("PLUGIN_DRY_RUN", "true"),
            ("PLUGIN_CREATE_REPOSITORY", "true"),
        ])
        .env("PLUGIN_REPO", &name)
        .env("DRONE_OUTPUT", &out_env)
        .run();
    run.assert_success();
    assert_no_secret(&run, &[]);
    let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let out = run.output();
    assert!(
        out.contains(&format!(
            "registry: {host} (the proxy endpoint of the ECR token)"
        )),
        "{out}"
    );
    assert!(
        out.contains("ecr: no push, so the repository is left as it is"),
        "{out}"
    );
    let image = format!("{host}/{name}:latest");
    // A dry run keeps what it built: the image is tagged under the endpoint.
    docker_cli(&s, &["image", "inspect", &image]).assert_success();
    docker_cli(&s, &["rmi", &image]).assert_success();
    let missing = aws_cli(
        &s,
        &s.moto,
        ("testing", "testing"),
        &["ecr", "describe-repositories", "--repository-names", &name],
    );
    assert_ne!(missing.code, 0, "a dry run created the repository");
}

// ECR Public. Its registry host is what makes the flow public, and no setting can point a public
// push at another registry, so these runs stop before a push would leave for public.ecr.aws:
// they prove the login and the repository calls on the public API (what reached the fixture),
// the plan and the image's name, not a push.

const PUBLIC_KEY_ID: &str = "AKIAECRPUBLICTEST001";
const PUBLIC_SECRET: &str = "ecr-public-test-secret-key-0001";

/// A run with static keys whose ECR Public calls go to `fx` through the SDK's own
/// `AWS_ENDPOINT_URL_ECR_PUBLIC`; every other AWS endpoint (ECR, STS) is a closed port.
fn public_plugin(s: &Services, dir: &Path, fx: &EcrPublicFixture) -> Plugin {
    Plugin::new("ecr", dir)
        .envs([
            ("DOCKER_HOST", s.docker_host.as_str()),
            ("PLUGIN_DAEMON_OFF", "true"),
            ("PLUGIN_PULL_IMAGE", "false"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("PLUGIN_ACCESS_KEY", PUBLIC_KEY_ID),
            ("PLUGIN_SECRET_KEY", PUBLIC_SECRET),
        ])
        .env("AWS_ENDPOINT_URL_ECR_PUBLIC", &fx.base)
}

/// Every request was signed by the test keys for the public API's only region, and none named
/// a registry (the caller's own is meant).
fn assert_public_scope(fx: &EcrPublicFixture) {
    for r in fx.received() {
        let scope = r.scope.as_ref().expect("signed");
        assert_eq!(
            (scope.region.as_str(), scope.service.as_str()),
            ("us-east-1", "ecr-public"),
            "{r:#?}"
        );
        assert_eq!(scope.access_key, PUBLIC_KEY_ID);
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some(ecr_public_fixture::CONTENT_TYPE)
        );
        assert!(r.body.get("registryId").is_none(), "{r:#?}");
    }
}

#[test]
fn ecr_public_dry_run_logs_in_through_the_public_api_in_us_east_1() {
    let s = require_services!();
    let fx = EcrPublicFixture::start(PUBLIC_KEY_ID, PUBLIC_SECRET);
    let dir = workdir(&s, "RUN echo public > /f\n");
    let name = unique("public-dry");
    let repo = format!("public.ecr.aws/longshore/{name}");
    let run = public_plugin(&s, dir.path(), &fx)
        .env("PLUGIN_REPO", &repo)
        // Not the API's region: the call must still go to us-east-1.
        .env("PLUGIN_REGION", "eu-west-1")
        .env("PLUGIN_DRY_RUN", "true")
        .env("PLUGIN_CREATE_REPOSITORY", "true")
        .run();
    run.assert_success();
    assert_no_secret(&run, &[PUBLIC_SECRET]);
    let out = run.output();
    for want in [
        "ecr-public: calling the ECR Public API in us-east-1, its only region, not in eu-west-1",
        "ecr-public: logged in to public.ecr.aws as AWS",
        "ecr: no push, so the repository is left as it is",
        "push: skipped (dry run)",
    ] {
        assert!(out.contains(want), "want {want:?} in:\n{out}");
    }

    // One call, the public API's token, with an empty request (ECR Public has no registryIds).
    let got = fx.received();
    assert_eq!(fx.operations(), ["GetAuthorizationToken"], "{got:#?}");
    assert_eq!(got[0].status, 200);
    assert_eq!(got[0].body, serde_json::json!({}));
    assert_eq!(
        got[0].headers.get("x-amz-target").map(String::as_str),
        Some("SpencerFrontendService.GetAuthorizationToken")
    );
    assert_public_scope(&fx);
    assert!(
        !fx.has_repository(&name),
        "a dry run created the repository"
    );

    // The image is named for the public registry.
    let image = format!("{repo}:latest");
    docker_cli(&s, &["image", "inspect", &image]).assert_success();
    docker_cli(&s, &["rmi", &image]).assert_success();
}

#[test]
fn ecr_public_creates_the_repository_sets_its_policy_and_skips_existing_tags() {
    let s = require_services!();
    let fx = EcrPublicFixture::start(PUBLIC_KEY_ID, PUBLIC_SECRET);
    let dir = workdir(&s, "RUN echo never > /f\n");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":"*","Action":["ecr-public:BatchGetImage"]}]}"#;
    write_files(
        dir.path(),
        &[("policy.json", policy), ("lifecycle.json", "{\"rules\": [")],
    );
    let name = unique("team/public-create");
    let run_with = |docker_host: &str| {
        public_plugin(&s, dir.path(), &fx)
            .env("DOCKER_HOST", docker_host)
            .env("PLUGIN_REGISTRY", "public.ecr.aws")
            .env("PLUGIN_REPO", format!("longshore/{name}"))
            .env("PLUGIN_TAGS", "v1,stable")
            .env("PLUGIN_CREATE_REPOSITORY", "true")
            .env("PLUGIN_REPOSITORY_POLICY", "policy.json")
            .env("PLUGIN_SKIP_PUSH_IF_TAG_EXISTS", "true")
            // ECR Public has none of these: warned about, not read (the lifecycle file is bad).
            .env("PLUGIN_SCAN_ON_PUSH", "true")
            .env("PLUGIN_LIFECYCLE_POLICY", "lifecycle.json")
            .env("PLUGIN_TAG_IMMUTABILITY", "true")
            .run()
    };

    // 1. No repository yet: created, policy set, both tags looked up and missing. The daemon is a
    // closed port, so the run stops at the build, after the repository calls: the push could
    // only go to public.ecr.aws.
    let run = run_with("tcp://127.0.0.1:9");
    run.assert_failure();
    assert_no_secret(&run, &[PUBLIC_SECRET]);
    let out = run.output();
    for want in [
        "the ECR Public login from GetAuthorizationToken (us-east-1)".into(),
        format!("ecr-public: created repository {name}"),
        format!("ecr-public: repository policy set on {name}"),
        "PLUGIN_SCAN_ON_PUSH is ignored for ECR Public".into(),
        "PLUGIN_LIFECYCLE_POLICY is ignored for ECR Public".into(),
        "PLUGIN_TAG_IMMUTABILITY is ignored for ECR Public".into(),
    ] {
        assert!(out.contains(&want), "want {want:?} in:\n{out}");
    }
    assert!(!out.contains("already in"), "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.contains("127.0.0.1:9"),
        "not the daemon's error: {last}"
    );
    assert_eq!(
        fx.operations(),
        [
            "GetAuthorizationToken",
            "CreateRepository",
            "SetRepositoryPolicy",
            "DescribeImages",
            "DescribeImages"
        ]
    );
    let got = fx.received();
    // The API's name is the path after the registry alias.
    assert_eq!(got[1].body, serde_json::json!({"repositoryName": name}));
    assert_eq!(got[1].status, 200);
    assert_eq!(got[2].body["repositoryName"], name.as_str());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&fx.policy(&name).unwrap()).unwrap(),
        serde_json::from_str::<serde_json::Value>(policy).unwrap()
    );
    for (r, tag) in got[3..].iter().zip(["v1", "stable"]) {
        assert_eq!(
            r.body,
            serde_json::json!({"repositoryName": name, "imageIds": [{"imageTag": tag}]})
        );
        assert_eq!(r.error, "ImageNotFoundException");
    }
    assert_public_scope(&fx);

    // 2. Both tags exist now: the existing repository is fine, and nothing is built or pushed.
    fx.seed(&name, &["v1", "stable"]);
    let run = run_with(&s.docker_host);
    run.assert_success();
    let out = run.output();
    for want in [
        format!("ecr-public: repository {name} exists"),
        format!("skip_push_if_tag_exists: v1, stable already in {name}"),
        "every tag already exists: nothing to build or push".into(),
    ] {
        assert!(out.contains(&want), "want {want:?} in:\n{out}");
    }
    let worked = |step: &str| {
        out.lines()
            .any(|l| l.contains(step) && !l.contains("plan:"))
    };
    assert!(
        !worked("build:") && !worked("push:"),
        "built or pushed anyway:\n{out}"
    );
    let got = fx.received();
    assert_eq!(got.len(), 10, "{got:#?}");
    assert_eq!(got[6].error, "RepositoryAlreadyExistsException");
    assert!(got[8..].iter().all(|r| r.status == 200));
    assert_public_scope(&fx);
}

#[test]
fn ecr_public_wrong_credentials_are_one_clear_line_without_secrets() {
    let s = require_services!();
    let fx = EcrPublicFixture::start(PUBLIC_KEY_ID, PUBLIC_SECRET);
    let dir = workdir(&s, "RUN true\n");
    let cases = [
        // An access key the service does not know.
        (
            "AKIAWRONGKEY00000001",
            "a-wrong-secret-key-0002",
            "UnrecognizedClientException: The security token included in the request is invalid.",
            "UnrecognizedClientException",
        ),
        // The right key id with a wrong secret: the fixture really checks the signature.
        (
            PUBLIC_KEY_ID,
            "a-wrong-secret-key-0003",
            "InvalidSignatureException: The request signature we calculated does not match",
            "InvalidSignatureException",
        ),
    ];
    for (i, (key, secret, want, code)) in cases.into_iter().enumerate() {
        let run = public_plugin(&s, dir.path(), &fx)
            .env("PLUGIN_ACCESS_KEY", key)
            .env("PLUGIN_SECRET_KEY", secret)
            .env(
                "PLUGIN_REPO",
                format!("public.ecr.aws/longshore/{}", unique("public-wrong")),
            )
            .run();
        run.assert_failure();
        assert_no_secret(&run, &[secret, PUBLIC_SECRET]);
        let out = run.output();
        let errors: Vec<&str> = out.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{out}");
        assert!(
            errors[0].contains("ECR Public GetAuthorizationToken (us-east-1) failed: ")
                && errors[0].contains(want),
            "{out}"
        );
        let got = fx.received();
        assert_eq!(got.len(), i + 1, "retried or went on: {got:#?}");
        assert_eq!(got[i].error, code);
    }
}

#[test]
fn the_plan_names_the_ecr_registry_not_docker_hub_for_a_repo_without_a_host() {
    // Before the login the host is unknown: the plan says where it will come from, and the
    // login itself fails at once on a dead endpoint (nothing is built or pushed).
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let run = Plugin::new("ecr", dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PLUGIN_DAEMON_OFF", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("PLUGIN_ACCESS_KEY", "AKIAECRTEST000000001")
        .env("PLUGIN_SECRET_KEY", SECRET_KEY)
        .env("PLUGIN_REPO", "app")
        .env("PLUGIN_DRY_RUN", "true")
        .run();
    let out = run.output();
    assert!(
        out.contains("tag: <the proxy endpoint of the ECR token>/app:latest"),
        "{out}"
    );
    assert!(!out.contains("to docker.io"), "{out}");
}
