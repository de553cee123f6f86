//! CI metadata: the commit, ref, branch, tag and build a step runs for, read from the variables
//! Drone (`DRONE_*`), Woodpecker (`CI_*`) and Harness (which sets the `DRONE_*` names, plus
//! `HARNESS_*`) give a plugin. The first variable set wins, in that order.

use crate::settings::Env;

/// What the runner says about the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ci {
    /// Commit SHA (`00000000` when unknown, as the anchors default it).
    pub commit_sha: String,
    /// Full git ref, e.g. `refs/heads/main`, `refs/tags/v1.2.3`.
    pub commit_ref: String,
    /// Branch being built.
    pub branch: String,
    /// Tag being built, if any.
    pub tag: String,
    /// The repository's default branch.
    pub default_branch: String,
    /// Build number.
    pub build_number: String,
    /// Web link of the repository.
    pub repo_link: String,
    /// Clone URL of the repository.
    pub remote_url: String,
    /// What started the build: `push`, `tag`, `pull_request`, `cron`, … (as the runner says).
    pub event: String,
    /// The pull request's number, on a pull-request build.
    pub pull_request: String,
    /// When the build started (Unix seconds), if the runner says.
    pub build_started: Option<i64>,
    /// The repository's name, without the owner.
    pub repo_name: String,
}

impl Ci {
    /// Reads the metadata from `env`.
    pub fn from_env(env: &Env) -> Self {
        let get = |names: &[&str]| env.string(names).unwrap_or_default();
        let mut ci = Ci {
            commit_sha: get(&["DRONE_COMMIT_SHA", "DRONE_COMMIT", "CI_COMMIT_SHA"]),
            commit_ref: get(&["DRONE_COMMIT_REF", "CI_COMMIT_REF"]),
            branch: get(&["DRONE_COMMIT_BRANCH", "DRONE_BRANCH", "CI_COMMIT_BRANCH"]),
            tag: get(&["DRONE_TAG", "CI_COMMIT_TAG"]),
            default_branch: get(&["DRONE_REPO_BRANCH", "CI_REPO_DEFAULT_BRANCH"]),
            build_number: get(&[
                "DRONE_BUILD_NUMBER",
                "CI_PIPELINE_NUMBER",
                "CI_BUILD_NUMBER",
                "HARNESS_BUILD_ID",
            ]),
            repo_link: get(&["DRONE_REPO_LINK", "CI_REPO_URL", "CI_REPO_LINK"]),
            remote_url: get(&[
                "DRONE_REMOTE_URL",
                "DRONE_GIT_HTTP_URL",
                "CI_REPO_CLONE_URL",
                "CI_REMOTE_URL",
            ]),
            event: get(&["DRONE_BUILD_EVENT", "CI_PIPELINE_EVENT", "CI_BUILD_EVENT"]),
            pull_request: get(&["DRONE_PULL_REQUEST", "CI_COMMIT_PULL_REQUEST"]),
            build_started: get(&[
                "DRONE_BUILD_STARTED",
                "CI_PIPELINE_STARTED",
                "CI_BUILD_STARTED",
            ])
            .parse()
            .ok(),
            repo_name: get(&["DRONE_REPO_NAME", "CI_REPO_NAME"]),
        };
        // A clone URL may carry a token (`https://x-token:…@git/…`): it becomes an image
        // label and a card field, so the user information never survives.
        ci.remote_url = crate::secret::without_userinfo(&ci.remote_url).into_owned();
        ci.repo_link = crate::secret::without_userinfo(&ci.repo_link).into_owned();
        if ci.commit_sha.is_empty() {
            ci.commit_sha = "00000000".into();
        }
        // A ref can be rebuilt from the tag or branch when a runner gives only those.
        if ci.commit_ref.is_empty() {
            if !ci.tag.is_empty() {
                ci.commit_ref = format!("refs/tags/{}", ci.tag);
            } else if !ci.branch.is_empty() {
                ci.commit_ref = format!("refs/heads/{}", ci.branch);
            }
        }
        ci
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drone_variables() {
        let env = Env::from_pairs([
            ("DRONE_COMMIT_SHA", "abc"),
            ("DRONE_COMMIT_REF", "refs/tags/v1.0.0"),
            ("DRONE_REPO_BRANCH", "main"),
            ("DRONE_BUILD_NUMBER", "7"),
            ("DRONE_REMOTE_URL", "https://git.example/x.git"),
        ]);
        let ci = Ci::from_env(&env);
        assert_eq!(ci.commit_sha, "abc");
        assert_eq!(ci.commit_ref, "refs/tags/v1.0.0");
        assert_eq!(ci.default_branch, "main");
        assert_eq!(ci.build_number, "7");
        assert_eq!(ci.remote_url, "https://git.example/x.git");
    }

    #[test]
    fn woodpecker_variables_and_defaults() {
        let env = Env::from_pairs([
            ("CI_COMMIT_TAG", "v2.0.0"),
            ("CI_REPO_DEFAULT_BRANCH", "trunk"),
        ]);
        let ci = Ci::from_env(&env);
        assert_eq!(ci.commit_sha, "00000000");
        assert_eq!(ci.commit_ref, "refs/tags/v2.0.0");
        assert_eq!(ci.default_branch, "trunk");
    }

    #[test]
    fn drone_wins_over_woodpecker() {
        let env = Env::from_pairs([("CI_COMMIT_SHA", "w"), ("DRONE_COMMIT_SHA", "d")]);
        assert_eq!(Ci::from_env(&env).commit_sha, "d");
    }
}
