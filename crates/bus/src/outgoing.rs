//! A message about to be published: subject, envelope and payload, built once for every
//! adapter so that JetStream and the embedded bus store byte-for-byte the same thing.

use alter_core::LifecycleEvent;
use bytes::Bytes;

use crate::audit::{AuditRecord, encode_audit};
use crate::codec::encode_lifecycle;
use crate::envelope::{Headers, event_headers};
use crate::error::BusError;
use crate::names::BusNames;

/// One message for a stream.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub(crate) subject: String,
    pub(crate) headers: Headers,
    pub(crate) payload: Bytes,
}

impl Outgoing {
    /// A lifecycle event on `<p>alter.lifecycle.<app>.<kind>`, protobuf-encoded.
    pub(crate) fn lifecycle(names: &BusNames, event: &LifecycleEvent) -> Self {
        let kind = event.kind.subject_token();
        Self {
            subject: names.lifecycle_subject(event.app_id, kind),
            headers: event_headers(event.event_id, event.app_id, event.source, kind),
            payload: encode_lifecycle(event),
        }
    }

    /// An audit record on `<p>alter.audit.<app>.<kind>`, JSON-encoded.
    pub(crate) fn audit(names: &BusNames, record: &AuditRecord) -> Result<Self, BusError> {
        let kind = record.subject_token();
        let subject = names.audit_subject(record.app_id, kind);
        let payload = encode_audit(record).map_err(|e| BusError::Encode {
            subject: subject.clone(),
            message: e.to_string(),
        })?;
        Ok(Self {
            subject,
            headers: event_headers(record.event_id, record.app_id, record.source, kind),
            payload,
        })
    }
}
