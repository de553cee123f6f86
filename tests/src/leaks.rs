//! The secrets leak check of the end-to-end tests. [`run_checked`] runs a plugin as a child with
//! recognisable secret values and reports every place where one of them, or one of its base64
//! forms, shows up:
//!
//! - the plugin's stdout and stderr (error messages included);
//! - the command line of any process on the machine while the step runs (`/proc/*/cmdline`,
//!   polled every few milliseconds: dockerd, ssh-agent, BuildKit's RUN containers…); the
//!   environment is not checked, it is how secrets legitimately arrive;
//! - files created or changed under `/tmp`, `$HOME`, the workspace and `/etc/docker`, and files
//!   named like credentials (`~/.docker/config.json`, `id_rsa`, …) appearing anywhere there;
//! - the step's temporary directory (`TMPDIR`, private to the run): every entry private while the
//!   step runs, nothing left after it, whether it succeeded or failed;
//! - processes the step started that outlive it.
//!
//! [`image_findings`] adds the built image: `docker history --no-trunc`, `docker image inspect`
//! and every byte of `docker save`.
//!
//! Findings name the secret and the form found, never the value. Runs are serialised by one
//! lock: the process and file checks look at the whole machine, so a finding must belong to the
//! one run in progress.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::{Plugin, Run, Services, docker_cli};

/// Files bigger than this are neither read nor scanned (images, swap, caches: not credentials).
pub const MAX_SCANNED_FILE: u64 = 8 << 20;
/// The services' own state (registry storage, logs): large, and written by the services.
const SERVICES_STATE: &str = "/tmp/longshore-services";
/// Toolchain caches in `$HOME` (over 250 000 files here, rewritten by concurrent cargo builds).
/// No plugin writes there; the plugin's own `HOME` is private to the run and fully walked.
const HOME_CACHES: &[&str] = &[".cargo", ".rustup", ".pyenv", ".npm"];
/// How often the process table is read while a step runs.
const POLL: Duration = Duration::from_millis(3);
/// File names that are credentials wherever they appear.
const CREDENTIAL_NAMES: &[&str] = &[
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".netrc",
    ".git-credentials",
    "application_default_credentials.json",
];
/// Path endings that are credential files (`~/.docker/config.json`, `~/.aws/credentials`).
const CREDENTIAL_PATHS: &[&str] = &[".docker/config.json", ".aws/credentials"];

static SERIAL: Mutex<()> = Mutex::new(());

/// The `user:password` string whose base64 is a registry login (`Authorization: Basic`, the
/// `auth` of a docker `config.json`, an ECR authorization token): pass it as a secret too.
pub fn login(user: &str, password: &str) -> String {
    format!("{user}:{password}")
}

/// The byte strings that betray a secret, each labelled with the secret's name and the form.
pub struct Needles {
    items: Vec<(String, Vec<u8>)>,
    /// Needle indexes by their first two bytes: one pass over a haystack finds them all.
    index: HashMap<[u8; 2], Vec<usize>>,
}

impl Needles {
    /// `secrets` are `(name, value)`; each value is looked for as is, in base64 (standard and
    /// URL-safe, with and without padding), and line by line when it has several lines (a PEM
    /// body line is enough to rebuild a key).
    pub fn new(secrets: &[(&str, &str)]) -> Needles {
        let mut items: Vec<(String, Vec<u8>)> = Vec::new();
        let mut push = |name: &str, form: &str, bytes: Vec<u8>| {
            if !items.iter().any(|(_, b)| *b == bytes) {
                items.push((format!("{name} ({form})"), bytes));
            }
        };
        for (name, value) in secrets {
            assert!(
                value.len() >= 8,
                "secret {name} is too short to be recognisable"
            );
            push(name, "as is", value.as_bytes().to_vec());
            for (form, engine) in [
                ("base64", &STANDARD),
                ("base64 without padding", &STANDARD_NO_PAD),
                ("URL-safe base64", &URL_SAFE),
                ("URL-safe base64 without padding", &URL_SAFE_NO_PAD),
            ] {
                push(name, form, engine.encode(value).into_bytes());
            }
            if value.contains('\n') {
                for line in value.lines().map(str::trim) {
                    if line.len() >= 20 && !line.starts_with("-----") {
                        push(name, "one of its lines", line.as_bytes().to_vec());
                    }
                }
            }
        }
        let mut index: HashMap<[u8; 2], Vec<usize>> = HashMap::new();
        for (i, (_, bytes)) in items.iter().enumerate() {
            index.entry([bytes[0], bytes[1]]).or_default().push(i);
        }
        Needles { items, index }
    }

