//! Identity providers: one per app (R-CFG-01), with claim mappings that lock after the first
//! successful authentication (R-CFG-08) and optional sign-in settings (R-CFG-10).

use alter_core::{AppId, ClaimMappings, IdpId, IdpKind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::common::{StoredRow, corrupt, is_foreign_key_violation, is_unique_violation};
use crate::error::{StoreError, StoreResult};
use crate::outbox::{Effects, RequestKey, no_effects};

/// OIDC sign-in settings (R-CFG-10). The client secret is a sealed secret
/// ([`crate::SecretPurpose::ClientSecret`]), never stored here. The redirect URIs and the
/// Wallet logout URL are ours, derived from the sign-in service's public URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignInSettings {
    pub client_id: String,
    /// Where a finished sign-in may return the browser, compared byte for byte.
    pub return_urls: Vec<String>,
    /// Scopes requested besides `openid`.
    pub scopes: Vec<String>,
}

/// A list column stored as a JSON array of strings (both adapters).
pub(crate) fn list_to_stored(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

fn list_from_stored(column: &str, stored: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(stored).map_err(|e| {
        StoreError::corrupt(
            format!("identity provider {column}"),
            format!("not a JSON array of strings: {e}"),
        )
    })
}

/// What is needed to create an IDP; validation (R-CFG-03..07) happens in core before this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIdp {
    pub kind: IdpKind,
    pub issuer: String,
    pub jwks_uri: String,
    pub audience: String,
    pub claim_mappings: ClaimMappings,
    pub sign_in: Option<SignInSettings>,
}

/// A stored identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityProvider {
    pub id: IdpId,
    pub app_id: AppId,
    pub kind: IdpKind,
    pub issuer: String,
    pub jwks_uri: String,
    pub audience: String,
    pub claim_mappings: ClaimMappings,
    /// When set, the claim mappings can no longer change (R-CFG-08).
    pub claim_mappings_locked_at: Option<DateTime<Utc>>,
    pub sign_in: Option<SignInSettings>,
    pub created_at: DateTime<Utc>,
}

