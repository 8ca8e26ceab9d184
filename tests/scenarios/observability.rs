//! The Grafana dashboard (`deploy/grafana/alter.json`) and the Prometheus alerts
//! (`deploy/prometheus/alerts.yaml`) query only metrics and labels the services really export:
//! every service runs against real PostgreSQL and NATS, real traffic goes through them (verify
//! accepted and refused, webhooks accepted and forged, a directory import, a revocation, audit
//! records, a JWKS fetch, a sign-in step, an outbox publish failure), then every admin port's
//! `/metrics` is scraped and every queried name is looked up on the port of the service that
//! owns it.
//!
//! The services share one process-wide Prometheus recorder (`alter_telemetry::prometheus()`),
//! so every admin port of this process renders every series: a scrape cannot tell which
//! service recorded a series. Two things keep the check honest about that: the main test runs
//! alone in a child process (other scenarios of this binary cannot lend it their series), and
//! [`OWNERS`] ties each metric to its service and to the source file that emits it, which
//! [`every_metric_owner_names_the_source_file_that_emits_it`] checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alter_bus::StreamKind;
use alter_idp_sim::{IdpSim, NewUser, TenantKind, TenantOptions, TokenSpec, WebhookTarget};
use alter_proto::admin::v1 as admin;
use alter_proto::identity::v1::{PrincipalKind, RefusalReason, VerifyRequest, VerifyResponse};
use alter_testkit::{Spawned, TestEnv, eventually, spawn};
use serde_json::{Value, json};

use crate::metric_names::{self, Exposition};

const DASHBOARD: &str = "deploy/grafana/alter.json";
const ALERTS: &str = "deploy/prometheus/alerts.yaml";
const HELM_ALERTS: &str = "helm/alter/templates/alerts.yaml";
const HELM_ALERT_RULES: &str = "helm/alter/files/prometheus-alerts.yaml";
const RUNBOOKS: &str = "docs/runbooks";

