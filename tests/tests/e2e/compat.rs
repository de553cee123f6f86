//! `docs/compatibility.md` stays true to the plugins: its settings tables (the row format is
//! described at the top of the page) are checked against each binary's `--settings-markdown`
//! table, and every "not supported" claim is checked by running the binary with that variable
//! set and reading what it says.

use std::collections::{BTreeMap, BTreeSet};

use longshore_tests::{Plugin, plugin_bin};

/// Read by every plugin's entry point (`longshore_core::cli::main`), outside its settings table.
const ENTRY_VARIABLES: &[&str] = &["PLUGIN_ENV_FILE", "PLUGIN_DEBUG"];

/// What a row says about its variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Same,
    Improved,
    Changed,
    New,
    Refused,
    Warned,
    Silent,
}

impl Status {
    fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "same" => Status::Same,
            "improved" => Status::Improved,
            "changed" => Status::Changed,
            "new" => Status::New,
            "not supported (refused)" => Status::Refused,
            "not supported (ignored, warning)" => Status::Warned,
            "not supported (ignored silently)" => Status::Silent,
            _ => return None,
        })
    }

    fn accepted(self) -> bool {
        matches!(
            self,
            Status::Same | Status::Improved | Status::Changed | Status::New
        )
    }
}

#[derive(Debug, Clone)]
struct Row {
    names: Vec<String>,
    status: Status,
    notes: String,
}

/// A section's table: its own rows and the section it inherits from, if any.
struct Section {
    inherits: Option<String>,
    rows: Vec<Row>,
}

fn page() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/compatibility.md"
    ))
    .expect("docs/compatibility.md")
}

/// Backticked environment variable names in a table cell (`.tags`, flags and prose are not).
fn names_in(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_string)
        .collect()
}

fn section(page: &str, name: &str) -> Section {
    let open = format!("<!-- compat:{name}:start");
    let start = page
        .find(&open)
        .unwrap_or_else(|| panic!("{name}: no `{open}` marker"));
    let marker_end = start + page[start..].find("-->").expect("marker closes");
    let inherits = page[start + open.len()..marker_end]
        .trim()
        .strip_prefix("inherits ")
        .map(|s| s.trim().to_string());
    let close = format!("<!-- compat:{name}:end -->");
    let end = page
        .find(&close)
        .unwrap_or_else(|| panic!("{name}: no `{close}` marker"));
    let mut rows = Vec::new();
    for line in page[marker_end + 3..end].lines() {
        let line = line.trim();
        if !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(
            cells.len(),
            3,
            "{name}: a row is `| variables | status | notes |`: {line}"
        );
        let names = names_in(cells[0]);
        assert!(!names.is_empty(), "{name}: a row without variables: {line}");
        let status = Status::parse(cells[1])
            .unwrap_or_else(|| panic!("{name}: unknown status {:?} in {line}", cells[1]));
        if !matches!(status, Status::Same | Status::New) {
            assert!(
                !cells[2].is_empty(),
                "{name}: a `{}` row must say how or why: {line}",
                cells[1]
            );
        }
        rows.push(Row {
            names,
            status,
            notes: cells[2].to_string(),
        });
    }
    assert!(!rows.is_empty(), "{name}: an empty table");
    let mut seen = BTreeSet::new();
    for n in rows.iter().flat_map(|r| &r.names) {
        assert!(seen.insert(n.clone()), "{name}: {n} is in two rows");
    }
    Section { inherits, rows }
}

/// The rows that apply to `name`: its own, plus the inherited ones that name none of its
/// variables.
fn effective_rows(page: &str, name: &str) -> Vec<Row> {
    let own = section(page, name);
    let mut rows = own.rows;
    if let Some(parent) = own.inherits {
        let mine: BTreeSet<String> = rows.iter().flat_map(|r| r.names.clone()).collect();
        rows.extend(
            effective_rows(page, &parent)
                .into_iter()
                .filter(|r| !r.names.iter().any(|n| mine.contains(n))),
        );
    }
    rows
}

/// The variables of `longshore-<plugin>`'s settings table, from `--settings-markdown`.
fn accepted_by(plugin: &str) -> BTreeSet<String> {
    let out = std::process::Command::new(plugin_bin(plugin))
        .arg("--settings-markdown")
        .output()
        .expect("run --settings-markdown");
    assert!(out.status.success(), "{plugin} --settings-markdown failed");
    let table = String::from_utf8(out.stdout).expect("utf-8");
    let names: BTreeSet<String> = table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| names_in(l.trim_matches('|').split('|').next().unwrap_or("")))
        .collect();
    assert!(names.len() > 10, "{plugin}: settings table not found");
    names
}

/// The least a plugin needs to get past its registry flow's own required settings, so that a
/// refusal by the shared docker settings can show (none of these lets a run reach the network:
/// the repository, bucket, source or server URL is still missing).
fn base_env(plugin: &str) -> &'static [(&'static str, &'static str)] {
    match plugin {
        "gar" => &[("PLUGIN_LOCATION", "us")],
        "acr" => &[("PLUGIN_REGISTRY", "example.azurecr.io")],
        _ => &[],
    }
}

