//! Image references: splitting `PLUGIN_REPO` into registry host and path, checking it is a name
//! a registry accepts, and the key a registry's credentials are filed under.

/// Docker Hub's index name, the key the daemon files Hub credentials under.
pub const HUB_INDEX: &str = "https://index.docker.io/v1/";

/// A repository name without tag, e.g. `127.0.0.1:5000/team/app` or `library/busybox`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// As given, used for tagging and pushing.
    pub name: String,
    /// The registry host (`docker.io` for Hub).
    pub host: String,
}

impl Repository {
    /// Parses and checks a repository name (no tag, no digest).
    pub fn parse(repo: &str) -> Result<Self, String> {
        let repo = repo.trim();
        if repo.is_empty() {
            return Err("is empty".into());
        }
        if repo.contains('@') {
            return Err(format!("'{repo}' must not contain a digest"));
        }
        let (host, path) = split_host(repo);
        if path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
        {
            return Err(format!(
                "'{repo}' must not contain a tag: put tags in PLUGIN_TAGS"
            ));
        }
        if path.is_empty() {
            return Err(format!("'{repo}' has no repository path"));
        }
        for comp in path.split('/') {
            if !valid_component(comp) {
                return Err(format!(
                    "'{repo}': '{comp}' is not a valid repository component (lower-case letters, digits, and . _ - between them)"
                ));
            }
        }
        Ok(Repository {
            name: repo.to_string(),
            host: host.unwrap_or("docker.io").to_string(),
        })
    }

    /// The repository with a tag.
    pub fn with_tag(&self, tag: &str) -> String {
        format!("{}:{tag}", self.name)
    }

    /// True for Docker Hub.
    pub fn is_hub(&self) -> bool {
        is_hub_host(&self.host)
    }
}

/// Splits `host[:port]/path` when the first component looks like a host (has `.` or `:`, or is
/// `localhost`), as the docker reference grammar does.
pub fn split_host(repo: &str) -> (Option<&str>, &str) {
    match repo.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, repo),
    }
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    b.iter().all(|ch| {
        ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, b'.' | b'_' | b'-')
    })
}

/// True for the names Docker Hub goes by.
pub fn is_hub_host(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
    )
}

/// The host of a registry setting: `https://r.example:5000/v2/` → `r.example:5000`; Hub URLs → `docker.io`.
pub fn registry_host(registry: &str) -> String {
    let r = registry.trim();
    let r = r
        .strip_prefix("https://")
        .or_else(|| r.strip_prefix("http://"))
        .unwrap_or(r);
    let host = r.split('/').next().unwrap_or(r).to_string();
    if is_hub_host(&host) || host.is_empty() {
        "docker.io".into()
    } else {
        host
    }
}

/// The key credentials for `host` are filed under in `X-Registry-Config` / `config.json`.
pub fn auth_key(host: &str) -> String {
    if is_hub_host(host) {
        HUB_INDEX.into()
    } else {
        host.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_and_paths() {
        let r = Repository::parse("127.0.0.1:5000/team/app").unwrap();
        assert_eq!(r.host, "127.0.0.1:5000");
        assert_eq!(r.with_tag("1"), "127.0.0.1:5000/team/app:1");
        assert_eq!(Repository::parse("octocat/app").unwrap().host, "docker.io");
        assert_eq!(
            Repository::parse("localhost/app").unwrap().host,
            "localhost"
        );
        assert!(Repository::parse("r.example/app").unwrap().host == "r.example");
    }

    #[test]
    fn rejects_bad_names() {
        assert!(Repository::parse("").is_err());
        assert!(
            Repository::parse("app:1")
                .unwrap_err()
                .contains("must not contain a tag")
        );
        assert!(
            Repository::parse("r:5000/app:1")
                .unwrap_err()
                .contains("tag")
        );
        assert!(Repository::parse("Team/App").is_err());
        assert!(Repository::parse("a/b@sha256:00").is_err());
        assert!(Repository::parse("a//b").is_err());
    }

    #[test]
    fn registry_hosts() {
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host("https://r.example:5443"), "r.example:5443");
        assert_eq!(registry_host("r.example"), "r.example");
        assert_eq!(auth_key("docker.io"), HUB_INDEX);
    }
}
