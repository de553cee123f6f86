//! Registry credentials: which ones a run has (push login, access token, `config.json`,
//! base-image login), and how they reach the daemon — only through the Engine API's
//! `X-Registry-Auth` / `X-Registry-Config` headers, never a command line or a file left behind.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bollard::auth::DockerCredentials;

use super::reference::{auth_key, registry_host};
use crate::secret::{self, Secret};

/// One registry login.
#[derive(Debug, Clone)]
pub struct RegistryAuth {
    /// Key the daemon looks credentials up by (`https://index.docker.io/v1/` or `host:port`).
    pub server: String,
    /// User name (`oauth2accesstoken` for an access token).
    pub username: String,
    /// Password or token.
    pub password: Secret,
    /// An identity token from `config.json`, used instead of user/password.
    pub identity_token: Option<Secret>,
}

impl RegistryAuth {
    /// A user/password login for the registry named by `registry` (URL or host).
    pub fn basic(registry: &str, username: &str, password: Secret) -> Self {
        // The header carries `user:password` base64-encoded; mask that form as well.
        secret::register(&format!("{username}:{}", password.expose()));
        RegistryAuth {
            server: auth_key(&registry_host(registry)),
            username: username.to_string(),
            password,
            identity_token: None,
        }
    }

    /// What bollard sends.
    pub fn to_docker(&self) -> DockerCredentials {
        DockerCredentials {
            username: (!self.username.is_empty()).then(|| self.username.clone()),
            password: (!self.password.is_empty()).then(|| self.password.expose().to_string()),
            serveraddress: Some(self.server.clone()),
            identitytoken: self.identity_token.as_ref().map(|t| t.expose().to_string()),
            ..Default::default()
        }
    }
}

/// Every login of a run.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Used for the push.
    pub push: Option<RegistryAuth>,
    /// Where the push login came from, for the log (never the value).
    pub push_source: &'static str,
    /// Logins the build may need to pull base and cache images.
    pub pull: Vec<RegistryAuth>,
}

impl Credentials {
    /// The `X-Registry-Config` map for a build: every pull login, plus the push login (a
    /// multi-stage build may pull from the push registry).
    pub fn build_map(&self) -> HashMap<String, DockerCredentials> {
        let mut map = HashMap::new();
        for a in self.pull.iter().chain(self.push.iter()) {
            map.insert(a.server.clone(), a.to_docker());
        }
        map
    }

    /// The login for pulling from `host`, if any.
    pub fn for_host(&self, host: &str) -> Option<&RegistryAuth> {
        let key = auth_key(host);
        self.pull
            .iter()
            .chain(self.push.iter())
            .find(|a| a.server == key)
    }
}

/// Reads the `auths` of a docker `config.json` (`auth` = base64 `user:password`, or
/// `username`/`password`, or `identitytoken`). Credential helpers cannot run here and are
/// reported as an error rather than ignored.
pub fn parse_config_json(text: &str) -> Result<Vec<RegistryAuth>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    if doc.get("credsStore").is_some() || doc.get("credHelpers").is_some() {
        return Err("credential helpers (credsStore, credHelpers) are not supported: put the logins in auths".into());
    }
    let Some(auths) = doc.get("auths").and_then(|a| a.as_object()) else {
        return Err("has no \"auths\" object".into());
    };
    let mut out = Vec::new();
    for (server, entry) in auths {
        let field = |k: &str| entry.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let (mut user, mut pass) = (field("username").to_string(), field("password").to_string());
        if !field("auth").is_empty() {
            let decoded = STANDARD
                .decode(field("auth").trim())
                .map_err(|_| format!("auths.{server}.auth is not base64"))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| format!("auths.{server}.auth is not UTF-8"))?;
            let (u, p) = decoded
                .split_once(':')
                .ok_or_else(|| format!("auths.{server}.auth is not user:password"))?;
            user = u.to_string();
            pass = p.to_string();
        }
        let token = field("identitytoken");
        if pass.is_empty() && token.is_empty() {
            continue;
        }
        let mut auth = RegistryAuth::basic(server, &user, Secret::new(pass));
        if !token.is_empty() {
            auth.identity_token = Some(Secret::new(token));
        }
        out.push(auth);
    }
    Ok(out)
}

/// Rewrites bollard's standard-base64 `X-Registry-Auth` / `X-Registry-Config` headers to the
/// URL-safe alphabet the daemon decodes. With the standard alphabet a password whose encoding
/// holds `+` or `/` silently becomes "no credentials" (bollard-facts §3; upstream PR #169).
pub fn fix_registry_headers(mut req: bollard::BollardRequest) -> bollard::BollardRequest {
    for name in ["X-Registry-Auth", "X-Registry-Config"] {
        let fixed = req
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.contains(['+', '/']))
            .map(|v| v.replace('+', "-").replace('/', "_"));
        if let Some(fixed) = fixed
            && let Ok(value) = http::HeaderValue::from_str(&fixed)
        {
            req.headers_mut().insert(name, value);
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_auths() {
        let auth = STANDARD.encode("u1:p1-secret");
        let text = format!(
            r#"{{"auths":{{"r.example:5000":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"username":"u2","password":"p2-secret"}}}}}}"#
        );
        let mut auths = parse_config_json(&text).unwrap();
        auths.sort_by(|a, b| a.server.cmp(&b.server));
        assert_eq!(auths[0].server, "https://index.docker.io/v1/");
        assert_eq!(auths[0].username, "u2");
        assert_eq!(auths[1].server, "r.example:5000");
        assert_eq!(auths[1].password.expose(), "p1-secret");
    }

    #[test]
    fn config_json_errors() {
        assert!(
            parse_config_json("{")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            parse_config_json(r#"{"credsStore":"x"}"#)
                .unwrap_err()
                .contains("credential helpers")
        );
        assert!(
            parse_config_json(r#"{"auths":{"a":{"auth":"!!"}}}"#)
                .unwrap_err()
                .contains("not base64")
        );
    }

    #[test]
    fn headers_become_url_safe() {
        let req = http::Request::builder()
            .header("X-Registry-Auth", "ab+c/d=")
            .body(bollard::body_full(bytes::Bytes::new()))
            .unwrap();
        let req = fix_registry_headers(req);
        assert_eq!(req.headers()["X-Registry-Auth"], "ab-c_d=");
    }

    #[test]
    fn debug_hides_passwords() {
        let a = RegistryAuth::basic("r.example", "u", Secret::new("hidden-pass"));
        assert!(!format!("{a:?}").contains("hidden-pass"));
    }
}
