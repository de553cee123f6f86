//! Every end-to-end test in one test binary: each file is a module (`cargo test -p longshore-tests
//! --test e2e <module>::` runs one). One binary instead of one per file is one link instead of
//! fifteen in the release profile the suite runs in (tests/scripts/build.sh), which keeps
//! `.ci/run` inside its budget.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test, messages go to the test log, and the \
              harness reads its own knobs (LONGSHORE_*, CI) from the environment"
)]

mod acr;
mod buildkit;
mod compat;
mod docker;
mod docker_attacks;
mod ecr;
mod gcr;
mod gcs;
mod images;
mod jfrog;
mod nexus;
mod readme;
mod reliability;
mod reliability_cloud;
mod s3;
mod secrets;
mod tags;
mod tls;
mod upload_links;
