//! Outbound webhooks with each provider's signing and retry behaviour: Auth0 log streams
//! (array / JSON lines / object), Clerk via Svix signatures, Okta event hooks and their
//! one-time verification GET.

use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::iso_ms;
use crate::error::SimError;
use crate::state::{SimState, random_token};

/// Auth0 log-stream body format (`httpContentFormat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogStreamFormat {
    /// `[record, …]`.
    #[default]
    Jsonarray,
    /// One record per line.
    Jsonlines,
    /// One request per record, body is the record object.
    Jsonobject,
}

/// One webhook delivery: where, with which headers, and the retry schedule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookTarget {
    /// Receiver URL.
    pub url: String,
    /// `Authorization` header sent verbatim (Auth0, Okta).
    pub authorization: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Delays between attempts in ms; attempts = len + 1. `None` = provider default
    /// (Auth0 3 attempts, Svix ladder 5 s…10 h scaled to ms, Okta one retry), all short.
    pub retry_delays_ms: Option<Vec<u64>>,
    /// Per-attempt timeout in ms (default: Okta 3000, others 15000).
    pub timeout_ms: Option<u64>,
}

/// Result of one attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Transport error text otherwise.
    pub error: Option<String>,
}

/// Outcome of a delivery including retries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// Whether some attempt got a 2xx.
    pub delivered: bool,
    /// Every attempt in order.
    pub attempts: Vec<Attempt>,
    /// Svix `svix-id` / Okta `eventId` / Auth0 first `log_id`.
    pub message_id: String,
}

enum Retry {
    AnyFailure,
    Okta,
}

#[allow(
    clippy::too_many_arguments,
    reason = "internal helper shared by three senders"
)]
async fn deliver(
    st: &SimState,
    target: &WebhookTarget,
    method: reqwest::Method,
    body: Vec<u8>,
    content_type: &str,
    delays: Vec<u64>,
    default_timeout: u64,
    retry: Retry,
    per_attempt: impl Fn(i64) -> Vec<(String, String)>,
) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    let timeout = Duration::from_millis(target.timeout_ms.unwrap_or(default_timeout));
    for i in 0..=delays.len() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(
                delays.get(i - 1).copied().unwrap_or(0),
            ))
            .await;
        }
        let mut req = st
            .http
            .request(method.clone(), &target.url)
            .timeout(timeout);
        if method == reqwest::Method::POST {
            req = req.header("content-type", content_type).body(body.clone());
        }
        if let Some(a) = &target.authorization {
            req = req.header("authorization", a);
        }
        for (k, v) in target
            .headers
            .iter()
            .cloned()
            .chain(per_attempt(st.clock.now_s()))
        {
            req = req.header(k, v);
        }
        let (attempt, retryable) = match req.send().await {
            Ok(resp) => {
                let s = resp.status().as_u16();
                let ok = resp.status().is_success();
                let retryable = !ok && (matches!(retry, Retry::AnyFailure) || s >= 500);
                (
                    Attempt {
                        status: Some(s),
                        error: None,
                    },
                    retryable,
                )
            }
            Err(e) => (
                Attempt {
                    status: None,
                    error: Some(e.to_string()),
                },
                true,
            ),
        };
        let done = attempt.status.is_some_and(|s| (200..300).contains(&s));
        attempts.push(attempt);
        if done || !retryable {
            break;
        }
    }
    attempts
}

fn delivered(a: &[Attempt]) -> bool {
    a.last()
        .and_then(|x| x.status)
        .is_some_and(|s| (200..300).contains(&s))
}

/// Svix `v1,<base64>` signature of `id.timestamp.body` with a `whsec_` secret.
pub fn svix_signature(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SimError> {
    let raw = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .map_err(|e| SimError::invalid("secret", format!("whsec_ secret must be base64: {e}")))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &raw);
    let mut data = format!("{msg_id}.{timestamp}.").into_bytes();
    data.extend_from_slice(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(hmac::sign(&key, &data).as_ref())
    ))
}

