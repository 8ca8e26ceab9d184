//! The release `directory-sync` in a child process over the benchmark's database and NATS
//! prefix, its imports requested and watched through config-api, and what is read from
//! outside it: peak resident memory (`VmHWM`) and CPU time (`/proc/<pid>/{status,stat}`).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alter_proto::admin::v1 as pb;
use alter_testkit::TestEnv;

use crate::setup::Directory;

/// How often the driver asks config-api whether the run has ended.
const POLL: Duration = Duration::from_millis(20);
const IMPORT_TIMEOUT: Duration = Duration::from_secs(600);

pub struct Worker {
    child: Child,
}

/// One import as the driver saw it.
pub struct Import {
    /// From RunDirectoryImport sent to GetDirectoryImport answering an ended state.
    pub wall: Duration,
    /// The worker's utime + stime over the same interval.
    pub cpu_seconds: f64,
    pub run: pb::DirectoryImport,
}

impl Import {
    pub fn succeeded(&self) -> bool {
        self.run.state == "succeeded"
    }

    /// The run's state and counts.
    pub fn summary(&self) -> String {
        let r = &self.run;
        let mut out = format!(
            "{}: {} imported, {} updated, {} groups, {} memberships added, {} deprovisioned, {} removed",
            r.state,
            r.users_imported,
            r.users_updated,
            r.groups,
            r.memberships_added,
            r.users_deprovisioned,
            r.memberships_removed
        );
        if !r.last_error.is_empty() {
            out.push_str(&format!(" (error: {})", r.last_error));
        }
        out
    }
}

impl Worker {
    /// Starts the release binary and waits until it answers `/readyz`.
    pub async fn start(env: &TestEnv, master_key: &str) -> anyhow::Result<Self> {
        let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/release/directory-sync");
        anyhow::ensure!(
            bin.exists(),
            "{} is missing: run `cargo build --release -p alter-directory-sync` (make bench does)",
            bin.display()
        );
        let (port, admin) = (free_port()?, free_port()?);
        let child = Command::new(&bin)
            .env("ALTER_CONFIG", "/nonexistent/alter.toml")
            .env("ALTER_DATABASE__URL", env.db.url())
            .env("ALTER_DATABASE__MIGRATE", "false")
            .env("ALTER_NATS__URL", alter_bus::testing::test_nats_url())
            .env("ALTER_NATS__PREFIX", env.bus.names().prefix())
            .env("ALTER_SECRETS__MASTER_KEY", master_key)
            .env(
                "ALTER_TELEMETRY__LOG_LEVEL",
                std::env::var("ALTER_BENCH_WORKER_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .env("ALTER_DIRECTORY_SYNC__LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "ALTER_DIRECTORY_SYNC__ADMIN_LISTEN",
                format!("127.0.0.1:{admin}"),
            )
            // The request budget must not pace the run: the simulator has no limit.
            .env("ALTER_DIRECTORY_SYNC__REQUESTS_PER_MINUTE", "1000000")
            .env("ALTER_DIRECTORY_SYNC__POLL_MS", "50")
            .env("ALTER_DIRECTORY_SYNC__SCHEDULE_HOURS", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut worker = Self { child };
        let http = reqwest::Client::new();
        let ready = format!("http://127.0.0.1:{admin}/readyz");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = worker.child.try_wait()? {
                anyhow::bail!("directory-sync exited at start ({status})");
            }
            if http
                .get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(worker);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "directory-sync was not ready within 30 s ({ready})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Requests an import of `dir`'s app and waits for it to end.
    pub async fn import(&self, dir: &Directory) -> anyhow::Result<Import> {
        let mut admin = dir.admin.clone();
        let cpu_before = self.cpu_seconds()?;
        let started = Instant::now();
        let run = admin
            .run_directory_import(pb::RunDirectoryImportRequest {
                app_id: dir.app.clone(),
                dry_run: false,
            })
            .await?
            .into_inner();
        anyhow::ensure!(run.created, "an import was already under way: {run:?}");
        // ALTER_BENCH_DIRECTORY_TRACE=1: print the run's counts each time its heartbeat moves them.
        let trace = std::env::var_os("ALTER_BENCH_DIRECTORY_TRACE").is_some();
        let mut last = String::new();
        loop {
            let run = admin
                .get_directory_import(pb::GetDirectoryImportRequest {
                    app_id: dir.app.clone(),
                    import_id: run.id.clone(),
                })
                .await?
                .into_inner();
            if trace {
                let now = format!(
                    "{}: {} users, {} groups, {} memberships, {} requests",
                    run.state, run.users_imported, run.groups, run.memberships_added, run.requests
                );
                if now != last {
                    println!("  {:>8.3} s  {now}", started.elapsed().as_secs_f64());
                    last = now;
                }
            }
            if !matches!(run.state.as_str(), "pending" | "running") {
                let wall = started.elapsed();
                return Ok(Import {
                    wall,
                    cpu_seconds: self.cpu_seconds()? - cpu_before,
                    run,
                });
            }
            anyhow::ensure!(
                started.elapsed() < IMPORT_TIMEOUT,
                "the import did not end within {IMPORT_TIMEOUT:?}: {run:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// `VmHWM`: the most resident memory the process has had, in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/{}/status", self.child.id()))
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

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every row version (`xmin:ctid`) of the directory's tables: a row written (inserted,
/// updated or deleted) between two readings shows as a version in one and not the other.
pub async fn row_versions(
    pool: &sqlx::PgPool,
) -> anyhow::Result<Vec<(&'static str, HashMap<String, usize>)>> {
    let mut out = Vec::new();
    for (table, sql) in [
        ("users", "SELECT xmin::text || ':' || ctid::text FROM users"),
        (
            "groups",
            "SELECT xmin::text || ':' || ctid::text FROM groups",
        ),
        (
            "memberships",
            "SELECT xmin::text || ':' || ctid::text FROM memberships",
        ),
    ] {
        let versions: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await?;
        let mut counted = HashMap::new();
        for v in versions {
            *counted.entry(v).or_insert(0) += 1;
        }
        out.push((table, counted));
    }
    Ok(out)
}

pub struct Written {
    pub table: &'static str,
    /// Rows before.
    pub rows: usize,
    pub new: usize,
    pub gone: usize,
}

/// Per table, the row versions only the second reading has (rows inserted or updated) and
/// those only the first has (rows updated or deleted).
pub fn written(
    before: &[(&'static str, HashMap<String, usize>)],
    after: &[(&'static str, HashMap<String, usize>)],
) -> Vec<Written> {
    before
        .iter()
        .zip(after)
        .map(|((table, b), (_, a))| {
            let gone: usize = b
                .iter()
                .map(|(v, n)| n.saturating_sub(a.get(v).copied().unwrap_or(0)))
                .sum();
            let new: usize = a
                .iter()
                .map(|(v, n)| n.saturating_sub(b.get(v).copied().unwrap_or(0)))
                .sum();
            Written {
                table,
                rows: b.values().sum(),
                new,
                gone,
            }
        })
        .collect()
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
