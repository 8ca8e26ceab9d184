//! `grant-revoker` configuration: the shared sections plus `[grant_revoker]` (`ALTER_GRANT_REVOKER__<KEY>`),
//! which holds only its listen addresses for now.

alter_config::listen_only_config!(grant_revoker, 50055, 9095);
