//! The unknown-variable check: a `PLUGIN_*` variable no setting reads is most likely a typo, so
//! we warn with the closest known name.

use super::{Env, Setting};

/// `PLUGIN_*` variables in `env` that none of `known` reads (nor any of `extra`), each with the
/// closest known name when one is close enough to be a likely typo.
pub fn unknown_variables(
    env: &Env,
    known: &[&[Setting]],
    extra: &[&str],
) -> Vec<(String, Option<&'static str>)> {
    let names: Vec<&'static str> = known
        .iter()
        .flat_map(|s| s.iter())
        .flat_map(|s| s.names.iter().copied())
        .filter(|n| n.starts_with("PLUGIN_"))
        .collect();
    env.names()
        .filter(|n| n.starts_with("PLUGIN_"))
        .filter(|n| !names.contains(n) && !extra.contains(n))
        .map(|n| {
            let best = names
                .iter()
                .map(|k| (strsim::jaro_winkler(n, k), *k))
                .filter(|(score, _)| *score > 0.9)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, k)| k);
            (n.to_string(), best)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[Setting] = &[Setting {
        names: &["PLUGIN_DOCKERFILE"],
        kind: "string",
        default: "Dockerfile",
        doc: "",
    }];

    #[test]
    fn suggests_close_names() {
        let env = Env::from_pairs([
            ("PLUGIN_DOCKERFLE", "x"),
            ("PLUGIN_ZZZ", "y"),
            ("HOME", "/"),
        ]);
        let unknown = unknown_variables(&env, &[KNOWN], &[]);
        assert_eq!(
            unknown,
            vec![
                ("PLUGIN_DOCKERFLE".to_string(), Some("PLUGIN_DOCKERFILE")),
                ("PLUGIN_ZZZ".to_string(), None)
            ]
        );
    }
}
