//! Reading `PLUGIN_TAG_RULES` and `PLUGIN_TAG_FLAVOR` into [`Rule`]s and a [`Flavor`]: a JSON
//! array (of objects with docker/metadata-action's attribute names, or of one-line rules), or
//! metadata-action's one-rule-per-line `type=ref,event=branch` text. No evaluation here: the CI
//! variables are not looked at. Errors say which rule and what is wrong; the caller names the
//! variable.

use super::{Enable, Flavor, Kind, Latest, RefEvent, Rule};

/// Parses the rules. Lines (or the items of a JSON array) are rules; within a line, a second
/// `type=` starts another rule, because a runner joins a YAML list of rules with commas
/// (`type=ref,event=branch,type=sha`). A line without `type=` is a `raw` value, as in
/// metadata-action (`foo` is `type=raw,value=foo`).
pub(crate) fn parse_rules(raw: &str) -> Result<Vec<Rule>, String> {
    let trimmed = raw.trim();
    let mut rules = Vec::new();
    if trimmed.starts_with('[') {
        let items: Vec<serde_json::Value> = serde_json::from_str(trimmed)
            .map_err(|e| format!("looks like a JSON array but does not parse: {e}"))?;
        for (i, item) in items.into_iter().enumerate() {
            match item {
                serde_json::Value::Object(map) => {
                    let pairs = map
                        .into_iter()
                        .map(|(k, v)| {
                            Ok((
                                k,
                                json_scalar(v).map_err(|e| format!("rule {}: {e}", i + 1))?,
                            ))
                        })
                        .collect::<Result<Vec<_>, String>>()?;
                    rules.push(rule_from_pairs(pairs)?);
                }
                serde_json::Value::String(line) => rules.extend(parse_line(&line)?),
                other => {
                    return Err(format!(
                        "rule {}: {other} is neither an object nor a string",
                        i + 1
                    ));
                }
            }
        }
    } else {
        for line in trimmed.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with('#') {
                rules.extend(parse_line(line)?);
            }
        }
    }
    Ok(rules)
}

/// A JSON attribute value as text: strings as they are, booleans and numbers written out.
fn json_scalar(v: serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => Ok(v.to_string()),
        other => Err(format!(
            "attribute value {other} is not a string, number or boolean"
        )),
    }
}

/// One line: `key=value` attributes separated by commas (not those inside `{{…}}`).
fn parse_line(line: &str) -> Result<Vec<Rule>, String> {
    let mut groups: Vec<Vec<(String, String)>> = Vec::new();
    for item in split_attributes(line) {
        let (k, v) = match item.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            // `foo` alone, or `type=raw,foo`: a raw value.
            None => ("value".to_string(), item.clone()),
        };
        let starts_rule = k == "type"
            && groups
                .last()
                .is_some_and(|g| g.iter().any(|(k, _)| k == "type"));
        if groups.is_empty() || starts_rule {
            groups.push(Vec::new());
        }
        if let Some(g) = groups.last_mut() {
            g.push((k, v));
        }
    }
    groups.into_iter().map(rule_from_pairs).collect()
}

/// Splits at the commas outside `{{…}}`, trimming and dropping empty items.
fn split_attributes(line: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in line.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    items.push(cur);
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The attributes every rule type takes.
const COMMON: &[&str] = &["type", "enable", "priority", "prefix", "suffix"];

/// Builds one rule from its attributes, refusing an unknown type or attribute.
fn rule_from_pairs(pairs: Vec<(String, String)>) -> Result<Rule, String> {
    // `type` first, as written in metadata-action's examples (a JSON object has no order).
    let text = pairs
        .iter()
        .filter(|(k, _)| k == "type")
        .chain(pairs.iter().filter(|(k, _)| k != "type"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let get = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let kind_name = get("type").unwrap_or_else(|| "raw".into());
    let (kind, extra): (Kind, &[&str]) = match kind_name.as_str() {
        "semver" => (
            Kind::Semver {
                pattern: get("pattern").ok_or_else(|| {
                    format!("rule '{text}': type=semver needs pattern= (e.g. {{{{version}}}})")
                })?,
                value: get("value"),
            },
            &["pattern", "value"],
        ),
        "ref" => (Kind::Ref(ref_event(&text, get("event"))?), &["event"]),
        "sha" => (
            Kind::Sha {
                long: sha_format(&text, get("format"))?,
            },
            &["format"],
        ),
        "raw" => (
            Kind::Raw(
                get("value")
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("rule '{text}': type=raw needs value="))?,
            ),
            &["value"],
        ),
        "schedule" => (
            Kind::Schedule(get("pattern").unwrap_or_else(|| "nightly".into())),
            &["pattern"],
        ),
        "edge" => (Kind::Edge(get("branch")), &["branch"]),
        "match" | "pep440" => {
            return Err(format!(
                "rule '{text}': type={kind_name} is not supported (semver, ref, sha, raw, schedule and edge are)"
            ));
        }
        other => {
            return Err(format!(
                "rule '{text}': unknown type '{other}' (semver, ref, sha, raw, schedule, edge)"
            ));
        }
    };
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| !COMMON.contains(&k.as_str()) && !extra.contains(&k.as_str()))
    {
        return Err(format!(
            "rule '{text}': type={kind_name} has no attribute '{k}'"
        ));
    }
    let priority = match get("priority") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("rule '{text}': priority '{p}' is not a whole number"))?,
        None => kind.default_priority(),
    };
    Ok(Rule {
        enable: parse_enable(&text, get("enable").as_deref())?,
        prefix: get("prefix").or_else(|| kind.default_prefix().map(str::to_string)),
        suffix: get("suffix"),
        priority,
        kind,
        text,
    })
}

