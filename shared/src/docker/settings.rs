//! The settings of `plugins/docker` (reference image-plugins §2.1): every variable and alias of
//! the anchor, in its precedence order, with its default. The registry plugins (ecr, gcr, gar,
//! acr) read these too and add their own.

use crate::secret::Secret;
use crate::settings::List;

crate::settings! {
    /// What `plugins/docker` reads, one field per setting.
    pub struct DockerSettings {
        /// Image repository to push to, with the registry host for anything but Docker Hub (`registry.example.com/team/app`).
        repo: String = "", from ["PLUGIN_REPO"];
        /// Tags to push (comma list or JSON array). When neither variable is set, a `.tags` file in the working directory is read.
        tags: List = "latest", from ["PLUGIN_TAG", "PLUGIN_TAGS"];
        /// Compute tags from the commit ref: `latest` on the default branch, `1`, `1.2`, `1.2.3` for tag `v1.2.3`. Other branches are skipped (exit 0). Replaces `tags`.
        auto_tag: bool = "false", from ["PLUGIN_DEFAULT_TAGS", "PLUGIN_AUTO_TAG"];
        /// Suffix added to every auto tag (`1.2.3-linux`, `latest` becomes the suffix).
        auto_tag_suffix: String = "", from ["PLUGIN_DEFAULT_SUFFIX", "PLUGIN_AUTO_TAG_SUFFIX"];
        /// With `auto_tag`: push the tags of `tags` (or the `.tags` file) too, after the computed ones, instead of dropping them (duplicates once). Branches that `auto_tag` skips are still skipped.
        auto_tag_with_tags: bool = "false", from ["PLUGIN_AUTO_TAG_WITH_TAGS"];
        /// Tag rules in docker/metadata-action's form, one per line (`type=ref,event=branch`) or a JSON array of objects (`[{"type":"sha"}]`): `semver` (`pattern={{major}}.{{minor}}`), `ref` (`event=branch`, `tag`, `pr` → `pr-12`), `sha` (`sha-abcdef1`, `format=long`), `raw` (`value=`), `schedule` (`pattern=nightly-{{date 'YYYYMMDD'}}`), `edge`; each with `prefix`, `suffix`, `priority`, `enable` (`true`, `false`, `{{is_default_branch}}`, a `refs/…` pattern). The rules decide the tags on every ref; `tags` given too are added.
        tag_rules: String = "", from ["PLUGIN_TAG_RULES"];
        /// metadata-action's `flavor` for the tag rules: `latest=auto`, `true` or `false` (auto: on a tag push matched by `semver` or `ref,event=tag`), `prefix=`, `suffix=` (each optionally followed by `onlatest=true`).
        tag_flavor: String = "", from ["PLUGIN_TAG_FLAVOR"];
        /// Dockerfile path, relative to the working directory (not to the context).
        dockerfile: String = "Dockerfile", from ["PLUGIN_DOCKERFILE"];
        /// Build context directory (`.dockerignore` in it is honoured).
        context: String = ".", from ["PLUGIN_CONTEXT"];
        /// Build arguments `NAME=value` (comma list or JSON array; a JSON array keeps commas in values).
        build_args: List = "", from ["PLUGIN_BUILD_ARGS"];
        /// Names of environment variables passed as build arguments (`NAME` and `name` forms).
        build_args_from_env: List = "", from ["PLUGIN_BUILD_ARGS_FROM_ENV"];
        /// `;`-separated build arguments, used instead of `build_args` when `multiple_build_args` is true (kept for compatibility; prefer a JSON array).
        build_args_new: String = "", from ["PLUGIN_BUILD_ARGS_NEW"];
        /// Read build arguments from `build_args_new`.
        multiple_build_args: bool = "false", from ["PLUGIN_MULTIPLE_BUILD_ARGS"];
        /// Build stage to stop at.
        target: String = "", from ["PLUGIN_TARGET"];
        /// Cache sources: with BuildKit, registry refs whose inline build cache the build may reuse (what `cache_to` pushed); with the legacy builder, images pulled first (a failed pull is ignored).
        cache_from: List = "", from ["PLUGIN_CACHE_FROM"];
        /// Registry ref (`registry/repo:tag`, or buildx's `type=registry,ref=…`) the build cache is exported to, so the next build on an empty daemon reuses it through `cache_from`. The daemon's BuildKit exports the inline cache: the image, carrying it, is pushed to this ref too (BuildKit only).
        cache_to: String = "", from ["PLUGIN_CACHE_TO"];
        /// Build with BuildKit (the default, as the anchor); `false`, or `DOCKER_BUILDKIT=0`, uses the legacy builder.
        buildkit: bool = "true", from ["PLUGIN_BUILDKIT", "DOCKER_BUILDKIT"];
        /// Build without the layer cache.
        no_cache: bool = "false", from ["PLUGIN_NO_CACHE"];
        /// Always try to pull a newer base image.
        pull_image: bool = "true", from ["PLUGIN_PULL_IMAGE"];
        /// Squash the new layers into one (legacy builder with `experimental` only; dropped with a warning otherwise).
        squash: bool = "false", from ["PLUGIN_SQUASH"];
        /// Compress the build context sent to the legacy builder (BuildKit's session transfer has no such option: ignored there).
        compress: bool = "false", from ["PLUGIN_COMPRESS"];
        /// Suppress the build output.
        quiet: bool = "false", from ["PLUGIN_QUIET"];
        /// Target platform, `os/arch[/variant]`; `os` or `arch` alone and aliases such as `x86_64` or `aarch64` are completed and normalised as containerd does.
        platform: String = "", from ["PLUGIN_PLATFORM"];
        /// Extra `/etc/hosts` entries, `host:ip`.
        add_host: List = "", from ["PLUGIN_ADD_HOST"];
        /// Labels `key=value` added to the image.
        custom_labels: List = "", from ["PLUGIN_CUSTOM_LABELS"];
        /// Add the OCI labels `created`, `revision`, `source`, `url`, and `version` (the git tag, or the first tag of `tag_rules`) and `title` (the repository's name) when known.
        auto_label: bool = "true", from ["PLUGIN_AUTO_LABEL"];
        /// Extra OCI labels `name=value`, each prefixed with `org.opencontainers.image.` (with `auto_label`).
        label_schema: List = "", from ["PLUGIN_LABEL_SCHEMA"];
        /// OCI annotations `key=value` (comma list, lines or JSON array), written as image labels after the automatic ones (`org.opencontainers.image.description=…`, `…licenses=MIT`); a metadata-action level prefix (`manifest:`, `index:`) is accepted and dropped. Credentials in URLs are removed. A daemonless push (`source_tar_path`) also writes them, with the automatic OCI labels, as annotations of an OCI manifest.
        annotations: List = "", from ["PLUGIN_ANNOTATIONS"];
        /// Repository web link for the `url` label.
        repo_link: String = "", from ["PLUGIN_REPO_LINK", "DRONE_REPO_LINK"];
        /// A BuildKit secret, `id=NAME,src=PATH` or `id=NAME,env=VAR`.
        secret: String = "", from ["PLUGIN_SECRET"];
        /// BuildKit secrets from environment variables, `id=VAR` each.
        secrets_from_env: List = "", from ["PLUGIN_SECRETS_FROM_ENV"];
        /// BuildKit secrets from files, `id=/path` each.
        secrets_from_file: List = "", from ["PLUGIN_SECRETS_FROM_FILE"];
        /// Private SSH key content for `RUN --mount=type=ssh` (BuildKit).
        ssh_agent_key: Secret = "", from ["PLUGIN_SSH_AGENT_KEY"];
        /// Registry to log in to; the artifact file's `registryUrl`.
        registry: String = "https://index.docker.io/v1/", from ["PLUGIN_REGISTRY", "DOCKER_REGISTRY"];
        /// Registry user name.
        username: String = "", from ["PLUGIN_USERNAME", "DOCKER_USERNAME"];
        /// Registry password (credentials are used only when it is set).
        password: Secret = "", from ["PLUGIN_PASSWORD", "DOCKER_PASSWORD"];
        /// Ignored: `docker login -e` no longer exists (a warning is printed).
        email: String = "", from ["PLUGIN_EMAIL", "DOCKER_EMAIL"];
        /// Docker `config.json` content with registry credentials (`auths`).
        config: Secret = "", from ["PLUGIN_CONFIG", "DOCKER_PLUGIN_CONFIG"];
        /// Registry of the base images, for authenticated pulls.
        base_image_registry: String = "", from ["PLUGIN_DOCKER_REGISTRY", "PLUGIN_BASE_IMAGE_REGISTRY", "DOCKER_BASE_IMAGE_REGISTRY"];
        /// User for the base-image registry.
        base_image_username: String = "", from ["PLUGIN_DOCKER_USERNAME", "PLUGIN_BASE_IMAGE_USERNAME", "DOCKER_BASE_IMAGE_USERNAME"];
        /// Password for the base-image registry.
        base_image_password: Secret = "", from ["PLUGIN_DOCKER_PASSWORD", "PLUGIN_BASE_IMAGE_PASSWORD", "DOCKER_BASE_IMAGE_PASSWORD"];
        /// OAuth access token; logs in as `oauth2accesstoken` when no password is given.
        access_token: Secret = "", from ["ACCESS_TOKEN"];
        /// Build and tag but do not push.
        dry_run: bool = "false", from ["PLUGIN_DRY_RUN", "PLUGIN_NO_PUSH"];
        /// Do not build: tag and push an image already in the daemon.
        push_only: bool = "false", from ["PLUGIN_PUSH_ONLY"];
        /// The local image `repo[:tag]` pushed by `push_only` (default: `repo:tag` for each tag).
        source_image: String = "", from ["PLUGIN_SOURCE_IMAGE"];
        /// With `push_only`: push this image tarball (`docker save` output or an OCI layout archive) straight to the registry, without a daemon.
        source_tar_path: String = "", from ["PLUGIN_SOURCE_TAR_PATH"];
        /// Also save the image to this tarball (`docker save` format).
        tar_path: String = "", from ["PLUGIN_TAR_PATH", "PLUGIN_DESTINATION_TAR_PATH"];
        /// Remove the images this step created from the daemon when done (the temporary build tag always; pushed tags after a push).
        purge: bool = "true", from ["PLUGIN_PURGE"];
        /// Where to write the Harness artifact file (`docker/v1`).
        artifact_file: String = "", from ["PLUGIN_ARTIFACT_FILE"];
        /// `registryType` in the artifact file.
        registry_type: String = "Docker", from ["PLUGIN_REGISTRY_TYPE"];
        /// Do not start dockerd: use the daemon at `DOCKER_HOST` (a mounted socket).
        daemon_off: bool = "false", from ["PLUGIN_DAEMON_OFF"];
        /// Seconds to wait for the daemon we start to answer (≤ 0 means 15).
        daemon_retry_count: i64 = "15", from ["PLUGIN_DAEMON_RETRY_COUNT"];
        /// Show the daemon's log and debug output.
        debug: bool = "false", from ["PLUGIN_DEBUG", "DOCKER_LAUNCH_DEBUG"];
        /// Registry mirrors for the daemon (a list).
        mirror: List = "", from ["PLUGIN_MIRROR", "DOCKER_PLUGIN_MIRROR"];
        /// Daemon storage driver.
        storage_driver: String = "", from ["PLUGIN_STORAGE_DRIVER"];
        /// Daemon data root.
        storage_path: String = "/var/lib/docker", from ["PLUGIN_STORAGE_PATH"];
        /// Daemon bridge IP (`--bip`).
        bip: String = "", from ["PLUGIN_BIP"];
        /// Daemon MTU.
        mtu: String = "", from ["PLUGIN_MTU"];
        /// DNS servers for the daemon's containers.
        custom_dns: List = "", from ["PLUGIN_CUSTOM_DNS"];
        /// DNS search domains for the daemon's containers.
        custom_dns_search: List = "", from ["PLUGIN_CUSTOM_DNS_SEARCH"];
        /// Treat the push registry as insecure (plain HTTP or unverified TLS).
        insecure: bool = "false", from ["PLUGIN_INSECURE"];
        /// More insecure registries for the daemon (a list, independent of `registry`).
        insecure_registries: List = "", from ["PLUGIN_INSECURE_REGISTRIES"];
        /// Enable IPv6 in the daemon.
        ipv6: bool = "false", from ["PLUGIN_IPV6"];
        /// Enable the daemon's experimental features.
        experimental: bool = "false", from ["PLUGIN_EXPERIMENTAL"];
    }
}