/// Persistence of identity providers.
#[async_trait]
pub trait IdpStore: Send + Sync {
    /// Creates the app's IDP. `AlreadyExists` when the app has one (R-CFG-01); `NotFound` when
    /// the app does not exist.
    async fn create_idp(&self, app: AppId, idp: &NewIdp) -> StoreResult<IdentityProvider> {
        self.create_idp_with(app, idp, None, &no_effects).await
    }
    /// [`IdpStore::create_idp`] with its side effects in the same transaction; with a
    /// request key, a retried call returns the IDP the first call created.
    async fn create_idp_with(
        &self,
        app: AppId,
        idp: &NewIdp,
        key: Option<&RequestKey>,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider>;
    /// The app's IDP, if it has one.
    async fn get_idp_for_app(&self, app: AppId) -> StoreResult<Option<IdentityProvider>>;
    /// The IDP by ID within the app.
    async fn get_idp(&self, app: AppId, idp: IdpId) -> StoreResult<Option<IdentityProvider>>;
    /// The IDP by ID alone. The one unscoped lookup: a webhook URL carries only the IDP ID,
    /// and this is how webhook-ingest learns which app the delivery belongs to.
    async fn find_idp_by_id(&self, idp: IdpId) -> StoreResult<Option<IdentityProvider>>;
    /// Replaces the claim mappings. `Conflict` once they are locked (R-CFG-08).
    async fn update_claim_mappings(
        &self,
        app: AppId,
        idp: IdpId,
        mappings: &ClaimMappings,
    ) -> StoreResult<IdentityProvider> {
        self.update_claim_mappings_with(app, idp, mappings, &no_effects)
            .await
    }
    /// [`IdpStore::update_claim_mappings`] with its side effects in the same transaction.
    async fn update_claim_mappings_with(
        &self,
        app: AppId,
        idp: IdpId,
        mappings: &ClaimMappings,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider>;
    /// Locks the claim mappings at the first successful authentication. Returns `true` when
    /// this call locked them, `false` when they already were.
    async fn lock_claim_mappings(&self, app: AppId, idp: IdpId) -> StoreResult<bool>;
    /// Deletes the app's IDP (its sealed secrets and directory runs go with it). `NotFound`
    /// when it is not in the app; `Conflict` once users signed in through it, because they are
    /// keyed by its subjects and their grants would be orphaned.
    async fn delete_idp(&self, app: AppId, idp: IdpId) -> StoreResult<()> {
        self.delete_idp_with(app, idp, &no_effects).await
    }
    /// [`IdpStore::delete_idp`] with its side effects in the same transaction.
    async fn delete_idp_with(
        &self,
        app: AppId,
        idp: IdpId,
        effects: Effects<'_, ()>,
    ) -> StoreResult<()>;
    /// Sets or clears the sign-in settings; `client_secret` replaces the sealed client
    /// secret when given ([`crate::SecretPurpose::ClientSecret`]), and clearing the settings
    /// deletes it, all in one transaction.
    async fn set_sign_in(
        &self,
        app: AppId,
        idp: IdpId,
        sign_in: Option<&SignInSettings>,
        client_secret: Option<&crate::SealedSecret>,
    ) -> StoreResult<IdentityProvider> {
        self.set_sign_in_with(app, idp, sign_in, client_secret, &no_effects)
            .await
    }
    /// [`IdpStore::set_sign_in`] with its side effects in the same transaction.
    async fn set_sign_in_with(
        &self,
        app: AppId,
        idp: IdpId,
        sign_in: Option<&SignInSettings>,
        client_secret: Option<&crate::SealedSecret>,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider>;
}

/// The columns [`idp_from_row`] reads, in both schemas.
macro_rules! idp_columns {
    () => {
        "id, app_id, kind, issuer, jwks_uri, audience, user_id_claim, group_claim, role_claim, \
         email_claim, display_name_claim, group_claim_stable_ids, claim_mappings_locked_at, \
         sign_in_client_id, sign_in_return_urls, sign_in_scopes, created_at"
    };
}
pub(crate) use idp_columns;

/// An identity provider from a row of [`idp_columns!`] (either adapter).
pub(crate) fn idp_from_row(row: &impl StoredRow) -> StoreResult<IdentityProvider> {
    let kind: String = row.get("kind")?;
    let client_id: Option<String> = row.get("sign_in_client_id")?;
    let return_urls: String = row.get("sign_in_return_urls")?;
    let scopes: String = row.get("sign_in_scopes")?;
    Ok(IdentityProvider {
        id: IdpId::from_uuid(row.get("id")?),
        app_id: AppId::from_uuid(row.get("app_id")?),
        kind: IdpKind::parse("identity_providers.kind", &kind).map_err(corrupt("IDP kind"))?,
        issuer: row.get("issuer")?,
        jwks_uri: row.get("jwks_uri")?,
        audience: row.get("audience")?,
        claim_mappings: ClaimMappings {
            user_id_claim: row.get("user_id_claim")?,
            group_claim: row.get("group_claim")?,
            role_claim: row.get("role_claim")?,
            email_claim: row.get("email_claim")?,
            display_name_claim: row.get("display_name_claim")?,
            group_claim_stable_ids: row.get("group_claim_stable_ids")?,
        },
        claim_mappings_locked_at: row.get("claim_mappings_locked_at")?,
        sign_in: match client_id {
            Some(client_id) => Some(SignInSettings {
                client_id,
                return_urls: list_from_stored("sign_in_return_urls", &return_urls)?,
                scopes: list_from_stored("sign_in_scopes", &scopes)?,
            }),
            None => None,
        },
        created_at: row.get("created_at")?,
    })
}

/// What a refused insert of an IDP means: the app has one already (R-CFG-01), or the app
/// does not exist.
pub(crate) fn create_idp_error(app: AppId, err: sqlx::Error) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::already_exists(format!(
            "an identity provider for app {app} (an app has at most one; update or delete the existing one)"
        ))
    } else if is_foreign_key_violation(&err) {
        StoreError::not_found(format!("app {app}"))
    } else {
        err.into()
    }
}

/// What a refused delete of an IDP means: users who signed in through it refer to it.
pub(crate) fn delete_idp_error(idp: IdpId, err: sqlx::Error) -> StoreError {
    if is_foreign_key_violation(&err) {
        StoreError::conflict(format!(
            "identity provider {idp} cannot be deleted: users have signed in through it and are \
             keyed by its subjects; create a new app to connect a different identity provider"
        ))
    } else {
        err.into()
    }
}

/// Why the claim mappings of `idp` were not updated, given the IDP as stored (if it is).
pub(crate) fn claim_mappings_not_updated(
    idp: IdpId,
    current: Option<IdentityProvider>,
) -> StoreError {
    match current {
        None => StoreError::not_found(format!("identity provider {idp}")),
        Some(current) => StoreError::conflict(format!(
            "claim mappings of identity provider {idp} are locked since the first user signed in at {} \
             (R-CFG-08); changing them now would re-key existing users — create a new app instead",
            current
                .claim_mappings_locked_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        )),
    }
}
