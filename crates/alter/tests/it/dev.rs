//! `alter dev` and `alter demo` as a newcomer runs them: nothing but the binary (no
//! PostgreSQL, no NATS — the child gets neither URL), state in a directory that survives a
//! restart, and every shell example of the README and `docs/` run as written against
//! `alter dev --with-sim`.
//!
//! These tests use the documented fixed ports (config-api 50051, webhook-ingest 8080, the
//! simulator 9000, …) because the docs' examples name them; one runs at a time.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// One `alter dev` at a time: they share the documented ports.
static PORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `alter …` with a clean environment: no database or NATS URL, no config file.
fn alter(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alter"));
    cmd.env_clear()
        .current_dir(cwd)
        .env("PATH", path_with_alter())
        .env("HOME", cwd)
        .env("ALTER_CONFIG", "/nonexistent/alter.toml");
    cmd
}

/// `$PATH` with the directory of the `alter` binary under test first, as the README's
/// `export PATH=…` does.
fn path_with_alter() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_alter"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("alter-dev-{name}-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// A running `alter dev`, stopped with SIGTERM on drop.
struct Dev {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
}

impl Dev {
    /// Starts `alter dev [args]` in `cwd` and waits for its ready line; returns what it
    /// printed up to then.
    fn start(cwd: &Path, args: &[&str]) -> (Self, Vec<String>) {
        let mut child = alter(cwd)
            .arg("dev")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = read_lines(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| {
                    panic!("alter dev was not ready within 60 s; printed {seen:#?}")
                });
            let ready = line.starts_with("alter dev is ready");
            seen.push(line);
            if ready {
                break;
            }
        }
        (
            Self {
                child: Some(child),
                lines,
            },
            seen,
        )
    }

    /// SIGTERM, and the exit status (at most 20 s).
    fn stop(mut self) -> std::process::ExitStatus {
        let child = self.child.take().unwrap();
        terminate(child)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = terminate(child);
        }
        while self.lines.try_recv().is_ok() {}
    }
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(status) => status.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("alter did not exit within 20 s of SIGTERM");
        }
    }
}

