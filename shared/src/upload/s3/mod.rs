//! The S3 [`Destination`]: PutObject for small files, multipart (parts streamed from disk,
//! several in flight, part size growing past the 10,000-part limit, aborted on failure) for large
//! ones, canned ACL / server-side encryption / storage class as set, and the integrity checksum
//! chosen by `PLUGIN_CHECKSUM` (by default the SDK's flexible CRC32 on AWS and Content-MD5 on
//! custom endpoints, where S3-compatible stores reject the SDK's checksum trailers: reference
//! upload-plugins §2.1). The bodies and checksums come from [`body`].

use std::path::Path;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectCannedAcl, ServerSideEncryption, StorageClass,
};
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

pub mod body;

use crate::aws::sdk_error;
use crate::upload::transfer::{Destination, Item, Progress, Remote, SHA256_META, TransferError};
use body::{BufferPool, Checksum, Sum};

/// Files above this go multipart (the AWS CLI's default threshold).
pub const MULTIPART_THRESHOLD: u64 = 8 * 1024 * 1024;
/// The smallest part size (S3's minimum is 5 MiB; 8 MiB matches the CLI).
pub const MIN_PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3's limit on parts per upload.
pub const MAX_PARTS: u64 = 10_000;

/// Per-object options from the settings.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// Canned ACL (none sent when empty).
    pub acl: Option<String>,
    /// `AES256` or `aws:kms`.
    pub encryption: Option<String>,
    /// KMS key id.
    pub kms_key_id: Option<String>,
    /// Storage class.
    pub storage_class: Option<String>,
    /// The integrity checksum of every object and part.
    pub checksum: Checksum,
    /// Parts of one file in flight.
    pub part_concurrency: usize,
    /// Public URL base for objects (`https://bucket.s3.region.amazonaws.com` or the endpoint).
    pub url_base: String,
}

/// Sets the object's headers, metadata, ACL, encryption and storage class on a PutObject or
/// CreateMultipartUpload request (two builder types with the same setters).
macro_rules! object_headers {
    ($req:expr, $item:expr, $opts:expr) => {
        $req.content_type(&$item.headers.content_type)
            .set_content_encoding($item.headers.content_encoding.clone())
            .set_cache_control($item.headers.cache_control.clone())
            .set_metadata(Some($item.headers.metadata.clone().into_iter().collect()))
            .set_acl($opts.acl.as_deref().map(ObjectCannedAcl::from))
            .set_server_side_encryption($opts.encryption.as_deref().map(ServerSideEncryption::from))
            .set_ssekms_key_id($opts.kms_key_id.clone())
            .set_storage_class($opts.storage_class.as_deref().map(StorageClass::from))
    };
}

/// Puts a computed checksum on a PutObject or UploadPart request (two builder types with the
/// same setters).
macro_rules! with_sum {
    ($req:expr, $sum:expr) => {{
        let req = $req;
        match $sum {
            Some(s) => match s.kind {
                Checksum::Md5 => req.content_md5(s.base64()),
                Checksum::Crc32 => req.checksum_crc32(s.base64()),
                Checksum::Crc32c => req.checksum_crc32_c(s.base64()),
                Checksum::Sha256 => req.checksum_sha256(s.base64()),
                Checksum::Sdk | Checksum::None => req,
            },
            None => req,
        }
    }};
}

/// Sends a request; a body held in memory is sent with `UNSIGNED-PAYLOAD` like a streamed one
/// (over plain HTTP the SDK would otherwise hash it with SHA-256 to sign it: the checksum
/// already covers the body).
macro_rules! send {
    ($req:expr, $in_memory:expr) => {
        if $in_memory {
            $req.customize().disable_payload_signing().send().await
        } else {
            $req.send().await
        }
    };
}

/// An S3 bucket.
pub struct S3 {
    client: Client,
    bucket: String,
    opts: S3Options,
    budget: BufferPool,
}

impl S3 {
    /// A destination for `bucket` through `client`.
    pub fn new(client: Client, bucket: impl Into<String>, opts: S3Options) -> Arc<Self> {
        Arc::new(S3 {
            client,
            bucket: bucket.into(),
            opts,
            budget: BufferPool::default(),
        })
    }

    fn err(&self, key: &str, reason: impl Into<String>) -> TransferError {
        let mut reason = reason.into();
        // rustls's text for every verification failure: every request would fail the same way.
        let untrusted = reason.contains("invalid peer certificate");
        if untrusted {
            reason.push_str(
                " (the endpoint's TLS certificate is not trusted: set AWS_CA_BUNDLE to a PEM file holding its CA)",
            );
        }
        TransferError {
            key: key.to_string(),
            fatal: untrusted || is_fatal(&reason),
            reason,
        }
    }

    /// "cannot read <path>: <why>", for the file behind `item`.
    fn read_error(&self, item: &Item, why: impl std::fmt::Display) -> TransferError {
        self.err(
            &item.key,
            format!("cannot read {}: {why}", item.path.display()),
        )
    }

