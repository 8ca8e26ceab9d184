//! Everything that speaks a provider's protocol, so provider parsing lives in one place:
//! outbound OIDC clients and token verification, shared by config-api (discovery) and
//! jwt-verifier (JWKS cache and verify), and the inbound webhook verifiers and parsers
//! webhook-ingest wires HTTP to (`inbound`), and the directory clients directory sync reads
//! users, groups and memberships with (`directory`).

pub mod clock;
pub mod directory;
pub mod discovery;
pub mod error;
pub mod http;
pub mod id_token;
pub mod inbound;
pub mod jwks;
mod signature;
pub mod verify;

pub use clock::{Clock, ManualClock, SystemClock};
pub use discovery::{DiscoveryDocument, discover};
pub use error::{CachedKeys, DiscoveryError, JwksError, ProviderError};
pub use http::http_client;
pub use id_token::{IdTokenExpectations, access_token_hash, check_id_token_claims};
pub use inbound::{
    InboundChange, InboundError, InboundEvent, InboundRequest, ParsedDelivery, WebhookVerifier,
    parse_delivery, webhook_event_id,
};
pub use jwks::{
    ALLOWED_ALGORITHMS, DEFAULT_MAX_STALE, JwksCache, JwksSettings, KeyType, VerifyingKey,
    refresh_after,
};
pub use verify::{
    Refusal, TokenExpectations, TokenHeader, TokenRefused, VerifiedToken, check_claims, unix_now,
    verify_token, verify_with_key,
};
