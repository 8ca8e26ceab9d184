//! The sign-in logic (R-OIDC-01), usable in-process and behind HTTP and gRPC: start
//! (authorize), the identity provider's callback, redeeming the result code, the Wallet's
//! session and logout.
//!
//! `state`, `nonce`, the PKCE verifier and the browser-binding cookie are 256 random bits
//! each. The store keeps only SHA-256 digests of what the browser holds and seals what must
//! stay secret (nonce, verifier, the provider's tokens) with the operator's keyring. A flow
//! is taken once, whatever the outcome, so no `state` can be tried twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alter_core::sign_in::SignInUrls;
use alter_core::{AppId, IdpId, Issuer, UserId};
use alter_jwt_verifier::Verifier;
use alter_proto::identity::v1 as pb;
use alter_providers::IdTokenExpectations;
use alter_secrets::{Keyring, TokenHash, ct_eq};
use alter_store::{
    IdentityProvider, SealedSecret, SecretPurpose, SessionKind, SignInFlow, SignInPurpose,
    SignInSession, SignInSettings, Store,
};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::error::{Refusal, from_verify};
use crate::tokens::{self, ClientAuth, TokenResponse};

/// Longest `state` an app may pass through a sign-in.
const MAX_APP_STATE: usize = 512;

/// A cookie to set (or clear, with `max_age` 0). Its value binds a browser to a sign-in or
/// a Wallet session: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub max_age: u64,
    pub secure: bool,
}

impl std::fmt::Debug for Cookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cookie")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("max_age", &self.max_age)
            .field("secure", &self.secure)
            .finish()
    }
}

impl Cookie {
    /// The `Set-Cookie` value: always `HttpOnly`, `SameSite=Lax`, `Path=/`.
    pub fn header_value(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={}; Max-Age={}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.name, self.value, self.max_age
        )
    }
}

/// A step's answer to the browser: go to `location`, setting these cookies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub location: String,
    pub cookies: Vec<Cookie>,
}

/// A refusal met after the flow was identified: the browser goes back to the app's return
/// URL with `error` (app sign-ins), or sees the refusal (Wallet). Its cookie is cleared.
#[derive(Debug)]
pub struct CallbackRefusal {
    pub refusal: Refusal,
    /// Where to send the browser with the error, when the flow was an app's.
    pub back_to: Option<String>,
    pub cookies: Vec<Cookie>,
}

/// The query of the identity provider's redirect back to us.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// RFC 9207.
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// What is sealed in a flow's row.
#[derive(Serialize, Deserialize)]
struct FlowSecrets {
    nonce: String,
    verifier: String,
}

/// What is sealed in a finished sign-in's row.
#[derive(Serialize, Deserialize)]
struct SessionSecrets {
    client_id: String,
    nonce: String,
    id_token: String,
    access_token: String,
    #[serde(default)]
    refresh_token: String,
    #[serde(default)]
    access_token_expires_at: i64,
}

/// The identity provider's endpoints for sign-in, from its discovery document.
#[derive(Clone, Debug)]
struct Endpoints {
    authorization: String,
    token: String,
    end_session: Option<String>,
    client_auth: ClientAuth,
    /// `client_secret_post` is listed too: tried when `client_secret_basic` is refused as
    /// `invalid_client` (a client registered for post; the code is not spent by a failed
    /// client authentication).
    post_fallback: bool,
    iss_parameter: bool,
}

/// The sign-in service's logic; one per process.
pub struct SignIn {
    store: Arc<dyn Store>,
    verifier: Arc<Verifier>,
    keyring: Keyring,
    http: reqwest::Client,
    public_url: String,
    settings: Settings,
    discovery: Mutex<HashMap<IdpId, Discovered>>,
}

/// Endpoints discovered for an IDP: when, and for which issuer.
type Discovered = (Instant, String, Arc<Endpoints>);

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

fn random_value() -> Result<String, Refusal> {
    alter_secrets::generate_token("")
        .map(|t| t.expose().to_owned())
        .map_err(|e| {
            tracing::error!(error = %e, "no randomness for a sign-in");
            Refusal::unavailable("no secure randomness is available; try again")
        })
}

