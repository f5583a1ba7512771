//! End to end with a plateforme agréée (`relance_testkit::pa_fake`, on 127.0.0.1:0 in this test
//! process): the `relance` binary reads e-invoices from a folder, a bank statement, and the
//! platform's lifecycle statuses; an invoice refused (210) is not dunned and raises an alert,
//! one disputed (207) is held with its reason code and resumes after 209, and the receipt
//! matched to an invoice with two VAT rates sends one "212 Encaissée" with two amounts — once,
//! across a repeated cycle and across runs SIGKILLed during delivery. `relance check` reaches
//! the platform.

use super::cli_support::{relance, show};
use relance_connectors::formats::einvoice::write::{cii, SimpleInvoice};
use relance_testkit::pa_fake::FakePa;
use rust_decimal_macros::dec;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TODAY: &str = "2026-03-20";
const SECRET: &str = "e2e-pa-client-secret-never-printed";
/// 2026-03-02T08:00:00Z: the statuses are reported early in March.
const MARCH: i64 = 1_772_438_400;

fn invoice(
    number: &str,
    lines: Vec<(
        String,
        rust_decimal::Decimal,
        rust_decimal::Decimal,
        rust_decimal::Decimal,
    )>,
) -> SimpleInvoice {
    SimpleInvoice {
        number: number.into(),
        type_code: 380,
        issue_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 10).unwrap(),
        due_date: chrono::NaiveDate::from_ymd_opt(2026, 2, 10),
        currency: "EUR".into(),
        seller: ("Atelier Tilleul SAS".into(), Some("732829320".into())),
        buyer: (format!("Client {number} SARL"), None),
        buyer_reference: None,
        order_reference: None,
        iban: Some("FR7630004000031234567890143".into()),
        lines,
    }
}

fn invoices() -> Vec<SimpleInvoice> {
    vec![
        // paid by the bank: 800 € at 20 % and 200 € at 5.5 % = 1 171.00 €
        invoice(
            "F-E2E-1",
            vec![
                ("Pose".into(), dec!(1), dec!(800.00), dec!(20)),
                ("Livres".into(), dec!(1), dec!(200.00), dec!(5.5)),
            ],
        ),
        invoice(
            "F-E2E-2",
            vec![("Conseil".into(), dec!(1), dec!(500.00), dec!(20))],
        ),
        invoice(
            "F-E2E-3",
            vec![("Conseil".into(), dec!(1), dec!(700.00), dec!(20))],
        ),
    ]
}

