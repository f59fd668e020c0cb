//! A hash map with a hard cap on its entries and a count of what the cap
//! pushed out.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

pub(crate) type Hasher = foldhash::fast::RandomState;

/// At most `cap` entries. Inserting into a full map first drops the entries
/// the caller calls stale, then arbitrary ones (hash order), until a
/// sixteenth of the cap is free, so the cost of making room is amortised
/// over the next inserts. Every dropped entry is counted.
#[derive(Debug)]
pub(crate) struct Bounded<K, V> {
    map: HashMap<K, V, Hasher>,
    cap: usize,
    evicted: u64,
}

impl<K: Hash + Eq + Copy, V> Bounded<K, V> {
    pub(crate) fn new(cap: usize) -> Self {
        Bounded { map: HashMap::default(), cap: cap.max(1), evicted: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k)
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        self.map.remove(k)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.map.iter_mut()
    }

    /// Drops every entry `keep` refuses (not counted as evictions: they
    /// expired).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|_, v| keep(v));
        before - self.map.len()
    }

    /// The entry for `k`, made with `make` if absent (true: just made).
    pub(crate) fn get_or_insert(
        &mut self,
        k: K,
        make: impl FnOnce() -> V,
        stale: impl Fn(&V) -> bool,
    ) -> (&mut V, bool) {
        if self.map.len() >= self.cap && !self.map.contains_key(&k) {
            self.make_room(stale);
        }
        match self.map.entry(k) {
            Entry::Occupied(o) => (o.into_mut(), false),
            Entry::Vacant(v) => (v.insert(make()), true),
        }
    }

    /// Inserts `k` if absent; true when it was absent.
    pub(crate) fn insert_new(&mut self, k: K, v: V) -> bool {
        if self.map.contains_key(&k) {
            return false;
        }
        if self.map.len() >= self.cap {
            self.make_room(|_| false);
        }
        self.map.insert(k, v);
        true
    }

    fn make_room(&mut self, stale: impl Fn(&V) -> bool) {
        let target = self.cap.saturating_sub((self.cap / 16).max(1));
        let before = self.map.len();
        self.map.retain(|_, v| !stale(v));
        if self.map.len() > target {
            let excess = self.map.len() - target;
            let victims: Vec<K> = self.map.keys().take(excess).copied().collect();
            for k in &victims {
                self.map.remove(k);
            }
        }
        self.evicted += (before - self.map.len()) as u64;
    }
}
