//! A set of 64-bit hashes in one flat table (8 bytes a slot, at most 7/8 full): what the
//! streaming checks and the deduplication keys remember per entry, as small as it can be.

/// Hashes seen so far.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    slots: Vec<u64>,
    len: usize,
}

impl Seen {
    /// Adds `h`; true when it was not there.
    pub(crate) fn insert(&mut self, h: u64) -> bool {
        // 0 marks an empty slot
        let h = h.max(1);
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = h;
                    self.len += 1;
                    return true;
                }
                x if x == h => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![0; cap]);
        let mask = cap - 1;
        for h in old.into_iter().filter(|h| *h != 0) {
            let mut i = (h as usize) & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = h;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_what_it_saw() {
        let mut s = Seen::default();
        for i in 1..10_000u64 {
            assert!(s.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        }
        for i in 1..10_000u64 {
            assert!(!s.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        }
        assert!(s.insert(0));
        assert!(!s.insert(1), "0 and 1 share a slot value");
    }
}
