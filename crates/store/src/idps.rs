//! Identity providers: one per app (R-CFG-01), with claim mappings that lock after the first
//! successful authentication (R-CFG-08) and optional sign-in settings (R-CFG-10).

use alter_core::{AppId, ClaimMappings, IdpId, IdpKind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreResult;
use crate::outbox::{Effects, RequestKey, no_effects};

/// OIDC sign-in settings (R-CFG-10). The client secret is a sealed secret
/// ([`crate::SecretPurpose::ClientSecret`]), never stored here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInSettings {
    pub client_id: String,
    pub wallet_logout_url: Option<String>,
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
    /// Sets or clears the sign-in settings.
    async fn set_sign_in(
        &self,
        app: AppId,
        idp: IdpId,
        sign_in: Option<&SignInSettings>,
    ) -> StoreResult<IdentityProvider> {
        self.set_sign_in_with(app, idp, sign_in, &no_effects).await
    }
    /// [`IdpStore::set_sign_in`] with its side effects in the same transaction.
    async fn set_sign_in_with(
        &self,
        app: AppId,
        idp: IdpId,
        sign_in: Option<&SignInSettings>,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider>;
}