    /// The labels of the needles found in `hay`.
    pub fn find(&self, hay: &[u8]) -> BTreeSet<String> {
        let mut hits = BTreeSet::new();
        for (i, pair) in hay.windows(2).enumerate() {
            if let Some(candidates) = self.index.get(pair) {
                for &n in candidates {
                    let (label, bytes) = &self.items[n];
                    if hay[i..].starts_with(bytes) {
                        hits.insert(label.clone());
                    }
                }
            }
        }
        hits
    }

    /// `text` with every needle replaced by `***`, to quote a command line in a report.
    pub fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (_, bytes) in &self.items {
            if let Ok(s) = std::str::from_utf8(bytes) {
                text = text.replace(s, "***");
            }
        }
        text
    }
}

/// What the process monitor saw while a step ran.
#[derive(Debug, Default)]
pub struct Observed {
    /// Secrets in command lines, and temporary entries that were not private.
    pub findings: BTreeSet<String>,
    /// Command lines (masked) of every process the watched one started, itself included.
    pub processes: BTreeSet<String>,
    /// Paths (relative) seen in the watched temporary directory.
    pub temp_seen: BTreeSet<String>,
    /// Descendants seen: pid and raw command line, to tell whether they outlive the step.
    pub descendants: BTreeMap<u32, Vec<u8>>,
    /// How many times the process table was read.
    pub polls: usize,
}

/// Polls `/proc/*/cmdline` (and a temporary directory) on a thread until stopped.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    root: Arc<AtomicU32>,
    thread: Option<std::thread::JoinHandle<Observed>>,
}

impl Monitor {
    /// Starts polling every process for `needles`; `temp` is a directory whose entries must stay
    /// private (directories 0700, files 0600) and are recorded.
    ///
    /// Processes already running, with the same command line, are not the step's: the local
    /// services are (s3s-fs takes its key on its command line). They are read once, here, before
    /// the step starts, and left out.
    pub fn start(needles: Arc<Needles>, temp: Option<PathBuf>) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let root = Arc::new(AtomicU32::new(0));
        let (st, rt) = (stop.clone(), root.clone());
        let mut state = PollState::default();
        for pid in pids() {
            if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
                state.cmdlines.insert(pid, cmd);
            }
        }
        let thread = std::thread::spawn(move || {
            loop {
                let last = st.load(Ordering::SeqCst);
                state.poll(&needles, rt.load(Ordering::SeqCst), temp.as_deref());
                if last {
                    break;
                }
                std::thread::sleep(POLL);
            }
            state.observed
        });
        Monitor {
            stop,
            root,
            thread: Some(thread),
        }
    }

    /// Records the processes `pid` starts (and `pid` itself).
    pub fn watch(&self, pid: u32) {
        self.root.store(pid, Ordering::SeqCst);
    }

    /// Stops after one last poll and returns what was seen.
    pub fn stop(mut self) -> Observed {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("monitor thread")
            .join()
            .expect("monitor thread panicked")
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct PollState {
    /// The last command line read per pid: unchanged ones are not scanned again (and those
    /// read before the step are never scanned).
    cmdlines: HashMap<u32, Vec<u8>>,
    parents: HashMap<u32, u32>,
    observed: Observed,
}

impl PollState {
    fn poll(&mut self, needles: &Needles, root: u32, temp: Option<&Path>) {
        self.observed.polls += 1;
        let mut alive = Vec::new();
        for pid in pids() {
            // A process that has just ended (or a kernel thread) has no command line.
            let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            alive.push(pid);
            if let std::collections::hash_map::Entry::Vacant(e) = self.parents.entry(pid)
                && let Some(ppid) = parent(pid)
            {
                e.insert(ppid);
            }
            if self.cmdlines.get(&pid) == Some(&cmd) {
                continue;
            }
            let hits = needles.find(&cmd);
            if !hits.is_empty() {
                let shown = needles.mask(&cmdline_text(&cmd));
                for hit in hits {
                    self.observed.findings.insert(format!(
                        "command line of process {pid} `{}`: {hit}",
                        truncate(&shown, 160)
                    ));
                }
            }
            self.cmdlines.insert(pid, cmd);
        }
        if root != 0 {
            // Descendants: pids whose parent chain reaches the watched process.
            let mut tree: BTreeSet<u32> = BTreeSet::from([root]);
            loop {
                let before = tree.len();
                for &pid in &alive {
                    if self.parents.get(&pid).is_some_and(|p| tree.contains(p)) {
                        tree.insert(pid);
                    }
                }
                if tree.len() == before {
                    break;
                }
            }
            for pid in tree {
                // An empty command line is a process being reaped (a zombie): nothing to record.
                if let Some(cmd) = self.cmdlines.get(&pid).filter(|c| !c.is_empty()) {
                    self.observed
                        .processes
                        .insert(truncate(&needles.mask(&cmdline_text(cmd)), 200));
                    self.observed.descendants.insert(pid, cmd.clone());
                }
            }
        }
        if let Some(temp) = temp {
            self.check_temp(temp);
        }
    }

    /// Every directory in the temporary directory is 0700 and every file in it 0600 (the
    /// BuildKit secret files, the ssh-agent socket, the daemon log): credential files are
    /// private from the moment they exist.
    fn check_temp(&mut self, temp: &Path) {
        for (path, meta) in walk(temp, &[]) {
            let rel = path
                .strip_prefix(temp)
                .unwrap_or(&path)
                .display()
                .to_string();
            let mode = meta.mode() & 0o777;
            let private = if meta.is_dir() {
                mode & 0o077 == 0
            } else {
                mode & 0o177 == 0
            };
            // Only the top level and credential-looking files must be private themselves: inside
            // a 0700 directory nobody else can reach a file whatever its mode.
            let top = path.parent() == Some(temp);
            let credential = rel.contains("secret") || meta.file_type().is_socket();
            if !private && (top || credential) {
                self.observed.findings.insert(format!(
                    "temporary entry {rel} is not private while the step runs (mode {mode:o})"
                ));
            }
            self.observed.temp_seen.insert(rel);
        }
    }
}

/// The pids in `/proc`.
fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// The fields of `/proc/<pid>/stat` after `pid (comm)` (comm may hold spaces and parentheses):
/// state, ppid, …
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

fn state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

fn cmdline_text(cmd: &[u8]) -> String {
    String::from_utf8_lossy(cmd)
        .trim_end_matches('\0')
        .replace('\0', " ")
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Every entry under `root` (not following symlinks), without the `skip` subtrees.
fn walk(root: &Path, skip: &[PathBuf]) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if skip.contains(&path) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path.clone());
            }
            out.push((path, meta));
        }
    }
    out
}

