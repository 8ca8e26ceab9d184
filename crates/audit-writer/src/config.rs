//! `audit-writer` configuration: the shared sections plus `[audit_writer]` (`ALTER_AUDIT_WRITER__<KEY>`),
//! which holds only its listen addresses for now.

alter_config::listen_only_config!(audit_writer, 50056, 9096);
