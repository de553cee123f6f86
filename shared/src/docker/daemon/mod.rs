//! Everything that talks to a Docker daemon through the Engine API (bollard), never the docker
//! CLI: starting our own dockerd, building (BuildKit or the legacy builder), pushing through the daemon, and the SSH agent a
//! build's `--ssh` uses.

pub mod build;
pub mod buildkit;
pub mod push;
pub mod ssh;
pub mod start;
