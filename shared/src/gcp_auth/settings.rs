//! The Google settings every Google plugin shares (gcr, gar, gcs): workload identity federation
//! and the application default credentials, declared once, with the validation and the choice
//! each plugin makes from them. What differs (gcr's `_json_key` login, gcs's `token`) stays with
//! the plugin; what a Google credential is, and how it is checked, lives here.

use crate::secret::Secret;
use crate::settings::{Env, SettingsError};

use super::{
    Creds, Federation, ID_TOKEN_TYPE, Subject, check_id, creds, endpoint, gcloud_adc_file, join,
    parse_creds,
};

crate::settings! {
    /// The Google credential settings shared by plugins/gcr, plugins/gar and plugins/gcs.
    pub struct GoogleSettings {
        /// Workload identity federation: the CI run's OIDC ID token (with the next four settings; all five or none).
        oidc_token_id: Secret = "", from ["PLUGIN_OIDC_TOKEN_ID"];
        /// Workload identity federation: project number of the pool.
        project_number: String = "", from ["PLUGIN_PROJECT_NUMBER"];
        /// Workload identity federation: pool id.
        pool_id: String = "", from ["PLUGIN_POOL_ID"];
        /// Workload identity federation: provider id.
        provider_id: String = "", from ["PLUGIN_PROVIDER_ID"];
        /// Workload identity federation: the service account whose access tokens are generated (refreshed during long work).
        service_account_email: String = "", from ["PLUGIN_SERVICE_ACCOUNT_EMAIL"];
        /// Security Token Service base URL (`/v1/token` is appended), for private or sovereign endpoints.
        sts_endpoint: String = "https://sts.googleapis.com", from ["PLUGIN_STS_ENDPOINT"];
        /// IAM Service Account Credentials base URL (`/v1/projects/-/serviceAccounts/…:generateAccessToken` is appended), for private or sovereign endpoints.
        iam_endpoint: String = "https://iamcredentials.googleapis.com", from ["PLUGIN_IAM_ENDPOINT"];
        /// Application default credentials file (service_account, authorized_user, or external_account with a file source), used when no other credentials are given (then gcloud's file, then the metadata server).
        application_credentials: String = "", from ["GOOGLE_APPLICATION_CREDENTIALS"];
        /// Metadata server `host[:port]`, the last source of the application default credentials.
        metadata_host: String = "metadata.google.internal", from ["GCE_METADATA_HOST"];
    }
}

/// Where the application default credentials come from, in Google's order.
pub(crate) enum DefaultCredentials {
    /// A credentials file: `GOOGLE_APPLICATION_CREDENTIALS`, or gcloud's.
    File {
        /// The parsed credentials.
        creds: Box<Creds>,
        /// Which file, for the log.
        source: &'static str,
    },
    /// The metadata server at `host[:port]`.
    Metadata(String),
}

impl GoogleSettings {
    /// The federation the five workload identity settings describe, validated (no network).
    /// The endpoints are checked even when federation is not used: a typo in a sovereign
    /// endpoint should not wait for the day the flow changes.
    pub(crate) fn federation(&self, env: &Env) -> Result<Option<Federation>, SettingsError> {
        let sts = endpoint("PLUGIN_STS_ENDPOINT", &self.sts_endpoint)?;
        let iam = endpoint("PLUGIN_IAM_ENDPOINT", &self.iam_endpoint)?;
        if !super::workload_identity_given(env)? {
            return Ok(None);
        }
        let email = self.service_account_email.trim();
        check_id(
            "PLUGIN_PROJECT_NUMBER",
            &self.project_number,
            |b| b.is_ascii_digit(),
            "digits",
        )?;
        let id_chars = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        let id_rule = "lower-case letters, digits and -";
        check_id("PLUGIN_POOL_ID", &self.pool_id, id_chars, id_rule)?;
        check_id("PLUGIN_PROVIDER_ID", &self.provider_id, id_chars, id_rule)?;
        if email.matches('@').count() != 1
            || !email
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_'))
        {
            return Err(SettingsError::invalid(
                "PLUGIN_SERVICE_ACCOUNT_EMAIL",
                format!("'{email}' is not a service account e-mail"),
            ));
        }
        Ok(Some(Federation {
            subject: Subject::Given(self.oidc_token_id.clone()),
            subject_token_type: ID_TOKEN_TYPE.into(),
            audience: format!(
                "//iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/providers/{}",
                self.project_number.trim(),
                self.pool_id.trim(),
                self.provider_id.trim()
            ),
            token_url: join(&sts, "/v1/token"),
            impersonation_url: Some(join(
                &iam,
                &format!("/v1/projects/-/serviceAccounts/{email}:generateAccessToken"),
            )),
        }))
    }

    /// The application default credentials, in Google's order: `GOOGLE_APPLICATION_CREDENTIALS`,
    /// gcloud's file, the metadata server. Files are read and checked here (no network).
    pub(crate) fn default_credentials(
        &self,
        env: &Env,
    ) -> Result<DefaultCredentials, SettingsError> {
        if !self.application_credentials.trim().is_empty() {
            let var = "GOOGLE_APPLICATION_CREDENTIALS";
            let path = self.application_credentials.trim();
            let text = std::fs::read_to_string(path)
                .map_err(|e| SettingsError::invalid(var, format!("cannot read {path}: {e}")))?;
            let text = Secret::new(text);
            let file = parse_creds(var, text.expose())?;
            return Ok(DefaultCredentials::File {
                creds: Box::new(creds(var, file)?),
                source: var,
            });
        }
        if let Some(path) = gcloud_adc_file(env)
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            let var = "the gcloud application default credentials file";
            let text = Secret::new(text);
            let file = parse_creds(var, text.expose())?;
            return Ok(DefaultCredentials::File {
                creds: Box::new(creds(var, file)?),
                source: var,
            });
        }
        let host = self.metadata_host.trim();
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(SettingsError::invalid(
                "GCE_METADATA_HOST",
                format!("'{host}' is not host[:port]"),
            ));
        }
        Ok(DefaultCredentials::Metadata(host.to_string()))
    }
}
