//! A process-wide cache of IDP verifying keys (R-JWT-05), keyed by (IDP, `kid`).
//!
//! Keys are parsed once per `kid` and shared as `Arc<VerifyingKey>`. A set is refreshed ahead
//! of time in the background when it is older than its TTL (the settings' refresh interval,
//! or the JWKS response's `Cache-Control: max-age`, clamped). An unknown `kid` triggers at
//! most one refetch per IDP per `unknown_kid_min_interval`, whatever the `kid`, so random
//! `kid`s cannot hammer the IDP. Concurrent fetches for one IDP share a single request.
//!
//! When the JWKS endpoint fails, the keys already cached keep being served for a bounded
//! window past their freshness (`max_stale`, 24 h by default); past it, or when no key was
//! ever fetched, the answer is [`JwksError::Unavailable`], never an unknown `kid`: an
//! outage of the IDP is not a bad token (R-JWT-11). Time is read from a [`Clock`], so tests
//! move it instead of sleeping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use alter_core::IdpId;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::clock::{Clock, SystemClock};
use crate::error::{CachedKeys, JwksError};
use crate::http::{describe, is_allowed_key_url, read_capped};
use crate::signature::{KeyMaterial, SignatureFailure, SignatureKey};

/// Shortest TTL a `Cache-Control: max-age` may impose (unless `refresh_interval` is shorter).
pub const MIN_JWKS_TTL: Duration = Duration::from_secs(30);
/// Longest TTL a `Cache-Control: max-age` may impose (unless `refresh_interval` is longer).
pub const MAX_JWKS_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The asymmetric algorithms a token may be signed with (R-JWT-01).
pub const ALLOWED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// How the JWKS cache refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksSettings {
    /// Age after which a key set is refreshed in the background on access (when the JWKS
    /// response carries no `Cache-Control: max-age`), e.g. 5 minutes.
    pub refresh_interval: Duration,
    /// At most one refetch per IDP per interval is triggered by unknown `kid`s, e.g. 10 s.
    pub unknown_kid_min_interval: Duration,
    /// Timeout of one JWKS request.
    pub fetch_timeout: Duration,
    /// How long past their freshness cached keys keep being served while the JWKS cannot be
    /// refetched (R-JWT-11), e.g. 24 h. Past it, tokens of that IDP get
    /// [`JwksError::Unavailable`] until a fetch succeeds again.
    pub max_stale: Duration,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(300),
            unknown_kid_min_interval: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(5),
            max_stale: DEFAULT_MAX_STALE,
        }
    }
}

/// Default of [`JwksSettings::max_stale`]: 24 hours.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 60 * 60);

/// A JWK's key type, with the curve where the curve decides which algorithm fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `kty: RSA`: RS256/384/512 and PS256/384/512.
    Rsa,
    /// `kty: EC, crv: P-256`: ES256.
    EcP256,
    /// `kty: EC, crv: P-384`: ES384.
    EcP384,
    /// `kty: OKP, crv: Ed25519`: EdDSA.
    Ed25519,
}

impl KeyType {
    /// Whether a token header's `alg` may be verified with a key of this type.
    pub fn allows(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyType::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyType::EcP256 => alg == ES256,
            KeyType::EcP384 => alg == ES384,
            KeyType::Ed25519 => alg == EdDSA,
        }
    }

    /// The one algorithm this key type allows, when there is just one (EC and Ed25519).
    pub const fn only_algorithm(self) -> Option<Algorithm> {
        match self {
            KeyType::Rsa => None,
            KeyType::EcP256 => Some(Algorithm::ES256),
            KeyType::EcP384 => Some(Algorithm::ES384),
            KeyType::Ed25519 => Some(Algorithm::EdDSA),
        }
    }

    /// The JWK spelling, for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::EcP256 => "EC P-256",
            KeyType::EcP384 => "EC P-384",
            KeyType::Ed25519 => "OKP Ed25519",
        }
    }
}

