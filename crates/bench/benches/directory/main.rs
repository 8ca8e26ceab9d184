//! The directory-sync benchmark (`make bench`, issue 9): in one run on this machine it measures
//! 1. **a full import** from the Okta simulator (100,000 users, 1,000 groups, 100,000
//!    memberships) by the release `directory-sync` binary in a child process, the app, IDP and
//!    credential set up through config-api (in-process) first: wall time from the run being
//!    requested to it being seen succeeded, users/s, and the worker's peak RSS (`VmHWM`); the
//!    same import of 10,000 users (100 groups, 10,000 memberships) in a fresh database and a
//!    fresh worker shows whether that peak grows with the directory,
//! 2. **the no-change re-run** of the 100k directory: wall time, and the rows it wrote, counted
//!    exactly by comparing every row version (`xmin`, `ctid`) of users, groups and memberships
//!    before and after,
//! 3. **floor A**: a bare HTTP client reading every page the import reads (the same listings,
//!    page sizes and `Link: rel="next"` cursors), one request after another, bodies read whole
//!    and not parsed,
//! 4. **floor B**: PostgreSQL's raw batched upsert of the same rows (`INSERT … SELECT … FROM
//!    UNNEST(…) ON CONFLICT DO NOTHING`, 1,000 rows per statement, one statement at a time on
//!    one connection) into tables `LIKE users/groups/memberships INCLUDING ALL`,
//!
//! and prints each target beside the floors it is held against. No timed assertions.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod floors;
mod setup;
mod worker;

use std::time::Duration;

use alter_idp_sim::{GenerateSpec, IdpSim};
use alter_testkit::TestEnv;

const ADMIN_TOKEN: &str = "alt_adm_bench-directory";
/// The large directory and the small one that shows whether memory grows with size.
const LARGE: GenerateSpec = GenerateSpec {
    users: 100_000,
    groups: 1_000,
    memberships_per_user: 1,
};
const SMALL: GenerateSpec = GenerateSpec {
    users: 10_000,
    groups: 100,
    memberships_per_user: 1,
};

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let sim = IdpSim::start().await?;

    // ---- the 10k import, in a database and a worker of its own ---------------------------------
    let env = TestEnv::new().await;
    let small = setup::Directory::start(&env, &sim, "dir-10k", SMALL).await?;
    let worker = worker::Worker::start(&env, &small.master_key).await?;
    println!("directory-sync: importing {} users …", SMALL.users);
    let small_import = worker.import(&small).await?;
    let small_rss = worker.peak_rss_kib()?;
    drop(worker);
    small.stop().await?;
    env.cleanup().await;

    // ---- the 100k import and its no-change re-run ----------------------------------------------
    let env = TestEnv::new().await;
    let large = setup::Directory::start(&env, &sim, "dir-100k", LARGE).await?;
    let worker = worker::Worker::start(&env, &large.master_key).await?;
    println!("directory-sync: importing {} users …", LARGE.users);
    let large_import = worker.import(&large).await?;
    let large_rss = worker.peak_rss_kib()?;
    let before = worker::row_versions(env.db.pool()).await?;
    println!("directory-sync: re-running the unchanged directory …");
    let rerun = worker.import(&large).await?;
    let after = worker::row_versions(env.db.pool()).await?;
    let rerun_writes = worker::written(&before, &after);
    let rerun_rss = worker.peak_rss_kib()?;
    drop(worker);

    // ---- the floors, over the same directory ---------------------------------------------------
    println!("floor A: reading every page the import reads …");
    let pages = floors::read_pages(&sim, &large.tenant).await?;
    println!("floor B: raw batched upsert of the same rows …");
    let upsert = floors::raw_upsert(&env, &sim, &large.tenant, LARGE).await?;
    large.stop().await?;
    env.cleanup().await;

    report(&Results {
        small: small_import,
        small_rss,
        large: large_import,
        large_rss,
        rerun,
        rerun_writes,
        rerun_rss,
        pages,
        upsert,
    });
    Ok(())
}