fn digest(value: &str) -> Vec<u8> {
    TokenHash::of(value).as_bytes().to_vec()
}

/// The flow cookie's name: one per flow (two tabs may sign in at once), named after the
/// first 12 characters of the SHA-256 of its `state` in hex.
fn flow_cookie_name(state: &str, secure: bool) -> String {
    let hex: String = TokenHash::of(state)
        .as_bytes()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let prefix = if secure { "__Host-" } else { "" };
    format!("{prefix}alter-signin-{hex}")
}

fn wallet_cookie_name(app: AppId, secure: bool) -> String {
    let prefix = if secure { "__Host-" } else { "" };
    format!("{prefix}alter-wallet-{app}")
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

fn parse_app(app_id: &str) -> Result<AppId, Refusal> {
    AppId::parse("app_id", app_id).map_err(|e| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_app",
            format!("{}: the sign-in URL must be …/v1/signin/<app_id>/… as `alter signin show` prints it", e.message),
        )
    })
}

fn flow_context(app: AppId) -> Vec<u8> {
    format!("alter:sign_in_flow:{app}").into_bytes()
}

fn session_context(app: AppId) -> Vec<u8> {
    format!("alter:sign_in_session:{app}").into_bytes()
}

/// `url` with `pairs` appended to its query.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            {
                let mut query = parsed.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
            }
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

