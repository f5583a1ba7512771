//! Every decision kind posted through the operator API, each checked in the outcome of the
//! company's next cycle (the real binary): a confirmed suggestion applied and its payer's
//! IBAN learnt (the next receipt from it matched alone), a rejection never proposed again,
//! splits, reassignments, receipts assigned, residues written off; disputes, holds, promises
//! and payment plans holding dunning, a broken promise and a missed instalment resuming it with
//! an alert; a procédure collective in the closing; approvals of mises en demeure delivered
//! once to a real SMTP server (a cancelled one never); a closing approved with an overridden
//! rate booked once through the outbox and its FEC downloaded; a dead letter retried.

use super::decisions_support::{Desk, COMPANY};
use serde_json::{json, Value};

const LEROY: &str = "399123454";
const ROUX: &str = "412998874";
const SNB: &str = "800445124";

/// The receivable `invoice` as the API lists it on `date`.
fn receivable(d: &Desk, date: &str, invoice: &str) -> Value {
    let page = d.get(date, "/receivables?limit=1000").body;
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .find(|r| r["id"] == invoice)
        .cloned()
        .unwrap_or(Value::Null)
}

fn dec(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap()
}

/// What is open on `invoice` on `date` (zero once settled).
fn open(d: &Desk, date: &str, invoice: &str) -> rust_decimal::Decimal {
    let r = receivable(d, date, invoice);
    r["open"]
        .as_str()
        .unwrap_or_else(|| panic!("{invoice} not listed: {r}"))
        .parse()
        .unwrap()
}

/// The exceptions of `kind` on `date`.
fn exceptions(d: &Desk, date: &str, kind: &str) -> Vec<Value> {
    let page = d
        .get(date, &format!("/exceptions?kind={kind}&limit=1000"))
        .body;
    page["items"].as_array().cloned().unwrap_or_default()
}

/// The next run on `date`: (actions, not reminded, alerts).
fn next_run(d: &Desk, date: &str) -> Value {
    d.get(date, &format!("/next-run?date={date}")).body
}