    async fn put_single(&self, item: &Item, progress: &Progress) -> Result<(), TransferError> {
        let loaded = body::load(&item.path, 0, item.size, self.opts.checksum, &self.budget)
            .await
            .map_err(|e| self.read_error(item, e))?;
        let body = match &loaded.body {
            Some(b) => ByteStream::from(b.clone()),
            None => ByteStream::read_from()
                .file(
                    crate::upload::local_fs::open_selected_async(&item.path)
                        .await
                        .map_err(|e| self.read_error(item, e))?,
                )
                .build()
                .await
                .map_err(|e| self.read_error(item, e))?,
        };
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&item.key)
            .body(body)
            .content_length(item.size as i64);
        let req = with_sum!(object_headers!(req, item, self.opts), &loaded.sum);
        let out =
            send!(req, loaded.body.is_some()).map_err(|e| self.err(&item.key, sdk_error(&e)))?;
        // A second, end-to-end check where the answer allows one: a plain (non-KMS)
        // single-part ETag is the MD5; a flexible checksum is echoed.
        if let Some(sum) = &loaded.sum {
            let stored = match sum.kind {
                Checksum::Md5 if self.opts.encryption.as_deref() != Some("aws:kms") => out
                    .e_tag()
                    .map(|t| (t.trim_matches('"').to_string(), hex::encode(&sum.raw))),
                Checksum::Crc32 => out.checksum_crc32().map(|v| (v.to_string(), sum.base64())),
                Checksum::Crc32c => out
                    .checksum_crc32_c()
                    .map(|v| (v.to_string(), sum.base64())),
                Checksum::Sha256 => out.checksum_sha256().map(|v| (v.to_string(), sum.base64())),
                _ => None,
            };
            if let Some((stored, local)) = stored
                && stored != local
            {
                return Err(self.err(
                    &item.key,
                    format!("the stored checksum {stored} does not match the local {local}"),
                ));
            }
        }
        progress.add(item.size);
        Ok(())
    }

    async fn put_multipart(&self, item: &Item, progress: &Progress) -> Result<(), TransferError> {
        let part_size = part_size(item.size);
        let create = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&item.key);
        let created = object_headers!(create, item, self.opts)
            .set_checksum_algorithm(self.opts.checksum.algorithm())
            .send()
            .await
            .map_err(|e| self.err(&item.key, sdk_error(&e)))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| self.err(&item.key, "CreateMultipartUpload returned no upload id"))?
            .to_string();
        // A cancel between here and Complete must not leave the parts stored (and billed).
        let _abort_on_cancel = crate::cancel::on_cancel({
            let (client, bucket) = (self.client.clone(), self.bucket.clone());
            let (key, id) = (item.key.clone(), upload_id.clone());
            move || async move {
                let aborted = client
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(&key)
                    .upload_id(id)
                    .send()
                    .await;
                if aborted.is_ok() {
                    tracing::info!("cancel: aborted the multipart upload of {key}");
                }
            }
        });
        let result = self
            .upload_parts(item, &upload_id, part_size, progress)
            .await;
        let parts = match result {
            Ok(p) => p,
            Err(e) => {
                self.abort(&item.key, &upload_id).await;
                return Err(e);
            }
        };
        let expected = multipart_etag(&parts);
        let done = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&item.key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        if let Err(e) = done {
            // The answer to a Complete that worked can be lost (a reset, a cut response); the
            // retry then meets an upload that no longer exists. The object tells: its multipart
            // ETag is fixed by the parts we sent.
            if let Some(etag) = &expected
                && self.stored_etag(&item.key).await.as_deref() == Some(etag.as_str())
            {
                tracing::info!(
                    "{}: CompleteMultipartUpload's answer was lost, but the object is complete (ETag {etag})",
                    item.key
                );
                return Ok(());
            }
            self.abort(&item.key, &upload_id).await;
            return Err(self.err(&item.key, sdk_error(&e)));
        }
        Ok(())
    }

    /// The ETag of the object under `key`, if it exists (unquoted).
    async fn stored_etag(&self, key: &str) -> Option<String> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        head.e_tag().map(|t| t.trim_matches('"').to_string())
    }

    async fn upload_parts(
        &self,
        item: &Item,
        upload_id: &str,
        part_size: u64,
        progress: &Progress,
    ) -> Result<Vec<CompletedPart>, TransferError> {
        let count = item.size.div_ceil(part_size);
        let mut parts: Vec<CompletedPart> = futures_util::stream::iter(0..count)
            .map(|i| async move {
                let offset = i * part_size;
                let len = part_size.min(item.size - offset);
                let number = (i + 1) as i32;
                let loaded = body::load(&item.path, offset, len, self.opts.checksum, &self.budget)
                    .await
                    .map_err(|e| self.read_error(item, e))?;
                let body = match &loaded.body {
                    Some(b) => ByteStream::from(b.clone()),
                    None => ByteStream::read_from()
                        .file(
                            crate::upload::local_fs::open_selected_async(&item.path)
                                .await
                                .map_err(|e| self.read_error(item, e))?,
                        )
                        .offset(offset)
                        .length(Length::Exact(len))
                        .build()
                        .await
                        .map_err(|e| self.read_error(item, e))?,
                };
                let req = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(&item.key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_length(len as i64)
                    .body(body);
                let req = with_sum!(req, &loaded.sum);
                let out = send!(req, loaded.body.is_some()).map_err(|e| {
                    self.err(&item.key, format!("part {number}: {}", sdk_error(&e)))
                })?;
                progress.add(len);
                // Complete must list the checksum each part was sent with; some stores do not
                // echo it, so ours is used, and the answer's where we computed none.
                let mine =
                    |k: Checksum| loaded.sum.as_ref().filter(|s| s.kind == k).map(Sum::base64);
                Ok::<_, TransferError>(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .set_checksum_crc32(
                            mine(Checksum::Crc32).or(out.checksum_crc32().map(str::to_string)),
                        )
                        .set_checksum_crc32_c(
                            mine(Checksum::Crc32c).or(out.checksum_crc32_c().map(str::to_string)),
                        )
                        .set_checksum_sha256(
                            mine(Checksum::Sha256).or(out.checksum_sha256().map(str::to_string)),
                        )
                        .build(),
                )
            })
            .buffer_unordered(self.opts.part_concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        parts.sort_by_key(|p| p.part_number());
        Ok(parts)
    }

    async fn abort(&self, key: &str, upload_id: &str) {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!("aborted the multipart upload of {key}: no parts are left behind")
            }
            Err(e) => tracing::warn!(
                "could not abort the multipart upload {upload_id} of {key}: {}",
                sdk_error(&e)
            ),
        }
    }
}

