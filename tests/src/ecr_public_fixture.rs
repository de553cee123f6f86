//! A fixture of the Amazon ECR Public API (`ecr-public`, us-east-1 only) for the ECR Public flow
//! of `longshore-ecr`: moto answers 500 to this API, and the real one is out of reach here.
//!
//! It speaks the AWS JSON 1.1 protocol exactly as the service does: `POST /` with
//! `Content-Type: application/x-amz-json-1.1` and `X-Amz-Target: SpencerFrontendService.<Op>`,
//! signed with SigV4 — the signature is recomputed with the fixture's secret key, and the
//! credential scope must be `us-east-1` / `ecr-public`. It serves `GetAuthorizationToken`,
//! `CreateRepository`, `SetRepositoryPolicy` and `DescribeImages` on an in-memory registry of
//! the account `123456789012`, answers the service's documented JSON errors
//! (`UnrecognizedClientException` for an unknown access key, `InvalidSignatureException`,
//! `RepositoryAlreadyExistsException`, `RepositoryNotFoundException`, `ImageNotFoundException`)
//! and 400 with a loud `longshore fixture:` message to anything else. Every request is recorded
//! so a test asserts what arrived. Listens on 127.0.0.1; stops when dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use tiny_http::{Header, Response, Server};

/// The account of the fixture's registry.
pub const ACCOUNT: &str = "123456789012";
/// The password in the fixture's token; the TLS registry accepts it for the user `AWS`.
pub const TOKEN_PASSWORD: &str = "123456789012-auth-token";
/// The only region of the API.
pub const REGION: &str = "us-east-1";
/// The SigV4 signing name of the API.
pub const SERVICE: &str = "ecr-public";
/// The JSON protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The service's target prefix in `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "SpencerFrontendService.";

/// The SigV4 credential scope of a request: `<key>/<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The access key id.
    pub access_key: String,
    /// `YYYYMMDD`.
    pub date: String,
    /// The region the request was signed for.
    pub region: String,
    /// The service it was signed for.
    pub service: String,
}

/// One request the fixture received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The operation from `X-Amz-Target` (without the service prefix), or "" when absent.
    pub operation: String,
    /// The credential scope of the signature, when the `Authorization` header parsed.
    pub scope: Option<Scope>,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`Null` when it was not JSON).
    pub body: serde_json::Value,
    /// The status answered.
    pub status: u16,
    /// The error code answered (`__type`), "" on success.
    pub error: String,
}

/// The in-memory registry: repository name → tags.
#[derive(Debug, Default)]
struct State {
    repositories: BTreeMap<String, BTreeSet<String>>,
    policies: BTreeMap<String, String>,
}

