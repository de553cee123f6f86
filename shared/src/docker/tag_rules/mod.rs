//! Tag rules: docker/metadata-action's `tags` and `flavor` inputs (`PLUGIN_TAG_RULES`,
//! `PLUGIN_TAG_FLAVOR`) evaluated against the runner's CI variables (Drone, Woodpecker,
//! Harness) instead of GitHub's context. When rules are given they decide the tags on every ref.
//!
//! Owns: the rule types, their evaluation, tag sanitising. Must not: read the environment (the
//! [`Ci`] comes in), log, or do I/O. Parsing is in `parse`, the golden tables in `tests`.
//!
//! What follows metadata-action: default priorities (schedule 1000, semver 900, edge 700,
//! ref 600, raw 200, sha 100) order the tags, highest first; a rule's own `prefix`/`suffix`
//! replaces the flavor's; `sha` has the default prefix `sha-`, `ref,event=pr` `pr-`; a
//! pre-release only gives `{{version}}` (unless the pattern has `{{raw}}`) and no `latest`;
//! `latest=auto` adds `latest` for a tag push matched by `semver` or `ref,event=tag`; invalid
//! characters become `-`. What differs: `enable=` takes `true`, `false`,
//! `{{is_default_branch}}`, `{{is_not_default_branch}}` or a `refs/…` pattern (there is no
//! GitHub expression language); semver build metadata `+b` becomes `-b` (a registry refuses
//! `+`); dates are UTC only.

mod parse;
#[cfg(test)]
mod tests;

pub(crate) use parse::{parse_flavor, parse_rules};

use super::tags;
use crate::ci::Ci;

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    kind: Kind,
    enable: Enable,
    prefix: Option<String>,
    suffix: Option<String>,
    priority: i64,
    /// The rule as written (`type=ref,event=branch`): the plan and errors show it.
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Semver {
        pattern: String,
        value: Option<String>,
    },
    Ref(RefEvent),
    Sha {
        long: bool,
    },
    Raw(String),
    Schedule(String),
    Edge(Option<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefEvent {
    Branch,
    Tag,
    Pr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Enable {
    Always,
    Never,
    /// True: only on the default branch; false: only elsewhere.
    DefaultBranch(bool),
    /// The commit ref matches this pattern (`*` matches anything).
    Ref(String),
}

impl Kind {
    fn default_priority(&self) -> i64 {
        match self {
            Kind::Schedule(_) => 1000,
            Kind::Semver { .. } => 900,
            Kind::Edge(_) => 700,
            Kind::Ref(_) => 600,
            Kind::Raw(_) => 200,
            Kind::Sha { .. } => 100,
        }
    }

    fn default_prefix(&self) -> Option<&'static str> {
        match self {
            Kind::Sha { .. } => Some("sha-"),
            Kind::Ref(RefEvent::Pr) => Some("pr-"),
            _ => None,
        }
    }
}

/// `latest` handling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Latest {
    /// For a tag push that a `semver` (not a pre-release) or `ref,event=tag` rule matched.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// metadata-action's `flavor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flavor {
    latest: Latest,
    prefix: String,
    suffix: String,
    prefix_on_latest: bool,
    suffix_on_latest: bool,
}

/// What the CI variables say about this build, as the rules see it.
struct Facts<'a> {
    branch: Option<&'a str>,
    tag: Option<&'a str>,
    pr: Option<String>,
    schedule: bool,
    default_branch: bool,
    ci: &'a Ci,
    time: chrono::DateTime<chrono::Utc>,
}

impl<'a> Facts<'a> {
    fn new(ci: &'a Ci, now: chrono::DateTime<chrono::Utc>) -> Self {
        let r = ci.commit_ref.as_str();
        let pr = pull_request(ci);
        let branch = r.strip_prefix("refs/heads/").filter(|_| pr.is_none());
        Facts {
            branch,
            tag: r.strip_prefix("refs/tags/"),
            default_branch: branch.is_some_and(|b| b == ci.default_branch),
            pr,
            schedule: matches!(ci.event.as_str(), "cron" | "schedule" | "scheduled"),
            time: ci
                .build_started
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or(now),
            ci,
        }
    }
}

/// The pull request's number: the runner's variable on a pull-request build, else the one in
/// the ref (`refs/pull/12/head`, Gitea/Bitbucket's `refs/pull-requests/12/from`, GitLab's
/// `refs/merge-requests/12/head`).
fn pull_request(ci: &Ci) -> Option<String> {
    let from_ref = ["refs/pull/", "refs/pull-requests/", "refs/merge-requests/"]
        .iter()
        .find_map(|p| ci.commit_ref.strip_prefix(p))
        .and_then(|rest| rest.split('/').next())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if let Some(n) = from_ref {
        return Some(n.to_string());
    }
    (ci.event == "pull_request" && !ci.pull_request.is_empty()).then(|| ci.pull_request.clone())
}

