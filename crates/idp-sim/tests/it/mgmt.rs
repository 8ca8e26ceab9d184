use std::collections::HashSet;

use alter_idp_sim::{GenerateSpec, IdpSim, RateLimit, TenantKind, UserStatus};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::{client, sim_with};

pub(crate) async fn auth0_token(sim: &IdpSim, t: &str) -> String {
    let info = sim.tenant(t).unwrap();
    let c = sim.register_auth0_client(t, &["read:users"]).unwrap();
    let resp: Value = client()
        .post(info.token_endpoint.unwrap())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("audience", &info.management_audience.unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["scope"], "read:users");
    resp["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn auth0_paging_returns_every_user_once_and_refuses_past_1000() {
    let (sim, info) = sim_with("a0", TenantKind::Auth0).await;
    let tok = auth0_token(&sim, "a0").await;
    let mut total = 0;
    for n in [0usize, 1, 99, 100, 101, 250] {
        sim.generate(
            "a0",
            GenerateSpec {
                users: n - total.min(n),
                ..Default::default()
            },
        )
        .unwrap();
        total = total.max(n);
        let mut seen = HashSet::new();
        for page in 0.. {
            let r: Value = client()
                .get(format!("{}/api/v2/users", info.base_url))
                .bearer_auth(&tok)
                .query(&[
                    ("page", page.to_string()),
                    ("per_page", "100".into()),
                    ("include_totals", "true".into()),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let users = r["users"].as_array().unwrap();
            for u in users {
                assert!(seen.insert(u["user_id"].as_str().unwrap().to_string()));
            }
            if users.len() < 100 {
                break;
            }
        }
        assert_eq!(seen.len(), total);
    }
    sim.generate(
        "a0",
        GenerateSpec {
            users: 1250 - total,
            ..Default::default()
        },
    )
    .unwrap();
    let resp = client()
        .get(format!(
            "{}/api/v2/users?page=10&per_page=100",
            info.base_url
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().contains_key("x-ratelimit-reset"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errorCode"], "invalid_paging");
    assert_eq!(body["statusCode"], 400);
    // over 1000: partition by created_at windows, each under the ceiling
    let users = sim.users("a0").unwrap();
    let mid = chrono::DateTime::from_timestamp_millis(users[700].created_ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let mut seen = HashSet::new();
    for q in [
        format!("created_at:[* TO {mid}}}"),
        format!("created_at:[{mid} TO *]"),
    ] {
        for page in 0..10 {
            let r: Vec<Value> = client()
                .get(format!("{}/api/v2/users", info.base_url))
                .bearer_auth(&tok)
                .query(&[
                    ("q", q.as_str()),
                    ("page", &page.to_string()),
                    ("per_page", "100"),
                    ("sort", "created_at:1"),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for u in &r {
                assert!(seen.insert(u["user_id"].as_str().unwrap().to_string()));
            }
            if r.len() < 100 {
                break;
            }
        }
    }
    assert_eq!(seen.len(), 1250);
}

#[tokio::test]
async fn clerk_paging_bare_array_count_and_pk_refused() {
    let (sim, info) = sim_with("ck", TenantKind::Clerk).await;
    let sk = sim.register_clerk_secret_key("ck").unwrap();
    let mut total = 0;
    for n in [0usize, 1, 499, 500, 501, 1100] {
        sim.generate(
            "ck",
            GenerateSpec {
                users: n - total,
                ..Default::default()
            },
        )
        .unwrap();
        total = n;
        let mut seen = HashSet::new();
        let mut offset = 0;
        loop {
            let page: Vec<Value> = client()
                .get(format!(
                    "{}/v1/users?limit=500&offset={offset}",
                    info.base_url
                ))
                .bearer_auth(&sk)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for u in &page {
                assert!(seen.insert(u["id"].as_str().unwrap().to_string()));
            }
            if page.len() < 500 {
                break;
            }
            offset += 500;
        }
        assert_eq!(seen.len(), n);
        let c: Value = client()
            .get(format!("{}/v1/users/count", info.base_url))
            .bearer_auth(&sk)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(c, json!({"object": "total_count", "total_count": n}));
    }
    let r = client()
        .get(format!("{}/v1/users?limit=501", info.base_url))
        .bearer_auth(&sk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = client()
        .get(format!("{}/v1/users", info.base_url))
        .bearer_auth("pk_test_abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["errors"][0]["code"].is_string());
}

#[tokio::test]
async fn clerk_429_carries_retry_after_and_reset_is_honoured() {
    let (sim, info) = sim_with("rl", TenantKind::Clerk).await;
    let sk = sim.register_clerk_secret_key("rl").unwrap();
    sim.set_rate_limit(
        "rl",
        Some(RateLimit {
            limit: 2,
            window_secs: 10,
        }),
    )
    .unwrap();
    let url = format!("{}/v1/users", info.base_url);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(client().get(&url).bearer_auth(&sk).send().await.unwrap());
    }
    let last = statuses.pop().unwrap();
    assert_eq!(last.status(), 429);
    let retry: i64 = last.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry));
    sim.advance_clock(retry);
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&sk)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

pub(crate) struct OktaKey {
    pkcs8: Vec<u8>,
    pub(crate) jwk: Value,
}

pub(crate) fn okta_key(kid: &str) -> OktaKey {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let p = kp.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])});
    OktaKey {
        pkcs8: doc.as_ref().to_vec(),
        jwk,
    }
}

pub(crate) fn assertion(key: &OktaKey, kid: &str, client_id: &str, aud: &str, now: i64) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid.into());
    let claims = json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 300,
                        "jti": uuid::Uuid::new_v4().to_string()});
    encode(&h, &claims, &EncodingKey::from_ec_der(&key.pkcs8)).unwrap()
}

