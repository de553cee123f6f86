//! Fixtures of the Azure endpoints `longshore-acr` talks to, which cannot be had offline. Each
//! implements the documented request exactly and answers anything else with a loud 400/401:
//!
//! - Azure AD (HTTPS): `POST /<tenant>/oauth2/v2.0/token`, `client_credentials` with a client
//!   secret or a `jwt-bearer` client assertion, scope `https://management.azure.com/.default`;
//!   answers a fixed access token.
//! - The registry host (HTTPS): `POST /oauth2/exchange` (`grant_type=access_token`, `service`,
//!   `tenant`, `access_token`) answering `{"refresh_token":"longshore-fixture-acr-refresh-token"}`,
//!   and a reverse proxy of `/v2/…` to the TLS registry of the services, which accepts
//!   `00000000-0000-0000-0000-000000000000` / that refresh token. dockerd pushes through it
//!   (a loopback registry is insecure by default for dockerd).
//! - The App Service managed identity endpoint (plain HTTP, as App Service serves it):
//!   `GET ?api-version=2019-08-01&resource=https://management.azure.com` with `X-IDENTITY-HEADER`.
//!
//! Both HTTPS servers use the services' server certificate (signed by the test CA, SAN 127.0.0.1),
//! so the plugin trusts them through `SSL_CERT_FILE` — the standard variable its TLS stack reads.
//! Every request is recorded for the tests to assert on.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls;

/// The access token the Azure AD fixture issues (and the managed identity endpoint).
pub const AAD_ACCESS_TOKEN: &str = "longshore-fixture-aad-access-token";
/// The refresh token the exchange answers; the TLS registry accepts it.
pub const ACR_REFRESH_TOKEN: &str = "longshore-fixture-acr-refresh-token";
/// The scope every token request must ask for.
pub const SCOPE: &str = "https://management.azure.com/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the service principal must authenticate.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// `client_secret` must be this.
    Secret(String),
    /// `client_assertion` must be this (a federated OIDC token).
    Assertion(String),
    /// `client_assertion` must be an RS256 JWT signed by this certificate's key (Azure AD's
    /// certificate credential): header `x5t` = the certificate's SHA-1 thumbprint, `aud` = the
    /// token endpoint, `iss` = `sub` = the client id, valid now.
    Certificate {
        /// base64url SHA-1 of the certificate's DER.
        x5t: String,
        /// The RSA public key, PKCS#1 DER.
        rsa_public_key: Vec<u8>,
    },
}

/// What the fixtures accept.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The tenant in the token path and the exchange.
    pub tenant: String,
    /// The service principal's application id.
    pub client_id: String,
    /// Its credential.
    pub auth: ClientAuth,
    /// `X-IDENTITY-HEADER` the managed identity endpoint requires.
    pub identity_header: String,
}

/// One request a fixture received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `aad`, `acr` or `msi`.
    pub server: &'static str,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The form fields (or query fields for `msi`).
    pub form: BTreeMap<String, String>,
    /// The status answered.
    pub status: u16,
}

/// The running fixtures (stopped when dropped).
pub struct AzureFixture {
    /// `https://127.0.0.1:<port>`: the Azure AD authority host.
    pub authority: String,
    /// `127.0.0.1:<port>`: the registry host (`PLUGIN_REGISTRY`).
    pub registry: String,
    /// `http://127.0.0.1:<port>/msi/token`: `IDENTITY_ENDPOINT`.
    pub identity_endpoint: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// Per server (`aad`, `acr`, `msi`): the next `n` token requests are answered `status`.
    failing: Arc<Mutex<BTreeMap<&'static str, (u32, u16)>>>,
    _runtime: tokio::runtime::Runtime,
}

struct State {
    expect: Expect,
    aad_host: String,
    registry: String,
    upstream: String,
    client: reqwest::Client,
    received: Arc<Mutex<Vec<Received>>>,
    failing: Arc<Mutex<BTreeMap<&'static str, (u32, u16)>>>,
}

