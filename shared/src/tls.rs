//! The one TLS trust store of every plugin (issue #15): which CA certificates a connection we
//! make, or a client we configure, trusts beside the built-in roots.
//!
//! It owns reading every CA bundle a plugin is given, with one error naming the variable before
//! any network call: the plugin's own settings (`PLUGIN_PEM_FILE_CONTENTS` /
//! `PLUGIN_PEM_FILE_PATH` of jfrog and nexus), the standard variables (`AWS_CA_BUNDLE`,
//! `SSL_CERT_FILE`), docker's `certs.d` convention, and `HARNESS_CA_PATH` — the PEM bundle of
//! extra CAs the Harness runner mounts (for an egress proxy or a private registry; the anchor
//! plugins/docker reads it since 2026, drone-docker #517/#519). `HARNESS_CA_PATH` is read once, by
//! the entry point ([`crate::cli`]), and trusted by every client of the process: our reqwest
//! clients through [`reqwest_builder`], the SDKs through [`harness_ca`] (`aws.rs`, the ACR login,
//! the gcs upload path) and the dockerd we start through [`write_certs_d`].
//!
//! It never decides whether to verify: `PLUGIN_INSECURE` and insecure registries stay with each
//! client. Nothing here is installed into the machine's trust store (the anchor copies the CA
//! into the distribution's anchors and runs `update-ca-certificates`): only our own processes
//! trust it, and only for this step.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tracing::{debug, info};

use crate::settings::{Env, SettingsError};

/// The variable of the Harness runner's CA bundle.
pub const HARNESS_CA_PATH: &str = "HARNESS_CA_PATH";

/// Docker's directory of per-registry CAs (`<host>/*.crt`), read by dockerd and by our registry
/// client.
pub const CERTS_D: &str = "/etc/docker/certs.d";

/// The file name [`write_certs_d`] gives the Harness CA, beside any `ca.crt` already there.
const CERTS_D_FILE: &str = "harness-ca.crt";

/// Why a CA bundle cannot be used. The caller adds the variable it came from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not PEM.
    #[error("{origin} is not valid PEM")]
    Pem {
        /// The file, or the setting holding the text.
        origin: String,
        /// The parser's complaint.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// PEM, but without any certificate (a key, or nothing at all).
    #[error("{origin} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty {
        /// The file, or the setting holding the text.
        origin: String,
    },
    /// A certificate TLS cannot use as a trust anchor (the AWS SDK would panic on it).
    #[error("{origin}: a certificate is not usable as a CA")]
    Unusable {
        /// The file, or the setting holding the text.
        origin: String,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
}

/// CA certificates to trust, checked: at least one, each usable as a trust anchor.
#[derive(Clone)]
pub struct CaBundle {
    origin: String,
    ders: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CaBundle({}: {} certificate(s))",
            self.origin,
            self.len()
        )
    }
}

impl CaBundle {
    /// Parses PEM text; `origin` (a path or a setting) names it in errors.
    pub fn from_pem(origin: impl Into<String>, pem: &[u8]) -> Result<CaBundle, CaError> {
        let origin = origin.into();
        let ders = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| CaError::Pem {
                origin: origin.clone(),
                source,
            })?;
        if ders.is_empty() {
            return Err(CaError::Empty { origin });
        }
        for der in &ders {
            usable(der).map_err(|source| CaError::Unusable {
                origin: origin.clone(),
                source,
            })?;
        }
        Ok(CaBundle { origin, ders })
    }

    /// Reads and parses a PEM file.
    pub fn read(path: &Path) -> Result<CaBundle, CaError> {
        let origin = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| CaError::Read {
            path: origin.clone(),
            source,
        })?;
        CaBundle::from_pem(origin, &pem)
    }

    /// How many certificates.
    pub fn len(&self) -> usize {
        self.ders.len()
    }

    /// Never true: a bundle holds at least one certificate.
    pub fn is_empty(&self) -> bool {
        self.ders.is_empty()
    }

    /// The certificates, DER.
    pub fn ders(&self) -> &[CertificateDer<'static>] {
        &self.ders
    }

    /// The certificates as PEM text (what the AWS SDK and dockerd take).
    pub fn pem(&self) -> String {
        let mut out = String::new();
        for der in &self.ders {
            let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
            out.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(64) {
                out.push_str(&String::from_utf8_lossy(line));
                out.push('\n');
            }
            out.push_str("-----END CERTIFICATE-----\n");
        }
        out
    }
}

/// Whether rustls takes `der` as a trust anchor.
fn usable(der: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    rustls::RootCertStore::empty().add(der.clone().into_owned())
}

