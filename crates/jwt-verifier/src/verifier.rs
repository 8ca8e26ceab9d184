//! The Verify logic, usable in-process (benchmarks) and behind gRPC: token cache → IDP
//! config → token check → resolved-user cache → just-in-time provisioning and memberships →
//! the answer. The warm path is one digest and two hash lookups, with no database round trip.
//!
//! Caches are trusted only while invalidation events are being received (R-JWT-10); without
//! them every call reads the database. Cached entries also have a maximum age, a backstop
//! behind the events. Provisioning audit records travel with the change through the store's
//! outbox, so no publish is awaited on the request path and a bus outage never fails a
//! sign-in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alter_bus::{AuditRecord, InvalidationNotice};
use alter_core::{
    AppId, EventId, EventSource, ExtractedIdentity, GroupId, IdpId, LifecycleEvent, LifecycleKind,
    UserId, UserRef, UserStatus, extract_identity, groups_back_grants,
};
use alter_proto::identity::v1::{self as pb, RefusalReason};
use alter_providers::{IdTokenExpectations, JwksCache, TokenExpectations};
use alter_runtime::outbox::audit_message;
use alter_store::{
    GroupUpsert, IdentityProvider, MembershipDiff, OutboxMessage, Store, UpsertedUser, UserUpsert,
};
use aws_lc_rs::digest;
use chrono::{DateTime, Utc};

use crate::answer::{Grants, group_message, user_message};
use crate::cache::{Digest, Generations, ShardedCache, Stamp};
use crate::config::Settings;
use crate::error::VerifyError;
use crate::metrics::Metrics;
use crate::token;

/// The app's identity provider as Verify needs it, with what is derived from it once.
struct IdpEntry {
    config: IdentityProvider,
    expectations: TokenExpectations,
    /// R-JWT-07 / R-CFG-09: whether memberships from the group claim back group grants.
    groups_back_grants: bool,
    /// R-CFG-08: the claim mappings are known to be locked; no need to lock again.
    locked: AtomicBool,
    stamp: Stamp,
}

/// Whether the token's group claim says which groups the user is in (an access token, or an
/// ID token that carries it) or is absent (an ID token without it: memberships stay as stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupClaim {
    Authoritative,
    Absent,
}

/// A resolved user: what the database says about the user behind one set of claims.
struct ResolvedUser {
    user_id: UserId,
    status: UserStatus,
    user: pb::User,
    groups: Vec<pb::Group>,
    grants: Grants,
    stamp: Stamp,
    /// When it was read; served no longer than the maximum age.
    read_at: Instant,
}

/// A verified token: what is its own (expiry, roles), sharing the resolved user with every
/// other token of the same user instead of copying it.
struct TokenEntry {
    resolved: Arc<ResolvedUser>,
    expires_at: i64,
    roles: Vec<String>,
    stamp: Stamp,
}

impl TokenEntry {
    fn answer_at(&self, now: DateTime<Utc>) -> pb::VerifyResponse {
        pb::VerifyResponse {
            user: Some(self.resolved.user.clone()),
            groups: self.resolved.groups.clone(),
            grants: self.resolved.grants.active_at(now),
            roles: self.roles.clone(),
            token_expires_at: self.expires_at,
        }
    }
}

/// Cache hits and misses of one verifier (the Prometheus counters are process-wide).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub token_hits: u64,
    pub user_hits: u64,
    pub idp_hits: u64,
    /// Resolutions that read the database (a user-cache miss, or any call while not live).
    pub user_reads: u64,
    /// IDP configurations read from the database.
    pub idp_reads: u64,
}

