//! The `alter.admin.v1.AdminService` handlers: parse at the edge, apply core's rules
//! (R-CFG-01..09), and persist through the store. Each change carries its side effects into
//! the same transaction (the outbox): its audit record with the admin token's identity
//! (R-AUD-05) and the cache invalidation that tells every verifier replica what changed
//! (R-JWT-10). An answered call is a committed change whose effects will be published, even
//! if the bus is down at that moment.

use std::future::Future;
use std::sync::Arc;

use alter_bus::{AdminAction, AuditKind, AuditRecord, Invalidation};
use alter_core::{
    AppId, Audience, EventId, EventSource, FieldError, GrantId, GroupId, IdpKind, Issuer,
    Principal, UserId, check_claim_mappings_change, group_grant_eligibility, groups_back_grants,
    recognise, suggested_claim_mappings, validate_idp_kind,
};
use alter_proto::admin::v1 as pb;
use alter_proto::admin::v1::admin_service_server::AdminService;
use alter_proto::identity::v1 as id;
use alter_runtime::outbox::{RelayProgress, audit_message, invalidation_message};
use alter_store::{
    AuditQuery, IdentityProvider, NewGrant, NewIdp, OutboxMessage, RequestKey, RevokedBy, Store,
};
use chrono::Utc;
use tonic::{Code, Request, Response, Status};

use crate::auth::AdminAuth;
use crate::convert::{
    app_to_pb, audit_to_pb, grant_status_to_pb, grant_to_pb, group_to_pb, idp_to_pb, kind_from_pb,
    kind_to_pb, mappings_from_pb, mappings_to_pb, page_after, page_size, paginate, parse_id,
    parse_time, time, user_to_pb,
};
use crate::error::Error;
use crate::webhooks::WebhookConfig;

/// The calls that change state (and so write side effects to the outbox).
const CHANGES: [&str; 11] = [
    "SetDirectoryCredential",
    "DecideDirectoryImport",
    "EnableWebhooks",
    "RotateWebhookSecret",
    "DisableWebhooks",
    "CreateApp",
    "CreateIdp",
    "DeleteIdp",
    "SetClaimMappings",
    "CreateGrant",
    "RevokeGrant",
];

/// The longest a change waits for its side effects to be published before it answers.
const PUBLISH_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Who revocations made through this API are recorded as (R-REV-06).
const ADMIN_CAUSE: &str = "admin";

/// The admin API over the store (whose outbox carries every side effect to the bus) and an
/// outbound HTTP client for discovery.
#[derive(Clone)]
pub struct AdminApi {
    pub(crate) store: Arc<dyn Store>,
    progress: RelayProgress,
    pub(crate) http: reqwest::Client,
    auth: AdminAuth,
    pub(crate) webhooks: WebhookConfig,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApi").finish_non_exhaustive()
    }
}

type Answer<T> = Result<Response<T>, Status>;

impl AdminApi {
    /// The API over `store`; `progress` is the process's outbox relay, which a change waits
    /// for (briefly) before it answers.
    pub fn new(
        store: Arc<dyn Store>,
        progress: RelayProgress,
        http: reqwest::Client,
        auth: AdminAuth,
        webhooks: WebhookConfig,
    ) -> Self {
        Self {
            store,
            progress,
            http,
            auth,
            webhooks,
        }
    }

    /// Authenticates, runs the handler, counts the call by method and code, and answers.
    async fn call<Req, Resp, Fut>(
        &self,
        method: &'static str,
        request: Request<Req>,
        handler: impl FnOnce(Req, String) -> Fut,
    ) -> Answer<Resp>
    where
        Fut: Future<Output = Result<Resp, Error>>,
    {
        let result = match self.auth.check(request.metadata()) {
            Ok(actor) => handler(request.into_inner(), actor).await,
            Err(e) => Err(e),
        };
        if result.is_ok() && CHANGES.contains(&method) {
            // The change is committed with its effects; give the relay a moment to put them on
            // the bus so the verifiers hear of it before the caller does. An outage only
            // bounds this wait: the effects are safe in the outbox either way.
            let commits = self.store.outbox_signal().commits();
            self.progress.published(commits, PUBLISH_WAIT).await;
        }
        let code = result.as_ref().map_or_else(Error::code, |_| Code::Ok);
        metrics::counter!("alter_admin_calls_total", "method" => method, "code" => format!("{code:?}"))
            .increment(1);
        match result {
            Ok(answer) => Ok(Response::new(answer)),
            Err(e) => {
                if matches!(code, Code::Internal | Code::Unavailable) {
                    tracing::warn!(method, error = %e, "admin call failed");
                } else {
                    tracing::debug!(method, code = ?code, error = %e, "admin call refused");
                }
                Err(e.into())
            }
        }
    }