/// What identifies a version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    file: bool,
    len: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// The entries under some roots, to tell which ones a step created or changed.
pub struct Snapshot {
    entries: BTreeMap<PathBuf, Stamp>,
}

impl Snapshot {
    /// Walks `roots` (a root inside another one is walked once), skipping the services' state
    /// and the toolchain caches of `$HOME`.
    pub fn take(roots: &[PathBuf]) -> Snapshot {
        let mut skip = vec![PathBuf::from(SERVICES_STATE)];
        if let Ok(home) = std::env::var("HOME") {
            skip.extend(HOME_CACHES.iter().map(|c| Path::new(&home).join(c)));
        }
        let roots: Vec<PathBuf> = roots
            .iter()
            .map(|r| r.canonicalize().unwrap_or_else(|_| r.clone()))
            .collect();
        let mut entries = BTreeMap::new();
        for (i, root) in roots.iter().enumerate() {
            let inside_another = roots
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && root.starts_with(other) && (root != other || j < i));
            if inside_another {
                continue;
            }
            for (path, meta) in walk(root, &skip) {
                entries.insert(
                    path,
                    Stamp {
                        file: meta.is_file(),
                        len: meta.len(),
                        ino: meta.ino(),
                        mtime: (meta.mtime(), meta.mtime_nsec()),
                        ctime: (meta.ctime(), meta.ctime_nsec()),
                    },
                );
            }
        }
        Snapshot { entries }
    }

    /// Findings in what changed from `self` to `after`: secrets in new or changed files (up to
    /// [`MAX_SCANNED_FILE`]), and new files named like credentials.
    pub fn findings(&self, after: &Snapshot, needles: &Needles) -> BTreeSet<String> {
        let mut findings = BTreeSet::new();
        for (path, stamp) in &after.entries {
            let before = self.entries.get(path);
            if before == Some(stamp) {
                continue;
            }
            let text = path.display().to_string();
            if before.is_none()
                && (path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| CREDENTIAL_NAMES.contains(&n))
                    || CREDENTIAL_PATHS.iter().any(|p| text.ends_with(p)))
            {
                findings.insert(format!("a credential file appeared: {text}"));
            }
            if !stamp.file || stamp.len > MAX_SCANNED_FILE {
                continue;
            }
            // A file removed or unreadable since the walk has nothing left to leak.
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            for hit in needles.find(&bytes) {
                findings.insert(format!("file {text}: {hit}"));
            }
        }
        findings
    }
}

/// A checked run: the run, and everything the checks found and saw.
#[derive(Debug)]
pub struct Checked {
    /// The run.
    pub run: Run,
    /// Every leak found (empty when none), each naming where, which secret and which form.
    pub findings: Vec<String>,
    /// Command lines (masked) of the plugin and every process it started.
    pub processes: BTreeSet<String>,
    /// Entries seen in the step's private `TMPDIR` while it ran.
    pub temp_seen: BTreeSet<String>,
}

impl Checked {
    /// True when one of the processes the plugin started had `part` in its command line.
    pub fn started(&self, part: &str) -> bool {
        self.processes.iter().any(|p| p.contains(part))
    }

