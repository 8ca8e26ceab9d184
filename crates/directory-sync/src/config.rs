//! `directory-sync` configuration: the shared sections plus `[directory_sync]` (`ALTER_DIRECTORY_SYNC__<KEY>`),
//! which holds only its listen addresses for now.

alter_config::listen_only_config!(directory_sync, 50053, 9093);
