//! Browser sign-in against each provider kind: authorize → code → token → ID token, and the
//! refusals a sign-in service must handle.

use std::collections::HashMap;

use alter_idp_sim::{
    ClientAuthMethod, IdpSim, NewGroup, NewUser, OidcClient, TenantKind, TenantOptions, User,
    UserStatus,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CALLBACK: &str = "https://app.example.test/callback";
const AFTER_LOGOUT: &str = "https://app.example.test/signed-out";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier";

/// A tenant with one registered client, one signed-in user and its discovery document.
struct Flow {
    sim: IdpSim,
    tenant: String,
    disc: Value,
    client: OidcClient,
    user: User,
    http: reqwest::Client,
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn flow_with(
    kind: TenantKind,
    auth_server: Option<&str>,
    method: ClientAuthMethod,
    options: TenantOptions,
) -> Flow {
    let sim = IdpSim::start().await.unwrap();
    let tenant = "acme".to_string();
    sim.create_tenant(&tenant, kind, options).unwrap();
    let client = sim
        .register_oidc_client(&tenant, &[CALLBACK], &[AFTER_LOGOUT], method)
        .unwrap();
    let user = sim
        .add_user(
            &tenant,
            NewUser {
                email: Some("dana@example.test".into()),
                first_name: Some("Dana".into()),
                last_name: Some("Scully".into()),
                ..NewUser::default()
            },
        )
        .unwrap();
    sim.set_login(&tenant, Some(&user.id)).unwrap();
    let issuer = sim.issuer(&tenant, auth_server).unwrap();
    let disc_url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let disc = reqwest::get(disc_url).await.unwrap().json().await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Flow {
        sim,
        tenant,
        disc,
        client,
        user,
        http,
    }
}

async fn flow(kind: TenantKind) -> Flow {
    flow_with(
        kind,
        None,
        ClientAuthMethod::ClientSecretBasic,
        TenantOptions::default(),
    )
    .await
}

impl Flow {
    fn ep(&self, name: &str) -> String {
        self.disc[name].as_str().unwrap().to_string()
    }

    fn issuer(&self) -> String {
        self.disc["issuer"].as_str().unwrap().to_string()
    }

    /// A valid authorize request for this client; `over` replaces or (value `None`) drops parameters.
    async fn authorize(&self, over: &[(&str, Option<&str>)]) -> reqwest::Response {
        let ch = challenge(VERIFIER);
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &self.client.client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "openid profile email"),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", &ch),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in over {
            params.retain(|(pk, _)| pk != k);
            if let Some(v) = v {
                params.push((k, v));
            }
        }
        self.http
            .get(self.ep("authorization_endpoint"))
            .query(&params)
            .send()
            .await
            .unwrap()
    }

    /// Authorize and return the code of the redirect.
    async fn code(&self) -> String {
        let resp = self.authorize(&[]).await;
        assert_eq!(resp.status(), 302);
        location(&resp)["code"].clone()
    }

    /// Token request with this client's credentials sent the registered way.
    async fn exchange(&self, code: &str, verifier: &str, redirect_uri: &str) -> reqwest::Response {
        let c = &self.client;
        self.exchange_as(c, &c.client_secret, code, verifier, redirect_uri)
            .await
    }

    async fn exchange_as(
        &self,
        c: &OidcClient,
        secret: &str,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", redirect_uri),
        ];
        let mut req = self.http.post(self.ep("token_endpoint"));
        match c.auth_method {
            ClientAuthMethod::ClientSecretBasic => {
                let creds = STANDARD.encode(format!("{}:{secret}", c.client_id));
                req = req.header("authorization", format!("Basic {creds}"));
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", &c.client_id));
                form.push(("client_secret", secret));
            }
        }
        req.form(&form).send().await.unwrap()
    }

    /// Verifies an ID token against the tenant's JWKS with `iss` and `aud` = client_id.
    async fn verify(&self, id_token: &str) -> Value {
        let jwks: JwkSet = reqwest::get(self.ep("jwks_uri"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let h = decode_header(id_token).unwrap();
        let jwk = jwks.find(h.kid.as_deref().unwrap()).unwrap();
        let mut v = Validation::new(h.alg);
        v.set_issuer(&[self.issuer()]);
        v.set_audience(&[&self.client.client_id]);
        decode::<Value>(id_token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
            .unwrap()
            .claims
    }
}

/// Query parameters of a redirect's `Location`.
fn location(resp: &reqwest::Response) -> HashMap<String, String> {
    let loc = resp
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap();
    url::Url::parse(loc)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// An answer the provider shows rather than redirects (error page, login page).
fn assert_page(resp: &reqwest::Response, status: u16) {
    assert_eq!(resp.status().as_u16(), status);
    assert!(resp.headers().get("location").is_none(), "not a redirect");
}

fn location_base(resp: &reqwest::Response) -> String {
    let loc = resp.headers()["location"].to_str().unwrap();
    loc.split('?').next().unwrap().to_string()
}

async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn expected_at_hash(access_token: &str) -> String {
    let d = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

/// The whole flow; returns the ID token's claims after checking what every provider shares.
async fn sign_in(f: &Flow) -> (Value, Value) {
    let resp = f.authorize(&[]).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(location_base(&resp), CALLBACK);
    let q = location(&resp);
    assert_eq!(q["state"], "st-123");
    let code = q["code"].clone();
    let (status, body) = json_of(f.exchange(&code, VERIFIER, CALLBACK).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile email");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access asked"
    );
    let claims = f.verify(body["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["sub"], json!(f.user.id));
    assert_eq!(claims["email"], "dana@example.test");
    assert_eq!(claims["name"], "Dana Scully");
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    let counters = f.sim.counters(&f.tenant).unwrap();
    assert_eq!((counters.codes_issued, counters.codes_redeemed), (1, 1));
    (claims, body)
}

#[tokio::test]
async fn okta_org_sign_in_issues_an_id_token_with_okta_claims_and_at_hash() {
    let f = flow(TenantKind::Okta).await;
    assert!(f.user.id.starts_with("00u"));
    let resp = f.authorize(&[]).await;
    assert!(
        !location(&resp).contains_key("iss"),
        "Okta does not advertise RFC 9207 iss"
    );
    f.sim.reset_counters(&f.tenant).unwrap();
    let (claims, body) = sign_in(&f).await;
    assert_eq!(claims["ver"], 1);
    assert_eq!(claims["preferred_username"], "dana@example.test");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims["jti"].as_str().unwrap().starts_with("ID."));
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(claims["at_hash"], json!(expected_at_hash(at)));
    assert_eq!(body["expires_in"], 3600);
}

#[tokio::test]
async fn okta_custom_authorization_server_signs_in_under_its_own_issuer() {
    let f = flow_with(
        TenantKind::Okta,
        Some("default"),
        ClientAuthMethod::ClientSecretPost,
        TenantOptions::default(),
    )
    .await;
    assert!(
        f.ep("authorization_endpoint")
            .ends_with("/oauth2/default/v1/authorize")
    );
    let (claims, body) = sign_in(&f).await;
    assert!(claims["iss"].as_str().unwrap().ends_with("/oauth2/default"));
    let at = body["access_token"].as_str().unwrap();
    let at_claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(at.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(at_claims["aud"], "api://default");
    assert_eq!(at_claims["uid"], json!(f.user.id));
    assert_eq!(at_claims["cid"], json!(f.client.client_id));
    assert_eq!(at_claims["scp"], json!(["openid", "profile", "email"]));
}

#[tokio::test]
async fn auth0_sign_in_issues_an_id_token_with_auth0_claims_and_no_at_hash() {
    let f = flow(TenantKind::Auth0).await;
    assert!(f.user.id.starts_with("auth0|"));
    assert!(f.issuer().ends_with('/'));
    let (claims, body) = sign_in(&f).await;
    assert_eq!(claims["nickname"], "dana");
    assert!(claims["sid"].is_string());
    assert!(claims.get("at_hash").is_none());
    assert_eq!(body["expires_in"], 86_400);
    assert_eq!(
        body["access_token"].as_str().unwrap().split('.').count(),
        1,
        "opaque without audience"
    );
}

#[tokio::test]
async fn clerk_oauth_application_sign_in_issues_an_id_token_with_user_sub() {
    let f = flow(TenantKind::Clerk).await;
    assert!(f.user.id.starts_with("user_"));
    assert!(f.disc.get("end_session_endpoint").is_none());
    let (claims, _) = sign_in(&f).await;
    assert!(claims.get("v").is_none(), "not a session token");
    assert_eq!(claims["given_name"], "Dana");
}

#[tokio::test]
async fn plain_oidc_sign_in_sends_rfc9207_iss_and_at_hash() {
    let f = flow(TenantKind::Oidc).await;
    assert_eq!(
        f.disc["authorization_response_iss_parameter_supported"],
        true
    );
    let resp = f.authorize(&[]).await;
    assert_eq!(location(&resp)["iss"], f.issuer());
    f.sim.reset_counters(&f.tenant).unwrap();
    let (claims, body) = sign_in(&f).await;
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(claims["at_hash"], json!(expected_at_hash(at)));
}

#[tokio::test]
async fn discovery_advertises_the_sign_in_endpoints_of_each_provider() {
    for (kind, logout) in [
        (TenantKind::Auth0, Some("/oidc/logout")),
        (TenantKind::Okta, Some("/oauth2/v1/logout")),
        (TenantKind::Clerk, None),
        (TenantKind::Oidc, Some("/logout")),
    ] {
        let f = flow(kind).await;
        assert_eq!(
            f.disc["end_session_endpoint"]
                .as_str()
                .map(|u| u.ends_with(logout.unwrap_or("-"))),
            logout.map(|_| true),
            "{kind:?}"
        );
        assert!(
            f.disc["code_challenge_methods_supported"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m == "S256")
        );
        let methods = f.disc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.contains(&json!("client_secret_basic")), "{kind:?}");
        assert!(methods.contains(&json!("client_secret_post")), "{kind:?}");
        assert!(
            f.disc["response_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("code"))
        );
    }
}

#[tokio::test]
async fn wrong_pkce_verifier_is_invalid_grant() {
    for (kind, status) in [(TenantKind::Okta, 400), (TenantKind::Auth0, 403)] {
        let f = flow(kind).await;
        let code = f.code().await;
        let wrong = "x".repeat(43);
        let (st, body) = json_of(f.exchange(&code, &wrong, CALLBACK).await).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (status, Some("invalid_grant"))
        );
        assert_eq!(f.sim.counters(&f.tenant).unwrap().codes_redeemed, 0);
    }
}

#[tokio::test]
async fn plain_pkce_method_is_refused_with_an_error_redirect() {
    let f = flow(TenantKind::Okta).await;
    let resp = f
        .authorize(&[
            ("code_challenge", Some(VERIFIER)),
            ("code_challenge_method", Some("plain")),
        ])
        .await;
    assert_eq!(resp.status(), 302);
    let q = location(&resp);
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("S256"));
    assert_eq!(q["state"], "st-123");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn missing_code_challenge_is_refused_with_an_error_redirect() {
    for kind in [TenantKind::Okta, TenantKind::Auth0, TenantKind::Clerk] {
        let f = flow(kind).await;
        let resp = f
            .authorize(&[("code_challenge", None), ("code_challenge_method", None)])
            .await;
        let q = location(&resp);
        assert_eq!(q["error"], "invalid_request", "{kind:?}");
        assert_eq!(q["state"], "st-123");
        assert!(!q.contains_key("code"));
    }
}

#[tokio::test]
async fn unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let f = flow(TenantKind::Okta).await;
    for uri in [
        "https://evil.example.test/callback",
        "https://app.example.test/callback/",
    ] {
        let resp = f.authorize(&[("redirect_uri", Some(uri))]).await;
        assert_page(&resp, 400);
    }
    let resp = f.authorize(&[("client_id", Some("0oaunknown"))]).await;
    assert_page(&resp, 400);
}

#[tokio::test]
async fn token_redirect_uri_must_match_the_authorize_request() {
    let f = flow(TenantKind::Okta).await;
    let code = f.code().await;
    let resp = f
        .exchange(&code, VERIFIER, "https://app.example.test/other")
        .await;
    let (st, body) = json_of(resp).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("redirect_uri")
    );
}

#[tokio::test]
async fn replayed_code_is_invalid_grant() {
    for kind in [
        TenantKind::Okta,
        TenantKind::Auth0,
        TenantKind::Clerk,
        TenantKind::Oidc,
    ] {
        let f = flow(kind).await;
        let code = f.code().await;
        assert_eq!(f.exchange(&code, VERIFIER, CALLBACK).await.status(), 200);
        let (_, body) = json_of(f.exchange(&code, VERIFIER, CALLBACK).await).await;
        assert_eq!(body["error"], "invalid_grant", "{kind:?}");
        assert_eq!(f.sim.counters(&f.tenant).unwrap().codes_redeemed, 1);
    }
}

#[tokio::test]
async fn code_expires_after_sixty_seconds_of_simulated_time() {
    let f = flow(TenantKind::Okta).await;
    let fresh = f.code().await;
    let stale = f.code().await;
    f.sim.advance_clock(59);
    assert_eq!(f.exchange(&fresh, VERIFIER, CALLBACK).await.status(), 200);
    f.sim.advance_clock(2);
    let (st, body) = json_of(f.exchange(&stale, VERIFIER, CALLBACK).await).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn wrong_or_missing_client_authentication_is_refused_the_provider_way() {
    for (kind, status, error) in [
        (TenantKind::Okta, 401, "invalid_client"),
        (TenantKind::Auth0, 401, "access_denied"),
        (TenantKind::Clerk, 401, "invalid_client"),
    ] {
        let f = flow(kind).await;
        let code = f.code().await;
        let wrong = f.exchange_as(&f.client, "not-the-secret", &code, VERIFIER, CALLBACK);
        let (st, body) = json_of(wrong.await).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (status, Some(error)),
            "{kind:?}"
        );
        // The registered method is basic: the right secret in the body is refused too.
        let post = OidcClient {
            auth_method: ClientAuthMethod::ClientSecretPost,
            ..f.client.clone()
        };
        let code = f.code().await;
        let secret = f.client.client_secret.clone();
        let (st, _) = json_of(
            f.exchange_as(&post, &secret, &code, VERIFIER, CALLBACK)
                .await,
        )
        .await;
        assert_eq!(st, status, "{kind:?} method mismatch");
        let bare = f
            .http
            .post(f.ep("token_endpoint"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &f.code().await),
                ("code_verifier", VERIFIER),
                ("redirect_uri", CALLBACK),
                ("client_id", &f.client.client_id),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(bare.status().as_u16(), status, "{kind:?} no secret");
    }
}

#[tokio::test]
async fn code_issued_to_another_client_is_refused() {
    let f = flow(TenantKind::Okta).await;
    let other = f
        .sim
        .register_oidc_client(
            &f.tenant,
            &[CALLBACK],
            &[],
            ClientAuthMethod::ClientSecretBasic,
        )
        .unwrap();
    let code = f.code().await;
    let resp = f
        .exchange_as(&other, &other.client_secret, &code, VERIFIER, CALLBACK)
        .await;
    let (st, body) = json_of(resp).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    // The rightful client can still redeem it: the other client's attempt did not burn it.
    assert_eq!(f.exchange(&code, VERIFIER, CALLBACK).await.status(), 200);
}

#[tokio::test]
async fn suspended_or_blocked_user_gets_the_provider_error_redirect() {
    for (kind, status, error) in [
        (TenantKind::Okta, UserStatus::Suspended, "access_denied"),
        (TenantKind::Okta, UserStatus::Deprovisioned, "access_denied"),
        (TenantKind::Auth0, UserStatus::Blocked, "unauthorized"),
        (TenantKind::Clerk, UserStatus::Banned, "access_denied"),
    ] {
        let f = flow(kind).await;
        f.sim
            .set_user_status(&f.tenant, &f.user.id, status)
            .unwrap();
        let resp = f.authorize(&[]).await;
        assert_eq!(resp.status(), 302);
        assert_eq!(location_base(&resp), CALLBACK);
        let q = location(&resp);
        assert_eq!(q["error"], error, "{kind:?} {status:?}");
        assert_eq!(q["state"], "st-123");
        assert!(!q.contains_key("code"));
        assert_eq!(f.sim.counters(&f.tenant).unwrap().codes_issued, 0);
    }
}

#[tokio::test]
async fn nobody_signed_in_means_login_required_for_prompt_none_and_a_login_page_otherwise() {
    let f = flow(TenantKind::Auth0).await;
    f.sim.set_login(&f.tenant, None).unwrap();
    let resp = f.authorize(&[("prompt", Some("none"))]).await;
    let q = location(&resp);
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st-123");
    assert_page(&f.authorize(&[]).await, 200);
}

#[tokio::test]
async fn okta_logout_redirects_only_to_a_registered_uri_and_ends_the_session() {
    let f = flow(TenantKind::Okta).await;
    let code = f.code().await;
    let (_, body) = json_of(f.exchange(&code, VERIFIER, CALLBACK).await).await;
    let id_token = body["id_token"].as_str().unwrap();
    let logout = |hint: &str, uri: &str| {
        f.http
            .get(f.ep("end_session_endpoint"))
            .query(&[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", uri),
                ("state", "bye"),
            ])
            .send()
    };
    let resp = logout(id_token, "https://evil.example.test/")
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    let forged = f
        .sim
        .mint(&f.tenant, &alter_idp_sim::TokenSpec::new("x", json!("y")))
        .unwrap();
    assert_eq!(logout(&forged, AFTER_LOGOUT).await.unwrap().status(), 400);
    let resp = logout(id_token, AFTER_LOGOUT).await.unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(location_base(&resp), AFTER_LOGOUT);
    assert_eq!(location(&resp)["state"], "bye");
    let after = f.authorize(&[("prompt", Some("none"))]).await;
    assert_eq!(location(&after)["error"], "login_required");
}

#[tokio::test]
async fn auth0_logout_accepts_client_id_and_checks_allowed_logout_urls() {
    let f = flow(TenantKind::Auth0).await;
    let url = f.ep("end_session_endpoint");
    let get = |uri: &'static str| {
        f.http
            .get(&url)
            .query(&[
                ("client_id", f.client.client_id.as_str()),
                ("post_logout_redirect_uri", uri),
            ])
            .send()
    };
    assert_eq!(
        get("https://evil.example.test/").await.unwrap().status(),
        400
    );
    let ok = get(AFTER_LOGOUT).await.unwrap();
    assert_eq!(ok.status(), 302);
    assert_eq!(location_base(&ok), AFTER_LOGOUT);
}

#[tokio::test]
async fn offline_access_adds_a_refresh_token_and_groups_claim_follows_the_tenant_option() {
    let options = TenantOptions {
        id_token_groups_claim: Some("groups".into()),
        ..TenantOptions::default()
    };
    let f = flow_with(
        TenantKind::Okta,
        None,
        ClientAuthMethod::ClientSecretBasic,
        options,
    )
    .await;
    let g = f
        .sim
        .add_group(
            &f.tenant,
            NewGroup {
                name: Some("Finance".into()),
                ..NewGroup::default()
            },
        )
        .unwrap();
    f.sim
        .add_membership(&f.tenant, &g.id, &f.user.id, None)
        .unwrap();
    let resp = f
        .authorize(&[("scope", Some("openid offline_access"))])
        .await;
    let code = location(&resp)["code"].clone();
    let (_, body) = json_of(f.exchange(&code, VERIFIER, CALLBACK).await).await;
    assert!(body["refresh_token"].is_string());
    let claims = f.verify(body["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["groups"], json!(["Finance"]));
    assert!(
        claims.get("email").is_none(),
        "no email scope, no email claim"
    );
}

#[tokio::test]
async fn control_api_registers_clients_and_chooses_the_login() {
    let f = flow(TenantKind::Oidc).await;
    f.sim.set_login(&f.tenant, None).unwrap();
    let base = f.sim.base_url().to_string();
    let registered = f
        .http
        .post(format!("{base}/_control/tenants/acme/clients/oidc"))
        .json(&json!({"redirect_uris": [CALLBACK], "auth_method": "client_secret_post"}))
        .send();
    let (_, body) = json_of(registered.await.unwrap()).await;
    let c: OidcClient = serde_json::from_value(body).unwrap();
    assert_eq!(c.auth_method, ClientAuthMethod::ClientSecretPost);
    let put = f
        .http
        .put(format!("{base}/_control/tenants/acme/login"))
        .json(&json!({"user_id": f.user.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let unknown = f
        .http
        .put(format!("{base}/_control/tenants/acme/login"))
        .json(&json!({"user_id": "nobody"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let resp = f.authorize(&[("client_id", Some(&c.client_id))]).await;
    let code = location(&resp)["code"].clone();
    let tok = f
        .exchange_as(&c, &c.client_secret, &code, VERIFIER, CALLBACK)
        .await;
    assert_eq!(tok.status(), 200);
}