/// Runs `plugin` with `var` set and checks it does what `status` says.
fn check_not_supported(plugin: &str, var: &str, status: Status, section: &str) {
    let dir = tempfile::tempdir().unwrap();
    let run = Plugin::new(plugin, dir.path())
        .envs(base_env(plugin).iter().copied())
        .env(var, "x")
        .run();
    let case = format!("{section}: {var} with longshore-{plugin}");
    // Every such run stops at a missing setting: the claim is what it printed first.
    assert!(!run.output().contains("panicked"), "{case}: panicked");
    let warned = run
        .stderr
        .contains(&format!("{var} is not a setting of this plugin"));
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.contains(" WARN "))
        .collect();
    let refused = errors.iter().any(|l| l.contains(var));
    match status {
        Status::Refused => run.assert_refused(var, &case),
        Status::Warned => {
            assert!(
                warned,
                "{case}: expected the unknown-setting warning:\n{}",
                run.stderr
            );
            assert!(!refused, "{case}: ignored, yet refused:\n{}", run.stderr);
        }
        Status::Silent => assert!(
            !run.output().contains(var),
            "{case}: expected not a word about it:\n{}",
            run.output()
        ),
        _ => unreachable!("only the not supported statuses are run"),
    }
}

/// Checks a section against `plugin`. `full`: the section is the plugin's own, so it must also
/// cover every variable the plugin accepts.
fn check(name: &str, plugin: &str, full: bool) {
    let page = page();
    let rows = effective_rows(&page, name);
    let mut accepted = accepted_by(plugin);
    let table = accepted.clone();
    accepted.extend(ENTRY_VARIABLES.iter().map(|s| s.to_string()));

    let mut covered = BTreeMap::new();
    for row in &rows {
        for n in &row.names {
            covered.insert(n.clone(), row.status);
            if row.status.accepted() {
                assert!(
                    accepted.contains(n),
                    "{name}: {n} is marked {:?} but longshore-{plugin} does not accept it ({})",
                    row.status,
                    row.notes
                );
            } else {
                assert!(
                    !accepted.contains(n),
                    "{name}: {n} is marked not supported but longshore-{plugin} accepts it"
                );
                check_not_supported(plugin, n, row.status, name);
            }
        }
    }
    if full {
        let missing: Vec<&String> = table
            .iter()
            .filter(|n| !covered.get(*n).is_some_and(|s| s.accepted()))
            .collect();
        assert!(
            missing.is_empty(),
            "{name}: longshore-{plugin} accepts {missing:?}, which the page does not list"
        );
    }
}

#[test]
fn docker_page_matches_the_plugin() {
    check("docker", "docker", true);
}

#[test]
fn ecr_page_matches_the_plugin() {
    check("ecr", "ecr", true);
}

#[test]
fn gcr_page_matches_the_plugin() {
    check("gcr", "gcr", true);
}

#[test]
fn gar_page_matches_the_plugin() {
    check("gar", "gar", true);
}

#[test]
fn acr_page_matches_the_plugin() {
    check("acr", "acr", true);
}

#[test]
fn kaniko_pages_match_the_image_plugins() {
    check("kaniko", "docker", false);
    check("kaniko-ecr", "ecr", false);
    check("kaniko-gcr", "gcr", false);
    check("kaniko-gar", "gar", false);
    check("kaniko-acr", "acr", false);
}

#[test]
fn s3_page_matches_the_plugin() {
    check("s3", "s3", true);
    check("s3-sync", "s3", false);
}

#[test]
fn gcs_page_matches_the_plugin() {
    check("gcs", "gcs", true);
}

#[test]
fn jfrog_page_matches_the_plugin() {
    check("jfrog", "jfrog", true);
}

#[test]
fn nexus_page_matches_the_plugin() {
    check("nexus", "nexus", true);
}

#[test]
fn the_row_parser_reads_names_and_statuses() {
    assert_eq!(
        names_in("`PLUGIN_TAG`, `PLUGIN_TAGS`, file `.tags`"),
        vec!["PLUGIN_TAG", "PLUGIN_TAGS"]
    );
    assert_eq!(
        Status::parse("not supported (ignored, warning)"),
        Some(Status::Warned)
    );
    assert_eq!(Status::parse("supported"), None);
    let page = "<!-- compat:x:start inherits y -->\n| Variables | Status | Notes |\n|---|---|---|\n\
                | `A`, `B` | same | |\n| `C` | not supported (refused) | why |\n<!-- compat:x:end -->\n";
    let s = section(page, "x");
    assert_eq!(s.inherits.as_deref(), Some("y"));
    assert_eq!(s.rows.len(), 2);
    assert_eq!(s.rows[0].names, vec!["A", "B"]);
    assert_eq!(s.rows[1].status, Status::Refused);
}
