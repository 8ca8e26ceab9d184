//! The import's two floors, measured over the same directory in the same run.
//!
//! *A, reading*: a bare reqwest client asks the simulator for every page the Okta reader asks
//! for (`crates/providers/src/directory/okta.rs`), one request after another: a token by client
//! credentials with a signed `private_key_jwt` assertion, `GET /api/v1/users?limit=200`, the
//! same with `search=status eq "DEPROVISIONED"`, `GET /api/v1/groups?limit=1000` twice (the
//! reader lists groups, then walks the listing again for the members), and each group's
//! `GET /api/v1/groups/{id}/users?limit=1000`, every listing followed through its
//! `Link: rel="next"` to the end. Bodies are read whole and not parsed (the group IDs come from
//! the simulator beforehand).
//! *B, writing*: the same users, groups and memberships inserted by `INSERT … SELECT … FROM
//! UNNEST(…) ON CONFLICT DO NOTHING`, `ROWS_PER_STATEMENT` rows per statement, one statement at
//! a time on one connection, into tables made `LIKE users / groups / memberships INCLUDING
//! ALL` (the same columns, keys and indexes): what PostgreSQL alone takes to store them.

use std::time::{Duration, Instant};

use alter_idp_sim::{GenerateSpec, IdpSim};
use alter_testkit::TestEnv;
use aws_lc_rs::rsa::{KeyPair, KeyPairComponents, PublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use reqwest::header::LINK;
use serde_json::{Value, json};

use crate::setup::{PRIVATE_JWK, okta_service_app};

pub const ROWS_PER_STATEMENT: usize = 1_000;
/// The reader's page sizes.
const USERS_LIMIT: &str = "200";
const GROUPS_LIMIT: &str = "1000";

pub struct Pages {
    pub wall: Duration,
    pub requests: u64,
    pub bytes: u64,
}

pub async fn read_pages(sim: &IdpSim, tenant: &str) -> anyhow::Result<Pages> {
    let kid = "bench-floor";
    let client_id = okta_service_app(sim, tenant, kid)?;
    let key = signing_key()?;
    let base = sim.tenant(tenant)?.base_url;
    let groups: Vec<String> = sim.groups(tenant)?.into_iter().map(|g| g.id).collect();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut reader = Bare {
        http,
        token: String::new(),
        requests: 0,
        bytes: 0,
    };

    let started = Instant::now();
    let token_url = format!("{base}/oauth2/v1/token");
    let assertion = assertion(&key, kid, &client_id, &token_url)?;
    let answer = reader
        .http
        .post(&token_url)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("scope", "okta.users.read okta.groups.read"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ]))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "the token request failed: {}",
        answer.status()
    );
    reader.requests += 1;
    let answer: Value = answer.json().await?;
    reader.token = answer["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no access_token in {answer}"))?
        .to_owned();

    let users = format!("{base}/api/v1/users");
    reader
        .walk(Url::parse_with_params(&users, [("limit", USERS_LIMIT)])?)
        .await?;
    reader
        .walk(Url::parse_with_params(
            &users,
            [
                ("limit", USERS_LIMIT),
                ("search", "status eq \"DEPROVISIONED\""),
            ],
        )?)
        .await?;
    let list_groups =
        Url::parse_with_params(&format!("{base}/api/v1/groups"), [("limit", GROUPS_LIMIT)])?;
    reader.walk(list_groups.clone()).await?;
    reader.walk(list_groups).await?;
    for group in &groups {
        reader
            .walk(Url::parse_with_params(
                &format!("{base}/api/v1/groups/{group}/users"),
                [("limit", GROUPS_LIMIT)],
            )?)
            .await?;
    }
    Ok(Pages {
        wall: started.elapsed(),
        requests: reader.requests,
        bytes: reader.bytes,
    })
}

struct Bare {
    http: reqwest::Client,
    token: String,
    requests: u64,
    bytes: u64,
}

impl Bare {
    /// GETs `url` and every page after it.
    async fn walk(&mut self, url: Url) -> anyhow::Result<()> {
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let answer = self
                .http
                .get(url.clone())
                .bearer_auth(&self.token)
                .send()
                .await?;
            anyhow::ensure!(
                answer.status().is_success(),
                "GET {url} answered {}",
                answer.status()
            );
            next = next_link(answer.headers())
                .map(|l| Url::parse(&l))
                .transpose()?;
            self.bytes += answer.bytes().await?.len() as u64;
            self.requests += 1;
        }
        Ok(())
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse("http://form.invalid/").expect("a valid URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

/// The target of the `rel="next"` link among the `Link` headers.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let (target, params) = part.trim().split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            params
                .split(';')
                .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
                .then(|| target.to_owned())
        })
}

/// The fixture's RSA key pair.
fn signing_key() -> anyhow::Result<KeyPair> {
    let v: Value = serde_json::from_str(PRIVATE_JWK)?;
    let part = |name: &str| -> anyhow::Result<Vec<u8>> {
        let text = v[name]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the fixture JWK has no {name}"))?;
        Ok(URL_SAFE_NO_PAD.decode(text.trim_end_matches('='))?)
    };
    let strip = |b: &[u8]| -> Vec<u8> {
        let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        b[start..].to_vec()
    };
    let (n, e) = (strip(&part("n")?), strip(&part("e")?));
    let (d, p, q) = (part("d")?, part("p")?, part("q")?);
    let (dp, dq, qi) = (part("dp")?, part("dq")?, part("qi")?);
    let components = KeyPairComponents {
        public_key: PublicKeyComponents {
            n: n.as_slice(),
            e: e.as_slice(),
        },
        d: d.as_slice(),
        p: p.as_slice(),
        q: q.as_slice(),
        dP: dp.as_slice(),
        dQ: dq.as_slice(),
        qInv: qi.as_slice(),
    };
    KeyPair::from_components(&components)
        .map_err(|e| anyhow::anyhow!("the fixture JWK is not a usable RSA key: {e}"))
}