/// A computed tag and the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTag {
    /// The tag, sanitised and valid.
    pub tag: String,
    /// The rule as written, or `latest=…` for the flavor's `latest`.
    pub rule: String,
}

/// The tags the rules give for this build, highest priority first, `latest` last, each once.
/// `now` is the date of `schedule` patterns when the runner gives no build start. An error
/// names the rule whose tag cannot be made valid.
pub fn evaluate(
    rules: &[Rule],
    flavor: &Flavor,
    ci: &Ci,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<RuleTag>, String> {
    let facts = Facts::new(ci, now);
    let mut ordered: Vec<&Rule> = rules.iter().collect();
    // Stable: rules of the same priority keep the order they were written in.
    ordered.sort_by_key(|r| std::cmp::Reverse(r.priority));
    let mut out: Vec<RuleTag> = Vec::new();
    let mut latest = flavor.latest == Latest::Always;
    for rule in ordered {
        if !enabled(&rule.enable, &facts) {
            continue;
        }
        let Some((value, wants_latest)) = value_of(rule, &facts)? else {
            continue;
        };
        latest |= wants_latest && flavor.latest == Latest::Auto;
        let prefix = rule.prefix.as_deref().unwrap_or(&flavor.prefix);
        let suffix = rule.suffix.as_deref().unwrap_or(&flavor.suffix);
        let prefix = render(prefix, &facts).map_err(|e| format!("rule '{}': {e}", rule.text))?;
        let suffix = render(suffix, &facts).map_err(|e| format!("rule '{}': {e}", rule.text))?;
        push(&mut out, &format!("{prefix}{value}{suffix}"), &rule.text)?;
    }
    if latest && flavor.latest != Latest::Never {
        let prefix = if flavor.prefix_on_latest {
            flavor.prefix.as_str()
        } else {
            ""
        };
        let suffix = if flavor.suffix_on_latest {
            flavor.suffix.as_str()
        } else {
            ""
        };
        let why = match flavor.latest {
            Latest::Always => "latest=true",
            _ => "latest=auto",
        };
        push(&mut out, &format!("{prefix}latest{suffix}"), why)?;
    }
    Ok(out)
}

/// Sanitises `raw` into a tag and adds it unless it is already there.
fn push(out: &mut Vec<RuleTag>, raw: &str, rule: &str) -> Result<(), String> {
    let tag = sanitize(raw);
    if !tags::is_valid_tag(&tag) {
        return Err(format!(
            "rule '{rule}' gives '{}', which is not a valid tag even with invalid characters replaced (it must start with a letter, digit or _, at most 128 characters)",
            crate::files::excerpt(&tag, 40)
        ));
    }
    if !out.iter().any(|t| t.tag == tag) {
        out.push(RuleTag {
            tag,
            rule: rule.to_string(),
        });
    }
    Ok(())
}

/// metadata-action's sanitising: every run of characters a tag cannot hold becomes one `-`
/// (`feature/x` → `feature-x`, `1.2.3+b` → `1.2.3-b`).
pub fn sanitize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out
}

