//! One trace from a provider's webhook to the audit trail: webhook-ingest's request span, the
//! lifecycle event's trip through JetStream (W3C context in its headers), grant-revoker's
//! transaction, the audit record's trip through the outbox (the context stored beside the
//! row) and JetStream again, and the audit writer's append — parent links intact. And Verify:
//! a span per call saying whether the token cache answered, with the JWKS fetch a first call
//! waits on as its child. Spans are collected by an in-memory exporter.

use std::sync::OnceLock;
use std::time::Duration;

use alter_idp_sim::{IdpSim, LogStreamFormat, TenantKind, TenantOptions, TokenSpec, WebhookTarget};
use alter_proto::admin::v1 as admin;
use alter_proto::identity::v1::VerifyRequest;
use alter_testkit::{TestEnv, eventually, spawn};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;

const ADMIN_TOKEN: &str = "alt_adm_e2e-traces";
const AUDIENCE: &str = "api://traces";

/// The process's exporter: the global subscriber is installed once per test binary.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let settings = alter_config::TelemetrySettings {
            log_level: "error".into(),
            ..Default::default()
        };
        let guard = alter_telemetry::init_with_provider("e2e", &settings, provider)
            .expect("telemetry installs");
        // Kept for the life of the test binary.
        std::mem::forget(guard);
        exporter
    })
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// The finished spans of `trace` named `name`.
fn named(trace: TraceId, name: &str) -> Vec<SpanData> {
    exporter()
        .get_finished_spans()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.span_context.trace_id() == trace && s.name == name)
        .collect()
}

async fn one(trace: TraceId, name: &str, parent: SpanId) -> SpanData {
    let found = eventually(name, Duration::from_secs(15), || async {
        named(trace, name)
            .into_iter()
            .find(|s| s.parent_span_id == parent)
    })
    .await;
    assert_eq!(found.span_context.trace_id(), trace);
    found
}

#[tokio::test]
async fn a_webhooks_trace_spans_ingest_revoker_and_audit_writer_with_parent_links_intact() {
    exporter();
    let env = TestEnv::new().await;
    let common = env.common();
    let ingest = spawn::<alter_webhook_ingest::Application>(
        alter_webhook_ingest::Config::for_tests(common.clone()),
    )
    .await;
    let mut api = alter_config_api::Config::for_tests(common.clone()).with_admin_token(ADMIN_TOKEN);
    api.config_api.public_webhook_base_url = ingest.url();
    let config_api = spawn::<alter_config_api::Application>(api).await;
    let revoker = spawn::<alter_grant_revoker::Application>(
        alter_grant_revoker::Config::for_tests(common.clone()),
    )
    .await;
    let writer = spawn::<alter_audit_writer::Application>(alter_audit_writer::Config::for_tests(
        common.clone(),
    ))
    .await;
    let verifier =
        spawn::<alter_jwt_verifier::Application>(alter_jwt_verifier::Config::for_tests(common))
            .await;
    let mut admin = alter_config_api::connect_admin(&config_api.url(), Some(ADMIN_TOKEN))
        .await
        .unwrap();
    let sim = IdpSim::start().await.unwrap();
    let issuer = sim
        .create_tenant("traces", TenantKind::Auth0, TenantOptions::default())
        .unwrap()
        .issuer;
    let app = admin
        .create_app(admin::CreateAppRequest {
            name: "traces".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let idp = admin
        .create_idp(admin::CreateIdpRequest {
            app_id: app.clone(),
            issuer,
            kind: admin::IdpKind::Auth0.into(),
            audience: AUDIENCE.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let hooks = admin
        .enable_webhooks(admin::EnableWebhooksRequest {
            app_id: app.clone(),
            secret: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    // Verify twice: the first call misses the token cache and fetches the JWKS inside its
    // span; the second is answered from the cache.
    let token = sim
        .mint("traces", &TokenSpec::new("auth0|trace", json!(AUDIENCE)))
        .unwrap();
    let mut client = alter_jwt_verifier::connect(verifier.url()).await.unwrap();
    for _ in 0..2 {
        client
            .verify(VerifyRequest {
                app_id: app.clone(),
                token: token.clone(),
            })
            .await
            .unwrap();
    }
    let verifies = eventually("two verify spans", Duration::from_secs(5), || async {
        let spans: Vec<SpanData> = exporter()
            .get_finished_spans()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.name == "verify" && attribute(s, "app_id").as_deref() == Some(&app))
            .collect();
        (spans.len() == 2).then_some(spans)
    })
    .await;
    let caches: Vec<_> = verifies.iter().map(|s| attribute(s, "cache")).collect();
    assert_eq!(
        caches,
        [Some("miss".to_owned()), Some("token_hit".to_owned())],
        "each Verify span says whether the token cache answered"
    );
    let first = &verifies[0];
    one(
        first.span_context.trace_id(),
        "jwks.fetch",
        first.span_context.span_id(),
    )
    .await;

    // The user is deleted at Auth0; its log stream tells webhook-ingest.
    let report = sim
        .send_auth0_log_stream(
            "traces",
            &WebhookTarget {
                url: hooks.status.unwrap().endpoint_url,
                authorization: Some(hooks.secret),
                retry_delays_ms: Some(Vec::new()),
                ..WebhookTarget::default()
            },
            LogStreamFormat::Jsonarray,
            vec![json!({ "log_id": "trace-1", "type": "sdu", "user_id": "auth0|trace" })],
        )
        .await
        .unwrap();
    assert!(report.delivered, "{report:?}");

    let receive = eventually("the webhook's span", Duration::from_secs(5), || async {
        exporter()
            .get_finished_spans()
            .unwrap_or_default()
            .into_iter()
            .find(|s| {
                s.name == "webhook.receive" && attribute(s, "idp_id").as_deref() == Some(&idp)
            })
    })
    .await;
    assert_eq!(attribute(&receive, "status").as_deref(), Some("200"));
    assert_eq!(
        receive.parent_span_id,
        SpanId::INVALID,
        "a delivery starts a trace"
    );
    let trace = receive.span_context.trace_id();

    // webhook.receive → (JetStream) revoker.apply → (outbox) outbox.publish → (JetStream)
    // audit.write: each the child of the one before, in the one trace.
    let apply = one(trace, "revoker.apply", receive.span_context.span_id()).await;
    assert_eq!(
        attribute(&apply, "kind").as_deref(),
        Some("user_deprovisioned")
    );
    let publish = eventually(
        "the audit record's publish",
        Duration::from_secs(15),
        || async {
            named(trace, "outbox.publish").into_iter().find(|s| {
                s.parent_span_id == apply.span_context.span_id()
                    && attribute(s, "topic").as_deref() == Some("audit")
            })
        },
    )
    .await;
    let write = one(trace, "audit.write", publish.span_context.span_id()).await;
    assert_eq!(attribute(&write, "app_id").as_deref(), Some(app.as_str()));

    for service in [ingest, config_api, revoker, writer, verifier] {
        service.stop().await.unwrap();
    }
    env.cleanup().await;
}
