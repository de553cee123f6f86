//! What a step leaves for the runner: `DRONE_OUTPUT` (dotenv lines the next steps can read), the
//! Harness artifact file (`PLUGIN_ARTIFACT_FILE`, format `docker/v1` exactly as drone-plugin-lib
//! writes it: tab-indented JSON), and the Drone card (`DRONE_CARD_PATH`).

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use serde::Serialize;

use crate::Error;

/// Appends `KEY="value"` lines to the `DRONE_OUTPUT` file (godotenv's quoting, so values with
/// spaces, quotes or newlines survive).
pub fn write_drone_output(path: &str, pairs: &[(&str, String)]) -> Result<(), Error> {
    let mut text = String::new();
    for (k, v) in pairs {
        // Values are read by later steps and shown in the UI: no URL keeps its credentials.
        let escaped = crate::secret::without_userinfo(v)
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        text.push_str(&format!("{k}=\"{escaped}\"\n"));
    }
    let io = |source| Error::Output {
        what: "DRONE_OUTPUT",
        path: path.to_string(),
        source,
    };
    create_parent(path).map_err(io)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}

/// One image in a `docker/v1` artifact file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ArtifactImage {
    /// `registry/repo:tag`.
    pub image: String,
    /// `sha256:…` of the pushed manifest.
    pub digest: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerData<'a> {
    registry_type: &'a str,
    registry_url: &'a str,
    images: &'a [ArtifactImage],
}

#[derive(Serialize)]
struct Artifact<'a, T> {
    kind: &'a str,
    data: T,
}

/// Writes the Harness `docker/v1` artifact file.
pub fn write_docker_artifact(
    path: &str,
    registry_type: &str,
    registry_url: &str,
    images: &[ArtifactImage],
) -> Result<(), Error> {
    let doc = Artifact {
        kind: "docker/v1",
        data: DockerData {
            registry_type,
            registry_url,
            images,
        },
    };
    write_json(path, "artifact file", &doc)
}

/// One uploaded file in a `fileUpload/v1` artifact file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileArtifact {
    /// The object name.
    pub name: String,
    /// Where it can be fetched.
    pub url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData<'a> {
    file_artifacts: &'a [FileArtifact],
}

/// Writes the Harness `fileUpload/v1` artifact file (the format artifact-metadata-publisher
/// writes, reference upload-plugins §1.1), so no second step is needed to publish it.
pub fn write_file_artifact(path: &str, files: &[FileArtifact]) -> Result<(), Error> {
    let doc = Artifact {
        kind: "fileUpload/v1",
        data: FileData {
            file_artifacts: files,
        },
    };
    write_json(path, "artifact file", &doc)
}

/// Writes the Drone card. `/dev/stdout` and `/dev/stderr` get the escape-sequence form the
/// Drone runner scans the log for, as drone-docker writes it.
pub fn write_card(path: &str, schema: &str, data: &serde_json::Value) -> Result<(), Error> {
    let doc = serde_json::json!({ "schema": schema, "data": data });
    if path == "/dev/stdout" || path == "/dev/stderr" {
        let encoded = base64::engine::general_purpose::STANDARD.encode(doc.to_string());
        let line = format!("\u{1b}]1338;{encoded}\u{1b}]0m\n");
        let res = if path == "/dev/stdout" {
            std::io::stdout().write_all(line.as_bytes())
        } else {
            std::io::stderr().write_all(line.as_bytes())
        };
        return res.map_err(|source| Error::Output {
            what: "card",
            path: path.into(),
            source,
        });
    }
    write_json(path, "card", &doc)
}

fn write_json<T: Serialize>(path: &str, what: &'static str, doc: &T) -> Result<(), Error> {
    let io = |source| Error::Output {
        what,
        path: path.to_string(),
        source,
    };
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    doc.serialize(&mut ser)
        .map_err(|e| io(std::io::Error::other(e)))?;
    create_parent(path).map_err(io)?;
    let text = String::from_utf8_lossy(&buf);
    std::fs::write(path, crate::secret::without_userinfo(&text).as_bytes()).map_err(io)
}

fn create_parent(path: &str) -> std::io::Result<()> {
    match Path::new(path).parent() {
        // 0755 (the anchor makes it 0644, which leaves a directory nobody can enter).
        Some(p) if !p.as_os_str().is_empty() => std::fs::create_dir_all(p),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_file_is_the_docker_v1_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/artifact.json");
        let images = vec![ArtifactImage {
            image: "r.example/app:1".into(),
            digest: "sha256:abc".into(),
        }];
        write_docker_artifact(path.to_str().unwrap(), "Docker", "r.example", &images).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\n\t\"kind\": \"docker/v1\",\n\t\"data\": {\n\t\t\"registryType\": \"Docker\",\n\t\t\"registryUrl\": \"r.example\",\n\t\t\"images\": [\n\t\t\t{\n\t\t\t\t\"image\": \"r.example/app:1\",\n\t\t\t\t\"digest\": \"sha256:abc\"\n\t\t\t}\n\t\t]\n\t}\n}"
        );
    }

    #[test]
    fn file_upload_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        let files = vec![FileArtifact {
            name: "a/b.txt".into(),
            url: "https://x/a/b.txt".into(),
        }];
        write_file_artifact(path.to_str().unwrap(), &files).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["kind"], "fileUpload/v1");
        assert_eq!(v["data"]["fileArtifacts"][0]["url"], "https://x/a/b.txt");
    }

    #[test]
    fn drone_output_is_quoted_dotenv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.env");
        let p = path.to_str().unwrap();
        write_drone_output(p, &[("digest", "sha256:1".into())]).unwrap();
        write_drone_output(p, &[("note", "a \"b\"\nc".into())]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "digest=\"sha256:1\"\nnote=\"a \\\"b\\\"\\nc\"\n");
        let parsed: Vec<(String, String)> = dotenvy::from_path_iter(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(parsed[1].1, "a \"b\"\nc");
    }
}
