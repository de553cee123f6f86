//! A fixture of the JFrog Artifactory REST API for the jfrog plugin's tests (no real
//! Artifactory can be had offline), implementing what the upload path uses exactly as
//! documented (reference upload-plugins §6.4):
//!
//! - auth on every request: Basic `user:password` (or `user:token`), `Authorization: Bearer`,
//!   `X-JFrog-Art-Api`; anything else is a 401;
//! - `PUT /artifactory/<repo>/<path>[;k=v…]` deploy: the body is stored, `X-Checksum-Sha1` /
//!   `-Sha256` / `-Md5` (and the generic `X-Checksum`, typed by length) are checked against it
//!   (409 "Checksum error" on a mismatch, as Artifactory answers), matrix parameters become the
//!   artifact's properties, the answer is the `ItemCreated` JSON; an unknown repository is a 404;
//! - deploy by checksum (`X-Checksum-Deploy: true`, no body): 201 and a server-side copy when
//!   the content is known by SHA-1 or SHA-256, 404 when not;
//! - `HEAD`/`GET` of an artifact with `Content-Length` and the `X-Checksum-*` headers;
//! - `PUT /artifactory/api/build`: the build-info JSON's shape is checked and stored.
//!
//! Everything else is a 400 with a loud message. Every request is recorded (method, URL,
//! headers, body length, status) so tests assert on what was sent. It can be told to fail a
//! fraction of requests with 500/502/503 (seeded) and to corrupt the next bodies it receives.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tiny_http::{Header, Method, Response, Server};

/// The fixture's user.
pub const USER: &str = "deployer";
/// Its password.
pub const PASSWORD: &str = "fixture-password-8d1f";
/// An access token (Bearer, or the password of `USER` in Basic auth).
pub const TOKEN: &str = "fixture-access-token-5c2e9a";
/// A legacy API key.
pub const API_KEY: &str = "fixture-api-key-77b3f1";

/// Bodies larger than this are checked and hashed but not kept (the 200 MiB test).
const KEEP_BYTES: usize = 64 * 1024 * 1024;

/// One stored artifact.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The content (empty when larger than 64 MiB; the checksums still hold).
    pub bytes: Vec<u8>,
    /// Size.
    pub size: u64,
    /// SHA-1, hex.
    pub sha1: String,
    /// SHA-256, hex.
    pub sha256: String,
    /// MD5, hex.
    pub md5: String,
    /// Properties from the matrix parameters, values in the order received.
    pub props: BTreeMap<String, Vec<String>>,
}

/// One request the fixture received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `PUT`, `HEAD`, …
    pub method: String,
    /// Path with matrix parameters and query, as sent.
    pub url: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// Bytes of body received.
    pub body_len: u64,
    /// The status answered.
    pub status: u16,
}

impl Recorded {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
    /// A checksum deploy.
    pub fn is_checksum_deploy(&self) -> bool {
        self.header("x-checksum-deploy") == "true"
    }
}

#[derive(Default)]
struct State {
    repos: BTreeSet<String>,
    artifacts: BTreeMap<String, Stored>,
    builds: Vec<serde_json::Value>,
    requests: Vec<Recorded>,
    /// Fraction of requests failed, and the RNG state.
    fail: f64,
    rng: u64,
    corrupt: u32,
}