impl SignIn {
    pub fn new(
        store: Arc<dyn Store>,
        verifier: Arc<Verifier>,
        keyring: Keyring,
        http: reqwest::Client,
        public_url: String,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            verifier,
            keyring,
            http,
            public_url,
            settings,
            discovery: Mutex::new(HashMap::new()),
        }
    }

    /// The verifier ID tokens are checked with (its caches follow invalidations).
    pub fn verifier(&self) -> Arc<Verifier> {
        self.verifier.clone()
    }

    fn urls(&self, app: AppId) -> SignInUrls {
        SignInUrls::new(&self.public_url, app)
    }

    /// The Wallet's own page, where a Wallet sign-in returns.
    pub fn wallet_url(&self, app: AppId) -> String {
        format!(
            "{}/v1/signin/{app}/wallet",
            self.public_url.trim_end_matches('/')
        )
    }

    fn secure(&self) -> bool {
        self.settings.secure_cookies
    }

    /// The app's IDP with its sign-in settings, or why sign-in is not possible.
    async fn configured(&self, app: AppId) -> Result<(IdentityProvider, SignInSettings), Refusal> {
        let idp = self.store.get_idp_for_app(app).await?.ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                "no_identity_provider",
                format!("app {app} has no identity provider: add one with `alter idp create`, then `alter signin set`"),
            )
        })?;
        let settings = idp.sign_in.clone().ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                "sign_in_not_enabled",
                format!("sign-in is not set up for app {app}: an admin enables it with `alter signin set`"),
            )
        })?;
        Ok((idp, settings))
    }

    /// The identity provider's sign-in endpoints, from its discovery document (reused for
    /// `signin.discovery_cache_secs`).
    async fn endpoints(&self, idp: &IdentityProvider) -> Result<Arc<Endpoints>, Refusal> {
        let max_age = Duration::from_secs(self.settings.discovery_cache_secs);
        if let Ok(cache) = self.discovery.lock()
            && let Some((at, issuer, endpoints)) = cache.get(&idp.id)
            && at.elapsed() < max_age
            && *issuer == idp.issuer
        {
            return Ok(endpoints.clone());
        }
        let issuer = Issuer::parse("issuer", &idp.issuer)
            .map_err(|e| Refusal::new(StatusCode::CONFLICT, "bad_issuer", e.to_string()))?;
        let doc = alter_providers::discover(&self.http, &issuer)
            .await
            .map_err(|e| {
                Refusal::unavailable(format!(
                    "the identity provider's discovery document could not be read: {e}; try again"
                ))
            })?;
        let missing = |field: &str| {
            Refusal::new(
                StatusCode::CONFLICT,
                "sign_in_not_supported",
                format!(
                    "the identity provider's discovery document has no {field}: it does not offer browser sign-in"
                ),
            )
        };
        let client_auth = ClientAuth::choose(&doc.token_endpoint_auth_methods_supported)
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::CONFLICT,
                    "sign_in_not_supported",
                    format!(
                        "the identity provider accepts neither client_secret_basic nor client_secret_post at its token endpoint (it lists {:?})",
                        doc.token_endpoint_auth_methods_supported
                    ),
                )
            })?;
        let endpoints = Arc::new(Endpoints {
            authorization: doc
                .authorization_endpoint
                .ok_or_else(|| missing("authorization_endpoint"))?,
            token: doc
                .token_endpoint
                .ok_or_else(|| missing("token_endpoint"))?,
            end_session: doc.end_session_endpoint,
            client_auth,
            post_fallback: client_auth == ClientAuth::Basic
                && doc
                    .token_endpoint_auth_methods_supported
                    .iter()
                    .any(|m| m == "client_secret_post"),
            iss_parameter: doc.authorization_response_iss_parameter_supported,
        });
        if let Ok(mut cache) = self.discovery.lock() {
            cache.insert(
                idp.id,
                (Instant::now(), idp.issuer.clone(), endpoints.clone()),
            );
        }
        Ok(endpoints)
    }

    fn seal<T: Serialize>(&self, value: &T, context: &[u8]) -> Result<SealedSecret, Refusal> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Refusal::unavailable(format!("cannot encode sign-in state: {e}")))?;
        let sealed = self.keyring.seal(&bytes, context).map_err(|e| {
            tracing::error!(error = %e, "cannot seal sign-in state");
            Refusal::unavailable("the sign-in state could not be sealed; try again")
        })?;
        Ok(SealedSecret::from_sealed(sealed))
    }

    fn open<T: for<'de> Deserialize<'de>>(
        &self,
        sealed: &SealedSecret,
        context: &[u8],
    ) -> Result<T, Refusal> {
        let opened = sealed.open_string(&self.keyring, context).map_err(|e| {
            tracing::error!(error = %e, "cannot open sealed sign-in state");
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "sealed_state_unreadable",
                "the sign-in's sealed state cannot be opened with the configured master keys (was secrets.master_key changed without keeping the old one in secrets.previous_master_keys?); start the sign-in again",
            )
        })?;
        serde_json::from_str(opened.expose()).map_err(|_| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "sealed_state_unreadable",
                "the sign-in's sealed state is not readable; start the sign-in again",
            )
        })
    }

    /// Starts a sign-in: checks the return URL against the app's allow-list (exact match),
    /// stores the flow, and sends the browser to the identity provider with `state`, `nonce`
    /// and a PKCE S256 challenge, binding the flow to this browser with a cookie.
    pub async fn authorize(
        &self,
        app_id: &str,
        purpose: SignInPurpose,
        return_to: Option<&str>,
        app_state: Option<&str>,
    ) -> Result<Redirect, Refusal> {
        let app = parse_app(app_id)?;
        let (idp, settings) = self.configured(app).await?;
        let return_url = match purpose {
            SignInPurpose::Wallet => self.wallet_url(app),
            SignInPurpose::App => {
                let Some(return_to) = return_to.filter(|r| !r.is_empty()) else {
                    return Err(Refusal::bad_request(
                        "missing_return_to",
                        "return_to is required: give one of the app's allowed return URLs (`alter signin show` lists them)",
                    ));
                };
                if !settings
                    .return_urls
                    .iter()
                    .any(|allowed| allowed == return_to)
                {
                    return Err(Refusal::bad_request(
                        "return_to_not_allowed",
                        format!(
                            "return_to {return_to:?} is not one of the app's allowed return URLs, which are compared exactly: add it with `alter signin set --return-url` or use one of {:?}",
                            settings.return_urls
                        ),
                    ));
                }
                return_to.to_owned()
            }
        };
        if let Some(state) = app_state
            && state.len() > MAX_APP_STATE
        {
            return Err(Refusal::bad_request(
                "state_too_long",
                format!(
                    "state is {} bytes; at most {MAX_APP_STATE} are carried through a sign-in",
                    state.len()
                ),
            ));
        }
        let endpoints = self.endpoints(&idp).await?;
        let (state, nonce, verifier, binding) = (
            random_value()?,
            random_value()?,
            random_value()?,
            random_value()?,
        );
        let sealed = self.seal(
            &FlowSecrets {
                nonce: nonce.clone(),
                verifier: verifier.clone(),
            },
            &flow_context(app),
        )?;
        let ttl = self.settings.flow_ttl_secs;
        self.store
            .create_sign_in_flow(&SignInFlow {
                state_digest: digest(&state),
                browser_digest: digest(&binding),
                app_id: app,
                idp_id: idp.id,
                purpose,
                return_url,
                app_state: app_state.filter(|s| !s.is_empty()).map(str::to_owned),
                sealed,
                expires_at: Utc::now()
                    + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(600)),
            })
            .await?;
        let urls = self.urls(app);
        let redirect_uri = match purpose {
            SignInPurpose::App => urls.app_redirect_uri,
            SignInPurpose::Wallet => urls.wallet_redirect_uri,
        };
        let scope = std::iter::once("openid")
            .chain(settings.scopes.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let challenge = URL_SAFE_NO_PAD.encode(TokenHash::of(&verifier).as_bytes());
        let location = with_query(
            &endpoints.authorization,
            &[
                ("response_type", "code"),
                ("client_id", &settings.client_id),
                ("redirect_uri", &redirect_uri),
                ("scope", &scope),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        Ok(Redirect {
            location,
            cookies: vec![Cookie {
                name: flow_cookie_name(&state, self.secure()),
                value: binding,
                max_age: ttl,
                secure: self.secure(),
            }],
        })
    }

    /// The identity provider's redirect back: the flow by `state`, bound to this browser by
    /// its cookie, the `iss` parameter (RFC 9207), the code exchanged at the token endpoint,
    /// the ID token verified (R-JWT plus nonce, aud, azp, at_hash) and its user resolved as
    /// Verify resolves one; then a one-time result code for the app, or a Wallet session.
    pub async fn callback(
        &self,
        app_id: &str,
        purpose: SignInPurpose,
        query: &CallbackQuery,
        cookie_header: &str,
    ) -> Result<Redirect, CallbackRefusal> {
        let plain = |refusal: Refusal| CallbackRefusal {
            refusal,
            back_to: None,
            cookies: Vec::new(),
        };
        let app = parse_app(app_id).map_err(plain)?;
        let Some(state) = query.state.as_deref().filter(|s| !s.is_empty()) else {
            return Err(plain(Refusal::bad_request(
                "missing_state",
                "the identity provider's redirect has no state, so it cannot be matched to a sign-in started here: start the sign-in again from the app",
            )));
        };
        let cookie_name = flow_cookie_name(state, self.secure());
        let clear = vec![Cookie {
            name: cookie_name.clone(),
            value: String::new(),
            max_age: 0,
            secure: self.secure(),
        }];
        let flow = self
            .store
            .take_sign_in_flow(app, &digest(state))
            .await
            .map_err(|e| plain(e.into()))?;
        let Some(flow) = flow else {
            return Err(CallbackRefusal {
                refusal: Refusal::bad_request(
                    "unknown_state",
                    "this sign-in is unknown or already finished (state is single use, and a tampered state matches none): start the sign-in again from the app",
                ),
                back_to: None,
                cookies: clear,
            });
        };
        let refused = |refusal: Refusal| CallbackRefusal {
            back_to: (flow.purpose == SignInPurpose::App).then(|| {
                let mut pairs = vec![
                    ("error", refusal.code),
                    ("error_description", refusal.message.as_str()),
                ];
                if let Some(s) = flow.app_state.as_deref() {
                    pairs.push(("state", s));
                }
                with_query(&flow.return_url, &pairs)
            }),
            refusal,
            cookies: clear.clone(),
        };
        let bound = cookie_value(cookie_header, &cookie_name)
            .is_some_and(|binding| ct_eq(&digest(binding), &flow.browser_digest));
        if !bound {
            // Not this browser's sign-in: never send anything to its return URL.
            return Err(CallbackRefusal {
                back_to: None,
                ..refused(Refusal::bad_request(
                    "browser_mismatch",
                    "this sign-in was started in another browser (its cookie is not here): the sign-in was cancelled; start it again from the app in this browser",
                ))
            });
        }
        if flow.purpose != purpose {
            return Err(refused(Refusal::bad_request(
                "wrong_callback",
                "this sign-in came back to the other redirect URI (app vs Wallet): check the redirect URIs registered at the identity provider",
            )));
        }
        if flow.expires_at <= Utc::now() {
            return Err(refused(Refusal::bad_request(
                "sign_in_expired",
                format!(
                    "the sign-in took longer than {} s at the identity provider: start it again",
                    self.settings.flow_ttl_secs
                ),
            )));
        }
        let idp = match self.store.get_idp(app, flow.idp_id).await {
            Ok(Some(idp)) => idp,
            Ok(None) => {
                return Err(refused(Refusal::new(
                    StatusCode::CONFLICT,
                    "identity_provider_changed",
                    "the app's identity provider was replaced during the sign-in: start it again",
                )));
            }
            Err(e) => return Err(refused(e.into())),
        };
        let Some(settings) = idp.sign_in.clone() else {
            return Err(refused(Refusal::new(
                StatusCode::NOT_FOUND,
                "sign_in_not_enabled",
                "sign-in was disabled for this app during the sign-in",
            )));
        };
        let endpoints = self.endpoints(&idp).await.map_err(&refused)?;
        // RFC 9207: an authorization response from another issuer is a mix-up attack.
        match query.iss.as_deref() {
            Some(iss) if iss != idp.issuer => {
                return Err(refused(Refusal::bad_request(
                    "wrong_issuer",
                    format!(
                        "the authorization response says it is from {iss:?}, not the app's identity provider {:?} (a mix-up attack or a misconfigured provider): nothing was signed in",
                        idp.issuer
                    ),
                )));
            }
            None if endpoints.iss_parameter => {
                return Err(refused(Refusal::bad_request(
                    "missing_issuer",
                    "the identity provider advertises the iss parameter (RFC 9207) but its response has none: nothing was signed in",
                )));
            }
            _ => {}
        }
        if let Some(error) = query.error.as_deref() {
            let description = query.error_description.as_deref().unwrap_or("");
            return Err(refused(Refusal::new(
                StatusCode::FORBIDDEN,
                "idp_error",
                format!("the identity provider refused the sign-in: {error}: {description}"),
            )));
        }
        let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(refused(Refusal::bad_request(
                "missing_code",
                "the identity provider's redirect has neither code nor error",
            )));
        };
        let secrets: FlowSecrets = self
            .open(&flow.sealed, &flow_context(app))
            .map_err(&refused)?;
        let client_secret = self.client_secret(&idp).await.map_err(&refused)?;
        let urls = self.urls(app);
        let redirect_uri = match purpose {
            SignInPurpose::App => urls.app_redirect_uri,
            SignInPurpose::Wallet => urls.wallet_redirect_uri,
        };
        let timeout = Duration::from_secs(self.settings.idp_timeout_secs);
        let exchange = |auth| {
            tokens::exchange(
                &self.http,
                &endpoints.token,
                auth,
                &settings.client_id,
                client_secret.expose(),
                code,
                &redirect_uri,
                &secrets.verifier,
                timeout,
            )
        };
        let tokens = match exchange(endpoints.client_auth).await {
            Err(refusal)
                if refusal.code == "client_authentication_failed" && endpoints.post_fallback =>
            {
                exchange(ClientAuth::Post).await
            }
            other => other,
        }
        .map_err(&refused)?;
        let identity = self
            .verifier
            .verify_id_token(
                app,
                &tokens.id_token,
                &IdTokenExpectations {
                    client_id: &settings.client_id,
                    nonce: &secrets.nonce,
                    access_token: tokens.access_token.as_deref(),
                },
            )
            .await
            .map_err(|e| refused(from_verify(e)))?;
        let user_id = identity
            .user
            .as_ref()
            .and_then(|u| UserId::parse("user.id", &u.id).ok())
            .ok_or_else(|| {
                refused(Refusal::unavailable(
                    "the verified user has no ID; try again",
                ))
            })?;
        let finished = self
            .finish(
                app, &flow, &idp, &settings, &secrets, &tokens, &identity, user_id,
            )
            .await
            .map_err(&refused)?;
        let mut cookies = clear.clone();
        cookies.extend(finished.cookies);
        Ok(Redirect {
            location: finished.location,
            cookies,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        app: AppId,
        flow: &SignInFlow,
        idp: &IdentityProvider,
        settings: &SignInSettings,
        secrets: &FlowSecrets,
        tokens: &TokenResponse,
        identity: &pb::VerifyResponse,
        user_id: UserId,
    ) -> Result<Redirect, Refusal> {
        let sealed = self.seal(
            &SessionSecrets {
                client_id: settings.client_id.clone(),
                nonce: secrets.nonce.clone(),
                id_token: tokens.id_token.clone(),
                access_token: tokens.access_token.clone().unwrap_or_default(),
                refresh_token: tokens.refresh_token.clone().unwrap_or_default(),
                access_token_expires_at: tokens.access_token_expires_at,
            },
            &session_context(app),
        )?;
        let value = random_value()?;
        let now = Utc::now();
        let (kind, lifetime) = match flow.purpose {
            SignInPurpose::App => (SessionKind::Result, self.settings.result_ttl_secs),
            SignInPurpose::Wallet => (SessionKind::Wallet, self.settings.wallet_session_secs),
        };
        let mut expires_at = now + chrono::Duration::seconds(i64::try_from(lifetime).unwrap_or(60));
        if kind == SessionKind::Wallet {
            // The Wallet shows the user by re-verifying the ID token: it ends with it.
            if let Some(exp) = chrono::DateTime::from_timestamp(identity.token_expires_at, 0) {
                expires_at = expires_at.min(exp);
            }
        }
        self.store
            .create_sign_in_session(&SignInSession {
                digest: digest(&value),
                kind,
                app_id: app,
                idp_id: idp.id,
                user_id,
                return_url: flow.return_url.clone(),
                sealed,
                expires_at,
            })
            .await?;
        Ok(match flow.purpose {
            SignInPurpose::App => {
                let mut pairs = vec![("code", value.as_str())];
                if let Some(s) = flow.app_state.as_deref() {
                    pairs.push(("state", s));
                }
                Redirect {
                    location: with_query(&flow.return_url, &pairs),
                    cookies: Vec::new(),
                }
            }
            SignInPurpose::Wallet => Redirect {
                location: flow.return_url.clone(),
                cookies: vec![Cookie {
                    name: wallet_cookie_name(app, self.secure()),
                    value,
                    max_age: u64::try_from((expires_at - now).num_seconds()).unwrap_or(0),
                    secure: self.secure(),
                }],
            },
        })
    }

    async fn client_secret(
        &self,
        idp: &IdentityProvider,
    ) -> Result<alter_secrets::SecretString, Refusal> {
        let stored = self
            .store
            .get_secret(idp.app_id, idp.id, SecretPurpose::ClientSecret)
            .await?
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::CONFLICT,
                    "client_secret_missing",
                    "no client secret is stored for sign-in: set it with `alter signin set --client-secret-env`",
                )
            })?;
        stored
            .sealed
            .open_string(&self.keyring, &alter_store::client_secret_seal_context(idp.id))
            .map_err(|e| {
                tracing::error!(error = %e, "cannot open the client secret");
                Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "client_secret_unreadable",
                    "the stored client secret cannot be opened with the configured master keys: give the sign-in service the same secrets.master_key as config-api",
                )
            })
    }

    /// Redeems a result code once: the verified user with their groups and grants (the
    /// ID token verified again, so a user suspended since is refused) and the provider's
    /// tokens.
    pub async fn redeem(
        &self,
        app_id: &str,
        code: &str,
    ) -> Result<pb::RedeemResponse, RedeemError> {
        let app = AppId::parse("app_id", app_id).map_err(|e| RedeemError::Invalid {
            field: "app_id",
            message: e.message,
        })?;
        let code = code.trim();
        if code.is_empty() {
            return Err(RedeemError::Invalid {
                field: "code",
                message:
                    "is empty: pass the code query parameter the browser brought to your return URL"
                        .to_owned(),
            });
        }
        let session = self
            .store
            .take_sign_in_session(app, SessionKind::Result, &digest(code))
            .await
            .map_err(|e| RedeemError::Refused(e.into()))?;
        let Some(session) = session else {
            return Err(RedeemError::Unknown(
                "the result code is unknown, already redeemed, or of another app: codes are single use; sign the user in again".to_owned(),
            ));
        };
        if session.expires_at <= Utc::now() {
            return Err(RedeemError::Unknown(format!(
                "the result code expired: redeem it within {} s of the sign-in",
                self.settings.result_ttl_secs
            )));
        }
        let secrets: SessionSecrets = self
            .open(&session.sealed, &session_context(app))
            .map_err(RedeemError::Refused)?;
        let verified = self
            .verifier
            .verify_id_token(
                app,
                &secrets.id_token,
                &IdTokenExpectations {
                    client_id: &secrets.client_id,
                    nonce: &secrets.nonce,
                    access_token: Some(secrets.access_token.as_str()).filter(|t| !t.is_empty()),
                },
            )
            .await;
        let identity = match verified {
            Ok(identity) => identity,
            Err(e) if e.code() == tonic::Code::Unavailable => {
                // Not an answer: the code is put back, so the backend's retry can redeem it.
                if let Err(store) = self.store.create_sign_in_session(&session).await {
                    tracing::warn!(error = %store, "could not put a result code back after an outage");
                }
                return Err(RedeemError::Verify(e));
            }
            Err(e) => return Err(RedeemError::Verify(e)),
        };
        Ok(pb::RedeemResponse {
            identity: Some(identity),
            id_token: secrets.id_token,
            access_token: secrets.access_token,
            refresh_token: secrets.refresh_token,
            access_token_expires_at: secrets.access_token_expires_at,
            return_url: session.return_url,
        })
    }

    /// The Wallet's signed-in user: the session of this browser's cookie, its ID token
    /// verified again (a suspended user is refused at once).
    pub async fn wallet(
        &self,
        app_id: &str,
        cookie_header: &str,
    ) -> Result<pb::VerifyResponse, Refusal> {
        let app = parse_app(app_id)?;
        let not_signed_in = || {
            Refusal::new(
                StatusCode::UNAUTHORIZED,
                "not_signed_in",
                format!(
                    "not signed in to the Wallet: sign in at {}",
                    self.urls(app).wallet_login_url
                ),
            )
        };
        let Some(value) = cookie_value(cookie_header, &wallet_cookie_name(app, self.secure()))
        else {
            return Err(not_signed_in());
        };
        let session = self
            .store
            .get_sign_in_session(app, SessionKind::Wallet, &digest(value))
            .await?
            .filter(|s| s.expires_at > Utc::now())
            .ok_or_else(not_signed_in)?;
        let secrets: SessionSecrets = self.open(&session.sealed, &session_context(app))?;
        self.verifier
            .verify_id_token(
                app,
                &secrets.id_token,
                &IdTokenExpectations {
                    client_id: &secrets.client_id,
                    nonce: &secrets.nonce,
                    access_token: Some(secrets.access_token.as_str()).filter(|t| !t.is_empty()),
                },
            )
            .await
            .map_err(from_verify)
    }

    /// The Wallet's logout: the session ends here, then the browser goes to the identity
    /// provider's `end_session_endpoint` with `id_token_hint` and the Wallet logout URL as
    /// `post_logout_redirect_uri` when it has one, else straight to the Wallet logout URL.
    pub async fn logout(&self, app_id: &str, cookie_header: &str) -> Result<Redirect, Refusal> {
        let app = parse_app(app_id)?;
        let name = wallet_cookie_name(app, self.secure());
        let clear = Cookie {
            name: name.clone(),
            value: String::new(),
            max_age: 0,
            secure: self.secure(),
        };
        let logged_out = self.urls(app).wallet_logout_url;
        let session = match cookie_value(cookie_header, &name) {
            Some(value) => {
                self.store
                    .take_sign_in_session(app, SessionKind::Wallet, &digest(value))
                    .await?
            }
            None => None,
        };
        let mut location = logged_out.clone();
        if let Some(session) = session {
            let secrets: SessionSecrets = self.open(&session.sealed, &session_context(app))?;
            let idp = self.store.get_idp(app, session.idp_id).await?;
            if let Some(idp) = idp
                && let Ok(endpoints) = self.endpoints(&idp).await
                && let Some(end_session) = endpoints.end_session.as_deref()
            {
                location = with_query(
                    end_session,
                    &[
                        ("id_token_hint", &secrets.id_token),
                        ("post_logout_redirect_uri", &logged_out),
                        ("client_id", &secrets.client_id),
                    ],
                );
            }
        }
        Ok(Redirect {
            location,
            cookies: vec![clear],
        })
    }

    /// Deletes expired flows and sessions; returns how many.
    pub async fn purge_expired(&self) -> Result<u64, alter_store::StoreError> {
        self.store.purge_expired_sign_ins(Utc::now()).await
    }
}