/// A parsed public signing key from an IDP's JWKS; built once per `kid`.
pub struct VerifyingKey {
    pub kid: String,
    pub kty: KeyType,
    /// The JWK's `alg`, when it names one; the token's `alg` must then equal it.
    pub alg: Option<Algorithm>,
    /// The aws-lc-rs keys signatures are checked with, parsed once per algorithm.
    signature_key: SignatureKey,
    /// The JWK as published, so an unchanged key is not parsed again on refetch.
    jwk: Value,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("kty", &self.kty)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Parses one JWK. Refuses symmetric (`oct`) keys, encryption keys (`use` other than
    /// `sig`), unknown curves, and an `alg` that is not an allowed asymmetric one or does not
    /// fit the key type.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JwksError> {
        let field = |name: &str| jwk.get(name).and_then(Value::as_str);
        let kid = field("kid").unwrap_or_default().to_owned();
        let invalid = |reason: String| JwksError::InvalidKey {
            kid: kid.clone(),
            reason,
        };
        if kid.is_empty() {
            return Err(invalid("has no kid, so no token can name it".into()));
        }
        if let Some(usage) = field("use")
            && usage != "sig"
        {
            return Err(invalid(format!("has use {usage:?}, not \"sig\"")));
        }
        let require = |name: &str| {
            field(name).ok_or_else(|| invalid(format!("lacks the string member {name:?}")))
        };
        let decode = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(require(name)?)
                .map_err(|_| invalid(format!("{name} is not base64url")))
        };
        let (kty, material) = match require("kty")? {
            "RSA" => (KeyType::Rsa, KeyMaterial::rsa(&decode("n")?, &decode("e")?)),
            "EC" => {
                let (kty, len) = match require("crv")? {
                    "P-256" => (KeyType::EcP256, 32),
                    "P-384" => (KeyType::EcP384, 48),
                    other => return Err(invalid(format!("has unsupported EC curve {other:?}"))),
                };
                let (x, y) = (decode("x")?, decode("y")?);
                for (name, bytes) in [("x", &x), ("y", &y)] {
                    if bytes.len() != len {
                        return Err(invalid(format!(
                            "{name} is {} bytes, expected {len}",
                            bytes.len()
                        )));
                    }
                }
                (kty, KeyMaterial::ec(&x, &y))
            }
            "OKP" => {
                let crv = require("crv")?;
                if crv != "Ed25519" {
                    return Err(invalid(format!("has unsupported OKP curve {crv:?}")));
                }
                let x = require("x")?;
                match URL_SAFE_NO_PAD.decode(x) {
                    Ok(bytes) if bytes.len() == 32 => {
                        (KeyType::Ed25519, KeyMaterial::Ed25519(bytes))
                    }
                    _ => return Err(invalid("x is not a 32-byte base64url Ed25519 key".into())),
                }
            }
            "oct" => return Err(invalid("is a symmetric (oct) key, never accepted".into())),
            other => return Err(invalid(format!("has unsupported kty {other:?}"))),
        };
        let alg = match field("alg") {
            None => None,
            Some(name) => {
                let alg = name
                    .parse::<Algorithm>()
                    .ok()
                    .filter(|a| ALLOWED_ALGORITHMS.contains(a) && kty.allows(*a))
                    .ok_or_else(|| {
                        invalid(format!("alg {name:?} does not fit a {} key", kty.as_str()))
                    })?;
                Some(alg)
            }
        };
        let signature_key = SignatureKey::new(material);
        // Parse now what will be used, off the hot path; other RSA algorithms on first use.
        if let Some(alg) = alg.or(kty.only_algorithm()) {
            signature_key.warm(alg);
        }
        Ok(Self {
            kid,
            kty,
            alg,
            signature_key,
            jwk: jwk.clone(),
        })
    }

    /// Checks a JWS signature (raw bytes) over `message` (`header.payload`) with `alg`; call
    /// [`Self::check_alg`] first. The error says why, naming the key, for a BadSignature.
    pub fn verify_signature(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        self.signature_key
            .verify(alg, message, signature)
            .map_err(|failure| match failure {
                SignatureFailure::Mismatch => format!(
                    "the signature does not verify with key {:?} of the identity provider",
                    self.kid
                ),
                SignatureFailure::UnusableKey(reason) => format!(
                    "key {:?} of the identity provider cannot verify {alg:?} signatures ({reason}): check the key the JWKS publishes",
                    self.kid
                ),
            })
    }

    /// Whether a token whose header says `alg` may be checked with this key: the key type
    /// must fit, and the JWK's own `alg` (when given) must be the same.
    pub fn check_alg(&self, alg: Algorithm) -> Result<(), String> {
        if !self.kty.allows(alg) {
            return Err(format!(
                "token alg {alg:?} does not fit key {:?}, which is a {} key",
                self.kid,
                self.kty.as_str()
            ));
        }
        match self.alg {
            Some(key_alg) if key_alg != alg => Err(format!(
                "token alg {alg:?} differs from the alg {key_alg:?} the JWKS publishes for key {:?}",
                self.kid
            )),
            _ => Ok(()),
        }
    }
}

