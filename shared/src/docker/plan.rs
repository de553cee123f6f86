//! The plan: what a run will do, in the order it does it, printed before anything starts (and
//! all that a dry run shows of the push). Build-argument values and secrets are never shown.

use super::config::{Config, Mode};

/// One line per step.
pub fn describe(cfg: &Config, login: Option<&str>, pending_registry: Option<&str>) -> Vec<String> {
    let mut lines = Vec::new();
    if matches!(cfg.mode, Mode::PushTarball(_)) {
        lines.push("daemon: none needed".into());
    } else if cfg.daemon.start {
        lines.push(format!(
            "daemon: start dockerd {} (wait up to {}s)",
            cfg.daemon.args.join(" "),
            cfg.daemon.timeout.as_secs()
        ));
    } else {
        lines.push(format!("daemon: use the daemon at {}", cfg.daemon.host));
    }
    let refs: Vec<String> = cfg
        .tags
        .iter()
        .map(|t| {
            let r = match pending_registry {
                Some(host) => format!("{host}/{}:{t}", cfg.repo.name),
                None => cfg.repo.with_tag(t),
            };
            // Which setting or rule made the tag: with tag rules, several can.
            match cfg.tag_origins.get(t) {
                Some(origin) => format!("{r} ({origin})"),
                None => r,
            }
        })
        .collect();
    let push_host = pending_registry.unwrap_or(&cfg.repo.host);
    match &cfg.mode {
        Mode::Build(b) => {
            let mut what = format!(
                "build: {} with context {}",
                b.dockerfile.display(),
                b.context.display()
            );
            if !b.uses_buildkit() {
                what.push_str(", legacy builder");
            } else if !b.secrets.is_empty() || b.ssh_key.is_some() {
                let ids: Vec<&str> = b.secrets.iter().map(|s| s.id.as_str()).collect();
                what.push_str(&format!(
                    ", BuildKit (secrets: {}{})",
                    if ids.is_empty() {
                        "none".into()
                    } else {
                        ids.join(", ")
                    },
                    if b.ssh_key.is_some() {
                        "; ssh agent forwarded"
                    } else {
                        ""
                    }
                ));
            }
            if let Some(c) = &b.cache_to {
                what.push_str(&format!(", cache to {}", c.repo.with_tag(&c.tag)));
            }
            if let Some(t) = &b.target {
                what.push_str(&format!(", target {t}"));
            }
            if let Some(p) = &b.platform {
                what.push_str(&format!(", platform {p}"));
            }
            if !b.build_args.is_empty() {
                let names: Vec<&str> = b.build_args.keys().map(String::as_str).collect();
                what.push_str(&format!(", build args {}", names.join(" ")));
            }
            if !b.labels.is_empty() {
                what.push_str(&format!(", {} labels", b.labels.len()));
            }
            if b.no_cache {
                what.push_str(", no cache");
            }
            if b.pull {
                what.push_str(", pull base images");
            }
            lines.push(what);
        }
        Mode::PushTarball(p) => {
            let mut what = format!(
                "push-only: {} straight to the registry (no daemon)",
                p.display()
            );
            if !cfg.manifest_annotations.is_empty() {
                what.push_str(&format!(
                    ", OCI manifest with {} annotations",
                    cfg.manifest_annotations.len()
                ));
            }
            lines.push(what);
        }
        Mode::PushOnly(src) => lines.push(format!(
            "push-only: use {}",
            src.clone()
                .unwrap_or_else(|| "the local image of each tag".into())
        )),
    }
    lines.push(format!("tag: {}", refs.join(", ")));
    if cfg.push {
        let who = match (login, &cfg.credentials.push) {
            (Some(l), _) => format!("with {l}"),
            (None, Some(a)) => format!("as {} ({})", a.username, cfg.credentials.push_source),
            (None, None) => "anonymously".into(),
        };
        lines.push(format!(
            "push: {} to {} {who}",
            cfg.tags.join(", "),
            push_host
        ));
    } else {
        lines.push("push: skipped (dry run / no push)".into());
    }
    if let Some(p) = &cfg.tar_path {
        lines.push(format!("save: {}", p.display()));
    }
    if cfg.purge {
        lines.push("purge: remove the temporary build tag, and the local tags once pushed".into());
    }
    lines
}