/// Why a redeem was refused.
#[derive(Debug)]
pub enum RedeemError {
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Unknown, used, expired, or another app's code.
    Unknown(String),
    /// The ID token or its user was refused, as Verify refuses them.
    Verify(alter_jwt_verifier::VerifyError),
    Refused(Refusal),
}

impl From<RedeemError> for tonic::Status {
    fn from(e: RedeemError) -> Self {
        match e {
            RedeemError::Invalid { field, message } => {
                tonic::Status::invalid_argument(format!("{field} {message}"))
            }
            RedeemError::Unknown(message) => tonic::Status::unauthenticated(message),
            RedeemError::Verify(e) => e.into(),
            RedeemError::Refused(r) if r.is_unavailable() => tonic::Status::unavailable(r.message),
            RedeemError::Refused(r) => tonic::Status::internal(r.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_and_secure_when_asked() {
        let c = Cookie {
            name: "__Host-alter-signin-0a".into(),
            value: "v".into(),
            max_age: 600,
            secure: true,
        };
        assert_eq!(
            c.header_value(),
            "__Host-alter-signin-0a=v; Max-Age=600; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(flow_cookie_name("s", true).starts_with("__Host-alter-signin-"));
        assert_eq!(
            flow_cookie_name("s", true).len(),
            "__Host-alter-signin-".len() + 12
        );
        assert!(!flow_cookie_name("s", false).starts_with("__Host-"));
    }

    #[test]
    fn debug_never_shows_a_cookie_value() {
        let c = Cookie {
            name: "alter-wallet".into(),
            value: "session-secret-value".into(),
            max_age: 1,
            secure: true,
        };
        assert!(!format!("{c:?}").contains("session-secret-value"));
    }

    #[test]
    fn cookie_values_are_found_by_exact_name() {
        let header = "a=1; alter-signin-ab=2;alter-signin-abc=3";
        assert_eq!(cookie_value(header, "alter-signin-ab"), Some("2"));
        assert_eq!(cookie_value(header, "alter-signin-abc"), Some("3"));
        assert_eq!(cookie_value(header, "alter"), None);
    }

    #[test]
    fn query_pairs_are_appended_to_an_existing_query() {
        assert_eq!(
            with_query(
                "https://app.example.com/cb?tab=1",
                &[("code", "a b"), ("state", "x&y")]
            ),
            "https://app.example.com/cb?tab=1&code=a+b&state=x%26y"
        );
    }
}
