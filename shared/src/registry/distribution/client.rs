//! The registry side of a push: the auth challenge and its token, credentials kept to the
//! registry's own origin, blob checks and uploads, manifests, all under the one retry policy.

use super::*;

pub(super) struct Registry {
    http: reqwest::Client,
    /// `https://host[:port]` or `http://host[:port]`: the only origin credentials are sent to.
    base: String,
    /// Named insecure by the user: plain HTTP allowed.
    insecure: bool,
    path: String,
    basic: Option<(String, String)>,
    token: tokio::sync::Mutex<Option<String>>,
}

impl Registry {
    pub(super) async fn connect(
        host: &str,
        path: &str,
        auth: Option<&RegistryAuth>,
        insecure: bool,
    ) -> Result<Registry, DistributionError> {
        // The docker convention for a private CA (/etc/docker/certs.d/<host>/ca.crt), beside the
        // system roots and HARNESS_CA_PATH.
        let ca = crate::tls::certs_d_ca(host).map_err(DistributionError::Ca)?;
        let mut builder = crate::tls::reqwest_builder(&ca)
            .timeout(Duration::from_secs(600))
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("longshore/", env!("CARGO_PKG_VERSION")));
        if insecure {
            // Named insecure (PLUGIN_INSECURE_REGISTRIES, or PLUGIN_INSECURE for PLUGIN_REGISTRY):
            // TLS without verification, else plain HTTP, as dockerd does for such a registry.
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(DistributionError::Client)?;
        let basic = auth.map(|a| (a.username.clone(), a.password.expose().to_string()));
        let loopback = is_loopback(host).await;
        let mut reg = Registry {
            http,
            insecure,
            base: format!("https://{host}"),
            path: path.to_string(),
            basic,
            token: tokio::sync::Mutex::new(None),
        };
        let https_error = match reg.http.get(format!("{}/v2/", reg.base)).send().await {
            Ok(_) => return Ok(reg),
            Err(e) => e,
        };
        if insecure {
            debug!("https to {host} failed ({https_error}); using http");
            reg.base = format!("http://{host}");
            return Ok(reg);
        }
        // A loopback registry may speak plain HTTP without being named insecure (dockerd's
        // default for 127.0.0.0/8). Unlike dockerd, a loopback registry that speaks TLS is
        // verified: plain HTTP is used only when the port answers it as a registry does
        // (200 or 401 on /v2/), never to get around a certificate that failed.
        if loopback
            && reg
                .http
                .get(format!("http://{host}/v2/"))
                .send()
                .await
                .is_ok_and(|r| matches!(r.status().as_u16(), 200 | 401))
        {
            debug!("https to {host} failed ({https_error}); it answers plain http");
            reg.base = format!("http://{host}");
            return Ok(reg);
        }
        let message = match crate::error::untrusted_certificate(&https_error) {
            Some(why) => format!(
                "the TLS certificate of {host} is not trusted ({why}): put its CA in /etc/docker/certs.d/{host}/ca.crt, or skip verification by naming it in PLUGIN_INSECURE_REGISTRIES (or PLUGIN_REGISTRY={host} with PLUGIN_INSECURE=true)"
            ),
            None => format!(
                "cannot reach https://{host}: {} (for a plain-HTTP registry set PLUGIN_INSECURE=true)",
                crate::error::one_line(&https_error)
            ),
        };
        Err(DistributionError::Unreachable {
            message,
            source: https_error,
        })
    }

