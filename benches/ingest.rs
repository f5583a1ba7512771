//! End-to-end e-invoice ingest: 10 000 generated CII invoices, 10 000 UBL invoices and 1 000
//! Factur-X PDFs dropped in a company's `einvoice_inbox`, then one `relance sync --once` of
//! the release binary: every file read, hashed, parsed with every EN 16931 check, converted,
//! committed to the sled store (batches flushed to disk) and moved to `done/`, followed by the
//! cycle's reconciliation and dunning plan over what was imported. The same cycle is run again
//! with nothing new, and its time subtracted: that is the ingest alone. Beside it, in the same
//! run, a plain quick-xml event scan of the same XML bytes in memory: the floor no parser can
//! beat.
//!
//! `cargo bench --bench ingest` (sizes: `RELANCE_BENCH_INGEST_N`, `RELANCE_BENCH_INGEST_PDF`).
//! A one-shot measure, not a criterion sampling loop: one run moves the files it measures.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use relance_connectors::formats::einvoice::write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn scan(bytes: &[u8]) -> usize {
    let mut r = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        match r.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) | Err(_) => break,
            Ok(_) => n += 1,
        }
        buf.clear();
    }
    n
}

fn write_config(dir: &Path) {
    std::fs::create_dir_all(dir.join("companies.d")).unwrap();
    std::fs::write(
        dir.join("relance.toml"),
        "version = 1\nstate_dir = \"state\"\nlisten = \"127.0.0.1:0\"\napi = { listen = \"127.0.0.1:0\" }\nlog_format = \"text\"\nlog_level = \"warn\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("companies.d/bench.toml"),
        "version = 1\nid = \"bench\"\nname = \"Atelier Lumière SAS\"\nsiren = \"812345676\"\n\
         currency = \"EUR\"\n\n[[sources]]\ntype = \"einvoice_inbox\"\nname = \"invoices\"\n\
         path = \"inbox\"\nsettle_secs = 0\n\n[writeback]\ntype = \"none\"\n",
    )
    .unwrap();
}

fn run(label: &str, files: &[(String, Vec<u8>)], xml: &[Vec<u8>]) {
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let xml_bytes: usize = xml.iter().map(Vec::len).sum();
    let mb = bytes as f64 / 1e6;

    let t = Instant::now();
    let events: usize = xml.iter().map(|d| scan(d)).sum();
    let scan_s = t.elapsed().as_secs_f64();

    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    if let Ok(keep) = std::env::var("RELANCE_BENCH_INGEST_KEEP") {
        let keep = Path::new(&keep).join(label);
        write_config(&keep);
        let inbox = keep.join("state/inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        for (name, b) in files {
            std::fs::write(inbox.join(name), b).unwrap();
        }
    }
    let inbox = dir.path().join("state/inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    for (name, b) in files {
        std::fs::write(inbox.join(name), b).unwrap();
    }
    let sync = || {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_relance"))
            .args(["sync", "--once", "--date", "2026-12-31", "--config"])
            .arg(dir.path())
            .output()
            .expect("run relance");
        let secs = t.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "sync failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (secs, stdout)
    };
    let (sync_s, stdout) = sync();
    let done = std::fs::read_dir(inbox.join("done")).map_or(0, |d| d.count());
    assert_eq!(done, files.len(), "every file imported and moved: {stdout}");
    // The same cycle again with nothing new: what the first one spent besides ingesting
    // (process start, store open, reconciliation and dunning plan over what is stored).
    let (again_s, _) = sync();
    let ingest_s = (sync_s - again_s).max(1e-9);
    let n = files.len() as f64;
    println!(
        "{label:<12} {:>6} files {mb:>7.1} MB | sync --once {sync_s:>6.2} s {:>7.0} docs/s {:>6.1} MB/s | \
         ingest alone (less an idle cycle of {again_s:.2} s) {:>7.0} docs/s {:>6.1} MB/s | \
         quick-xml scan of the XML {scan_s:>6.3} s {:>7.0} docs/s {:>6.1} MB/s ({events} events) | \
         ratio to the scan {:.1}x",
        files.len(),
        n / sync_s,
        mb / sync_s,
        n / ingest_s,
        mb / ingest_s,
        n / scan_s,
        xml_bytes as f64 / 1e6 / scan_s,
        ingest_s / scan_s,
    );
    println!("             relance: {}", stdout.trim());
}

fn main() {
    let n: usize = std::env::var("RELANCE_BENCH_INGEST_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let n_pdf: usize = std::env::var("RELANCE_BENCH_INGEST_PDF")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    println!("end-to-end e-invoice ingest (files → parse + EN 16931 checks → store → done/):");
    let cii: Vec<Vec<u8>> = (0..n)
        .map(|i| write::cii(&write::sample(i)).into_bytes())
        .collect();
    let files: Vec<(String, Vec<u8>)> = cii
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("FA-{i:06}.cii.xml"), b.clone()))
        .collect();
    run("cii", &files, &cii);

    let ubl: Vec<Vec<u8>> = (0..n)
        .map(|i| write::ubl(&write::sample(i)).into_bytes())
        .collect();
    let files: Vec<(String, Vec<u8>)> = ubl
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("FA-{i:06}.ubl.xml"), b.clone()))
        .collect();
    run("ubl", &files, &ubl);

    let xml: Vec<Vec<u8>> = cii.into_iter().take(n_pdf).collect();
    let files: Vec<(String, Vec<u8>)> = xml
        .iter()
        .enumerate()
        .map(|(i, b)| {
            (
                format!("FA-{i:06}.pdf"),
                write::facturx_pdf(b).expect("a PDF in memory"),
            )
        })
        .collect();
    run("facturx_pdf", &files, &xml);
}
