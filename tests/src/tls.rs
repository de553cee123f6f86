//! TLS for the tests: a fresh throwaway CA with a server certificate for `127.0.0.1`/`localhost`
//! (made with the openssl CLI in a temporary directory, never committed, never installed in any
//! trust store), the rustls acceptor the HTTPS fixtures serve with, and [`TlsFront`], a
//! TLS-terminating TCP forwarder that puts HTTPS in front of any plain-HTTP fixture or service
//! (the Artifactory and Nexus fixtures, s3s-fs, the GCS emulator, the plain registry).
//!
//! A fresh CA per test, rather than the services' CA, because the services' CA is installed for
//! the registry (`/etc/docker/certs.d`): a certificate nothing on this machine trusts is the only
//! way to prove that a plugin trusts it through its setting and through nothing else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_rustls::rustls;

/// A throwaway CA and a server certificate it signed (SAN `IP:127.0.0.1`, `DNS:localhost`).
pub struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    /// Makes the CA (EC P-256, valid two days) and the server certificate. `name` goes into the
    /// CA's subject, so a failure names which CA was involved.
    pub fn new(name: &str) -> TestCa {
        let dir = tempfile::tempdir().expect("tls dir");
        let p = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let subject = format!("/CN=longshore throwaway CA {name}");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-sha256",
            "-days",
            "2",
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.crt"),
        ]);
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &p("server.key"),
            "-out",
            &p("server.csr"),
        ]);
        std::fs::write(
            dir.path().join("server.ext"),
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("server.ext");
        openssl(&[
            "x509",
            "-req",
            "-sha256",
            "-days",
            "2",
            "-in",
            &p("server.csr"),
            "-CA",
            &p("ca.crt"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-extfile",
            &p("server.ext"),
            "-out",
            &p("server.crt"),
        ]);
        TestCa { dir }
    }

    /// The CA certificate file (PEM).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The CA certificate, PEM text.
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.ca_path()).expect("read CA")
    }

    /// The directory holding `server.crt` and `server.key`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A rustls acceptor serving the server certificate.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        acceptor(
            &self.dir.path().join("server.crt"),
            &self.dir.path().join("server.key"),
        )
    }
}

/// A rustls acceptor for a PEM certificate chain and its key.
pub fn acceptor(cert: &Path, key: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .expect("server certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("server certificate PEM");
    let key = PrivateKeyDer::from_pem_file(key).expect("server key");
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

/// A TLS-terminating forwarder: accepts TLS on `127.0.0.1:<port>` with a [`TestCa`]'s server
/// certificate and relays the decrypted bytes to a plain TCP upstream. Only connections whose
/// handshake completed reach the upstream, so [`TlsFront::forwarded`] = 0 proves a client that
/// refused the certificate sent nothing. Stops when dropped.
pub struct TlsFront {
    /// `127.0.0.1:<port>`.
    pub addr: SocketAddr,
    handshakes: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsFront {
    /// Starts a forwarder to `upstream` serving `ca`'s server certificate.
    pub fn start(upstream: SocketAddr, ca: &TestCa) -> TlsFront {
        Self::spawn(upstream, ca, None)
    }

    /// Starts a forwarder to a TLS `upstream` whose certificate `upstream_ca` signed: the
    /// upstream sees TLS, so a registry writes `https://` upload locations (behind a plain
    /// forwarder it writes `http://` ones, which point at the TLS port).
    pub fn start_to_tls(upstream: SocketAddr, ca: &TestCa, upstream_ca: &Path) -> TlsFront {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(upstream_ca).expect("upstream CA") {
            roots.add(c.expect("upstream CA PEM")).expect("upstream CA");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Self::spawn(
            upstream,
            ca,
            Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
        )
    }

    fn spawn(
        upstream: SocketAddr,
        ca: &TestCa,
        to_tls: Option<tokio_rustls::TlsConnector>,
    ) -> TlsFront {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("front runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind front");
        let addr = listener.local_addr().expect("front addr");
        let acceptor = ca.acceptor();
        let handshakes = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (ok, bad) = (handshakes.clone(), failed.clone());
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, ok, bad) = (acceptor.clone(), ok.clone(), bad.clone());
                let to_tls = to_tls.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        bad.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    ok.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    match to_tls {
                        None => {
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                        }
                        Some(connector) => {
                            let name =
                                rustls::pki_types::ServerName::IpAddress(upstream.ip().into());
                            if let Ok(mut up) = connector.connect(name, up).await {
                                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                            }
                        }
                    }
                });
            }
        });
        TlsFront {
            addr,
            handshakes,
            failed,
            _runtime: runtime,
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Connections whose TLS handshake completed (each was relayed to the upstream).
    pub fn forwarded(&self) -> u64 {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// Connections whose handshake failed (the client refused the certificate, or spoke plain
    /// HTTP to the TLS port).
    pub fn refused(&self) -> u64 {
        self.failed.load(Ordering::SeqCst)
    }
}

/// The `host:port` of an `http://host:port` service URL, as a socket address.
pub fn socket_of(url: &str) -> SocketAddr {
    let hostport = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .trim_end_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    hostport
        .parse()
        .unwrap_or_else(|e| panic!("{url}: not an ip:port URL: {e}"))
}