    /// Adds the credentials — the Bearer token once there is one, else Basic — but only to a
    /// request for the registry's own origin: an upload `Location` on another host gets none.
    pub(super) async fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let same_origin = req
            .try_clone()
            .and_then(|r| r.build().ok())
            .is_some_and(|r| same_origin(&self.base, r.url().as_str()));
        if !same_origin {
            return req;
        }
        if let Some(t) = self.token.lock().await.as_deref() {
            req.bearer_auth(t)
        } else if let Some((u, p)) = &self.basic {
            req.basic_auth(u, Some(p))
        } else {
            req
        }
    }

    /// Sends a request under the one retry policy, answering the registry's auth challenge
    /// once. Every request here is idempotent (HEAD, GET, PUT by digest, POST of a new upload
    /// session), so any transient failure is worth another try.
    pub(super) async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DistributionError> {
        let mut tries = crate::retry::policy().start();
        let mut challenged = false;
        loop {
            let req = self.authorize(make()).await;
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let why = crate::retry::transport_error(&e);
                    if crate::retry::transient_transport(&e)
                        && tries.pause("registry request", &why, None).await
                    {
                        continue;
                    }
                    return Err(DistributionError::Request(tries.exhausted(&why)));
                }
            };
            let status = resp.status();
            if status == 401 && !challenged {
                challenged = true;
                self.answer_challenge(&resp).await?;
                continue;
            }
            if crate::retry::transient_status(status.as_u16()) {
                let after = crate::retry::retry_after(resp.headers());
                let why = format!("the registry answered {status}");
                if tries.pause("registry request", &why, after).await {
                    continue;
                }
            }
            if status == 401 || status == 403 {
                return Err(DistributionError::Denied(status));
            }
            return Ok(resp);
        }
    }

    /// A 401's challenge: a Bearer one gets a token (used by the next attempt); Basic means the
    /// credentials we sent, or their absence, were refused.
    pub(super) async fn answer_challenge(
        &self,
        resp: &reqwest::Response,
    ) -> Result<(), DistributionError> {
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if challenge.to_ascii_lowercase().starts_with("bearer") {
            let token = self.fetch_token(&challenge).await?;
            *self.token.lock().await = Some(token);
            return Ok(());
        }
        Err(if self.basic.is_none() {
            DistributionError::NoCredentials
        } else {
            DistributionError::BadCredentials
        })
    }

    pub(super) async fn fetch_token(&self, challenge: &str) -> Result<String, DistributionError> {
        let params: HashMap<String, String> = challenge[6..]
            .split(',')
            .filter_map(|kv| kv.trim().split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_string(),
                )
            })
            .collect();
        let realm = params.get("realm").ok_or_else(|| {
            DistributionError::Challenge("the registry's Bearer challenge has no realm".into())
        })?;
        self.check_realm(realm).await?;
        let mut req = self
            .http
            .get(realm)
            .query(&[("scope", format!("repository:{}:pull,push", self.path))]);
        if let Some(service) = params.get("service") {
            req = req.query(&[("service", service)]);
        }
        if let Some((u, p)) = &self.basic {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req
            .send()
            .await
            .map_err(|source| DistributionError::Token {
                realm: realm.clone(),
                source,
            })?;
        if !resp.status().is_success() {
            return Err(DistributionError::TokenRefused(resp.status()));
        }
        let (body, cut) = crate::http_body::read_capped(resp, TOKEN_BODY_CAP)
            .await
            .map_err(DistributionError::TokenRead)?;
        if cut {
            return Err(DistributionError::TokenTooLarge);
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(DistributionError::TokenNotJson)?;
        let token = v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .ok_or(DistributionError::NoToken)?;
        crate::secret::register(token);
        Ok(token.to_string())
    }

    /// A token realm gets the Basic credentials, so it must be HTTPS, or plain HTTP only to a
    /// loopback address or to the registry's own host when that is named insecure.
    pub(super) async fn check_realm(&self, realm: &str) -> Result<(), DistributionError> {
        let url = reqwest::Url::parse(realm).map_err(|_| {
            DistributionError::Challenge("the registry's token realm is not a URL".into())
        })?;
        let host = url.host_str().unwrap_or("").to_string();
        let allowed = match url.scheme() {
            "https" => true,
            "http" => (self.insecure && same_host(&self.base, &url)) || is_loopback(&host).await,
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(DistributionError::Challenge(format!(
                "the registry names the token service {}://{host}, which would receive the credentials without TLS: refused",
                url.scheme()
            )))
        }
    }

    pub(super) async fn has_blob(&self, digest: &str) -> Result<bool, DistributionError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.path);
        let resp = self.send(|| self.http.head(&url)).await?;
        Ok(resp.status().is_success())
    }

    /// Opens an upload session; returns its URL.
    pub(super) async fn start_upload(&self) -> Result<String, DistributionError> {
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.path);
        let resp = self
            .send(|| self.http.post(&start).header("content-length", "0"))
            .await?;
        if resp.status() != 202 {
            return Err(refused("starting a blob upload", resp).await);
        }
        upload_location(&self.base, self.insecure, &resp)
    }

    /// Completes an upload session whose bytes are all sent.
    pub(super) async fn finish_upload(
        &self,
        location: &str,
        digest: &str,
    ) -> Result<(), DistributionError> {
        let url = with_digest(location, digest);
        let resp = self
            .send(|| self.http.put(&url).header("content-length", "0"))
            .await?;
        if resp.status() != 201 {
            return Err(refused(&format!("completing the upload of {digest}"), resp).await);
        }
        Ok(())
    }

    /// Cancels an upload session, best effort: the registry expires abandoned ones anyway.
    pub(super) async fn cancel_upload(&self, location: &str) {
        let req = self
            .authorize(self.http.delete(location))
            .await
            .timeout(Duration::from_secs(10));
        if let Err(e) = req.send().await {
            debug!("cancelling an upload session failed: {e}");
        }
    }

    /// Uploads a blob whose digest is known, in one PUT streamed from its file (or memory).
    pub(super) async fn put_blob(
        &self,
        blob: &Blob,
        tarball: &Path,
    ) -> Result<(), DistributionError> {
        let url = with_digest(&self.start_upload().await?, &blob.digest);
        let open = |p: &Path| {
            std::fs::File::open(p)
                .map(Arc::new)
                .map_err(|source| DistributionError::File {
                    action: "read",
                    path: p.to_path_buf(),
                    source,
                })
        };
        let file = match &blob.source {
            BlobSource::Bytes(_) => None,
            BlobSource::File(p) => Some((open(p)?, 0)),
            BlobSource::Range { offset, .. } => Some((open(tarball)?, *offset)),
        };
        let resp = self
            .send(|| {
                let body = match (&blob.source, &file) {
                    (BlobSource::Bytes(b), _) => reqwest::Body::from(b.clone()),
                    (_, Some((f, offset))) => reqwest::Body::wrap_stream(follow(
                        f.clone(),
                        *offset,
                        Progress::finished(blob.size),
                    )),
                    (_, None) => reqwest::Body::from(Vec::new()),
                };
                self.http
                    .put(&url)
                    .header("content-type", "application/octet-stream")
                    .header("content-length", blob.size)
                    .body(body)
            })
            .await?;
        if resp.status() != 201 {
            return Err(refused(&format!("uploading blob {}", blob.digest), resp).await);
        }
        Ok(())
    }

    /// Compresses a `docker save` layer into `spool` and uploads it while it is compressed.
    pub(super) async fn push_layer(
        &self,
        tarball: &Path,
        layer: &RawLayer,
        spool: &Path,
    ) -> Result<PushedLayer, DistributionError> {
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(spool)
            .map_err(|source| DistributionError::File {
                action: "write",
                path: spool.to_path_buf(),
                source,
            })?;
        let reader =
            std::fs::File::open(spool)
                .map(Arc::new)
                .map_err(|source| DistributionError::File {
                    action: "read",
                    path: spool.to_path_buf(),
                    source,
                })?;
        let (writer, progress) = Spool::new(writer);
        let (tarball, offset, len) = (tarball.to_path_buf(), layer.offset, layer.len);
        let compress =
            tokio::task::spawn_blocking(move || gzip_range(&tarball, offset, len, writer));

        let session = self.start_upload().await?;
        let body = reqwest::Body::wrap_stream(follow(reader, 0, progress));
        let patch = self
            .authorize(self.http.patch(&session))
            .await
            .header("content-type", "application/octet-stream")
            .body(body);
        let (base, insecure) = (self.base.clone(), self.insecure);
        let upload = tokio::spawn(async move {
            let resp = patch
                .send()
                .await
                // Without the URL: the session's long state token says nothing to a reader.
                .map_err(|e| DistributionError::Send(e.without_url()))?;
            if resp.status() != 202 {
                return Err(DistributionError::Answered(resp.status()));
            }
            upload_location(&base, insecure, &resp)
        });

        let (digest, size) = compress.await.map_err(|source| DistributionError::Task {
            what: "compressing a layer",
            source,
        })??;
        // Only now is the digest known. A registry that has the blob needs none of it: drop the
        // upload, which has sent only what went out while the layer was compressed.
        if self.has_blob(&digest).await? {
            upload.abort();
            self.cancel_upload(&session).await;
            return Ok(PushedLayer {
                digest,
                size,
                uploaded: false,
            });
        }
        let streamed = match upload.await {
            Ok(Ok(location)) => self.finish_upload(&location, &digest).await,
            Ok(Err(e)) => Err(e),
            Err(e) => Err(DistributionError::Join(e)),
        };
        if let Err(e) = streamed {
            // The compressed copy is complete: send it again, in one PUT with the usual retries.
            warn!("streaming layer {digest} failed ({e}); sending it again");
            self.cancel_upload(&session).await;
            let blob = Blob {
                digest: digest.clone(),
                size,
                source: BlobSource::File(spool.to_path_buf()),
            };
            self.put_blob(&blob, Path::new("")).await?;
        }
        Ok(PushedLayer {
            digest,
            size,
            uploaded: true,
        })
    }

    pub(super) async fn put_manifest(
        &self,
        tag: &str,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<String, DistributionError> {
        let url = format!("{}/v2/{}/manifests/{tag}", self.base, self.path);
        let resp = self
            .send(|| {
                self.http
                    .put(&url)
                    .header("content-type", media_type)
                    .body(manifest.to_vec())
            })
            .await?;
        if resp.status() != 201 {
            return Err(refused(&format!("pushing the manifest for {tag}"), resp).await);
        }
        let local = format!("sha256:{}", sha256_hex(manifest));
        match resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            Some(d) if d != local => Err(DistributionError::DigestMismatch {
                stored: d.to_string(),
                sent: local,
            }),
            _ => Ok(local),
        }
    }
}

