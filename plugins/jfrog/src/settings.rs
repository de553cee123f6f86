//! The settings of `plugins/artifactory`'s upload path (reference upload-plugins §6.1), with
//! the anchor's names, plus the jf flags users reach for (recursive, exclusions, fail-no-op)
//! and what the upload engine adds (dry run, skip unchanged, artifact file).

use longshore_core::secret::Secret;

longshore_core::settings! {
    /// What `longshore-jfrog` reads.
    pub struct JfrogSettings {
        /// Artifactory URL: `https://host/artifactory/` (the target then starts with the repository) or a URL that already holds a repository and folders (`https://host/artifactory/libs-release/app/`); the target is appended to it.
        url: String = "", from ["PLUGIN_URL"];
        /// User name, with `PLUGIN_PASSWORD`: Basic auth (auth priority 1, as the anchor's).
        username: String = "", from ["PLUGIN_USERNAME"];
        /// Password (or an access / reference token) for `PLUGIN_USERNAME`.
        password: Secret = "", from ["PLUGIN_PASSWORD"];
        /// Legacy API key, sent as `X-JFrog-Art-Api` (auth priority 2; API keys are end-of-life).
        api_key: Secret = "", from ["PLUGIN_API_KEY"];
        /// Access or identity token, sent as `Authorization: Bearer` (auth priority 3). One of the three logins is required.
        access_token: Secret = "", from ["PLUGIN_ACCESS_TOKEN"];
        /// Files to upload: a jf wildcard pattern (`*` crosses directories, a trailing `/` means everything under, `(…)` groups feed `{1}` in the target). Required unless `PLUGIN_SPEC` is set.
        source: String = "", from ["PLUGIN_SOURCE"];
        /// `repo/path/` (a folder: the file name or relative path is appended) or `repo/path/file` (the exact artifact path). Required unless `PLUGIN_SPEC` is set.
        target: String = "", from ["PLUGIN_TARGET"];
        /// Under a folder target, only the file name (not the relative path).
        flat: bool = "false", from ["PLUGIN_FLAT"];
        /// Match files in sub-directories of the pattern's folder (jf's `--recursive`).
        recursive: bool = "true", from ["PLUGIN_RECURSIVE"];
        /// Patterns of files not to upload, `;`- or comma-separated (jf's `--exclusions`).
        exclusions: String = "", from ["PLUGIN_EXCLUSIONS"];
        /// Properties on every artifact: `k=v;k2=v1,v2` (`\;` and `\,` escape) or a JSON map (`{"k": "v", "k2": ["v1", "v2"]}`). Needs the Annotate permission.
        target_props: String = "", from ["PLUGIN_TARGET_PROPS"];
        /// Path of a JFrog file spec (`{"files": [{"pattern", "target", "targetProps", "flat", "recursive", "regexp", "exclusions"}]}`); replaces source, target and target props.
        spec: String = "", from ["PLUGIN_SPEC"];
        /// Variables of the file spec, `key1=value1;key2=value2`, used there as `${key1}`.
        spec_vars: String = "", from ["PLUGIN_SPEC_VARS"];
        /// Files uploaded at once (jf's `--threads`; 0 means the default).
        threads: usize = "3", from ["PLUGIN_THREADS"];
        /// Retries of a failed request (connection errors, timeouts, 408, 429, 5xx, checksum rejections), with backoff and jitter.
        retries: u32 = "3", from ["PLUGIN_RETRIES"];
        /// Accept any TLS certificate.
        insecure: bool = "false", from ["PLUGIN_INSECURE"];
        /// PEM certificate(s) of a private CA to trust (beside the system roots).
        pem_file_contents: String = "", from ["PLUGIN_PEM_FILE_CONTENTS"];
        /// Path of a PEM file of a private CA to trust (read, never written).
        pem_file_path: String = "", from ["PLUGIN_PEM_FILE_PATH"];
        /// Build name: adds the `build.name`, `build.number`, `build.timestamp` properties to every artifact (with `PLUGIN_BUILD_NUMBER`).
        build_name: String = "", from ["PLUGIN_BUILD_NAME"];
        /// Build number (with `PLUGIN_BUILD_NAME`).
        build_number: String = "", from ["PLUGIN_BUILD_NUMBER"];
        /// After the upload, publish the build info (`PUT /api/build`) listing the artifacts; needs the build name and number and a URL with `/artifactory`.
        publish_build_info: bool = "false", from ["PLUGIN_PUBLISH_BUILD_INFO"];
        /// Use `HARNESS_HTTP_PROXY`, `HARNESS_HTTPS_PROXY`, `HARNESS_NO_PROXY` as the proxies (otherwise `HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY` apply).
        enable_proxy: bool = "false", from ["PLUGIN_ENABLE_PROXY"];
        /// Fail when no file matched (jf's `--fail-no-op`; otherwise nothing to upload is a success).
        fail_no_op: bool = "false", from ["PLUGIN_FAIL_NO_OP"];
        /// Do not deploy a file whose artifact has the same size and SHA-256 (from a `HEAD` of the artifact). Its properties are then left as they are, so it cannot be used with a build name.
        skip_unchanged: bool = "false", from ["PLUGIN_SKIP_UNCHANGED"];
        /// Print the file → artifact table and upload nothing.
        dry_run: bool = "false", from ["PLUGIN_DRY_RUN"];
        /// Where to write the Harness artifact file (`fileUpload/v1`, the URL of each artifact).
        artifact_file: String = "", from ["PLUGIN_ARTIFACT_FILE"];
    }
}
