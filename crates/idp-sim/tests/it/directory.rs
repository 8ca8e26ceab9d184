//! What a directory-sync client relies on: the Auth0 users-export job (for tenants past the
//! list API's 1,000-row ceiling), Okta cursor walks, Clerk envelopes, and the `fail_page`
//! fault and rate limits on every one of them — at the size of a large tenant too.

use std::collections::HashSet;
use std::io::Read as _;
use std::time::Instant;

use alter_idp_sim::{
    AUTH0_CONNECTION_ID, AUTH0_CONNECTION_NAME, ExportTiming, Fault, GenerateSpec, IdpSim,
    RateLimit, TenantInfo, TenantKind, UserStatus,
};
use serde_json::{Value, json};

use crate::mgmt::auth0_token;
use crate::{client, next_link, okta_bearer, okta_walk, sim_with};

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut s)
        .expect("the export file is gzip");
    s
}

async fn start_export(info: &TenantInfo, tok: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/api/v2/jobs/users-exports", info.base_url))
        .bearer_auth(tok)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn poll(info: &TenantInfo, tok: &str, id: &str) -> Value {
    let r = client()
        .get(format!("{}/api/v2/jobs/{id}", info.base_url))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-ratelimit-remaining"));
    r.json().await.unwrap()
}

/// Polls until the job leaves `pending`; returns the final job and how many polls said pending.
async fn finish(info: &TenantInfo, tok: &str, id: &str) -> (Value, usize) {
    for pending in 0..20 {
        let job = poll(info, tok, id).await;
        if job["status"] != "pending" {
            return (job, pending);
        }
    }
    panic!("job {id} never finished");
}

async fn download(url: &str) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

#[tokio::test]
async fn auth0_export_reaches_users_past_the_list_ceiling_as_gzip_ndjson_of_the_requested_fields() {
    let (sim, info) = sim_with("exp", TenantKind::Auth0).await;
    let tok = auth0_token(&sim, "exp").await;
    sim.generate(
        "exp",
        GenerateSpec {
            users: 1500,
            ..GenerateSpec::default()
        },
    )
    .unwrap();
    let users = sim.users("exp").unwrap();
    sim.set_user_status("exp", &users[1234].id, UserStatus::Blocked)
        .unwrap();
    // The list API stops at row 1000 and at 100 rows a page.
    for (query, status) in [
        ("page=9&per_page=100", 200),
        ("page=10&per_page=100", 400),
        ("page=0&per_page=101", 400),
    ] {
        let r = client()
            .get(format!("{}/api/v2/users?{query}", info.base_url))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{query}");
    }
    sim.set_export_timing(
        "exp",
        ExportTiming {
            pending_polls: 2,
            pending_secs: 0,
        },
    )
    .unwrap();
    let r = start_export(
        &info,
        &tok,
        json!({"format": "json", "connection_id": AUTH0_CONNECTION_ID,
               "fields": [{"name": "user_id"}, {"name": "email"}, {"name": "blocked"},
                          {"name": "identities[0].connection", "export_as": "provider"}]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("x-ratelimit-limit"));
    let job: Value = r.json().await.unwrap();
    assert_eq!(job["status"], "pending");
    assert_eq!(job["connection"], AUTH0_CONNECTION_NAME);
    assert!(job.get("location").is_none());
    let id = job["id"].as_str().unwrap();
    let (done, pending_polls) = finish(&info, &tok, id).await;
    assert_eq!(pending_polls, 2, "pending for exactly the configured polls");
    assert_eq!(done["status"], "completed");
    let location = done["location"].as_str().unwrap();
    assert!(location.starts_with(&info.base_url));
    let r = download(location).await;
    assert_eq!(r.status(), 200);
    let text = gunzip(&r.bytes().await.unwrap());
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1500, "every user, past the 1000-row ceiling");
    let ids: HashSet<&str> = lines
        .iter()
        .map(|l| l["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, users.iter().map(|u| u.id.as_str()).collect());
    for line in &lines {
        let keys: HashSet<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let blocked = line["user_id"] == users[1234].id.as_str();
        let mut want = HashSet::from(["user_id", "email", "provider"]);
        if blocked {
            want.insert("blocked");
        }
        assert_eq!(keys, want, "requested fields only, renamed by export_as");
        assert_eq!(line["provider"], AUTH0_CONNECTION_NAME);
    }
    // The completed job stays completed and its file stays the same.
    let again = poll(&info, &tok, id).await;
    assert_eq!(again["status"], "completed");
    let again = download(again["location"].as_str().unwrap()).await;
    assert_eq!(gunzip(&again.bytes().await.unwrap()), text);
}

#[tokio::test]
async fn auth0_csv_export_honours_limit_and_waits_simulated_seconds() {
    let (sim, info) = sim_with("expcsv", TenantKind::Auth0).await;
    let tok = auth0_token(&sim, "expcsv").await;
    sim.generate(
        "expcsv",
        GenerateSpec {
            users: 30,
            ..GenerateSpec::default()
        },
    )
    .unwrap();
    sim.set_export_timing(
        "expcsv",
        ExportTiming {
            pending_polls: 0,
            pending_secs: 30,
        },
    )
    .unwrap();
    let job: Value = start_export(
        &info,
        &tok,
        json!({"format": "csv", "limit": 10,
               "fields": [{"name": "email", "export_as": "Email"}, {"name": "name"}]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(job["limit"], 10);
    assert_eq!(job["format"], "csv");
    let id = job["id"].as_str().unwrap();
    assert_eq!(poll(&info, &tok, id).await["status"], "pending");
    sim.advance_clock(29);
    assert_eq!(poll(&info, &tok, id).await["status"], "pending");
    sim.advance_clock(1);
    let done = poll(&info, &tok, id).await;
    assert_eq!(done["status"], "completed");
    let text = gunzip(
        &download(done["location"].as_str().unwrap())
            .await
            .bytes()
            .await
            .unwrap(),
    );
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "Email,name");
    assert_eq!(rows.len(), 11, "header plus `limit` rows");
    let first = &sim.users("expcsv").unwrap()[0];
    assert_eq!(
        rows[1],
        format!("{},{} {}", first.email, first.first_name, first.last_name)
    );
}

#[tokio::test]
async fn auth0_export_needs_read_users_validates_its_body_and_is_rate_limited() {
    let (sim, info) = sim_with("expauth", TenantKind::Auth0).await;
    let client_app = sim
        .register_auth0_client("expauth", &["read:logs"])
        .unwrap();
    let weak: Value = client()
        .post(info.token_endpoint.clone().unwrap())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_app.client_id),
            ("client_secret", &client_app.client_secret),
            ("audience", &info.management_audience.clone().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let weak = weak["access_token"].as_str().unwrap();
    let r = start_export(&info, weak, json!({"format": "json"})).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorCode"], "insufficient_scope");
    assert_eq!(body["statusCode"], 403);
    let r = client()
        .get(format!(
            "{}/api/v2/jobs/job_0000000000000001",
            info.base_url
        ))
        .bearer_auth(weak)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let tok = auth0_token(&sim, "expauth").await;
    for (body, status, code) in [
        (json!({"format": "xml"}), 400, "invalid_body"),
        (
            json!({"format": "json", "connection_id": "con_short"}),
            400,
            "invalid_body",
        ),
        (
            json!({"format": "json", "connection_id": "con_0000000000000009"}),
            404,
            "inexistent_connection",
        ),
        (json!({"format": "json", "limit": 0}), 400, "invalid_body"),
    ] {
        let r = start_export(&info, &tok, body.clone()).await;
        assert_eq!(r.status(), status, "{body}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["errorCode"],
            code,
            "{body}"
        );
    }
    let r = client()
        .get(format!("{}/api/v2/jobs/job_nope", info.base_url))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorCode"],
        "inexistent_job"
    );

    sim.set_rate_limit(
        "expauth",
        Some(RateLimit {
            limit: 1,
            window_secs: 3600,
        }),
    )
    .unwrap();
    assert_eq!(start_export(&info, &tok, json!({})).await.status(), 201);
    let r = start_export(&info, &tok, json!({})).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("x-ratelimit-reset"));
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorCode"],
        "too_many_requests"
    );
}

#[tokio::test]
async fn auth0_export_failure_and_failing_downloads_can_be_injected() {
    let (sim, info) = sim_with("expfault", TenantKind::Auth0).await;
    let tok = auth0_token(&sim, "expfault").await;
    sim.generate(
        "expfault",
        GenerateSpec {
            users: 5,
            ..GenerateSpec::default()
        },
    )
    .unwrap();
    sim.fail_next_exports("expfault", 1).unwrap();
    let failing: Value = start_export(&info, &tok, json!({"format": "json"}))
        .await
        .json()
        .await
        .unwrap();
    let (job, _) = finish(&info, &tok, failing["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "failed");
    assert!(job.get("location").is_none());
    // Only the next job fails.
    let ok: Value = start_export(&info, &tok, json!({"format": "json"}))
        .await
        .json()
        .await
        .unwrap();
    let (job, _) = finish(&info, &tok, ok["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "completed");
    let location = job["location"].as_str().unwrap().to_string();
    // Without the full job fields every default field is exported.
    let text = gunzip(&download(&location).await.bytes().await.unwrap());
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["identities"][0]["provider"], "auth0");
    // A download is page 0 of a one-page listing for `fail_page`.
    sim.inject_fault("expfault", Fault::FailPage { page: 0, times: 1 })
        .unwrap();
    assert_eq!(download(&location).await.status(), 500);
    assert_eq!(download(&location).await.status(), 200);
    let forged = format!("{}x", location);
    assert_eq!(download(&forged).await.status(), 403);
    // `/_control` reaches the same fault.
    let r = client()
        .post(format!(
            "{}/_control/tenants/expfault/faults",
            sim.base_url()
        ))
        .json(&json!({"type": "export_job_fails", "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let failing: Value = start_export(&info, &tok, json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        finish(&info, &tok, failing["id"].as_str().unwrap()).await.0["status"],
        "failed"
    );
}

#[tokio::test]
async fn okta_cursors_are_opaque_the_last_page_has_no_next_and_fail_page_counts_walk_pages() {
    let (sim, info) = sim_with("okwalk", TenantKind::Okta).await;
    let bearer = okta_bearer(&sim, "okwalk").await;
    sim.generate(
        "okwalk",
        GenerateSpec {
            users: 402,
            groups: 25,
            memberships_per_user: 1,
        },
    )
    .unwrap();
    let users = sim.users("okwalk").unwrap();
    for u in [&users[10], &users[300]] {
        sim.set_user_status("okwalk", &u.id, UserStatus::Deprovisioned)
            .unwrap();
    }
    let base = &info.base_url;
    // 400 visible users in pages of 200: two pages, and the second one has no `next`.
    let pages = okta_walk(&format!("{base}/api/v1/users"), &bearer).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [200, 200]);
    assert!(
        pages
            .concat()
            .iter()
            .all(|u| u["status"] != "DEPROVISIONED")
    );
    let r = client()
        .get(format!("{base}/api/v1/users"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    let next = next_link(&r).unwrap();
    let after = url::Url::parse(&next)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "after")
        .unwrap()
        .1
        .into_owned();
    assert!(
        users.iter().all(|u| u.id != after),
        "the cursor is not a user id"
    );
    for q in ["search", "filter"] {
        let dep: Vec<Value> = okta_walk(
            &format!("{base}/api/v1/users?{q}=status%20eq%20%22DEPROVISIONED%22&limit=1"),
            &bearer,
        )
        .await
        .concat();
        let ids: Vec<&str> = dep.iter().map(|u| u["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [users[10].id.as_str(), users[300].id.as_str()], "{q}");
    }
    // Groups and group members page the same way.
    let groups = okta_walk(&format!("{base}/api/v1/groups?limit=10"), &bearer).await;
    assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    let gid = groups[0][0]["id"].as_str().unwrap();
    let members = okta_walk(
        &format!("{base}/api/v1/groups/{gid}/users?limit=5"),
        &bearer,
    )
    .await;
    let sizes: Vec<usize> = members.iter().map(Vec::len).collect();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        17,
        "402 users over 25 groups: the first gets 17"
    );
    assert_eq!(*sizes.last().unwrap(), 2);
    // fail_page 1 hits the second page of a walk, once, on every list endpoint.
    for url in [
        format!("{base}/api/v1/users?limit=100"),
        format!("{base}/api/v1/groups?limit=10"),
        format!("{base}/api/v1/groups/{gid}/users?limit=5"),
    ] {
        sim.inject_fault("okwalk", Fault::FailPage { page: 1, times: 1 })
            .unwrap();
        let first = client()
            .get(&url)
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 200, "{url}");
        let second = next_link(&first).unwrap();
        let r = client()
            .get(&second)
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500, "{url}");
        assert_eq!(r.json::<Value>().await.unwrap()["errorCode"], "E0000009");
        let r = client()
            .get(&second)
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the retry succeeds: {url}");
    }
    // Deleting the user a cursor points at does not break the walk.
    let first = client()
        .get(format!("{base}/api/v1/users?limit=3"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    let next = next_link(&first).unwrap();
    let page: Vec<Value> = first.json().await.unwrap();
    sim.delete_user("okwalk", page[2]["id"].as_str().unwrap())
        .unwrap();
    let rest: Vec<Value> = client()
        .get(&next)
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest[0]["id"], users[3].id.as_str());
}

#[tokio::test]
async fn clerk_organization_and_membership_lists_page_fail_and_rate_limit() {
    let (sim, info) = sim_with("ckdir", TenantKind::Clerk).await;
    let key = sim.register_clerk_secret_key("ckdir").unwrap();
    sim.generate(
        "ckdir",
        GenerateSpec {
            users: 60,
            groups: 7,
            memberships_per_user: 1,
        },
    )
    .unwrap();
    let get = |path: String| {
        let key = key.clone();
        let url = format!("{}{path}", info.base_url);
        async move { client().get(url).bearer_auth(key).send().await.unwrap() }
    };
    let mut orgs = Vec::new();
    for offset in (0..).step_by(3) {
        let body: Value = get(format!("/v1/organizations?limit=3&offset={offset}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["total_count"], 7);
        let page = body["data"].as_array().unwrap().clone();
        let done = page.len() < 3;
        orgs.extend(page);
        if done {
            break;
        }
    }
    assert_eq!(orgs.len(), 7);
    let created: Vec<i64> = orgs
        .iter()
        .map(|o| o["created_at"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let org = orgs[0]["id"].as_str().unwrap().to_string();
    let mut members = HashSet::new();
    for offset in (0..).step_by(4) {
        let body: Value = get(format!(
            "/v1/organizations/{org}/memberships?limit=4&offset={offset}"
        ))
        .await
        .json()
        .await
        .unwrap();
        let page = body["data"].as_array().unwrap();
        for m in page {
            assert!(
                members.insert(
                    m["public_user_data"]["user_id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                )
            );
        }
        if page.len() < 4 {
            assert_eq!(
                body["total_count"].as_u64().unwrap() as usize,
                members.len()
            );
            break;
        }
    }
    let bare: Vec<Value> = get("/v1/users?limit=500".into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bare.len(), 60);
    for path in [
        "/v1/users?limit=10&offset=20".to_string(),
        "/v1/organizations?limit=2&offset=4".to_string(),
        format!("/v1/organizations/{org}/memberships?limit=2&offset=4"),
        "/v1/organization_memberships?limit=2&offset=4".to_string(),
    ] {
        sim.inject_fault("ckdir", Fault::FailPage { page: 2, times: 1 })
            .unwrap();
        let r = get(path.clone()).await;
        assert_eq!(r.status(), 500, "{path}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["errors"][0]["code"],
            "internal_clerk_error"
        );
        assert_eq!(get(path.clone()).await.status(), 200, "{path}");
    }
    sim.set_rate_limit(
        "ckdir",
        Some(RateLimit {
            limit: 1,
            window_secs: 3600,
        }),
    )
    .unwrap();
    get(format!("/v1/organizations/{org}/memberships")).await;
    let r = get(format!("/v1/organizations/{org}/memberships")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

/// The size the product's sync must handle: 100,000 users, 1,000 groups and 100,000
/// memberships are generated at once and every list still pages exactly.
#[tokio::test]
async fn a_100k_directory_is_generated_and_walked_quickly() {
    let sim = IdpSim::start().await.unwrap();
    let spec = GenerateSpec {
        users: 100_000,
        groups: 1_000,
        memberships_per_user: 1,
    };
    let started = Instant::now();
    let ok = sim
        .create_tenant("big-ok", TenantKind::Okta, Default::default())
        .unwrap();
    assert_eq!(sim.generate("big-ok", spec).unwrap(), (100_000, 1_000));
    let ck = sim
        .create_tenant("big-ck", TenantKind::Clerk, Default::default())
        .unwrap();
    assert_eq!(sim.generate("big-ck", spec).unwrap(), (100_000, 1_000));
    let generated = started.elapsed();
    assert!(generated.as_secs() < 60, "generating took {generated:?}");

    let bearer = okta_bearer(&sim, "big-ok").await;
    let started = Instant::now();
    let groups = okta_walk(&format!("{}/api/v1/groups?limit=200", ok.base_url), &bearer).await;
    assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 1_000);
    let last_group = groups[4][199]["id"].as_str().unwrap();
    let members = okta_walk(
        &format!("{}/api/v1/groups/{last_group}/users?limit=30", ok.base_url),
        &bearer,
    )
    .await;
    assert_eq!(members.iter().map(Vec::len).sum::<usize>(), 100);
    // Deep into the user list through cursors: 50 pages of 10.
    let mut url = format!("{}/api/v1/users?limit=10", ok.base_url);
    for _ in 0..50 {
        let r = client()
            .get(&url)
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap();
        url = next_link(&r).unwrap();
    }
    let key = sim.register_clerk_secret_key("big-ck").unwrap();
    let deepest: Vec<Value> = client()
        .get(format!("{}/v1/users?limit=10&offset=99995", ck.base_url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deepest.len(), 5);
    let oldest = &sim.users("big-ck").unwrap()[0];
    assert_eq!(
        deepest[4]["id"],
        oldest.id.as_str(),
        "newest first: the last row is the oldest"
    );
    let org = sim.groups("big-ck").unwrap()[999].id.clone();
    let body: Value = client()
        .get(format!(
            "{}/v1/organizations/{org}/memberships?limit=500&offset=0",
            ck.base_url
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["total_count"], 100);
    assert_eq!(body["data"][0]["organization"]["members_count"], 100);
    let listed = started.elapsed();
    assert!(listed.as_secs() < 20, "listing took {listed:?}");
}