/// The names of [`UNSUPPORTED`], for the binaries' list of known variables: the refusal explains
/// them, so the unknown-variable warning must not also guess a "did you mean".
pub const UNSUPPORTED_NAMES: &[&str] = &[
    "PLUGIN_COSIGN_PRIVATE_KEY",
    "PLUGIN_COSIGN_PASSWORD",
    "PLUGIN_COSIGN_PARAMS",
];

/// Settings of the anchor we do not implement: using one is an error, not a silent no-op.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "PLUGIN_COSIGN_PRIVATE_KEY",
        "cosign signing is not supported yet",
    ),
    (
        "PLUGIN_COSIGN_PASSWORD",
        "cosign signing is not supported yet",
    ),
    (
        "PLUGIN_COSIGN_PARAMS",
        "cosign signing is not supported yet",
    ),
];

#[cfg(test)]
mod unsupported_tests {
    use super::*;

    #[test]
    fn the_names_list_matches_the_refusals() {
        let names: Vec<&str> = UNSUPPORTED.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, UNSUPPORTED_NAMES);
    }
}

/// `PLUGIN_PLATFORM` normalised as containerd's `platforms.Parse` does (the daemon's parser, so
/// what the anchor accepted): `linux` alone gets this machine's architecture, `arm64` alone the
/// OS `linux`, and architecture aliases (`x86_64`, `aarch64`, `armhf`…) become their canonical
/// names. The error says what is wrong; the caller names the variable.
pub fn normalize_platform(spec: &str) -> Result<String, String> {
    let parts: Vec<&str> = spec.split('/').collect();
    let valid = |x: &&str| {
        !x.is_empty()
            && x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !(1..=3).contains(&parts.len()) || !parts.iter().all(valid) {
        return Err(format!("'{spec}' is not os[/arch[/variant]]"));
    }
    let (os, arch, variant) = match parts[..] {
        [one] => {
            let os = normalize_os(one);
            if KNOWN_OS.contains(&os.as_str()) {
                let (arch, variant) = normalize_arch(host_arch(), "");
                (os, arch, variant)
            } else {
                let (arch, variant) = normalize_arch(one, "");
                let variant = implied_variant(&arch, variant, false);
                if !KNOWN_ARCH.contains(&arch.as_str()) {
                    return Err(format!(
                        "'{spec}' is no known operating system or architecture"
                    ));
                }
                ("linux".to_string(), arch, variant)
            }
        }
        [os, arch] => {
            let (arch, variant) = normalize_arch(arch, "");
            let variant = implied_variant(&arch, variant, false);
            (normalize_os(os), arch, variant)
        }
        [os, arch, variant] => {
            let (arch, variant) = normalize_arch(arch, variant);
            let variant = implied_variant(&arch, variant, true);
            (normalize_os(os), arch, variant)
        }
        _ => unreachable!("1 to 3 parts checked above"),
    };
    Ok(if variant.is_empty() {
        format!("{os}/{arch}")
    } else {
        format!("{os}/{arch}/{variant}")
    })
}

/// containerd's `knownOS` and `knownArch` (go/build's lists).
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
];
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