pub(crate) async fn send_clerk(
    st: &SimState,
    tenant: &str,
    target: &WebhookTarget,
    event_type: &str,
    data: Value,
    extra_secrets: &[String],
) -> Result<DeliveryReport, SimError> {
    let secret = st.with_tenant(tenant, |t| Ok(t.webhook_secret.clone()))?;
    let mut secrets = vec![secret];
    secrets.extend(extra_secrets.iter().cloned());
    for s in &secrets {
        svix_signature(s, "probe", 0, b"")?;
    }
    let body = json!({
        "type": event_type, "object": "event", "timestamp": st.clock.now_ms(),
        "instance_id": format!("ins_2sim{}", &random_token(11)[..21]),
        "event_attributes": { "http_request": { "client_ip": "203.0.113.9", "user_agent": "idp-sim" } },
        "data": data,
    })
    .to_string()
    .into_bytes();
    let msg_id = format!("msg_2sim{}", &random_token(12)[..23]);
    let delays = target
        .retry_delays_ms
        .clone()
        .unwrap_or_else(|| vec![5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
    let body2 = body.clone();
    let id2 = msg_id.clone();
    let attempts = deliver(
        st,
        target,
        reqwest::Method::POST,
        body,
        "application/json",
        delays,
        15_000,
        Retry::AnyFailure,
        move |ts| {
            let sig: Vec<String> = secrets
                .iter()
                .filter_map(|s| svix_signature(s, &id2, ts, &body2).ok())
                .collect();
            vec![
                ("svix-id".into(), id2.clone()),
                ("svix-timestamp".into(), ts.to_string()),
                ("svix-signature".into(), sig.join(" ")),
            ]
        },
    )
    .await;
    Ok(DeliveryReport {
        delivered: delivered(&attempts),
        attempts,
        message_id: msg_id,
    })
}

pub(crate) async fn send_auth0(
    st: &SimState,
    tenant: &str,
    target: &WebhookTarget,
    format: LogStreamFormat,
    records: Vec<Value>,
) -> Result<DeliveryReport, SimError> {
    st.with_tenant(tenant, |_| Ok(()))?;
    let now = st.clock.now_ms();
    let stamp = chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .format("%Y%m%d%H%M%S")
        .to_string();
    let wrapped: Vec<Value> = records
        .into_iter()
        .enumerate()
        .map(|(i, mut data)| {
            let id = data.get("log_id").and_then(Value::as_str).map_or_else(
                || {
                    format!(
                        "900{stamp}{:033}",
                        u128::from(now.unsigned_abs()) * 1000 + i as u128
                    )
                },
                str::to_string,
            );
            if let Some(m) = data.as_object_mut() {
                m.entry("log_id").or_insert(json!(id));
                m.entry("date").or_insert(json!(iso_ms(now)));
                m.entry("tenant_name").or_insert(json!(tenant));
            }
            json!({ "log_id": id, "data": data })
        })
        .collect();
    let first_id = wrapped
        .first()
        .and_then(|r| r["log_id"].as_str())
        .unwrap_or("")
        .to_string();
    let delays = target
        .retry_delays_ms
        .clone()
        .unwrap_or_else(|| vec![10, 10]);
    let bodies: Vec<Vec<u8>> = match format {
        LogStreamFormat::Jsonarray => vec![Value::Array(wrapped).to_string().into_bytes()],
        LogStreamFormat::Jsonlines => {
            vec![
                wrapped
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes(),
            ]
        }
        LogStreamFormat::Jsonobject => wrapped.iter().map(|r| r.to_string().into_bytes()).collect(),
    };
    let mut all = Vec::new();
    let mut ok = true;
    for body in bodies {
        let a = deliver(
            st,
            target,
            reqwest::Method::POST,
            body,
            "application/json",
            delays.clone(),
            15_000,
            Retry::AnyFailure,
            |_| Vec::new(),
        )
        .await;
        ok &= delivered(&a);
        all.extend(a);
    }
    Ok(DeliveryReport {
        delivered: ok,
        attempts: all,
        message_id: first_id,
    })
}

pub(crate) async fn send_okta(
    st: &SimState,
    tenant: &str,
    target: &WebhookTarget,
    events: Vec<Value>,
) -> Result<DeliveryReport, SimError> {
    st.with_tenant(tenant, |_| Ok(()))?;
    let now = st.clock.now_ms();
    let events: Vec<Value> = events
        .into_iter()
        .map(|mut e| {
            if let Some(m) = e.as_object_mut() {
                m.entry("uuid")
                    .or_insert_with(|| json!(uuid::Uuid::new_v4().to_string()));
                m.entry("published").or_insert(json!(iso_ms(now)));
                m.entry("version").or_insert(json!("0"));
                m.entry("severity").or_insert(json!("INFO"));
                m.entry("outcome")
                    .or_insert(json!({"result": "SUCCESS", "reason": null}));
            }
            e
        })
        .collect();
    let event_id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "eventType": "com.okta.event_hook", "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1",
        "source": format!("{}/api/v1/eventHooks/whoSimHook0", st.tenant_base(tenant)),
        "eventId": event_id, "eventTime": iso_ms(now), "contentType": "application/json",
        "data": { "events": events },
    })
    .to_string()
    .into_bytes();
    let delays = target.retry_delays_ms.clone().unwrap_or_else(|| vec![10]);
    let attempts = deliver(
        st,
        target,
        reqwest::Method::POST,
        body,
        "application/json",
        delays,
        3000,
        Retry::Okta,
        |_| vec![("accept".into(), "application/json".into())],
    )
    .await;
    Ok(DeliveryReport {
        delivered: delivered(&attempts),
        attempts,
        message_id: event_id,
    })
}

/// Sends the one-time Okta verification GET (without the Authorization header: whether Okta
/// sends it is unconfirmed, so receivers must not require it). Succeeds only when the
/// receiver echoes `{"verification": <challenge>}` with 200.
pub(crate) async fn verify_okta(
    st: &SimState,
    target: &WebhookTarget,
) -> Result<DeliveryReport, SimError> {
    let challenge = random_token(24);
    let timeout = Duration::from_millis(target.timeout_ms.unwrap_or(3000));
    let mut attempts = Vec::new();
    let mut ok = false;
    for _ in 0..2 {
        let resp = st
            .http
            .get(&target.url)
            .timeout(timeout)
            .header("x-okta-verification-challenge", &challenge)
            .send()
            .await;
        match resp {
            Ok(r) => {
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                ok = status == 200
                    && body.get("verification").and_then(Value::as_str) == Some(challenge.as_str());
                attempts.push(Attempt {
                    status: Some(status),
                    error: (!ok).then(|| "challenge not echoed".to_string()),
                });
                if status < 500 {
                    break;
                }
            }
            Err(e) => attempts.push(Attempt {
                status: None,
                error: Some(e.to_string()),
            }),
        }
    }
    Ok(DeliveryReport {
        delivered: ok,
        attempts,
        message_id: challenge,
    })
}
