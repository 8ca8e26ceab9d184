//! Outbound directory clients for directory sync (R-DIR-01/02/07/09): verify a credential
//! against the provider, then read its whole directory page by page — every user, then every
//! group, then each group's members — within a shared per-IDP request budget, honouring the
//! provider's rate limits and following its own paging to the end.

mod auth0;
mod budget;
mod clerk;
mod credential;
mod okta;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use alter_core::{ExternalGroupId, ExternalUserId, FieldError, UserStatus};
use thiserror::Error;

pub use budget::{RequestBudget, default_requests_per_minute};
pub use credential::{CLERK_API_URL, DirectoryCredential};
pub use transport::{
    DOWNLOAD_TIMEOUT, MAX_RATE_LIMIT_WAIT, RATE_LIMIT_RETRIES, REQUEST_TIMEOUT,
    SERVER_ERROR_RETRIES,
};

use transport::{Reply, Transport};

/// Most items in one page a reader yields.
pub const MAX_PAGE_ITEMS: usize = 1000;

/// One page of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryPage {
    Users(Vec<DirectoryUser>),
    Groups(Vec<DirectoryGroup>),
    /// Some members of one group; a group's members may span several pages, and a group
    /// without members is reported once with no users.
    Members {
        group: ExternalGroupId,
        users: Vec<ExternalUserId>,
    },
}

/// A user as the provider lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    pub external_id: ExternalUserId,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub status: UserStatus,
}

/// A group (Okta group, Clerk organization).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryGroup {
    pub external_id: ExternalGroupId,
    pub name: Option<String>,
}

/// What a reader has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// HTTP requests sent (each took one request from the budget), retries included.
    pub requests: u64,
    /// Answers that were 429 (rate limited).
    pub rate_limited: u64,
    /// Attempts repeated after a 5xx answer or a network error.
    pub retries: u64,
    /// Time spent waiting for the budget and for the provider's rate-limit resets.
    pub waited: Duration,
}

/// Why a listing stopped. No message carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DirectoryError {
    /// Network failure, 5xx after retries, or rate-limited beyond patience: retry later.
    #[error("{detail}")]
    Unavailable { detail: String },
    /// 401/403: the credential no longer works; an admin must fix it.
    #[error("{detail}")]
    Refused { detail: String },
    /// The provider's answer could not be read.
    #[error("{detail}")]
    Malformed { detail: String },
}

/// Why a credential was not accepted (R-DIR-01).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CredentialError {
    /// The admin must fix the credential: the field and what to do.
    #[error("{0}")]
    Invalid(FieldError),
    /// The provider could not be reached or failed (5xx): try again.
    #[error("the credential could not be checked: {0}")]
    Unavailable(String),
}

/// A failure inside a reader, keeping the credential field a refusal is about.
#[derive(Debug)]
pub(crate) enum Fail {
    Unavailable(String),
    Refused {
        field: &'static str,
        message: String,
    },
    Malformed(String),
}

impl From<Fail> for DirectoryError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Unavailable(detail) => Self::Unavailable { detail },
            Fail::Refused { field, message } => Self::Refused {
                detail: FieldError::new(field, message).to_string(),
            },
            Fail::Malformed(detail) => Self::Malformed { detail },
        }
    }
}

impl Fail {
    fn refused(field: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            field,
            message: message.into(),
        }
    }

    /// As a credential check's answer; a malformed answer means the URL field is wrong.
    fn for_credential(self, url_field: &'static str) -> CredentialError {
        match self {
            Self::Unavailable(d) => CredentialError::Unavailable(d),
            Self::Refused { field, message } => {
                CredentialError::Invalid(FieldError::new(field, message))
            }
            Self::Malformed(d) => CredentialError::Invalid(FieldError::new(
                url_field,
                format!("does not lead to the provider's API ({d}): check the URL"),
            )),
        }
    }
}

/// An answer with a status the reader did not expect.
fn unexpected(what: &str, reply: &Reply) -> Fail {
    Fail::Malformed(format!("{what}: unexpected answer {}", reply.summary()))
}

fn user_id(raw: &str) -> Result<ExternalUserId, Fail> {
    ExternalUserId::parse("user id", raw).map_err(|e| Fail::Malformed(format!("a listed {e}")))
}

fn group_id(raw: &str) -> Result<ExternalGroupId, Fail> {
    ExternalGroupId::parse("group id", raw).map_err(|e| Fail::Malformed(format!("a listed {e}")))
}

/// `Some(s)` unless blank.
fn non_blank(s: Option<String>) -> Option<String> {
    s.map(|x| x.trim().to_string()).filter(|x| !x.is_empty())
}

/// R-DIR-01 against the provider: Auth0 obtains a Management API token whose scope includes
/// `read:users` and reads one user; Clerk makes one authenticated read (401 → wrong key); Okta
/// exchanges a `private_key_jwt` assertion for a token (scopes `okta.users.read
/// okta.groups.read`) and makes one directory read, where a 403 is the missing Read-only
/// Administrator role. The offline checks of [`DirectoryCredential::validate`] come first.
pub async fn verify_credential(
    http: &reqwest::Client,
    credential: &DirectoryCredential,
) -> Result<(), CredentialError> {
    credential.validate().map_err(CredentialError::Invalid)?;
    let kind = credential.kind();
    let budget = Arc::new(RequestBudget::per_minute(default_requests_per_minute(kind)));
    let mut t = Transport::new(http.clone(), budget, kind);
    match Source::open(&mut t, credential).await {
        Ok(mut source) => source
            .probe(&mut t)
            .await
            .map_err(|f| f.for_credential(url_field(credential))),
        Err(f) => Err(f.for_credential(url_field(credential))),
    }
}