fn camt053() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>E2E-{TODAY}</MsgId><CreDtTm>{TODAY}T06:00:00</CreDtTm></GrpHdr>
<Stmt><Id>E2E-STMT</Id><ElctrncSeqNb>1</ElctrncSeqNb><CreDtTm>{TODAY}T06:00:00</CreDtTm>
<Acct><Id><IBAN>FR7630004000031234567890143</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><NtryRef>1</NtryRef><Amt Ccy="EUR">1171.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-03-19</Dt></BookgDt><ValDt><Dt>2026-03-19</Dt></ValDt><AcctSvcrRef>E2E00000001</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>E2E00000001</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<AmtDtls><TxAmt><Amt Ccy="EUR">1171.00</Amt></TxAmt></AmtDtls><RltdPties><Dbtr><Nm>Client F-E2E-1 SARL</Nm></Dbtr></RltdPties>
<RmtInf><Ustrd>FACTURE F-E2E-1</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>
"#
    )
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(fake: &FakePa) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::create_dir_all(cfg.join("companies.d")).unwrap();
        for d in ["bank", "invoices"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("secret"), format!("{SECRET}\n")).unwrap();
        std::fs::write(
            cfg.join("relance.toml"),
            format!(
                "version = 1\nstate_dir = {:?}\nlisten = \"127.0.0.1:0\"\nlog_format = \"text\"\nlog_level = \"warn\"\n",
                dir.path().join("state").display().to_string()
            ),
        )
        .unwrap();
        let company = format!(
            "version = 1\nid = \"co\"\nname = \"Atelier Tilleul SAS\"\n\n[[sources]]\ntype = \"einvoice_inbox\"\nname = \"invoices\"\npath = {:?}\nsettle_secs = 0\n\n[[sources]]\ntype = \"bank_dir\"\nname = \"bank\"\npath = {:?}\nsettle_secs = 0\n\n[[sources]]\ntype = \"pa\"\nname = \"pa\"\n\n[sources.pa]\nurl = {:?}\ntoken_url = {:?}\nclient_id = \"relance-co\"\nclient_secret_file = {:?}\nseller_siren = \"732829320\"\nrequests_per_second = 0\n",
            dir.path().join("invoices").display().to_string(),
            dir.path().join("bank").display().to_string(),
            fake.url(),
            fake.token_url(),
            dir.path().join("secret").display().to_string(),
        );
        std::fs::write(cfg.join("companies.d/co.toml"), company).unwrap();
        for inv in invoices() {
            std::fs::write(
                dir.path().join(format!("invoices/{}.xml", inv.number)),
                cii(&inv),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("bank/releve.camt053.xml"), camt053()).unwrap();
        Setup { dir }
    }
    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }
    fn sync_cmd(&self) -> Command {
        self.sync_cmd_on(TODAY)
    }
    fn sync_cmd_on(&self, date: &str) -> Command {
        let mut c = relance();
        c.args([
            "sync",
            "--once",
            "--company",
            "co",
            "--date",
            date,
            "--config",
        ])
        .arg(self.config());
        c
    }
    fn sync_ok(&self) -> Duration {
        self.sync_ok_on(TODAY)
    }
    fn sync_ok_on(&self, date: &str) -> Duration {
        let t = Instant::now();
        let out = self.sync_cmd_on(date).output().unwrap();
        assert!(out.status.success(), "sync --once failed:\n{}", show(&out));
        assert!(!show(&out).contains(SECRET), "a secret in the output");
        t.elapsed()
    }
    /// How many files relance wrote for people or customers (tasks, outgoing mail) name `number`.
    fn mentions(&self, number: &str) -> usize {
        let base = self.dir.path().join("state/companies/co");
        let mut n = 0;
        let mut stack = vec![base];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.components().any(|c| {
                    matches!(
                        c.as_os_str().to_str(),
                        Some("tasks" | "outgoing-mail" | "letters")
                    )
                }) && std::fs::read(&p)
                    .map(|b| String::from_utf8_lossy(&b).contains(number))
                    .unwrap_or(false)
                {
                    n += 1;
                }
            }
        }
        n
    }
    fn plan(&self) -> serde_json::Value {
        self.plan_on(TODAY)
    }
    fn plan_on(&self, date: &str) -> serde_json::Value {
        let out = relance()
            .args([
                "dunning",
                "plan",
                "--company",
                "co",
                "--date",
                date,
                "--config",
            ])
            .arg(self.config())
            .output()
            .unwrap();
        assert!(out.status.success(), "dunning plan failed:\n{}", show(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", show(&out)))
    }
}

fn platform(rt: &tokio::runtime::Runtime) -> FakePa {
    let fake = rt.block_on(FakePa::start("relance-co", SECRET)).unwrap();
    fake.set_clock(MARCH);
    let inv = invoices();
    fake.add_invoice("F-E2E-1", &cii(&inv[0]));
    fake.add_status("F-E2E-1", 203, None, false);
    fake.add_status(
        "F-E2E-2",
        210,
        Some(("DOUBLON", "Facture en double")),
        false,
    );
    fake.add_status(
        "F-E2E-3",
        207,
        Some(("TX_TVA_ERR", "Taux de TVA erroné")),
        false,
    );
    fake
}

fn held<'a>(plan: &'a serde_json::Value, invoice: &str) -> Option<&'a str> {
    plan["held"]
        .as_array()?
        .iter()
        .find(|h| h["invoice"] == invoice)
        .and_then(|h| h["reason"].as_str())
}

fn dunned(plan: &serde_json::Value, invoice: &str) -> bool {
    plan["actions"].as_array().into_iter().flatten().any(|a| {
        a["invoices"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["invoice"] == invoice)
    })
}