#[derive(Default)]
struct Counters {
    token_hits: AtomicU64,
    user_hits: AtomicU64,
    idp_hits: AtomicU64,
    user_reads: AtomicU64,
    idp_reads: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Verifies tokens for every app and resolves their users; one per process.
pub struct Verifier {
    store: Arc<dyn Store>,
    jwks: JwksCache,
    leeway: Duration,
    max_age: Duration,
    counters: Counters,
    claim_limits: alter_core::ClaimLimits,
    generations: Generations,
    /// Caches are trusted only while the invalidation subscription is live (R-JWT-10).
    live: AtomicBool,
    tokens: ShardedCache<Digest, Arc<TokenEntry>>,
    users: ShardedCache<Digest, Arc<ResolvedUser>>,
    idps: ShardedCache<AppId, Arc<IdpEntry>>,
    metrics: Metrics,
    /// How many invalidations were applied: lets tests and operators wait for one.
    applied: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier over `store`, fetching keys through `jwks`. Its caches stay unused until
    /// [`Verifier::set_live`] says invalidations are being received.
    pub fn new(settings: &Settings, store: Arc<dyn Store>, jwks: JwksCache) -> Self {
        Self {
            store,
            jwks,
            leeway: settings.leeway(),
            max_age: settings.cache_max_age(),
            counters: Counters::default(),
            claim_limits: settings.claim_limits(),
            generations: Generations::new(),
            live: AtomicBool::new(false),
            tokens: ShardedCache::new(settings.token_cache_capacity),
            users: ShardedCache::new(settings.user_cache_capacity),
            idps: ShardedCache::new(settings.idp_cache_capacity),
            metrics: Metrics::new(),
            applied: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Whether cache invalidations are being received. When `false`, every call reads the
    /// database, so no revocation can be missed; switching either way drops every cache.
    pub fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
        self.generations.invalidate_everything();
    }

    /// Whether caches are trusted now (invalidations are being received).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// This verifier's cache hits and database reads so far.
    pub fn cache_stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            token_hits: c.token_hits.load(Ordering::Relaxed),
            user_hits: c.user_hits.load(Ordering::Relaxed),
            idp_hits: c.idp_hits.load(Ordering::Relaxed),
            user_reads: c.user_reads.load(Ordering::Relaxed),
            idp_reads: c.idp_reads.load(Ordering::Relaxed),
        }
    }

    /// Applies one cache invalidation; visible to the very next call (R-JWT-10). Only an IDP
    /// configuration change forgets the IDP's signing keys: a grant change never makes every
    /// replica refetch the JWKS (and fail if the IDP is slow at that moment).
    pub fn invalidate(&self, notice: &InvalidationNotice) {
        match notice.invalidation {
            alter_bus::Invalidation::User { user_id } => {
                self.generations.invalidate_user(user_id);
            }
            alter_bus::Invalidation::AppGrants => self.generations.invalidate_app(notice.app_id),
            // Webhook settings are webhook-ingest's; nothing cached here depends on them.
            alter_bus::Invalidation::Webhooks => {}
            invalidation => {
                self.generations.invalidate_app(notice.app_id);
                if invalidation.forgets_keys() {
                    if let Some(entry) = self.idps.get(&notice.app_id) {
                        self.jwks.forget(entry.config.id);
                    }
                    self.idps.remove(&notice.app_id);
                }
            }
        }
        self.applied.send_modify(|n| *n += 1);
    }

    /// A receiver of the number of invalidations applied so far; wait on it to know an
    /// invalidation published on the bus has reached this replica.
    pub fn invalidations_applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Drops every cached answer, user and IDP (invalidations may have been missed).
    pub fn invalidate_everything(&self) {
        self.generations.invalidate_everything();
    }