/// How long a fetched key set stays fresh: the response's `max-age` (`no-store`/`no-cache`
/// count as 0) clamped to [min(30 s, refresh_interval), max(24 h, refresh_interval)], or
/// `refresh_interval` when the response says nothing.
pub fn refresh_after(cache_control: Option<&str>, settings: &JwksSettings) -> Duration {
    let floor = MIN_JWKS_TTL.min(settings.refresh_interval);
    let ceiling = MAX_JWKS_TTL.max(settings.refresh_interval);
    let mut max_age = None;
    for directive in cache_control.unwrap_or_default().split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            max_age = Some(0);
        } else if let Some(value) = directive.strip_prefix("max-age=")
            && let Ok(secs) = value.trim_matches('"').parse::<u64>()
        {
            max_age = Some(max_age.map_or(secs, |m: u64| m.min(secs)));
        }
    }
    match max_age {
        Some(secs) => Duration::from_secs(secs).clamp(floor, ceiling),
        None => settings.refresh_interval,
    }
}

/// Process-wide cache of parsed verifying keys, keyed by (IdpId, kid). Cheap to clone.
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: reqwest::Client,
    settings: JwksSettings,
    clock: Arc<dyn Clock>,
    idps: RwLock<HashMap<IdpId, Arc<IdpKeys>>>,
}

/// One IDP's keys and fetch bookkeeping.
struct IdpKeys {
    idp: IdpId,
    jwks_uri: String,
    state: RwLock<KeySet>,
    /// Held while fetching: concurrent misses share one request.
    fetch: tokio::sync::Mutex<()>,
    /// A background refresh task is queued or running.
    refresh_spawned: AtomicBool,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
    /// At least one fetch succeeded.
    loaded: bool,
    /// When the latest successful fetch happened.
    fetched_at: Option<Instant>,
    /// Until when the keys of the latest successful fetch are fresh (fetch time + TTL); they
    /// are served until `max_stale` past it.
    fresh_until: Option<Instant>,
    /// Completed fetch attempts (success or failure); waiters compare it to skip a refetch.
    attempts: u64,
    last_attempt: Option<Instant>,
    /// Last refetch caused by an unknown `kid` (the rate-limited kind).
    last_kid_refetch: Option<Instant>,
    /// When the set is due for a background refresh.
    refresh_at: Option<Instant>,
    /// Why the latest attempt failed, if it did.
    last_error: Option<String>,
}

impl KeySet {
    /// Whether the cached keys may be served at `now`: fetched, and no more than
    /// `max_stale` past their freshness.
    fn usable(&self, now: Instant, max_stale: Duration) -> bool {
        // `None` past a successful fetch only when the instant overflowed: never expires.
        self.loaded
            && self.fresh_until.is_none_or(|fresh| {
                fresh
                    .checked_add(max_stale)
                    .is_none_or(|deadline| now < deadline)
            })
    }
}

impl JwksCache {
    /// A cache fetching with `client` (see [`crate::http_client`]).
    pub fn new(client: reqwest::Client, settings: JwksSettings) -> Self {
        Self::with_clock(client, settings, Arc::new(SystemClock))
    }

