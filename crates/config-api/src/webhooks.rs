//! Webhook settings (R-HOOK-01): enable, rotate, disable and status per identity provider.
//!
//! Auth0 and custom OIDC: we generate the secret, show it once and keep only its SHA-256.
//! Clerk: the admin pastes the endpoint's `whsec_…` signing secret; Okta: the
//! `Authorization` value they set on the event hook. Those two are needed in clear to check
//! a delivery, so they are sealed with the operator's keyring. The endpoint URL comes with
//! every answer. A rotation keeps the previous secret valid for a grace period (Svix signs
//! with both while rotating; Auth0 and Okta headers are checked against both).

use alter_bus::{AdminAction, Invalidation};
use alter_core::{AppId, FieldError, IdpId, IdpKind};
use alter_proto::admin::v1 as pb;
use alter_runtime::outbox::invalidation_message;
use alter_secrets::{Keyring, SecretString, TokenHash, WEBHOOK_SECRET_PREFIX};
use alter_store::{IdentityProvider, SealedSecret, StoredWebhookSecret, WebhookSettings};
use chrono::{Duration, Utc};

use crate::api::{AdminApi, admin_record};
use crate::convert::{kind_to_pb, time};
use crate::error::Error;

/// What webhooks need from config-api's configuration.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// `<base>/v1/webhooks/<idp_id>` is each IDP's endpoint.
    pub public_base_url: String,
    pub default_grace: Duration,
    /// Seals pasted secrets; `None` when `secrets.master_key` is not configured.
    pub keyring: Option<Keyring>,
    /// `public.signin_url`: the sign-in URLs shown with the sign-in settings derive from it.
    pub signin_url: Option<String>,
}

/// A secret ready to store, and the one to show (only when generated here).
struct NewSecret {
    stored: StoredWebhookSecret,
    shown: Option<SecretString>,
}

impl AdminApi {
    fn endpoint_url(&self, idp: IdpId) -> String {
        format!("{}/v1/webhooks/{idp}", self.webhooks.public_base_url)
    }

    fn status(
        &self,
        idp: &IdentityProvider,
        settings: Option<&WebhookSettings>,
    ) -> pb::WebhookStatus {
        pb::WebhookStatus {
            app_id: idp.app_id.to_string(),
            idp_id: idp.id.to_string(),
            kind: kind_to_pb(idp.kind).into(),
            enabled: settings.is_some_and(|s| s.enabled),
            endpoint_url: self.endpoint_url(idp.id),
            enabled_at: settings.map(|s| time(s.enabled_at)).unwrap_or_default(),
            rotated_at: settings
                .and_then(|s| s.rotated_at)
                .map(time)
                .unwrap_or_default(),
            previous_valid_until: settings
                .and_then(|s| s.previous_valid_until)
                .filter(|t| *t > Utc::now())
                .map(time)
                .unwrap_or_default(),
        }
    }

    /// The secret for `idp` from what the admin sent (R-HOOK-01's rules per provider).
    fn new_secret(&self, idp: &IdentityProvider, pasted: &str) -> Result<NewSecret, Error> {
        let pasted = pasted.trim();
        match idp.kind {
            IdpKind::Auth0 | IdpKind::CustomOidc => {
                if !pasted.is_empty() {
                    return Err(FieldError::new(
                        "secret",
                        format!(
                            "must be empty for {}: the secret is generated here and shown once",
                            idp.kind
                        ),
                    )
                    .into());
                }
                let secret = alter_secrets::generate_token(WEBHOOK_SECRET_PREFIX).map_err(|e| {
                    Error::FailedPrecondition(format!("cannot generate a webhook secret: {e}"))
                })?;
                let hash = TokenHash::of(secret.expose());
                Ok(NewSecret {
                    stored: StoredWebhookSecret::Hash(hash.as_bytes().to_vec()),
                    shown: Some(secret),
                })
            }
            IdpKind::Clerk => {
                // R-HOOK-01: prefix, base64 and length, as the verifier will read it.
                alter_providers::inbound::parse_svix_secret(pasted)
                    .map_err(|e| Error::from(FieldError::new("secret", e.to_string())))?;
                Ok(NewSecret {
                    stored: self.seal(idp.id, pasted)?,
                    shown: None,
                })
            }
            IdpKind::Okta => {
                if pasted.is_empty()
                    || pasted.len() > 1024
                    || !pasted.bytes().all(|b| (0x20..0x7f).contains(&b))
                {
                    return Err(FieldError::new(
                        "secret",
                        "must be the Authorization header value you set on the Okta event hook: 1 to 1024 printable ASCII characters",
                    )
                    .into());
                }
                Ok(NewSecret {
                    stored: self.seal(idp.id, pasted)?,
                    shown: None,
                })
            }
        }
    }