    /// Verify: the token presented to the app, answered with the user, groups and grants.
    pub async fn verify(
        &self,
        app_id: &str,
        token: &str,
    ) -> Result<pb::VerifyResponse, VerifyError> {
        use tracing::Instrument as _;
        let started = Instant::now();
        // Hot path: target `alter_hot` is exported as a trace span when OTLP is configured and
        // never logged, so without an exporter the span costs nothing.
        let span = tracing::info_span!(
            target: "alter_hot",
            "verify",
            app_id = app_id,
            cache = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let result = self
            .verify_inner(app_id, token)
            .instrument(span.clone())
            .await;
        if !span.is_disabled() {
            span.record(
                "outcome",
                result.as_ref().map_or_else(|e| e.outcome(), |_| "ok"),
            );
        }
        self.metrics.record(&result, started.elapsed());
        result
    }

    async fn verify_inner(
        &self,
        app_id: &str,
        token: &str,
    ) -> Result<pb::VerifyResponse, VerifyError> {
        let app = AppId::parse("app_id", app_id).map_err(|e| VerifyError::InvalidArgument {
            field: "app_id",
            message: e.message,
        })?;
        let token = token.trim();
        if token.is_empty() {
            return Err(VerifyError::InvalidArgument {
                field: "token",
                message: "is empty: pass the compact JWS (header.payload.signature) without a \"Bearer \" prefix".to_owned(),
            });
        }
        let live = self.live.load(Ordering::Acquire);
        let key = token_key(app, token);
        let now = Utc::now();
        if live {
            if let Some(entry) = self.tokens.get(&key)
                && entry.expires_at > now.timestamp()
                && entry.resolved.read_at.elapsed() < self.max_age
                && self
                    .generations
                    .is_current(entry.stamp, app, Some(entry.resolved.user_id))
            {
                self.metrics.token_hit.increment(1);
                bump(&self.counters.token_hits);
                tracing::Span::current().record("cache", "token_hit");
                return Ok(entry.answer_at(now));
            }
            self.metrics.token_miss.increment(1);
            tracing::Span::current().record("cache", "miss");
        } else {
            tracing::Span::current().record("cache", "not_live");
        }

        let idp = self.idp(app, live).await?;
        let verified = token::verify(
            token,
            &idp.expectations,
            idp.config.id,
            &idp.config.jwks_uri,
            &self.jwks,
        )
        .await?;
        let entry = self
            .resolve_verified(app, &idp, &verified, GroupClaim::Authoritative, live)
            .await?;
        let answer = entry.answer_at(now);
        let expires_at = entry.expires_at;
        if live && expires_at > now.timestamp() {
            let now_secs = now.timestamp();
            self.tokens.insert(key, Arc::new(entry), |e| {
                e.expires_at > now_secs
                    && e.resolved.read_at.elapsed() < self.max_age
                    && self
                        .generations
                        .is_current(e.stamp, app, Some(e.resolved.user_id))
            });
        }
        Ok(answer)
    }

    /// Sign-in (R-OIDC-01): an ID token from the app's identity provider, verified as Verify
    /// verifies an access token (same keys, issuer, times and algorithms) with the client ID
    /// as the audience, plus its `nonce`, `azp` and `at_hash`; then the user is resolved or
    /// provisioned just in time exactly as Verify does, and answered the same way. A group
    /// claim the ID token does not carry leaves the user's memberships as they are (ID tokens
    /// often omit it); one it carries replaces them as on Verify. Never cached as a token.
    pub async fn verify_id_token(
        &self,
        app: AppId,
        id_token: &str,
        expected: &IdTokenExpectations<'_>,
    ) -> Result<pb::VerifyResponse, VerifyError> {
        let started = Instant::now();
        let result = self.verify_id_token_inner(app, id_token, expected).await;
        self.metrics.record(&result, started.elapsed());
        result
    }

    async fn verify_id_token_inner(
        &self,
        app: AppId,
        id_token: &str,
        expected: &IdTokenExpectations<'_>,
    ) -> Result<pb::VerifyResponse, VerifyError> {
        let live = self.live.load(Ordering::Acquire);
        let idp = self.idp(app, live).await?;
        let expectations = TokenExpectations {
            audience: expected.client_id.to_owned(),
            ..idp.expectations.clone()
        };
        let verified = token::verify(
            id_token,
            &expectations,
            idp.config.id,
            &idp.config.jwks_uri,
            &self.jwks,
        )
        .await?;
        alter_providers::check_id_token_claims(&verified.claims, verified.alg, expected)
            .map_err(|refusal| VerifyError::refused(refusal.reason, refusal.message))?;
        let mut verified = verified;
        okta_id_token_user_id(&idp.config, &mut verified.claims);
        let carries_groups = idp
            .config
            .claim_mappings
            .group_claim
            .as_deref()
            .is_some_and(|claim| verified.claims.contains_key(claim));
        let group_claim = if carries_groups {
            GroupClaim::Authoritative
        } else {
            GroupClaim::Absent
        };
        let entry = self
            .resolve_verified(app, &idp, &verified, group_claim, live)
            .await?;
        Ok(entry.answer_at(Utc::now()))
    }

    /// What Verify and sign-in share after the token checked out: the identity through the
    /// claim mappings, the user resolved (or provisioned), refused unless active, and the
    /// claim mappings locked by this first success (R-CFG-08).
    async fn resolve_verified(
        &self,
        app: AppId,
        idp: &IdpEntry,
        verified: &alter_providers::VerifiedToken,
        group_claim: GroupClaim,
        live: bool,
    ) -> Result<TokenEntry, VerifyError> {
        let identity = extract_identity(
            &idp.config.claim_mappings,
            &verified.claims,
            &self.claim_limits,
        )
        .map_err(token::unreadable_claims)?;
        let resolved = self.resolve(app, idp, &identity, group_claim, live).await?;
        match resolved.status {
            UserStatus::Active => {}
            UserStatus::Suspended => {
                return Err(VerifyError::Refused {
                    reason: RefusalReason::UserSuspended,
                    message: format!(
                        "user {} is suspended: the token is valid but the user may not sign in until reactivated at the identity provider",
                        identity.external_id
                    ),
                });
            }
            UserStatus::Deprovisioned => {
                return Err(VerifyError::Refused {
                    reason: RefusalReason::UserDeprovisioned,
                    message: format!(
                        "user {} is deprovisioned: the token is valid but the user no longer has access to this app",
                        identity.external_id
                    ),
                });
            }
        }
        self.lock_claim_mappings(app, idp).await;
        Ok(TokenEntry {
            stamp: resolved.stamp,
            resolved,
            expires_at: verified.exp,
            roles: identity.roles,
        })
    }

    /// The app's IDP: from memory while current, else from the store.
    async fn idp(&self, app: AppId, live: bool) -> Result<Arc<IdpEntry>, VerifyError> {
        if live
            && let Some(entry) = self.idps.get(&app)
            && self.generations.is_current(entry.stamp, app, None)
        {
            self.metrics.idp_hit.increment(1);
            bump(&self.counters.idp_hits);
            return Ok(entry);
        }
        self.metrics.idp_miss.increment(1);
        bump(&self.counters.idp_reads);
        let stamp = self.generations.app_stamp(app);
        let config = self.store.get_idp_for_app(app).await?.ok_or_else(|| {
            VerifyError::NoIdentityProvider {
                app_id: app.to_string(),
            }
        })?;
        let entry = Arc::new(IdpEntry {
            expectations: TokenExpectations {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                leeway: self.leeway,
            },
            groups_back_grants: groups_back_grants(
                config.kind,
                config.claim_mappings.group_claim_stable_ids,
            ),
            locked: AtomicBool::new(config.claim_mappings_locked_at.is_some()),
            config,
            stamp,
        });
        if live {
            self.idps.insert(app, entry.clone(), |e| {
                self.generations.is_current(e.stamp, e.config.app_id, None)
            });
        }
        Ok(entry)
    }

    /// R-CFG-08: the first successful authentication locks the claim mappings, once.
    async fn lock_claim_mappings(&self, app: AppId, idp: &IdpEntry) {
        if idp.locked.load(Ordering::Acquire) {
            return;
        }
        match self.store.lock_claim_mappings(app, idp.config.id).await {
            Ok(newly) => {
                idp.locked.store(true, Ordering::Release);
                if newly {
                    tracing::info!(%app, idp = %idp.config.id, "claim mappings locked by the first successful authentication");
                }
            }
            // Retried by the next successful call; the answer itself is not at risk.
            Err(error) => tracing::warn!(%app, %error, "could not lock the claim mappings"),
        }
    }

    /// The user behind these claims: from memory while current, else provisioned and read.
    async fn resolve(
        &self,
        app: AppId,
        idp: &IdpEntry,
        identity: &ExtractedIdentity,
        group_claim: GroupClaim,
        live: bool,
    ) -> Result<Arc<ResolvedUser>, VerifyError> {
        let key = identity_key(app, idp.config.id, identity, group_claim);
        if live {
            if let Some(resolved) = self.users.get(&key)
                && resolved.read_at.elapsed() < self.max_age
                && self
                    .generations
                    .is_current(resolved.stamp, app, Some(resolved.user_id))
            {
                self.metrics.user_hit.increment(1);
                bump(&self.counters.user_hits);
                return Ok(resolved);
            }
            self.metrics.user_miss.increment(1);
        }
        bump(&self.counters.user_reads);
        let resolved = Arc::new(
            self.resolve_from_store(app, idp, identity, group_claim)
                .await?,
        );
        if live {
            self.users.insert(key, resolved.clone(), |r| {
                r.read_at.elapsed() < self.max_age
                    && self.generations.is_current(r.stamp, app, Some(r.user_id))
            });
        }
        Ok(resolved)
    }

    /// Just-in-time provisioning (R-JWT-06), memberships from the group claim (R-JWT-07)
    /// and the user's active grants (R-JWT-09). Writes only what changed, each change with
    /// its audit records in the same transaction (the outbox).
    async fn resolve_from_store(
        &self,
        app: AppId,
        idp: &IdpEntry,
        identity: &ExtractedIdentity,
        group_claim: GroupClaim,
    ) -> Result<ResolvedUser, VerifyError> {
        // Taken before anything is read, so the maximum age is never exceeded.
        let read_at = Instant::now();
        let app_stamp = self.generations.app_stamp(app);
        let upserted = self
            .store
            .upsert_user_with(
                app,
                idp.config.id,
                &UserUpsert::jit(
                    identity.external_id.clone(),
                    identity.email.clone(),
                    identity.display_name.clone(),
                ),
                &|u: &UpsertedUser| provisioned_records(app, u),
            )
            .await?;
        let user_id = upserted.user.id;
        // Read after the user is known and before anything else is: an invalidation that
        // lands from here on makes this resolution stale.
        let stamp = self.generations.with_user(app_stamp, user_id);
        let mut upserted_user = upserted.user;
        if upserted_user.status != UserStatus::Active {
            // Read once more after the stamp: a reactivation committed (and its invalidation
            // handled) between the upsert's read and the stamp would otherwise be cached as
            // the old status until the entry's maximum age.
            if let Some(fresh) = self.store.get_user(app, user_id).await? {
                upserted_user = fresh;
            }
        }
        if upserted_user.status != UserStatus::Active {
            return Ok(ResolvedUser {
                user_id,
                status: upserted_user.status,
                user: user_message(&upserted_user),
                groups: Vec::new(),
                grants: Grants::default(),
                stamp,
                read_at,
            });
        }
        if idp.config.claim_mappings.group_claim.is_some()
            && group_claim == GroupClaim::Authoritative
        {
            let wanted: Vec<GroupUpsert> = identity
                .groups
                .iter()
                .map(|external_id| GroupUpsert {
                    external_id: external_id.clone(),
                    name: None,
                })
                .collect();
            let groups = if wanted.is_empty() {
                Vec::new()
            } else {
                self.store.upsert_groups(app, &wanted).await?
            };
            let ids: Vec<GroupId> = groups.iter().map(|g| g.id).collect();
            let user_ref = UserRef {
                external_id: identity.external_id.clone(),
                user_id: Some(user_id),
            };
            // A token issued before an upstream removal still lists the group; one without
            // `iat` could be of any age.
            let issued_at = identity.issued_at.unwrap_or(DateTime::<Utc>::MIN_UTC);
            self.store
                .replace_user_memberships_with(
                    app,
                    user_id,
                    &ids,
                    EventSource::Jwt,
                    Some(issued_at),
                    &|diff: &MembershipDiff| membership_records(app, &user_ref, &groups, diff),
                )
                .await?;
        }
        let (user, groups, grants) = tokio::join!(
            self.store.get_user(app, user_id),
            self.store.list_user_groups(app, user_id),
            self.store
                .list_active_grants_for_user(app, user_id, idp.groups_back_grants),
        );
        // Re-read so a status change committed during this resolution is seen.
        let user = user?.unwrap_or(upserted_user);
        let (groups, grants) = (groups?, grants?);
        Ok(ResolvedUser {
            user_id,
            status: user.status,
            user: user_message(&user),
            groups: groups.iter().map(group_message).collect(),
            grants: Grants::from_store(&grants),
            stamp,
            read_at,
        })
    }
}

/// Okta's access tokens carry the user's ID in `uid` (the suggested user-ID claim) and its
/// ID tokens carry the same ID in `sub` only: read an Okta ID token's `sub` as `uid`, so
/// the same claim mappings resolve the same user.
fn okta_id_token_user_id(
    idp: &IdentityProvider,
    claims: &mut serde_json::Map<String, serde_json::Value>,
) {
    if idp.kind == alter_core::IdpKind::Okta
        && idp.claim_mappings.user_id_claim == "uid"
        && !claims.contains_key("uid")
        && let Some(sub) = claims.get("sub").cloned()
    {
        claims.insert("uid".to_owned(), sub);
    }
}

/// A provisioning audit record from the verifier (source `jwt`).
fn jwt_record(app: AppId, kind: LifecycleKind) -> OutboxMessage {
    audit_message(&AuditRecord::from_lifecycle(&LifecycleEvent {
        event_id: EventId::new(),
        provider_event_id: None,
        app_id: app,
        source: EventSource::Jwt,
        occurred_at: Utc::now(),
        kind,
    }))
}

/// R-JWT-06: a user created just in time lands in the provisioning audit trail.
fn provisioned_records(app: AppId, upserted: &UpsertedUser) -> Vec<OutboxMessage> {
    if !upserted.created {
        return Vec::new();
    }
    vec![jwt_record(
        app,
        LifecycleKind::UserProvisioned {
            user: UserRef {
                external_id: upserted.user.external_id.clone(),
                user_id: Some(upserted.user.id),
            },
            email: upserted.user.email.clone(),
            display_name: upserted.user.display_name.clone(),
        },
    )]
}

/// R-AUD-01: every membership the group claim added or removed.
fn membership_records(
    app: AppId,
    user: &UserRef,
    groups: &[alter_store::Group],
    diff: &MembershipDiff,
) -> Vec<OutboxMessage> {
    let added = diff.added.iter().filter_map(|id| {
        let group = groups.iter().find(|g| g.id == *id)?;
        Some(LifecycleKind::MembershipAdded {
            user: user.clone(),
            group: group.external_id.clone(),
        })
    });
    let removed = diff
        .removed_external_ids
        .iter()
        .map(|group| LifecycleKind::MembershipRemoved {
            user: user.clone(),
            group: group.clone(),
        });
    added
        .chain(removed)
        .map(|kind| jwt_record(app, kind))
        .collect()
}

/// The token cache key: the app and the token, hashed together so a token verified for one
/// app never answers for another.
fn token_key(app: AppId, token: &str) -> Digest {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(app.as_uuid().as_bytes());
    ctx.update(token.as_bytes());
    to_array(ctx.finish())
}

/// The resolved-user cache key: everything in the claims that the stored user depends on.
fn identity_key(
    app: AppId,
    idp: IdpId,
    identity: &ExtractedIdentity,
    group_claim: GroupClaim,
) -> Digest {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(app.as_uuid().as_bytes());
    ctx.update(idp.as_uuid().as_bytes());
    let mut field = |value: &str| {
        ctx.update(&(value.len() as u64).to_le_bytes());
        ctx.update(value.as_bytes());
    };
    field(identity.external_id.as_str());
    field(identity.email.as_deref().unwrap_or("\u{0}none"));
    field(identity.display_name.as_deref().unwrap_or("\u{0}none"));
    for group in &identity.groups {
        field(group.as_str());
    }
    if group_claim == GroupClaim::Absent {
        // Memberships read from the store, not set by the claims: never the same entry as a
        // token whose group claim lists no groups (which removes them).
        field("\u{0}no group claim");
    }
    to_array(ctx.finish())
}

fn to_array(d: digest::Digest) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl alter_runtime::invalidations::InvalidationSink for Verifier {
    fn set_live(&self, live: bool) {
        Verifier::set_live(self, live);
    }

    fn invalidate(&self, notice: &InvalidationNotice) {
        Verifier::invalidate(self, notice);
    }

    fn invalidate_everything(&self) {
        Verifier::invalidate_everything(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alter_core::{ExternalGroupId, ExternalUserId};

    fn identity(groups: &[&str]) -> ExtractedIdentity {
        ExtractedIdentity {
            external_id: ExternalUserId::parse("sub", "user_1").unwrap(),
            email: Some("a@example.com".to_owned()),
            display_name: None,
            groups: groups
                .iter()
                .map(|g| ExternalGroupId::parse("groups", g).unwrap())
                .collect(),
            roles: vec![],
            issued_at: None,
        }
    }

    #[test]
    fn token_keys_differ_per_app() {
        assert_ne!(token_key(AppId::new(), "t"), token_key(AppId::new(), "t"));
    }

    #[test]
    fn identity_keys_change_with_groups_and_are_unambiguous() {
        let (app, idp) = (AppId::new(), IdpId::new());
        let one = identity_key(app, idp, &identity(&["a", "b"]), GroupClaim::Authoritative);
        assert_eq!(
            one,
            identity_key(app, idp, &identity(&["a", "b"]), GroupClaim::Authoritative)
        );
        assert_ne!(
            one,
            identity_key(app, idp, &identity(&["ab"]), GroupClaim::Authoritative)
        );
        assert_ne!(
            one,
            identity_key(app, idp, &identity(&["a"]), GroupClaim::Authoritative)
        );
        assert_ne!(
            identity_key(app, idp, &identity(&[]), GroupClaim::Authoritative),
            identity_key(app, idp, &identity(&[]), GroupClaim::Absent),
            "an absent group claim never shares an entry with an empty one"
        );
    }
}