/// A layer pushed by [`Registry::push_layer`].
pub(super) struct PushedLayer {
    pub(super) digest: String,
    pub(super) size: u64,
    /// False when the registry already had it.
    pub(super) uploaded: bool,
}

/// The absolute URL of an upload session from a response's `Location`. A location on another
/// origin is followed without credentials ([`Registry::authorize`]), but never from HTTPS down
/// to plain HTTP unless the registry was named insecure.
pub(super) fn upload_location(
    base: &str,
    insecure: bool,
    resp: &reqwest::Response,
) -> Result<String, DistributionError> {
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            DistributionError::Location("the registry gave no upload location".into())
        })?;
    if !location.starts_with("http") {
        return Ok(format!("{base}{location}"));
    }
    let url = reqwest::Url::parse(location).map_err(|_| {
        DistributionError::Location("the registry's upload location is not a URL".into())
    })?;
    if url.scheme() != "https" && base.starts_with("https://") && !insecure {
        return Err(DistributionError::Location(format!(
            "the registry moves the upload to plain-HTTP {}: refused",
            url.host_str().unwrap_or("")
        )));
    }
    Ok(location.to_string())
}

/// Whether `url` is on the registry's origin `base` (scheme, host and port).
pub(super) fn same_origin(base: &str, url: &str) -> bool {
    match (reqwest::Url::parse(base), reqwest::Url::parse(url)) {
        (Ok(b), Ok(u)) => b.origin() == u.origin(),
        _ => false,
    }
}

