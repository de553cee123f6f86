//! The registry client: the distribution API spoken directly, without a daemon. Used by the
//! daemonless push today, and by the native builder and the manifest plugin next.
//!
//! | module | owns |
//! |---|---|
//! | [`reference`](mod@reference) | image references: host, repository, tag, digest; Docker Hub's defaults |
//! | [`auth`] | registry credentials: `config.json`, credential helpers' output, logins |
//! | [`distribution`] | the daemonless push: an image tarball (`tarball.rs`: `docker save` or OCI layout, layers compressed in parallel) sent through the registry client (`client.rs`: challenges and tokens, origin-bound credentials, blobs, manifests) |
//! | [`spool`] | a layer compressed to a private file while its upload follows it |

pub mod auth;
pub mod distribution;
pub mod reference;
pub mod spool;
