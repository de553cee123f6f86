//! A Sonatype Nexus fixture (no real Nexus can be had offline): the REST shapes of reference
//! upload-plugins §7.3, implemented exactly and strictly.
//!
//! - Basic auth on every request (401 with Nexus's `WWW-Authenticate` otherwise).
//! - Nexus 3: `POST /service/rest/v1/components?repository=<repo>` with a multipart/form-data
//!   body, fields checked per format (maven2: `maven2.groupId`, `.artifactId`, `.version`,
//!   `.generate-pom`, `.packaging`, `maven2.assetN` + `.extension` + `.classifier`, N = 1..3;
//!   raw: `raw.directory`, `raw.assetN` + `.filename`); an unknown, missing or misplaced field is
//!   a 400 with a loud message; 422 without `repository`, 404 for an unknown one; 204 on success.
//!   And `PUT /repository/<repo>/<path>` (201), the maven2 layout enforced.
//! - Nexus 2 (another mode): only `PUT /content/repositories/<repo>/<path>`.
//! - Anything else is a 400 naming the request.
//!
//! It stores what it receives (bytes per repository path), records every request (fields, file
//! parts, status), and can be told to answer a fraction of requests with 503 (after reading the
//! body, as an overloaded proxy does). Each request is handled on its own thread, so uploads in
//! parallel really are. It listens on 127.0.0.1 and stops when dropped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tiny_http::{Header, Response, Server};

/// Which server the fixture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Nexus Repository 3: components API and `/repository/` paths.
    Nexus3,
    /// Nexus Repository 2: `/content/repositories/` paths only.
    Nexus2,
}

/// How the fixture is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Server kind.
    pub version: Version,
    /// The only login accepted.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Hosted repositories: name → format (`maven2`, `raw`).
    pub repositories: BTreeMap<String, String>,
    /// Percentage (0..=100) of requests answered 503.
    pub fail_percent: u64,
}

impl Options {
    /// Nexus 3 with `maven-releases` (maven2) and `raw-hosted` (raw), login `admin`/`admin123-pw`.
    pub fn nexus3() -> Options {
        Options {
            version: Version::Nexus3,
            user: "admin".into(),
            password: "admin123-pw".into(),
            repositories: [
                ("maven-releases".to_string(), "maven2".to_string()),
                ("raw-hosted".to_string(), "raw".to_string()),
            ]
            .into(),
            fail_percent: 0,
        }
    }

    /// The same repositories on a Nexus 2.
    pub fn nexus2() -> Options {
        Options {
            version: Version::Nexus2,
            ..Options::nexus3()
        }
    }
}

/// One file part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    /// Form field.
    pub field: String,
    /// `filename` of the part.
    pub filename: String,
    /// Bytes.
    pub len: usize,
}

/// One request the fixture received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, `PUT`, …
    pub method: String,
    /// Path and query.
    pub url: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// Text fields of a multipart body.
    pub fields: BTreeMap<String, String>,
    /// File parts of a multipart body, in order.
    pub files: Vec<FilePart>,
    /// Body length.
    pub body_len: usize,
    /// What the fixture answered.
    pub status: u16,
    /// Its message (for a refusal).
    pub message: String,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    stored: BTreeMap<String, Vec<u8>>,
}