/// Whether `url` names the registry's host (any scheme or port).
pub(super) fn same_host(base: &str, url: &reqwest::Url) -> bool {
    reqwest::Url::parse(base).is_ok_and(|b| b.host_str() == url.host_str())
}

/// Whether `host` (with or without a port) is this machine: exactly `localhost`, a loopback
/// address, or a name every address of which is loopback. Never by string prefix:
/// `localhost-registry.example` or `127.example.com` are not.
pub(super) async fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    match tokio::net::lookup_host((bare, 0)).await {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// The most of an error answer's body read: enough for any registry's JSON error.
pub(super) const ERROR_BODY_CAP: usize = 4 * 1024;
/// The most of a token answer read: a JWT is a few KiB.
pub(super) const TOKEN_BODY_CAP: usize = 1024 * 1024;

/// "`what` failed: <status> <the start of the registry's error body>".
pub(super) async fn refused(what: &str, resp: reqwest::Response) -> DistributionError {
    let status = resp.status();
    let (body, _) = crate::http_body::read_capped(resp, ERROR_BODY_CAP)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    DistributionError::Refused {
        what: what.to_string(),
        status,
        message: crate::retry::server_message(&text),
    }
}

/// An upload session URL with the `digest` query that completes it.
pub(super) fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_is_decided_by_address_never_by_prefix() {
        for host in [
            "127.0.0.1:5000",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
            "127.9.9.9",
        ] {
            assert!(is_loopback(host).await, "{host}");
        }
        for host in [
            "localhost-registry.corp.example:5000",
            "127.example.invalid",
            "10.0.0.1:5000",
            "registry.example.invalid",
        ] {
            assert!(!is_loopback(host).await, "{host}");
        }
    }

    #[test]
    fn credentials_stay_on_the_registry_origin() {
        let base = "https://reg.example:5443";
        assert!(same_origin(
            base,
            "https://reg.example:5443/v2/a/blobs/uploads/1"
        ));
        assert!(!same_origin(base, "https://other.example:5443/v2/a"));
        assert!(!same_origin(base, "http://reg.example:5443/v2/a"));
        assert!(!same_origin(base, "https://reg.example:5444/v2/a"));
    }

    #[test]
    fn the_digest_query_is_appended_to_any_location() {
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u1", "sha256:ab"),
            "http://r/v2/a/blobs/uploads/u1?digest=sha256:ab"
        );
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u1?_state=x", "sha256:ab"),
            "http://r/v2/a/blobs/uploads/u1?_state=x&digest=sha256:ab"
        );
    }
}
