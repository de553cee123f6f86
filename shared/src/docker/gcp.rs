//! (in progress) The gcp credential flow of the registry plugins.
