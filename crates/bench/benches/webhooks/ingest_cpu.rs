//! Server CPU per accepted webhook: the release `webhook-ingest` (authentication, parsing, the
//! durable publish with its ack, the delivery-log insert) and `bare-ingest` (publish the body,
//! wait for the ack), each in its own process alone on core 1 with one tokio worker, driven
//! from core 0 with `IN_FLIGHT` deliveries outstanding over HTTP/1.1 keep-alive connections.
//! CPU is the server process's utime + stime (`/proc/<pid>/stat`) over `DELIVERIES`
//! deliveries, after `WARM_UP` deliveries that are not counted.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alter_testkit::TestEnv;
use futures::StreamExt as _;

use crate::{DELIVERIES, HookApp, IN_FLIGHT, SVIX_SECRET, WARM_UP};

pub struct Run {
    pub name: String,
    pub rate: f64,
    pub cpu_us: f64,
    pub accepted: usize,
    pub failed: usize,
    pub first_error: Option<String>,
}

pub struct Results {
    pub runs: Vec<Run>,
}

/// Pins every thread of the driver to core 0 (the servers get core 1).
pub fn pin_driver() -> anyhow::Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(
        status.success(),
        "taskset could not pin the driver to core 0"
    );
    Ok(())
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    async fn start(mut command: Command, port: u16, name: &str) -> anyhow::Result<Self> {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            anyhow::ensure!(Instant::now() < deadline, "{name} did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or(&stat);
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        let utime: f64 = fields[11].parse()?;
        let stime: f64 = fields[12].parse()?;
        Ok((utime + stime) / clock_ticks())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bin` alone on core 1 with one runtime worker (`taskset` execs it: the pid is the server's).
fn placed(bin: &std::path::Path) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", "1"])
        .arg(bin)
        .env("TOKIO_WORKER_THREADS", "1");
    c
}

/// One delivery, ready to send: the path after the server's address, headers and body.
struct Delivery {
    path: String,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn auth0_deliveries(app: &HookApp, tag: &str, n: usize) -> Vec<Delivery> {
    let path = format!("/v1/webhooks/{}", app.idp);
    let authorization = format!("Bearer {}", app.secret);
    let date = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let nonce = std::process::id();
    (0..n)
        .map(|i| {
            let log_id = format!("900{nonce:010}{tag}{i:024}");
            let body = serde_json::json!([{
                "log_id": log_id,
                "data": {
                    "log_id": log_id,
                    "type": "sdu",
                    "user_id": format!("auth0|load-{i}"),
                    "date": date,
                    "tenant_name": app.tenant,
                }
            }])
            .to_string();
            Delivery {
                path: path.clone(),
                headers: vec![
                    ("authorization", authorization.clone()),
                    ("content-type", "application/json".to_owned()),
                ],
                body,
            }
        })
        .collect()
}

/// Clerk `user.deleted` deliveries as Svix sends them (`svix-id`, `svix-timestamp`,
/// `svix-signature`); signed now, so they are well within the 5-minute tolerance.
fn clerk_deliveries(app: &HookApp, tag: &str, n: usize) -> anyhow::Result<Vec<Delivery>> {
    let path = format!("/v1/webhooks/{}", app.idp);
    let now = chrono::Utc::now();
    let nonce = std::process::id();
    (0..n)
        .map(|i| {
            let id = format!("msg_bench{nonce}{tag}{i:012}");
            let body = serde_json::json!({
                "type": "user.deleted",
                "object": "event",
                "timestamp": now.timestamp_millis(),
                "instance_id": "ins_2bench",
                "data": { "id": format!("user_load{i}"), "object": "user", "deleted": true },
            })
            .to_string();
            let ts = now.timestamp();
            let signature = alter_idp_sim::svix_signature(SVIX_SECRET, &id, ts, body.as_bytes())?;
            Ok(Delivery {
                path: path.clone(),
                headers: vec![
                    ("content-type", "application/json".to_owned()),
                    ("svix-id", id),
                    ("svix-timestamp", ts.to_string()),
                    ("svix-signature", signature),
                ],
                body,
            })
        })
        .collect()
}

/// Sends `deliveries` with `IN_FLIGHT` outstanding; (accepted, failed, first failure, wall).
/// A delivery answered 2xx without its event accepted counts as failed.
async fn drive(
    http: &reqwest::Client,
    port: u16,
    deliveries: Vec<Delivery>,
) -> (usize, usize, Option<String>, Duration) {
    let started = Instant::now();
    let base = format!("http://127.0.0.1:{port}");
    let mut answers = futures::stream::iter(deliveries)
        .map(|d| {
            let mut request = http.post(format!("{base}{}", d.path)).body(d.body);
            for (k, v) in d.headers {
                request = request.header(k, v);
            }
            async move {
                match request.send().await {
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        // Accepted means a 2xx whose answer counts the event as accepted
                        // (not a duplicate, ignored or rejected record).
                        if status.is_success() && text.contains(r#""accepted":1"#) {
                            Ok(())
                        } else {
                            Err(format!("{status}: {text}"))
                        }
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .buffer_unordered(IN_FLIGHT);
    let (mut ok, mut failed, mut first) = (0, 0, None);
    while let Some(answer) = answers.next().await {
        match answer {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                first.get_or_insert(e);
            }
        }
    }
    (ok, failed, first, started.elapsed())
}

async fn measure(
    name: &str,
    server: &Server,
    http: &reqwest::Client,
    warm_up: Vec<Delivery>,
    deliveries: Vec<Delivery>,
) -> anyhow::Result<Run> {
    let (_, warm_failed, warm_error, _) = drive(http, server.port, warm_up).await;
    if warm_failed > 0 {
        println!("  {name}: {warm_failed} warm-up deliveries failed: {warm_error:?}");
    }
    let before = server.cpu_seconds()?;
    let (accepted, failed, first_error, wall) = drive(http, server.port, deliveries).await;
    let cpu = server.cpu_seconds()? - before;
    Ok(Run {
        name: name.to_owned(),
        rate: accepted as f64 / wall.as_secs_f64(),
        cpu_us: cpu * 1e6 / accepted.max(1) as f64,
        accepted,
        failed,
        first_error,
    })
}

pub async fn run(
    env: &TestEnv,
    master_key: &str,
    auth0: &HookApp,
    clerk: &HookApp,
) -> anyhow::Result<Results> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()?;
    let mut runs = Vec::new();

    // The floor: bare-ingest over a stream of its own.
    let nonce = std::process::id();
    let (stream, subject) = (format!("BENCH_BARE_{nonce}"), format!("bench.bare.{nonce}"));
    let js = crate::jetstream::create_stream(&stream, &subject).await?;
    let port = free_port()?;
    let mut command = placed(std::path::Path::new(env!("CARGO_BIN_EXE_bare-ingest")));
    command
        .arg(format!("127.0.0.1:{port}"))
        .arg(alter_bus::testing::test_nats_url())
        .arg(&subject);
    let bare = Server::start(command, port, "bare-ingest").await?;
    println!("bare-ingest: {DELIVERIES} Auth0 deliveries, {IN_FLIGHT} in flight …");
    runs.push(
        measure(
            "bare handler (Auth0 bodies)",
            &bare,
            &http,
            auth0_deliveries(auth0, "bw", WARM_UP),
            auth0_deliveries(auth0, "bm", DELIVERIES),
        )
        .await?,
    );
    drop(bare);
    js.delete_stream(&stream).await?;

    // webhook-ingest, release, over the benchmark's database and NATS prefix.
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/release/webhook-ingest");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: run `cargo build --release -p alter-webhook-ingest` (make bench does)",
        bin.display()
    );
    let port = free_port()?;
    let admin = free_port()?;
    let mut command = placed(&bin);
    command
        .env("ALTER_CONFIG", "/nonexistent/alter.toml")
        .env("ALTER_DATABASE__URL", env.db.url())
        .env("ALTER_DATABASE__MIGRATE", "false")
        .env("ALTER_NATS__URL", alter_bus::testing::test_nats_url())
        .env("ALTER_NATS__PREFIX", env.bus.names().prefix())
        .env("ALTER_SECRETS__MASTER_KEY", master_key)
        .env("ALTER_TELEMETRY__LOG_LEVEL", "warn")
        .env("ALTER_WEBHOOK_INGEST__LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "ALTER_WEBHOOK_INGEST__ADMIN_LISTEN",
            format!("127.0.0.1:{admin}"),
        );
    let ingest = Server::start(command, port, "webhook-ingest").await?;
    println!("webhook-ingest: {DELIVERIES} Auth0 deliveries, {IN_FLIGHT} in flight …");
    runs.push(
        measure(
            "webhook-ingest Auth0",
            &ingest,
            &http,
            auth0_deliveries(auth0, "iw", WARM_UP),
            auth0_deliveries(auth0, "im", DELIVERIES),
        )
        .await?,
    );
    println!("webhook-ingest: {DELIVERIES} Clerk (Svix) deliveries, {IN_FLIGHT} in flight …");
    runs.push(
        measure(
            "webhook-ingest Clerk (Svix)",
            &ingest,
            &http,
            clerk_deliveries(clerk, "cw", WARM_UP)?,
            clerk_deliveries(clerk, "cm", DELIVERIES)?,
        )
        .await?,
    );
    drop(ingest);
    Ok(Results { runs })
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
