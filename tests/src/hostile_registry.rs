//! A registry that attacks its client, for the security tests: it speaks just enough of the
//! distribution API (`/v2/` answers, blobs are missing, uploads start) to lead a daemonless push
//! to the point of attack, then sends the upload to another host, or answers with an enormous
//! error body. Every request it and its accomplice receive is recorded with whether it carried
//! an `Authorization` header.

use std::io::Read as _;
use std::sync::{Arc, Mutex};

use tiny_http::{Header, Response, Server};

/// What the registry does when an upload is started.
#[derive(Clone, Copy)]
pub enum Attack {
    /// `Location:` on the accomplice's host (plain HTTP on 127.0.0.2), which refuses the bytes.
    ForeignLocation,
    /// `400` with this many bytes of body.
    HugeError(u64),
}

/// One request seen: method, path, whether credentials came with it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PATCH`…
    pub method: String,
    /// The path and query.
    pub url: String,
    /// An `Authorization` header was sent.
    pub authorized: bool,
}

/// The running registry and its accomplice.
pub struct HostileRegistry {
    /// `127.0.0.1:<port>`, for `PLUGIN_REPO`.
    pub addr: String,
    /// What the registry saw.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// What the accomplice (the foreign upload host) saw.
    pub accomplice_seen: Arc<Mutex<Vec<Seen>>>,
}

impl HostileRegistry {
    /// Starts both servers on loopback; they live as long as the test process.
    pub fn start(attack: Attack) -> HostileRegistry {
        let accomplice = Server::http("127.0.0.2:0").expect("bind 127.0.0.2");
        let accomplice_addr = accomplice.server_addr().to_ip().expect("ip").to_string();
        let accomplice_seen = Arc::new(Mutex::new(Vec::new()));
        let log = accomplice_seen.clone();
        std::thread::spawn(move || {
            for mut req in accomplice.incoming_requests() {
                record(&log, &mut req);
                let _ = req.respond(Response::from_string("no").with_status_code(400));
            }
        });
        let server = Server::http("127.0.0.1:0").expect("bind");
        let addr = server.server_addr().to_ip().expect("ip").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for mut req in server.incoming_requests() {
                let s = record(&log, &mut req);
                let _ = answer(req, &s, attack, &accomplice_addr);
            }
        });
        HostileRegistry {
            addr,
            seen,
            accomplice_seen,
        }
    }
}

fn record(log: &Mutex<Vec<Seen>>, req: &mut tiny_http::Request) -> Seen {
    let s = Seen {
        method: req.method().to_string(),
        url: req.url().to_string(),
        authorized: req.headers().iter().any(|h| h.field.equiv("Authorization")),
    };
    // Drain the body so the client's write completes.
    let _ = std::io::copy(&mut req.as_reader().take(1 << 30), &mut std::io::sink());
    log.lock().unwrap().push(s.clone());
    s
}

fn answer(
    req: tiny_http::Request,
    s: &Seen,
    attack: Attack,
    accomplice: &str,
) -> std::io::Result<()> {
    let header = |k: &str, v: &str| Header::from_bytes(k, v).expect("header");
    if s.url == "/v2/" {
        return req.respond(Response::from_string("{}").with_status_code(200));
    }
    if s.method == "POST" && s.url.contains("/blobs/uploads/") {
        return match attack {
            Attack::ForeignLocation => req.respond(
                Response::from_string("")
                    .with_status_code(202)
                    .with_header(header("Location", &format!("http://{accomplice}/upload/1"))),
            ),
            Attack::HugeError(n) => req.respond(Response::new(
                400.into(),
                vec![header("Content-Type", "text/plain")],
                std::io::repeat(b'x').take(n),
                Some(n as usize),
                None,
            )),
        };
    }
    req.respond(Response::from_string("").with_status_code(404))
}
