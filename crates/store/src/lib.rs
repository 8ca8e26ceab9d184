//! Alter's persistence: one async trait per aggregate (apps, IDPs, secrets, users, groups,
//! grants, directory runs, audit trail, processed events) so services depend on behaviour,
//! not on PostgreSQL; [`PgStore`] implements them all over one `sqlx` pool, and
//! [`SqliteStore`] over one SQLite file for the embedded `alter dev` mode.
//!
//! Every query is scoped by [`alter_core::AppId`]: nothing of one app is visible through
//! another. Services usually hold an `Arc<dyn Store>` and call any aggregate's methods on it.

pub mod apps;
pub mod audit;
pub mod audit_chain;
mod common;
pub mod directory;
pub mod directory_runs;
pub mod error;
pub mod grants;
pub mod groups;
pub mod idps;
pub mod lifecycle;
pub mod outbox;
mod postgres;
pub mod processed_events;
pub mod secrets;
pub mod signin;
mod sqlite;
pub mod users;
pub mod webhooks;

#[cfg(feature = "testing")]
pub mod testing;

pub use apps::{App, AppStore};
pub use audit::{
    AppendOutcome, AuditEvent, AuditQuery, AuditStore, ChainVerification, GENESIS_HASH,
    NewAuditEvent,
};
pub use directory::{DirectorySyncStore, IdpMembership};
pub use directory_runs::{
    DirectoryRun, DirectoryRunStore, Removal, RunCounts, RunOutcome, RunState, RunTrigger,
    SyncCandidate,
};
pub use error::{StoreError, StoreResult};
pub use grants::{Grant, GrantStore, NewGrant, RevokedBy};
pub use groups::{Group, GroupStore, GroupUpsert, Membership, MembershipDiff};
pub use idps::{IdentityProvider, IdpStore, NewIdp, SignInSettings};
pub use lifecycle::{
    Applied, GroupChange, LifecycleChange, LifecycleStore, RemovedMembership, UserChange,
    event_state_version, revocation_cause,
};
pub use outbox::{
    Effects, OutboxBacklog, OutboxMessage, OutboxSignal, OutboxStore, OutboxTopic, PendingMessage,
    RequestKey, no_effects,
};
pub use postgres::{MIGRATOR, PgStore};
pub use processed_events::ProcessedEvents;
pub use secrets::{SealedSecret, SecretPurpose, SecretStore, StoredSecret};
pub use signin::{
    SessionKind, SignInFlow, SignInPurpose, SignInSession, SignInStore, client_secret_seal_context,
};
pub use sqlite::{SQLITE_MIGRATOR, SqliteStore};
pub use users::{StatusChange, UpsertedUser, User, UserStore, UserUpsert};
pub use webhooks::{
    DeliveryOutcome, DeliveryRecord, LoggedDelivery, StoredWebhookSecret, WebhookSettings,
    WebhookStore, webhook_seal_context,
};

/// Every aggregate's store in one object: `Arc<dyn Store>` is what services hold. A second
/// adapter (embedded) implements the aggregate traits and gets this for free.
pub trait Store:
    AppStore
    + IdpStore
    + SecretStore
    + UserStore
    + GroupStore
    + GrantStore
    + DirectoryRunStore
    + DirectorySyncStore
    + AuditStore
    + ProcessedEvents
    + OutboxStore
    + WebhookStore
    + LifecycleStore
    + SignInStore
{
}

impl<T> Store for T where
    T: AppStore
        + IdpStore
        + SecretStore
        + UserStore
        + GroupStore
        + GrantStore
        + DirectoryRunStore
        + DirectorySyncStore
        + AuditStore
        + ProcessedEvents
        + OutboxStore
        + WebhookStore
        + LifecycleStore
        + SignInStore
{
}