pub(crate) async fn okta_token(url: &str, assertion: &str, scope: &str) -> reqwest::Response {
    client()
        .post(url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn okta_client_assertion_is_really_verified_and_paging_follows_link_next() {
    let (sim, info) = sim_with("ok", TenantKind::Okta).await;
    let token_url = info.token_endpoint.clone().unwrap();
    let good = okta_key("k1");
    let app = sim
        .register_okta_service_app(
            "ok",
            vec![good.jwk.clone()],
            &["okta.users.read", "okta.groups.read"],
            true,
        )
        .unwrap();
    let now = sim.now();
    // wrong key under the registered kid → refused
    let wrong = okta_key("k1");
    let r = okta_token(
        &token_url,
        &assertion(&wrong, "k1", &app.client_id, &token_url, now),
        "okta.users.read",
    )
    .await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    // wrong audience → refused
    let r = okta_token(
        &token_url,
        &assertion(&good, "k1", &app.client_id, "http://elsewhere/token", now),
        "okta.users.read",
    )
    .await;
    assert_eq!(r.status(), 401);
    // replayed jti → refused
    let a = assertion(&good, "k1", &app.client_id, &token_url, now);
    assert_eq!(
        okta_token(&token_url, &a, "okta.users.read okta.groups.read")
            .await
            .status(),
        200
    );
    assert_eq!(
        okta_token(&token_url, &a, "okta.users.read").await.status(),
        401
    );
    // scope not granted → invalid_scope
    let r = okta_token(
        &token_url,
        &assertion(&good, "k1", &app.client_id, &token_url, now),
        "okta.apps.read",
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");

    let tok: Value = okta_token(
        &token_url,
        &assertion(&good, "k1", &app.client_id, &token_url, now),
        "okta.users.read",
    )
    .await
    .json()
    .await
    .unwrap();
    let bearer = tok["access_token"].as_str().unwrap().to_string();
    assert_eq!(tok["expires_in"], 3600);

    let mut total = 0;
    for n in [0usize, 1, 199, 200, 201, 450] {
        sim.generate(
            "ok",
            GenerateSpec {
                users: n - total,
                ..Default::default()
            },
        )
        .unwrap();
        total = n;
        let mut seen = HashSet::new();
        let mut url = Some(format!("{}/api/v1/users", info.base_url));
        while let Some(u) = url.take() {
            let r = client().get(&u).bearer_auth(&bearer).send().await.unwrap();
            assert!(r.headers().contains_key("x-rate-limit-reset"));
            url = r
                .headers()
                .get_all("link")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.ends_with("rel=\"next\""))
                .map(|v| v[1..v.find('>').unwrap()].to_string());
            let page: Vec<Value> = r.json().await.unwrap();
            for x in &page {
                assert!(seen.insert(x["id"].as_str().unwrap().to_string()));
            }
        }
        assert_eq!(seen.len(), n);
    }
    // DEPROVISIONED hidden by default, shown by filter
    let victim = sim.users("ok").unwrap()[3].id.clone();
    sim.set_user_status("ok", &victim, UserStatus::Deprovisioned)
        .unwrap();
    let all: Vec<Value> = client()
        .get(format!("{}/api/v1/users?limit=200", info.base_url))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all.iter().all(|u| u["id"] != victim.as_str()));
    let dep: Vec<Value> = client()
        .get(format!("{}/api/v1/users", info.base_url))
        .bearer_auth(&bearer)
        .query(&[("filter", "status eq \"DEPROVISIONED\"")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dep.len(), 1);
    assert_eq!(dep[0]["status"], "DEPROVISIONED");

    // no admin role → 403 E0000006
    sim.set_okta_admin_role("ok", &app.client_id, false)
        .unwrap();
    let r = client()
        .get(format!("{}/api/v1/users", info.base_url))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["errorCode"], "E0000006");
}

#[tokio::test]
async fn okta_and_auth0_429_headers_and_reset() {
    let (sim, info) = sim_with("lim", TenantKind::Auth0).await;
    let tok = auth0_token(&sim, "lim").await;
    sim.set_rate_limit(
        "lim",
        Some(RateLimit {
            limit: 1,
            window_secs: 60,
        }),
    )
    .unwrap();
    let url = format!("{}/api/v2/users", info.base_url);
    let ok = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-ratelimit-remaining"], "0");
    let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let reset: i64 = r.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(r.headers()["x-ratelimit-limit"], "1");
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorCode"],
        "too_many_requests"
    );
    sim.advance_clock(reset - sim.now());
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let okt = sim
        .create_tenant("okl", TenantKind::Okta, Default::default())
        .unwrap();
    sim.set_rate_limit(
        "okl",
        Some(RateLimit {
            limit: 1,
            window_secs: 60,
        }),
    )
    .unwrap();
    let u = format!("{}/api/v1/users", okt.base_url);
    client().get(&u).send().await.unwrap();
    let r = client().get(&u).send().await.unwrap();
    assert_eq!(r.status(), 429);
    for h in [
        "x-rate-limit-limit",
        "x-rate-limit-remaining",
        "x-rate-limit-reset",
    ] {
        assert!(r.headers().contains_key(h));
    }
    assert_eq!(r.json::<Value>().await.unwrap()["errorCode"], "E0000047");
}

