//! Golden tables of the tag rules: the same builds (tag push, default branch, feature branch
//! with a slash, pull request, schedule, pre-release, `+build` version) in the variables of
//! Drone, Woodpecker and Harness, and the parsing and refusals of rules.

use super::*;
use crate::settings::Env;

const SHA: &str = "abcdef1234567890abcdef1234567890abcdef12";
/// 2026-12-03 02:30:00 UTC.
const STARTED: &str = "1796265000";

#[derive(Clone, Copy)]
enum Build {
    Tag(&'static str),
    Branch(&'static str),
    PullRequest(&'static str),
    Cron,
}

#[derive(Clone, Copy, Debug)]
enum Runner {
    Drone,
    Woodpecker,
    /// Harness CI sets Drone's names; a branch build may carry the branch without a ref.
    Harness,
}

fn env(runner: Runner, build: Build) -> Env {
    let mut v: Vec<(&str, String)> = Vec::new();
    let (sha, refv, default, event, pr, started, tag, branch) = match runner {
        Runner::Drone | Runner::Harness => (
            "DRONE_COMMIT_SHA",
            "DRONE_COMMIT_REF",
            "DRONE_REPO_BRANCH",
            "DRONE_BUILD_EVENT",
            "DRONE_PULL_REQUEST",
            "DRONE_BUILD_STARTED",
            "DRONE_TAG",
            "DRONE_COMMIT_BRANCH",
        ),
        Runner::Woodpecker => (
            "CI_COMMIT_SHA",
            "CI_COMMIT_REF",
            "CI_REPO_DEFAULT_BRANCH",
            "CI_PIPELINE_EVENT",
            "CI_COMMIT_PULL_REQUEST",
            "CI_PIPELINE_STARTED",
            "CI_COMMIT_TAG",
            "CI_COMMIT_BRANCH",
        ),
    };
    v.push((sha, SHA.into()));
    v.push((default, "main".into()));
    v.push((started, STARTED.into()));
    if let Runner::Harness = runner {
        v.push(("HARNESS_BUILD_ID", "42".into()));
    }
    let harness = matches!(runner, Runner::Harness);
    match build {
        Build::Tag(t) => {
            v.push((event, "tag".into()));
            v.push((tag, t.into()));
            v.push((refv, format!("refs/tags/{t}")));
        }
        Build::Branch(b) => {
            v.push((event, "push".into()));
            v.push((branch, b.into()));
            if !harness {
                v.push((refv, format!("refs/heads/{b}")));
            }
        }
        Build::PullRequest(n) => {
            v.push((event, "pull_request".into()));
            v.push((pr, n.into()));
            v.push((branch, "main".into()));
            // Harness gives the number and the target branch; the others the PR's ref.
            if !harness {
                v.push((refv, format!("refs/pull/{n}/head")));
            }
        }
        Build::Cron => {
            v.push((event, "cron".into()));
            v.push((branch, "main".into()));
            v.push((refv, "refs/heads/main".into()));
        }
    }
    Env::from_pairs(v)
}

const RULES: &str = "type=schedule,pattern=nightly-{{date 'YYYYMMDD'}}
type=ref,event=branch
type=ref,event=pr
type=semver,pattern={{version}}
type=semver,pattern={{major}}.{{minor}}
type=sha";

fn tags(rules: &str, flavor: &str, env: &Env) -> Result<Vec<String>, String> {
    let rules = parse_rules(rules)?;
    let flavor = parse_flavor(flavor)?;
    let ci = Ci::from_env(env);
    let now = chrono::DateTime::from_timestamp(0, 0).unwrap_or_default();
    Ok(evaluate(&rules, &flavor, &ci, now)?
        .into_iter()
        .map(|t| t.tag)
        .collect())
}

#[test]
fn golden_table_across_drone_woodpecker_and_harness() {
    let cases: &[(&str, Build, &[&str])] = &[
        (
            "tag push",
            Build::Tag("v1.2.3"),
            &["1.2.3", "1.2", "sha-abcdef1", "latest"],
        ),
        (
            "default branch",
            Build::Branch("main"),
            &["main", "sha-abcdef1"],
        ),
        (
            "feature branch with a slash",
            Build::Branch("feature/x"),
            &["feature-x", "sha-abcdef1"],
        ),
        (
            "pull request",
            Build::PullRequest("7"),
            &["pr-7", "sha-abcdef1"],
        ),
        (
            "schedule",
            Build::Cron,
            &["nightly-20261203", "main", "sha-abcdef1"],
        ),
        (
            "pre-release: only {{version}}, no latest",
            Build::Tag("v2.0.0-rc.1"),
            &["2.0.0-rc.1", "sha-abcdef1"],
        ),
        (
            "+build version",
            Build::Tag("v1.2.3+build.5"),
            &["1.2.3-build.5", "1.2", "sha-abcdef1", "latest"],
        ),
        (
            "a tag that is no version: semver rules give nothing",
            Build::Tag("release-x"),
            &["sha-abcdef1"],
        ),
    ];
    for runner in [Runner::Drone, Runner::Woodpecker, Runner::Harness] {
        for (name, build, want) in cases {
            let got = tags(RULES, "", &env(runner, *build)).unwrap();
            assert_eq!(got, *want, "{runner:?}: {name}");
        }
    }
}

#[test]
fn ref_tag_rule_and_flavor() {
    let e = env(Runner::Drone, Build::Tag("v1.2.3"));
    assert_eq!(
        tags("type=ref,event=tag", "", &e).unwrap(),
        ["v1.2.3", "latest"]
    );
    assert_eq!(
        tags("type=ref,event=tag", "latest=false", &e).unwrap(),
        ["v1.2.3"]
    );
    // The flavor's prefix and suffix, on latest only with onlatest=true; a rule's own wins.
    assert_eq!(
        tags(
            "type=ref,event=tag\ntype=sha,suffix=-x",
            "prefix=app-,onlatest=true\nsuffix=-alpine",
            &e
        )
        .unwrap(),
        ["app-v1.2.3-alpine", "sha-abcdef1-x", "app-latest"]
    );
    let b = env(Runner::Woodpecker, Build::Branch("dev"));
    assert_eq!(
        tags("type=ref,event=branch", "latest=true", &b).unwrap(),
        ["dev", "latest"]
    );
    assert_eq!(tags("type=sha,format=long,prefix=", "", &b).unwrap(), [SHA]);
}

#[test]
fn raw_rules_with_enable_conditions_and_priority() {
    let rules = "type=raw,value=stable,enable={{is_default_branch}}
type=raw,value=preview,enable={{is_not_default_branch}}
type=raw,value=rel-{{branch}},enable=refs/heads/release/*
type=raw,value=never,enable=false
type=sha,priority=1000
edge-{{sha}}";
    let main = env(Runner::Drone, Build::Branch("main"));
    assert_eq!(
        tags(rules, "", &main).unwrap(),
        ["sha-abcdef1", "stable", "edge-abcdef1"]
    );
    let rel = env(Runner::Woodpecker, Build::Branch("release/2"));
    assert_eq!(
        tags(rules, "", &rel).unwrap(),
        ["sha-abcdef1", "preview", "rel-release-2", "edge-abcdef1"]
    );
    assert_eq!(
        tags("type=edge", "", &main).unwrap(),
        ["edge"],
        "edge on the default branch"
    );
    assert!(tags("type=edge,branch=dev", "", &main).unwrap().is_empty());
}

#[test]
fn the_three_forms_of_rules_agree() {
    let lines = parse_rules("type=ref,event=branch\n# a comment\ntype=sha\n").unwrap();
    let joined = parse_rules("type=ref,event=branch,type=sha").unwrap();
    let json = parse_rules(r#"[{"type":"ref","event":"branch"},{"type":"sha"}]"#).unwrap();
    let json_lines = parse_rules(r#"["type=ref,event=branch", "type=sha"]"#).unwrap();
    assert_eq!(lines, joined);
    assert_eq!(lines, json);
    assert_eq!(lines, json_lines);
    let enable =
        parse_rules(r#"[{"type":"raw","value":"x","enable":false,"priority":5}]"#).unwrap();
    assert_eq!(enable[0].enable, Enable::Never);
    assert_eq!(enable[0].priority, 5);
}

#[test]
fn invalid_rules_are_refused_naming_the_rule() {
    for (rules, want) in [
        ("type=nope", "rule 'type=nope': unknown type 'nope'"),
        ("type=ref", "rule 'type=ref': type=ref needs event="),
        (
            "type=ref,event=push",
            "event 'push' is not branch, tag or pr",
        ),
        ("type=semver", "type=semver needs pattern="),
        (
            "type=sha,pattern=x",
            "rule 'type=sha,pattern=x': type=sha has no attribute 'pattern'",
        ),
        (
            "type=sha,format=medium",
            "format 'medium' is not short or long",
        ),
        ("type=raw,value=x,enable=maybe", "enable 'maybe' is not"),
        (
            "type=raw,value=x,priority=high",
            "priority 'high' is not a whole number",
        ),
        ("type=match,pattern=v(.*)", "type=match is not supported"),
        ("[{\"type\":", "looks like a JSON array"),
        ("[{\"type\":[1]}]", "rule 1: attribute value [1]"),
    ] {
        let err = parse_rules(rules).unwrap_err();
        assert!(err.contains(want), "{rules}: {err}");
    }
    for (flavor, want) in [
        (
            "latest=sometimes",
            "latest 'sometimes' is not auto, true or false",
        ),
        ("onlatest=true", "onlatest= must follow prefix= or suffix="),
        ("colour=blue", "unknown flavor 'colour'"),
    ] {
        let err = parse_flavor(flavor).unwrap_err();
        assert!(err.contains(want), "{flavor}: {err}");
    }
}

#[test]
fn a_tag_that_cannot_be_made_valid_is_refused_naming_the_rule() {
    let e = env(Runner::Drone, Build::Branch("main"));
    let err = tags("type=raw,value=.hidden", "", &e).unwrap_err();
    assert!(
        err.starts_with("rule 'type=raw,value=.hidden' gives '.hidden', which is not a valid tag"),
        "{err}"
    );
    let long = format!("type=raw,value={}", "a".repeat(129));
    assert!(tags(&long, "", &e).unwrap_err().contains("not a valid tag"));
    let err = tags("type=raw,value={{date 'YYYY' tz='Asia/Tokyo'}}", "", &e).unwrap_err();
    assert!(
        err.contains("time zone 'Asia/Tokyo' is not supported"),
        "{err}"
    );
    let err = tags("type=raw,value={{nope}}", "", &e).unwrap_err();
    assert!(err.contains("unknown expression '{{nope}}'"), "{err}");
}

#[test]
fn sanitising_and_dates() {
    assert_eq!(sanitize("feature/x"), "feature-x");
    assert_eq!(sanitize("a//b c+d"), "a-b-c-d");
    assert_eq!(sanitize("1.2.3+build.5"), "1.2.3-build.5");
    let t = chrono::DateTime::from_timestamp(1_796_265_000, 0).unwrap_or_default();
    assert_eq!(
        date("'YYYY-MM-DD HH:mm:ss'", t).unwrap(),
        "2026-12-03 02:30:00"
    );
    assert_eq!(date("'YYYYMMDD' tz='UTC'", t).unwrap(), "20261203");
    assert!(glob_match("refs/heads/release/*", "refs/heads/release/2"));
    assert!(!glob_match("refs/heads/release/*", "refs/heads/main"));
    assert!(glob_match("refs/tags/v*.0", "refs/tags/v2.0"));
    assert!(glob_match("refs/heads/main", "refs/heads/main"));
    assert!(!glob_match("a*a", "a"));
    // A commit SHA the runner garbled is cut by characters, never inside one.
    assert_eq!(short_sha("éééééééé"), "ééééééé");
}
