//! `webhook-ingest` configuration: the shared sections plus `[webhook_ingest]` (`ALTER_WEBHOOK_INGEST__<KEY>`),
//! which holds only its listen addresses for now.

alter_config::listen_only_config!(webhook_ingest, 8080, 9094);
