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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_dir_01_r_dir_05_operator_sets_a_directory_credential_and_follows_an_import_to_its_end() {
    let env = TestEnv::new().await;
    let sim = IdpSim::start().await.unwrap();
    sim.create_tenant("dirs", TenantKind::Okta, TenantOptions::default())
        .unwrap();
    let base = sim.tenant("dirs").unwrap().base_url;
    let issuer = sim.issuer("dirs", Some("default")).unwrap();
    sim.generate(
        "dirs",
        alter_idp_sim::GenerateSpec {
            users: 30,
            groups: 2,
            memberships_per_user: 1,
        },
    )
    .unwrap();
    let private: serde_json::Value = serde_json::from_str(include_str!(
        "../../../directory-sync/tests/it/okta_test_key.jwk.json"
    ))
    .unwrap();
    let mut with_kid = private.clone();
    with_kid["kid"] = serde_json::json!("cli-key");
    let public =
        serde_json::json!({ "kty": "RSA", "kid": "cli-key", "n": private["n"], "e": private["e"] });
    let okta_app = sim
        .register_okta_service_app(
            "dirs",
            vec![public],
            &["okta.users.read", "okta.groups.read"],
            true,
        )
        .unwrap();
    let jwk_file = std::env::temp_dir().join(format!("alter-cli-{}.jwk.json", std::process::id()));
    std::fs::write(&jwk_file, with_kid.to_string()).unwrap();
    let key = alter_secrets::MasterKey::generate().unwrap().to_base64();
    let served = Served::start_with(
        &env,
        &["config-api", "directory-sync"],
        &[
            ("ALTER_SECRETS__MASTER_KEY", key.expose()),
            ("ALTER_DIRECTORY_SYNC__POLL_MS", "100"),
            ("ALTER_DIRECTORY_SYNC__REQUESTS_PER_MINUTE", "60000"),
        ],
    );
    let app = json(&run(&env, &served, &["--json", "apps", "create", "Dirs"]));
    let app_id = app["id"].as_str().unwrap().to_owned();
    json(&run(
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
            "okta",
            "--audience",
            "api://dirs",
        ],
    ));
    let set = json(&run(
        &env,
        &served,
        &[
            "--json",
            "directory",
            "credential",
            "set",
            "--app",
            &app_id,
            "--okta-org-url",
            &base,
            "--client-id",
            &okta_app.client_id,
            "--private-jwk-file",
            jwk_file.to_str().unwrap(),
        ],
    ));
    assert_eq!(set["credential_set"], true, "{set}");
    assert!(
        !set.to_string().contains("\"d\""),
        "the key is never shown: {set}"
    );
    let done = json(&run(
        &env,
        &served,
        &[
            "--json",
            "directory",
            "import",
            "run",
            "--app",
            &app_id,
            "--wait",
        ],
    ));
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["users_imported"], 30, "{done}");
    assert_eq!(done["groups"], 2, "{done}");
    let runs = json(&run(
        &env,
        &served,
        &["--json", "directory", "import", "runs", "--app", &app_id],
    ));
    assert_eq!(runs["imports"][0]["id"], done["id"], "{runs}");
    // Without a provider flag the CLI says which to give.
    let vague = run(
        &env,
        &served,
        &["directory", "credential", "set", "--app", &app_id],
    );
    assert_eq!(vague.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&vague.stderr).contains("--okta-org-url"),
        "{vague:?}"
    );
    let _ = std::fs::remove_file(&jwk_file);
    drop(served);
    env.cleanup().await;
}
