//! Independent work units and the caller's executor.
//!
//! relance-core spawns nothing: the engine splits its work into units that share no mutable
//! state, and hands them to an [`Executor`] the caller supplies. The binary and the benchmark
//! run them on a thread pool; [`Sequential`] runs them one after the other on the caller's
//! thread. Because units are independent and their results are merged in a fixed order, the
//! outcome is the same whatever the executor (a test runs both and compares).
//!
//! A unit is a connected component of the graph linking each receipt to everything that can
//! decide it: the customers of the invoices its text references, the customers its IBAN,
//! mandate, SIREN or payer name identify, and its IBAN and payer name themselves (what one
//! receipt teaches about a payer, the next receipts of that payer read). Two receipts in
//! different units never compete for an invoice and never learn from each other.

/// Runs independent work units for the engine.
pub trait Executor {
    /// Applies `f` to every item and returns the results in the order of the items.
    fn map<T, R, F>(&self, items: Vec<T>, f: F) -> Vec<R>
    where
        T: Send,
        R: Send,
        F: Fn(T) -> R + Sync + Send;
}

/// Runs every unit on the caller's thread, in order.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sequential;

impl Executor for Sequential {
    fn map<T, R, F>(&self, items: Vec<T>, f: F) -> Vec<R>
    where
        T: Send,
        R: Send,
        F: Fn(T) -> R + Sync + Send,
    {
        items.into_iter().map(f).collect()
    }
}

/// Disjoint sets over `0..n` (union by size, path halving).
pub(super) struct Dsu {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl Dsu {
    pub(super) fn new(n: usize) -> Self {
        Dsu {
            parent: (0..n)
                .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                .collect(),
            size: vec![1; n],
        }
    }

    pub(super) fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    pub(super) fn union(&mut self, a: u32, b: u32) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a as usize] < self.size[b as usize] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
    }
}

/// Cuts `0..n` into chunks of at most `size` (for work that is independent item by item).
pub(super) fn chunks(n: usize, size: usize) -> Vec<std::ops::Range<usize>> {
    let size = size.max(1);
    (0..n.div_ceil(size))
        .map(|k| k * size..((k + 1) * size).min(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsu_joins_and_keeps_apart() {
        let mut d = Dsu::new(6);
        d.union(0, 1);
        d.union(2, 3);
        d.union(1, 3);
        assert_eq!(d.find(0), d.find(2));
        assert_ne!(d.find(0), d.find(4));
        assert_ne!(d.find(4), d.find(5));
    }

    #[test]
    fn chunks_cover_everything_once() {
        let c = chunks(10, 4);
        assert_eq!(c, vec![0..4, 4..8, 8..10]);
        assert!(chunks(0, 4).is_empty());
    }
}