/// A running ECR Public fixture.
pub struct EcrPublicFixture {
    server: Arc<Server>,
    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL_ECR_PUBLIC`.
    pub base: String,
    received: Arc<Mutex<Vec<Received>>>,
    state: Arc<Mutex<State>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// An error answer: status, `__type`, message.
type Failure = (u16, &'static str, String);

impl EcrPublicFixture {
    /// Starts a fixture that accepts requests signed with `access_key` / `secret_key`.
    pub fn start(access_key: &str, secret_key: &str) -> EcrPublicFixture {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("fixture listen"));
        let addr = server.server_addr().to_ip().expect("ip listener");
        let base = format!("http://{addr}");
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(Mutex::new(State::default()));
        let (srv, rec, st) = (server.clone(), received.clone(), state.clone());
        let (key, secret) = (access_key.to_string(), secret_key.to_string());
        let thread = std::thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let mut body = Vec::new();
                let _ = req.as_reader().read_to_end(&mut body);
                let mut headers: BTreeMap<String, String> = BTreeMap::new();
                for h in req.headers() {
                    let name = h.field.as_str().as_str().to_ascii_lowercase();
                    let value = h.value.as_str().to_string();
                    headers
                        .entry(name)
                        .and_modify(|v| {
                            v.push(',');
                            v.push_str(&value);
                        })
                        .or_insert(value);
                }
                let method = req.method().as_str().to_string();
                let path = req.url().to_string();
                let operation = headers
                    .get("x-amz-target")
                    .and_then(|t| t.strip_prefix(TARGET_PREFIX))
                    .unwrap_or_default()
                    .to_string();
                let mut got = Received {
                    operation,
                    scope: headers
                        .get("authorization")
                        .and_then(|a| parse_authorization(a))
                        .map(|(scope, _, _)| scope),
                    body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                    headers,
                    status: 200,
                    error: String::new(),
                };
                let answer = check(&method, &path, &got, &body, &key, &secret)
                    .and_then(|()| serve(&mut st.lock().unwrap(), &got));
                let json = match answer {
                    Ok(json) => json,
                    Err((status, code, message)) => {
                        if message.starts_with("longshore fixture") {
                            eprintln!(
                                "ecr-public fixture {addr}: refusing {method} {path} ({}): {message}",
                                got.operation
                            );
                        }
                        got.status = status;
                        got.error = code.to_string();
                        serde_json::json!({"__type": code, "message": message})
                    }
                };
                let status = got.status;
                rec.lock().unwrap().push(got);
                let resp = Response::from_string(json.to_string())
                    .with_status_code(status)
                    .with_header(header("Content-Type", CONTENT_TYPE))
                    .with_header(header(
                        "x-amzn-RequestId",
                        "00000000-0000-4000-8000-000000000000",
                    ));
                let _ = req.respond(resp);
            }
        });
        EcrPublicFixture {
            server,
            base,
            received,
            state,
            thread: Some(thread),
        }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The operations received so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.operation).collect()
    }

    /// Puts `tags` into `repo` (creating it), as a push would have.
    pub fn seed(&self, repo: &str, tags: &[&str]) {
        self.state
            .lock()
            .unwrap()
            .repositories
            .entry(repo.to_string())
            .or_default()
            .extend(tags.iter().map(|t| t.to_string()));
    }

    /// True when the repository exists.
    pub fn has_repository(&self, repo: &str) -> bool {
        self.state.lock().unwrap().repositories.contains_key(repo)
    }

    /// The repository policy set on `repo`.
    pub fn policy(&self, repo: &str) -> Option<String> {
        self.state.lock().unwrap().policies.get(repo).cloned()
    }
}

impl Drop for EcrPublicFixture {
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

fn loud(msg: impl Into<String>) -> Failure {
    (
        400,
        "BadRequest",
        format!("longshore fixture: {}", msg.into()),
    )
}

/// `AWS4-HMAC-SHA256 Credential=<scope>, SignedHeaders=<a;b>, Signature=<hex>`.
fn parse_authorization(value: &str) -> Option<(Scope, Vec<String>, String)> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return None,
        }
    }
    let c: Vec<&str> = credential?.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = c.as_slice() else {
        return None;
    };
    Some((
        Scope {
            access_key: access_key.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        },
        signed?.split(';').map(str::to_string).collect(),
        signature?.to_string(),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha256(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        .as_ref()
        .to_vec()
}

/// The protocol and SigV4 checks every request must pass.
fn check(
    method: &str,
    path: &str,
    r: &Received,
    body: &[u8],
    access_key: &str,
    secret_key: &str,
) -> Result<(), Failure> {
    let h = |k: &str| r.headers.get(k).map(String::as_str).unwrap_or("");
    if method != "POST" || path != "/" {
        return Err(loud(format!("{method} {path}: the API takes POST /")));
    }
    if h("content-type") != CONTENT_TYPE {
        return Err(loud(format!(
            "Content-Type is '{}', not {CONTENT_TYPE}",
            h("content-type")
        )));
    }
    if r.operation.is_empty() {
        return Err(loud(format!(
            "X-Amz-Target '{}' is not {TARGET_PREFIX}<Operation>",
            h("x-amz-target")
        )));
    }
    if !r.body.is_object() {
        return Err(loud("the body is not a JSON object"));
    }
    let Some((scope, signed, signature)) = parse_authorization(h("authorization")) else {
        return Err((
            400,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token (longshore fixture: no SigV4 Authorization header)"
                .into(),
        ));
    };
    if scope.region != REGION || scope.service != SERVICE {
        return Err(loud(format!(
            "signed for {}/{}, not {REGION}/{SERVICE}: the ECR Public API is only in {REGION}",
            scope.region, scope.service
        )));
    }
    if scope.access_key != access_key {
        return Err((
            400,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".into(),
        ));
    }
    let amz_date = h("x-amz-date");
    if !amz_date.starts_with(&scope.date) || amz_date.len() != 16 {
        return Err(loud(format!(
            "X-Amz-Date '{amz_date}' does not match the scope date {}",
            scope.date
        )));
    }
    for needed in ["host", "x-amz-date", "x-amz-target"] {
        if !signed.iter().any(|s| s == needed) {
            return Err(loud(format!("{needed} is not signed")));
        }
    }
    // SigV4: canonical request → string to sign → HMAC chain of the secret key.
    let mut canonical = String::from("POST\n/\n\n");
    for name in &signed {
        let value = r.headers.get(name).map(String::as_str).unwrap_or("");
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        canonical.push_str(&format!("{name}:{value}\n"));
    }
    canonical.push_str(&format!(
        "\n{}\n{}",
        signed.join(";"),
        hex(digest::digest(&digest::SHA256, body).as_ref())
    ));
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}/{REGION}/{SERVICE}/aws4_request\n{}",
        scope.date,
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = hmac_sha256(format!("AWS4{secret_key}").as_bytes(), &scope.date);
    for part in [REGION, SERVICE, "aws4_request"] {
        key = hmac_sha256(&key, part);
    }
    if hex(&hmac_sha256(&key, &to_sign)) != signature {
        return Err((
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.".into(),
        ));
    }
    Ok(())
}

/// Only `allowed` fields, and `registryId`, when given, must be the fixture's account.
fn fields(r: &Received, allowed: &[&str]) -> Result<(), Failure> {
    let obj = r.body.as_object().map(|o| o.keys()).into_iter().flatten();
    for k in obj {
        if !allowed.contains(&k.as_str()) {
            return Err(loud(format!("{}: unknown field {k}", r.operation)));
        }
    }
    match r.body.get("registryId") {
        None => Ok(()),
        Some(id) if id == ACCOUNT => Ok(()),
        Some(id) => Err(loud(format!(
            "registryId {id} is not the caller's registry {ACCOUNT}"
        ))),
    }
}

fn repository_name(r: &Received) -> Result<String, Failure> {
    let name = r
        .body
        .get("repositoryName")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let valid = !name.is_empty()
        && name.len() <= 205
        && name.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    if valid {
        Ok(name.to_string())
    } else {
        Err((
            400,
            "InvalidParameterException",
            format!(
                "longshore fixture: repositoryName '{name}' is missing or invalid (an alias prefix is not part of the name)"
            ),
        ))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn not_found(name: &str) -> Failure {
    (
        400,
        "RepositoryNotFoundException",
        format!(
            "The repository with name '{name}' does not exist in the registry with id '{ACCOUNT}'"
        ),
    )
}

fn serve(state: &mut State, r: &Received) -> Result<serde_json::Value, Failure> {
    match r.operation.as_str() {
        "GetAuthorizationToken" => {
            fields(r, &[])?;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("AWS:{TOKEN_PASSWORD}"));
            Ok(serde_json::json!({
                "authorizationData": {"authorizationToken": token, "expiresAt": now() + 12 * 3600}
            }))
        }
        "CreateRepository" => {
            fields(r, &["repositoryName", "catalogData", "tags"])?;
            let name = repository_name(r)?;
            if state.repositories.contains_key(&name) {
                return Err((
                    400,
                    "RepositoryAlreadyExistsException",
                    format!(
                        "The repository with name '{name}' already exists in the registry with id '{ACCOUNT}'"
                    ),
                ));
            }
            state.repositories.insert(name.clone(), BTreeSet::new());
            Ok(serde_json::json!({
                "repository": {
                    "repositoryArn": format!("arn:aws:ecr-public::{ACCOUNT}:repository/{name}"),
                    "registryId": ACCOUNT,
                    "repositoryName": name,
                    "repositoryUri": format!("public.ecr.aws/longshore/{name}"),
                    "createdAt": now(),
                }
            }))
        }
        "SetRepositoryPolicy" => {
            fields(r, &["registryId", "repositoryName", "policyText", "force"])?;
            let name = repository_name(r)?;
            let text = r
                .body
                .get("policyText")
                .and_then(|v| v.as_str())
                .filter(|t| serde_json::from_str::<serde_json::Value>(t).is_ok())
                .ok_or_else(|| loud("policyText is missing or not JSON"))?;
            if !state.repositories.contains_key(&name) {
                return Err(not_found(&name));
            }
            state.policies.insert(name.clone(), text.to_string());
            Ok(
                serde_json::json!({"registryId": ACCOUNT, "repositoryName": name, "policyText": text}),
            )
        }
        "DescribeImages" => {
            fields(
                r,
                &[
                    "registryId",
                    "repositoryName",
                    "imageIds",
                    "nextToken",
                    "maxResults",
                ],
            )?;
            let name = repository_name(r)?;
            let tags = state
                .repositories
                .get(&name)
                .ok_or_else(|| not_found(&name))?;
            let Some(ids) = r.body.get("imageIds").and_then(|v| v.as_array()) else {
                return Err(loud(
                    "DescribeImages without imageIds: the fixture serves only tag look-ups",
                ));
            };
            let mut details = Vec::new();
            for id in ids {
                let Some(tag) = id.get("imageTag").and_then(|t| t.as_str()) else {
                    return Err(loud(format!("imageIds entry {id} has no imageTag")));
                };
                if !tags.contains(tag) {
                    return Err((
                        400,
                        "ImageNotFoundException",
                        format!(
                            "The image with imageId {{imageTag:'{tag}'}} does not exist within the repository with name '{name}' in the registry with id '{ACCOUNT}'"
                        ),
                    ));
                }
                let digest = hex(digest::digest(&digest::SHA256, tag.as_bytes()).as_ref());
                details.push(serde_json::json!({
                    "registryId": ACCOUNT,
                    "repositoryName": name,
                    "imageDigest": format!("sha256:{digest}"),
                    "imageTags": [tag],
                    "imagePushedAt": now(),
                }));
            }
            Ok(serde_json::json!({"imageDetails": details}))
        }
        other => Err(loud(format!(
            "operation '{other}' is not served (GetAuthorizationToken, CreateRepository, SetRepositoryPolicy, DescribeImages)"
        ))),
    }
}
