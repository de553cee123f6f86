//! Fixture servers for the Google login flows of the gcr and gar plugins, which cannot reach
//! Google here: the OAuth2 token endpoint (JWT-bearer grant, assertion verified with the test
//! key's public half), the Security Token Service (RFC 8693 token exchange), IAM
//! `generateAccessToken`, the metadata server, and an auth-checking proxy in front of the plain
//! registry for the `_json_key` login (htpasswd cannot hold a whole JSON key: bcrypt reads only
//! 72 bytes, and the Debian registry accepted a password that differed after them).
//!
//! Each server implements the documented request exactly (method, path, headers, form / JSON
//! fields, auth), answers 400/401 with a loud message on anything else, and records what it
//! received so a test asserts it. The servers listen on 127.0.0.1 and stop when dropped.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tiny_http::{Header, Response, Server};

/// The access token every fixture issues; the TLS registry accepts it for `oauth2accesstoken`.
pub const ACCESS_TOKEN: &str = "ya29.longshore-fixture-access-token";
/// The federated token the STS fixture issues and the IAM fixture requires.
pub const FEDERATED_TOKEN: &str = "longshore-fixture-federated-sts-token";
/// The scope every request must ask for.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// One request a fixture received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, `GET`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
    /// The form fields of a form body.
    pub form: BTreeMap<String, String>,
    /// The status the fixture answered.
    pub status: u16,
}

/// What a fixture checks.
#[derive(Debug, Clone)]
pub enum Role {
    /// OAuth2 token endpoint at `/token`: JWT-bearer grant, RS256 assertion signed by the key
    /// whose public half is `public_pem`, `iss` = `email`, `aud` = this endpoint's URL.
    OAuth {
        /// SPKI PEM.
        public_pem: String,
        /// The service account.
        email: String,
    },
    /// STS `POST /v1/token`.
    Sts {
        /// The OIDC token that must arrive as `subject_token`.
        subject_token: String,
        /// The expected `audience`.
        audience: String,
    },
    /// IAM `POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken`.
    Iam {
        /// The service account in the path.
        email: String,
    },
    /// Metadata server `GET /computeMetadata/v1/instance/service-accounts/default/token`.
    Metadata,
}

/// A running fixture server.
pub struct Fixture {
    server: Arc<Server>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// `(n, status)`: the next `n` requests are answered `status` (see [`Fixture::fail_next`]).
    failing: Arc<Mutex<(u32, u16)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fixture {
    /// Starts a fixture in `role` on a free loopback port.
    pub fn start(role: Role) -> Fixture {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("fixture listen"));
        let addr = server
            .server_addr()
            .to_ip()
            .expect("ip listener")
            .to_string();
        let base = format!("http://{addr}");
        let received = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(Mutex::new((0u32, 0u16)));
        let (srv, rec, b, fail) = (
            server.clone(),
            received.clone(),
            base.clone(),
            failing.clone(),
        );
        let thread = std::thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let mut got = Received {
                    method: req.method().as_str().to_string(),
                    path: req.url().to_string(),
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
                    form: parse_form(&body),
                    body,
                    status: 0,
                };
                let injected = {
                    let mut f = fail.lock().unwrap();
                    (f.0 > 0).then(|| {
                        f.0 -= 1;
                        f.1
                    })
                };
                let (status, answer) = match injected {
                    Some(status) => (status, injected_error(status)),
                    None => match handle(&role, &b, &got) {
                        Ok(json) => (200, json),
                        Err((status, msg)) => {
                            eprintln!(
                                "google fixture {b}: refusing {} {}: {msg}",
                                got.method, got.path
                            );
                            (
                                status,
                                serde_json::json!({"error": "invalid_request", "error_description": format!("longshore fixture: {msg}")}),
                            )
                        }
                    },
                };
                got.status = status;
                rec.lock().unwrap().push(got);
                let mut resp = Response::from_string(answer.to_string())
                    .with_status_code(status)
                    .with_header(header("Content-Type", "application/json"));
                if matches!(role, Role::Metadata) {
                    resp = resp.with_header(header("Metadata-Flavor", "Google"));
                }
                let _ = req.respond(resp);
            }
        });
        Fixture {
            server,
            base,
            addr,
            received,
            failing,
            thread: Some(thread),
        }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Answers the next `n` requests with `status` (whatever they carry), as Google's endpoints
    /// do: a 5xx / 429 is a transient outage, a 400 `invalid_grant` / 401 a refusal. They are
    /// recorded with that status.
    pub fn fail_next(&self, n: u32, status: u16) {
        *self.failing.lock().unwrap() = (n, status);
    }
}

/// The error body Google's token endpoints send for `status`.
fn injected_error(status: u16) -> serde_json::Value {
    match status {
        400 => {
            serde_json::json!({"error": "invalid_grant", "error_description": "longshore fixture: injected invalid_grant"})
        }
        401 => {
            serde_json::json!({"error": "unauthorized_client", "error_description": "longshore fixture: injected 401"})
        }
        429 => {
            serde_json::json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "longshore fixture: injected rate limit"}})
        }
        _ => {
            serde_json::json!({"error": {"code": status, "status": "UNAVAILABLE", "message": format!("longshore fixture: injected {status}")}})
        }
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

