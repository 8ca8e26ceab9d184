//! OIDC sign-in settings (R-CFG-10): client ID, the client secret (sealed with the
//! operator's keyring, never returned), the app's allowed return URLs and extra scopes. Every
//! answer carries the URLs the admin pastes into the identity provider (both redirect URIs and
//! the Wallet logout URL), derived from `public.signin_url`.

use alter_bus::AdminAction;
use alter_core::sign_in::{
    SignInUrls, check_client_id, check_client_secret, check_return_urls, normalise_scopes,
};
use alter_core::{AppId, FieldError, Issuer, check_sign_in_issuer};
use alter_proto::admin::v1 as pb;
use alter_store::{IdentityProvider, SealedSecret, SecretPurpose, SignInSettings};

use crate::api::{AdminApi, admin_record};
use crate::convert::time;
use crate::error::Error;

impl AdminApi {
    fn sign_in_urls(&self, app: AppId) -> Result<SignInUrls, Error> {
        let Some(base) = &self.webhooks.signin_url else {
            return Err(Error::FailedPrecondition(
                "sign-in needs the public URL browsers reach the sign-in service at: set public.signin_url \
                 (ALTER_PUBLIC__SIGNIN_URL, e.g. https://alter.example.com) for config-api and the sign-in service, then retry"
                    .to_owned(),
            ));
        };
        Ok(SignInUrls::new(base, app))
    }

    async fn sign_in_answer(
        &self,
        app: AppId,
        idp: &IdentityProvider,
    ) -> Result<pb::SignInSettings, Error> {
        let urls = self.sign_in_urls(app).ok();
        let secret = self
            .store
            .get_secret(app, idp.id, SecretPurpose::ClientSecret)
            .await?;
        let settings = idp.sign_in.clone().unwrap_or_default();
        let urls = urls.as_ref();
        let url = |pick: fn(&SignInUrls) -> &String| urls.map(pick).cloned().unwrap_or_default();
        Ok(pb::SignInSettings {
            enabled: idp.sign_in.is_some(),
            client_id: settings.client_id,
            client_secret_set: secret.is_some(),
            client_secret_set_at: secret.map(|s| time(s.created_at)).unwrap_or_default(),
            return_urls: settings.return_urls,
            scopes: settings.scopes,
            app_redirect_uri: url(|u| &u.app_redirect_uri),
            wallet_redirect_uri: url(|u| &u.wallet_redirect_uri),
            wallet_logout_url: url(|u| &u.wallet_logout_url),
            authorize_url: url(|u| &u.authorize_url),
        })
    }

    pub(crate) async fn set_sign_in_inner(
        &self,
        req: pb::SetSignInRequest,
        actor: String,
    ) -> Result<pb::SignInSettings, Error> {
        let app = self.app(&req.app_id).await?;
        let idp = self.idp(app).await?;
        let issuer = Issuer::parse("issuer", &idp.issuer)?;
        check_sign_in_issuer(&issuer).map_err(|e| {
            Error::FailedPrecondition(format!(
                "sign-in cannot be set up for this identity provider: {}",
                e.message
            ))
        })?;
        let client_id = req.client_id.trim();
        check_client_id(client_id)?;
        check_return_urls(&req.return_urls)?;
        let scopes = normalise_scopes(&req.scopes)?;
        self.sign_in_urls(app)?;
        let secret = if req.client_secret.is_empty() {
            let stored = self
                .store
                .get_secret(app, idp.id, SecretPurpose::ClientSecret)
                .await?;
            if stored.is_none() {
                return Err(FieldError::new(
                    "client_secret",
                    "is required when sign-in is first set up: copy the Client Secret of the OIDC application",
                )
                .into());
            }
            None
        } else {
            check_client_secret(&req.client_secret)?;
            Some(self.seal_client_secret(&idp, &req.client_secret)?)
        };
        let settings = SignInSettings {
            client_id: client_id.to_owned(),
            return_urls: req.return_urls.clone(),
            scopes,
        };
        let detail = serde_json::json!({
            "enabled": true,
            "client_id": settings.client_id,
            "return_urls": settings.return_urls,
            "scopes": settings.scopes,
            "client_secret_changed": secret.is_some(),
        });
        let updated = self
            .store
            .set_sign_in_with(
                app,
                idp.id,
                Some(&settings),
                secret.as_ref(),
                &|idp: &IdentityProvider| {
                    vec![admin_record(
                        app,
                        &actor,
                        AdminAction::SignInChanged,
                        format!("sign-in of identity provider {}", idp.id),
                        None,
                        detail.clone(),
                    )]
                },
            )
            .await?;
        self.sign_in_answer(app, &updated).await
    }

    pub(crate) async fn get_sign_in_inner(
        &self,
        req: pb::GetSignInRequest,
    ) -> Result<pb::SignInSettings, Error> {
        let app = self.app(&req.app_id).await?;
        let idp = self.idp(app).await?;
        self.sign_in_answer(app, &idp).await
    }

    pub(crate) async fn disable_sign_in_inner(
        &self,
        req: pb::DisableSignInRequest,
        actor: String,
    ) -> Result<pb::SignInSettings, Error> {
        let app = self.app(&req.app_id).await?;
        let idp = self.idp(app).await?;
        if idp.sign_in.is_none() {
            return self.sign_in_answer(app, &idp).await;
        }
        let updated = self
            .store
            .set_sign_in_with(app, idp.id, None, None, &|idp: &IdentityProvider| {
                vec![admin_record(
                    app,
                    &actor,
                    AdminAction::SignInChanged,
                    format!("sign-in of identity provider {}", idp.id),
                    None,
                    serde_json::json!({ "enabled": false }),
                )]
            })
            .await?;
        self.sign_in_answer(app, &updated).await
    }

    fn seal_client_secret(
        &self,
        idp: &IdentityProvider,
        secret: &str,
    ) -> Result<SealedSecret, Error> {
        let Some(keyring) = &self.webhooks.keyring else {
            return Err(Error::FailedPrecondition(format!(
                "the client secret is stored encrypted, and no master key is configured: set {} \
                 (generate one with `alter secrets gen-key`) and restart config-api and the sign-in service",
                alter_secrets::MASTER_KEY_CONFIG_KEY
            )));
        };
        let sealed = keyring
            .seal(
                secret.as_bytes(),
                &alter_store::client_secret_seal_context(idp.id),
            )
            .map_err(|e| {
                Error::FailedPrecondition(format!("cannot seal the client secret: {e}"))
            })?;
        Ok(SealedSecret::from_sealed(sealed))
    }
}