/// The bundle at the path a variable names (`AWS_CA_BUNDLE`, `SSL_CERT_FILE`,
/// `HARNESS_CA_PATH`); unset or empty: `None`. An unreadable or non-PEM file is a settings error
/// naming the variable.
pub fn ca_file_setting(env: &Env, var: &str) -> Result<Option<CaBundle>, SettingsError> {
    let Some(path) = env.get(var).map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    CaBundle::read(Path::new(path))
        .map(Some)
        .map_err(|e| SettingsError::invalid(var, crate::error::one_line(&e)))
}

/// What to do when both `PLUGIN_PEM_FILE_CONTENTS` and `PLUGIN_PEM_FILE_PATH` are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BothPem {
    /// Refuse (nexus: give the CA once).
    Conflict,
    /// The contents win (jfrog, as its anchor).
    ContentsFirst,
}

/// The CA of `PLUGIN_PEM_FILE_CONTENTS` (inline PEM; the `\n`-escaped form a secret field often
/// holds is accepted) or `PLUGIN_PEM_FILE_PATH` (a file, relative to `cwd`). Neither: `None`.
pub fn pem_settings(
    contents: &str,
    path: &str,
    cwd: &Path,
    both: BothPem,
) -> Result<Option<CaBundle>, SettingsError> {
    const CONTENTS: &str = "PLUGIN_PEM_FILE_CONTENTS";
    const PATH: &str = "PLUGIN_PEM_FILE_PATH";
    let (contents, path) = (contents.trim(), path.trim());
    if !contents.is_empty() && !path.is_empty() && both == BothPem::Conflict {
        return Err(SettingsError::Conflict {
            first: CONTENTS.into(),
            second: PATH.into(),
            reason: "give the CA once".into(),
        });
    }
    let invalid = |var: &str, e: CaError| SettingsError::invalid(var, crate::error::one_line(&e));
    if !contents.is_empty() {
        let pem = contents.replace("\\n", "\n");
        return CaBundle::from_pem(CONTENTS, pem.as_bytes())
            .map(Some)
            .map_err(|e| invalid(CONTENTS, e));
    }
    if !path.is_empty() {
        return CaBundle::read(&cwd.join(path))
            .map(Some)
            .map_err(|e| invalid(PATH, e));
    }
    Ok(None)
}

/// Docker's CA for `host`: `/etc/docker/certs.d/<host>/ca.crt`, when it exists.
pub fn certs_d_ca(host: &str) -> Result<Option<CaBundle>, CaError> {
    let path = Path::new(CERTS_D).join(host).join("ca.crt");
    match CaBundle::read(&path) {
        Err(CaError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        other => other.map(Some),
    }
}

// ------------------------------------------------------------------------- HARNESS_CA_PATH

static HARNESS: OnceLock<Option<CaBundle>> = OnceLock::new();

/// Reads `HARNESS_CA_PATH` for the whole process: the entry point calls it once, after the env
/// file and before the plugin's settings, so a bad bundle is one line naming the variable and no
/// connection is attempted. Process-wide rather than threaded through each plugin's
/// configuration because every client must take it, including ones built deep in a flow
/// (the STS hop of a role, the token exchange of a login): one forgotten parameter would be one
/// client that silently does not trust it.
pub fn load_harness_ca(env: &Env) -> Result<(), SettingsError> {
    let ca = ca_file_setting(env, HARNESS_CA_PATH)?;
    if let Some(ca) = &ca {
        info!(
            "{HARNESS_CA_PATH}: {} CA certificate(s) trusted by every connection of this step",
            ca.len()
        );
    }
    // A second call (tests of the entry point) keeps the first value.
    let _ = HARNESS.set(ca);
    Ok(())
}

/// The bundle of `HARNESS_CA_PATH`, when the entry point read one.
pub fn harness_ca() -> Option<&'static CaBundle> {
    HARNESS.get().and_then(Option::as_ref)
}

/// `own` (a plugin's CA setting) and the Harness CA: every extra anchor a client must trust.
pub fn with_harness<'a>(own: impl IntoIterator<Item = &'a CaBundle>) -> Vec<&'a CaBundle> {
    own.into_iter().chain(harness_ca()).collect()
}

// ------------------------------------------------------------------------- dockerd

/// Hands the Harness CA to a dockerd we start: `<certs_d>/<host>/harness-ca.crt` for each
/// registry `host` (dockerd adds every `*.crt` there to the system roots for that registry, so a
/// `ca.crt` already there keeps working). Without `HARNESS_CA_PATH`, nothing is written. The
/// files go when the returned guard is dropped, with the daemon: on a reused machine they must
/// not outlive the step.
pub fn write_certs_d(certs_d: &Path, hosts: &[String]) -> std::io::Result<CertsDFiles> {
    match harness_ca() {
        Some(ca) => write_certs_d_for(certs_d, hosts, ca),
        None => Ok(CertsDFiles::default()),
    }
}

