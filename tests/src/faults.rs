//! A fault-injecting HTTP/1.1 proxy for the reliability tests: it sits between a plugin (or the
//! docker daemon) and a real service and, on a chosen fraction of requests (seeded, so a run can
//! be reproduced), answers 500/503/429, resets the connection before or in the middle of the
//! response, stalls, or truncates the response body. Everything else is forwarded untouched.
//!
//! It understands just enough HTTP to find request and response boundaries (Content-Length,
//! chunked, bodiless statuses), so faults hit individual requests on keep-alive connections.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `500 Internal Server Error`.
    Status500,
    /// `503 Service Unavailable`.
    Status503,
    /// `429 Too Many Requests`.
    Status429,
    /// Close the connection after reading the request, before any response byte.
    ResetBeforeResponse,
    /// Forward the request, send half the response body, close.
    ResetMidResponse,
    /// Read the request, say nothing for a while, close.
    Stall,
    /// Forward, but cut the response body short (with the full Content-Length announced).
    Truncate,
    /// Answer this status (e.g. a permanent 400 / 401 / 403) without forwarding. Not in
    /// [`ALL_FAULTS`]: a refusal is not a transient fault.
    Status(u16),
}

/// All the faults, for "any fault".
pub const ALL_FAULTS: &[Fault] = &[
    Fault::Status500,
    Fault::Status503,
    Fault::Status429,
    Fault::ResetBeforeResponse,
    Fault::ResetMidResponse,
    Fault::Stall,
    Fault::Truncate,
];