/// Each exported metric family: the services whose admin port must show it, and the source
/// file that names it. A queried metric missing here is one no service exports.
const OWNERS: &[(&str, &[&str], &str)] = &[
    (
        "alter_admin_calls_total",
        &["config-api"],
        "crates/config-api/src/api.rs",
    ),
    (
        "alter_audit_lag_seconds",
        &["audit-writer"],
        "crates/audit-writer/src/metrics.rs",
    ),
    (
        "alter_audit_records_total",
        &["audit-writer"],
        "crates/audit-writer/src/metrics.rs",
    ),
    (
        "alter_directory_requests_total",
        &["directory-sync"],
        "crates/directory-sync/src/sync.rs",
    ),
    (
        "alter_directory_run_seconds",
        &["directory-sync"],
        "crates/directory-sync/src/sync.rs",
    ),
    (
        "alter_directory_runs_total",
        &["directory-sync"],
        "crates/directory-sync/src/sync.rs",
    ),
    (
        "alter_directory_users_total",
        &["directory-sync"],
        "crates/directory-sync/src/sync.rs",
    ),
    (
        "alter_jwks_fetch_total",
        &["jwt-verifier"],
        "crates/providers/src/jwks.rs",
    ),
    (
        "alter_jwks_keys",
        &["jwt-verifier"],
        "crates/providers/src/jwks.rs",
    ),
    // Every service that writes to the outbox runs a relay, and each reports the backlog.
    (
        "alter_outbox_backlog",
        &["config-api", "jwt-verifier", "grant-revoker", "signin"],
        "crates/runtime/src/outbox.rs",
    ),
    (
        "alter_outbox_oldest_pending_seconds",
        &["config-api", "jwt-verifier", "grant-revoker", "signin"],
        "crates/runtime/src/outbox.rs",
    ),
    (
        "alter_outbox_publish_failures_total",
        &["config-api", "jwt-verifier", "grant-revoker", "signin"],
        "crates/runtime/src/outbox.rs",
    ),
    (
        "alter_outbox_published_total",
        &["config-api", "jwt-verifier", "grant-revoker", "signin"],
        "crates/runtime/src/outbox.rs",
    ),
    (
        "alter_revoker_apply_seconds",
        &["grant-revoker"],
        "crates/grant-revoker/src/metrics.rs",
    ),
    (
        "alter_revoker_events_total",
        &["grant-revoker"],
        "crates/grant-revoker/src/metrics.rs",
    ),
    (
        "alter_revoker_lag_seconds",
        &["grant-revoker"],
        "crates/grant-revoker/src/metrics.rs",
    ),
    (
        "alter_signin_total",
        &["signin"],
        "crates/signin/src/http.rs",
    ),
    (
        "alter_verify_cache_total",
        &["jwt-verifier"],
        "crates/jwt-verifier/src/metrics.rs",
    ),
    (
        "alter_verify_refusals_total",
        &["jwt-verifier"],
        "crates/jwt-verifier/src/metrics.rs",
    ),
    (
        "alter_verify_seconds",
        &["jwt-verifier"],
        "crates/jwt-verifier/src/metrics.rs",
    ),
    (
        "alter_verify_total",
        &["jwt-verifier"],
        "crates/jwt-verifier/src/metrics.rs",
    ),
    (
        "alter_webhook_events_total",
        &["webhook-ingest"],
        "crates/webhook-ingest/src/metrics.rs",
    ),
    (
        "alter_webhook_log_failures_total",
        &["webhook-ingest"],
        "crates/webhook-ingest/src/metrics.rs",
    ),
    (
        "alter_webhook_refusals_total",
        &["webhook-ingest"],
        "crates/webhook-ingest/src/metrics.rs",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One PromQL expression and where it is written.
#[derive(Debug)]
struct Queried {
    place: String,
    expr: String,
}

/// Every target expression of the dashboard's panels (rows' nested panels included).
fn dashboard_queries(dashboard: &Value) -> Vec<Queried> {
    fn walk(panels: &Value, out: &mut Vec<Queried>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?");
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(Queried {
                        place: format!("{DASHBOARD} panel {title:?}"),
                        expr: expr.to_owned(),
                    });
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The alerting rules of a rules file: (alert name, expression, annotations).
fn alert_rules(rules: &serde_yaml::Value) -> Vec<(String, String, serde_yaml::Mapping)> {
    let mut out = Vec::new();
    for group in rules["groups"].as_sequence().into_iter().flatten() {
        for rule in group["rules"].as_sequence().into_iter().flatten() {
            let name = rule["alert"]
                .as_str()
                .or_else(|| rule["record"].as_str())
                .unwrap_or_else(|| panic!("a rule without alert or record: {rule:?}"));
            let expr = rule["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} has no expr"));
            let annotations = rule["annotations"]
                .as_mapping()
                .cloned()
                .unwrap_or_default();
            out.push((name.to_owned(), expr.trim().to_owned(), annotations));
        }
    }
    out
}

fn all_queries() -> Vec<Queried> {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("the dashboard is JSON");
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&read(ALERTS)).expect("the alert rules are YAML");
    let mut queries = dashboard_queries(&dashboard);
    assert!(
        queries.len() >= 20,
        "only {} dashboard queries",
        queries.len()
    );
    let alerts = alert_rules(&rules);
    assert!(alerts.len() >= 6, "only {} alert rules", alerts.len());
    queries.extend(alerts.into_iter().map(|(name, expr, _)| Queried {
        place: format!("{ALERTS} alert {name}"),
        expr,
    }));
    queries
}

/// The owner entry of a queried name (`x_bucket` of histogram `x` is `x`'s).
fn owner(queried: &str) -> Option<&'static (&'static str, &'static [&'static str], &'static str)> {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| queried.strip_suffix(suffix));
    OWNERS
        .iter()
        .find(|(name, ..)| *name == queried)
        .or_else(|| base.and_then(|base| OWNERS.iter().find(|(name, ..)| *name == base)))
}