    fn seal(&self, idp: IdpId, secret: &str) -> Result<StoredWebhookSecret, Error> {
        let Some(keyring) = &self.webhooks.keyring else {
            return Err(Error::FailedPrecondition(format!(
                "pasted webhook secrets are stored encrypted, and no master key is configured: set {} \
                 (generate one with `alter secrets gen-key`) and restart config-api and webhook-ingest",
                alter_secrets::MASTER_KEY_CONFIG_KEY
            )));
        };
        let sealed = keyring
            .seal(secret.as_bytes(), &alter_store::webhook_seal_context(idp))
            .map_err(|e| {
                Error::FailedPrecondition(format!("cannot seal the webhook secret: {e}"))
            })?;
        Ok(StoredWebhookSecret::Sealed(SealedSecret::from_sealed(
            sealed,
        )))
    }

    fn instructions(&self, idp: &IdentityProvider) -> String {
        let url = self.endpoint_url(idp.id);
        match idp.kind {
            IdpKind::Auth0 => format!(
                "In Auth0 (Monitoring > Streams > Custom Webhook) set the Payload URL to {url}, the \
                 Authorization Token to the secret above (without \"Bearer \"), and the content format \
                 to JSON Array, JSON Lines or JSON Object"
            ),
            IdpKind::Clerk => format!(
                "The Clerk webhook endpoint's URL must be {url}; subscribe it to user.deleted, \
                 user.updated, organizationMembership.deleted and organization.deleted"
            ),
            IdpKind::Okta => format!(
                "Set the Okta event hook's URL to {url} with the same Authorization value, then verify it \
                 from Okta (the verification request is answered even before this call)"
            ),
            IdpKind::CustomOidc => format!(
                "POST events to {url} with `Authorization: Bearer <the secret above>`; the payload \
                 format is in docs/webhooks-custom-oidc.md"
            ),
        }
    }

    fn issued(
        &self,
        idp: &IdentityProvider,
        settings: &WebhookSettings,
        shown: Option<SecretString>,
    ) -> pb::WebhookSecretIssued {
        pb::WebhookSecretIssued {
            status: Some(self.status(idp, Some(settings))),
            secret: shown.map(|s| s.expose().to_owned()).unwrap_or_default(),
            instructions: self.instructions(idp),
        }
    }

    pub(crate) async fn enable_webhooks_inner(
        &self,
        req: pb::EnableWebhooksRequest,
        actor: String,
    ) -> Result<pb::WebhookSecretIssued, Error> {
        let app = self.app(&req.app_id).await?;
        let idp = self.idp(app).await?;
        if self
            .store
            .get_webhook_settings(app, idp.id)
            .await?
            .is_some()
        {
            return Err(Error::AlreadyExists(format!(
                "webhooks are already enabled for app {app}: use `alter webhooks rotate` for a new secret, \
                 or `alter webhooks disable` first"
            )));
        }
        let secret = self.new_secret(&idp, &req.secret)?;
        let settings = self
            .store
            .put_webhook_settings_with(app, idp.id, &secret.stored, None, &|s: &WebhookSettings| {
                vec![
                    admin_record(
                        app,
                        &actor,
                        AdminAction::WebhooksEnabled,
                        format!("webhooks of identity provider {}", s.idp_id),
                        None,
                        detail(&idp, self),
                    ),
                    invalidation_message(app, Invalidation::Webhooks),
                ]
            })
            .await?;
        Ok(self.issued(&idp, &settings, secret.shown))
    }

