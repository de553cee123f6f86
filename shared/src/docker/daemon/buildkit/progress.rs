//! BuildKit's status stream as CI log lines, in the shape of buildx's plain progress: `#N name`
//! when a step starts, its output as `#N line`, then `#N CACHED` or `#N DONE 1.2s` (or the error).
//! Every line goes through the masked log writer like any other. The last output lines of each
//! step are kept, so a failure can be reported with the output that explains it.

use std::collections::{HashMap, VecDeque};

use bollard_buildkit_proto::moby::buildkit::v1::{StatusResponse, Vertex, VertexLog};
use tracing::{debug, info, warn};

/// Output lines kept per step for the failure report.
const TAIL_LINES: usize = 10;

/// The longest output line printed; a longer one is cut (a minified file `cat`ed by a RUN).
const MAX_LINE: usize = 4096;

/// What the status stream has shown so far.
#[derive(Default)]
pub struct Progress {
    quiet: bool,
    steps: HashMap<String, Step>,
    /// Step digests in the order they were first seen.
    order: Vec<String>,
}

#[derive(Default)]
struct Step {
    number: usize,
    name: String,
    started: bool,
    done: bool,
    error: String,
    /// A line not yet ended by a newline.
    partial: String,
    tail: VecDeque<String>,
}

/// The step a failed build stopped at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedStep {
    /// `[2/3] RUN make`.
    pub name: String,
    /// BuildKit's error for it.
    pub error: String,
    /// Its last output lines.
    pub tail: Vec<String>,
}

impl FailedStep {
    /// The exit code in the error (`… exit code: 3`), when it is a command that failed.
    pub fn exit_code(&self) -> Option<i64> {
        let (_, after) = self.error.rsplit_once("exit code: ")?;
        after
            .split(|c: char| !c.is_ascii_digit() && c != '-')
            .next()?
            .parse()
            .ok()
    }
}

impl Progress {
    /// `quiet` keeps the steps' output out of the log (it is still kept for a failure report).
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            ..Self::default()
        }
    }

    /// Logs what one status message adds.
    pub fn update(&mut self, status: StatusResponse) {
        for v in status.vertexes {
            self.vertex(v);
        }
        for l in status.logs {
            self.log(l);
        }
        for w in status.warnings {
            let n = self.step(&w.vertex).number;
            warn!("#{n} {}", String::from_utf8_lossy(&w.short).trim_end());
        }
    }

    /// The first step that ended with an error (BuildKit cancels the others, and says so).
    pub fn failed_step(&self) -> Option<FailedStep> {
        let failed = |s: &&Step| !s.error.is_empty();
        let mut errors = self.order.iter().map(|d| &self.steps[d]).filter(failed);
        let all: Vec<&Step> = errors.by_ref().collect();
        let step = all
            .iter()
            .find(|s| !s.error.contains("context canceled"))
            .or(all.first())?;
        let mut tail: Vec<String> = step.tail.iter().cloned().collect();
        if !step.partial.is_empty() {
            tail.push(step.partial.clone());
        }
        Some(FailedStep {
            name: step.name.clone(),
            error: step.error.clone(),
            tail,
        })
    }

    fn step(&mut self, digest: &str) -> &mut Step {
        let order = &mut self.order;
        self.steps.entry(digest.to_string()).or_insert_with(|| {
            order.push(digest.to_string());
            Step {
                number: order.len(),
                ..Step::default()
            }
        })
    }

    fn vertex(&mut self, v: Vertex) {
        let quiet = self.quiet;
        let step = self.step(&v.digest);
        if !v.name.is_empty() {
            step.name = v.name.clone();
        }
        let n = step.number;
        // BuildKit's own bookkeeping steps are noise in a CI log unless something is wrong.
        let internal = step.name.starts_with("[internal]") || step.name.starts_with("[auth]");
        let say = |line: String| {
            if quiet || internal {
                debug!("{line}");
            } else {
                info!("{line}");
            }
        };
        if v.started.is_some() && !step.started {
            step.started = true;
            say(format!("#{n} {}", step.name));
        }
        if v.completed.is_none() || step.done {
            return;
        }
        step.done = true;
        if !v.error.is_empty() {
            step.error = v.error.clone();
            if !v.error.contains("context canceled") {
                warn!("#{n} ERROR: {}", v.error);
            }
        } else if v.cached {
            say(format!("#{n} CACHED"));
        } else {
            let secs = match (&v.started, &v.completed) {
                (Some(a), Some(b)) => {
                    (b.seconds - a.seconds) as f64 + f64::from(b.nanos - a.nanos) / 1e9
                }
                _ => 0.0,
            };
            say(format!("#{n} DONE {secs:.1}s"));
        }
    }

    fn log(&mut self, l: VertexLog) {
        let quiet = self.quiet;
        let step = self.step(&l.vertex);
        let n = step.number;
        step.partial.push_str(&String::from_utf8_lossy(&l.msg));
        while let Some(end) = step.partial.find('\n') {
            let raw: String = step.partial.drain(..=end).collect();
            // A progress bar redraws its line with \r: its last state is the line.
            let line = raw.trim_end().rsplit('\r').next().unwrap_or("");
            let line = crate::files::excerpt(line, MAX_LINE);
            if !quiet {
                info!("#{n} {line}");
            }
            if step.tail.len() == TAIL_LINES {
                step.tail.pop_front();
            }
            step.tail.push_back(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_buildkit_proto::google::protobuf::Timestamp;

    fn vertex(digest: &str, name: &str, done: bool, error: &str) -> Vertex {
        Vertex {
            digest: digest.into(),
            name: name.into(),
            started: Some(Timestamp {
                seconds: 10,
                nanos: 0,
            }),
            completed: done.then_some(Timestamp {
                seconds: 12,
                nanos: 0,
            }),
            error: error.into(),
            ..Vertex::default()
        }
    }

    fn log(digest: &str, msg: &str) -> VertexLog {
        VertexLog {
            vertex: digest.into(),
            msg: msg.as_bytes().to_vec(),
            ..VertexLog::default()
        }
    }

    #[test]
    fn a_failed_step_keeps_its_last_lines_and_its_exit_code() {
        let mut p = Progress::new(true);
        p.update(StatusResponse {
            vertexes: vec![vertex("a", "[2/3] RUN make", false, "")],
            logs: vec![log("a", "compiling\nerror: no\rerror: nope\npart")],
            ..StatusResponse::default()
        });
        p.update(StatusResponse {
            vertexes: vec![
                vertex("b", "[3/3] COPY x /", true, "context canceled"),
                vertex(
                    "a",
                    "[2/3] RUN make",
                    true,
                    "executor failed running [/bin/sh -c make]: exit code: 3",
                ),
            ],
            ..StatusResponse::default()
        });
        let f = p.failed_step().unwrap();
        assert_eq!(f.name, "[2/3] RUN make");
        assert_eq!(f.exit_code(), Some(3));
        assert_eq!(f.tail, ["compiling", "error: nope", "part"]);
    }

    #[test]
    fn only_the_last_lines_are_kept() {
        let mut p = Progress::new(true);
        let text: String = (0..25).map(|i| format!("line {i}\n")).collect();
        p.update(StatusResponse {
            vertexes: vec![vertex("a", "[1/1] RUN x", true, "exit code: 1")],
            logs: vec![log("a", &text)],
            ..StatusResponse::default()
        });
        let f = p.failed_step().unwrap();
        assert_eq!(f.tail.len(), TAIL_LINES);
        assert_eq!(f.tail.last().unwrap(), "line 24");
    }
}
