//! The admin CLI against a served config-api: what an operator types, and what they read.

use alter_idp_sim::{IdpSim, TenantKind, TenantOptions};
use alter_testkit::TestEnv;

use crate::support::{ADMIN_TOKEN, Served, alter};

fn run(env: &TestEnv, served: &Served, args: &[&str]) -> std::process::Output {
    alter(env)
        .env("ALTER_ENDPOINT", served.endpoint("config-api"))
        .env("ALTER_ADMIN_TOKEN", ADMIN_TOKEN)
        .args(args)
        .output()
        .unwrap()
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {output:?}"))
}

// Multi-threaded: the simulator serves from the runtime's workers while this test blocks on
// the CLI processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_creates_an_app_previews_and_connects_its_idp_then_grants_access() {
    let env = TestEnv::new().await;
    let sim = IdpSim::start().await.unwrap();
    let issuer = sim
        .create_tenant("acme", TenantKind::Auth0, TenantOptions::default())
        .unwrap()
        .issuer;
    let served = Served::start(&env, &["config-api"]);

    let app = json(&run(&env, &served, &["--json", "apps", "create", "Acme"]));
    let app_id = app["id"].as_str().unwrap().to_owned();

    // Preview: the exact issuer (Auth0 keeps its trailing slash) and its JWKS URL.
    let preview = json(&run(
        &env,
        &served,
        &["--json", "idp", "discover", &issuer, "--kind", "auth0"],
    ));
    assert_eq!(preview["issuer"], issuer.as_str());
    assert!(
        preview["jwks_uri"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/jwks.json"),
        "{preview}"
    );

    // The same issuer without its trailing slash is refused, with the reason.
    let wrong = run(
        &env,
        &served,
        &[
            "idp",
            "discover",
            issuer.trim_end_matches('/'),
            "--kind",
            "auth0",
        ],
    );
    assert_eq!(wrong.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("issuer"), "{stderr}");

    let idp = json(&run(
        &env,
        &served,
        &[
            "--json",
            "idp",
            "create",
            "--app",
            &app_id,
            "--issuer",
            &issuer,
            "--kind",
            "auth0",
            "--audience",
            "api://acme",
        ],
    ));
    assert_eq!(idp["issuer"], issuer.as_str());
    assert_eq!(idp["audience"], "api://acme");

    let grant = json(&run(
        &env,
        &served,
        &[
            "--json",
            "grants",
            "create",
            "--app",
            &app_id,
            "--credential",
            "cred-ops",
            "--system",
        ],
    ));
    let listed = json(&run(
        &env,
        &served,
        &["--json", "grants", "list", "--app", &app_id],
    ));
    assert!(
        listed.to_string().contains(grant["id"].as_str().unwrap()),
        "{listed}"
    );

    // Without the token the server refuses and the CLI says how to pass one.
    let refused = alter(&env)
        .env("ALTER_ENDPOINT", served.endpoint("config-api"))
        .args(["apps", "list"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Unauthenticated"),
        "{refused:?}"
    );

    drop(served);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_aud_04_audit_verify_names_the_first_row_changed_behind_alters_back() {
    let env = TestEnv::new().await;
    let served = Served::start(&env, &["config-api", "audit-writer"]);
    let app = json(&run(
        &env,
        &served,
        &["--json", "apps", "create", "Audited"],
    ));
    let app_id = app["id"].as_str().unwrap().to_owned();
    // Admin changes land in the trail (R-AUD-05): three system grants.
    for credential in ["db:a", "db:b", "db:c"] {
        json(&run(
            &env,
            &served,
            &[
                "--json",
                "grants",
                "create",
                "--app",
                &app_id,
                "--credential",
                credential,
                "--system",
            ],
        ));
    }
    let listed = alter_testkit::eventually(
        "four admin rows in the trail",
        std::time::Duration::from_secs(15),
        || {
            let out = run(
                &env,
                &served,
                &[
                    "--json", "audit", "list", "--app", &app_id, "--source", "admin",
                ],
            );
            async move {
                let listed = json(&out);
                (listed["events"].as_array().map_or(0, Vec::len) == 4).then_some(listed)
            }
        },
    )
    .await;
    let kinds: Vec<&str> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "app_created",
            "grant_created",
            "grant_created",
            "grant_created"
        ]
    );
    let only = json(&run(
        &env,
        &served,
        &[
            "--json",
            "audit",
            "list",
            "--app",
            &app_id,
            "--kind",
            "app_created",
        ],
    ));
    assert_eq!(only["events"].as_array().unwrap().len(), 1);

    let intact = json(&run(
        &env,
        &served,
        &["--json", "audit", "verify", "--app", &app_id],
    ));
    assert_eq!(intact, serde_json::json!({ "intact": true, "rows": 4 }));

    // The database owner lifts the append-only guard and rewrites the third row's detail:
    // verify names it.
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")
        .execute(env.db.pool())
        .await
        .unwrap();
    let third = listed["events"][2]["id"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    sqlx::query("UPDATE audit_events SET detail = '{\"tampered\":true}' WHERE app_id = $1::uuid AND seq = $2")
        .bind(&app_id)
        .bind(third)
        .execute(env.db.pool())
        .await
        .unwrap();
    let broken = run(&env, &served, &["audit", "verify", "--app", &app_id]);
    assert!(!broken.status.success(), "{broken:?}");
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains(&format!("row {third}")), "{stderr}");
    served.terminate();
    env.cleanup().await;
}