    /// A cache reading the time from `clock` (tests pass a [`crate::ManualClock`]).
    pub fn with_clock(
        client: reqwest::Client,
        settings: JwksSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                settings,
                clock,
                idps: RwLock::new(HashMap::new()),
            }),
        }
    }

    fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    /// The settings in force.
    pub fn settings(&self) -> &JwksSettings {
        &self.inner.settings
    }

    /// The verifying key `kid` of `idp`, whose keys are published at `jwks_uri`. A cached
    /// key is returned at once (a stale set is refreshed in the background) while the set
    /// is within `max_stale` of its freshness; a miss, or a set past that window, fetches
    /// the JWKS, subject to the rate limits (unknown `kid`s; retries after a failure).
    pub async fn key(
        &self,
        idp: IdpId,
        jwks_uri: &str,
        kid: &str,
    ) -> Result<Arc<VerifyingKey>, JwksError> {
        let entry = self.entry(idp, jwks_uri);
        let interval = self.inner.settings.unknown_kid_min_interval;
        let max_stale = self.inner.settings.max_stale;
        let (generation, may_fetch) = {
            let state = read(&entry.state);
            let now = self.now();
            let usable = state.usable(now, max_stale);
            if usable && let Some(key) = state.keys.get(kid) {
                let key = key.clone();
                let stale = state.refresh_at.is_some_and(|at| now >= at);
                drop(state);
                if stale {
                    self.spawn_refresh(&entry);
                }
                return Ok(key);
            }
            let since = |at: Option<Instant>| {
                at.is_none_or(|t| now.saturating_duration_since(t) >= interval)
            };
            let may_fetch = if usable {
                since(state.last_kid_refetch)
            } else {
                // Nothing servable: fetch, but after a failure at most once per interval.
                state.last_error.is_none() || since(state.last_attempt)
            };
            (state.attempts, may_fetch)
        };
        if !may_fetch {
            return Err(self.miss(&entry, kid));
        }
        let _fetching = entry.fetch.lock().await;
        {
            let mut state = write(&entry.state);
            let now = self.now();
            let usable = state.usable(now, max_stale);
            if usable && let Some(key) = state.keys.get(kid) {
                return Ok(key.clone());
            }
            if state.attempts != generation {
                // Someone else fetched while we waited: their answer stands.
                drop(state);
                return Err(self.miss(&entry, kid));
            }
            if usable {
                state.last_kid_refetch = Some(now);
            }
        }
        self.fetch_into(&entry).await;
        let state = read(&entry.state);
        match state.keys.get(kid) {
            Some(key) if state.usable(self.now(), max_stale) => Ok(key.clone()),
            _ => {
                drop(state);
                Err(self.miss(&entry, kid))
            }
        }
    }

    /// Drops everything cached for `idp` (when the IDP is deleted or reconfigured).
    pub fn forget(&self, idp: IdpId) {
        let removed = write(&self.inner.idps).remove(&idp);
        if removed.is_some() {
            metrics::gauge!("alter_jwks_keys", "idp" => idp.to_string()).set(0.0);
        }
    }

    /// The `kid`s cached for `idp`, sorted (for diagnostics and tests).
    pub fn cached_kids(&self, idp: IdpId) -> Vec<String> {
        let Some(entry) = read(&self.inner.idps).get(&idp).cloned() else {
            return Vec::new();
        };
        let mut kids: Vec<String> = read(&entry.state).keys.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// The IDP's entry; a different `jwks_uri` than cached means the IDP was reconfigured,
    /// so its old keys are dropped.
    fn entry(&self, idp: IdpId, jwks_uri: &str) -> Arc<IdpKeys> {
        if let Some(entry) = read(&self.inner.idps).get(&idp)
            && entry.jwks_uri == jwks_uri
        {
            return entry.clone();
        }
        let mut idps = write(&self.inner.idps);
        match idps.get(&idp) {
            Some(entry) if entry.jwks_uri == jwks_uri => entry.clone(),
            _ => {
                let entry = Arc::new(IdpKeys {
                    idp,
                    jwks_uri: jwks_uri.to_owned(),
                    state: RwLock::new(KeySet::default()),
                    fetch: tokio::sync::Mutex::new(()),
                    refresh_spawned: AtomicBool::new(false),
                });
                idps.insert(idp, entry.clone());
                entry
            }
        }
    }

    /// Refreshes a stale set in a background task, at most one task per IDP at a time.
    fn spawn_refresh(&self, entry: &Arc<IdpKeys>) {
        if entry
            .refresh_spawned
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let cache = self.clone();
        let entry = entry.clone();
        tokio::spawn(async move {
            {
                let _fetching = entry.fetch.lock().await;
                let due = read(&entry.state)
                    .refresh_at
                    .is_some_and(|at| cache.now() >= at);
                if due {
                    cache.fetch_into(&entry).await;
                }
            }
            entry.refresh_spawned.store(false, Ordering::Release);
        });
    }

    /// Fetches the JWKS and replaces the set; on failure keeps the old keys. The caller
    /// holds `entry.fetch`.
    async fn fetch_into(&self, entry: &IdpKeys) {
        use tracing::Instrument as _;
        // A span per fetch: inside a Verify's trace when a Verify waits on it (first use, an
        // unknown kid), a root of its own for a refresh ahead of need.
        let span = tracing::info_span!(
            "jwks.fetch",
            idp = %entry.idp,
            jwks_uri = %entry.jwks_uri,
            outcome = tracing::field::Empty,
        );
        let result = self
            .fetch_jwks(&entry.jwks_uri)
            .instrument(span.clone())
            .await;
        span.record(
            "outcome",
            match &result {
                Ok(_) => "ok",
                Err((outcome, _)) => outcome,
            },
        );
        let now = self.now();
        let settings = &self.inner.settings;
        match result {
            Ok((jwks, cache_control)) => {
                let previous = read(&entry.state).keys.clone();
                let mut keys = HashMap::with_capacity(jwks.len());
                for jwk in &jwks {
                    let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or_default();
                    if let Some(known) = previous.get(kid)
                        && known.jwk == *jwk
                    {
                        keys.insert(kid.to_owned(), known.clone());
                        continue;
                    }
                    match VerifyingKey::from_jwk(jwk) {
                        Ok(key) => {
                            keys.insert(key.kid.clone(), Arc::new(key));
                        }
                        Err(e) => tracing::debug!(
                            idp = %entry.idp, jwks_uri = %entry.jwks_uri, error = %e,
                            "skipping JWK"
                        ),
                    }
                }
                let ttl = refresh_after(cache_control.as_deref(), settings);
                metrics::counter!("alter_jwks_fetch_total", "outcome" => "ok").increment(1);
                metrics::gauge!("alter_jwks_keys", "idp" => entry.idp.to_string())
                    .set(keys.len() as f64);
                tracing::debug!(
                    idp = %entry.idp, jwks_uri = %entry.jwks_uri, keys = keys.len(),
                    ttl_secs = ttl.as_secs(), "JWKS fetched"
                );
                let mut state = write(&entry.state);
                state.keys = keys;
                state.loaded = true;
                state.fetched_at = Some(now);
                state.fresh_until = now.checked_add(ttl);
                state.attempts += 1;
                state.last_attempt = Some(now);
                state.refresh_at = Some(now + ttl);
                state.last_error = None;
            }
            Err((outcome, reason)) => {
                metrics::counter!("alter_jwks_fetch_total", "outcome" => outcome).increment(1);
                let mut state = write(&entry.state);
                if state.usable(now, settings.max_stale) {
                    tracing::warn!(
                        idp = %entry.idp, jwks_uri = %entry.jwks_uri, error = %reason,
                        cached_keys = state.keys.len(),
                        "JWKS fetch failed; serving the keys already cached (within the stale window)"
                    );
                } else {
                    tracing::warn!(
                        idp = %entry.idp, jwks_uri = %entry.jwks_uri, error = %reason,
                        ever_fetched = state.loaded,
                        max_stale_secs = settings.max_stale.as_secs(),
                        "JWKS fetch failed and no usable key is cached: Verify answers UNAVAILABLE for this identity provider"
                    );
                }
                state.attempts += 1;
                state.last_attempt = Some(now);
                let retry = settings
                    .unknown_kid_min_interval
                    .max(Duration::from_secs(1))
                    .min(settings.refresh_interval.max(Duration::from_secs(1)));
                state.refresh_at = Some(now + retry);
                state.last_error = Some(reason);
            }
        }
    }

    /// The error for a `kid` without a usable key: unknown when the JWKS answered and does
    /// not publish it, unavailable when the JWKS could not be fetched (R-JWT-11).
    fn miss(&self, entry: &IdpKeys, kid: &str) -> JwksError {
        let state = read(&entry.state);
        let now = self.now();
        let max_stale = self.inner.settings.max_stale;
        let cached = if !state.loaded {
            CachedKeys::Never
        } else if !state.usable(now, max_stale) {
            CachedKeys::Expired {
                fetched_secs_ago: state
                    .fetched_at
                    .map_or(0, |at| now.saturating_duration_since(at).as_secs()),
                max_stale_secs: max_stale.as_secs(),
            }
        } else {
            CachedKeys::WithoutKid
        };
        let reason = match (&state.last_error, &cached) {
            (None, CachedKeys::WithoutKid) => {
                return JwksError::UnknownKid {
                    kid: kid.to_owned(),
                    jwks_uri: entry.jwks_uri.clone(),
                };
            }
            (Some(reason), _) => reason.clone(),
            (None, _) => "no refetch has completed since the keys expired".to_owned(),
        };
        JwksError::Unavailable {
            kid: kid.to_owned(),
            jwks_uri: entry.jwks_uri.clone(),
            reason,
            cached,
        }
    }

    /// GETs a JWKS: the `keys` array and the `Cache-Control` header, or (metric outcome,
    /// reason).
    async fn fetch_jwks(
        &self,
        jwks_uri: &str,
    ) -> Result<(Vec<Value>, Option<String>), (&'static str, String)> {
        if !is_allowed_key_url(jwks_uri) {
            return Err((
                "invalid",
                "the JWKS URL must be https (http only on loopback)".into(),
            ));
        }
        let response = self
            .inner
            .client
            .get(jwks_uri)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.inner.settings.fetch_timeout)
            .send()
            .await
            .map_err(|e| ("unreachable", describe(&e)))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(("status", format!("HTTP {}", status.as_u16())));
        }
        let cache_control = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_capped(response)
            .await
            .map_err(|reason| ("unreachable", reason))?;
        let mut doc: Value = serde_json::from_slice(&body)
            .map_err(|e| ("invalid", format!("the JWKS is not JSON: {e}")))?;
        match doc.get_mut("keys").map(Value::take) {
            Some(Value::Array(keys)) => Ok((keys, cache_control)),
            _ => Err(("invalid", "the JWKS has no \"keys\" array".to_owned())),
        }
    }
}