/// The `certs.d` files (and directories) [`write_certs_d`] made; removed when dropped.
#[derive(Debug, Default)]
pub struct CertsDFiles {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl CertsDFiles {
    /// The files written.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl Drop for CertsDFiles {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        // Only directories we made, and only when empty (another CA may have arrived since).
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn write_certs_d_for(
    certs_d: &Path,
    hosts: &[String],
    ca: &CaBundle,
) -> std::io::Result<CertsDFiles> {
    let pem = ca.pem();
    let mut out = CertsDFiles::default();
    for host in hosts {
        // A host is one path segment: a name that could climb out of certs.d is skipped.
        if host.is_empty() || host.contains(['/', '\\']) || host.starts_with('.') {
            continue;
        }
        let dir = certs_d.join(host);
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir)?;
            out.dirs.push(dir.clone());
        }
        let file = dir.join(CERTS_D_FILE);
        std::fs::write(&file, &pem)?;
        debug!(file = %file.display(), "Harness CA handed to dockerd");
        out.files.push(file);
    }
    Ok(out)
}

/// The `certs.d` directory dockerd reads for a registry `host`: Docker Hub's is its API host.
pub fn certs_d_host(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" => "registry-1.docker.io".into(),
        other => other.into(),
    }
}

// ------------------------------------------------------------------------- reqwest

/// The system roots: the platform store, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set (as
/// OpenSSL reads them). Loaded once; certificates rustls refuses are left out, so one odd file
/// in the system store cannot break every client.
#[cfg(feature = "http-client")]
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            debug!("system trust store: {e}");
        }
        let roots: Vec<_> = found
            .certs
            .into_iter()
            .filter(|c| usable(c).is_ok())
            .collect();
        debug!("{} system CA certificate(s)", roots.len());
        roots
    })
}

