//! The settings of `plugins/s3` (reference upload-plugins §2.1), every variable and alias in the
//! anchor's precedence order, plus what users asked the anchor for (concurrency, skip unchanged,
//! metadata, KMS key id, several sources, fail on empty).

use longshore_core::secret::Secret;
use longshore_core::settings::{GlobList, Map};

longshore_core::settings! {
    /// What `plugins/s3` reads.
    pub struct S3Settings {
        /// Bucket name.
        bucket: String = "", from ["PLUGIN_BUCKET", "S3_BUCKET"];
        /// Region.
        region: String = "us-east-1", from ["PLUGIN_REGION", "S3_REGION"];
        /// Custom endpoint of an S3-compatible store (`https://` is added when no scheme is given). The SDK's checksum trailers are then off (see `PLUGIN_CHECKSUM`). `S3_SYNC_ENDPOINT` is s3-sync's name, read in s3-sync's order.
        endpoint: String = "", from ["PLUGIN_ENDPOINT", "S3_SYNC_ENDPOINT", "S3_ENDPOINT"];
        /// Path-style addressing (`endpoint/bucket/key`), for MinIO and most S3-compatible stores.
        path_style: bool = "false", from ["PLUGIN_PATH_STYLE"];
        /// Access key id (used with the secret key).
        access_key: String = "", from ["PLUGIN_ACCESS_KEY", "AWS_ACCESS_KEY_ID"];
        /// Secret access key.
        secret_key: Secret = "", from ["PLUGIN_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"];
        /// Session token for temporary keys.
        session_token: Secret = "", from ["PLUGIN_SESSION_TOKEN", "AWS_SESSION_TOKEN"];
        /// Role to assume (also on top of static keys, unlike the anchor).
        assume_role: String = "", from ["PLUGIN_ASSUME_ROLE", "ASSUME_ROLE"];
        /// Session name for the assumed role.
        assume_role_session_name: String = "drone-s3", from ["PLUGIN_ASSUME_ROLE_SESSION_NAME", "ASSUME_ROLE_SESSION_NAME"];
        /// External id for the assumed role.
        external_id: String = "", from ["PLUGIN_EXTERNAL_ID"];
        /// OIDC token: assume `assume_role` with AssumeRoleWithWebIdentity.
        oidc_token_id: Secret = "", from ["PLUGIN_OIDC_TOKEN_ID"];
        /// A second role assumed with the credentials above (cross-account).
        user_role_arn: String = "", from ["PLUGIN_USER_ROLE_ARN", "AWS_USER_ROLE_ARN"];
        /// External id for the second role.
        user_role_external_id: String = "", from ["PLUGIN_USER_ROLE_EXTERNAL_ID"];
        /// Files to upload: globs or paths (comma list, where a comma inside `{}` does not split, or JSON array; a directory uploads its files). In download mode: the key prefix to download.
        source: GlobList = "", from ["PLUGIN_SOURCE"];
        /// Key prefix to upload under. In download mode: the local directory.
        target: String = "", from ["PLUGIN_TARGET"];
        /// Prefix removed from local paths before they become keys (`/abs/prefix/` with `*`, `**`, `?`, or a relative string prefix). In download mode: a string put before each local path.
        strip_prefix: String = "", from ["PLUGIN_STRIP_PREFIX"];
        /// Globs of files not to upload (matched on the same normalised paths as the sources; a comma inside `{}` does not split).
        exclude: GlobList = "", from ["PLUGIN_EXCLUDE"];
        /// Canned ACL (`private`, `public-read`, `bucket-owner-full-control`, …); none is sent when empty.
        acl: String = "", from ["PLUGIN_ACL"];
        /// Server-side encryption: `AES256`, `aws:kms` or `aws:kms:dsse`.
        encryption: String = "", from ["PLUGIN_ENCRYPTION"];
        /// KMS key id for `aws:kms` encryption.
        kms_key_id: String = "", from ["PLUGIN_KMS_KEY_ID"];
        /// Storage class (`STANDARD`, `STANDARD_IA`, `GLACIER_IR`, …).
        storage_class: String = "", from ["PLUGIN_STORAGE_CLASS"];
        /// Content-Type per file: a JSON map `{regex: type}` (first match in the order written) or one type for all files. Otherwise from the file extension (embedded table).
        content_type: String = "", from ["PLUGIN_CONTENT_TYPE"];
        /// Content-Encoding per file: JSON map `{regex: encoding}` or one value for all.
        content_encoding: String = "", from ["PLUGIN_CONTENT_ENCODING"];
        /// Cache-Control per file: JSON map `{regex: value}` or one value for all.
        cache_control: String = "", from ["PLUGIN_CACHE_CONTROL"];
        /// User metadata for every object, a JSON map.
        metadata: Map = "", from ["PLUGIN_METADATA"];
        /// Download `source` from the bucket into `target` instead of uploading.
        download: bool = "false", from ["PLUGIN_DOWNLOAD"];
        /// Print the file → key table and upload nothing.
        dry_run: bool = "false", from ["PLUGIN_DRY_RUN"];
        /// s3-sync's name for `PLUGIN_DRY_RUN`: either one `true` makes a dry run (the safe side when both are set).
        dry_run_sync: bool = "false", from ["DRY_RUN"];
        /// Do not upload a file whose object has the same size and SHA-256 (stored as metadata by an earlier upload).
        skip_unchanged: bool = "false", from ["PLUGIN_SKIP_UNCHANGED"];
        /// Fail when a glob matches no file (a missing literal path always fails).
        fail_on_empty: bool = "false", from ["PLUGIN_FAIL_ON_EMPTY"];
        /// Files transferred at once.
        concurrency: usize = "32", from ["PLUGIN_CONCURRENCY", "PLUGIN_PARALLELISM"];
        /// Integrity checksum sent with every object and part: `auto` (the SDK's CRC32 on AWS, Content-MD5 on a custom endpoint), `md5`, `crc32`, `crc32c` (the cheapest to compute), `sha256`, or `none`. Computed while the file is read, sent as a header (never as an `aws-chunked` trailer).
        checksum: String = "auto", from ["PLUGIN_CHECKSUM"];
        /// Parts of one large file transferred at once.
        part_concurrency: usize = "4", from ["PLUGIN_PART_CONCURRENCY"];
        /// Where to write the Harness artifact file (`fileUpload/v1`).
        artifact_file: String = "", from ["PLUGIN_ARTIFACT_FILE"];
    }
}