#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    faulted: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    /// Fraction of requests faulted, in millionths.
    fraction: AtomicU64,
    faults: Vec<Fault>,
    rng: Mutex<u64>,
    stall: Duration,
    /// Only requests whose first line contains this are faulted (empty: all).
    only: Mutex<String>,
    /// Faults forced on the next requests (those `only` lets through), before any random one.
    forced: Mutex<(u64, Option<Fault>)>,
    stats: Stats,
    stop: AtomicBool,
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` faulting `fraction` of requests with one of `faults`.
    pub fn start(upstream: SocketAddr, fraction: f64, faults: &[Fault], seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let shared = Arc::new(Shared {
            upstream,
            fraction: AtomicU64::new((fraction * 1e6) as u64),
            faults: faults.to_vec(),
            rng: Mutex::new(seed | 1),
            stall: Duration::from_secs(3),
            only: Mutex::new(String::new()),
            forced: Mutex::new((0, None)),
            stats: Stats::default(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        listener.set_nonblocking(true).expect("nonblocking");
        thread::spawn(move || {
            while !s.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let s = s.clone();
                        thread::spawn(move || {
                            let _ = serve(client, &s);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy { addr, shared }
    }

    /// Changes the fraction of faulted requests.
    pub fn set_fraction(&self, fraction: f64) {
        self.shared
            .fraction
            .store((fraction * 1e6) as u64, Ordering::Relaxed);
    }

    /// Faults only requests whose request line contains `needle` (e.g. `partNumber=`).
    pub fn only(&self, needle: &str) {
        *self.shared.only.lock().expect("only") = needle.to_string();
    }

    /// Faults exactly the next `n` requests (that [`FaultProxy::only`] lets through) with
    /// `fault`, whatever the fraction: "the first two token requests fail, the third works".
    pub fn fail_next(&self, n: u64, fault: Fault) {
        *self.shared.forced.lock().expect("forced") = (n, Some(fault));
    }

    /// (requests seen, requests faulted).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.shared.stats.requests.load(Ordering::Relaxed),
            self.shared.stats.faulted.load(Ordering::Relaxed),
        )
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

fn next_fault(s: &Shared, request_line: &str) -> Option<Fault> {
    let only = s.only.lock().expect("only").clone();
    if !only.is_empty() && !request_line.contains(&only) {
        return None;
    }
    {
        let mut forced = s.forced.lock().expect("forced");
        if forced.0 > 0 {
            forced.0 -= 1;
            return forced.1;
        }
    }
    let mut x = s.rng.lock().expect("rng");
    // xorshift64*: reproducible from the seed, good enough to spread faults.
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let roll = r % 1_000_000;
    (roll < s.fraction.load(Ordering::Relaxed))
        .then(|| s.faults[((r >> 32) as usize) % s.faults.len()])
}

/// A parsed message head.
struct Head {
    raw: Vec<u8>,
    first_line: String,
    content_length: Option<u64>,
    chunked: bool,
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut raw = Vec::new();
    let mut first_line = String::new();
    let mut content_length = None;
    let mut chunked = false;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        raw.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        if first_line.is_empty() {
            first_line = text;
            continue;
        }
        if text.is_empty() {
            break;
        }
        if let Some((k, v)) = text.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                content_length = v.parse().ok();
            } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
    }
    Ok(Some(Head {
        raw,
        first_line,
        content_length,
        chunked,
    }))
}

/// Reads a body per its head into `out` (None: until EOF).
fn read_body(
    r: &mut impl BufRead,
    head: &Head,
    until_eof: bool,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    if head.chunked {
        loop {
            let mut line = Vec::new();
            r.read_until(b'\n', &mut line)?;
            out.extend_from_slice(&line);
            let size = u64::from_str_radix(
                String::from_utf8_lossy(&line)
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or("0"),
                16,
            )
            .unwrap_or(0);
            if size == 0 {
                // Trailers, then the final empty line.
                loop {
                    let mut t = Vec::new();
                    r.read_until(b'\n', &mut t)?;
                    out.extend_from_slice(&t);
                    if t == b"\r\n" || t.is_empty() {
                        return Ok(());
                    }
                }
            }
            let mut chunk = vec![0u8; size as usize + 2];
            r.read_exact(&mut chunk)?;
            out.extend_from_slice(&chunk);
        }
    } else if let Some(n) = head.content_length {
        let start = out.len();
        out.resize(start + n as usize, 0);
        r.read_exact(&mut out[start..])
    } else if until_eof {
        r.read_to_end(out).map(|_| ())
    } else {
        Ok(())
    }
}

fn status_response(code: u16, reason: &str) -> Vec<u8> {
    format!("HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\ninjected fault {code}\n", 16 + code.to_string().len())
        .into_bytes()
}

fn serve(client: TcpStream, s: &Shared) -> std::io::Result<()> {
    let mut client_r = BufReader::new(client.try_clone()?);
    let mut client_w = client;
    let upstream = TcpStream::connect(s.upstream)?;
    let mut up_r = BufReader::new(upstream.try_clone()?);
    let mut up_w = upstream;
    loop {
        let Some(req) = read_head(&mut client_r)? else {
            return Ok(());
        };
        let mut body = Vec::new();
        read_body(&mut client_r, &req, false, &mut body)?;
        s.stats.requests.fetch_add(1, Ordering::Relaxed);
        let is_head = req.first_line.starts_with("HEAD ");
        let fault = next_fault(s, &req.first_line);
        if fault.is_some() {
            s.stats.faulted.fetch_add(1, Ordering::Relaxed);
        }
        match fault {
            Some(Fault::Status500) => {
                return client_w.write_all(&status_response(500, "Internal Server Error"));
            }
            Some(Fault::Status503) => {
                return client_w.write_all(&status_response(503, "Service Unavailable"));
            }
            Some(Fault::Status429) => {
                return client_w.write_all(&status_response(429, "Too Many Requests"));
            }
            Some(Fault::Status(code)) => {
                return client_w.write_all(&status_response(code, "Injected Refusal"));
            }
            Some(Fault::ResetBeforeResponse) => return client_w.shutdown(Shutdown::Both),
            Some(Fault::Stall) => {
                // Bounded: the stall ends, then the connection closes.
                let mut waited = Duration::ZERO;
                while waited < s.stall && !s.stop.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(100));
                    waited += Duration::from_millis(100);
                }
                return client_w.shutdown(Shutdown::Both);
            }
            _ => {}
        }
        up_w.write_all(&req.raw)?;
        up_w.write_all(&body)?;
        let Some(resp) = read_head(&mut up_r)? else {
            return Ok(());
        };
        let status: u16 = resp
            .first_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let bodiless = is_head || status == 204 || status == 304 || (100..200).contains(&status);
        let mut rbody = Vec::new();
        if !bodiless {
            read_body(
                &mut up_r,
                &resp,
                resp.content_length.is_none() && !resp.chunked,
                &mut rbody,
            )?;
        }
        match fault {
            Some(Fault::ResetMidResponse) => {
                client_w.write_all(&resp.raw)?;
                client_w.write_all(&rbody[..rbody.len() / 2])?;
                return client_w.shutdown(Shutdown::Both);
            }
            Some(Fault::Truncate) => {
                client_w.write_all(&resp.raw)?;
                let cut = rbody.len().saturating_sub(rbody.len() / 3 + 1);
                client_w.write_all(&rbody[..cut])?;
                return client_w.shutdown(Shutdown::Both);
            }
            _ => {
                client_w.write_all(&resp.raw)?;
                client_w.write_all(&rbody)?;
                client_w.flush()?;
            }
        }
    }
}
