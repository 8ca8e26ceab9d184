//! alter-secrets