/// A running Nexus fixture.
pub struct Fixture {
    server: Arc<Server>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    state: Arc<Mutex<State>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fixture {
    /// Starts a fixture on a free loopback port.
    pub fn start(opts: Options) -> Fixture {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("fixture listen"));
        let addr = server
            .server_addr()
            .to_ip()
            .expect("ip listener")
            .to_string();
        let base = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State::default()));
        let (srv, st) = (server.clone(), state.clone());
        let opts = Arc::new(opts);
        let counter = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn(move || {
            let mut workers = Vec::new();
            for req in srv.incoming_requests() {
                let (st, opts, counter) = (st.clone(), opts.clone(), counter.clone());
                workers.push(std::thread::spawn(move || serve(req, &opts, &st, &counter)));
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Fixture {
            server,
            base,
            addr,
            state,
            thread: Some(thread),
        }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The bytes stored at `<repo>/<path>`.
    pub fn stored(&self, repo: &str, path: &str) -> Option<Vec<u8>> {
        self.state
            .lock()
            .unwrap()
            .stored
            .get(&format!("{repo}/{path}"))
            .cloned()
    }

    /// Every stored `<repo>/<path>`.
    pub fn paths(&self) -> Vec<String> {
        self.state.lock().unwrap().stored.keys().cloned().collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("header")
}

fn serve(mut req: tiny_http::Request, opts: &Options, state: &Mutex<State>, counter: &AtomicU64) {
    let mut body = Vec::new();
    let read = req.as_reader().read_to_end(&mut body);
    let mut got = Received {
        method: req.method().as_str().to_string(),
        url: req.url().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        fields: BTreeMap::new(),
        files: Vec::new(),
        body_len: body.len(),
        status: 0,
        message: String::new(),
    };
    let n = counter.fetch_add(1, Ordering::Relaxed);
    // A fixed scatter of failures (never several in a row), so runs are reproducible.
    let fail = opts.fail_percent > 0 && (n * 37 + 11) % 100 < opts.fail_percent;
    let result = if let Err(e) = read {
        Err((400, format!("cannot read the body: {e}")))
    } else if fail {
        Err((503, "Service Unavailable (injected)".to_string()))
    } else {
        handle(opts, state, &mut got, body)
    };
    let (status, message) = match result {
        Ok(status) => (status, String::new()),
        Err((status, msg)) => {
            if status != 503 && status != 401 {
                eprintln!("nexus fixture: refusing {} {}: {msg}", got.method, got.url);
            }
            (status, msg)
        }
    };
    got.status = status;
    got.message = message.clone();
    state.lock().unwrap().received.push(got);
    let mut resp = Response::from_string(message).with_status_code(status);
    if status == 401 {
        resp = resp.with_header(header(
            "WWW-Authenticate",
            "BASIC realm=\"Sonatype Nexus Repository Manager\"",
        ));
    }
    let _ = req.respond(resp);
}

type Answer = Result<u16, (u16, String)>;

/// What a component upload stores: repository path → bytes.
type Stored = Vec<(String, Vec<u8>)>;

fn bad(msg: impl Into<String>) -> (u16, String) {
    (400, format!("longshore nexus fixture: {}", msg.into()))
}

fn handle(opts: &Options, state: &Mutex<State>, r: &mut Received, body: Vec<u8>) -> Answer {
    let auth = r.headers.get("authorization").cloned().unwrap_or_default();
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", opts.user, opts.password))
    );
    if auth != want {
        return Err((401, "Unauthorized".into()));
    }
    let (path, query) = r.url.split_once('?').unwrap_or((r.url.as_str(), ""));
    let path = path.to_string();
    let query = query.to_string();
    match (opts.version, r.method.as_str()) {
        (Version::Nexus3, "POST") if path == "/service/rest/v1/components" => {
            components(opts, state, r, &query, body)
        }
        (Version::Nexus3, "PUT") if path.starts_with("/repository/") => {
            put(opts, state, &path["/repository/".len()..], body)
        }
        (Version::Nexus2, "PUT") if path.starts_with("/content/repositories/") => {
            put(opts, state, &path["/content/repositories/".len()..], body)
        }
        _ => Err(bad(format!(
            "{} {} is not an endpoint of this {:?} fixture",
            r.method, r.url, opts.version
        ))),
    }
}

fn decode(s: &str) -> Result<String, (u16, String)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).map_err(|_| bad("bad escape"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad("bad escape"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("path is not UTF-8"))
}

fn repo_format<'a>(opts: &'a Options, repo: &str) -> Result<&'a str, (u16, String)> {
    opts.repositories
        .get(repo)
        .map(String::as_str)
        .ok_or_else(|| (404, format!("Repository not found: {repo}")))
}

/// `/<repo>/<path>` PUT: the path is checked against the repository's layout, then stored.
fn put(opts: &Options, state: &Mutex<State>, rest: &str, body: Vec<u8>) -> Answer {
    let rest = decode(rest)?;
    let (repo, path) = rest
        .split_once('/')
        .ok_or_else(|| bad("PUT needs /<repository>/<path>"))?;
    let format = repo_format(opts, repo)?;
    let segs: Vec<&str> = path.split('/').collect();
    if path.is_empty() || segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(bad(format!("'{path}' is not a clean repository path")));
    }
    if format == "maven2" {
        // Strict layout policy: <group…>/<artifactId>/<version>/<artifactId>-<version>….
        let ok = segs.len() >= 4 && {
            let (a, v, file) = (
                segs[segs.len() - 3],
                segs[segs.len() - 2],
                segs[segs.len() - 1],
            );
            file.starts_with(&format!("{a}-{v}")) && file.len() > a.len() + v.len() + 2
        };
        if !ok {
            return Err(bad(format!(
                "'{path}' is not a maven2 layout path (group/artifactId/version/artifactId-version…)"
            )));
        }
    }
    state
        .lock()
        .unwrap()
        .stored
        .insert(format!("{repo}/{path}"), body);
    Ok(201)
}