/// Locks never stay poisoned: the data behind them is consistent after every write.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(refresh: u64) -> JwksSettings {
        JwksSettings {
            refresh_interval: Duration::from_secs(refresh),
            ..JwksSettings::default()
        }
    }

    #[test]
    fn r_jwt_05_cache_control_max_age_is_honoured_within_bounds() {
        let s = settings(300);
        assert_eq!(refresh_after(None, &s), Duration::from_secs(300));
        assert_eq!(
            refresh_after(Some("public, max-age=600"), &s),
            Duration::from_secs(600)
        );
        assert_eq!(
            refresh_after(Some("public, max-age=15, stale-while-revalidate=15"), &s),
            MIN_JWKS_TTL
        );
        assert_eq!(
            refresh_after(Some("max-age=3832304, must-revalidate"), &s),
            MAX_JWKS_TTL
        );
        assert_eq!(refresh_after(Some("no-store"), &s), MIN_JWKS_TTL);
        assert_eq!(refresh_after(Some("private"), &s), Duration::from_secs(300));
        assert_eq!(
            refresh_after(Some("max-age=0"), &settings(1)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn r_jwt_01_jwk_alg_and_kty_must_fit() {
        let rsa = json!({"kty":"RSA","kid":"a","alg":"RS256","n":"sXch","e":"AQAB"});
        let key = VerifyingKey::from_jwk(&rsa).unwrap();
        assert_eq!(key.kty, KeyType::Rsa);
        assert!(key.check_alg(Algorithm::RS256).is_ok());
        assert!(
            key.check_alg(Algorithm::PS256)
                .unwrap_err()
                .contains("differs")
        );
        assert!(key.check_alg(Algorithm::ES256).unwrap_err().contains("RSA"));
        let mismatched = json!({"kty":"RSA","kid":"b","alg":"ES256","n":"sXch","e":"AQAB"});
        assert!(VerifyingKey::from_jwk(&mismatched).is_err());
        let hmac = json!({"kty":"RSA","kid":"c","alg":"HS256","n":"sXch","e":"AQAB"});
        assert!(VerifyingKey::from_jwk(&hmac).is_err());
        let oct = json!({"kty":"oct","kid":"d","k":"c2VjcmV0"});
        assert!(
            VerifyingKey::from_jwk(&oct)
                .unwrap_err()
                .to_string()
                .contains("symmetric")
        );
        let enc = json!({"kty":"RSA","kid":"e","use":"enc","n":"sXch","e":"AQAB"});
        assert!(VerifyingKey::from_jwk(&enc).is_err());
        let no_kid = json!({"kty":"RSA","n":"sXch","e":"AQAB"});
        assert!(VerifyingKey::from_jwk(&no_kid).is_err());
        let short_ec = json!({"kty":"EC","kid":"f","crv":"P-256","x":"AAAA","y":"AAAA"});
        assert!(VerifyingKey::from_jwk(&short_ec).is_err());
    }

    #[test]
    fn allowed_algorithms_are_asymmetric_only() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            assert!(!ALLOWED_ALGORITHMS.contains(&alg));
        }
    }
}