    /// True when an entry of the temporary directory contained `part` in its path.
    pub fn saw_temp(&self, part: &str) -> bool {
        self.temp_seen.iter().any(|p| p.contains(part))
    }
}

/// [`check`], as `(run, findings)`.
pub fn run_checked(plugin: Plugin, secrets: &[(&str, &str)], workdir: &Path) -> (Run, Vec<String>) {
    let c = check(plugin, secrets, workdir);
    (c.run, c.findings)
}

/// Runs `plugin` (in `workdir`) with a private `HOME` and `TMPDIR`, as a fresh step container
/// has them, and checks everything listed in the module documentation for `secrets`.
pub fn check(plugin: Plugin, secrets: &[(&str, &str)], workdir: &Path) -> Checked {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let needles = Arc::new(Needles::new(secrets));
    let scratch = tempfile::Builder::new()
        .prefix("longshore-leaks-")
        .tempdir()
        .expect("scratch dir");
    let (home, tmp) = (scratch.path().join("home"), scratch.path().join("tmp"));
    for d in [&home, &tmp] {
        std::fs::create_dir(d).expect("mkdir");
    }
    let mut roots = vec![
        PathBuf::from("/tmp"),
        workdir.to_path_buf(),
        PathBuf::from("/etc/docker"),
        scratch.path().to_path_buf(),
    ];
    if let Ok(h) = std::env::var("HOME") {
        roots.push(PathBuf::from(h));
    }
    let before = Snapshot::take(&roots);

    let monitor = Monitor::start(needles.clone(), Some(tmp.clone()));
    let child = plugin.env("HOME", &home).env("TMPDIR", &tmp).spawn();
    monitor.watch(child.id());
    let out = child.wait_with_output().expect("wait for the plugin");
    let observed = monitor.stop();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };

    let mut findings: BTreeSet<String> = observed.findings.clone();
    for hit in needles.find(run.stdout.as_bytes()) {
        findings.insert(format!("stdout: {hit}"));
    }
    for hit in needles.find(run.stderr.as_bytes()) {
        findings.insert(format!("stderr: {hit}"));
    }
    for left in outliving(&observed.descendants) {
        findings.insert(format!(
            "process left running after the step: `{}`",
            truncate(&needles.mask(&left), 160)
        ));
    }
    for (path, _) in walk(&tmp, &[]) {
        let rel = path
            .strip_prefix(&tmp)
            .unwrap_or(&path)
            .display()
            .to_string();
        findings.insert(format!("left in the step's TMPDIR after the step: {rel}"));
    }
    let after = Snapshot::take(&roots);
    findings.extend(before.findings(&after, &needles));
    Checked {
        run,
        findings: findings.into_iter().collect(),
        processes: observed.processes,
        temp_seen: observed.temp_seen,
    }
}

/// The command lines of the descendants still running (after a grace period of one second:
/// a process killed as the step ends takes a moment to go).
fn outliving(descendants: &BTreeMap<u32, Vec<u8>>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let left: Vec<String> = descendants
            .iter()
            .filter(|(pid, cmd)| {
                // Same command line (not a reused pid) and not a zombie waiting to be reaped.
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|now| now == **cmd)
                    && state(**pid).is_some_and(|st| st != 'Z' && st != 'X')
            })
            .map(|(_, cmd)| cmdline_text(cmd))
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Leaks in a local image: `docker history --no-trunc`, `docker image inspect` (labels, env,
/// build args) and every byte of `docker save` (layers and config). Removes the image.
pub fn image_findings(s: &Services, image: &str, secrets: &[(&str, &str)]) -> Vec<String> {
    let needles = Needles::new(secrets);
    let mut findings = BTreeSet::new();
    let history = docker_cli(s, &["history", "--no-trunc", image]);
    history.assert_success();
    for hit in needles.find(history.stdout.as_bytes()) {
        findings.insert(format!("docker history of {image}: {hit}"));
    }
    let inspect = docker_cli(s, &["image", "inspect", image]);
    inspect.assert_success();
    for hit in needles.find(inspect.stdout.as_bytes()) {
        findings.insert(format!("docker image inspect of {image}: {hit}"));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = dir.path().join("image.tar");
    docker_cli(s, &["save", "-o", tar.to_str().expect("utf-8 path"), image]).assert_success();
    let bytes = std::fs::read(&tar).expect("read the saved image");
    assert!(
        bytes.windows(13).any(|w| w == b"manifest.json"),
        "not a docker save tarball"
    );
    for hit in needles.find(&bytes) {
        findings.insert(format!("docker save of {image} (layers, config): {hit}"));
    }
    docker_cli(s, &["rmi", "-f", image]);
    findings.into_iter().collect()
}