/// One part of a multipart body.
struct Part {
    name: String,
    filename: Option<String>,
    data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// RFC 7578 multipart/form-data, strictly.
fn multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, (u16, String)> {
    let boundary = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| {
            rest.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
        })
        .map(|b| b.trim_matches('"').to_string())
        .ok_or_else(|| {
            bad(format!(
                "Content-Type '{content_type}' is not multipart/form-data with a boundary"
            ))
        })?;
    let delim = format!("--{boundary}").into_bytes();
    let mut pos = find(body, &delim, 0).ok_or_else(|| bad("no first boundary"))? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(bad("boundary not followed by CRLF"));
        }
        pos += 2;
        let head_end = find(body, b"\r\n\r\n", pos).ok_or_else(|| bad("part without headers"))?;
        let head =
            std::str::from_utf8(&body[pos..head_end]).map_err(|_| bad("part headers not UTF-8"))?;
        let mut name = None;
        let mut filename = None;
        for line in head.split("\r\n") {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("bad part header '{line}'")))?;
            if k.eq_ignore_ascii_case("content-disposition") {
                for p in v.split(';').map(str::trim) {
                    if let Some(n) = p.strip_prefix("name=") {
                        name = Some(n.trim_matches('"').to_string());
                    } else if let Some(f) = p.strip_prefix("filename=") {
                        filename = Some(f.trim_matches('"').to_string());
                    }
                }
            }
        }
        let data_start = head_end + 4;
        let mut end_delim = b"\r\n".to_vec();
        end_delim.extend_from_slice(&delim);
        let data_end =
            find(body, &end_delim, data_start).ok_or_else(|| bad("part not terminated"))?;
        parts.push(Part {
            name: name.ok_or_else(|| bad("part without a name"))?,
            filename,
            data: body[data_start..data_end].to_vec(),
        });
        pos = data_end + end_delim.len();
    }
}

fn components(
    opts: &Options,
    state: &Mutex<State>,
    r: &mut Received,
    query: &str,
    body: Vec<u8>,
) -> Answer {
    let repo = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("repository="))
        .map(decode)
        .transpose()?
        .filter(|r| !r.is_empty())
        .ok_or_else(|| (422, "repository is required".to_string()))?;
    let format = repo_format(opts, &repo)?.to_string();
    let ct = r.headers.get("content-type").cloned().unwrap_or_default();
    let parts = multipart(&ct, &body)?;
    let mut files: BTreeMap<String, Part> = BTreeMap::new();
    for p in parts {
        if r.fields.contains_key(&p.name) || files.contains_key(&p.name) {
            return Err(bad(format!("field {} given twice", p.name)));
        }
        match &p.filename {
            Some(f) => {
                r.files.push(FilePart {
                    field: p.name.clone(),
                    filename: f.clone(),
                    len: p.data.len(),
                });
                files.insert(p.name.clone(), p);
            }
            None => {
                let text = String::from_utf8(p.data)
                    .map_err(|_| bad(format!("{} is not text", p.name)))?;
                r.fields.insert(p.name, text);
            }
        }
    }
    let stored = match format.as_str() {
        "maven2" => maven2(&r.fields, files)?,
        "raw" => raw(&r.fields, files)?,
        other => return Err(bad(format!("the fixture has no {other} uploads"))),
    };
    let mut st = state.lock().unwrap();
    for (path, data) in stored {
        st.stored.insert(format!("{repo}/{path}"), data);
    }
    Ok(204)
}

fn asset_index(name: &str, prefix: &str) -> Option<(usize, String)> {
    let rest = name.strip_prefix(prefix)?;
    let (n, tail) = match rest.split_once('.') {
        Some((n, t)) => (n, format!(".{t}")),
        None => (rest, String::new()),
    };
    let n: usize = n.parse().ok()?;
    (1..=3).contains(&n).then_some((n, tail))
}