fn ref_event(text: &str, event: Option<String>) -> Result<RefEvent, String> {
    match event.as_deref() {
        Some("branch") => Ok(RefEvent::Branch),
        Some("tag") => Ok(RefEvent::Tag),
        Some("pr") => Ok(RefEvent::Pr),
        Some(other) => Err(format!(
            "rule '{text}': event '{other}' is not branch, tag or pr"
        )),
        None => Err(format!(
            "rule '{text}': type=ref needs event=branch, tag or pr"
        )),
    }
}

fn sha_format(text: &str, format: Option<String>) -> Result<bool, String> {
    match format.as_deref() {
        None | Some("short") => Ok(false),
        Some("long") => Ok(true),
        Some(other) => Err(format!(
            "rule '{text}': format '{other}' is not short or long"
        )),
    }
}

/// `enable=`: `true`, `false`, metadata-action's `{{is_default_branch}}` /
/// `{{is_not_default_branch}}`, or a git ref (`refs/heads/release/*`, `*` matching anything).
fn parse_enable(text: &str, enable: Option<&str>) -> Result<Enable, String> {
    match enable.map(str::trim) {
        None | Some("true") => Ok(Enable::Always),
        Some("false") => Ok(Enable::Never),
        Some("{{is_default_branch}}") => Ok(Enable::DefaultBranch(true)),
        Some("{{is_not_default_branch}}") => Ok(Enable::DefaultBranch(false)),
        Some(r) if r.starts_with("refs/") => Ok(Enable::Ref(r.to_string())),
        Some(other) => Err(format!(
            "rule '{text}': enable '{other}' is not true, false, {{{{is_default_branch}}}}, {{{{is_not_default_branch}}}} or a refs/… pattern"
        )),
    }
}

/// `PLUGIN_TAG_FLAVOR`: metadata-action's `flavor` (`latest=auto|true|false`, `prefix=`,
/// `suffix=`, each optionally followed by `onlatest=true`), as lines, a comma list or a JSON
/// object.
pub(crate) fn parse_flavor(raw: &str) -> Result<Flavor, String> {
    let trimmed = raw.trim();
    let pairs: Vec<(String, String)> = if trimmed.starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(trimmed)
            .map_err(|e| format!("looks like a JSON object but does not parse: {e}"))?;
        map.into_iter()
            .map(|(k, v)| Ok((k, json_scalar(v)?)))
            .collect::<Result<_, String>>()?
    } else {
        trimmed
            .lines()
            .flat_map(split_attributes)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => Ok((k.trim().to_string(), v.trim().to_string())),
                None => Err(format!("'{item}' is not key=value")),
            })
            .collect::<Result<_, String>>()?
    };
    let mut flavor = Flavor::default();
    // `onlatest=` applies to the prefix or suffix written just before it.
    let mut last: Option<&str> = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "latest" => {
                flavor.latest = match v.as_str() {
                    "auto" => Latest::Auto,
                    "true" => Latest::Always,
                    "false" => Latest::Never,
                    other => return Err(format!("latest '{other}' is not auto, true or false")),
                }
            }
            "prefix" => (flavor.prefix, last) = (v.clone(), Some("prefix")),
            "suffix" => (flavor.suffix, last) = (v.clone(), Some("suffix")),
            "onlatest" => {
                let on = match v.as_str() {
                    "true" => true,
                    "false" => false,
                    other => return Err(format!("onlatest '{other}' is not true or false")),
                };
                match last {
                    Some("prefix") => flavor.prefix_on_latest = on,
                    Some("suffix") => flavor.suffix_on_latest = on,
                    _ => return Err("onlatest= must follow prefix= or suffix=".into()),
                }
            }
            other => {
                return Err(format!(
                    "unknown flavor '{other}' (latest, prefix, suffix, onlatest)"
                ));
            }
        }
    }
    Ok(flavor)
}
