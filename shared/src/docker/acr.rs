//! (in progress) The acr credential flow of the registry plugins.
