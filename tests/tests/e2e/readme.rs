//! The README's settings tables are the plugins' own `--settings-markdown` output.

fn check(plugin: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(longshore_tests::plugin_bin(plugin))
        .arg("--settings-markdown")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start_marker = format!("<!-- settings:{plugin}:start -->\n");
    let start = readme.find(&start_marker).expect("start marker") + start_marker.len();
    let end = readme
        .find(&format!("<!-- settings:{plugin}:end -->"))
        .expect("end marker");
    assert_eq!(
        readme[start..end].trim(),
        table.trim(),
        "README is stale: regenerate with `longshore-{plugin} --settings-markdown`"
    );
}

#[test]
fn docker_settings_table_matches_the_code() {
    check("docker");
}

#[test]
fn s3_settings_table_matches_the_code() {
    check("s3");
}

#[test]
fn ecr_settings_table_matches_the_code() {
    check("ecr");
}

#[test]
fn acr_settings_table_matches_the_code() {
    check("acr");
}

#[test]
fn gcr_settings_table_matches_the_code() {
    check("gcr");
}

#[test]
fn gar_settings_table_matches_the_code() {
    check("gar");
}

#[test]
fn nexus_settings_table_matches_the_code() {
    check("nexus");
}

#[test]
fn jfrog_settings_table_matches_the_code() {
    check("jfrog");
}

#[test]
fn gcs_settings_table_matches_the_code() {
    check("gcs");
}