fn normalize_os(os: &str) -> String {
    match os.to_ascii_lowercase().as_str() {
        "macos" => "darwin".to_string(),
        other => other.to_string(),
    }
}

/// containerd's `normalizeArch`: canonical architecture names, `arm` meaning `v7`.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    let (arch, variant) = match arch.as_str() {
        "i386" => ("386", String::new()),
        "x86_64" | "x86-64" | "amd64" if variant == "v1" => ("amd64", String::new()),
        "x86_64" | "x86-64" | "amd64" => ("amd64", variant),
        "aarch64" | "arm64" => match variant.as_str() {
            "8" | "v8" | "v8.0" => ("arm64", String::new()),
            "9" | "9.0" | "v9.0" => ("arm64", "v9".to_string()),
            _ => ("arm64", variant),
        },
        "armhf" => ("arm", "v7".to_string()),
        "armel" => ("arm", "v6".to_string()),
        "arm" => match variant.as_str() {
            "" | "7" => ("arm", "v7".to_string()),
            "5" | "6" | "8" => ("arm", format!("v{variant}")),
            _ => ("arm", variant),
        },
        other => return (other.to_string(), variant),
    };
    (arch.to_string(), variant)
}

/// containerd's `Parse` drops the implied `v7` of `arm` when the variant was not written, and
/// writes the implied `v8` of `arm64` when it was.
fn implied_variant(arch: &str, variant: String, written: bool) -> String {
    match (arch, variant.as_str(), written) {
        ("arm", "v7", false) => String::new(),
        ("arm64", "", true) => "v8".to_string(),
        _ => variant,
    }
}

/// This machine's architecture in Go's words (what containerd's `runtime.GOARCH` gives).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod platform_tests {
    use super::normalize_platform;

    #[test]
    fn platforms_are_completed_and_normalised_as_containerd_does() {
        let n = |s: &str| normalize_platform(s).unwrap();
        assert_eq!(n("linux/amd64"), "linux/amd64");
        assert_eq!(n("amd64"), "linux/amd64");
        assert_eq!(n("aarch64"), "linux/arm64");
        assert_eq!(n("Linux/x86_64"), "linux/amd64");
        assert_eq!(n("linux/arm64/8"), "linux/arm64/v8");
        assert_eq!(n("linux/arm/v7"), "linux/arm/v7");
        assert_eq!(n("linux/armhf"), "linux/arm");
        assert_eq!(n("armel"), "linux/arm/v6");
        assert_eq!(n("linux/arm/6"), "linux/arm/v6");
        assert!(n("linux").starts_with("linux/"));
        assert!(n("windows").starts_with("windows/"));
        for bad in ["", "linux/", "a/b/c/d", "linux amd64", "foo"] {
            assert!(normalize_platform(bad).is_err(), "{bad}");
        }
    }
}
