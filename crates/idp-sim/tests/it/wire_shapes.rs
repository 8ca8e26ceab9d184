//! Every object the simulator lists parses into strict models of the provider's API
//! reference: each always-present field is a required field here, and a nullable one must be
//! present as `null` (see [`nullable`]), so a field the simulator forgets fails the test.

use alter_idp_sim::{AUTH0_CONNECTION_ID, GenerateSpec, TenantKind, UserStatus};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::{client, okta_bearer, okta_walk, sim_with};

/// A key that must be present but may be `null`. With `deserialize_with`, serde no longer
/// reads a missing `Option` field as `None`: the key's absence is an error.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

fn strict<T: DeserializeOwned>(what: &str, v: &Value) -> T {
    match serde_json::from_value(v.clone()) {
        Ok(x) => x,
        Err(e) => panic!("{what} does not match the provider's model: {e}\n{v:#}"),
    }
}

type Object = Map<String, Value>;

// ---------------------------------------------------------------- Clerk

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct ClerkUser {
    object: String,
    id: String,
    #[serde(deserialize_with = "nullable")]
    external_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    primary_email_address_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    primary_phone_number_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    primary_web3_wallet_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    username: Option<String>,
    #[serde(deserialize_with = "nullable")]
    first_name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    last_name: Option<String>,
    has_image: bool,
    public_metadata: Object,
    email_addresses: Vec<ClerkEmail>,
    phone_numbers: Vec<Value>,
    web3_wallets: Vec<Value>,
    passkeys: Vec<Value>,
    password_enabled: bool,
    two_factor_enabled: bool,
    totp_enabled: bool,
    backup_code_enabled: bool,
    #[serde(deserialize_with = "nullable")]
    mfa_enabled_at: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    mfa_disabled_at: Option<i64>,
    external_accounts: Vec<Value>,
    saml_accounts: Vec<Value>,
    enterprise_accounts: Vec<Value>,
    #[serde(deserialize_with = "nullable")]
    last_sign_in_at: Option<i64>,
    banned: bool,
    locked: bool,
    #[serde(deserialize_with = "nullable")]
    lockout_expires_in_seconds: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    verification_attempts_remaining: Option<i64>,
    updated_at: i64,
    created_at: i64,
    delete_self_enabled: bool,
    create_organization_enabled: bool,
    #[serde(deserialize_with = "nullable")]
    last_active_at: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    legal_accepted_at: Option<i64>,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct ClerkEmail {
    object: String,
    id: String,
    email_address: String,
    reserved: bool,
    #[serde(deserialize_with = "nullable")]
    verification: Option<ClerkVerification>,
    linked_to: Vec<Value>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct ClerkVerification {
    object: String,
    status: String,
    strategy: String,
    #[serde(deserialize_with = "nullable")]
    attempts: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    expire_at: Option<i64>,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct ClerkOrg {
    object: String,
    id: String,
    name: String,
    slug: String,
    has_image: bool,
    max_allowed_memberships: i64,
    admin_delete_enabled: bool,
    public_metadata: Object,
    private_metadata: Object,
    created_at: i64,
    updated_at: i64,
    // Optional in the reference, but when sent it must have the reference's type.
    members_count: Option<i64>,
    created_by: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct ClerkMembership {
    object: String,
    id: String,
    role: String,
    role_name: String,
    permissions: Vec<String>,
    public_metadata: Object,
    private_metadata: Object,
    organization: ClerkOrg,
    public_user_data: ClerkPublicUserData,
    created_at: i64,
    updated_at: i64,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct ClerkPublicUserData {
    user_id: String,
    #[serde(deserialize_with = "nullable")]
    first_name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    last_name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    profile_image_url: Option<String>,
    image_url: String,
    has_image: bool,
    #[serde(deserialize_with = "nullable")]
    identifier: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Vec<T>,
    total_count: u64,
}

fn check_clerk_user(u: &ClerkUser) {
    assert_eq!(u.object, "user");
    assert!(u.id.starts_with("user_"));
    let primary = u.primary_email_address_id.as_deref();
    assert!(
        u.email_addresses
            .iter()
            .any(|e| Some(e.id.as_str()) == primary)
    );
    for e in &u.email_addresses {
        assert_eq!(e.object, "email_address");
        let v = e.verification.as_ref().expect("verified email");
        assert_eq!(v.object, "verification_otp");
        assert_eq!(
            (v.status.as_str(), v.strategy.as_str()),
            ("verified", "email_code")
        );
    }
}

fn check_membership(m: &ClerkMembership) {
    assert_eq!(m.object, "organization_membership");
    assert_eq!(m.organization.object, "organization");
    assert!(m.public_user_data.user_id.starts_with("user_"));
}

#[tokio::test]
async fn every_clerk_list_parses_into_the_reference_models() {
    let (sim, info) = sim_with("shape-ck", TenantKind::Clerk).await;
    let key = sim.register_clerk_secret_key("shape-ck").unwrap();
    sim.generate(
        "shape-ck",
        GenerateSpec {
            users: 30,
            groups: 3,
            memberships_per_user: 2,
        },
    )
    .unwrap();
    let users = sim.users("shape-ck").unwrap();
    sim.set_user_status("shape-ck", &users[1].id, UserStatus::Banned)
        .unwrap();
    sim.set_user_status("shape-ck", &users[2].id, UserStatus::LockedOut)
        .unwrap();
    let get = |path: String| {
        let key = key.clone();
        let url = format!("{}{path}", info.base_url);
        async move {
            let r = client().get(&url).bearer_auth(key).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            r.json::<Value>().await.unwrap()
        }
    };

    let list: Vec<ClerkUser> = strict("GET /v1/users", &get("/v1/users?limit=500".into()).await);
    assert_eq!(list.len(), 30);
    list.iter().for_each(check_clerk_user);
    assert!(list.iter().any(|u| u.banned) && list.iter().any(|u| u.locked));
    let one: ClerkUser = strict(
        "GET /v1/users/{id}",
        &get(format!("/v1/users/{}", users[0].id)).await,
    );
    check_clerk_user(&one);

    let orgs: Envelope<ClerkOrg> = strict(
        "GET /v1/organizations",
        &get("/v1/organizations?limit=500".into()).await,
    );
    assert_eq!((orgs.data.len(), orgs.total_count), (3, 3));
    for org in &orgs.data {
        assert_eq!(org.object, "organization");
        assert_eq!(org.members_count, Some(20));
        let single: ClerkOrg = strict(
            "GET /v1/organizations/{id}",
            &get(format!("/v1/organizations/{}", org.id)).await,
        );
        assert_eq!(single.id, org.id);
        let ms: Envelope<ClerkMembership> = strict(
            "GET /v1/organizations/{id}/memberships",
            &get(format!(
                "/v1/organizations/{}/memberships?limit=500",
                org.id
            ))
            .await,
        );
        assert_eq!((ms.data.len(), ms.total_count), (20, 20));
        ms.data.iter().for_each(check_membership);
        assert!(ms.data.iter().all(|m| m.organization.id == org.id));
    }
    let all: Envelope<ClerkMembership> = strict(
        "GET /v1/organization_memberships",
        &get("/v1/organization_memberships?limit=500".into()).await,
    );
    assert_eq!(all.total_count, 60);
    all.data.iter().for_each(check_membership);
    let mine: Envelope<ClerkMembership> = strict(
        "GET /v1/users/{id}/organization_memberships",
        &get(format!(
            "/v1/users/{}/organization_memberships",
            users[0].id
        ))
        .await,
    );
    assert_eq!(mine.total_count, 2);
    assert!(
        mine.data
            .iter()
            .all(|m| m.public_user_data.user_id == users[0].id)
    );
}

/// The strict models really do catch a missing field, a missing nullable key included.
#[tokio::test]
async fn a_missing_always_present_field_fails_the_strict_models() {
    let (sim, info) = sim_with("shape-neg", TenantKind::Clerk).await;
    let key = sim.register_clerk_secret_key("shape-neg").unwrap();
    sim.generate(
        "shape-neg",
        GenerateSpec {
            users: 1,
            groups: 1,
            memberships_per_user: 1,
        },
    )
    .unwrap();
    let body: Value = client()
        .get(format!("{}/v1/organization_memberships", info.base_url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let membership = body["data"][0].clone();
    assert!(serde_json::from_value::<ClerkMembership>(membership.clone()).is_ok());
    for pointer in [
        "/organization/has_image",
        "/public_user_data/profile_image_url",
        "/public_user_data/identifier",
    ] {
        let mut broken = membership.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        broken
            .pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key);
        assert!(
            serde_json::from_value::<ClerkMembership>(broken).is_err(),
            "removing {pointer} went unnoticed"
        );
    }
    let user: Value = client()
        .get(format!("{}/v1/users", info.base_url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()[0]
        .clone();
    for pointer in [
        "/primary_web3_wallet_id",
        "/legal_accepted_at",
        "/email_addresses/0/created_at",
        "/email_addresses/0/verification/attempts",
        "/email_addresses/0/verification/object",
    ] {
        let mut broken = user.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() {
            broken.as_object_mut().unwrap()
        } else {
            broken.pointer_mut(parent).unwrap().as_object_mut().unwrap()
        };
        parent.remove(key);
        assert!(
            serde_json::from_value::<ClerkUser>(broken).is_err(),
            "removing {pointer} went unnoticed"
        );
    }
}

// ---------------------------------------------------------------- Okta

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "fields exist to be required")]
struct OktaUser {
    id: String,
    status: String,
    created: String,
    #[serde(deserialize_with = "nullable")]
    activated: Option<String>,
    #[serde(deserialize_with = "nullable")]
    status_changed: Option<String>,
    #[serde(deserialize_with = "nullable")]
    last_login: Option<String>,
    last_updated: String,
    #[serde(deserialize_with = "nullable")]
    password_changed: Option<String>,
    #[serde(rename = "type")]
    user_type: OktaUserType,
    profile: OktaProfile,
    credentials: OktaCredentials,
    #[serde(rename = "_links")]
    links: OktaUserLinks,
}

#[derive(Deserialize)]
struct OktaUserType {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "fields exist to be required")]
struct OktaProfile {
    login: String,
    email: String,
    #[serde(deserialize_with = "nullable")]
    first_name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    last_name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    second_email: Option<String>,
    #[serde(deserialize_with = "nullable")]
    mobile_phone: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct OktaCredentials {
    provider: OktaProvider,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct OktaProvider {
    #[serde(rename = "type")]
    provider_type: String,
    name: String,
}

#[derive(Deserialize)]
struct OktaUserLinks {
    #[serde(rename = "self")]
    this: OktaHref,
}

#[derive(Deserialize)]
struct OktaHref {
    href: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "fields exist to be required")]
struct OktaGroup {
    id: String,
    created: String,
    last_updated: String,
    last_membership_updated: String,
    object_class: Vec<String>,
    #[serde(rename = "type")]
    group_type: String,
    profile: OktaGroupProfile,
    #[serde(rename = "_links")]
    links: Object,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct OktaGroupProfile {
    name: String,
    #[serde(deserialize_with = "nullable")]
    description: Option<String>,
}

fn iso(s: &str) {
    assert!(
        s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.len() == 24,
        "`{s}` is not ISO-8601 UTC with milliseconds"
    );
}

fn check_okta_user(u: &OktaUser) {
    assert!(u.id.starts_with("00u"));
    iso(&u.created);
    iso(&u.last_updated);
    assert!(u.user_type.id.starts_with("oty"));
    assert!(
        u.links
            .this
            .href
            .ends_with(&format!("/api/v1/users/{}", u.id))
    );
}

#[tokio::test]
async fn every_okta_list_parses_into_the_reference_models() {
    let (sim, info) = sim_with("shape-ok", TenantKind::Okta).await;
    let bearer = okta_bearer(&sim, "shape-ok").await;
    sim.generate(
        "shape-ok",
        GenerateSpec {
            users: 25,
            groups: 4,
            memberships_per_user: 1,
        },
    )
    .unwrap();
    let users = sim.users("shape-ok").unwrap();
    for (i, status) in [
        UserStatus::Suspended,
        UserStatus::Staged,
        UserStatus::LockedOut,
        UserStatus::Deprovisioned,
    ]
    .into_iter()
    .enumerate()
    {
        sim.set_user_status("shape-ok", &users[i].id, status)
            .unwrap();
    }
    let base = &info.base_url;
    let mut seen = 0;
    for url in [
        format!("{base}/api/v1/users?limit=7"),
        format!("{base}/api/v1/users?search=status%20eq%20%22DEPROVISIONED%22"),
    ] {
        for page in okta_walk(&url, &bearer).await {
            for v in &page {
                check_okta_user(&strict::<OktaUser>("GET /api/v1/users", v));
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 25, "24 visible users plus the deprovisioned one");
    let one: OktaUser = strict(
        "GET /api/v1/users/{id}",
        &client()
            .get(format!("{base}/api/v1/users/{}", users[1].id))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    assert_eq!(one.status, "STAGED");
    assert_eq!(one.activated, None);
    let groups: Vec<OktaGroup> = okta_walk(&format!("{base}/api/v1/groups?limit=3"), &bearer)
        .await
        .concat()
        .iter()
        .map(|v| strict("GET /api/v1/groups", v))
        .collect();
    assert_eq!(groups.len(), 4);
    let mut members = 0;
    for g in &groups {
        assert!(g.id.starts_with("00g"));
        assert_eq!(g.object_class, ["okta:user_group"]);
        assert_eq!(g.group_type, "OKTA_GROUP");
        iso(&g.last_membership_updated);
        assert!(g.links.contains_key("users"));
        for page in okta_walk(
            &format!("{base}/api/v1/groups/{}/users?limit=2", g.id),
            &bearer,
        )
        .await
        {
            for v in &page {
                check_okta_user(&strict::<OktaUser>("GET /api/v1/groups/{id}/users", v));
                members += 1;
            }
        }
    }
    assert_eq!(members, 25, "group members include every status");
}

// ---------------------------------------------------------------- Auth0

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct Auth0User {
    user_id: String,
    email: String,
    email_verified: bool,
    name: String,
    nickname: String,
    given_name: String,
    family_name: String,
    picture: String,
    created_at: String,
    updated_at: String,
    identities: Vec<Auth0Identity>,
    app_metadata: Object,
    user_metadata: Object,
    /// Absent until an admin sets it.
    #[serde(default)]
    blocked: bool,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct Auth0Identity {
    connection: String,
    provider: String,
    user_id: String,
    #[serde(rename = "isSocial")]
    is_social: bool,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct Auth0Totals {
    start: u64,
    limit: u64,
    length: u64,
    total: u64,
    users: Vec<Auth0User>,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct Auth0Job {
    #[serde(rename = "type")]
    job_type: String,
    status: String,
    id: String,
    format: String,
    fields: Vec<Auth0ExportField>,
    created_at: String,
    connection_id: Option<String>,
    connection: Option<String>,
    limit: Option<u64>,
    location: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "fields exist to be required")]
struct Auth0ExportField {
    name: String,
    export_as: Option<String>,
}

fn check_auth0_user(u: &Auth0User) {
    let raw = u.user_id.strip_prefix("auth0|").expect("database user id");
    iso(&u.created_at);
    iso(&u.updated_at);
    assert_eq!(u.identities.len(), 1);
    assert_eq!(u.identities[0].user_id, raw, "identity ids carry no prefix");
    assert_eq!(
        u.identities[0].connection,
        alter_idp_sim::AUTH0_CONNECTION_NAME
    );
}

#[tokio::test]
async fn every_auth0_list_and_job_parses_into_the_reference_models() {
    let (sim, info) = sim_with("shape-a0", TenantKind::Auth0).await;
    let tok = crate::mgmt::auth0_token(&sim, "shape-a0").await;
    sim.generate(
        "shape-a0",
        GenerateSpec {
            users: 120,
            ..GenerateSpec::default()
        },
    )
    .unwrap();
    let blocked = sim.users("shape-a0").unwrap()[5].id.clone();
    sim.set_user_status("shape-a0", &blocked, UserStatus::Blocked)
        .unwrap();
    let get = |url: String| {
        let tok = tok.clone();
        async move {
            let r = client().get(&url).bearer_auth(tok).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            r.json::<Value>().await.unwrap()
        }
    };
    let base = &info.base_url;
    let mut seen = Vec::new();
    for page in 0..2 {
        let body = get(format!(
            "{base}/api/v2/users?page={page}&per_page=100&include_totals=true"
        ))
        .await;
        let totals: Auth0Totals = strict("GET /api/v2/users?include_totals=true", &body);
        assert_eq!(
            (totals.start, totals.limit, totals.total),
            (page * 100, 100, 120)
        );
        assert_eq!(totals.length, totals.users.len() as u64);
        totals.users.iter().for_each(check_auth0_user);
        seen.extend(totals.users.into_iter().map(|u| (u.user_id, u.blocked)));
    }
    assert_eq!(seen.len(), 120);
    let blocked_seen: Vec<&str> = seen
        .iter()
        .filter(|(_, b)| *b)
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(blocked_seen, [blocked.as_str()]);
    let bare: Vec<Auth0User> = strict(
        "GET /api/v2/users",
        &get(format!("{base}/api/v2/users")).await,
    );
    assert_eq!(bare.len(), 50, "no page → at most 50 rows");
    let one: Auth0User = strict(
        "GET /api/v2/users/{id}",
        &get(format!(
            "{base}/api/v2/users/{}",
            blocked.replace('|', "%7C")
        ))
        .await,
    );
    assert!(one.blocked);

    let created: Value = client()
        .post(format!("{base}/api/v2/jobs/users-exports"))
        .bearer_auth(&tok)
        .json(&json!({"format": "json", "connection_id": AUTH0_CONNECTION_ID, "limit": 500,
                      "fields": [{"name": "user_id"}, {"name": "identities[0].connection", "export_as": "provider"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job: Auth0Job = strict("POST /api/v2/jobs/users-exports", &created);
    assert_eq!(
        (job.job_type.as_str(), job.status.as_str()),
        ("users_export", "pending")
    );
    assert!(job.id.starts_with("job_"));
    iso(&job.created_at);
    assert_eq!(job.connection_id.as_deref(), Some(AUTH0_CONNECTION_ID));
    assert_eq!(job.limit, Some(500));
    assert_eq!(job.fields[1].export_as.as_deref(), Some("provider"));
    let mut polled: Auth0Job = strict(
        "GET /api/v2/jobs/{id}",
        &get(format!("{base}/api/v2/jobs/{}", job.id)).await,
    );
    assert_eq!(polled.status, "pending");
    polled = strict(
        "GET /api/v2/jobs/{id}",
        &get(format!("{base}/api/v2/jobs/{}", job.id)).await,
    );
    assert_eq!(polled.status, "completed");
    assert!(polled.location.is_some_and(|l| l.starts_with(base)));
}