fn read_lines(stdout: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `alter <args>` against the dev instance whose state is in `cwd/.alter`.
fn cli(cwd: &Path, args: &[&str]) -> std::process::Output {
    let token = std::fs::read_to_string(cwd.join(".alter/admin-token")).unwrap();
    alter(cwd)
        .env("ALTER_ADMIN_TOKEN", token.trim())
        .args(args)
        .output()
        .unwrap()
}

fn stdout_of(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn alter_dev_keeps_its_state_across_a_restart() {
    let _ports = PORTS.lock().await;
    let cwd = temp_dir("restart");
    let (dev, banner) = Dev::start(&cwd, &[]);
    let token = std::fs::read_to_string(cwd.join(".alter/admin-token")).unwrap();
    assert!(
        banner.iter().any(|l| l.contains(token.trim())),
        "the banner prints a ready-to-paste admin token: {banner:#?}"
    );
    let app = stdout_of(&cli(&cwd, &["apps", "create", "Kept", "--field", "id"]));
    let grant = stdout_of(&cli(
        &cwd,
        &[
            "grants",
            "create",
            "--app",
            &app,
            "--credential",
            "db:kept",
            "--system",
            "--field",
            "id",
        ],
    ));
    // The admin changes reach the audit trail through the embedded bus.
    let mut rows = String::new();
    for _ in 0..100 {
        rows = stdout_of(&cli(
            &cwd,
            &["audit", "verify", "--app", &app, "--field", "rows"],
        ));
        if rows != "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(rows, "0", "the grant's audit record reached the trail");
    assert!(dev.stop().success(), "alter dev exits 0 on SIGTERM");

    let (dev, _) = Dev::start(&cwd, &[]);
    let listed = stdout_of(&cli(&cwd, &["--json", "apps", "list"]));
    assert!(
        listed.contains(&app),
        "the app survived the restart: {listed}"
    );
    let grants = stdout_of(&cli(&cwd, &["--json", "grants", "list", "--app", &app]));
    assert!(
        grants.contains(&grant),
        "the grant survived the restart: {grants}"
    );
    let after = stdout_of(&cli(
        &cwd,
        &["audit", "verify", "--app", &app, "--field", "rows"],
    ));
    assert_eq!(
        after, rows,
        "the trail is kept, and nothing was applied twice"
    );
    assert!(dev.stop().success());
    let _ = std::fs::remove_dir_all(&cwd);
}

#[tokio::test]
async fn alter_demo_walks_through_every_step_and_each_one_does_what_it_says() {
    let _ports = PORTS.lock().await;
    let cwd = temp_dir("demo");
    let child = alter(&cwd)
        .args(["demo", "--non-interactive"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(Duration::from_secs(180))
        .expect("alter demo finished within 3 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "alter demo failed:\n{stdout}\n{stderr}"
    );
    let step = |n: usize| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("✔ step {n}/7")))
            .unwrap_or_else(|| panic!("step {n} did not finish:\n{stdout}"))
            .to_owned()
    };
    assert!(step(1).contains("app "), "{}", step(1));
    assert!(
        step(2).contains("(okta)"),
        "recognised as Okta: {}",
        step(2)
    );
    assert!(step(3).contains("Ada provisioned as"), "{}", step(3));
    assert!(step(4).contains("Verify lists 2 grants"), "{}", step(4));
    let refused = step(5);
    let ms: f64 = refused
        .split("refused Ada ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no measured time in {refused}"));
    assert!(ms > 0.0, "{refused}");
    assert!(
        stdout.contains("PermissionDenied"),
        "Verify refused with PERMISSION_DENIED:\n{stdout}"
    );
    // Ada and the four others of the seeded directory.
    assert!(step(6).contains("the app knows 5 users"), "{}", step(6));
    assert!(step(7).contains("audit chain intact"), "{}", step(7));
    // Each step shows the command that does it by hand.
    for command in [
        "$ alter --json apps create Demo",
        "$ alter --json idp discover http://127.0.0.1:9000/okta/oauth2/default",
        "/_control/tenants/okta/tokens",
        "alter.identity.v1.Verifier/Verify",
        "$ ALTER_WEBHOOK_SECRET=alter-demo-okta-hook alter --json webhooks enable",
        "/_control/tenants/okta/webhooks/okta",
        "$ alter directory import run --wait",
        "$ alter audit list",
    ] {
        assert!(
            stdout.contains(command),
            "missing {command:?} in:\n{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&cwd);
}

/// The shell blocks (```sh) of a document, in order.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start() == "```sh" => current = Some(String::new()),
            Some(block) if line.trim_start() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// Every ```sh example of the README and of `docs/` runs as written, one document after
/// another, against one `alter dev --with-sim` (a document may use what its earlier blocks
/// set up). Blocks that are not meant to run here are fenced `text` or `console` instead.
#[tokio::test]
async fn every_shell_example_in_the_readme_and_docs_runs_against_alter_dev_with_sim() {
    let _ports = PORTS.lock().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut documents = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    documents.extend(docs);
    let cwd = temp_dir("docs");
    let (dev, _) = Dev::start(&cwd, &["--with-sim"]);
    let mut ran = 0;
    for document in &documents {
        let text = std::fs::read_to_string(document).unwrap();
        let blocks = shell_blocks(&text);
        if blocks.is_empty() {
            continue;
        }
        let script = format!("set -euo pipefail\n{}", blocks.join("\n"));
        let output = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(&cwd)
            .env_clear()
            .env("PATH", path_with_alter())
            .env("HOME", &cwd)
            .env("ALTER_CONFIG", "/nonexistent/alter.toml")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "an example in {} failed:\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            document.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        ran += blocks.len();
    }
    assert!(ran >= 5, "only {ran} examples found: are the fences ```sh?");
    assert!(dev.stop().success());
    let _ = std::fs::remove_dir_all(&cwd);
}