fn why_not(run: &Value, invoice: &str) -> String {
    run["not_sent"]
        .as_array()
        .unwrap_or_else(|| panic!("{run}"))
        .iter()
        .find(|n| n["invoice"] == invoice)
        .map(|n| n["reason"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

fn planned_invoices(run: &Value) -> Vec<String> {
    run["actions"]
        .as_array()
        .unwrap_or_else(|| panic!("{run}"))
        .iter()
        .flat_map(|a| {
            a["invoices"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|i| i["invoice"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

/// Asserts the decision under `key` was applied (once) by a cycle, and returns its audit.
fn applied(d: &Desk, key: &str) -> Value {
    let events = d.applied(key);
    assert_eq!(events.len(), 1, "{key}: {events:?}");
    assert_eq!(
        events[0]["outcome"]["status"], "applied",
        "{key}: {}",
        events[0]
    );
    events[0].clone()
}

fn suggested(d: &Desk, date: &str, tx: &str, invoice: &str) -> bool {
    exceptions(d, date, "suggestion")
        .iter()
        .any(|e| e["details"]["transaction"] == tx && e["details"]["invoice"] == invoice)
}

#[test]
fn match_decisions_are_applied_by_the_next_cycle() {
    let d = Desk::new(None);
    d.cycle("2026-06-30");
    // The engine waits for a person on two receipts.
    assert!(suggested(
        &d,
        "2026-06-30",
        "BQ2606250000007",
        "FA-2026-0106"
    ));
    assert!(suggested(
        &d,
        "2026-06-30",
        "BQ2606150000004",
        "FA-2026-0105"
    ));

    d.decide(
        "2026-06-30",
        "collector",
        "confirm-durand",
        json!({"type": "confirm_match", "transaction": "BQ2606250000007", "invoice": "FA-2026-0106"}),
    );
    d.decide(
        "2026-06-30",
        "collector",
        "reject-petit",
        json!({"type": "reject_match", "transaction": "BQ2606150000004", "invoice": "FA-2026-0105",
               "reason": "Mme Petit paid an order, not this invoice"}),
    );
    // Recorded, not applied yet: the cycle applies them.
    assert!(d.applied("confirm-durand").is_empty());
    assert_eq!(open(&d, "2026-06-30", "FA-2026-0106"), dec("2160.00"));

    d.cycle("2026-07-01");
    applied(&d, "confirm-durand");
    applied(&d, "reject-petit");
    // The confirmed suggestion is applied: the invoice is paid, the suggestion gone.
    assert_eq!(open(&d, "2026-07-01", "FA-2026-0106"), dec("0.00"));
    assert!(!suggested(
        &d,
        "2026-07-01",
        "BQ2606250000007",
        "FA-2026-0106"
    ));
    // The rejected pair is not proposed again, in this cycle or the next.
    for date in ["2026-07-01", "2026-07-02"] {
        if date != "2026-07-01" {
            d.cycle(date);
        }
        assert!(
            !suggested(&d, date, "BQ2606150000004", "FA-2026-0105"),
            "{date}: {:?}",
            exceptions(&d, date, "suggestion")
        );
    }
    // The payer's IBAN is learnt for the customer.
    let customers = d.get("2026-07-01", "/customers?limit=1000").body;
    let leroy = customers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == LEROY)
        .cloned()
        .unwrap();
    assert!(
        leroy["ibans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().replace(' ', "") == "FR483000400009876543210123"),
        "{leroy}"
    );
}

fn alerts(run: &Value) -> Vec<String> {
    run["alerts"]
        .as_array()
        .unwrap_or_else(|| panic!("{run}"))
        .iter()
        .map(|a| {
            format!(
                "{} {}: {}",
                a["kind"].as_str().unwrap_or(""),
                a["customer"].as_str().unwrap_or(""),
                a["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn pauses_hold_dunning_and_broken_ones_resume_it() {
    let d = Desk::new(None);
    d.cycle("2026-06-30");
    let c = "collector";
    let day = "2026-06-30";
    d.decide(
        day,
        c,
        "promise-leroy",
        json!({"type": "promise_to_pay", "customer": LEROY,
        "invoices": ["FA-2026-0107"], "date": "2026-07-10", "amount": "216.00"}),
    );
    d.decide(day, c, "plan-snb", json!({"type": "payment_plan", "customer": SNB,
        "invoices": ["FA-2026-0108"],
        "instalments": [{"date": "2026-07-10", "amount": "5100.00"}, {"date": "2026-08-10", "amount": "5100.00"}]}));
    d.decide(
        day,
        c,
        "hold-roux",
        json!({"type": "hold", "customer": ROUX, "until": "2026-08-31",
        "reason": "the customer's accountant is on leave"}),
    );
    d.decide(
        day,
        c,
        "dispute-leroy",
        json!({"type": "dispute", "customer": LEROY, "invoice": "FA-2026-0106",
        "reason": "the customer contests the hours billed"}),
    );
    // A pause needs its reason.
    let why = d.refused(
        day,
        c,
        "dispute-no-reason",
        json!({"type": "dispute", "customer": LEROY, "invoice": "FA-2026-0106"}),
    );
    assert!(why.contains("reason"), "{why}");

    d.cycle("2026-07-01");
    for k in ["promise-leroy", "plan-snb", "hold-roux", "dispute-leroy"] {
        applied(&d, k);
    }
    // Held, each with its reason, shown as paused and in the queue.
    let run = next_run(&d, "2026-07-08");
    let planned = planned_invoices(&run);
    for inv in [
        "FA-2026-0106",
        "FA-2026-0107",
        "FA-2026-0108",
        "FA-2026-0111",
        "FA-2026-0113",
    ] {
        assert!(!planned.contains(&inv.to_owned()), "{inv} planned: {run}");
    }
    assert!(
        why_not(&run, "FA-2026-0107").contains("promise to pay"),
        "{run}"
    );
    assert!(
        why_not(&run, "FA-2026-0108").contains("échéancier"),
        "{run}"
    );
    assert!(
        why_not(&run, "FA-2026-0113").contains("manual hold"),
        "{run}"
    );
    assert!(why_not(&run, "FA-2026-0106").contains("litige"), "{run}");
    let r = receivable(&d, "2026-07-08", "FA-2026-0106");
    assert_eq!(r["paused"], true, "{r}");
    assert!(exceptions(&d, "2026-07-08", "hold")
        .iter()
        .any(|e| e["id"] == format!("hold:{LEROY}:FA-2026-0106")));
    d.cycle("2026-07-08");

    // The dispute is settled: ended by a person, dunned again.
    d.decide(
        "2026-07-08",
        c,
        "end-dispute-leroy",
        json!({"type": "end_pause", "pause": "dispute-leroy",
        "reason": "credit note agreed, the rest is due"}),
    );
    d.cycle("2026-07-09");
    applied(&d, "end-dispute-leroy");
    let r = receivable(&d, "2026-07-09", "FA-2026-0106");
    assert_eq!(r["paused"], false, "{r}");
    assert!(!why_not(&next_run(&d, "2026-07-09"), "FA-2026-0106").contains("litige"));

    // Nothing paid by the promised date nor the first instalment: dunning resumes with an
    // alert, escalated for the plan; the hold still holds.
    let run = next_run(&d, "2026-07-25");
    let a = alerts(&run);
    assert!(
        a.iter()
            .any(|m| m.contains(LEROY) && m.contains("not kept")),
        "{a:?}"
    );
    assert!(
        a.iter().any(|m| m.contains(SNB) && m.contains("missed")),
        "{a:?}"
    );
    assert!(
        !why_not(&run, "FA-2026-0107").contains("promise to pay 216.00 by"),
        "{run}"
    );
    assert!(
        !why_not(&run, "FA-2026-0108").contains("échéancier on track"),
        "{run}"
    );
    assert!(
        why_not(&run, "FA-2026-0113").contains("manual hold"),
        "{run}"
    );
    let out = d.cycle("2026-07-25");
    assert!(out.contains("demo: "), "{out}");
}

/// The messages the SMTP peer received: (recipients, subject, attachment names).
fn mails(sink: &relance_testkit::smtp::Sink) -> Vec<(String, String, Vec<String>)> {
    (1..=sink.messages().len())
        .map(|n| {
            let m = sink.summary(n);
            (
                m["rcpt_tos"].to_string(),
                m["subject"].as_str().unwrap_or("").to_owned(),
                m["attachments"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| x["filename"].as_str().unwrap_or("").to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn med_mails(sink: &relance_testkit::smtp::Sink, to: &str) -> usize {
    mails(sink)
        .iter()
        .filter(|(rcpt, _, att)| {
            rcpt.contains(to) && att.iter().any(|a| a.starts_with("mise_en_demeure"))
        })
        .count()
}

/// The letters held for approval (`all`: also the approved and cancelled ones).
fn letters(d: &Desk, date: &str, all: bool) -> Vec<Value> {
    let r = d.request(date, json!({"request": "letters", "all": all}));
    assert_eq!(r["response"], "letters", "{r}");
    r["body"].as_array().cloned().unwrap_or_default()
}

fn waiting_for(d: &Desk, date: &str, customer: &str) -> Option<Value> {
    letters(d, date, false)
        .into_iter()
        .find(|l| l["customer"] == customer && l["status"]["status"] == "waiting")
}

#[test]
fn approved_letters_are_sent_once_and_cancelled_ones_never() {
    let Some(sink) = relance_testkit::smtp::Sink::start(&[]) else {
        return;
    };
    let d = Desk::new(Some(&sink));
    d.add_customers(&[
        (LEROY, "compta@leroy.example", None),
        (ROUX, "compta@roux.example", None),
        (
            SNB,
            "compta@snb.example",
            Some(("3 quai des Chartrons", "33000", "Bordeaux")),
        ),
        (
            "MME CLAIRE PETIT",
            "claire.petit@example.org",
            Some(("8 rue Neuve", "47000", "Agen")),
        ),
    ]);
    let first = d.cycle("2026-06-30");
    // Mme Petit's receipt is not hers to pay this invoice: she is dunned.
    d.decide(
        "2026-06-30",
        "collector",
        "reject-petit",
        json!({"type": "reject_match",
        "transaction": "BQ2606150000004", "invoice": "FA-2026-0105", "reason": "another order"}),
    );
    d.cycle("2026-07-01");
    let before = sink.messages().len();
    assert!(
        before >= 1,
        "the formal reminders went by e-mail: {:?} {first} {}",
        mails(&sink),
        std::fs::read_to_string(d.config().join("companies.d/demo.toml")).unwrap()
    );

    // The mises en demeure are planned, rendered, and wait for a person: nothing is sent.
    d.cycle("2026-07-15");

    for c in [LEROY, ROUX, SNB] {
        let l = waiting_for(&d, "2026-07-15", c).unwrap_or_else(|| {
            panic!(
                "no letter waiting for {c}: {:?} {:?} {}",
                letters(&d, "2026-07-15", true),
                mails(&sink),
                next_run(&d, "2026-07-15")
            )
        });
        assert_eq!(l["planned"]["stage"], 3, "a mise en demeure: {l}");
        assert!(!l["body"].as_str().unwrap().is_empty(), "{l}");
    }
    assert_eq!(med_mails(&sink, "leroy"), 0);
    let action = |c: &str| {
        waiting_for(&d, "2026-07-15", c).unwrap()["action"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (leroy, roux, snb) = (action(LEROY), action(ROUX), action(SNB));
    // The PDF of a waiting letter is there to read.
    let pdf = d.request(
        "2026-07-15",
        json!({"request": "letter_pdf", "action": leroy}),
    );
    assert_eq!(pdf["response"], "pdf", "{pdf}");

    // A collector may not approve.
    let r = d.api(
        "2026-07-15",
        "collector",
        &[(
            "POST",
            "/decisions",
            Some(json!({"type": "approve_letter", "action": leroy}).to_string()),
            "approve-by-collector",
        )],
    );
    assert_eq!(r[0].status, 403, "{:?}", r[0]);
    d.decide(
        "2026-07-15",
        "approver",
        "approve-leroy",
        json!({"type": "approve_letter", "action": leroy}),
    );
    d.decide(
        "2026-07-15",
        "approver",
        "cancel-roux",
        json!({"type": "cancel_letter", "action": roux,
        "reason": "the customer called: the payment left yesterday"}),
    );
    d.decide("2026-07-15", "approver", "edit-snb", json!({"type": "edit_letter", "action": snb,
        "subject": "Mise en demeure – facture FA-2026-0108",
        "body": "Madame, Monsieur,\n\nTexte revu par le service juridique : nous vous mettons en demeure de régler la facture FA-2026-0108.\n"}));
    // The same approval twice: one decision.
    let again = d.api(
        "2026-07-15",
        "approver",
        &[(
            "POST",
            "/decisions",
            Some(json!({"type": "approve_letter", "action": leroy}).to_string()),
            "approve-leroy",
        )],
    );
    assert_eq!(again[0].status, 200, "{:?}", again[0]);
    assert_eq!(again[0].body["duplicate"], true);

    d.cycle("2026-07-16");
    for k in ["approve-leroy", "cancel-roux", "edit-snb"] {
        applied(&d, k);
    }
    assert_eq!(med_mails(&sink, "leroy"), 1, "{:?}", mails(&sink));
    assert_eq!(med_mails(&sink, "roux"), 0, "{:?}", mails(&sink));
    assert_eq!(med_mails(&sink, "snb"), 1, "{:?}", mails(&sink));
    let edited = mails(&sink)
        .into_iter()
        .find(|(r, _, a)| r.contains("snb") && !a.is_empty())
        .unwrap();
    assert!(
        edited.1.contains("Mise en demeure – facture FA-2026-0108"),
        "{edited:?}"
    );

    // Later cycles send nothing again, and the cancelled letter is never proposed again.
    d.cycle("2026-08-10");
    assert_eq!(med_mails(&sink, "leroy"), 1, "{:?}", mails(&sink));
    assert_eq!(med_mails(&sink, "roux"), 0, "{:?}", mails(&sink));
    assert!(waiting_for(&d, "2026-08-10", ROUX).is_none());
}

/// A mise en demeure rescheduled by a person goes out on the day they chose, not before,
/// and once.
#[test]
fn a_rescheduled_letter_goes_out_on_its_date_once() {
    let Some(sink) = relance_testkit::smtp::Sink::start(&[]) else {
        return;
    };
    let d = Desk::new(Some(&sink));
    d.add_customers(&[(LEROY, "compta@leroy.example", None)]);
    for date in ["2026-06-30", "2026-07-01", "2026-07-15"] {
        d.cycle(date);
    }
    let letter = waiting_for(&d, "2026-07-15", LEROY).unwrap_or_else(|| {
        panic!(
            "no letter waiting for Leroy: {:?}",
            letters(&d, "2026-07-15", true)
        )
    });
    assert_eq!(letter["planned"]["stage"], 3, "{letter}");
    let action = letter["action"].as_str().unwrap().to_owned();
    // A collector may not reschedule; an approver may, and twice is one decision.
    let r = d.api(
        "2026-07-15",
        "collector",
        &[(
            "POST",
            "/decisions",
            Some(
                json!({"type": "reschedule_letter", "action": action, "date": "2026-07-20"})
                    .to_string(),
            ),
            "reschedule-by-collector",
        )],
    );
    assert_eq!(r[0].status, 403, "{:?}", r[0]);
    let decision = json!({"type": "reschedule_letter", "action": action, "date": "2026-07-20",
                          "reason": "the customer asked for a call before any letter"});
    d.decide(
        "2026-07-15",
        "approver",
        "reschedule-leroy",
        decision.clone(),
    );
    let again = d.api(
        "2026-07-15",
        "approver",
        &[(
            "POST",
            "/decisions",
            Some(decision.to_string()),
            "reschedule-leroy",
        )],
    );
    assert_eq!(again[0].status, 200, "{:?}", again[0]);
    assert_eq!(again[0].body["duplicate"], true);
    // Before its date: applied, not sent, and no longer waiting.
    d.cycle("2026-07-16");
    applied(&d, "reschedule-leroy");
    assert_eq!(med_mails(&sink, "leroy"), 0, "{:?}", mails(&sink));
    assert!(waiting_for(&d, "2026-07-16", LEROY).is_none());
    d.cycle("2026-07-19");
    assert_eq!(med_mails(&sink, "leroy"), 0, "{:?}", mails(&sink));
    // On its date: sent, once; later cycles send nothing again.
    d.cycle("2026-07-20");
    assert_eq!(med_mails(&sink, "leroy"), 1, "{:?}", mails(&sink));
    d.cycle("2026-07-27");
    assert_eq!(med_mails(&sink, "leroy"), 1, "{:?}", mails(&sink));
}

/// An SMTP server on 127.0.0.1 that refuses every recipient (550): a permanent failure.
fn refusing_smtp() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let _ = w.write_all(b"220 refuser ESMTP\r\n");
                for line in BufReader::new(s).lines().map_while(Result::ok) {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 refuser\r\n",
                        "RCPT" => b"550 5.1.1 mailbox unavailable\r\n",
                        "QUIT" => b"221 bye\r\n",
                        "RSET" | "MAIL" | "NOOP" => b"250 ok\r\n",
                        _ => b"503 bad sequence\r\n",
                    };
                    if w.write_all(reply).is_err() || verb == "QUIT" {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn a_closing_approved_with_an_override_is_booked_once_and_its_fec_downloadable() {
    let d = Desk::new(None);
    d.cycle("2026-06-30");
    d.decide(
        "2026-06-30",
        "collector",
        "rj-snb",
        json!({"type": "procedure_collective",
        "customer": SNB, "procedure": "redressement", "judgment_date": "2026-05-20",
        "bodacc_date": "2026-05-29", "reference": "TC Bordeaux 2026J00412"}),
    );
    d.decide(
        "2026-06-30",
        "collector",
        "dispute-0107",
        json!({"type": "dispute", "customer": LEROY,
        "invoice": "FA-2026-0107", "since": "2026-06-03", "reason": "hours billed contested"}),
    );
    d.cycle("2026-07-01");
    applied(&d, "rj-snb");
    applied(&d, "dispute-0107");
    // The procédure stops dunning for good and asks for the claim to be declared.
    let run = next_run(&d, "2026-07-02");
    assert!(
        why_not(&run, "FA-2026-0108").contains("procédure collective"),
        "{run}"
    );
    assert!(
        alerts(&run).iter().any(|a| a.starts_with("declare_claim")),
        "{run}"
    );

    // The daemon's draft of the closing of June 30 has both, at the matrix's rates.
    let c = d.get("2026-07-01", "/closings/2026-06-30");
    assert_eq!(c.status, 200, "{}", c.body);
    let lines = serde_json::to_string(&c.body).unwrap();
    assert!(
        lines.contains("FA-2026-0108") && lines.contains("FA-2026-0107"),
        "{lines}"
    );
    let refused = d.refused(
        "2026-07-01",
        "approver",
        "rate-too-high",
        json!({"type": "override_rate",
        "closing": "2026-06-30", "invoice": "FA-2026-0108", "rate": "1.5", "reason": "x"}),
    );
    assert!(refused.contains("rate"), "{refused}");
    d.decide(
        "2026-07-01",
        "approver",
        "rate-snb",
        json!({"type": "override_rate",
        "closing": "2026-06-30", "invoice": "FA-2026-0108", "rate": "0.90",
        "reason": "the administrator's report announces a 10 % dividend at best"}),
    );
    d.cycle("2026-07-02");
    applied(&d, "rate-snb");
    let closings = d.request("2026-07-02", json!({"request": "closings"}));
    let draft = closings["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["closing"] == "2026-06-30")
        .cloned()
        .unwrap_or_else(|| panic!("{closings}"));
    let text = draft.to_string();
    // 8500.00 HT × 0.90.
    assert!(text.contains("7650.00"), "{text}");
    let digest = draft["draft"]["digest"].as_str().unwrap().to_owned();

    // An approval naming an older draft is refused; the right one books it once.
    let stale = d.api(
        "2026-07-02",
        "approver",
        &[(
            "POST",
            "/decisions",
            Some(
                json!({"type": "approve_closing",
        "closing": "2026-06-30", "draft": "0000"})
                .to_string(),
            ),
            "approve-stale",
        )],
    );
    assert_eq!(stale[0].status, 422, "{:?}", stale[0]);
    d.decide(
        "2026-07-02",
        "approver",
        "approve-june",
        json!({"type": "approve_closing",
        "closing": "2026-06-30", "draft": digest}),
    );
    d.cycle("2026-07-03");
    applied(&d, "approve-june");
    d.cycle("2026-07-04");
    let store = d.store();
    let cid = relance_core::CompanyId::new(COMPANY);
    let all = store.outbox(&cid).unwrap();
    let moves: Vec<_> = all
        .iter()
        .filter(|e| e.key.as_str().starts_with("relance-provision-"))
        .collect();
    assert!(
        !moves.is_empty(),
        "{:?}",
        all.iter()
            .map(|e| (e.key.as_str(), &e.target))
            .collect::<Vec<_>>()
    );
    let mut keys: Vec<_> = moves.iter().map(|e| e.key.as_str().to_owned()).collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "a move twice: {keys:?}");
    assert!(
        moves
            .iter()
            .all(|e| matches!(e.state, relance::store::OutboxState::Done { .. })),
        "{moves:?}"
    );
    drop(store);
    let closings = d.request("2026-07-04", json!({"request": "closings"}));
    let june = closings["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["closing"] == "2026-06-30")
        .cloned()
        .unwrap();
    assert_eq!(june["status"], "posted", "{june}");
    assert_eq!(june["posted"].as_u64().unwrap() as usize, n, "{june}");
    // Approved again: refused at once, nothing more booked.
    let again = d.refused(
        "2026-07-04",
        "approver",
        "approve-june-again",
        json!({"type": "approve_closing", "closing": "2026-06-30"}),
    );
    assert!(again.contains("already booked"), "{again}");
    d.cycle("2026-07-05");
    let store = d.store();
    let again = store
        .outbox(&cid)
        .unwrap()
        .into_iter()
        .filter(|e| e.key.as_str().starts_with("relance-provision-"))
        .count();
    assert_eq!(again, n);
    drop(store);

    // The FEC is downloadable, with the overridden allowance.
    let fec = d.get("2026-07-05", "/closings/2026-06-30/fec");
    assert_eq!(fec.status, 200);
    let text = String::from_utf8_lossy(&fec.bytes).into_owned();
    assert!(text.starts_with("JournalCode"), "{text}");
    assert!(text.contains("68174") && text.contains("491"), "{text}");
    assert!(text.contains("7650,00"), "{text}");
}

#[test]
fn a_dead_letter_retried_is_delivered_once() {
    let Some(sink) = relance_testkit::smtp::Sink::start(&[]) else {
        return;
    };
    let d = Desk::new(Some(&sink));
    d.add_customers(&[(LEROY, "compta@leroy.example", None)]);
    // The mail server refuses the recipient: the reminder is dead-lettered.
    let toml = d.config().join("companies.d/demo.toml");
    let good = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        good.replace(
            &format!("port = {}", sink.port),
            &format!("port = {}", refusing_smtp()),
        ),
    )
    .unwrap();
    d.cycle("2026-06-30");
    let dead = exceptions(&d, "2026-06-30", "dead_letter");
    let entry = dead
        .iter()
        .find(|e| {
            e["details"]["origin"]
                .as_str()
                .unwrap_or("")
                .contains("mail")
        })
        .unwrap_or_else(|| panic!("{dead:?}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sink.messages().len(), 0);
    // The address is fixed on the server's side; a person retries the entry.
    std::fs::write(&toml, &good).unwrap();
    d.decide(
        "2026-07-01",
        "collector",
        "retry-mail",
        json!({"type": "retry_dead_letter", "key": entry}),
    );
    d.cycle("2026-07-01");
    applied(&d, "retry-mail");
    d.cycle("2026-07-02");
    let to_leroy = mails(&sink)
        .iter()
        .filter(|(r, _, _)| r.contains("leroy"))
        .count();
    assert_eq!(to_leroy, 1, "{:?}", mails(&sink));
    assert!(exceptions(&d, "2026-07-02", "dead_letter")
        .iter()
        .all(|e| e["id"] != entry.as_str()));
}

/// Cycles day after day from `from` until the next day's run would plan a call task: that
/// day, the customer, the action's key (three weeks at most).
fn first_call(d: &Desk, from: chrono::NaiveDate) -> (String, String, String) {
    for n in 0..21 {
        let day = (from + chrono::Days::new(n)).to_string();
        d.cycle(&day);
        let run = next_run(d, &day);
        if let Some(a) = run["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["channel"] == "phone_task")
        {
            return (
                day,
                a["customer"].as_str().unwrap().to_owned(),
                a["key"].as_str().unwrap().to_owned(),
            );
        }
    }
    panic!("no call task planned in three weeks from {from}");
}

fn calls_for(run: &Value, customer: &str) -> usize {
    run["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["channel"] == "phone_task" && a["customer"] == customer)
        .count()
}

#[test]
fn call_outcomes_are_recorded_and_flow_into_the_next_cycle() {
    let d = Desk::new(None);
    let (day, who, _) = first_call(&d, "2026-06-30".parse().unwrap());
    let c = "collector";

    // A wrong contact needs its reason; a date belongs to a promise only.
    let why = d.refused(
        &day,
        c,
        "call-wrong-no-reason",
        json!({"type": "call_outcome", "customer": who, "outcome": "wrong_contact"}),
    );
    assert!(why.contains("reason"), "{why}");
    let why = d.refused(
        &day,
        c,
        "call-reached-dated",
        json!({"type": "call_outcome", "customer": who, "outcome": "reached", "date": "2026-08-01"}),
    );
    assert!(why.contains("decision.date"), "{why}");
    let why = d.refused(
        &day,
        c,
        "call-promise-undated",
        json!({"type": "call_outcome", "customer": who, "outcome": "promise"}),
    );
    assert!(why.contains("promised date"), "{why}");

    // Wrong contact: once applied, no call task for the customer, an alert, the reason given.
    let wrong = json!({"type": "call_outcome", "customer": who, "outcome": "wrong_contact",
                       "reason": "numéro non attribué"});
    d.decide(&day, c, "call-wrong", wrong.clone());
    let again = d
        .api(
            &day,
            c,
            &[("POST", "/decisions", Some(wrong.to_string()), "call-wrong")],
        )
        .remove(0);
    assert_eq!(again.status, 200, "{:?}", again);
    assert_eq!(again.body["duplicate"], true);
    d.cycle(&day);
    let a = applied(&d, "call-wrong");
    assert_eq!(a["after"]["outcome"], "wrong_contact", "{a}");
    assert!(a["actor"].as_str().unwrap().contains("collector"), "{a}");
    assert_eq!(a["reason"], "numéro non attribué", "{a}");
    let run = next_run(&d, &day);
    assert_eq!(calls_for(&run, &who), 0, "{run}");
    assert!(
        alerts(&run)
            .iter()
            .any(|m| m.starts_with(&format!("wrong_contact {who}"))
                && m.contains("numéro non attribué")),
        "{:?}",
        alerts(&run)
    );
    assert!(
        run["not_sent"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["customer"] == who.as_str()
                && n["reason"].as_str().unwrap().contains("wrong contact")),
        "{run}"
    );
    // Only one wrong contact at a time.
    let why = d.refused(
        &day,
        c,
        "call-wrong-twice",
        json!({"type": "call_outcome", "customer": who, "outcome": "wrong_contact", "reason": "encore"}),
    );
    assert!(why.contains("already reported"), "{why}");

    // Fixed: the report ended, the call is planned again.
    d.decide(
        &day,
        c,
        "call-wrong-fixed",
        json!({"type": "end_pause", "pause": "call-wrong", "reason": "bon numéro trouvé sur le site du client"}),
    );
    d.cycle(&day);
    let run = next_run(&d, &day);
    assert_eq!(calls_for(&run, &who), 1, "{run}");
    assert!(!alerts(&run).iter().any(|m| m.starts_with("wrong_contact")));
    let key = run["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["channel"] == "phone_task" && a["customer"] == who.as_str())
        .and_then(|a| a["key"].as_str())
        .unwrap()
        .to_owned();

    // The call task is planned; its outcome names it: reached is recorded, the plan goes on.
    let next: chrono::NaiveDate = day.parse::<chrono::NaiveDate>().unwrap() + chrono::Days::new(1);
    let next = next.to_string();
    d.cycle(&next);
    let task = d
        .store()
        .audit_by_kind(
            &relance_core::CompanyId::new(COMPANY),
            &[relance::ledger::AUDIT_DUNNING_ACTION],
            0,
            100_000,
        )
        .unwrap()
        .into_iter()
        .map(|e| e.event.subject)
        .find(|k| *k == key)
        .expect("the call task planned");
    d.decide(
        &next,
        c,
        "call-reached",
        json!({"type": "call_outcome", "customer": who, "action": task, "outcome": "reached",
               "reason": "le comptable confirme le virement pour la fin du mois"}),
    );
    let why = d.refused(
        &next,
        c,
        "call-other-action",
        json!({"type": "call_outcome", "customer": if who == LEROY { ROUX } else { LEROY },
               "action": task, "outcome": "no_answer"}),
    );
    assert!(why.contains("decision.action"), "{why}");
    d.cycle(&next);
    let a = applied(&d, "call-reached");
    assert_eq!(a["after"]["action"], task.as_str(), "{a}");
    assert_eq!(a["after"]["pause"], Value::Null, "{a}");
    // In the customer's timeline and the audit log, with who and why.
    let tl = d.get(&next, &format!("/customers/{who}/timeline")).body;
    assert!(
        tl["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "decision"
                && e["summary"]
                    .as_str()
                    .unwrap()
                    .starts_with("call_outcome by token:")
                && e["summary"].as_str().unwrap().contains("(collector)")),
        "{tl}"
    );
    let log = d.get(&next, "/decisions?limit=1000").body;
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["type"] == "call_outcome"),
        "{log}"
    );

    // A promise made on the phone holds dunning until its date.
    let until: chrono::NaiveDate =
        next.parse::<chrono::NaiveDate>().unwrap() + chrono::Days::new(20);
    d.decide(
        &next,
        c,
        "call-promise",
        json!({"type": "call_outcome", "customer": who, "outcome": "promise", "date": until.to_string()}),
    );
    d.cycle(&next);
    applied(&d, "call-promise");
    let run = next_run(&d, &next);
    assert_eq!(
        run["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["customer"] == who.as_str())
            .count(),
        0,
        "{run}"
    );
    assert!(
        run["not_sent"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["customer"] == who.as_str()
                && n["reason"].as_str().unwrap().contains("promise to pay")),
        "{run}"
    );
}