/// What is wrong with `queries` given each service's scrape: metrics no service exports,
/// metrics missing from their owner's `/metrics`, label names no exported sample carries.
fn problems(queries: &[Queried], scrapes: &BTreeMap<&str, Exposition>) -> Vec<String> {
    let mut problems = Vec::new();
    for Queried { place, expr } in queries {
        let query = metric_names::parse(expr);
        if query.metrics.is_empty() {
            problems.push(format!("{place}: reads no metric in {expr:?}"));
        }
        let mut labels_seen = BTreeSet::new();
        for (metric, matched) in &query.metrics {
            let Some((family, services, _)) = owner(metric) else {
                problems.push(format!(
                    "{place}: queries {metric}, which no service exports"
                ));
                continue;
            };
            for service in *services {
                let Some(scrape) = scrapes.get(service) else {
                    problems.push(format!("{place}: {service} was not scraped"));
                    continue;
                };
                match scrape.family(metric) {
                    Some((name, _)) if name == *family => {}
                    _ => {
                        problems.push(format!(
                            "{place}: {metric} is not on the /metrics of {service}"
                        ));
                        continue;
                    }
                }
                let exported = scrape.labels(metric);
                for label in matched.difference(&exported) {
                    problems.push(format!(
                        "{place}: {metric} has no label {label:?} on {service} (it has {exported:?})"
                    ));
                }
                labels_seen.extend(exported);
            }
        }
        for label in query.grouping.difference(&labels_seen) {
            problems.push(format!(
                "{place}: groups by {label:?}, which no queried metric carries, in {expr:?}"
            ));
        }
    }
    problems
}

#[test]
fn every_metric_owner_names_the_source_file_that_emits_it() {
    for (name, services, file) in OWNERS {
        assert!(!services.is_empty(), "{name} has no service");
        let source = read(file);
        assert!(
            source.contains(&format!("\"{name}\"")),
            "{file} does not name {name}"
        );
    }
}

