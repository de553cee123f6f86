//! The settings of `plugins/gcs` (reference upload-plugins §5.1), every variable and alias in
//! the anchor's precedence order, plus an endpoint for emulators and private endpoints, dry run,
//! skip unchanged, concurrency and the Harness artifact file.

use longshore_core::secret::Secret;
use longshore_core::settings::{GlobList, List, Map};

longshore_core::settings! {
    /// What `plugins/gcs` reads.
    pub struct GcsSettings {
        /// Service-account JSON key (raw or base64), minted into access tokens with the JWT-bearer grant at the key's `token_uri`.
        token: Secret = "", from ["PLUGIN_TOKEN", "GOOGLE_CREDENTIALS", "TOKEN"];
        /// Any Google credentials JSON (raw or base64): service_account, authorized_user, or external_account (workload identity federation config with a file source). What the Harness GCP connector sets.
        json_key: Secret = "", from ["PLUGIN_JSON_KEY"];
        /// Files to upload: paths or globs (`*`, `?`, `[…]`, `**` at any depth, `{a,b}`), a comma list (a comma inside `{}` does not split) or JSON array; a directory uploads everything under it. In download mode: `bucket/prefix`.
        source: GlobList = "", from ["PLUGIN_SOURCE"];
        /// `bucket[/prefix]` to upload to; a single file with a prefix not ending in `/` is uploaded as that name. In download mode: the local directory.
        target: String = "", from ["PLUGIN_TARGET"];
        /// Patterns of files not to upload, matched against the path relative to each source's base (`*.log`, `**/*.tmp`, `node_modules`; a comma inside `{}` does not split).
        ignore: GlobList = "", from ["PLUGIN_IGNORE"];
        /// Object ACL entries `entity:role` (`allUsers:READER`, `user@example.com:OWNER`); buckets with uniform access refuse them.
        acl: List = "", from ["PLUGIN_ACL"];
        /// File extensions (no dot) compressed with gzip on upload and stored with `Content-Encoding: gzip`.
        gzip: List = "", from ["PLUGIN_GZIP"];
        /// `Cache-Control` of every object.
        cache_control: String = "", from ["PLUGIN_CACHE_CONTROL"];
        /// Custom metadata of every object, a JSON map.
        metadata: Map = "", from ["PLUGIN_METADATA"];
        /// Download every object under `source` (`bucket/prefix`) into the `target` directory instead of uploading.
        download: bool = "false", from ["PLUGIN_DOWNLOAD"];
        /// Copy `HARNESS_HTTP_PROXY` / `HARNESS_HTTPS_PROXY` / `HARNESS_NO_PROXY` into the proxy settings of our clients.
        enable_proxy: bool = "false", from ["PLUGIN_ENABLE_PROXY"];
        /// JSON API endpoint of an emulator or private endpoint (`https://…`; plain http only to loopback or without credentials).
        endpoint: String = "", from ["PLUGIN_ENDPOINT"];
        /// Emulator `host:port` (Google's clients' convention); without credentials, requests are anonymous.
        emulator_host: String = "", from ["STORAGE_EMULATOR_HOST"];
        /// Print the file → object table and upload nothing.
        dry_run: bool = "false", from ["PLUGIN_DRY_RUN"];
        /// Do not upload a file whose object has the same size and content (SHA-256 stored as metadata, else the stored CRC32C).
        skip_unchanged: bool = "false", from ["PLUGIN_SKIP_UNCHANGED"];
        /// Files transferred at once.
        concurrency: usize = "16", from ["PLUGIN_CONCURRENCY", "PLUGIN_PARALLELISM"];
        /// Objects per listing page in download mode (1–1000).
        page_size: usize = "1000", from ["PLUGIN_PAGE_SIZE"];
        /// Where to write the Harness artifact file (`fileUpload/v1`).
        artifact_file: String = "", from ["PLUGIN_ARTIFACT_FILE"];
    }
}
