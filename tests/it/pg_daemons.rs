//! Three real `relance daemon` processes with one configuration and one PostgreSQL store:
//! the companies are spread over the three by their leases; every company cycles; a SIGKILLed
//! instance's companies are taken over within the lease time; an instance stopped (SIGSTOP)
//! past its lease loses its companies and, once continued, gives them up instead of writing;
//! SIGTERM releases the leases at once. The lease history never shows two owners at once.

use relance::store::PgStore;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COMPANIES: usize = 30;
const LEASE_SECS: u64 = 3;

struct Instance {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    fn start(config: &std::path::Path) -> Instance {
        // Instances of one configuration on one machine each have their runtime directory
        // (as systemd gives each unit its own), so each binds its own API socket.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let run = config.join(format!("run-{n}"));
        std::fs::create_dir_all(&run).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_relance"))
            .arg("daemon")
            .arg("--config")
            .arg(config)
            .env("RUNTIME_DIRECTORY", &run)
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .env_remove("WATCHDOG_USEC")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("STATE_DIRECTORY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (stderr, sink) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Instance { child, log }
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
        assert!(st.unwrap().success());
    }

    fn addr(&self) -> String {
        until(Duration::from_secs(60), "http listening", || {
            self.log.lock().unwrap().contains("http listening")
        });
        let log = self.log.lock().unwrap().clone();
        let at = log.find("addr=127.0.0.1:").expect("addr field");
        log[at + 5..].split_whitespace().next().unwrap().to_owned()
    }

    /// The instance's name in the lease table: `<hostname>-<pid>`.
    fn name(&self) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), self.child.id())
    }
}

fn metrics(addr: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Companies with at least one successful cycle, from a metrics page.
fn cycled(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter(|l| l.starts_with("relance_cycles_total{") && l.contains("outcome=\"ok\""))
        .filter_map(|l| {
            l.split("company=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

fn until(limit: Duration, what: &str, f: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

fn owners(pg: &PgStore) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (_, owner, live) in pg.leases_now().unwrap() {
        if let (Some(o), true) = (owner, live) {
            *out.entry(o).or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn three_daemons_share_companies_by_lease_through_kill_and_stop() {
    let Some(db) = crate::pg::test_db("daemons") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path();
    let url = std::env::var("RELANCE_PG_URL")
        .unwrap()
        .replace("/postgres", &format!("/{}", db.name));
    std::fs::write(cfg.join("pg.url"), format!("{url}\n")).unwrap();
    let pw = std::env::var("RELANCE_PG_PASSWORD_FILE").unwrap();
    std::fs::write(
        cfg.join("relance.toml"),
        format!(
            "version = 1\nstate_dir = \"state\"\nlisten = \"127.0.0.1:0\"\napi = {{ listen = \"127.0.0.1:0\" }}\nshutdown_timeout_secs = 10\n\
             store = {{ type = \"postgres\", url_file = \"pg.url\", password_file = \"{pw}\", \
             lease_secs = {LEASE_SECS}, renew_secs = 1, pool_size = 4 }}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(cfg.join("companies.d")).unwrap();
    for i in 0..COMPANIES {
        let id = format!("co{i:02}");
        std::fs::write(
            cfg.join(format!("companies.d/{id}.toml")),
            format!(
                "version = 1\nid = \"{id}\"\nname = \"{id} SAS\"\npoll_interval_secs = 1\n\n\
                 [[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\npath = \"inbox/{id}/bank\"\n"
            ),
        )
        .unwrap();
    }
    let pg = PgStore::open(&db.cfg).unwrap();
    let mut instances: Vec<Instance> = (0..3).map(|_| Instance::start(cfg)).collect();
    let addrs: Vec<String> = instances.iter().map(Instance::addr).collect();

    // Spread: every company leased, each instance near its share of 10.
    until(
        Duration::from_secs(60),
        "companies spread over three instances",
        || {
            let o = owners(&pg);
            o.values().sum::<usize>() == COMPANIES && o.len() == 3 && o.values().all(|n| *n >= 8)
        },
    );
    eprintln!("leases: {:?}", owners(&pg));
    // Every company cycles, on whichever instance holds it.
    until(Duration::from_secs(60), "every company cycles", || {
        let all: BTreeSet<String> = addrs.iter().flat_map(|a| cycled(&metrics(a))).collect();
        all.len() == COMPANIES
    });

    // SIGKILL one: its companies are taken over within the lease time.
    let dead = instances.remove(0);
    let dead_name = dead.name();
    assert!(
        owners(&pg).contains_key(&dead_name),
        "instance names: {:?}",
        owners(&pg)
    );
    dead.signal("KILL");
    let took = until(
        Duration::from_secs(30),
        "the killed instance's companies taken over",
        || {
            let o = owners(&pg);
            !o.contains_key(&dead_name) && o.values().sum::<usize>() == COMPANIES
        },
    );
    eprintln!("taken over in {took:?}: {:?}", owners(&pg));
    assert!(
        took <= Duration::from_secs(LEASE_SECS + 3),
        "takeover took {took:?}"
    );
    drop(dead);

    // SIGSTOP one past its lease: the other takes everything; SIGCONT: the stopped one
    // finds its leases lost and stops those companies rather than writing.
    let stopped = &instances[0];
    let stopped_name = stopped.name();
    stopped.signal("STOP");
    until(
        Duration::from_secs(30),
        "the running instance holds every company",
        || owners(&pg).get(&instances[1].name()) == Some(&COMPANIES),
    );
    stopped.signal("CONT");
    until(
        Duration::from_secs(30),
        "the continued instance reports its lost leases",
        || {
            metrics(&addrs[1])
                .lines()
                .any(|l| l.starts_with("relance_leases_lost_total") && !l.ends_with(" 0"))
        },
    );
    // Then it gets its share back.
    until(
        Duration::from_secs(60),
        "the continued instance takes its share again",
        || owners(&pg).get(&stopped_name).copied().unwrap_or(0) >= 10,
    );

    // SIGTERM: the leases are released at once.
    for i in &instances {
        i.signal("TERM");
    }
    for i in &mut instances {
        let end = Instant::now() + Duration::from_secs(30);
        while i.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < end, "daemon did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(
        owners(&pg).is_empty(),
        "leases left after SIGTERM: {:?}",
        owners(&pg)
    );
    let log: String = instances
        .iter()
        .map(|i| i.log.lock().unwrap().clone())
        .collect();
    assert!(log.contains("leases released"), "{log}");
    // Never two owners at once.
    let history = pg.lease_history().unwrap();
    for w in history.windows(2) {
        if w[0].0 == w[1].0 {
            assert!(
                w[1].3 >= w[0].4,
                "{} leased twice at once: {:?} / {:?}",
                w[0].0,
                w[0],
                w[1]
            );
        }
    }
    assert!(
        !log.contains(&pw),
        "a secret path is fine, but never the password"
    );
    let secret = std::fs::read_to_string(&pw).unwrap();
    assert!(!log.contains(secret.trim()), "the password was logged");
}