const fn url_field(c: &DirectoryCredential) -> &'static str {
    match c {
        DirectoryCredential::Auth0 { .. } => "domain",
        DirectoryCredential::Clerk { .. } => "api_url",
        DirectoryCredential::Okta { .. } => "org_url",
    }
}

enum Source {
    Auth0(auth0::Auth0Reader),
    Clerk(clerk::ClerkReader),
    Okta(okta::OktaReader),
}

impl Source {
    async fn open(t: &mut Transport, credential: &DirectoryCredential) -> Result<Self, Fail> {
        let invalid = |e: FieldError| Fail::Refused {
            field: "credential",
            message: e.to_string(),
        };
        Ok(match credential {
            DirectoryCredential::Auth0 {
                domain,
                client_id,
                client_secret,
            } => {
                let base = credential::auth0_base(domain).map_err(invalid)?;
                Self::Auth0(auth0::Auth0Reader::open(t, base, client_id, client_secret).await?)
            }
            DirectoryCredential::Clerk {
                secret_key,
                api_url,
            } => {
                let base = credential::clerk_base(api_url.as_deref()).map_err(invalid)?;
                Self::Clerk(clerk::ClerkReader::new(base, secret_key.clone()))
            }
            DirectoryCredential::Okta {
                org_url,
                client_id,
                private_jwk,
                key_id,
            } => {
                let base = credential::okta_base(org_url).map_err(invalid)?;
                let key = credential::OktaSigningKey::parse(private_jwk, key_id.as_deref())
                    .map_err(invalid)?;
                Self::Okta(okta::OktaReader::open(t, base, client_id, key).await?)
            }
        })
    }

    async fn probe(&mut self, t: &mut Transport) -> Result<(), Fail> {
        match self {
            Self::Auth0(r) => r.probe(t).await,
            Self::Clerk(r) => r.probe(t).await,
            Self::Okta(r) => r.probe(t).await,
        }
    }

    async fn next_page(&mut self, t: &mut Transport) -> Result<Option<DirectoryPage>, Fail> {
        match self {
            Self::Auth0(r) => r.next_page(t).await,
            Self::Clerk(r) => r.next_page(t).await,
            Self::Okta(r) => r.next_page(t).await,
        }
    }

    async fn confirm_absent(
        &mut self,
        t: &mut Transport,
        user: &ExternalUserId,
    ) -> Result<bool, Fail> {
        match self {
            Self::Auth0(r) => Ok(!r.user_exists(t, user).await?),
            Self::Clerk(r) => Ok(!r.user_exists(t, user).await?),
            // Okta's cursor paging cannot skip a row when another is deleted mid-listing.
            Self::Okta(_) => Ok(true),
        }
    }
}

/// Reads one IDP's whole directory, a page at a time, with flat memory: a page holds at most
/// [`MAX_PAGE_ITEMS`] items and nothing else is accumulated (group listings are walked again
/// for their members rather than remembered).
pub struct DirectoryReader {
    source: Source,
    transport: Transport,
    done: bool,
}

impl DirectoryReader {
    /// Checks the credential offline and obtains the API token (Auth0, Okta). A refused
    /// credential is [`DirectoryError::Refused`].
    pub async fn open(
        http: reqwest::Client,
        credential: &DirectoryCredential,
        budget: Arc<RequestBudget>,
    ) -> Result<Self, DirectoryError> {
        credential.validate().map_err(|e| DirectoryError::Refused {
            detail: e.to_string(),
        })?;
        let mut transport = Transport::new(http, budget, credential.kind());
        let source = Source::open(&mut transport, credential).await?;
        Ok(Self {
            source,
            transport,
            done: false,
        })
    }

    /// The next page of the whole listing, in this order: every user, then every group, then
    /// each group's members; `Ok(None)` once the listing is complete.
    pub async fn next_page(&mut self) -> Result<Option<DirectoryPage>, DirectoryError> {
        if self.done {
            return Ok(None);
        }
        let page = self.source.next_page(&mut self.transport).await?;
        if page.is_none() {
            self.done = true;
        }
        Ok(page)
    }

    /// Whether a user the complete listing lacked is really gone: asked of the provider one
    /// by one where the listing is paged by offset (Clerk, Auth0), because a user deleted
    /// while the listing ran shifts the later rows and can make it skip someone who is
    /// still there. `false` means the user exists and must not be deprovisioned.
    pub async fn confirm_absent(&mut self, user: &ExternalUserId) -> Result<bool, DirectoryError> {
        Ok(self
            .source
            .confirm_absent(&mut self.transport, user)
            .await?)
    }

    /// Requests sent, 429s seen, and time waited for rate limits and the budget.
    pub fn stats(&self) -> ReaderStats {
        self.transport.stats
    }
}