fn enabled(enable: &Enable, f: &Facts<'_>) -> bool {
    match enable {
        Enable::Always => true,
        Enable::Never => false,
        Enable::DefaultBranch(want) => f.default_branch == *want,
        Enable::Ref(pattern) => glob_match(pattern, &f.ci.commit_ref),
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    // One part: no `*`, the pattern is the ref itself.
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for m in middle {
        match rest.find(m) {
            Some(i) => rest = &rest[i + m.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The rule's value before prefix and suffix, and whether it asks for `latest` (auto); None
/// when the rule does not apply to this build.
fn value_of(rule: &Rule, f: &Facts<'_>) -> Result<Option<(String, bool)>, String> {
    let with_rule = |e: String| format!("rule '{}': {e}", rule.text);
    Ok(match &rule.kind {
        Kind::Semver { pattern, value } => {
            let raw = match value {
                Some(v) => Some(render(v, f).map_err(with_rule)?),
                None => f.tag.map(str::to_string),
            };
            raw.and_then(|raw| semver_tag(pattern, &raw))
        }
        Kind::Ref(RefEvent::Branch) => f.branch.map(|b| (b.to_string(), false)),
        Kind::Ref(RefEvent::Tag) => f.tag.map(|t| (t.to_string(), true)),
        Kind::Ref(RefEvent::Pr) => f.pr.clone().map(|n| (n, false)),
        Kind::Sha { long } => {
            let sha = &f.ci.commit_sha;
            let v = if *long { sha.clone() } else { short_sha(sha) };
            Some((v, false))
        }
        Kind::Raw(v) => Some((render(v, f).map_err(with_rule)?, false)),
        Kind::Schedule(p) => {
            if f.schedule {
                Some((render(p, f).map_err(with_rule)?, false))
            } else {
                None
            }
        }
        Kind::Edge(branch) => {
            let want = branch.as_deref().unwrap_or(&f.ci.default_branch);
            (f.branch == Some(want)).then(|| ("edge".to_string(), false))
        }
    })
}

/// A `semver` pattern for a version (`v` or `V` allowed in front); None when it is not one.
/// A pre-release gives only `{{version}}` (or the pattern, when it has `{{raw}}`) and no
/// `latest`, as metadata-action.
fn semver_tag(pattern: &str, raw: &str) -> Option<(String, bool)> {
    let v = raw.strip_prefix(['v', 'V']).unwrap_or(raw);
    let ver = tags::parse_version(v).ok()?;
    let mut version = format!("{}.{}.{}", ver.major, ver.minor, ver.patch);
    if let Some(p) = ver.pre {
        version = format!("{version}-{p}");
    }
    if let Some(b) = ver.build {
        version = format!("{version}+{b}");
    }
    let pattern = if ver.pre.is_some() && !pattern.contains("{{raw}}") {
        "{{version}}"
    } else {
        pattern
    };
    let out = pattern
        .replace("{{raw}}", raw)
        .replace("{{version}}", &version)
        .replace("{{major}}", ver.major)
        .replace("{{minor}}", ver.minor)
        .replace("{{patch}}", ver.patch);
    Some((out, ver.pre.is_none()))
}

/// Replaces the expressions of a value: `{{branch}}`, `{{tag}}`, `{{sha}}` (short),
/// `{{base_ref}}` (empty), `{{is_default_branch}}`, `{{date 'FORMAT'}}` (moment.js tokens
/// `YYYY YY MM DD HH mm ss`, UTC).
fn render(value: &str, f: &Facts<'_>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("'{{{{' without '}}}}' in '{value}'"))?;
        out.push_str(&expression(after[..end].trim(), f)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The first 7 characters, as `git rev-parse --short` and metadata-action.
fn short_sha(sha: &str) -> String {
    sha.chars().take(7).collect()
}

fn expression(expr: &str, f: &Facts<'_>) -> Result<String, String> {
    let sha = &f.ci.commit_sha;
    Ok(match expr {
        "branch" => f.branch.unwrap_or_default().to_string(),
        "tag" => f.tag.unwrap_or_default().to_string(),
        "sha" => short_sha(sha),
        "base_ref" => String::new(),
        "is_default_branch" => f.default_branch.to_string(),
        "is_not_default_branch" => (!f.default_branch).to_string(),
        _ => match expr.strip_prefix("date ") {
            Some(args) => date(args.trim(), f.time)?,
            None => return Err(format!("unknown expression '{{{{{expr}}}}}'")),
        },
    })
}

/// `'YYYYMMDD'` (moment.js tokens) → the formatted date; a `tz=` other than UTC is refused.
fn date(args: &str, time: chrono::DateTime<chrono::Utc>) -> Result<String, String> {
    let (format, tz) = match args.split_once(" tz=") {
        Some((fmt, tz)) => (fmt.trim(), Some(tz.trim().trim_matches(['\'', '"']))),
        None => (args, None),
    };
    if let Some(tz) = tz.filter(|tz| !matches!(*tz, "UTC" | "Etc/UTC")) {
        return Err(format!(
            "date time zone '{tz}' is not supported (dates are UTC)"
        ));
    }
    let format = format.trim_matches(['\'', '"']);
    let mut strftime = String::new();
    let mut rest = format;
    'outer: while !rest.is_empty() {
        for (token, spec) in [
            ("YYYY", "%Y"),
            ("YY", "%y"),
            ("MM", "%m"),
            ("DD", "%d"),
            ("HH", "%H"),
            ("mm", "%M"),
            ("ss", "%S"),
        ] {
            if let Some(r) = rest.strip_prefix(token) {
                strftime.push_str(spec);
                rest = r;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            if c == '%' {
                strftime.push_str("%%");
            } else {
                strftime.push(c);
            }
        }
        rest = chars.as_str();
    }
    Ok(time.format(&strftime).to_string())
}
