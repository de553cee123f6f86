//! The ECR repository API the ecr flow uses before a push: private (create with scanning and
//! tag mutability, lifecycle and repository policies, tag lookups) and ECR Public.

use super::*;

/// The repository calls, for one repository.
pub(super) struct Api<'a> {
    pub(super) ecr: &'a aws_sdk_ecr::Client,
    pub(super) repo: &'a str,
    pub(super) registry_id: Option<&'a str>,
}

impl Api<'_> {
    pub(super) fn fail(&self, op: &'static str, reason: String) -> EcrError {
        EcrError::Api {
            op,
            repo: self.repo.to_string(),
            reason,
        }
    }

    /// CreateRepository; an existing repository keeps its scanning unless `scan_on_push` asks
    /// to switch it on (the anchor switched it off).
    pub(super) async fn create(
        &self,
        scan_on_push: bool,
        immutable: Option<bool>,
    ) -> Result<(), EcrError> {
        let mut req = self
            .ecr
            .create_repository()
            .repository_name(self.repo)
            .set_registry_id(self.registry_id.map(str::to_string))
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(scan_on_push)
                    .build(),
            );
        if let Some(i) = immutable {
            req = req.image_tag_mutability(mutability(i));
        }
        match req.send().await {
            Ok(_) => {
                info!(
                    "ecr: created repository {} (scan on push: {scan_on_push})",
                    self.repo
                );
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_already_exists_exception()) =>
            {
                info!("ecr: repository {} exists", self.repo);
                if scan_on_push {
                    self.ecr
                        .put_image_scanning_configuration()
                        .repository_name(self.repo)
                        .set_registry_id(self.registry_id.map(str::to_string))
                        .image_scanning_configuration(
                            ImageScanningConfiguration::builder()
                                .scan_on_push(true)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| self.fail("PutImageScanningConfiguration", sdk_error(&e)))?;
                    info!("ecr: scan on push switched on for {}", self.repo);
                }
                if let Some(i) = immutable {
                    self.tag_mutability(i).await?;
                }
                Ok(())
            }
            Err(e) => Err(self.fail("CreateRepository", sdk_error(&e))),
        }
    }

    pub(super) async fn tag_mutability(&self, immutable: bool) -> Result<(), EcrError> {
        self.ecr
            .put_image_tag_mutability()
            .repository_name(self.repo)
            .set_registry_id(self.registry_id.map(str::to_string))
            .image_tag_mutability(mutability(immutable))
            .send()
            .await
            .map_err(|e| self.fail("PutImageTagMutability", sdk_error(&e)))?;
        info!(
            "ecr: tags of {} are {}",
            self.repo,
            mutability(immutable).as_str()
        );
        Ok(())
    }

    pub(super) async fn lifecycle_policy(&self, text: &str) -> Result<(), EcrError> {
        self.ecr
            .put_lifecycle_policy()
            .repository_name(self.repo)
            .set_registry_id(self.registry_id.map(str::to_string))
            .lifecycle_policy_text(text)
            .send()
            .await
            .map_err(|e| self.fail("PutLifecyclePolicy", sdk_error(&e)))?;
        info!("ecr: lifecycle policy set on {}", self.repo);
        Ok(())
    }

    pub(super) async fn repository_policy(&self, text: &str) -> Result<(), EcrError> {
        self.ecr
            .set_repository_policy()
            .repository_name(self.repo)
            .set_registry_id(self.registry_id.map(str::to_string))
            .policy_text(text)
            .send()
            .await
            .map_err(|e| self.fail("SetRepositoryPolicy", sdk_error(&e)))?;
        info!("ecr: repository policy set on {}", self.repo);
        Ok(())
    }

    /// DescribeImages for one tag: a missing image or repository means "not there".
    pub(super) async fn tag_exists(&self, tag: &str) -> Result<bool, EcrError> {
        let res = self
            .ecr
            .describe_images()
            .repository_name(self.repo)
            .set_registry_id(self.registry_id.map(str::to_string))
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await;
        match res {
            Ok(out) => Ok(!out.image_details().is_empty()),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_image_not_found_exception() || s.is_repository_not_found_exception()
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.fail("DescribeImages", sdk_error(&e))),
        }
    }
}

/// The repository calls of ECR Public, for one repository of the caller's registry (the API
/// takes no alias; `registryId` defaults to the caller's account).
pub(super) struct PublicApi<'a> {
    pub(super) client: &'a aws_sdk_ecrpublic::Client,
    pub(super) repo: &'a str,
}

impl PublicApi<'_> {
    pub(super) fn fail(&self, op: &'static str, reason: String) -> EcrError {
        EcrError::Api {
            op,
            repo: self.repo.to_string(),
            reason,
        }
    }

    /// CreateRepository; an existing repository is fine.
    pub(super) async fn create(&self) -> Result<(), EcrError> {
        match self
            .client
            .create_repository()
            .repository_name(self.repo)
            .send()
            .await
        {
            Ok(_) => {
                info!("ecr-public: created repository {}", self.repo);
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_already_exists_exception()) =>
            {
                info!("ecr-public: repository {} exists", self.repo);
                Ok(())
            }
            Err(e) => Err(self.fail("Public CreateRepository", sdk_error(&e))),
        }
    }

    pub(super) async fn repository_policy(&self, text: &str) -> Result<(), EcrError> {
        self.client
            .set_repository_policy()
            .repository_name(self.repo)
            .policy_text(text)
            .send()
            .await
            .map_err(|e| self.fail("Public SetRepositoryPolicy", sdk_error(&e)))?;
        info!("ecr-public: repository policy set on {}", self.repo);
        Ok(())
    }

    /// DescribeImages for one tag: a missing image or repository means "not there".
    pub(super) async fn tag_exists(&self, tag: &str) -> Result<bool, EcrError> {
        let res = self
            .client
            .describe_images()
            .repository_name(self.repo)
            .image_ids(
                aws_sdk_ecrpublic::types::ImageIdentifier::builder()
                    .image_tag(tag)
                    .build(),
            )
            .send()
            .await;
        match res {
            Ok(out) => Ok(!out.image_details().is_empty()),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_image_not_found_exception() || s.is_repository_not_found_exception()
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.fail("Public DescribeImages", sdk_error(&e))),
        }
    }
}

pub(super) fn mutability(immutable: bool) -> ImageTagMutability {
    if immutable {
        ImageTagMutability::Immutable
    } else {
        ImageTagMutability::Mutable
    }
}