fn the_212s(fake: &FakePa) -> Vec<relance_testkit::pa_fake::Received> {
    fake.received_212()
        .into_iter()
        .filter(|r| r.number == "F-E2E-1")
        .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn lifecycle_statuses_steer_the_dunning_and_212_is_sent_once() {
    let rt = rt();
    let fake = platform(&rt);
    let s = Setup::new(&fake);
    s.sync_ok();
    let plan = s.plan();
    // 210 Refusée: not dunned, an alert
    let why = held(&plan, "F-E2E-2").unwrap_or_else(|| panic!("F-E2E-2 not held: {plan:#}"));
    assert!(why.contains("210") && why.contains("Refusée"), "{why}");
    assert!(!dunned(&plan, "F-E2E-2"));
    assert!(
        plan["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "einvoice_refused" && a["invoice"] == "F-E2E-2"),
        "{plan:#}"
    );
    // 207 En litige: held with its reason code
    let why = held(&plan, "F-E2E-3").unwrap_or_else(|| panic!("F-E2E-3 not held: {plan:#}"));
    assert!(why.contains("207") && why.contains("TX_TVA_ERR"), "{why}");
    assert!(!dunned(&plan, "F-E2E-3"));
    assert_eq!(
        s.mentions("F-E2E-3"),
        0,
        "the disputed invoice is not reminded"
    );
    // the receipt: one 212 with two amounts, one per VAT rate
    let got = the_212s(&fake);
    assert_eq!(got.len(), 1, "{got:?}");
    let mut amounts = got[0].amounts.clone();
    amounts.sort();
    assert_eq!(
        amounts,
        vec![
            (Some(dec!(5.50)), dec!(211.00)),
            (Some(dec!(20.00)), dec!(960.00))
        ]
    );
    // a repeated cycle sends nothing again
    s.sync_ok();
    assert_eq!(the_212s(&fake).len(), 1);
    // 209 Complétée lifts the hold of F-E2E-3
    fake.add_status("F-E2E-3", 209, None, false);
    s.sync_ok();
    let plan = s.plan();
    assert!(held(&plan, "F-E2E-3").is_none(), "{plan:#}");
    assert!(
        s.mentions("F-E2E-3") > 0,
        "resumed after 209: a reminder names it"
    );
    assert!(held(&plan, "F-E2E-2").is_some());
    assert_eq!(
        s.mentions("F-E2E-2"),
        0,
        "the refused invoice is never reminded"
    );
    // relance check reaches the platform
    let out = relance()
        .args(["check", "--config"])
        .arg(s.config())
        .output()
        .unwrap();
    let text = show(&out);
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        out.status.success() && text.contains("co / pa (pa): ok"),
        "{text}"
    );
}

/// Starts `cmd` and SIGKILLs it after `after`; true if it was still running.
fn kill_after(mut cmd: Command, after: Duration) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while t.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = child.try_wait().unwrap().is_none() && child.kill().is_ok();
    let _ = child.wait();
    killed
}

#[test]
fn encaissee_is_sent_once_across_sigkill_during_delivery() {
    let rt = rt();
    let fake = platform(&rt);
    fake.set_delay(Duration::from_millis(150));
    let clean = Setup::new(&fake);
    let full = clean.sync_ok();
    assert_eq!(the_212s(&fake).len(), 1);
    drop(clean);
    drop(fake);

    let fake = platform(&rt);
    fake.set_delay(Duration::from_millis(150));
    let s = Setup::new(&fake);
    let mut kills = 0;
    for frac in [0.5, 0.7, 0.8, 0.9, 0.95, 0.6, 0.85] {
        let at = Duration::from_secs_f64((full.as_secs_f64() * frac).max(0.2));
        if kill_after(s.sync_cmd(), at) {
            kills += 1;
        }
        assert!(the_212s(&fake).len() <= 1, "a killed run sent a second 212");
    }
    assert!(kills > 0, "no run was killed");
    s.sync_ok();
    s.sync_ok();
    assert_eq!(the_212s(&fake).len(), 1, "{kills} kills");
}

