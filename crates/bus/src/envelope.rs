//! The message envelope: metadata that travels in headers beside the payload (NATS headers
//! on JetStream, a JSON column in the embedded bus), so that routing, deduplication and
//! tracing never need to decode the body.
//!
//! | header            | value                                                        |
//! |-------------------|--------------------------------------------------------------|
//! | `Nats-Msg-Id`     | the event ID; the stream drops a second publish within the duplicate window |
//! | `Alter-App-Id`    | the app the event belongs to                                 |
//! | `Alter-Source`    | `jwt`, `webhook`, `directory_sync` or `admin`                |
//! | `Alter-Event-Kind`| the subject's kind token, e.g. `user_suspended`              |
//! | `traceparent`, `tracestate` | W3C trace context of the publisher, when one is active |
//!
//! Trace context is injected and extracted with the `opentelemetry` global text-map
//! propagator; the telemetry crate installs the W3C one. With none installed nothing is sent.

use std::collections::BTreeMap;

use alter_core::{AppId, EventId, EventSource, FieldError};
use async_nats::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};

pub const MSG_ID: &str = "Nats-Msg-Id";
pub const APP_ID: &str = "Alter-App-Id";
pub const SOURCE: &str = "Alter-Source";
pub const EVENT_KIND: &str = "Alter-Event-Kind";
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// The headers of a received message, adapter-independent (first value of each name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(BTreeMap<String, String>);

impl Headers {
    /// The value of header `name` (exact, case-sensitive as NATS headers are sent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The `Nats-Msg-Id`: the event ID the publisher set.
    pub fn message_id(&self) -> Option<&str> {
        self.get(MSG_ID)
    }

    /// The parent trace context the publisher sent, for linking the consumer's span.
    pub fn trace_context(&self) -> opentelemetry::Context {
        opentelemetry::global::get_text_map_propagator(|p| p.extract(self))
    }

    /// Iterates all headers by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub(crate) fn from_nats(headers: Option<&HeaderMap>) -> Self {
        let mut map = BTreeMap::new();
        if let Some(headers) = headers {
            for (name, values) in headers.iter() {
                if let Some(value) = values.first() {
                    map.insert(name.to_string(), value.as_str().to_owned());
                }
            }
        }
        Self(map)
    }

    /// The same headers as a NATS header map, for publishing.
    pub(crate) fn to_nats(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.0 {
            headers.insert(name.as_str(), value.as_str());
        }
        headers
    }

    /// The headers as JSON (`{"Nats-Msg-Id":"…",…}`), as the embedded bus stores them.
    pub(crate) fn to_json(&self) -> String {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
        .to_string()
    }

    /// Reads headers stored by [`to_json`](Self::to_json); the error names `headers`.
    pub(crate) fn from_json(json: &str) -> Result<Self, FieldError> {
        serde_json::from_str(json).map(Self).map_err(|e| {
            FieldError::new("headers", format!("is not a JSON object of strings: {e}"))
        })
    }
}

impl Extractor for Headers {
    fn get(&self, key: &str) -> Option<&str> {
        Headers::get(self, key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Keeps the propagator output that NATS headers can carry. A propagator's output is not
/// ours to trust: what NATS cannot carry is skipped (rather than panicking in
/// `HeaderMap::insert`), the same for every adapter, so the envelope does not depend on the
/// transport.
impl Injector for Headers {
    fn set(&mut self, key: &str, value: String) {
        if key.parse::<HeaderName>().is_ok() && value.parse::<HeaderValue>().is_ok() {
            self.0.insert(key.to_owned(), value);
        }
    }
}

/// Adds the current trace context (`traceparent`, `tracestate`) to `headers`: the current
/// `tracing` span's when it is in a trace, else the attached OpenTelemetry context.
pub(crate) fn inject_current_trace(headers: &mut Headers) {
    let cx = alter_telemetry::trace::current_context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, headers));
}

/// The envelope of an event publish (lifecycle event or audit record), with the current
/// trace context.
pub(crate) fn event_headers(
    event_id: EventId,
    app_id: AppId,
    source: EventSource,
    kind: &str,
) -> Headers {
    let mut headers = Headers::default();
    headers.0.insert(MSG_ID.to_owned(), event_id.to_string());
    headers.0.insert(APP_ID.to_owned(), app_id.to_string());
    headers
        .0
        .insert(SOURCE.to_owned(), source.as_str().to_owned());
    headers.0.insert(EVENT_KIND.to_owned(), kind.to_owned());
    inject_current_trace(&mut headers);
    headers
}