/// A `private_key_jwt` client assertion, as the reader signs it (RS256).
fn assertion(key: &KeyPair, kid: &str, client_id: &str, token_url: &str) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let header = json!({ "alg": "RS256", "kid": kid, "typ": "JWT" });
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": token_url,
        "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string(),
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| anyhow::anyhow!("could not sign the client assertion"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

pub struct Upsert {
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
    pub users_wall: Duration,
    pub groups_wall: Duration,
    pub memberships_wall: Duration,
}

impl Upsert {
    pub fn total(&self) -> Duration {
        self.users_wall + self.groups_wall + self.memberships_wall
    }
}

/// The directory's rows as the import stores them: users (external ID, email, the display
/// name the reader makes of first and last name), groups, and each user's memberships in the
/// groups the simulator gave it (round robin, as `generate` does).
pub async fn raw_upsert(
    env: &TestEnv,
    sim: &IdpSim,
    tenant: &str,
    spec: GenerateSpec,
) -> anyhow::Result<Upsert> {
    let users = sim.users(tenant)?;
    let groups = sim.groups(tenant)?;
    anyhow::ensure!(
        (users.len(), groups.len()) == (spec.users, spec.groups),
        "the tenant holds {} users and {} groups, not {spec:?}",
        users.len(),
        groups.len()
    );
    let user_ids: Vec<uuid::Uuid> = users.iter().map(|_| uuid::Uuid::new_v4()).collect();
    let group_ids: Vec<uuid::Uuid> = groups.iter().map(|_| uuid::Uuid::new_v4()).collect();
    let memberships: Vec<(uuid::Uuid, uuid::Uuid)> = user_ids
        .iter()
        .enumerate()
        .flat_map(|(i, user)| {
            let group_ids = &group_ids;
            (0..spec.memberships_per_user.min(group_ids.len()))
                .map(move |k| (*user, group_ids[(i + k) % group_ids.len()]))
        })
        .collect();
    let (app, idp) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(env.db.url())
        .await?;
    for create in [
        "CREATE TABLE bench_floor_users (LIKE users INCLUDING ALL)",
        "CREATE TABLE bench_floor_groups (LIKE groups INCLUDING ALL)",
        "CREATE TABLE bench_floor_memberships (LIKE memberships INCLUDING ALL)",
    ] {
        sqlx::query(create).execute(&pool).await?;
    }

    let started = Instant::now();
    for (chunk, ids) in users
        .chunks(ROWS_PER_STATEMENT)
        .zip(user_ids.chunks(ROWS_PER_STATEMENT))
    {
        let external: Vec<&str> = chunk.iter().map(|u| u.id.as_str()).collect();
        let emails: Vec<&str> = chunk.iter().map(|u| u.email.as_str()).collect();
        let names: Vec<String> = chunk
            .iter()
            .map(|u| {
                format!("{} {}", u.first_name.trim(), u.last_name.trim())
                    .trim()
                    .to_owned()
            })
            .collect();
        let statuses = vec!["active"; chunk.len()];
        sqlx::query(
            "INSERT INTO bench_floor_users (id, app_id, idp_id, external_id, email, display_name, status, state_version) \
             SELECT t.id, $1, $2, t.external_id, t.email, t.display_name, t.status, 0 \
             FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[]) \
                 AS t(id, external_id, email, display_name, status) \
             ON CONFLICT DO NOTHING",
        )
        .bind(app)
        .bind(idp)
        .bind(ids)
        .bind(&external)
        .bind(&emails)
        .bind(&names)
        .bind(&statuses)
        .execute(&pool)
        .await?;
    }
    let users_wall = started.elapsed();

    let started = Instant::now();
    for (chunk, ids) in groups
        .chunks(ROWS_PER_STATEMENT)
        .zip(group_ids.chunks(ROWS_PER_STATEMENT))
    {
        let external: Vec<&str> = chunk.iter().map(|g| g.id.as_str()).collect();
        let names: Vec<&str> = chunk.iter().map(|g| g.name.as_str()).collect();
        sqlx::query(
            "INSERT INTO bench_floor_groups (id, app_id, external_id, name) \
             SELECT t.id, $1, t.external_id, t.name \
             FROM UNNEST($2::uuid[], $3::text[], $4::text[]) AS t(id, external_id, name) \
             ON CONFLICT DO NOTHING",
        )
        .bind(app)
        .bind(ids)
        .bind(&external)
        .bind(&names)
        .execute(&pool)
        .await?;
    }
    let groups_wall = started.elapsed();

    let started = Instant::now();
    for chunk in memberships.chunks(ROWS_PER_STATEMENT) {
        let (members, of): (Vec<uuid::Uuid>, Vec<uuid::Uuid>) = chunk.iter().copied().unzip();
        sqlx::query(
            "INSERT INTO bench_floor_memberships (app_id, user_id, group_id, source) \
             SELECT $1, t.user_id, t.group_id, 'directory_sync' \
             FROM UNNEST($2::uuid[], $3::uuid[]) AS t(user_id, group_id) \
             ON CONFLICT DO NOTHING",
        )
        .bind(app)
        .bind(&members)
        .bind(&of)
        .execute(&pool)
        .await?;
    }
    let memberships_wall = started.elapsed();

    sqlx::query("DROP TABLE bench_floor_memberships, bench_floor_groups, bench_floor_users")
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(Upsert {
        users: users.len(),
        groups: groups.len(),
        memberships: memberships.len(),
        users_wall,
        groups_wall,
        memberships_wall,
    })
}