impl AzureFixture {
    /// Starts the three servers. `tls_dir` holds `server.crt` / `server.key` (the services' TLS
    /// directory); `upstream` is the TLS registry `host:port`; `ca` its CA certificate.
    pub fn start(expect: Expect, tls_dir: &Path, ca: &Path, upstream: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("fixture runtime");
        let acceptor = tls_acceptor(tls_dir);
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).expect("read CA")).expect("CA");
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("proxy client");
        let received = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(Mutex::new(BTreeMap::new()));
        let (aad, acr, msi) = runtime.block_on(async {
            let bind = || async {
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind")
            };
            (bind().await, bind().await, bind().await)
        });
        let addr = |l: &tokio::net::TcpListener| l.local_addr().expect("addr");
        let (aad_addr, acr_addr, msi_addr) = (addr(&aad), addr(&acr), addr(&msi));
        let state = Arc::new(State {
            expect,
            aad_host: aad_addr.to_string(),
            registry: acr_addr.to_string(),
            upstream: upstream.to_string(),
            client,
            received: received.clone(),
            failing: failing.clone(),
        });
        runtime.spawn(serve(aad, Some(acceptor.clone()), state.clone(), "aad"));
        runtime.spawn(serve(acr, Some(acceptor), state.clone(), "acr"));
        runtime.spawn(serve(msi, None, state, "msi"));
        AzureFixture {
            authority: format!("https://{aad_addr}"),
            registry: acr_addr.to_string(),
            identity_endpoint: format!("http://{msi_addr}/msi/token"),
            received,
            failing,
            _runtime: runtime,
        }
    }

    /// Answers the next `n` token requests of `server` (`aad`, `acr` for the exchange, `msi`)
    /// with `status` and an Azure-shaped error, whatever they carry; proxied registry calls are
    /// not counted. A 5xx / 429 is an outage the client should ride out, a 400 / 401 a refusal.
    pub fn fail_next(&self, server: &'static str, n: u32, status: u16) {
        self.failing
            .lock()
            .expect("lock")
            .insert(server, (n, status));
    }

    /// Everything received so far, proxied registry calls excluded.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// The requests one server received.
    pub fn received_by(&self, server: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.server == server)
            .collect()
    }
}

fn tls_acceptor(dir: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(dir.join("server.crt"))
        .expect("server.crt")
        .collect::<Result<Vec<_>, _>>()
        .expect("server.crt PEM");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server.key");
    // Explicit provider: several rustls providers are linked into the test program.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server cert");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<State>,
    server: &'static str,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, server, req).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
                None => {
                    let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                }
            }
        });
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: u16, body: impl Into<String>) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.into())))
        .expect("response")
}

/// A loud rejection: the status and a message saying what the fixture expected.
fn reject(status: u16, what: &str) -> Answer {
    eprintln!("azure fixture: REJECTED ({status}): {what}");
    answer(
        status,
        serde_json::json!({
            "error": "invalid_request",
            "error_description": format!("AZURE FIXTURE REJECTED THE REQUEST: {what}"),
            "error_codes": [90000],
            "errors": [{"code": "FIXTURE", "message": format!("AZURE FIXTURE REJECTED THE REQUEST: {what}")}],
        })
        .to_string(),
    )
}

async fn handle(state: &State, server: &'static str, req: Request<Incoming>) -> Answer {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    if server == "acr" && (req.uri().path().starts_with("/v2/") || req.uri().path() == "/v2") {
        return proxy(state, req).await;
    }
    let headers = req.headers().clone();
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let injected = {
        let mut failing = state.failing.lock().expect("lock");
        match failing.get_mut(server) {
            Some((n, status)) if *n > 0 => {
                *n -= 1;
                Some(*status)
            }
            _ => None,
        }
    };
    let (status, rsp) = match (injected, server) {
        (Some(status), _) => (status, reject(status, &format!("injected HTTP {status}"))),
        (None, "aad") => aad(state, &method, &path, &headers, &form),
        (None, "acr") => acr(state, &method, &path, &headers, &form),
        (None, _) => msi(state, &method, &path, &headers, &query),
    };
    let mut recorded = if server == "msi" { query } else { form };
    // Secrets stay out of test failure output: record only whether they were right.
    for k in ["client_secret", "client_assertion", "access_token"] {
        if let Some(v) = recorded.get_mut(k) {
            *v = format!("<{} bytes>", v.len());
        }
    }
    state.received.lock().expect("lock").push(Received {
        server,
        method,
        path,
        form: recorded,
        status,
    });
    rsp
}

fn is_form(headers: &hyper::HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn field<'a>(form: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    form.get(k).map(String::as_str).unwrap_or("")
}