fn maven2(
    fields: &BTreeMap<String, String>,
    files: BTreeMap<String, Part>,
) -> Result<Stored, (u16, String)> {
    let mut assets: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
    for k in fields.keys() {
        match k.as_str() {
            "maven2.groupId"
            | "maven2.artifactId"
            | "maven2.version"
            | "maven2.generate-pom"
            | "maven2.packaging" => {}
            other => match asset_index(other, "maven2.asset") {
                Some((n, t)) if t == ".extension" => {
                    assets.entry(n).or_default().0 = Some(fields[k].clone())
                }
                Some((n, t)) if t == ".classifier" => {
                    assets.entry(n).or_default().1 = Some(fields[k].clone())
                }
                _ => return Err(bad(format!("unknown maven2 field '{other}'"))),
            },
        }
    }
    for k in files.keys() {
        match asset_index(k, "maven2.asset") {
            Some((n, t)) if t.is_empty() => {
                if !assets.contains_key(&n) {
                    return Err(bad(format!("{k} has no {k}.extension")));
                }
            }
            _ => return Err(bad(format!("unknown maven2 file field '{k}'"))),
        }
    }
    if files.is_empty() {
        return Err(bad("no maven2.assetN file"));
    }
    for n in assets.keys() {
        if !files.contains_key(&format!("maven2.asset{n}")) {
            return Err(bad(format!(
                "maven2.asset{n}.* given without the file maven2.asset{n}"
            )));
        }
    }
    let generate = match fields.get("maven2.generate-pom").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(o) => return Err(bad(format!("maven2.generate-pom is '{o}', not true/false"))),
    };
    let has_pom = assets
        .values()
        .any(|(e, c)| e.as_deref() == Some("pom") && c.is_none());
    if generate && has_pom {
        return Err(bad("maven2.generate-pom with a pom asset"));
    }
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let (Some(g), Some(a), Some(v)) = (
        get("maven2.groupId"),
        get("maven2.artifactId"),
        get("maven2.version"),
    ) else {
        return Err(bad(
            "maven2.groupId, maven2.artifactId and maven2.version are required",
        ));
    };
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut files = files;
    for (n, (ext, classifier)) in &assets {
        let ext = ext
            .clone()
            .ok_or_else(|| bad(format!("maven2.asset{n}.extension is missing")))?;
        if !seen.insert((ext.clone(), classifier.clone())) {
            return Err(bad(format!(
                "two assets with extension {ext} and classifier {classifier:?}"
            )));
        }
        let c = classifier
            .as_deref()
            .map(|c| format!("-{c}"))
            .unwrap_or_default();
        let path = format!("{}/{a}/{v}/{a}-{v}{c}.{ext}", g.replace('.', "/"));
        let data = files
            .remove(&format!("maven2.asset{n}"))
            .map(|p| p.data)
            .unwrap_or_default();
        out.push((path, data));
    }
    if generate {
        let packaging = get("maven2.packaging").unwrap_or_else(|| "jar".into());
        let pom = format!(
            "<project><modelVersion>4.0.0</modelVersion><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version><packaging>{packaging}</packaging></project>"
        );
        out.push((
            format!("{}/{a}/{v}/{a}-{v}.pom", g.replace('.', "/")),
            pom.into_bytes(),
        ));
    }
    Ok(out)
}

fn raw(
    fields: &BTreeMap<String, String>,
    files: BTreeMap<String, Part>,
) -> Result<Stored, (u16, String)> {
    let mut names: BTreeMap<usize, String> = BTreeMap::new();
    for k in fields.keys() {
        match k.as_str() {
            "raw.directory" => {}
            other => match asset_index(other, "raw.asset") {
                Some((n, t)) if t == ".filename" => {
                    names.insert(n, fields[k].clone());
                }
                _ => return Err(bad(format!("unknown raw field '{other}'"))),
            },
        }
    }
    let dir = fields
        .get("raw.directory")
        .ok_or_else(|| bad("raw.directory is required"))?
        .trim_matches('/')
        .to_string();
    if files.is_empty() {
        return Err(bad("no raw.assetN file"));
    }
    let mut out = Vec::new();
    for (k, p) in files {
        match asset_index(&k, "raw.asset") {
            Some((n, t)) if t.is_empty() => {
                let name = names
                    .remove(&n)
                    .ok_or_else(|| bad(format!("{k} has no {k}.filename")))?;
                if name.is_empty() || name.contains('/') {
                    return Err(bad(format!("{k}.filename '{name}' is not a file name")));
                }
                let path = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                out.push((path, p.data));
            }
            _ => return Err(bad(format!("unknown raw file field '{k}'"))),
        }
    }
    if let Some((n, _)) = names.into_iter().next() {
        return Err(bad(format!(
            "raw.asset{n}.filename given without the file raw.asset{n}"
        )));
    }
    Ok(out)
}
