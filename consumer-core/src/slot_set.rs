//! A set of partition slots (see [`SubscriptionState`](crate::SubscriptionState)) as a
//! bitmap: inserting, removing and testing a slot is a bit operation, and the set is
//! walked in slot order, i.e. in assignment order. The fetcher keeps one per node for the
//! partitions it fetches there and for those changed since its last request; an ordered
//! map would cost a search and a node allocation per change, at every fetch round of
//! thousands of partitions.

/// Slots, walked in increasing order.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotSet {
    words: Vec<u64>,
    len: usize,
}

impl SlotSet {
    /// Adds `slot`; true if it was not there.
    pub(crate) fn insert(&mut self, slot: usize) -> bool {
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        let Some(w) = self.words.get_mut(word) else {
            return false;
        };
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.len += 1;
        true
    }

    /// Removes `slot`; true if it was there.
    pub(crate) fn remove(&mut self, slot: usize) -> bool {
        let bit = 1u64 << (slot % 64);
        match self.words.get_mut(slot / 64) {
            Some(w) if *w & bit != 0 => {
                *w &= !bit;
                self.len -= 1;
                true
            }
            _ => false,
        }
    }

    /// True if `slot` is in the set.
    pub(crate) fn contains(&self, slot: usize) -> bool {
        self.words
            .get(slot / 64)
            .is_some_and(|w| w & (1u64 << (slot % 64)) != 0)
    }

    /// The smallest slot.
    pub(crate) fn first(&self) -> Option<usize> {
        self.iter().next()
    }

    /// The slots in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(i * 64 + bit)
            })
        })
    }

    /// Empties the set (keeping its room).
    pub(crate) fn clear(&mut self) {
        if self.len > 0 {
            self.words.fill(0);
            self.len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SlotSet;

    #[test]
    fn walks_in_order_and_counts() {
        let mut s = SlotSet::default();
        assert_eq!(s.iter().count(), 0);
        assert_eq!(s.first(), None);
        for slot in [130, 3, 64, 63, 0, 3] {
            s.insert(slot);
        }
        assert_eq!(s.len, 5);
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 3, 63, 64, 130]);
        assert_eq!(s.first(), Some(0));
        assert!(s.remove(0));
        assert!(!s.remove(0));
        assert!(!s.remove(10_000));
        assert!(s.contains(63) && !s.contains(62) && !s.contains(10_000));
        assert_eq!(s.first(), Some(3));
        assert_eq!(s.len, 4);
        s.clear();
        assert_eq!(s.len, 0);
        assert_eq!(s.iter().count(), 0);
        assert!(s.insert(5));
        assert!(!s.insert(5));
        assert_eq!(s.iter().collect::<Vec<_>>(), [5]);
    }
}