fn aad(
    state: &State,
    method: &str,
    path: &str,
    headers: &hyper::HeaderMap,
    form: &BTreeMap<String, String>,
) -> (u16, Answer) {
    let e = &state.expect;
    let want_path = format!("/{}/oauth2/v2.0/token", e.tenant);
    let check = || -> Result<(), (u16, String)> {
        if method != "POST" || path != want_path {
            return Err((
                400,
                format!("expected POST {want_path}, got {method} {path}"),
            ));
        }
        if !is_form(headers) {
            return Err((
                400,
                "content-type must be application/x-www-form-urlencoded".into(),
            ));
        }
        if field(form, "grant_type") != "client_credentials" {
            return Err((
                400,
                format!(
                    "grant_type must be client_credentials, got '{}'",
                    field(form, "grant_type")
                ),
            ));
        }
        if field(form, "scope") != SCOPE {
            return Err((
                400,
                format!("scope must be {SCOPE}, got '{}'", field(form, "scope")),
            ));
        }
        if field(form, "client_id") != e.client_id {
            return Err((
                400,
                format!(
                    "AADSTS700016: unknown client_id '{}'",
                    field(form, "client_id")
                ),
            ));
        }
        match &e.auth {
            ClientAuth::Secret(secret) => {
                if form.contains_key("client_assertion") {
                    return Err((
                        400,
                        "a client secret was expected, not a client_assertion".into(),
                    ));
                }
                if field(form, "client_secret") != secret {
                    return Err((401, "AADSTS7000215: Invalid client secret provided.".into()));
                }
            }
            ClientAuth::Assertion(_) | ClientAuth::Certificate { .. } => {
                if form.contains_key("client_secret") {
                    return Err((
                        400,
                        "a client assertion was expected, not a client_secret".into(),
                    ));
                }
                if field(form, "client_assertion_type") != JWT_BEARER {
                    return Err((400, format!("client_assertion_type must be {JWT_BEARER}")));
                }
            }
        }
        match &e.auth {
            ClientAuth::Assertion(token) if field(form, "client_assertion") != token => {
                return Err((
                    401,
                    "AADSTS700024: Client assertion is not the expected token.".into(),
                ));
            }
            ClientAuth::Certificate {
                x5t,
                rsa_public_key,
            } => {
                let audience = format!("https://{}{want_path}", state.aad_host);
                check_certificate_assertion(
                    field(form, "client_assertion"),
                    x5t,
                    rsa_public_key,
                    &e.client_id,
                    &audience,
                )
                .map_err(|what| {
                    (
                        401,
                        format!("AADSTS700027: client assertion rejected: {what}"),
                    )
                })?;
            }
            _ => {}
        }
        Ok(())
    };
    match check() {
        Ok(()) => (
            200,
            answer(
                200,
                serde_json::json!({
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": AAD_ACCESS_TOKEN,
                })
                .to_string(),
            ),
        ),
        Err((status, what)) => (status, reject(status, &what)),
    }
}

/// Verifies a certificate client assertion as Azure AD does: signature, thumbprint, claims.
fn check_certificate_assertion(
    jwt: &str,
    x5t: &str,
    public_key: &[u8],
    client_id: &str,
    audience: &str,
) -> Result<(), String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts[..] else {
        return Err("not a JWT".into());
    };
    let json = |part: &str| -> Result<serde_json::Value, String> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| "bad base64url")?;
        serde_json::from_slice(&bytes).map_err(|_| "bad JSON".to_string())
    };
    let (header, claims) = (json(h)?, json(c)?);
    if header["alg"] != "RS256" || header["x5t"] != x5t {
        return Err(format!(
            "header {header} does not name RS256 and the certificate's x5t"
        ));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| "bad signature encoding")?;
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    )
    .verify(format!("{h}.{c}").as_bytes(), &sig)
    .map_err(|_| "the signature does not verify with the certificate's key")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let num = |k: &str| claims[k].as_i64().unwrap_or(0);
    if claims["aud"] != audience || claims["iss"] != client_id || claims["sub"] != client_id {
        return Err(format!(
            "claims {claims} do not name {audience} and {client_id}"
        ));
    }
    if num("nbf") > now + 60 || num("exp") < now || num("exp") > now + 3600 {
        return Err("the assertion is not valid now".into());
    }
    if claims["jti"].as_str().is_none_or(str::is_empty) {
        return Err("no jti".into());
    }
    Ok(())
}