/// A reqwest client builder that trusts the built-in Mozilla roots, the system roots,
/// `SSL_CERT_FILE`, `own` (the plugin's CA setting, certs.d) and `HARNESS_CA_PATH`. Every reqwest
/// client we make starts here; the caller adds timeouts, proxies and `PLUGIN_INSECURE`.
#[cfg(feature = "http-client")]
pub fn reqwest_builder<'a>(own: impl IntoIterator<Item = &'a CaBundle>) -> reqwest::ClientBuilder {
    let extra = with_harness(own);
    let ders = system_roots()
        .iter()
        .chain(extra.iter().flat_map(|b| b.ders()));
    let mut b = reqwest::Client::builder();
    for der in ders {
        // Checked by `usable` already; `from_der` only wraps the bytes.
        if let Ok(c) = reqwest::Certificate::from_der(der) {
            b = b.add_root_certificate(c);
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA certificate (EC P-256, self-signed, `CN=longshore unit CA`): test data, no key kept.
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBnjCCAUOgAwIBAgIUXbXQhiBZSrHPVnB1brXM5SgKnfcwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRbG9uZ3Nob3JlIHVuaXQgQ0EwHhcNMjYxMjAzMTQwOTAyWhcN
MzYxMTMwMTQwOTAyWjAcMRowGAYDVQQDDBFsb25nc2hvcmUgdW5pdCBDQTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABK3aIiir9OH2hdG3Kwe12JuBs2ryiJI5ewrn
lG0HD2qLmhILEbbvPpMHDQhvkC6wJXFI7rSPZBmaClXk7h0Kc3ujYzBhMB0GA1Ud
DgQWBBSOpTxycdP5dAk/W/XKx7liNQErxDAfBgNVHSMEGDAWgBSOpTxycdP5dAk/
W/XKx7liNQErxDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggq
hkjOPQQDAgNJADBGAiEAz2uNjRNThtAwbE117OoScsexYHNo2/veHymtIIKR44sC
IQD90nR968bQ6uQxNEDQ5ndelU0UwsmzY0WjzkVjYkI4pw==
-----END CERTIFICATE-----
";

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    fn refusal(r: Result<Option<CaBundle>, SettingsError>) -> String {
        r.expect_err("refused").to_string()
    }

    #[test]
    fn a_bundle_round_trips_through_pem() {
        let two = format!("{CA}{CA}");
        let b = CaBundle::from_pem("test", two.as_bytes()).unwrap();
        assert_eq!(b.len(), 2);
        let again = CaBundle::from_pem("again", b.pem().as_bytes()).unwrap();
        assert_eq!(again.ders(), b.ders());
        assert_eq!(format!("{b:?}"), "CaBundle(test: 2 certificate(s))");
    }

    #[test]
    fn a_file_setting_names_the_variable_on_every_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let (text, key, ok) = (
            dir.path().join("text"),
            dir.path().join("key"),
            dir.path().join("ok.pem"),
        );
        std::fs::write(&text, "hello").unwrap();
        // A key-shaped PEM block (placeholder bytes, no key), its label built here so that no
        // key marker sits in the library source.
        let label = ["PRIVATE", "KEY"].join(" ");
        std::fs::write(
            &key,
            format!("-----BEGIN {label}-----\nAAAA\n-----END {label}-----\n"),
        )
        .unwrap();
        std::fs::write(&ok, CA).unwrap();
        let get = |p: &Path| {
            ca_file_setting(
                &env(&[(HARNESS_CA_PATH, p.to_str().unwrap())]),
                HARNESS_CA_PATH,
            )
        };
        for (path, why) in [
            (dir.path().join("missing"), "cannot read"),
            (text.clone(), "holds no PEM certificate"),
            (key.clone(), "holds no PEM certificate"),
        ] {
            let line = refusal(get(&path));
            assert!(line.starts_with("HARNESS_CA_PATH: "), "{line}");
            assert!(line.contains(why) && !line.contains('\n'), "{line}");
        }
        assert_eq!(get(&ok).unwrap().unwrap().len(), 1);
        // Unset or blank: nothing to trust, no error.
        assert!(
            ca_file_setting(&env(&[]), HARNESS_CA_PATH)
                .unwrap()
                .is_none()
        );
        assert!(
            ca_file_setting(&env(&[(HARNESS_CA_PATH, " ")]), HARNESS_CA_PATH)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_garbled_certificate_is_refused_not_passed_on() {
        let garbled = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = CaBundle::from_pem("x", garbled.as_bytes()).unwrap_err();
        assert!(matches!(e, CaError::Unusable { .. }), "{e:?}");
    }

    #[test]
    fn pem_settings_take_contents_escaped_or_a_file_and_refuse_both_for_nexus() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), CA).unwrap();
        let escaped = CA.replace('\n', "\\n");
        for contents in [CA, escaped.as_str()] {
            let b = pem_settings(contents, "", dir.path(), BothPem::Conflict).unwrap();
            assert_eq!(b.map(|b| b.len()), Some(1));
        }
        let b = pem_settings("", "ca.pem", dir.path(), BothPem::Conflict).unwrap();
        assert_eq!(b.map(|b| b.len()), Some(1));
        assert!(
            pem_settings("", "", dir.path(), BothPem::Conflict)
                .unwrap()
                .is_none()
        );
        let line = refusal(pem_settings(CA, "ca.pem", dir.path(), BothPem::Conflict));
        assert!(line.contains("cannot be used together"), "{line}");
        // jfrog: the contents win, the file is not read.
        let b = pem_settings(CA, "missing.pem", dir.path(), BothPem::ContentsFirst).unwrap();
        assert!(b.is_some());
        let line = refusal(pem_settings(
            "",
            "missing.pem",
            dir.path(),
            BothPem::ContentsFirst,
        ));
        assert!(
            line.starts_with("PLUGIN_PEM_FILE_PATH: cannot read"),
            "{line}"
        );
        let line = refusal(pem_settings("nope", "", dir.path(), BothPem::ContentsFirst));
        assert!(line.starts_with("PLUGIN_PEM_FILE_CONTENTS: "), "{line}");
    }

    #[test]
    fn certs_d_gets_one_file_per_registry_and_keeps_an_existing_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CaBundle::from_pem("harness", CA.as_bytes()).unwrap();
        let existing = dir.path().join("registry.corp:5000/ca.crt");
        std::fs::create_dir_all(existing.parent().unwrap()).unwrap();
        std::fs::write(&existing, "kept").unwrap();
        let hosts: Vec<String> = ["registry.corp:5000", "mirror.corp", "../etc", "a/b", ""]
            .map(String::from)
            .into();
        let guard = write_certs_d_for(dir.path(), &hosts, &ca).unwrap();
        let written = guard.files().to_vec();
        assert_eq!(
            written,
            vec![
                dir.path().join("registry.corp:5000/harness-ca.crt"),
                dir.path().join("mirror.corp/harness-ca.crt"),
            ]
        );
        for f in &written {
            let back = CaBundle::read(f).unwrap();
            assert_eq!(back.ders(), ca.ders());
        }
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "kept");
        assert!(!dir.path().join("etc").exists());
        // Dropped with the daemon: our files and the directories we made go, the rest stays.
        drop(guard);
        assert!(written.iter().all(|f| !f.exists()));
        assert!(!dir.path().join("mirror.corp").exists());
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "kept");
        assert_eq!(certs_d_host("docker.io"), "registry-1.docker.io");
        assert_eq!(certs_d_host("ghcr.io"), "ghcr.io");
    }
}
