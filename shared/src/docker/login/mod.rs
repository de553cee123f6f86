//! The registry logins of the cloud plugins, each turning its settings into registry
//! credentials, and the one [`flow`] every registry plugin runs through (plan, login, build,
//! push, outputs).

#[cfg(feature = "acr")]
pub mod acr;
#[cfg(feature = "ecr")]
pub mod ecr;
pub mod flow;
#[cfg(feature = "gcp")]
pub mod gcp;