/// `application/x-www-form-urlencoded` fields (empty for other bodies).
fn parse_form(body: &str) -> BTreeMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

type Answer = Result<serde_json::Value, (u16, String)>;

fn expect(cond: bool, status: u16, msg: impl FnOnce() -> String) -> Result<(), (u16, String)> {
    if cond { Ok(()) } else { Err((status, msg())) }
}

fn handle(role: &Role, base: &str, r: &Received) -> Answer {
    let h = |k: &str| r.headers.get(k).map(String::as_str).unwrap_or("");
    let form_field = |k: &str| r.form.get(k).map(String::as_str).unwrap_or("");
    let is_form = h("content-type").starts_with("application/x-www-form-urlencoded");
    match role {
        Role::OAuth { public_pem, email } => {
            expect(r.method == "POST" && r.path == "/token", 400, || {
                "expected POST /token".into()
            })?;
            expect(is_form, 400, || "expected a form body".into())?;
            expect(
                form_field("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer",
                400,
                || format!("grant_type is '{}'", form_field("grant_type")),
            )?;
            expect(r.form.len() == 2, 400, || {
                format!("unexpected form fields {:?}", r.form.keys())
            })?;
            let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes())
                .map_err(|e| (500, format!("fixture public key: {e}")))?;
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            let aud = format!("{base}/token");
            v.set_audience(&[aud.as_str()]);
            v.set_issuer(&[email.as_str()]);
            v.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
            v.leeway = 0;
            let data = jsonwebtoken::decode::<serde_json::Value>(form_field("assertion"), &key, &v)
                .map_err(|e| (400, format!("invalid_grant: Invalid JWT: {e}")))?;
            let c = &data.claims;
            expect(c["scope"] == CLOUD_PLATFORM, 400, || {
                format!("scope is {}", c["scope"])
            })?;
            let now = now();
            let (iat, exp) = (
                c["iat"].as_u64().unwrap_or(0),
                c["exp"].as_u64().unwrap_or(0),
            );
            expect(
                iat <= now + 60 && exp > now && exp - iat <= 3600,
                400,
                || format!("iat {iat} / exp {exp} out of range (now {now})"),
            )?;
            Ok(
                serde_json::json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
            )
        }
        Role::Sts {
            subject_token,
            audience,
        } => {
            expect(r.method == "POST" && r.path == "/v1/token", 400, || {
                "expected POST /v1/token".into()
            })?;
            expect(is_form, 400, || "expected a form body".into())?;
            expect(h("authorization").is_empty(), 400, || {
                "the token exchange carries no Authorization".into()
            })?;
            let want = [
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("scope", CLOUD_PLATFORM),
                ("audience", audience.as_str()),
            ];
            for (k, v) in want {
                expect(form_field(k) == v, 400, || {
                    format!("{k} is '{}', expected '{v}'", form_field(k))
                })?;
            }
            expect(form_field("subject_token") == subject_token, 401, || {
                "invalid_grant: the subject token is not the one issued".into()
            })?;
            expect(r.form.len() == 6, 400, || {
                format!("unexpected form fields {:?}", r.form.keys())
            })?;
            Ok(serde_json::json!({
                "access_token": FEDERATED_TOKEN,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": 3600
            }))
        }
        Role::Iam { email } => {
            let path = format!("/v1/projects/-/serviceAccounts/{email}:generateAccessToken");
            expect(r.method == "POST" && r.path == path, 400, || {
                format!("expected POST {path}")
            })?;
            expect(
                h("authorization") == format!("Bearer {FEDERATED_TOKEN}"),
                401,
                || "expected the federated token as Bearer".into(),
            )?;
            expect(
                h("content-type").starts_with("application/json"),
                400,
                || "expected a JSON body".into(),
            )?;
            let body: serde_json::Value =
                serde_json::from_str(&r.body).map_err(|e| (400, format!("body: {e}")))?;
            expect(
                body == serde_json::json!({"scope": [CLOUD_PLATFORM]}),
                400,
                || format!("body is {body}"),
            )?;
            Ok(
                serde_json::json!({"accessToken": ACCESS_TOKEN, "expireTime": "2099-01-01T00:00:00Z"}),
            )
        }
        Role::Metadata => {
            let path = "/computeMetadata/v1/instance/service-accounts/default/token";
            expect(r.method == "GET" && r.path == path, 400, || {
                format!("expected GET {path}")
            })?;
            expect(h("metadata-flavor") == "Google", 403, || {
                "Missing Metadata-Flavor:Google header".into()
            })?;
            expect(h("x-forwarded-for").is_empty(), 403, || {
                "the metadata server refuses proxied requests".into()
            })?;
            Ok(
                serde_json::json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
            )
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An RSA key made for one test (PKCS#8 private PEM, SPKI public PEM).
pub struct TestKey {
    /// `-----BEGIN PRIVATE KEY-----`.
    pub private_pem: String,
    /// `-----BEGIN PUBLIC KEY-----`.
    pub public_pem: String,
}

/// Generates a 2048-bit RSA key with openssl (no key is ever committed).
pub fn test_key() -> TestKey {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl genpkey");
    assert!(out.status.success(), "openssl genpkey failed");
    let private_pem = String::from_utf8(out.stdout).unwrap();
    let mut child = Command::new("openssl")
        .args(["pkey", "-pubout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl pkey");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(private_pem.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl pkey failed");
    TestKey {
        private_pem,
        public_pem: String::from_utf8(out.stdout).unwrap(),
    }
}

/// A service-account key file as Google issues it (pretty-printed JSON).
pub fn service_account_json(key: &TestKey, email: &str, token_uri: &str) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "type": "service_account",
        "project_id": "longshore-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": key.private_pem,
        "client_email": email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }))
    .unwrap()
}

/// An auth-checking reverse proxy in front of a plain registry: every request must carry
/// exactly `Authorization: Basic base64(user:password)` (else 401 with a Basic challenge, as a
/// registry answers); accepted requests are forwarded unchanged but for that header, and
/// `Location` headers are rewritten to point back at the proxy.
pub struct AuthProxy {
    server: Arc<Server>,
    /// `127.0.0.1:<port>`: push to `<addr>/<repo>` (loopback registries are insecure by default
    /// for dockerd, so plain HTTP is used).
    pub addr: String,
    accepted: Arc<Mutex<usize>>,
    refused: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AuthProxy {
    /// Starts the proxy for `upstream` (`host:port`).
    pub fn start(upstream: &str, user: &str, password: &str) -> AuthProxy {
        use base64::Engine as _;
        let server = Arc::new(Server::http("127.0.0.1:0").expect("proxy listen"));
        let addr = server
            .server_addr()
            .to_ip()
            .expect("ip listener")
            .to_string();
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let accepted = Arc::new(Mutex::new(0));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let (srv, acc, rej, up, me) = (
            server.clone(),
            accepted.clone(),
            refused.clone(),
            upstream.to_string(),
            addr.clone(),
        );
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .unwrap();
        let thread = std::thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let auth = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                    .map(|h| h.value.as_str().to_string())
                    .unwrap_or_default();
                if auth != want {
                    rej.lock().unwrap().push(format!(
                        "{} {} ({})",
                        req.method().as_str(),
                        req.url(),
                        if auth.is_empty() {
                            "no Authorization"
                        } else {
                            "wrong Authorization"
                        }
                    ));
                    let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"longshore fixture: _json_key login required"}]}"#;
                    let _ = req.respond(
                        Response::from_string(body)
                            .with_status_code(401)
                            .with_header(header("Content-Type", "application/json"))
                            .with_header(header(
                                "WWW-Authenticate",
                                "Basic realm=\"longshore-fixture\"",
                            )),
                    );
                    continue;
                }
                *acc.lock().unwrap() += 1;
                let mut body = Vec::new();
                let _ = req.as_reader().read_to_end(&mut body);
                let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
                let is_head = method == reqwest::Method::HEAD;
                let mut fwd = client.request(method, format!("http://{up}{}", req.url()));
                for h in req.headers() {
                    let name = h.field.as_str().as_str();
                    if [
                        "host",
                        "authorization",
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "expect",
                    ]
                    .contains(&name.to_ascii_lowercase().as_str())
                    {
                        continue;
                    }
                    fwd = fwd.header(name, h.value.as_str());
                }
                let resp = match fwd.body(body).send() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = req.respond(
                            Response::from_string(format!("proxy: {e}")).with_status_code(502),
                        );
                        continue;
                    }
                };
                let status = resp.status().as_u16();
                let mut headers = Vec::new();
                let mut length = 0usize;
                for (k, v) in resp.headers() {
                    let v = v.to_str().unwrap_or("").to_string();
                    match k.as_str() {
                        "content-length" => length = v.parse().unwrap_or(0),
                        "transfer-encoding" | "connection" => {}
                        "location" => headers.push(header(
                            "Location",
                            &v.replace(&format!("//{up}/"), &format!("//{me}/")),
                        )),
                        _ => headers.push(header(k.as_str(), &v)),
                    }
                }
                let data = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
                if !is_head {
                    length = data.len();
                }
                let response = Response::new(
                    tiny_http::StatusCode(status),
                    headers,
                    std::io::Cursor::new(data),
                    Some(length),
                    None,
                )
                .with_chunked_threshold(usize::MAX);
                let _ = req.respond(response);
            }
        });
        AuthProxy {
            server,
            addr,
            accepted,
            refused,
            thread: Some(thread),
        }
    }

    /// Requests forwarded with the right login.
    pub fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }

    /// Requests refused (method, path, why).
    pub fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }
}

impl Drop for AuthProxy {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A loopback address where nothing listens (bound, then released).
pub fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap().to_string();
    drop(l);
    a
}