/// A running fixture; it stops when dropped.
pub struct Artifactory {
    server: Arc<Server>,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    state: Arc<Mutex<State>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Artifactory {
    /// Starts a fixture with these repositories.
    pub fn start(repos: &[&str]) -> Artifactory {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("fixture listen"));
        let addr = server
            .server_addr()
            .to_ip()
            .expect("ip listener")
            .to_string();
        let state = Arc::new(Mutex::new(State {
            repos: repos.iter().map(|r| r.to_string()).collect(),
            rng: 0x9e37_79b9_7f4a_7c15,
            ..Default::default()
        }));
        let (srv, st) = (server.clone(), state.clone());
        let thread = std::thread::spawn(move || {
            for req in srv.incoming_requests() {
                handle(req, &st);
            }
        });
        Artifactory {
            server,
            addr,
            state,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>/artifactory/`.
    pub fn url(&self) -> String {
        format!("http://{}/artifactory/", self.addr)
    }

    /// Every artifact, by `repo/path`.
    pub fn artifacts(&self) -> BTreeMap<String, Stored> {
        self.state.lock().unwrap().artifacts.clone()
    }

    /// One artifact.
    pub fn artifact(&self, path: &str) -> Option<Stored> {
        self.state.lock().unwrap().artifacts.get(path).cloned()
    }

    /// Stores an artifact as if deployed earlier.
    pub fn preload(&self, path: &str, bytes: &[u8]) {
        let s = stored(bytes, BTreeMap::new());
        self.state
            .lock()
            .unwrap()
            .artifacts
            .insert(path.to_string(), s);
    }

    /// The build infos received.
    pub fn builds(&self) -> Vec<serde_json::Value> {
        self.state.lock().unwrap().builds.clone()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    /// Fails `fraction` of the next requests with 500/502/503 (seeded, reproducible).
    pub fn fail_fraction(&self, fraction: f64, seed: u64) {
        let mut s = self.state.lock().unwrap();
        s.fail = fraction;
        s.rng = seed | 1;
    }

    /// Flips a byte of the next `n` non-empty deploy bodies, as a network fault would.
    pub fn corrupt_next(&self, n: u32) {
        self.state.lock().unwrap().corrupt = n;
    }
}

impl Drop for Artifactory {
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

fn error_json(status: u16, msg: &str) -> String {
    serde_json::json!({"errors": [{"status": status, "message": msg}]}).to_string()
}

fn stored(bytes: &[u8], props: BTreeMap<String, Vec<String>>) -> Stored {
    use md5::Digest as _;
    let sha1 = {
        use sha1::Digest as _;
        hex::encode(sha1::Sha1::digest(bytes))
    };
    let sha256 = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(bytes))
    };
    Stored {
        bytes: if bytes.len() <= KEEP_BYTES {
            bytes.to_vec()
        } else {
            Vec::new()
        },
        size: bytes.len() as u64,
        sha1,
        sha256,
        md5: hex::encode(md5::Md5::digest(bytes)),
        props,
    }
}

/// `%XX` decoding (no `+` for space: we and jf escape spaces as `%20` in paths).
fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("bad escape in '{s}'"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape in '{s}'"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{s}' is not UTF-8"))
}

/// Splits `/artifactory/<repo>/<path>;k=v;k=v2` into the decoded path and the properties.
/// Matrix parameters may follow any segment (Artifactory accepts them anywhere).
fn parse_path(raw: &str) -> Result<(String, BTreeMap<String, Vec<String>>), String> {
    let mut segments = Vec::new();
    let mut props: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for seg in raw.split('/') {
        let mut parts = seg.split(';');
        let name = parts.next().unwrap_or("");
        segments.push(decode(name)?);
        for p in parts {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("matrix parameter '{p}' is not key=value"))?;
            let k = decode(k)?;
            for v in v.split(',') {
                props.entry(k.clone()).or_default().push(decode(v)?);
            }
        }
    }
    Ok((segments.join("/"), props))
}

struct Answer {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
}

fn answer(status: u16, body: String) -> Answer {
    Answer {
        status,
        body,
        headers: Vec::new(),
    }
}

fn authorized(h: &BTreeMap<String, String>) -> bool {
    if let Some(key) = h.get("x-jfrog-art-api") {
        return key == API_KEY;
    }
    let Some(auth) = h.get("authorization") else {
        return false;
    };
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return token == TOKEN;
    }
    if let Some(b64) = auth.strip_prefix("Basic ") {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return false;
        };
        let raw = String::from_utf8_lossy(&raw).into_owned();
        return match raw.split_once(':') {
            Some((u, p)) => u == USER && (p == PASSWORD || p == TOKEN),
            None => false,
        };
    }
    false
}

fn handle(mut req: tiny_http::Request, st: &Arc<Mutex<State>>) {
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let method = req.method().clone();
    let url = req.url().to_string();
    let mut body = Vec::new();
    let read = req.as_reader().read_to_end(&mut body);
    let ans = if let Err(e) = read {
        answer(
            400,
            error_json(400, &format!("fixture: body read failed: {e}")),
        )
    } else {
        let fail = {
            let mut s = st.lock().unwrap();
            // xorshift64*: reproducible faults for a given seed.
            s.rng ^= s.rng >> 12;
            s.rng ^= s.rng << 25;
            s.rng ^= s.rng >> 27;
            let r = (s.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
            (r < s.fail).then_some([500u16, 502, 503][(s.rng % 3) as usize])
        };
        if !authorized(&headers) {
            answer(401, error_json(401, "Bad credentials"))
        } else if let Some(code) = fail {
            answer(code, error_json(code, "fixture: injected fault"))
        } else {
            route(&method, &url, &headers, &mut body, st)
        }
    };
    if ans.status >= 400 && ans.status != 401 && ans.status != 404 && ans.status < 500 {
        eprintln!(
            "artifactory fixture: {} {url} → {}: {}",
            method.as_str(),
            ans.status,
            ans.body
        );
    }
    st.lock().unwrap().requests.push(Recorded {
        method: method.as_str().to_string(),
        url: url.clone(),
        headers,
        body_len: body.len() as u64,
        status: ans.status,
    });
    let mut resp = Response::from_string(ans.body)
        .with_status_code(ans.status)
        .with_header(header("Content-Type", "application/json"));
    for (k, v) in ans.headers {
        resp = resp.with_header(header(&k, &v));
    }
    let _ = req.respond(resp);
}

fn route(
    method: &Method,
    url: &str,
    h: &BTreeMap<String, String>,
    body: &mut [u8],
    st: &Arc<Mutex<State>>,
) -> Answer {
    let Some(rest) = url.strip_prefix("/artifactory/") else {
        return answer(
            400,
            error_json(400, &format!("fixture: {url} is not under /artifactory/")),
        );
    };
    let (path_part, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path_part == "api/build" {
        if *method != Method::Put {
            return answer(400, error_json(400, "fixture: only PUT /api/build"));
        }
        if !query.is_empty() && !query.starts_with("project=") {
            return answer(
                400,
                error_json(400, &format!("fixture: unknown query {query}")),
            );
        }
        return build_info(h, body, st);
    }
    if path_part.starts_with("api/") {
        return answer(
            400,
            error_json(400, &format!("fixture: {url} is not implemented")),
        );
    }
    if !query.is_empty() {
        return answer(
            400,
            error_json(400, &format!("fixture: unexpected query on {url}")),
        );
    }
    let (path, props) = match parse_path(path_part) {
        Ok(v) => v,
        Err(e) => return answer(400, error_json(400, &format!("fixture: {e}"))),
    };
    let repo = path.split('/').next().unwrap_or("").to_string();
    if path.ends_with('/')
        || !path.contains('/')
        || path.split('/').any(|s| s.is_empty() || s == "..")
    {
        return answer(
            400,
            error_json(400, &format!("fixture: '{path}' is not an artifact path")),
        );
    }
    match *method {
        Method::Put => deploy(&repo, &path, props, h, body, st),
        Method::Head | Method::Get => {
            if !props.is_empty() {
                return answer(400, error_json(400, "fixture: matrix parameters on a read"));
            }
            let s = st.lock().unwrap();
            match s.artifacts.get(&path) {
                None => answer(404, error_json(404, "Not Found")),
                Some(a) => Answer {
                    status: 200,
                    body: String::from_utf8_lossy(&a.bytes).into_owned(),
                    headers: vec![
                        ("X-Checksum-Sha1".into(), a.sha1.clone()),
                        ("X-Checksum-Sha256".into(), a.sha256.clone()),
                        ("X-Checksum-Md5".into(), a.md5.clone()),
                    ],
                },
            }
        }
        _ => answer(
            400,
            error_json(
                400,
                &format!("fixture: {} is not implemented", method.as_str()),
            ),
        ),
    }
}

fn item_created(path: &str, a: &Stored, base: &str) -> String {
    let (repo, rel) = path.split_once('/').unwrap_or((path, ""));
    serde_json::json!({
        "repo": repo,
        "path": format!("/{rel}"),
        "created": "2024-01-01T00:00:00.000Z",
        "createdBy": USER,
        "downloadUri": format!("{base}{path}"),
        "mimeType": "application/octet-stream",
        "size": a.size.to_string(),
        "checksums": {"sha1": a.sha1, "md5": a.md5, "sha256": a.sha256},
        "originalChecksums": {"sha1": a.sha1, "md5": a.md5, "sha256": a.sha256},
        "uri": format!("{base}api/storage/{path}"),
    })
    .to_string()
}

fn deploy(
    repo: &str,
    path: &str,
    props: BTreeMap<String, Vec<String>>,
    h: &BTreeMap<String, String>,
    body: &mut [u8],
    st: &Arc<Mutex<State>>,
) -> Answer {
    let base = format!(
        "http://{}/artifactory/",
        h.get("host").map(String::as_str).unwrap_or("")
    );
    let mut s = st.lock().unwrap();
    if !s.repos.contains(repo) {
        return answer(
            404,
            error_json(404, &format!("Repository {repo} not found")),
        );
    }
    let mut given: Vec<(&str, String)> = Vec::new();
    for (name, kind) in [
        ("x-checksum-sha1", "sha1"),
        ("x-checksum-sha256", "sha256"),
        ("x-checksum-md5", "md5"),
    ] {
        if let Some(v) = h.get(name) {
            given.push((kind, v.to_ascii_lowercase()));
        }
    }
    if let Some(v) = h.get("x-checksum") {
        let kind = match v.len() {
            32 => "md5",
            40 => "sha1",
            64 => "sha256",
            _ => {
                return answer(
                    400,
                    error_json(
                        400,
                        &format!("fixture: X-Checksum '{v}' has no known length"),
                    ),
                );
            }
        };
        given.push((kind, v.to_ascii_lowercase()));
    }
    if h.get("x-checksum-deploy").map(String::as_str) == Some("true") {
        if !body.is_empty() {
            return answer(
                400,
                error_json(400, "fixture: a checksum deploy has no body"),
            );
        }
        if !given.iter().any(|(k, _)| *k == "sha1" || *k == "sha256") {
            return answer(
                400,
                error_json(
                    400,
                    "Missing checksum header: X-Checksum-Sha1 or X-Checksum-Sha256",
                ),
            );
        }
        let found = s
            .artifacts
            .values()
            .find(|a| {
                given.iter().any(|(k, v)| match *k {
                    "sha1" => a.sha1 == *v,
                    "sha256" => a.sha256 == *v,
                    _ => false,
                })
            })
            .cloned();
        let Some(mut a) = found else {
            return answer(
                404,
                error_json(404, "Checksum deploy failed: no content with this checksum"),
            );
        };
        for (k, v) in &given {
            let have = match *k {
                "sha1" => &a.sha1,
                "sha256" => &a.sha256,
                _ => &a.md5,
            };
            if have != v {
                return answer(
                    409,
                    error_json(
                        409,
                        &format!(
                            "Checksum error for '{path}': received '{v}' but actual {k} is '{have}'"
                        ),
                    ),
                );
            }
        }
        a.props = props;
        let json = item_created(path, &a, &base);
        s.artifacts.insert(path.to_string(), a);
        return answer(201, json);
    }
    if s.corrupt > 0 && !body.is_empty() {
        s.corrupt -= 1;
        body[0] ^= 0xff;
    }
    let a = stored(body, props);
    for (k, v) in &given {
        let have = match *k {
            "sha1" => &a.sha1,
            "sha256" => &a.sha256,
            _ => &a.md5,
        };
        if have != v {
            return answer(
                409,
                error_json(
                    409,
                    &format!(
                        "Checksum error for '{path}': received '{v}' but actual {k} is '{have}'"
                    ),
                ),
            );
        }
    }
    let json = item_created(path, &a, &base);
    s.artifacts.insert(path.to_string(), a);
    answer(201, json)
}

fn build_info(h: &BTreeMap<String, String>, body: &[u8], st: &Arc<Mutex<State>>) -> Answer {
    let bad = |m: String| answer(400, error_json(400, &format!("fixture: build info: {m}")));
    if h.get("content-type").map(String::as_str)
        != Some("application/vnd.org.jfrog.artifactory+json")
    {
        return bad(format!("Content-Type is {:?}", h.get("content-type")));
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return bad("not JSON".into());
    };
    for k in ["name", "number", "started"] {
        if v[k].as_str().is_none_or(str::is_empty) {
            return bad(format!("'{k}' missing"));
        }
    }
    // 2006-01-02T15:04:05.000-0700
    let started = v["started"].as_str().unwrap_or("");
    let shape_ok = started.len() == 28
        && started.as_bytes()[10] == b'T'
        && started.as_bytes()[19] == b'.'
        && matches!(started.as_bytes()[23], b'+' | b'-');
    if !shape_ok {
        return bad(format!(
            "'started' is '{started}', not 2006-01-02T15:04:05.000-0700"
        ));
    }
    if v["agent"]["name"].as_str().is_none() || v["buildAgent"]["name"].as_str().is_none() {
        return bad("agent / buildAgent missing".into());
    }
    let Some(modules) = v["modules"].as_array() else {
        return bad("'modules' missing".into());
    };
    for m in modules {
        if m["id"].as_str().is_none() {
            return bad("module without id".into());
        }
        for a in m["artifacts"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            for k in ["name", "sha1", "md5"] {
                if a[k].as_str().is_none_or(str::is_empty) {
                    return bad(format!("artifact without '{k}': {a}"));
                }
            }
        }
    }
    st.lock().unwrap().builds.push(v);
    answer(204, String::new())
}
