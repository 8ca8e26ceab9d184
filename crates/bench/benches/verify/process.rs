//! The servers under load, each in its own child process placed by the [`Layout`]: the release
//! `jwt-verifier`, and `noop-verifier` (the transport floor). What is read from outside the
//! process: its CPU time and resident memory (`/proc`), and the verifier's own `/metrics`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alter_proto::identity::v1::VerifyResponse;
use prost::Message;
use tonic::transport::Channel;

use crate::CHANNELS;

/// Where the driver and the servers run. `pinned` (the default): each server gets core 1 with
/// one runtime worker — one replica on one dedicated vCPU, as deployed — and the driver runs
/// on core 0. `shared` (`ALTER_BENCH_LAYOUT=shared`): all float over both cores; the driver
/// then competes with the server for CPU and the tail latency includes the OS scheduling the
/// two against each other. Only one server is under load at any time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Pinned,
    Shared,
}

pub fn layout() -> Layout {
    match std::env::var("ALTER_BENCH_LAYOUT").as_deref() {
        Ok("shared") => Layout::Shared,
        _ => Layout::Pinned,
    }
}

/// A server in a child process on free ports, with `CHANNELS` HTTP/2 connections to it.
pub struct ServerProcess {
    child: Child,
    /// The verifier's `/metrics` port; the no-op server has none.
    admin: Option<u16>,
    pub channels: Vec<Channel>,
}

impl ServerProcess {
    /// The release `jwt-verifier` over `database_url`, with extra `ALTER_…` settings.
    pub async fn verifier(
        database_url: &str,
        nats_prefix: &str,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/release/jwt-verifier");
        anyhow::ensure!(
            bin.exists(),
            "{} is missing: run `cargo build --release -p alter-jwt-verifier` (make bench does)",
            bin.display()
        );
        let port = free_port()?;
        let admin = free_port()?;
        let mut command = placed(&bin);
        command
            .env("ALTER_CONFIG", "/nonexistent/alter.toml")
            .env("ALTER_DATABASE__URL", database_url)
            .env("ALTER_DATABASE__MIGRATE", "false")
            .env("ALTER_NATS__URL", alter_bus::testing::test_nats_url())
            .env("ALTER_NATS__PREFIX", nats_prefix)
            .env("ALTER_TELEMETRY__LOG_LEVEL", "warn")
            .env("ALTER_JWT_VERIFIER__LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "ALTER_JWT_VERIFIER__ADMIN_LISTEN",
                format!("127.0.0.1:{admin}"),
            );
        for (key, value) in settings {
            command.env(key, value);
        }
        Self::spawn(command, port, Some(admin), "jwt-verifier").await
    }

    /// `noop-verifier` (built with this bench), answering `answer` to every call.
    pub async fn noop(answer: &VerifyResponse) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut command = placed(std::path::Path::new(env!("CARGO_BIN_EXE_noop-verifier")));
        command
            .arg(format!("127.0.0.1:{port}"))
            .arg(hex::encode(answer.encode_to_vec()));
        Self::spawn(command, port, None, "noop-verifier").await
    }

    async fn spawn(
        mut command: Command,
        port: u16,
        admin: Option<u16>,
        name: &str,
    ) -> anyhow::Result<Self> {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut server = Self {
            child,
            admin,
            channels: Vec::new(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.channels.len() < CHANNELS {
            match tonic::transport::Endpoint::from_shared(url.clone())?
                .tcp_nodelay(true)
                .connect()
                .await
            {
                Ok(c) => server.channels.push(c),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => anyhow::bail!("{name} did not start on {url}: {e}"),
            }
        }
        Ok(server)
    }

    /// The verifier's `/metrics` text.
    fn metrics(&self, admin: u16) -> anyhow::Result<String> {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", admin))?;
        conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")?;
        let mut text = String::new();
        conn.read_to_string(&mut text)?;
        Ok(text)
    }

    /// The cumulative `alter_verify_seconds` histogram from the verifier's `/metrics`:
    /// (upper bound in seconds, count of calls at or under it). None for the no-op server.
    pub fn server_histogram(&self) -> anyhow::Result<Option<Vec<(f64, u64)>>> {
        let Some(admin) = self.admin else {
            return Ok(None);
        };
        let text = self.metrics(admin)?;
        let mut buckets = Vec::new();
        for line in text
            .lines()
            .filter(|l| l.starts_with("alter_verify_seconds_bucket"))
        {
            let le = line
                .split("le=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("");
            let count: u64 = line.rsplit(' ').next().unwrap_or("0").parse()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse()?
            };
            buckets.push((le, count));
        }
        anyhow::ensure!(
            !buckets.is_empty(),
            "the verifier exposes no alter_verify_seconds histogram"
        );
        Ok(Some(buckets))
    }

    /// How many calls the verifier answered from its token cache so far
    /// (`alter_verify_cache_total{cache="token",result="hit"}`).
    pub fn token_cache_hits(&self) -> anyhow::Result<u64> {
        let admin = self
            .admin
            .ok_or_else(|| anyhow::anyhow!("only the verifier has a token cache"))?;
        let text = self.metrics(admin)?;
        let line = text.lines().find(|l| {
            l.starts_with("alter_verify_cache_total{")
                && l.contains("cache=\"token\"")
                && l.contains("result=\"hit\"")
        });
        Ok(match line {
            Some(line) => line.rsplit(' ').next().unwrap_or("0").parse()?,
            None => 0,
        })
    }

    /// utime + stime of the whole process (all threads), in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or(&stat);
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // After ")": state is field 3 → index 0; utime is field 14 → index 11, stime index 12.
        let utime: f64 = fields[11].parse()?;
        let stime: f64 = fields[12].parse()?;
        Ok((utime + stime) / clock_ticks())
    }

    /// Resident memory of the process (`VmRSS` of `/proc/<pid>/status`), in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{}/status", self.child.id()))?
            .parse()?;
        Ok(kib * 1024)
    }

    pub fn stop(&mut self) {
        self.channels.clear();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A command running `bin` where the layout puts servers (`taskset` execs it, so the child's
/// pid is the server's).
fn placed(bin: &std::path::Path) -> Command {
    match layout() {
        Layout::Pinned => {
            let mut c = Command::new("taskset");
            c.args(["-c", "1"])
                .arg(bin)
                .env("TOKIO_WORKER_THREADS", "1");
            c
        }
        Layout::Shared => Command::new(bin),
    }
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