    /// The app, which must exist.
    pub(crate) async fn app(&self, raw: &str) -> Result<AppId, Error> {
        let app = parse_id("app_id", raw, AppId::parse)?;
        match self.store.get_app(app).await? {
            Some(_) => Ok(app),
            None => Err(Error::NotFound(format!(
                "app {app} was not found: check app_id with `alter apps list`"
            ))),
        }
    }

    /// The app's identity provider, which must exist.
    pub(crate) async fn idp(&self, app: AppId) -> Result<IdentityProvider, Error> {
        self.store.get_idp_for_app(app).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "app {app} has no identity provider: add one with `alter idp create`"
            ))
        })
    }

    async fn discover_idp_inner(
        &self,
        req: pb::DiscoverIdpRequest,
    ) -> Result<pb::DiscoverIdpResponse, Error> {
        let issuer = Issuer::parse("issuer", &req.issuer)?;
        let requested = kind_from_pb("kind", req.kind)?;
        // A preview may leave the kind of a custom domain open; every other refusal stands.
        let kind = match validate_idp_kind(&issuer, requested) {
            Ok(kind) => Some(kind),
            Err(e) if e.field == "kind" && requested.is_none() => None,
            Err(e) => return Err(e.into()),
        };
        let doc = alter_providers::discover(&self.http, &issuer).await?;
        let recognised = recognise(&issuer);
        // A host that names no provider: the document's endpoint layout may (R-CFG-04).
        let layout = doc.layout_kind();
        let kind = kind.or(layout);
        let recognised_kind = recognised.as_ref().map(|r| r.kind()).or(layout);
        Ok(pb::DiscoverIdpResponse {
            issuer: doc.issuer,
            jwks_uri: doc.jwks_uri,
            recognised_kind: recognised_kind
                .map_or(pb::IdpKind::Unspecified, kind_to_pb)
                .into(),
            suggested_claim_mappings: kind.map(|k| mappings_to_pb(&suggested_claim_mappings(k))),
            authorization_endpoint: doc.authorization_endpoint.unwrap_or_default(),
            token_endpoint: doc.token_endpoint.unwrap_or_default(),
            end_session_endpoint: doc.end_session_endpoint.unwrap_or_default(),
            kind: kind.map_or(pb::IdpKind::Unspecified, kind_to_pb).into(),
            suggested_audience: recognised
                .as_ref()
                .and_then(|r| r.suggested_audience())
                .or_else(|| {
                    // Okta's built-in server on a custom domain: the same default audience.
                    (layout == Some(IdpKind::Okta) && issuer.as_str().ends_with("/oauth2/default"))
                        .then_some("api://default")
                })
                .unwrap_or_default()
                .to_owned(),
        })
    }

    async fn create_idp_inner(
        &self,
        req: pb::CreateIdpRequest,
        actor: String,
    ) -> Result<pb::IdentityProvider, Error> {
        let app = self.app(&req.app_id).await?;
        let key = RequestKey::parse(
            "request_id",
            &req.request_id,
            fingerprint(&req, |r| r.request_id.clear()),
        )?;
        let issuer = Issuer::parse("issuer", &req.issuer)?;
        let requested = kind_from_pb("kind", req.kind)?;
        let (kind, discovered) = match validate_idp_kind(&issuer, requested) {
            Ok(kind) => (kind, None),
            // A host that names no provider: recognised by the discovery document's endpoint
            // layout, or the kind must be stated.
            Err(e) if e.field == "kind" && requested.is_none() && req.jwks_uri.is_empty() => {
                let doc = alter_providers::discover(&self.http, &issuer).await?;
                match doc.layout_kind() {
                    Some(kind) => (kind, Some(doc)),
                    None => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        let audience = Audience::parse("audience", &req.audience)?;
        let claim_mappings = req
            .claim_mappings
            .as_ref()
            .map_or_else(|| suggested_claim_mappings(kind), mappings_from_pb);
        claim_mappings.validate()?;
        if let Some(existing) = self.store.get_idp_for_app(app).await? {
            // A retry of the call that created it answers with what it created.
            if let Some(key) = &key
                && self
                    .store
                    .find_request_key(Some(app), "CreateIdp", key)
                    .await?
                    == Some(existing.id.as_uuid())
            {
                return Ok(idp_to_pb(&existing));
            }
            return Err(Error::AlreadyExists(format!(
                "app {app} already has an identity provider ({} {}); an app has at most one: \
                 delete it with `alter idp delete` first, or create another app",
                existing.kind, existing.issuer
            )));
        }
        let jwks_uri = if let Some(doc) = discovered {
            doc.jwks_uri
        } else if req.jwks_uri.is_empty() {
            // R-CFG-03: discovery must succeed (exact issuer) before anything is saved.
            alter_providers::discover(&self.http, &issuer)
                .await?
                .jwks_uri
        } else if kind != IdpKind::CustomOidc {
            return Err(FieldError::new(
                "jwks_uri",
                format!("can be given by hand only for custom_oidc providers: leave it empty for {kind}, whose keys are found by discovery"),
            )
            .into());
        } else if !alter_providers::http::is_allowed_key_url(&req.jwks_uri) {
            return Err(FieldError::new(
                "jwks_uri",
                format!(
                    "must be an https URL (http only for 127.0.0.1 and localhost), got {:?}",
                    req.jwks_uri
                ),
            )
            .into());
        } else {
            req.jwks_uri.clone()
        };
        let new = NewIdp {
            kind,
            issuer: issuer.as_str().to_owned(),
            jwks_uri,
            audience: audience.as_str().to_owned(),
            claim_mappings,
            sign_in: None,
        };
        let idp = self
            .store
            .create_idp_with(app, &new, key.as_ref(), &|idp: &IdentityProvider| {
                vec![
                    admin_record(
                        app,
                        &actor,
                        AdminAction::IdpCreated,
                        format!("identity provider {}", idp.id),
                        None,
                        idp_detail(idp),
                    ),
                    invalidation_message(app, Invalidation::IdpConfig),
                ]
            })
            .await?;
        Ok(idp_to_pb(&idp))
    }

    async fn set_claim_mappings_inner(
        &self,
        req: pb::SetClaimMappingsRequest,
        actor: String,
    ) -> Result<pb::IdentityProvider, Error> {
        let app = self.app(&req.app_id).await?;
        let Some(wire) = req.claim_mappings.as_ref() else {
            return Err(FieldError::new(
                "claim_mappings",
                "is required: give the complete mappings (unset optional claims are cleared)",
            )
            .into());
        };
        let new = mappings_from_pb(wire);
        new.validate()?;
        let idp = self.idp(app).await?;
        if let Err(e) = check_claim_mappings_change(
            idp.claim_mappings_locked_at.is_some(),
            &idp.claim_mappings,
            &new,
        ) {
            let at = idp.claim_mappings_locked_at.map(time).unwrap_or_default();
            return Err(Error::FailedPrecondition(format!(
                "claim mappings are locked because a user of this identity provider has already signed in (at {at}); {e}"
            )));
        }
        if new == idp.claim_mappings {
            return Ok(idp_to_pb(&idp));
        }
        let updated = self
            .store
            .update_claim_mappings_with(app, idp.id, &new, &|idp: &IdentityProvider| {
                vec![
                    admin_record(
                        app,
                        &actor,
                        AdminAction::ClaimMappingsChanged,
                        format!("identity provider {}", idp.id),
                        None,
                        idp_detail(idp),
                    ),
                    invalidation_message(app, Invalidation::IdpConfig),
                ]
            })
            .await?;
        Ok(idp_to_pb(&updated))
    }

    async fn create_grant_inner(
        &self,
        req: pb::CreateGrantRequest,
        actor: String,
    ) -> Result<id::Grant, Error> {
        let app = self.app(&req.app_id).await?;
        let key = RequestKey::parse(
            "request_id",
            &req.request_id,
            fingerprint(&req, |r| r.request_id.clear()),
        )?;
        let credential_ref = req.credential_ref.trim();
        if credential_ref.is_empty() || credential_ref.len() > 1024 {
            return Err(FieldError::new(
                "credential_ref",
                "must be 1 to 1024 bytes: the reference of the credential this grant gives access to",
            )
            .into());
        }
        let expires_at = parse_time("expires_at", &req.expires_at)?;
        if expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(FieldError::new("expires_at", "is in the past: give a future time, or leave it empty for a grant that does not expire").into());
        }
        let principal = match id::PrincipalKind::try_from(req.principal_kind) {
            Ok(id::PrincipalKind::User) => {
                let user = parse_id("principal_id", &req.principal_id, UserId::parse)?;
                if self.store.get_user(app, user).await?.is_none() {
                    return Err(Error::NotFound(format!(
                        "user {user} was not found in app {app}: check principal_id with `alter users list`"
                    )));
                }
                Principal::User(user)
            }
            Ok(id::PrincipalKind::Group) => {
                let group = parse_id("principal_id", &req.principal_id, GroupId::parse)?;
                let idp = self.idp(app).await?;
                // R-CFG-09: the reason names why this IDP cannot back group grants.
                group_grant_eligibility(idp.kind, idp.claim_mappings.group_claim_stable_ids)
                    .map_err(|e| Error::FailedPrecondition(e.to_string()))?;
                if self.store.get_group(app, group).await?.is_none() {
                    return Err(Error::NotFound(format!(
                        "group {group} was not found in app {app}: check principal_id with `alter groups list`"
                    )));
                }
                Principal::Group(group)
            }
            Ok(id::PrincipalKind::System) => {
                if !req.principal_id.is_empty() {
                    return Err(FieldError::new(
                        "principal_id",
                        "must be empty for a system grant, which is bound to the app itself",
                    )
                    .into());
                }
                Principal::System
            }
            Ok(id::PrincipalKind::Unspecified) | Err(_) => {
                return Err(FieldError::new(
                    "principal_kind",
                    "is required: user, group or system",
                )
                .into());
            }
        };
        let new = NewGrant {
            credential_ref: credential_ref.to_owned(),
            principal,
            expires_at,
        };
        let grant = self
            .store
            .create_grant_with(app, &new, key.as_ref(), &|grant: &alter_store::Grant| {
                vec![
                    admin_record(
                        app,
                        &actor,
                        AdminAction::GrantCreated,
                        format!("grant {}", grant.id),
                        principal_user(grant.principal),
                        serde_json::json!({
                            "grant_id": grant.id.to_string(),
                            "credential_ref": grant.credential_ref,
                            "principal": grant.principal,
                            "expires_at": grant.expires_at.map(time),
                        }),
                    ),
                    invalidation_message(app, invalidation_for(grant.principal)),
                ]
            })
            .await?;
        Ok(grant_to_pb(&grant))
    }

    async fn revoke_grant_inner(
        &self,
        req: pb::RevokeGrantRequest,
        actor: String,
    ) -> Result<id::Grant, Error> {
        let app = self.app(&req.app_id).await?;
        let grant_id = parse_id("grant_id", &req.grant_id, GrantId::parse)?;
        let not_found = || {
            Error::NotFound(format!(
                "grant {grant_id} was not found in app {app}: check grant_id with `alter grants list`"
            ))
        };
        let by = RevokedBy::new(EventSource::Admin, ADMIN_CAUSE);
        // R-REV-06 / R-AUD-01 / R-AUD-05: the revocation, its cause and who made it go to the
        // audit trail with the change. The record's ID is the grant's, so it is recorded once
        // whatever happens to the message on its way.
        let effects = |grant: &alter_store::Grant| {
            let record = AuditRecord {
                event_id: EventId::from_uuid(grant.id.as_uuid()),
                app_id: app,
                source: EventSource::Admin,
                occurred_at: grant.revoked_at.unwrap_or_else(Utc::now),
                kind: AuditKind::GrantRevoked {
                    grant_id: grant.id,
                    principal: grant.principal,
                    caused_by: None,
                    actor: Some(actor.clone()),
                },
                cause: None,
            };
            vec![
                audit_message(&record),
                invalidation_message(app, invalidation_for(grant.principal)),
            ]
        };
        let grant = match self
            .store
            .revoke_grant_with(app, grant_id, &by, &effects)
            .await
        {
            Ok(Some(grant)) => grant,
            // Already revoked: answer the grant as it is (the first cause is kept, and its
            // effects were written with the first revocation).
            Ok(None) => self
                .store
                .get_grant(app, grant_id)
                .await?
                .ok_or_else(not_found)?,
            Err(alter_store::StoreError::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        Ok(grant_to_pb(&grant))
    }

    async fn get_user_inner(&self, req: pb::GetUserRequest) -> Result<pb::UserDetail, Error> {
        let app = self.app(&req.app_id).await?;
        let user_id = parse_id("user_id", &req.user_id, UserId::parse)?;
        let Some(user) = self.store.get_user(app, user_id).await? else {
            return Err(Error::NotFound(format!(
                "user {user_id} was not found in app {app}: check user_id with `alter users list`"
            )));
        };
        let group_grants = self.store.get_idp_for_app(app).await?.is_some_and(|idp| {
            groups_back_grants(idp.kind, idp.claim_mappings.group_claim_stable_ids)
        });
        let groups = self.store.list_user_groups(app, user_id).await?;
        let grants = self
            .store
            .list_active_grants_for_user(app, user_id, group_grants)
            .await?;
        Ok(pb::UserDetail {
            user: Some(user_to_pb(&user)),
            groups: groups.iter().map(group_to_pb).collect(),
            grants: grants.iter().map(grant_to_pb).collect(),
        })
    }

    async fn list_audit_events_inner(
        &self,
        req: pb::ListAuditEventsRequest,
    ) -> Result<pb::ListAuditEventsResponse, Error> {
        let app = self.app(&req.app_id).await?;
        let user_id = match req.user_id.as_str() {
            "" => None,
            raw => Some(UserId::parse("user_id", raw)?),
        };
        let after_seq = match req.page_token.as_str() {
            "" => None,
            raw => Some(raw.parse::<i64>().map_err(|_| {
                FieldError::new("page_token", "is not a token this API issued: pass next_page_token from the previous answer unchanged")
            })?),
        };
        let size = page_size(req.page_size);
        let query = AuditQuery {
            user_id,
            kind: (!req.kind.is_empty()).then(|| req.kind.clone()),
            source: match req.source.as_str() {
                "" => None,
                raw => Some(EventSource::parse("source", raw)?),
            },
            since: parse_time("since", &req.since)?,
            until: parse_time("until", &req.until)?,
            after_seq,
            limit: size + 1,
        };
        let rows = self.store.list_audit_events(app, &query).await?;
        let (rows, next_page_token) = paginate(rows, size, |e| e.seq.to_string());
        Ok(pb::ListAuditEventsResponse {
            events: rows.iter().map(audit_to_pb).collect(),
            next_page_token,
        })
    }
}

/// A user-bound grant changes one user's answers; group and system grants change many, but
/// never the IDP's keys.
fn invalidation_for(principal: Principal) -> Invalidation {
    match principal {
        Principal::User(user_id) => Invalidation::User { user_id },
        Principal::Group(_) | Principal::System => Invalidation::AppGrants,
    }
}

fn principal_user(principal: Principal) -> Option<UserId> {
    match principal {
        Principal::User(user) => Some(user),
        Principal::Group(_) | Principal::System => None,
    }
}

/// The audit record of an admin change (R-AUD-05), as an outbox message.
pub(crate) fn admin_record(
    app: AppId,
    actor: &str,
    action: AdminAction,
    target: String,
    user_id: Option<UserId>,
    detail: serde_json::Value,
) -> OutboxMessage {
    audit_message(&AuditRecord {
        event_id: EventId::new(),
        app_id: app,
        source: EventSource::Admin,
        occurred_at: Utc::now(),
        kind: AuditKind::AdminChange {
            action,
            actor: actor.to_owned(),
            target,
            user_id,
            detail,
        },
        cause: None,
    })
}

/// What the trail keeps of an IDP's configuration (no secret is part of it).
fn idp_detail(idp: &IdentityProvider) -> serde_json::Value {
    let m = &idp.claim_mappings;
    serde_json::json!({
        "idp_id": idp.id.to_string(),
        "kind": idp.kind.as_str(),
        "issuer": idp.issuer,
        "jwks_uri": idp.jwks_uri,
        "audience": idp.audience,
        "claim_mappings": {
            "user_id_claim": m.user_id_claim,
            "group_claim": m.group_claim,
            "role_claim": m.role_claim,
            "email_claim": m.email_claim,
            "display_name_claim": m.display_name_claim,
            "group_claim_stable_ids": m.group_claim_stable_ids,
        },
    })
}

/// A digest of a request's parameters (its protobuf encoding without the request ID), so a
/// request ID reused for another request is refused rather than answered with the wrong thing.
fn fingerprint<M: prost::Message + Clone>(req: &M, clear_id: impl FnOnce(&mut M)) -> String {
    use sha2::Digest;
    let mut bare = req.clone();
    clear_id(&mut bare);
    hex::encode(sha2::Sha256::digest(bare.encode_to_vec()))
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_app(&self, request: Request<pb::CreateAppRequest>) -> Answer<pb::App> {
        self.call("CreateApp", request, |req, actor| async move {
            let key = RequestKey::parse(
                "request_id",
                &req.request_id,
                fingerprint(&req, |r| r.request_id.clear()),
            )?;
            let app = self
                .store
                .create_app_with(req.name.trim(), key.as_ref(), &|app: &alter_store::App| {
                    vec![admin_record(
                        app.id,
                        &actor,
                        AdminAction::AppCreated,
                        format!("app {}", app.id),
                        None,
                        serde_json::json!({ "name": app.name }),
                    )]
                })
                .await?;
            Ok(app_to_pb(&app))
        })
        .await
    }

    async fn get_app(&self, request: Request<pb::GetAppRequest>) -> Answer<pb::App> {
        self.call("GetApp", request, |req, _| async move {
            let app = self.app(&req.app_id).await?;
            let found = self
                .store
                .get_app(app)
                .await?
                .ok_or_else(|| Error::NotFound(format!("app {app} was not found")))?;
            Ok(app_to_pb(&found))
        })
        .await
    }

    async fn list_apps(
        &self,
        request: Request<pb::ListAppsRequest>,
    ) -> Answer<pb::ListAppsResponse> {
        self.call("ListApps", request, |req, _| async move {
            let size = page_size(req.page_size);
            let after = page_after(&req.page_token, AppId::parse)?;
            let rows = self.store.list_apps(after, size + 1).await?;
            let (rows, next_page_token) = paginate(rows, size, |a| a.id.to_string());
            Ok(pb::ListAppsResponse {
                apps: rows.iter().map(app_to_pb).collect(),
                next_page_token,
            })
        })
        .await
    }

    async fn discover_idp(
        &self,
        request: Request<pb::DiscoverIdpRequest>,
    ) -> Answer<pb::DiscoverIdpResponse> {
        self.call("DiscoverIdp", request, |req, _| {
            self.discover_idp_inner(req)
        })
        .await
    }

    async fn create_idp(
        &self,
        request: Request<pb::CreateIdpRequest>,
    ) -> Answer<pb::IdentityProvider> {
        self.call("CreateIdp", request, |req, actor| {
            self.create_idp_inner(req, actor)
        })
        .await
    }

    async fn get_idp(&self, request: Request<pb::GetIdpRequest>) -> Answer<pb::IdentityProvider> {
        self.call("GetIdp", request, |req, _| async move {
            let app = self.app(&req.app_id).await?;
            Ok(idp_to_pb(&self.idp(app).await?))
        })
        .await
    }

    async fn delete_idp(
        &self,
        request: Request<pb::DeleteIdpRequest>,
    ) -> Answer<pb::DeleteIdpResponse> {
        self.call("DeleteIdp", request, |req, actor| async move {
            let app = self.app(&req.app_id).await?;
            let idp = self.idp(app).await?;
            self.store
                .delete_idp_with(app, idp.id, &|_: &()| {
                    vec![
                        admin_record(
                            app,
                            &actor,
                            AdminAction::IdpDeleted,
                            format!("identity provider {}", idp.id),
                            None,
                            idp_detail(&idp),
                        ),
                        invalidation_message(app, Invalidation::IdpConfig),
                    ]
                })
                .await?;
            Ok(pb::DeleteIdpResponse {})
        })
        .await
    }

    async fn set_claim_mappings(
        &self,
        request: Request<pb::SetClaimMappingsRequest>,
    ) -> Answer<pb::IdentityProvider> {
        self.call("SetClaimMappings", request, |req, actor| {
            self.set_claim_mappings_inner(req, actor)
        })
        .await
    }

    async fn set_sign_in(
        &self,
        request: Request<pb::SetSignInRequest>,
    ) -> Answer<pb::SignInSettings> {
        self.call("SetSignIn", request, |req, actor| {
            self.set_sign_in_inner(req, actor)
        })
        .await
    }

    async fn get_sign_in(
        &self,
        request: Request<pb::GetSignInRequest>,
    ) -> Answer<pb::SignInSettings> {
        self.call("GetSignIn", request, |req, _| self.get_sign_in_inner(req))
            .await
    }

    async fn disable_sign_in(
        &self,
        request: Request<pb::DisableSignInRequest>,
    ) -> Answer<pb::SignInSettings> {
        self.call("DisableSignIn", request, |req, actor| {
            self.disable_sign_in_inner(req, actor)
        })
        .await
    }

    async fn create_grant(&self, request: Request<pb::CreateGrantRequest>) -> Answer<id::Grant> {
        self.call("CreateGrant", request, |req, actor| {
            self.create_grant_inner(req, actor)
        })
        .await
    }

    async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Answer<pb::ListGrantsResponse> {
        self.call("ListGrants", request, |req, _| async move {
            let app = self.app(&req.app_id).await?;
            let size = page_size(req.page_size);
            let after = page_after(&req.page_token, GrantId::parse)?;
            let rows = self.store.list_grants(app, after, size + 1).await?;
            let (rows, next_page_token) = paginate(rows, size, |g| g.id.to_string());
            // The token follows the rows scanned, so filtered pages may be short.
            let now = Utc::now();
            let shown: Vec<_> = rows
                .iter()
                .filter(|g| {
                    req.include_inactive
                        || (g.revoked_at.is_none() && g.expires_at.is_none_or(|t| t > now))
                })
                .collect();
            Ok(pb::ListGrantsResponse {
                grants: shown.iter().map(|g| grant_to_pb(g)).collect(),
                statuses: shown.iter().map(|g| grant_status_to_pb(g)).collect(),
                next_page_token,
            })
        })
        .await
    }

    async fn revoke_grant(&self, request: Request<pb::RevokeGrantRequest>) -> Answer<id::Grant> {
        self.call("RevokeGrant", request, |req, actor| {
            self.revoke_grant_inner(req, actor)
        })
        .await
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Answer<pb::ListUsersResponse> {
        self.call("ListUsers", request, |req, _| async move {
            let app = self.app(&req.app_id).await?;
            let size = page_size(req.page_size);
            let after = page_after(&req.page_token, UserId::parse)?;
            let rows = self.store.list_users(app, after, size + 1).await?;
            let (rows, next_page_token) = paginate(rows, size, |u| u.id.to_string());
            Ok(pb::ListUsersResponse {
                users: rows.iter().map(user_to_pb).collect(),
                next_page_token,
            })
        })
        .await
    }

    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> Answer<pb::UserDetail> {
        self.call("GetUser", request, |req, _| self.get_user_inner(req))
            .await
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Answer<pb::ListGroupsResponse> {
        self.call("ListGroups", request, |req, _| async move {
            let app = self.app(&req.app_id).await?;
            let size = page_size(req.page_size);
            let after = page_after(&req.page_token, GroupId::parse)?;
            let rows = self.store.list_groups(app, after, size + 1).await?;
            let (rows, next_page_token) = paginate(rows, size, |g| g.id.to_string());
            Ok(pb::ListGroupsResponse {
                groups: rows.iter().map(group_to_pb).collect(),
                next_page_token,
            })
        })
        .await
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Answer<pb::ListAuditEventsResponse> {
        self.call("ListAuditEvents", request, |req, _| {
            self.list_audit_events_inner(req)
        })
        .await
    }

    async fn enable_webhooks(
        &self,
        request: Request<pb::EnableWebhooksRequest>,
    ) -> Answer<pb::WebhookSecretIssued> {
        self.call("EnableWebhooks", request, |req, actor| {
            self.enable_webhooks_inner(req, actor)
        })
        .await
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<pb::RotateWebhookSecretRequest>,
    ) -> Answer<pb::WebhookSecretIssued> {
        self.call("RotateWebhookSecret", request, |req, actor| {
            self.rotate_webhook_secret_inner(req, actor)
        })
        .await
    }

    async fn disable_webhooks(
        &self,
        request: Request<pb::DisableWebhooksRequest>,
    ) -> Answer<pb::DisableWebhooksResponse> {
        self.call("DisableWebhooks", request, |req, actor| {
            self.disable_webhooks_inner(req, actor)
        })
        .await
    }

    async fn get_webhook_status(
        &self,
        request: Request<pb::GetWebhookStatusRequest>,
    ) -> Answer<pb::WebhookStatus> {
        self.call("GetWebhookStatus", request, |req, _| {
            self.webhook_status_inner(req)
        })
        .await
    }

    async fn verify_audit_chain(
        &self,
        request: Request<pb::VerifyAuditChainRequest>,
    ) -> Answer<pb::VerifyAuditChainResponse> {
        self.call("VerifyAuditChain", request, |req, _| async move {
            let app = self.app(&req.app_id).await?;
            Ok(match self.store.verify_audit_chain(app).await? {
                alter_store::ChainVerification::Intact { rows } => pb::VerifyAuditChainResponse {
                    intact: true,
                    rows,
                    ..Default::default()
                },
                alter_store::ChainVerification::Broken { seq, reason } => {
                    pb::VerifyAuditChainResponse {
                        intact: false,
                        first_broken_seq: seq,
                        reason,
                        ..Default::default()
                    }
                }
            })
        })
        .await
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Answer<pb::ListWebhookDeliveriesResponse> {
        self.call("ListWebhookDeliveries", request, |req, _| {
            self.list_webhook_deliveries_inner(req)
        })
        .await
    }

    async fn set_directory_credential(
        &self,
        request: Request<pb::SetDirectoryCredentialRequest>,
    ) -> Answer<pb::DirectoryStatus> {
        self.call("SetDirectoryCredential", request, |req, actor| {
            self.set_directory_credential_inner(req, actor)
        })
        .await
    }

    async fn test_directory_credential(
        &self,
        request: Request<pb::TestDirectoryCredentialRequest>,
    ) -> Answer<pb::DirectoryStatus> {
        self.call("TestDirectoryCredential", request, |req, _| {
            self.test_directory_credential_inner(req)
        })
        .await
    }

    async fn get_directory_status(
        &self,
        request: Request<pb::GetDirectoryStatusRequest>,
    ) -> Answer<pb::DirectoryStatus> {
        self.call("GetDirectoryStatus", request, |req, _| {
            self.get_directory_status_inner(req)
        })
        .await
    }

    async fn run_directory_import(
        &self,
        request: Request<pb::RunDirectoryImportRequest>,
    ) -> Answer<pb::DirectoryImport> {
        self.call("RunDirectoryImport", request, |req, actor| {
            self.run_directory_import_inner(req, actor)
        })
        .await
    }

    async fn get_directory_import(
        &self,
        request: Request<pb::GetDirectoryImportRequest>,
    ) -> Answer<pb::DirectoryImport> {
        self.call("GetDirectoryImport", request, |req, _| {
            self.get_directory_import_inner(req)
        })
        .await
    }

    async fn list_directory_imports(
        &self,
        request: Request<pb::ListDirectoryImportsRequest>,
    ) -> Answer<pb::ListDirectoryImportsResponse> {
        self.call("ListDirectoryImports", request, |req, _| {
            self.list_directory_imports_inner(req)
        })
        .await
    }

    async fn list_directory_import_removals(
        &self,
        request: Request<pb::ListDirectoryImportRemovalsRequest>,
    ) -> Answer<pb::ListDirectoryImportRemovalsResponse> {
        self.call("ListDirectoryImportRemovals", request, |req, _| {
            self.list_directory_import_removals_inner(req)
        })
        .await
    }

    async fn decide_directory_import(
        &self,
        request: Request<pb::DecideDirectoryImportRequest>,
    ) -> Answer<pb::DirectoryImport> {
        self.call("DecideDirectoryImport", request, |req, actor| {
            self.decide_directory_import_inner(req, actor)
        })
        .await
    }
}
