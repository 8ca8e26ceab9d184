//! Trace context across process boundaries (R: one trace from a webhook through JetStream to
//! the revoker's transaction and the audit write). A context is carried as W3C
//! `traceparent`/`tracestate` text: in NATS headers (`alter-bus`) and in outbox rows (the
//! store keeps the context of the transaction that wrote a message, and the relay publishes
//! the message in it).
//!
//! The current context is the current `tracing` span's when it belongs to a trace (spans
//! become OpenTelemetry spans through `tracing-opentelemetry`), else the OpenTelemetry
//! context attached to the task.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The context that a message sent now belongs to.
pub fn current_context() -> Context {
    let span = tracing::Span::current().context();
    if span.span().span_context().is_valid() {
        span
    } else {
        Context::current()
    }
}

struct Map(HashMap<String, String>);

impl Injector for Map {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for Map {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The current context as `traceparent` text (with `;tracestate` when there is one), or
/// `None` outside a trace: what the outbox stores beside a message.
pub fn current_traceparent() -> Option<String> {
    let cx = current_context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut map = Map(HashMap::new());
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut map));
    let parent = map.0.remove("traceparent")?;
    Some(match map.0.remove("tracestate").filter(|s| !s.is_empty()) {
        Some(state) => format!("{parent};{state}"),
        None => parent,
    })
}

/// The context a stored [`current_traceparent`] text stands for (empty when unreadable).
pub fn context_from_traceparent(text: &str) -> Context {
    let mut map = Map(HashMap::new());
    let (parent, state) = text.split_once(';').unwrap_or((text, ""));
    map.0.insert("traceparent".to_owned(), parent.to_owned());
    if !state.is_empty() {
        map.0.insert("tracestate".to_owned(), state.to_owned());
    }
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&map))
}

/// Makes `parent` (a remote context: from message headers or an outbox row) the parent of
/// `span`, so the trace continues across the boundary.
pub fn set_parent(span: &tracing::Span, parent: Context) {
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}
