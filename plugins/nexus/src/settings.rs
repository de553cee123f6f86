//! The settings of the Nexus publish plugin (reference upload-plugins §7.1), every variable of
//! the anchor, plus what it lacked: globs over many files (`source`), the direct-PUT API,
//! generate-pom / packaging, custom CA / insecure TLS, retries, concurrency, outputs.

use longshore_core::secret::Secret;
use longshore_core::settings::GlobList;

longshore_core::settings! {
    /// What the Nexus publish plugin reads.
    pub struct NexusSettings {
        /// Nexus base URL (`https://nexus.example.com`, with a context path if any). Without a scheme, `protocol` is put in front (the anchor's multi-file form).
        server_url: String = "", from ["PLUGIN_SERVER_URL"];
        /// Scheme for a `server_url` without one: `http` or `https`.
        protocol: String = "https", from ["PLUGIN_PROTOCOL"];
        /// User name (Basic auth; a user token's name code works too).
        username: String = "", from ["PLUGIN_USERNAME"];
        /// Password (or a user token's pass code).
        password: Secret = "", from ["PLUGIN_PASSWORD"];
        /// Repository name.
        repository: String = "", from ["PLUGIN_REPOSITORY"];
        /// Repository format: `maven2`, `raw`, `yum`, or a single-file format of the components API (`pypi`, `helm`, `npm`, `nuget`, `rubygems`, `r`, `apt`, `docker`).
        format: String = "maven2", from ["PLUGIN_FORMAT"];
        /// `nexus3` (or `3`) or `nexus2` (or `2`); anything else is an error.
        nexus_version: String = "nexus3", from ["PLUGIN_NEXUS_VERSION"];
        /// How to upload to Nexus 3: `components` (the components API, one request per component with up to 3 assets) or `put` (direct PUT to the repository path; hosted raw and maven2). Nexus 2 always uses PUT. Default: `components` on Nexus 3.
        api: String = "", from ["PLUGIN_API"];
        /// Single-file mode: the file to upload (with `attributes`).
        filename: String = "", from ["PLUGIN_FILENAME"];
        /// Single-file mode: `-CgroupId=… -CartifactId=… -Cversion=… -Aextension=… [-Aclassifier=…]`.
        attributes: String = "", from ["PLUGIN_ATTRIBUTES"];
        /// Default groupId of `artifacts` (for raw: the directory).
        group_id: String = "", from ["PLUGIN_GROUP_ID"];
        /// Many-file mode: a JSON list of `{file, groupId, artifactId, version, type, classifier}` (file, artifactId, version and type required; groupId defaults to `group_id`). Artifacts with the same coordinates form one component.
        artifacts: String = "", from ["PLUGIN_ARTIFACTS"];
        /// Glob mode (raw, yum and single-file formats): files to upload, globs or paths (comma list, where a comma inside `{}` does not split, or JSON array; a directory uploads its files).
        source: GlobList = "", from ["PLUGIN_SOURCE"];
        /// Glob mode: globs of files not to upload (a comma inside `{}` does not split).
        exclude: GlobList = "", from ["PLUGIN_EXCLUDE"];
        /// Glob mode: the repository directory to upload under.
        target: String = "", from ["PLUGIN_TARGET"];
        /// Glob mode: prefix removed from local paths before they become repository paths (as in longshore-s3).
        strip_prefix: String = "", from ["PLUGIN_STRIP_PREFIX"];
        /// maven2, components API: let Nexus generate a POM (not with a `pom` asset).
        generate_pom: bool = "false", from ["PLUGIN_GENERATE_POM"];
        /// maven2, components API: the packaging of a generated POM (`jar`, `war`, …).
        packaging: String = "", from ["PLUGIN_PACKAGING"];
        /// PEM certificate(s) of a custom CA to trust (the content).
        pem_file_contents: String = "", from ["PLUGIN_PEM_FILE_CONTENTS"];
        /// Path of a PEM file of a custom CA to trust.
        pem_file_path: String = "", from ["PLUGIN_PEM_FILE_PATH"];
        /// Do not verify the server's TLS certificate.
        insecure: bool = "false", from ["PLUGIN_INSECURE", "PLUGIN_SKIP_VERIFY"];
        /// Retries of a request after a transient failure (connection error, timeout, 408, 429, 5xx), with exponential backoff and jitter.
        retries: u32 = "4", from ["PLUGIN_RETRIES"];
        /// Requests (files or components) in flight at once.
        concurrency: usize = "4", from ["PLUGIN_CONCURRENCY", "PLUGIN_THREADS"];
        /// Print what would be uploaded where, and upload nothing.
        dry_run: bool = "false", from ["PLUGIN_DRY_RUN"];
        /// Where to write the Harness artifact file (`fileUpload/v1`, one URL per asset).
        artifact_file: String = "", from ["PLUGIN_ARTIFACT_FILE"];
        /// Accepted for compatibility (`debug`, `trace`); `PLUGIN_DEBUG=true` gives the detail.
        log_level: String = "", from ["PLUGIN_LOG_LEVEL"];
    }
}
