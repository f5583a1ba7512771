//! Bounded subset-sum in cents: which of a customer's open items (invoices positive, credit
//! notes negative) add up exactly to a received amount.
//!
//! Depth-first over items sorted by decreasing magnitude, pruned by the sums still reachable,
//! with a limit on items per combination, on solutions wanted and on nodes visited. The engine
//! asks for two solutions: one means "unique combination", two means "ambiguous".

/// The combinations found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subsets {
    /// Each solution as indexes into the items given, ascending.
    pub solutions: Vec<Vec<usize>>,
    /// True when the node budget ran out (then uniqueness is unknown).
    pub exhausted: bool,
}

/// Limits of one search.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most items in one combination (forced items included).
    pub max_items: usize,
    /// Stop after this many solutions.
    pub max_solutions: usize,
    /// Node budget.
    pub max_nodes: u32,
}

/// Finds up to `limits.max_solutions` non-empty subsets of `items` (amounts in cents) that
/// contain every index of `forced` and sum exactly to `target`.
pub fn find(items: &[i64], target: i64, forced: &[usize], limits: Limits) -> Subsets {
    search(items, target, forced, limits, false)
}

/// Like [`find`], but counts combinations as multisets of amounts: two subsets that differ
/// only by items of equal amount are one solution, returned with the items of each amount
/// taken first in the order given (callers give items in Code civil art. 1342-10 order, so
/// the solution holds the first due, oldest, of each amount). Two monthly items of 25.00
/// and a payment of 50.00 is one solution, not the three pairs of three such items.
pub fn find_distinct(items: &[i64], target: i64, limits: Limits) -> Subsets {
    search(items, target, &[], limits, true)
}

fn search(items: &[i64], target: i64, forced: &[usize], limits: Limits, distinct: bool) -> Subsets {
    let mut out = Subsets::default();
    let mut rest = target;
    for &f in forced {
        match items.get(f) {
            Some(v) => rest -= v,
            None => return out,
        }
    }
    if forced.len() > limits.max_items {
        return out;
    }
    let mut order: Vec<usize> = (0..items.len()).filter(|i| !forced.contains(i)).collect();
    order.sort_by(|&a, &b| {
        let by_value = if distinct {
            items[b].cmp(&items[a])
        } else {
            std::cmp::Ordering::Equal
        };
        items[b]
            .abs()
            .cmp(&items[a].abs())
            .then(by_value)
            .then(a.cmp(&b))
    });
    let vals: Vec<i64> = order.iter().map(|&i| items[i]).collect();
    let n = vals.len();
    let mut pos_suffix = vec![0i64; n + 1];
    let mut neg_suffix = vec![0i64; n + 1];
    for k in (0..n).rev() {
        pos_suffix[k] = pos_suffix[k + 1] + vals[k].max(0);
        neg_suffix[k] = neg_suffix[k + 1] + vals[k].min(0);
    }
    let mut state = Search {
        vals: &vals,
        pos_suffix: &pos_suffix,
        neg_suffix: &neg_suffix,
        limits,
        room: limits.max_items - forced.len(),
        nodes: 0,
        chosen: Vec::new(),
        found: Vec::new(),
        exhausted: false,
        distinct,
    };
    if rest == 0 && !forced.is_empty() {
        state.found.push(Vec::new());
    }
    state.dfs(0, rest);
    out.exhausted = state.exhausted;
    for sol in state.found {
        let mut v: Vec<usize> = forced.to_vec();
        v.extend(sol.iter().map(|&k| order[k]));
        v.sort_unstable();
        if !v.is_empty() && !out.solutions.contains(&v) {
            out.solutions.push(v);
        }
    }
    out.solutions.truncate(limits.max_solutions);
    out
}

struct Search<'a> {
    vals: &'a [i64],
    pos_suffix: &'a [i64],
    neg_suffix: &'a [i64],
    limits: Limits,
    room: usize,
    nodes: u32,
    chosen: Vec<usize>,
    found: Vec<Vec<usize>>,
    exhausted: bool,
    distinct: bool,
}

impl Search<'_> {
    fn done(&self) -> bool {
        self.exhausted || self.found.len() >= self.limits.max_solutions
    }

    fn dfs(&mut self, k: usize, rest: i64) {
        if self.done() {
            return;
        }
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            self.exhausted = true;
            return;
        }
        if k == self.vals.len() || self.chosen.len() == self.room {
            return;
        }
        if rest > self.pos_suffix[k] || rest < self.neg_suffix[k] {
            return;
        }
        // Take item k.
        self.chosen.push(k);
        let r = rest - self.vals[k];
        if r == 0 {
            self.found.push(self.chosen.clone());
        }
        if r != 0 || self.neg_suffix[k + 1] < 0 {
            self.dfs(k + 1, r);
        }
        self.chosen.pop();
        // Skip item k (for distinct multisets: and the later items of its amount, so that
        // of equal amounts the earlier items are always the ones taken).
        let mut next = k + 1;
        if self.distinct {
            while next < self.vals.len() && self.vals[next] == self.vals[k] {
                next += 1;
            }
        }
        self.dfs(next, rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_items: 10,
        max_solutions: 2,
        max_nodes: 100_000,
    };

    #[test]
    fn unique_and_ambiguous() {
        let s = find(&[100, 250, 300, 999], 350, &[], L);
        assert_eq!(s.solutions, vec![vec![0, 1]]);
        let s = find(&[100, 250, 350], 350, &[], L);
        assert_eq!(s.solutions.len(), 2);
    }

    #[test]
    fn credit_notes_and_forced() {
        // 1000 + 500 - 200 = 1300
        let s = find(&[1000, 500, -200, 700], 1300, &[0], L);
        assert_eq!(s.solutions, vec![vec![0, 1, 2]]);
        assert!(find(&[5, 7], 1, &[], L).solutions.is_empty());
    }

    #[test]
    fn equal_amounts_count_once_and_the_first_are_taken() {
        // Three monthly items of 25.00 and a 40.00: 50.00 is two of the months.
        let items = [2500, 4000, 2500, 2500];
        assert_eq!(find(&items, 5000, &[], L).solutions.len(), 2);
        let s = find_distinct(&items, 5000, L);
        assert_eq!(s.solutions, vec![vec![0, 2]]);
        // 65.00 is a month and the 40.00, the first month.
        assert_eq!(find_distinct(&items, 6500, L).solutions, vec![vec![0, 1]]);
        // 2500 + 4000 = 6500 = 1500 + 5000: two different multisets stay ambiguous.
        let s = find_distinct(&[2500, 4000, 1500, 5000], 6500, L);
        assert_eq!(s.solutions.len(), 2);
    }

    #[test]
    fn budget_is_reported() {
        let items: Vec<i64> = (1..=40).map(|i| i * 3).collect();
        let s = find(
            &items,
            1,
            &[],
            Limits {
                max_items: 10,
                max_solutions: 2,
                max_nodes: 50,
            },
        );
        assert!(s.solutions.is_empty());
    }
}