struct Results {
    small: worker::Import,
    small_rss: u64,
    large: worker::Import,
    large_rss: u64,
    rerun: worker::Import,
    rerun_writes: Vec<worker::Written>,
    rerun_rss: u64,
    pages: floors::Pages,
    upsert: floors::Upsert,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn met(ok: bool) -> &'static str {
    if ok { "MET" } else { "NOT MET" }
}

fn report(r: &Results) {
    println!();
    println!(
        "directory benchmark (release directory-sync in a child process, floating over both cores; Okta simulator and config-api in the driver)"
    );
    let import = |name: &str, spec: GenerateSpec, i: &worker::Import, rss: Option<u64>| {
        println!(
            "{name:<34} {:>7.2} s wall   {:>7.0} users/s   worker CPU {:>6.2} s   {} requests   {}{}",
            secs(i.wall),
            spec.users as f64 / secs(i.wall),
            i.cpu_seconds,
            i.run.requests,
            i.summary(),
            rss.map(|kib| format!("   peak RSS {:.1} MiB", mib(kib)))
                .unwrap_or_default(),
        );
    };
    import(
        "import 10k users (fresh database)",
        SMALL,
        &r.small,
        Some(r.small_rss),
    );
    import(
        "import 100k users (fresh database)",
        LARGE,
        &r.large,
        Some(r.large_rss),
    );
    import(
        "no-change re-run of the 100k",
        LARGE,
        &r.rerun,
        Some(r.rerun_rss),
    );
    let writes: usize = r.rerun_writes.iter().map(|w| w.new + w.gone).sum();
    println!(
        "  row versions the re-run changed (xmin:ctid of every row, before vs after): {writes} ({})",
        r.rerun_writes
            .iter()
            .map(|w| format!(
                "{}: {} new, {} gone of {} rows",
                w.table, w.new, w.gone, w.rows
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!(
        "floor A: bare HTTP page reads      {:>7.2} s        {} requests, {:.1} MB of bodies, one at a time",
        secs(r.pages.wall),
        r.pages.requests,
        r.pages.bytes as f64 / 1e6
    );
    println!(
        "floor B: raw batched upsert        {:>7.2} s        {} users {:.2} s, {} groups {:.2} s, {} memberships {:.2} s ({} rows/statement, one connection, tables LIKE … INCLUDING ALL)",
        secs(r.upsert.total()),
        r.upsert.users,
        secs(r.upsert.users_wall),
        r.upsert.groups,
        secs(r.upsert.groups_wall),
        r.upsert.memberships,
        secs(r.upsert.memberships_wall),
        floors::ROWS_PER_STATEMENT,
    );
    println!();
    println!("targets:");
    let wall = secs(r.large.wall);
    let floor = secs(r.pages.wall).max(secs(r.upsert.total()));
    let ratio = wall / floor;
    println!(
        "  100k import / slower floor = {wall:.2} / {floor:.2} s = {ratio:.2}x (target <= 1.2x) {}",
        met(ratio <= 1.2 && r.large.succeeded())
    );
    println!(
        "  100k import = {wall:.2} s (target <= 15 s) {}",
        met(wall <= 15.0 && r.large.succeeded())
    );
    let (small_mib, large_mib) = (mib(r.small_rss), mib(r.large_rss));
    println!(
        "  worker peak RSS at 100k = {large_mib:.1} MiB (target <= 150 MB) {}",
        met(r.large_rss as f64 * 1024.0 <= 150e6)
    );
    let growth = large_mib / small_mib;
    println!(
        "  peak RSS flat in size: 100k / 10k = {large_mib:.1} / {small_mib:.1} MiB = {growth:.2}x (target <= 1.25x for 10x the directory) {}",
        met(growth <= 1.25)
    );
    let rerun = secs(r.rerun.wall);
    println!(
        "  no-change re-run = {rerun:.2} s (target <= 10 s) {}",
        met(rerun <= 10.0 && r.rerun.succeeded())
    );
    println!(
        "  no-change re-run wrote {writes} rows (target 0) {}",
        met(writes == 0)
    );
}