/// The ETag S3 gives an object completed from `parts`: the MD5 of their MD5s, then `-<count>`.
/// `None` when a part's ETag is not a plain MD5 (SSE-KMS, some S3-compatible stores).
fn multipart_etag(parts: &[CompletedPart]) -> Option<String> {
    use md5::Digest as _;
    let mut h = md5::Md5::new();
    for p in parts {
        let raw = hex::decode(p.e_tag()?.trim_matches('"')).ok()?;
        if raw.len() != 16 {
            return None;
        }
        h.update(&raw);
    }
    Some(format!("{}-{}", hex::encode(h.finalize()), parts.len()))
}

/// Errors that every other request of the run would meet too.
fn is_fatal(reason: &str) -> bool {
    [
        "NoSuchBucket",
        "NotSignedUp",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AuthorizationHeaderMalformed",
        "PermanentRedirect",
    ]
    .iter()
    .any(|c| reason.starts_with(c))
}

/// The part size for a file: at least [`MIN_PART_SIZE`], and large enough to stay within
/// [`MAX_PARTS`] (rounded up to whole MiB).
pub fn part_size(size: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS);
    let mib = 1024 * 1024;
    needed.div_ceil(mib).saturating_mul(mib).max(MIN_PART_SIZE)
}

impl Destination for S3 {
    fn describe(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    fn url(&self, key: &str) -> String {
        format!("{}/{}", self.opts.url_base.trim_end_matches('/'), key)
    }

    async fn head(&self, key: &str) -> Result<Option<Remote>, TransferError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(Remote {
                key: key.to_string(),
                size: o.content_length().unwrap_or(0).max(0) as u64,
                sha256: o.metadata().and_then(|m| m.get(SHA256_META)).cloned(),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(self.err(key, sdk_error(&e))),
        }
    }

    async fn put(&self, item: &Item, progress: &Progress) -> Result<(), TransferError> {
        if item.size > MULTIPART_THRESHOLD {
            self.put_multipart(item, progress).await
        } else {
            self.put_single(item, progress).await
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Remote>, TransferError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(prefix, sdk_error(&e)))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    out.push(Remote {
                        key: k.to_string(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                        sha256: None,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn get(
        &self,
        key: &str,
        file: &mut tokio::fs::File,
        to: &Path,
    ) -> Result<u64, TransferError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err(key, sdk_error(&e)))?;
        let write_err =
            |e: std::io::Error| self.err(key, format!("cannot write {}: {e}", to.display()));
        let mut body = out.body;
        let mut n = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.err(key, e.to_string()))?;
            n += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(write_err)?;
        }
        file.sync_all().await.map_err(write_err)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_grows_past_the_part_limit() {
        assert_eq!(part_size(40 * 1024 * 1024), MIN_PART_SIZE);
        let five_tib = 5u64 * 1024 * 1024 * 1024 * 1024;
        let p = part_size(five_tib);
        assert!(five_tib.div_ceil(p) <= MAX_PARTS);
        assert_eq!(p % (1024 * 1024), 0);
    }

    #[test]
    fn multipart_etag_is_the_md5_of_the_part_md5s() {
        let part = |n, etag: &str| CompletedPart::builder().part_number(n).e_tag(etag).build();
        // md5("a"), md5("b"), as S3 quotes them.
        let parts = [
            part(1, "\"0cc175b9c0f1b6a831c399e269772661\""),
            part(2, "\"92eb5ffee6ae2fec3ad71c777531578f\""),
        ];
        assert_eq!(
            multipart_etag(&parts).as_deref(),
            Some("96e024ba2074fe77e8e965ba43a704be-2")
        );
        assert_eq!(multipart_etag(&[part(1, "kms-opaque-etag")]), None);
    }
}
