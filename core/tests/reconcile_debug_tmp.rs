use relance_core::reconcile::synth::{generate, SynthConfig};
use relance_core::reconcile::{reconcile, Policy};
use std::collections::BTreeMap;
#[test]
fn dump() {
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let ds = generate(&SynthConfig {
        seed,
        customers: 1500,
        ..SynthConfig::default()
    });
    let out = reconcile(
        &ds.invoices,
        &ds.customers,
        &ds.receipts,
        &[],
        &Policy::default(),
    );
    let inv: BTreeMap<_, _> = ds.invoices.iter().map(|i| (i.id.clone(), i)).collect();
    let rec: BTreeMap<_, _> = ds.receipts.iter().map(|r| (r.id.clone(), r)).collect();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for t in &ds.truth {
        let mut net: BTreeMap<_, rust_decimal::Decimal> = BTreeMap::new();
        for tx in &t.transactions {
            for a in out
                .allocations
                .iter()
                .filter(|a| &a.transaction == tx && a.auto)
            {
                *net.entry(a.invoice.clone()).or_default() += a.amount;
            }
        }
        net.retain(|_, v| !v.is_zero());
        let exp: BTreeMap<_, _> = t.expected.iter().cloned().collect();
        if net == exp {
            continue;
        }
        let wrong = !net.is_empty();
        let key = format!("{}-{}", t.phenomenon, if wrong { "WRONG" } else { "miss" });
        let c = count.entry(key.clone()).or_default();
        *c += 1;
        if *c > 6 {
            continue;
        }
        println!("== {key}");
        for tx in &t.transactions {
            let r = rec[tx];
            println!(
                "  rx {} {} {:?} iban={:?} rem={:?} sref={:?} e2e={:?} mdt={:?}",
                tx,
                r.amount,
                r.counterparty_name,
                r.counterparty_iban,
                r.remittance,
                r.structured_ref,
                r.end_to_end_id,
                r.mandate_id
            );
            for a in out.allocations.iter().filter(|a| &a.transaction == tx) {
                println!(
                    "    alloc {} {} auto={} conf={} {}",
                    a.invoice, a.amount, a.auto, a.confidence.0, a.reason
                );
            }
        }
        for (i, a) in &exp {
            let v = inv[i];
            let c = ds.customers.iter().find(|c| c.id == v.customer).unwrap();
            println!(
                "  exp {} {} open={} cust={} {:?} ibans={:?}",
                i, a, v.amount_due, c.id, c.name, c.ibans
            );
        }
    }
    println!("{count:#?}");
}