/// A large directory (the size the product's sync must handle) is generated at once, and its
/// memberships stay exact: every group gets its share, a repeated add is the same membership,
/// and a removal is seen by the API.
#[tokio::test]
async fn a_50k_user_directory_has_exact_memberships_through_the_clerk_api() {
    let (sim, info) = sim_with("bigdir", TenantKind::Clerk).await;
    let key = sim.register_clerk_secret_key("bigdir").unwrap();
    let (users, groups) = sim
        .generate(
            "bigdir",
            GenerateSpec {
                users: 50_000,
                groups: 500,
                memberships_per_user: 2,
            },
        )
        .unwrap();
    assert_eq!((users, groups), (50_000, 500));
    let members = |org: String| {
        let url = format!(
            "{}/v1/organizations/{org}/memberships?limit=1",
            info.base_url
        );
        let key = key.clone();
        async move {
            let body: Value = client()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["total_count"].as_u64().unwrap()
        }
    };
    let all = sim.groups("bigdir").unwrap();
    // 50,000 users × 2 memberships over 500 groups, assigned round robin: 200 each.
    for g in [&all[0], &all[250], &all[499]] {
        assert_eq!(members(g.id.clone()).await, 200, "group {}", g.id);
    }
    let user = sim.users("bigdir").unwrap()[0].id.clone();
    let group = all[0].id.clone();
    let first = sim.add_membership("bigdir", &group, &user, None).unwrap();
    let again = sim.add_membership("bigdir", &group, &user, None).unwrap();
    assert_eq!(first.id, again.id, "a repeated add is the same membership");
    assert_eq!(members(group.clone()).await, 200);
    sim.remove_membership("bigdir", &group, &user).unwrap();
    assert_eq!(members(group.clone()).await, 199);
    let readded = sim.add_membership("bigdir", &group, &user, None).unwrap();
    assert_ne!(
        readded.id, first.id,
        "a membership added after removal is new"
    );
    assert_eq!(members(group).await, 200);
}