    pub(crate) async fn rotate_webhook_secret_inner(
        &self,
        req: pb::RotateWebhookSecretRequest,
        actor: String,
    ) -> Result<pb::WebhookSecretIssued, Error> {
        let app = self.app(&req.app_id).await?;
        let idp = self.idp(app).await?;
        let Some(current) = self.store.get_webhook_settings(app, idp.id).await? else {
            return Err(not_enabled(app));
        };
        let grace = match req.grace_period_secs {
            0 => self.webhooks.default_grace,
            secs if secs > 604_800 => {
                return Err(FieldError::new(
                    "grace_period_secs",
                    "must be at most 604800 (7 days); 0 uses the configured default",
                )
                .into());
            }
            secs => Duration::seconds(i64::from(secs)),
        };
        let secret = self.new_secret(&idp, &req.secret)?;
        let until = Utc::now() + grace;
        let settings = self
            .store
            .put_webhook_settings_with(
                app,
                idp.id,
                &secret.stored,
                Some((&current.current, until)),
                &|s: &WebhookSettings| {
                    vec![
                        admin_record(
                            app,
                            &actor,
                            AdminAction::WebhookSecretRotated,
                            format!("webhooks of identity provider {}", s.idp_id),
                            None,
                            serde_json::json!({ "previous_valid_until": time(until) }),
                        ),
                        invalidation_message(app, Invalidation::Webhooks),
                    ]
                },
            )
            .await?;
        Ok(self.issued(&idp, &settings, secret.shown))
    }

    pub(crate) async fn disable_webhooks_inner(
        &self,
        req: pb::DisableWebhooksRequest,
        actor: String,
    ) -> Result<pb::DisableWebhooksResponse, Error> {
        let app = self.app(&req.app_id).await?;
        let idp = self.idp(app).await?;
        let disabled = self
            .store
            .disable_webhooks_with(app, idp.id, &|_: &()| {
                vec![
                    admin_record(
                        app,
                        &actor,
                        AdminAction::WebhooksDisabled,
                        format!("webhooks of identity provider {}", idp.id),
                        None,
                        serde_json::json!({}),
                    ),
                    invalidation_message(app, Invalidation::Webhooks),
                ]
            })
            .await?;
        if !disabled {
            return Err(not_enabled(app));
        }
        Ok(pb::DisableWebhooksResponse {})
    }

    pub(crate) async fn webhook_status_inner(
        &self,
        req: pb::GetWebhookStatusRequest,
    ) -> Result<pb::WebhookStatus, Error> {
        let app = self.app(&req.app_id).await?;
        let idp = self.idp(app).await?;
        let settings = self.store.get_webhook_settings(app, idp.id).await?;
        Ok(self.status(&idp, settings.as_ref()))
    }
}

fn detail(idp: &IdentityProvider, api: &AdminApi) -> serde_json::Value {
    serde_json::json!({
        "idp_id": idp.id.to_string(),
        "kind": idp.kind.as_str(),
        "endpoint_url": api.endpoint_url(idp.id),
    })
}

fn not_enabled(app: AppId) -> Error {
    Error::NotFound(format!(
        "webhooks are not enabled for app {app}: enable them with `alter webhooks enable`"
    ))
}

impl AdminApi {
    /// R-HOOK-08: the latest deliveries, with what each accepted event changed.
    pub(crate) async fn list_webhook_deliveries_inner(
        &self,
        req: pb::ListWebhookDeliveriesRequest,
    ) -> Result<pb::ListWebhookDeliveriesResponse, Error> {
        let app = self.app(&req.app_id).await?;
        let before = match req.page_token.as_str() {
            "" => None,
            raw => Some(raw.parse::<i64>().map_err(|_| {
                FieldError::new(
                    "page_token",
                    "is not a token this API issued: pass next_page_token from the previous answer unchanged",
                )
            })?),
        };
        let size = crate::convert::page_size(req.page_size);
        let rows = self.store.list_deliveries(app, before, size + 1).await?;
        let more = rows.len() > size as usize;
        let rows = &rows[..rows.len().min(size as usize)];
        let events: Vec<alter_core::EventId> =
            rows.iter().filter_map(|r| r.record.event_id).collect();
        let changes = self.store.audit_kinds_for_events(app, &events).await?;
        let deliveries = rows
            .iter()
            .map(|row| {
                let r = &row.record;
                pb::WebhookDelivery {
                    received_at: time(r.received_at),
                    provider_event_id: r.provider_event_id.clone().unwrap_or_default(),
                    event_type: r.event_type.clone().unwrap_or_default(),
                    event_id: r.event_id.map(|e| e.to_string()).unwrap_or_default(),
                    outcome: r.outcome.as_str().to_owned(),
                    reason: r.reason.clone().unwrap_or_default(),
                    changes: r
                        .event_id
                        .map(|id| {
                            changes
                                .iter()
                                .filter(|(e, _)| *e == id)
                                .map(|(_, kind)| kind.clone())
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
        Ok(pb::ListWebhookDeliveriesResponse {
            deliveries,
            next_page_token: if more {
                rows.last().map(|r| r.seq.to_string()).unwrap_or_default()
            } else {
                String::new()
            },
        })
    }
}