/// A "211 Paiement transmis" holds the dunning until its date plus the bank lag; when that
/// passes and no credit covering it was applied, the plan alerts (the invoice, the 211's
/// platform, date and amount) and dunning resumes.
#[test]
fn a_broken_211_alerts_and_dunning_resumes() {
    let rt = rt();
    let fake = rt.block_on(FakePa::start("relance-co", SECRET)).unwrap();
    fake.set_clock(MARCH);
    let inv = invoices();
    fake.add_invoice("F-E2E-1", &cii(&inv[0]));
    // F-E2E-2: 500 € at 20 % = 600.00 €, announced paid on 2026-03-02
    fake.add_status_with_amounts("F-E2E-2", 211, None, false, &[(dec!(20), dec!(600.00))]);
    let s = Setup::new(&fake);
    // 2026-03-05: within 2026-03-02 + 5 days of bank lag: held, not dunned
    s.sync_ok_on("2026-03-05");
    let plan = s.plan_on("2026-03-05");
    let why = held(&plan, "F-E2E-2").unwrap_or_else(|| panic!("F-E2E-2 not held: {plan:#}"));
    assert!(
        why.contains("211") && why.contains("2026-03-02") && why.contains("by 2026-03-07"),
        "{why}"
    );
    assert!(!dunned(&plan, "F-E2E-2"), "{plan:#}");
    assert!(
        !plan["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["invoice"] == "F-E2E-2"),
        "{plan:#}"
    );
    assert_eq!(s.mentions("F-E2E-2"), 0, "not reminded while the 211 holds");
    // 2026-03-20: no credit came for F-E2E-2 (the statement pays F-E2E-1 only)
    let plan = s.plan();
    assert!(held(&plan, "F-E2E-2").is_none(), "{plan:#}");
    let alert = plan["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "promise_broken" && a["invoice"] == "F-E2E-2")
        .unwrap_or_else(|| panic!("no broken-promise alert for F-E2E-2: {plan:#}"));
    let msg = alert["message"].as_str().unwrap();
    assert!(
        msg.contains("211 Paiement transmis")
            && msg.contains("reported by pa on 2026-03-02")
            && msg.contains("600.00")
            && msg.contains("not kept"),
        "{msg}"
    );
    assert!(dunned(&plan, "F-E2E-2"), "dunning resumes: {plan:#}");
    s.sync_ok();
    assert!(
        s.mentions("F-E2E-2") > 0,
        "a reminder names it after the broken 211"
    );
}

/// `relance check` on a `chorus_pro` source, with the real binary against the fake PISTE +
/// Chorus Pro: ok with the right credentials; a wrong PISTE secret, a wrong technical account
/// and a wrong supplier structure each fail (exit status 1) naming the setting to fix, and no
/// secret is printed.
#[test]
fn check_reaches_chorus_pro_and_names_the_refused_credential() {
    const CP_SECRET: &str = "piste-secret-never-printed-77";
    const ACCOUNT: &str = "TECH_1_relance@cpro.fr:tech-password-never-printed";
    let rt = rt();
    let fake = rt
        .block_on(relance_testkit::chorus_fake::FakeChorus::start(
            "relance-app",
            CP_SECRET,
            ACCOUNT,
            7001,
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    std::fs::create_dir_all(cfg.join("companies.d")).unwrap();
    std::fs::write(
        cfg.join("relance.toml"),
        format!(
            "version = 1\nstate_dir = {:?}\nlisten = \"127.0.0.1:0\"\nlog_format = \"text\"\nlog_level = \"warn\"\n",
            dir.path().join("state").display().to_string()
        ),
    )
    .unwrap();
    let run = |secret: &str, account: &str, supplier: i64| {
        std::fs::write(dir.path().join("secret"), format!("{secret}\n")).unwrap();
        std::fs::write(dir.path().join("account"), format!("{account}\n")).unwrap();
        std::fs::write(
            cfg.join("companies.d/co.toml"),
            format!(
                "version = 1\nid = \"co\"\nname = \"Fournisseur public SAS\"\n\n[[sources]]\ntype = \"chorus_pro\"\nname = \"cpro\"\n\n[sources.chorus_pro]\nurl = {:?}\ntoken_url = {:?}\nclient_id = \"relance-app\"\nclient_secret_file = {:?}\naccount_file = {:?}\nsupplier_id = {supplier}\nrequests_per_second = 0\n",
                fake.url(),
                fake.token_url(),
                dir.path().join("secret").display().to_string(),
                dir.path().join("account").display().to_string(),
            ),
        )
        .unwrap();
        let out = relance()
            .args(["check", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        let text = show(&out);
        for secret in [
            CP_SECRET,
            "tech-password-never-printed",
            "wrong-secret-never-printed",
        ] {
            assert!(!text.contains(secret), "a secret in the output:\n{text}");
        }
        (out.status.success(), text)
    };
    let (ok, text) = run(CP_SECRET, ACCOUNT, 7001);
    assert!(ok && text.contains("co / cpro (chorus_pro): ok"), "{text}");

    let (ok, text) = run("wrong-secret-never-printed", ACCOUNT, 7001);
    assert!(!ok, "{text}");
    assert!(
        text.contains("co / cpro (chorus_pro): FAILED")
            && text.contains("PISTE refused the application's credentials")
            && text.contains("invalid_client"),
        "{text}"
    );

    let (ok, text) = run(
        CP_SECRET,
        "TECH_1_relance@cpro.fr:tech-password-never-printed-old",
        7001,
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("co / cpro (chorus_pro): FAILED")
            && text.contains("Chorus Pro refused the technical account")
            && text.contains("HTTP 403"),
        "{text}"
    );

    let (ok, text) = run(CP_SECRET, ACCOUNT, 9999);
    assert!(!ok, "{text}");
    assert!(
        text.contains("supplier structure 9999") && text.contains("codeRetour 20002"),
        "{text}"
    );
}

/// With `issued_invoices = true` the platform is the source of truth for the company's issued
/// invoices: no inbox, the `CustomerInvoice` flows (CII, UBL, Factur-X PDF) are pulled as
/// invoices, incrementally (a flow is downloaded once across cycles), the statuses that follow
/// act on them, and a flow that is not a readable invoice, or that the platform refused, is
/// quarantined with why.
#[test]
fn the_platform_as_the_source_of_issued_invoices() {
    use relance_connectors::formats::einvoice::write::{facturx_pdf, ubl};
    let rt = rt();
    let fake = rt.block_on(FakePa::start("relance-co", SECRET)).unwrap();
    fake.set_clock(MARCH);
    let inv = invoices();
    fake.add_invoice("F-E2E-1", &cii(&inv[0]));
    fake.add_invoice("F-E2E-2", &ubl(&inv[1]));
    let pdf = facturx_pdf(cii(&inv[2]).as_bytes()).unwrap();
    fake.add_invoice_file("F-E2E-3", "Factur-X", &pdf, "Ok");
    let garbage = fake.add_invoice_file("F-BAD", "CII", b"<rsm:CrossIndustryInvoice>cut", "Ok");
    let refused = fake.add_invoice_file("F-REFUSED", "UBL", &ubl(&inv[1]).into_bytes(), "Error");
    fake.add_status(
        "F-E2E-3",
        207,
        Some(("TX_TVA_ERR", "Taux de TVA erroné")),
        false,
    );
    let s = Setup::new(&fake);
    let path = s.config().join("companies.d/co.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // check-config: with the inbox still there, a warning names both sources of invoices
    std::fs::write(&path, format!("{text}issued_invoices = true\n")).unwrap();
    let check = relance()
        .args(["check-config", "--config"])
        .arg(s.config())
        .output()
        .unwrap();
    let said = show(&check);
    assert!(
        check.status.success()
            && said.contains("sources[0].type")
            && said.contains("source of truth for issued invoices"),
        "{said}"
    );
    // no inbox: the platform's flows are the only invoices
    let start = text.find("[[sources]]\ntype = \"einvoice_inbox\"").unwrap();
    let end = start + text[start..].find("\n\n").unwrap() + 2;
    let text = format!("{}{}issued_invoices = true\n", &text[..start], &text[end..]);
    std::fs::write(&path, text).unwrap();
    let check = relance()
        .args(["check-config", "--config"])
        .arg(s.config())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", show(&check));

    let out = s.sync_cmd().output().unwrap();
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        text.contains(&format!("quarantined flow {garbage}")),
        "an unreadable invoice flow is quarantined:\n{text}"
    );
    assert!(
        text.contains(&format!("quarantined flow {refused}"))
            && text.contains("the platform refused this invoice flow"),
        "a refused invoice flow is quarantined:\n{text}"
    );
    let plan = s.plan();
    // CII, UBL and Factur-X all read; the 207 that follows holds F-E2E-3
    let why = held(&plan, "F-E2E-3").unwrap_or_else(|| panic!("F-E2E-3 not held: {plan:#}"));
    assert!(why.contains("207") && why.contains("TX_TVA_ERR"), "{why}");
    assert!(s.mentions("F-E2E-2") > 0, "the UBL invoice is dunned");
    assert!(!dunned(&plan, "F-BAD") && !dunned(&plan, "F-REFUSED"));
    // the receipt pays F-E2E-1, given by the platform (no status of it needed): one 212, two
    // VAT rates
    let got = the_212s(&fake);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].amounts.len(), 2, "{got:?}");

    // incremental: a new invoice is read at the next cycle, the others are not downloaded again
    let later = invoice(
        "F-E2E-4",
        vec![("Conseil".into(), dec!(1), dec!(900.00), dec!(20))],
    );
    fake.add_invoice("F-E2E-4", &cii(&later));
    let downloads = |fake: &FakePa| {
        fake.arrivals()
            .iter()
            .filter(|(_, r)| r.starts_with("GET /flow-service/v1/flows/flow-inv-"))
            .count()
    };
    let before = downloads(&fake);
    s.sync_ok();
    assert_eq!(
        downloads(&fake),
        before + 1,
        "only the new flow is downloaded"
    );
    assert!(s.mentions("F-E2E-4") > 0, "the new invoice is dunned");
    assert_eq!(the_212s(&fake).len(), 1);
}

fn camt_entry(n: u32, amount: &str, day: &str, payer: &str, text: &str) -> String {
    format!(
        r#"<Ntry><NtryRef>{n}</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt><AcctSvcrRef>ER{n:09}</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>ER{n:09}</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls><RltdPties><Dbtr><Nm>{payer}</Nm></Dbtr></RltdPties>
<RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"#
    )
}

/// `relance ereporting`: the period's receipts not lettered to an invoice by its end are
/// reported in aggregate; a receipt lettered in the next period is that period's correction,
/// and the earlier report stays what it was.
#[test]
fn ereporting_reports_unlettered_receipts_and_corrects_them_next_period() {
    let rt = rt();
    let fake = rt.block_on(FakePa::start("relance-co", SECRET)).unwrap();
    fake.set_clock(MARCH);
    let s = Setup::new(&fake);
    let entries = [
        camt_entry(
            2,
            "300.00",
            "2026-03-18",
            "Client F-E2E-5 SARL",
            "FACTURE F-E2E-5",
        ),
        camt_entry(3, "45.00", "2026-03-10", "Inconnu SA", "VIREMENT DIVERS"),
    ]
    .join("\n");
    std::fs::write(
        s.dir.path().join("bank/mars-2.camt053.xml"),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>ER-2</MsgId><CreDtTm>2026-03-19T06:00:00</CreDtTm></GrpHdr>
<Stmt><Id>ER-STMT-2</Id><ElctrncSeqNb>2</ElctrncSeqNb><CreDtTm>2026-03-19T06:00:00</CreDtTm>
<Acct><Id><IBAN>FR7630004000031234567890143</IBAN></Id><Ccy>EUR</Ccy></Acct>
{entries}</Stmt></BkToCstmrStmt></Document>
"#
        ),
    )
    .unwrap();
    s.sync_ok();
    let report = |period: &str| -> serde_json::Value {
        let out = relance()
            .args([
                "ereporting",
                "--company",
                "co",
                "--period",
                period,
                "--config",
            ])
            .arg(s.config())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
    };
    let amounts = |v: &serde_json::Value| {
        let mut a: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["amount"].as_str().unwrap().to_owned())
            .collect();
        a.sort();
        a
    };
    let march = report("2026-03");
    assert_eq!(march["period"]["end"], "2026-03-31", "{march:#}");
    // F-E2E-1's receipt is lettered; the two others are not
    assert_eq!(
        amounts(&march["unlettered"]),
        ["300.00", "45.00"],
        "{march:#}"
    );
    assert_eq!(march["unlettered_total"]["EUR"], "345.00", "{march:#}");
    assert!(march["corrections"].as_array().unwrap().is_empty());

    // F-E2E-5 arrives in April: the 300.00 is lettered on 2026-04-05
    let inv5 = invoice(
        "F-E2E-5",
        vec![("Conseil".into(), dec!(1), dec!(250.00), dec!(20))],
    );
    std::fs::write(s.dir.path().join("invoices/F-E2E-5.xml"), cii(&inv5)).unwrap();
    s.sync_ok_on("2026-04-05");
    let april = report("2026-04");
    assert!(
        april["unlettered"].as_array().unwrap().is_empty(),
        "{april:#}"
    );
    let c = &april["corrections"][0];
    assert_eq!(c["amount"], "300.00", "{april:#}");
    assert_eq!(c["lettered_on"], "2026-04-05", "{april:#}");
    assert_eq!(c["invoices"][0], "F-E2E-5", "{april:#}");
    assert_eq!(april["corrections_total"]["EUR"], "300.00");
    // March's report is the same as before: the 300.00 was not lettered by March's end
    assert_eq!(
        report("2026-03")["unlettered_total"],
        march["unlettered_total"]
    );
}
