//! Runs `alter serve` in a child process against a test environment, on free ports.

use alter_testkit::{TestEnv, test_nats_url};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const ADMIN_TOKEN: &str = "alt_adm_cli-test-token";
pub const SECTIONS: [&str; 6] = [
    "config_api",
    "jwt_verifier",
    "directory_sync",
    "webhook_ingest",
    "grant_revoker",
    "audit_writer",
];

/// `alter …` with the test environment's database and NATS prefix in its environment.
pub fn alter(env: &TestEnv) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alter"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ALTER_CONFIG", "/nonexistent/alter.toml")
        .env("ALTER_DATABASE__URL", env.db.url())
        .env("ALTER_DATABASE__MIGRATE", "false")
        .env("ALTER_NATS__URL", test_nats_url())
        .env("ALTER_NATS__PREFIX", env.bus.names().prefix())
        .env("ALTER_TELEMETRY__LOG_LEVEL", "warn");
    for section in SECTIONS {
        let upper = section.to_uppercase();
        cmd.env(format!("ALTER_{upper}__LISTEN"), "127.0.0.1:0")
            .env(format!("ALTER_{upper}__ADMIN_LISTEN"), "127.0.0.1:0");
    }
    cmd
}

/// A running `alter serve`, with the ports each service printed.
pub struct Served {
    child: Option<Child>,
    /// service name → (port, admin port)
    pub ports: HashMap<String, (u16, u16)>,
}

impl Served {
    pub fn start(env: &TestEnv, services: &[&str]) -> Self {
        Self::start_with(env, services, &[])
    }

    /// With extra `ALTER_…` environment variables.
    pub fn start_with(env: &TestEnv, services: &[&str], vars: &[(&str, &str)]) -> Self {
        let token_hash = alter_secrets::hash_admin_token(ADMIN_TOKEN);
        let mut child = alter(env)
            .envs(vars.iter().copied())
            .env("ALTER_CONFIG_API__ADMIN_TOKEN_HASHES", token_hash)
            .arg("serve")
            .args(services)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut ports = HashMap::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    panic!("alter serve printed no start-up line within 30 s; got {ports:?}")
                });
            if line.starts_with("all services started") {
                break;
            }
            // "<name>   listening on :<port>  admin :<port>"
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [name, "listening", "on", port, "admin", admin] = words.as_slice() {
                let port = port.trim_start_matches(':').parse().unwrap();
                let admin = admin.trim_start_matches(':').parse().unwrap();
                ports.insert((*name).to_owned(), (port, admin));
            }
        }
        Self {
            child: Some(child),
            ports,
        }
    }

    pub fn endpoint(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.ports[service].0)
    }

    /// Sends SIGTERM and returns the exit status (waits at most 15 s).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(status) => status.unwrap(),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!("alter serve did not exit within 15 s of SIGTERM");
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
