//! Revocation latency: per trial one new user signs in (first Verify: just-in-time
//! provisioning), is verified again (a token-cache hit: the verifier is warm for that token),
//! then the driver sends the Auth0 `sdu` record for that user as Auth0's log stream does and,
//! from the same instant, polls Verify with the cached token in a tight loop until the first
//! `PERMISSION_DENIED` with `USER_DEPROVISIONED`. The path measured: webhook-ingest (auth,
//! parse, durable publish, delivery log) → JetStream → grant-revoker (one transaction, the
//! invalidation published) → NATS → the verifier dropping the user's cached answers.

use std::time::{Duration, Instant};

use alter_idp_sim::{IdpSim, TokenSpec};
use alter_proto::identity::v1::{RefusalReason, VerifyRequest};
use serde_json::json;

use crate::{AUDIENCE, HookApp};

pub struct Results {
    pub trials: usize,
    /// POST sent → first refused Verify, sorted.
    pub refused: Vec<Duration>,
    /// POST sent → its 2xx, sorted.
    pub answered: Vec<Duration>,
    /// Round trip of each poll answered Ok (warm), sorted.
    pub poll_rtt: Vec<Duration>,
    pub polls: u64,
    pub failures: usize,
    pub first_error: Option<String>,
}

pub async fn run(
    sim: &IdpSim,
    app: &HookApp,
    verifier_url: &str,
    trials: usize,
) -> anyhow::Result<Results> {
    let mut client = alter_jwt_verifier::connect(verifier_url.to_owned()).await?;
    let http = reqwest::Client::new();
    let authorization = format!("Bearer {}", app.secret);
    let mut results = Results {
        trials: 0,
        refused: Vec::with_capacity(trials),
        answered: Vec::with_capacity(trials),
        poll_rtt: Vec::new(),
        polls: 0,
        failures: 0,
        first_error: None,
    };
    println!("revocation latency: {trials} trials …");
    let nonce = std::process::id();
    for i in 0..trials {
        let sub = format!("auth0|rev-{nonce}-{i}");
        let token = sim.mint(&app.tenant, &TokenSpec::new(&sub, json!(AUDIENCE)))?;
        let request = VerifyRequest {
            app_id: app.app.clone(),
            token,
        };
        // First sign-in, then a cache hit: the verifier is warm for this token.
        client.verify(request.clone()).await?;
        client.verify(request.clone()).await?;
        let log_id = format!("900{nonce:010}{i:026}");
        let body = json!([{
            "log_id": log_id,
            "data": {
                "log_id": log_id,
                "type": "sdu",
                "user_id": sub,
                "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "tenant_name": app.tenant,
            }
        }])
        .to_string();
        let post = http
            .post(&app.url)
            .header("authorization", &authorization)
            .header("content-type", "application/json")
            .body(body);
        results.trials += 1;
        let sent = Instant::now();
        let delivery = tokio::spawn(async move {
            let answer = post.send().await;
            let at = sent.elapsed();
            match answer {
                Ok(r) if r.status().is_success() => Ok(at),
                Ok(r) => {
                    let status = r.status();
                    Err(format!("{status}: {}", r.text().await.unwrap_or_default()))
                }
                Err(e) => Err(e.to_string()),
            }
        });
        let refused = loop {
            let before = Instant::now();
            results.polls += 1;
            match client.verify(request.clone()).await {
                Ok(_) => results.poll_rtt.push(before.elapsed()),
                Err(status) => {
                    let reason = alter_jwt_verifier::refusal_of(&status).map(|d| d.reason());
                    if reason == Some(RefusalReason::UserDeprovisioned) {
                        break Some(sent.elapsed());
                    }
                    results
                        .first_error
                        .get_or_insert_with(|| format!("Verify: {status}"));
                    break None;
                }
            }
            if sent.elapsed() > Duration::from_secs(10) {
                results
                    .first_error
                    .get_or_insert_with(|| "not refused within 10 s".to_owned());
                break None;
            }
        };
        let answered = delivery.await?;
        match (refused, answered) {
            (Some(refused), Ok(answered)) => {
                results.refused.push(refused);
                results.answered.push(answered);
            }
            (_, Err(e)) => {
                results.failures += 1;
                results
                    .first_error
                    .get_or_insert_with(|| format!("POST: {e}"));
            }
            (None, Ok(_)) => results.failures += 1,
        }
    }
    results.refused.sort();
    results.answered.sort();
    results.poll_rtt.sort();
    Ok(results)
}
