//! (in progress) The ecr credential flow of the registry plugins.