fn rust_sources(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// Not every label value can be produced by traffic here (a failed directory run, a JWKS
/// outage, every refusal reason), so each value a selector matches must at least be a string
/// literal of the services' code: a typo (`wrong_secrets`, `unavailble`) fails here.
#[test]
fn every_label_value_the_queries_match_is_a_literal_of_the_services_code() {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        let name = entry.file_name();
        if !["idp-sim", "testkit", "bench"].contains(&name.to_string_lossy().as_ref()) {
            rust_sources(&entry.path().join("src"), &mut sources);
        }
    }
    assert!(sources.len() > 50, "{} source files", sources.len());
    let mut checked = 0;
    for Queried { place, expr } in all_queries() {
        for (label, value) in metric_names::parse(&expr).values {
            let words: Vec<&str> = value.split('|').collect();
            assert!(
                words.iter().all(|w| !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')),
                "{place}: {label}=~{value:?} is not a list of literal values; extend this check"
            );
            for word in words {
                let literal = format!("\"{word}\"");
                assert!(
                    sources.iter().any(|s| s.contains(&literal)),
                    "{place}: no service emits {label}={word:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 15, "only {checked} label values checked");
}

#[test]
fn the_check_fails_for_a_metric_or_a_label_no_service_exports() {
    let scrape = Exposition::parse(
        "# TYPE alter_verify_total counter\nalter_verify_total{outcome=\"ok\"} 1\n\
         # TYPE alter_verify_seconds histogram\nalter_verify_seconds_bucket{le=\"+Inf\"} 1\n\
         alter_verify_seconds_sum 0.1\nalter_verify_seconds_count 1\n",
    );
    let scrapes = BTreeMap::from([("jwt-verifier", scrape)]);
    let q = |expr: &str| Queried {
        place: "test".into(),
        expr: expr.into(),
    };
    assert!(
        problems(
            &[
                q(r#"sum by (outcome) (rate(alter_verify_total{outcome!="ok"}[5m]))"#),
                q("histogram_quantile(0.9, sum by (le) (rate(alter_verify_seconds_bucket[5m])))"),
            ],
            &scrapes
        )
        .is_empty()
    );
    let found = problems(
        &[
            q("sum(rate(alter_verify_nonexistent_total[5m]))"),
            q(r#"sum(rate(alter_verify_total{reasons="x"}[5m]))"#),
            q("sum by (reason) (rate(alter_verify_total[5m]))"),
            q("max(alter_verify_refusals_total)"),
            q("vector(1)"),
        ],
        &scrapes,
    );
    let expected = [
        "alter_verify_nonexistent_total, which no service exports",
        "alter_verify_total has no label \"reasons\"",
        "groups by \"reason\"",
        "alter_verify_refusals_total is not on the /metrics of jwt-verifier",
        "reads no metric",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (problem, expected) in found.iter().zip(expected) {
        assert!(
            problem.contains(expected),
            "{problem} should say {expected}"
        );
    }
}

#[test]
fn the_dashboard_reads_prometheus_only_through_the_datasource_variable() {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).unwrap();
    let schema = dashboard["schemaVersion"].as_u64().unwrap();
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "a Prometheus datasource variable named datasource"
    );
    fn datasources(value: &Value, found: &mut Vec<Value>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    if key == "datasource" {
                        found.push(v.clone());
                    }
                    datasources(v, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| datasources(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    datasources(&dashboard["panels"], &mut found);
    assert!(found.len() >= 20);
    for datasource in found {
        assert_eq!(
            datasource,
            json!({ "type": "prometheus", "uid": "${datasource}" }),
            "no hard-coded datasource"
        );
    }
    let empty: Vec<String> = dashboard_queries(&dashboard)
        .into_iter()
        .filter(|q| q.expr.trim().is_empty())
        .map(|q| q.place)
        .collect();
    assert!(empty.is_empty(), "empty queries: {empty:?}");
}

#[test]
fn every_alert_has_a_summary_a_description_and_one_runbook_page_that_names_it() {
    let rules: serde_yaml::Value = serde_yaml::from_str(&read(ALERTS)).unwrap();
    let alerts = alert_rules(&rules);
    let mut pages = BTreeSet::new();
    for (name, _, annotations) in &alerts {
        let text = |key: &str| annotations.get(key).and_then(serde_yaml::Value::as_str);
        for key in ["summary", "description"] {
            assert!(
                text(key).is_some_and(|t| t.len() > 20),
                "{name} needs a {key}"
            );
        }
        let links: Vec<&str> = ["runbook_url", "runbook"]
            .iter()
            .filter_map(|k| text(k))
            .collect();
        assert_eq!(links.len(), 1, "{name} links exactly one runbook page");
        let page = links[0];
        assert!(
            page.starts_with(&format!("{RUNBOOKS}/")) && page.ends_with(".md"),
            "{name}: {page} is not a page under {RUNBOOKS}/"
        );
        let body = read(page);
        assert!(body.contains(name.as_str()), "{page} does not name {name}");
        let index = read(&format!("{RUNBOOKS}/README.md"));
        let file = page.trim_start_matches(&format!("{RUNBOOKS}/"));
        assert!(
            index.contains(name.as_str()) && index.contains(&format!("({file})")),
            "{RUNBOOKS}/README.md lists {name} and links {file}"
        );
        pages.insert(page);
    }
    assert!(pages.len() >= 5, "{pages:?}");
}

#[test]
fn the_helm_chart_ships_exactly_these_alerts() {
    // The chart's PrometheusRule renders `files/prometheus-alerts.yaml` as its groups.
    assert!(
        read(HELM_ALERTS).contains(".Files.Get \"files/prometheus-alerts.yaml\""),
        "{HELM_ALERTS} renders the chart's copy of the rules"
    );
    assert_eq!(
        read(HELM_ALERT_RULES),
        read(ALERTS),
        "{HELM_ALERT_RULES} must be a byte-identical copy of {ALERTS}"
    );
    let ours: BTreeMap<String, String> = alert_rules(&serde_yaml::from_str(&read(ALERTS)).unwrap())
        .into_iter()
        .map(|(name, expr, _)| (name, expr))
        .collect();
    assert_eq!(
        ours["AlterOutboxBacklog"],
        "max(alter_outbox_oldest_pending_seconds) > 60"
    );
    assert_eq!(
        ours["AlterRevokerLag"],
        "max(alter_revoker_lag_seconds) > 300"
    );
}

const CHILD: &str = "ALTER_E2E_OBSERVABILITY_ALONE";
const TEST_NAME: &str =
    "observability::dashboards_and_alerts_query_only_metrics_the_services_export";

/// Runs alone in a child process of this test binary (see the module's doc); the parent only
/// waits for it and shows its output.
#[test]
fn dashboards_and_alerts_query_only_metrics_the_services_export() {
    if std::env::var_os(CHILD).is_some() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(drive_traffic_then_scrape());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the scenario failed in its own process ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

const ADMIN_TOKEN: &str = "alt_adm_e2e-observability";
const AUDIENCE: &str = "api://observability";
const TENANT: &str = "obs";
const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SVIX_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

struct Stack {
    env: TestEnv,
    services: Vec<(&'static str, Spawned)>,
    admin: alter_config_api::AdminClient,
    sim: IdpSim,
}

impl Stack {
    async fn start() -> Self {
        let env = TestEnv::new().await;
        let mut common = env.common();
        common.secrets.master_key = Some(alter_secrets::MasterKey::generate().unwrap());
        common.public.signin_url = Some("https://alter.test".to_owned());
        let ingest = spawn::<alter_webhook_ingest::Application>(
            alter_webhook_ingest::Config::for_tests(common.clone()),
        )
        .await;
        let mut api =
            alter_config_api::Config::for_tests(common.clone()).with_admin_token(ADMIN_TOKEN);
        api.config_api.public_webhook_base_url = ingest.url();
        let config_api = spawn::<alter_config_api::Application>(api).await;
        let mut sync = alter_directory_sync::Config::for_tests(common.clone());
        sync.directory_sync.requests_per_minute = 60_000;
        let directory = spawn::<alter_directory_sync::Application>(sync).await;
        let revoker = spawn::<alter_grant_revoker::Application>(
            alter_grant_revoker::Config::for_tests(common.clone()),
        )
        .await;
        let writer = spawn::<alter_audit_writer::Application>(
            alter_audit_writer::Config::for_tests(common.clone()),
        )
        .await;
        let signin =
            spawn::<alter_signin::Application>(alter_signin::Config::for_tests(common.clone()))
                .await;
        let verifier =
            spawn::<alter_jwt_verifier::Application>(alter_jwt_verifier::Config::for_tests(common))
                .await;
        let admin = alter_config_api::connect_admin(&config_api.url(), Some(ADMIN_TOKEN))
            .await
            .unwrap();
        Self {
            env,
            services: vec![
                ("webhook-ingest", ingest),
                ("config-api", config_api),
                ("directory-sync", directory),
                ("grant-revoker", revoker),
                ("audit-writer", writer),
                ("signin", signin),
                ("jwt-verifier", verifier),
            ],
            admin,
            sim: IdpSim::start().await.unwrap(),
        }
    }

    fn service(&self, name: &str) -> &Spawned {
        &self.services.iter().find(|(n, _)| *n == name).unwrap().1
    }

    async fn verify(&self, app: &str, token: &str) -> Result<VerifyResponse, tonic::Status> {
        alter_jwt_verifier::connect(self.service("jwt-verifier").url())
            .await
            .unwrap()
            .verify(VerifyRequest {
                app_id: app.into(),
                token: token.into(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    fn token(&self, sub: &str, audience: &str) -> String {
        self.sim
            .mint(TENANT, &TokenSpec::new(sub, json!(audience)))
            .unwrap()
    }

    /// A Clerk app with webhooks enabled and a directory credential; returns (app, endpoint).
    async fn clerk_app(&mut self) -> (String, String) {
        let options = TenantOptions {
            webhook_secret: Some(SVIX_SECRET.to_owned()),
            ..TenantOptions::default()
        };
        let info = self
            .sim
            .create_tenant(TENANT, TenantKind::Clerk, options)
            .unwrap();
        let app = self
            .admin
            .create_app(admin::CreateAppRequest {
                name: TENANT.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        self.admin
            .create_idp(admin::CreateIdpRequest {
                app_id: app.clone(),
                issuer: info.issuer,
                kind: admin::IdpKind::Clerk.into(),
                audience: AUDIENCE.into(),
                claim_mappings: Some(admin::ClaimMappings {
                    user_id_claim: "sub".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        let endpoint = self
            .admin
            .enable_webhooks(admin::EnableWebhooksRequest {
                app_id: app.clone(),
                secret: SVIX_SECRET.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status
            .unwrap()
            .endpoint_url;
        use admin::set_directory_credential_request::Credential;
        self.admin
            .set_directory_credential(admin::SetDirectoryCredentialRequest {
                app_id: app.clone(),
                credential: Some(Credential::Clerk(admin::ClerkDirectoryCredential {
                    secret_key: self.sim.register_clerk_secret_key(TENANT).unwrap(),
                    api_url: info.base_url,
                })),
            })
            .await
            .unwrap();
        (app, endpoint)
    }

    async fn scrape(&self) -> BTreeMap<&'static str, Exposition> {
        let mut scrapes = BTreeMap::new();
        for (name, service) in &self.services {
            let text = reqwest::get(format!("{}/metrics", service.admin_url()))
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .text()
                .await
                .unwrap();
            scrapes.insert(*name, Exposition::parse(&text));
        }
        scrapes
    }

    async fn finish(self) {
        for (name, service) in self.services {
            service
                .stop()
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        self.env.cleanup().await;
    }
}

fn once(url: &str) -> WebhookTarget {
    WebhookTarget {
        url: url.to_owned(),
        retry_delays_ms: Some(Vec::new()),
        ..WebhookTarget::default()
    }
}

async fn drive_traffic_then_scrape() {
    let queries = all_queries();
    let mut s = Stack::start().await;
    let (app, endpoint) = s.clerk_app().await;
    for id in ["user_obs", "user_gone"] {
        s.sim
            .add_user(
                TENANT,
                NewUser {
                    id: Some(id.to_owned()),
                    email: Some(format!("{id}@example.test")),
                    ..NewUser::default()
                },
            )
            .unwrap();
    }

    // Verify: accepted (the JWKS is fetched, the user provisioned just in time) and refused.
    s.verify(&app, &s.token("user_obs", AUDIENCE))
        .await
        .unwrap();
    let refused = s
        .verify(&app, &s.token("user_obs", "api://someone-else"))
        .await
        .unwrap_err();
    assert_eq!(
        alter_jwt_verifier::refusal_of(&refused).map(|d| d.reason()),
        Some(RefusalReason::WrongAudience)
    );

    // A directory import that lists both users.
    let run = s
        .admin
        .run_directory_import(admin::RunDirectoryImportRequest {
            app_id: app.clone(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    let run = eventually("the import to end", Duration::from_secs(60), || {
        let mut admin = s.admin.clone();
        let request = admin::GetDirectoryImportRequest {
            app_id: app.clone(),
            import_id: run.id.clone(),
        };
        async move {
            let run = admin
                .get_directory_import(request)
                .await
                .unwrap()
                .into_inner();
            (!matches!(run.state.as_str(), "pending" | "running")).then_some(run)
        }
    })
    .await;
    assert_eq!(run.state, "succeeded", "{run:?}");

    // A revocation through grant-revoker: Clerk deletes a user who holds a grant.
    let gone_token = s.token("user_gone", AUDIENCE);
    let gone = s.verify(&app, &gone_token).await.unwrap().user.unwrap().id;
    s.admin
        .create_grant(admin::CreateGrantRequest {
            app_id: app.clone(),
            credential_ref: "db:reports".into(),
            principal_kind: PrincipalKind::User as i32,
            principal_id: gone.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let deleted = s
        .sim
        .send_clerk_webhook(
            TENANT,
            &once(&endpoint),
            "user.deleted",
            json!({ "id": "user_gone", "object": "user", "deleted": true }),
            &[],
        )
        .await
        .unwrap();
    assert!(deleted.delivered, "{deleted:?}");
    eventually("the deletion refused", Duration::from_secs(15), || {
        let (s, app, token) = (&s, app.clone(), gone_token.clone());
        async move {
            let status = s.verify(&app, &token).await.err()?;
            (alter_jwt_verifier::refusal_of(&status).map(|d| d.reason())
                == Some(RefusalReason::UserDeprovisioned))
            .then_some(())
        }
    })
    .await;

    // A delivery signed with another secret than the endpoint's.
    let forger = TenantOptions {
        webhook_secret: Some(OTHER_SVIX_SECRET.to_owned()),
        ..TenantOptions::default()
    };
    s.sim
        .create_tenant("obs-forger", TenantKind::Clerk, forger)
        .unwrap();
    let forged = s
        .sim
        .send_clerk_webhook(
            "obs-forger",
            &once(&endpoint),
            "user.deleted",
            json!({ "id": "user_obs", "object": "user", "deleted": true }),
            &[],
        )
        .await
        .unwrap();
    assert!(!forged.delivered, "{forged:?}");
    assert_eq!(forged.attempts[0].status, Some(401), "{forged:?}");

    // The deprovisioning reaches the audit trail (grant-revoker → outbox → audit-writer).
    eventually(
        "the deletion in the audit trail",
        Duration::from_secs(15),
        || {
            let mut admin = s.admin.clone();
            let request = admin::ListAuditEventsRequest {
                app_id: app.clone(),
                kind: "user_deprovisioned".into(),
                ..Default::default()
            };
            async move {
                let events = admin
                    .list_audit_events(request)
                    .await
                    .unwrap()
                    .into_inner()
                    .events;
                (!events.is_empty()).then_some(())
            }
        },
    )
    .await;

    // A sign-in step: the app has no sign-in configured, so authorize is refused.
    let authorize = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "{}/v1/signin/{app}/authorize?return_to=https%3A%2F%2Fapp.test%2F&state=s1",
            s.service("signin").url()
        ))
        .send()
        .await
        .unwrap();
    assert!(
        authorize.status().is_client_error(),
        "{}",
        authorize.status()
    );

    // An outbox publish failure: the audit stream is gone (an operator deleted it), and a new
    // user's provisioning record cannot be published.
    s.env
        .bus
        .jetstream()
        .delete_stream(s.env.bus.names().stream(StreamKind::Audit))
        .await
        .unwrap();
    s.verify(&app, &s.token("user_late", AUDIENCE))
        .await
        .unwrap();

    // Every queried metric and label on its owners' /metrics (gauges and the relay's failure
    // are reported in the background: allow them a few rounds).
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let found = problems(&queries, &s.scrape().await);
        if found.is_empty() || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(found.is_empty(), "{found:#?}");
    let names: BTreeSet<String> = queries
        .iter()
        .flat_map(|q| metric_names::parse(&q.expr).metrics.into_keys())
        .collect();
    eprintln!(
        "{} queries read {} metrics: {names:?}",
        queries.len(),
        names.len()
    );
    s.finish().await;
}
