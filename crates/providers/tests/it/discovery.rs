//! R-CFG-03: discovery against every provider kind, exact issuer match, specific failures.

use alter_core::Issuer;
use alter_idp_sim::{Fault, IdpSim, TenantKind, TenantOptions};
use alter_providers::{DiscoveryError, discover, http_client};

fn iss(s: &str) -> Issuer {
    Issuer::parse("issuer", s).unwrap()
}

#[tokio::test]
async fn r_cfg_03_discovers_every_provider_kind_with_exact_issuer() {
    let sim = IdpSim::start().await.unwrap();
    let client = http_client().unwrap();
    let kinds = [
        ("auth0", TenantKind::Auth0),
        ("clerk", TenantKind::Clerk),
        ("okta", TenantKind::Okta),
        ("oidc", TenantKind::Oidc),
    ];
    for (name, kind) in kinds {
        sim.create_tenant(name, kind, TenantOptions::default())
            .unwrap();
    }
    let base = sim.base_url().to_owned();
    let cases = [
        (format!("{base}/auth0/"), "/auth0/.well-known/jwks.json"),
        (format!("{base}/clerk"), "/clerk/.well-known/jwks.json"),
        (format!("{base}/okta"), "/okta/oauth2/v1/keys"),
        (
            sim.issuer("okta", Some("default")).unwrap(),
            "/okta/oauth2/default/v1/keys",
        ),
        (format!("{base}/oidc"), "/oidc/jwks"),
    ];
    for (issuer, jwks_path) in cases {
        let doc = discover(&client, &iss(&issuer)).await.unwrap();
        assert_eq!(doc.issuer, issuer);
        assert_eq!(doc.jwks_uri, format!("{base}{jwks_path}"), "{issuer}");
    }
    assert_eq!(sim.counters("okta").unwrap().discovery_fetches, 2);
}

#[tokio::test]
async fn r_cfg_03_auth0_issuer_without_trailing_slash_is_refused_naming_both() {
    let sim = IdpSim::start().await.unwrap();
    let info = sim
        .create_tenant("acme", TenantKind::Auth0, TenantOptions::default())
        .unwrap();
    let without = info.issuer.trim_end_matches('/').to_owned();
    let err = discover(&http_client().unwrap(), &iss(&without))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DiscoveryError::IssuerMismatch {
            configured: without.clone(),
            found: info.issuer.clone()
        }
    );
    let text = err.to_string();
    assert!(text.contains(&format!("configured {without},")), "{text}");
    assert!(
        text.contains(&format!("document has {}", info.issuer)),
        "{text}"
    );
}

#[tokio::test]
async fn r_cfg_03_clerk_issuer_with_added_trailing_slash_is_refused() {
    let sim = IdpSim::start().await.unwrap();
    let info = sim
        .create_tenant("acme", TenantKind::Clerk, TenantOptions::default())
        .unwrap();
    let with = format!("{}/", info.issuer);
    let err = discover(&http_client().unwrap(), &iss(&with))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DiscoveryError::IssuerMismatch { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn r_cfg_03_discovery_failures_are_specific() {
    let sim = IdpSim::start().await.unwrap();
    let client = http_client().unwrap();
    sim.create_tenant("acme", TenantKind::Oidc, TenantOptions::default())
        .unwrap();

    let unknown = format!("{}/nobody", sim.base_url());
    match discover(&client, &iss(&unknown)).await.unwrap_err() {
        DiscoveryError::Status { status, url } => {
            assert_eq!(status, 404);
            assert_eq!(url, format!("{unknown}/.well-known/openid-configuration"));
        }
        other => panic!("expected a status error, got {other}"),
    }

    sim.inject_fault(
        "acme",
        Fault::ErrorBurst {
            count: 1,
            status: 503,
        },
    )
    .unwrap();
    let issuer = iss(&format!("{}/acme", sim.base_url()));
    let err = discover(&client, &issuer).await.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Status { status: 503, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    // The burst is over: the same issuer now discovers.
    assert!(discover(&client, &issuer).await.is_ok());

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = discover(&client, &iss(&format!("http://127.0.0.1:{closed}/x")))
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("could not be fetched"), "{err}");
}