fn acr(
    state: &State,
    method: &str,
    path: &str,
    headers: &hyper::HeaderMap,
    form: &BTreeMap<String, String>,
) -> (u16, Answer) {
    let check = || -> Result<(), (u16, String)> {
        if method != "POST" || path != "/oauth2/exchange" {
            return Err((
                400,
                format!("expected POST /oauth2/exchange, got {method} {path}"),
            ));
        }
        if !is_form(headers) {
            return Err((
                400,
                "content-type must be application/x-www-form-urlencoded".into(),
            ));
        }
        if field(form, "grant_type") != "access_token" {
            return Err((
                400,
                format!(
                    "grant_type must be access_token, got '{}'",
                    field(form, "grant_type")
                ),
            ));
        }
        if field(form, "service") != state.registry {
            return Err((
                400,
                format!(
                    "service must be {}, got '{}'",
                    state.registry,
                    field(form, "service")
                ),
            ));
        }
        if field(form, "tenant") != state.expect.tenant {
            return Err((
                400,
                format!(
                    "tenant must be {}, got '{}'",
                    state.expect.tenant,
                    field(form, "tenant")
                ),
            ));
        }
        if field(form, "access_token") != AAD_ACCESS_TOKEN {
            return Err((401, "access_token is not the token Azure AD issued".into()));
        }
        Ok(())
    };
    match check() {
        Ok(()) => (
            200,
            answer(
                200,
                serde_json::json!({"refresh_token": ACR_REFRESH_TOKEN}).to_string(),
            ),
        ),
        Err((status, what)) => (status, reject(status, &what)),
    }
}

fn msi(
    state: &State,
    method: &str,
    path: &str,
    headers: &hyper::HeaderMap,
    query: &BTreeMap<String, String>,
) -> (u16, Answer) {
    let check = || -> Result<(), (u16, String)> {
        if method != "GET" || !path.starts_with("/msi/token?") {
            return Err((
                400,
                format!("expected GET /msi/token?…, got {method} {path}"),
            ));
        }
        if field(query, "api-version") != "2019-08-01" {
            return Err((400, "api-version must be 2019-08-01".into()));
        }
        if field(query, "resource") != "https://management.azure.com" {
            return Err((
                400,
                format!(
                    "resource must be https://management.azure.com, got '{}'",
                    field(query, "resource")
                ),
            ));
        }
        let header = headers
            .get("x-identity-header")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if header != state.expect.identity_header {
            return Err((401, "X-IDENTITY-HEADER is missing or wrong".into()));
        }
        Ok(())
    };
    match check() {
        Ok(()) => {
            let expires = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() + 3600)
                .unwrap_or(0);
            (
                200,
                answer(
                    200,
                    serde_json::json!({
                        "access_token": AAD_ACCESS_TOKEN,
                        "expires_on": expires.to_string(),
                        "resource": "https://management.azure.com",
                        "token_type": "Bearer",
                    })
                    .to_string(),
                ),
            )
        }
        Err((status, what)) => (status, reject(status, &what)),
    }
}

/// Forwards a registry API call to the TLS registry, so the push really lands there.
async fn proxy(state: &State, req: Request<Incoming>) -> Answer {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut out = state.client.request(
        parts.method.clone(),
        format!("https://{}{path}", state.upstream),
    );
    for (k, v) in &parts.headers {
        if !hop_by_hop(k.as_str()) {
            out = out.header(k, v);
        }
    }
    // The registry builds absolute upload URLs from these: they must name this host.
    out = out
        .header("x-forwarded-host", &state.registry)
        .header("x-forwarded-proto", "https");
    let rsp = match out.body(body).send().await {
        Ok(r) => r,
        Err(e) => return reject(502, &format!("proxy to the registry failed: {e}")),
    };
    let mut b = Response::builder()
        .status(StatusCode::from_u16(rsp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY));
    let head = parts.method == hyper::Method::HEAD;
    for (k, v) in rsp.headers() {
        if hop_by_hop(k.as_str()) && !(head && k == "content-length") {
            continue;
        }
        if k == "location" {
            let fixed = v.to_str().unwrap_or("").replace(
                &format!("https://{}", state.upstream),
                &format!("https://{}", state.registry),
            );
            b = b.header(k, fixed);
        } else {
            b = b.header(k, v);
        }
    }
    let bytes = rsp.bytes().await.unwrap_or_default();
    b.body(Full::new(bytes)).expect("proxied response")
}

fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-authenticate"
            | "content-length"
    )
}
