//! Alter's domain: identifiers, value types and every product rule, free of I/O so each
//! rule is unit-tested without servers.

pub mod audience;
pub mod claims;
pub mod eligibility;
pub mod error;
pub mod ids;
pub mod issuer;
pub mod model;
pub mod provider_events;
pub mod sign_in;
pub mod transitions;

pub use audience::{Audience, AudienceClaimError, audience_matches};
pub use claims::{
    ClaimError, ClaimLimits, ExtractedIdentity, check_claim_mappings_change, extract_identity,
};
pub use eligibility::{group_grant_eligibility, groups_back_grants};
pub use error::FieldError;
pub use ids::*;
pub use issuer::{
    BrokeredProvider, ClerkInstance, Issuer, OktaAuthServer, Recognised, check_sign_in_issuer,
    recognise, rejected_brokered, suggested_claim_mappings, validate_idp_kind,
};
pub use model::*;
pub use provider_events::EventEffect;
pub use transitions::{GrantAction, StateVersion, Transition};
