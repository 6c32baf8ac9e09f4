//! Sections of the document: entries in insertion order, found by their
//! stored key and through two field indexes, without decoding them.
//!
//! An entry's text stays where it was read (a span of the loaded document)
//! until it is modified; its lookup fields are spans into that text. A
//! removed entry leaves a hole that [`Section::compact`] closes once holes
//! outnumber entries, so removal is O(1) and order is kept, as in Python's
//! dict.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use super::index::Fields;

/// A piece of text: a span of some base string, or owned (when it had to be
/// decoded from JSON escapes).
#[derive(Debug, Clone)]
pub(crate) enum Text {
    /// Byte range of the base string.
    Span(u32, u32),
    /// Decoded text.
    Own(Box<str>),
}

impl Text {
    /// The text, given the string spans refer to.
    #[inline]
    pub(crate) fn get<'a>(&'a self, base: &'a str) -> &'a str {
        match self {
            Text::Span(a, b) => base.get(*a as usize..*b as usize).unwrap_or(""),
            Text::Own(s) => s,
        }
    }
}

/// An entry's JSON text.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// A span of the loaded document; `canonical` when it is exactly what
    /// Python would write there (then it is copied verbatim on save).
    Src {
        start: u32,
        end: u32,
        canonical: bool,
    },
    /// Text written by msal-rs, always in Python's layout for its level.
    Own(Box<str>),
}

impl Body {
    /// The string the entry's field spans refer to.
    #[inline]
    pub(crate) fn base<'a>(&'a self, src: &'a str) -> &'a str {
        match self {
            Body::Src { .. } => src,
            Body::Own(s) => s,
        }
    }

    /// The entry's JSON text.
    pub(crate) fn text<'a>(&'a self, src: &'a str) -> &'a str {
        match self {
            Body::Src { start, end, .. } => {
                src.get(*start as usize..*end as usize).unwrap_or("null")
            }
            Body::Own(s) => s,
        }
    }

    /// Whether the text can be written out as it is.
    pub(crate) fn is_canonical(&self) -> bool {
        match self {
            Body::Src { canonical, .. } => *canonical,
            Body::Own(_) => true,
        }
    }
}

/// One stored entry.
#[derive(Debug, Clone)]
pub(crate) struct Slot<F> {
    /// The map key it is stored under (spans refer to the document).
    pub(crate) key: Text,
    /// Whether the key needs no escaping (written as it is).
    pub(crate) plain_key: bool,
    pub(crate) body: Body,
    /// Lookup fields (spans refer to `body.base()`).
    pub(crate) f: F,
}

/// Whether Python writes `s` inside quotes unchanged.
pub(crate) fn is_plain(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

/// Passes a precomputed `u64` hash through.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Slot ids sharing a hash. Almost always one.
#[derive(Debug, Clone)]
pub(crate) enum Ids {
    One(u32),
    Many(Vec<u32>),
}

impl Ids {
    pub(crate) fn as_slice(&self) -> &[u32] {
        match self {
            Ids::One(id) => std::slice::from_ref(id),
            Ids::Many(v) => v,
        }
    }
}

/// Hash → slot ids. The hashes are keyed (seeded per cache), so crafted
/// input cannot pile entries into one bucket.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdMap(HashMap<u64, Ids, BuildHasherDefault<U64Hasher>>);

impl IdMap {
    fn with_capacity(n: usize) -> Self {
        Self(HashMap::with_capacity_and_hasher(
            n,
            BuildHasherDefault::default(),
        ))
    }

    pub(crate) fn get(&self, h: u64) -> &[u32] {
        self.0.get(&h).map(Ids::as_slice).unwrap_or(&[])
    }

    fn add(&mut self, h: u64, id: u32) {
        use std::collections::hash_map::Entry;
        match self.0.entry(h) {
            Entry::Vacant(v) => {
                v.insert(Ids::One(id));
            }
            Entry::Occupied(mut o) => match o.get_mut() {
                Ids::One(x) if *x == id => {}
                ids @ Ids::One(_) => {
                    let first = ids.as_slice()[0];
                    *ids = Ids::Many(vec![first, id]);
                }
                Ids::Many(v) => {
                    if !v.contains(&id) {
                        v.push(id);
                    }
                }
            },
        }
    }

    fn remove(&mut self, h: u64, id: u32) {
        let empty = match self.0.get_mut(&h) {
            Some(Ids::One(x)) => *x == id,
            Some(ids @ Ids::Many(_)) => {
                if let Ids::Many(v) = ids {
                    if let Some(i) = v.iter().position(|&x| x == id) {
                        v.swap_remove(i);
                    }
                    if let [only] = v[..] {
                        *ids = Ids::One(only);
                        return;
                    }
                }
                ids.as_slice().is_empty()
            }
            None => false,
        };
        if empty {
            self.0.remove(&h);
        }
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The per-cache hash seed.
pub(crate) type Seed = foldhash::fast::RandomState;

/// Hashes a stored key exactly.
#[inline]
pub(crate) fn key_hash(seed: &Seed, key: &str) -> u64 {
    seed.hash_one(key)
}

/// Entries per chunk of [`Slots`].
const CHUNK: usize = 1024;

/// Slot storage in fixed-size chunks: growing never moves what is stored
/// (a load of a large document would otherwise copy its slots repeatedly).
#[derive(Debug, Clone)]
pub(crate) struct Slots<F> {
    chunks: Vec<Vec<Option<Slot<F>>>>,
    len: usize,
}

impl<F> Default for Slots<F> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<F> Slots<F> {
    /// Number of slots, holes included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn get(&self, id: u32) -> Option<&Slot<F>> {
        let id = id as usize;
        self.chunks.get(id / CHUNK)?.get(id % CHUNK)?.as_ref()
    }

    #[inline]
    fn cell(&mut self, id: u32) -> Option<&mut Option<Slot<F>>> {
        let id = id as usize;
        self.chunks.get_mut(id / CHUNK)?.get_mut(id % CHUNK)
    }

    fn push(&mut self, slot: Slot<F>) -> u32 {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(c) = self.chunks.last_mut() {
            c.push(Some(slot));
        }
        self.len += 1;
        (self.len - 1) as u32
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &Slot<F>)> {
        self.chunks
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, s)))
    }
}

/// One section of the document (`AccessToken`, ...).
#[derive(Debug, Clone)]
pub(crate) struct Section<F> {
    /// Whether the section exists in the document (Python keeps an emptied
    /// section as `{}`).
    pub(crate) present: bool,
    slots: Slots<F>,
    pub(crate) live: usize,
    by_key: IdMap,
    /// The two field indexes (see [`Fields::index_keys`]).
    pub(crate) ix: [IdMap; 2],
    /// Key and index hashes of the slots read by the current load.
    loaded_hashes: Vec<(u64, [Option<u64>; 2])>,
    seed: Seed,
}

impl<F: Fields> Section<F> {
    pub(crate) fn new(seed: Seed) -> Self {
        Self {
            present: false,
            slots: Slots::default(),
            live: 0,
            by_key: IdMap::default(),
            ix: Default::default(),
            loaded_hashes: Vec::new(),
            seed,
        }
    }

    /// The live entry with this id.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&Slot<F>> {
        self.slots.get(id)
    }

    /// Live entries in document order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Slot<F>)> {
        self.slots.iter()
    }

    /// The id of the entry stored under exactly `key`.
    pub(crate) fn find(&self, src: &str, key: &str) -> Option<u32> {
        self.find_hashed(src, key, key_hash(&self.seed, key))
    }

    fn find_hashed(&self, src: &str, key: &str, h: u64) -> Option<u32> {
        let ids = self.by_key.get(h);
        ids.iter()
            .copied()
            .find(|&id| self.get(id).is_some_and(|s| s.key.get(src) == key))
    }

    /// Drops every entry (a repeated section in the loaded document).
    pub(crate) fn clear(&mut self) {
        self.slots = Slots::default();
        self.loaded_hashes.clear();
        self.live = 0;
        self.by_key.clear();
        for ix in &mut self.ix {
            ix.clear();
        }
    }

    fn index(&mut self, id: u32, src: &str, add: bool) {
        let Some(slot) = self.slots.get(id) else {
            return;
        };
        let kh = key_hash(&self.seed, slot.key.get(src));
        self.index_hashed(id, src, add, kh);
    }

    fn index_hashed(&mut self, id: u32, src: &str, add: bool, kh: u64) {
        let Some(slot) = self.slots.get(id) else {
            return;
        };
        let hs = slot.f.index_keys(slot.body.base(src), &self.seed);
        if add {
            self.by_key.add(kh, id);
        } else {
            self.by_key.remove(kh, id);
        }
        for (ix, h) in self.ix.iter_mut().zip(hs) {
            if let Some(h) = h {
                if add {
                    ix.add(h, id);
                } else {
                    ix.remove(h, id);
                }
            }
        }
    }

    /// Appends an entry read from the document, unindexed; [`reindex`](Self::reindex)
    /// indexes the section once it is read.
    pub(crate) fn push_loaded(&mut self, src: &str, key: Text, plain_key: bool, body: Body, f: F) {
        self.present = true;
        // Hash now, while the scanner has just read these bytes: after the
        // whole document is read they would have to come from memory again.
        let kh = key_hash(&self.seed, key.get(src));
        let hs = f.index_keys(body.base(src), &self.seed);
        self.loaded_hashes.push((kh, hs));
        self.slots.push(Slot {
            key,
            plain_key,
            body,
            f,
        });
        self.live += 1;
    }

    /// Builds the key table and indexes from scratch, sized for the entries.
    /// A key stored twice keeps its first place and its last entry, as
    /// Python's `json.loads` does.
    pub(crate) fn reindex(&mut self, src: &str) {
        self.by_key = IdMap::with_capacity(self.live);
        self.ix = [
            IdMap::with_capacity(self.live),
            IdMap::with_capacity(self.live),
        ];
        let mut hashes = std::mem::take(&mut self.loaded_hashes);
        if hashes.len() != self.slots.len() {
            hashes = (0..self.slots.len() as u32)
                .map(|id| match self.slots.get(id) {
                    Some(s) => (
                        key_hash(&self.seed, s.key.get(src)),
                        s.f.index_keys(s.body.base(src), &self.seed),
                    ),
                    None => (0, [None, None]),
                })
                .collect();
        }
        for (id, (kh, hs)) in hashes.into_iter().enumerate() {
            let id = id as u32;
            if self.slots.get(id).is_none() {
                continue;
            }
            // One probe of the key table: a new key (the usual case), or a
            // hash shared with an earlier entry (the same key, or a collision).
            let first = match self.by_key.0.entry(kh) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(Ids::One(id));
                    None
                }
                std::collections::hash_map::Entry::Occupied(_) => {
                    let key = self.slots.get(id).map(|s| s.key.get(src)).unwrap_or("");
                    let ids = self.by_key.get(kh);
                    ids.iter()
                        .copied()
                        .find(|&f| self.slots.get(f).is_some_and(|s| s.key.get(src) == key))
                }
            };
            match first {
                None => {
                    self.by_key.add(kh, id);
                    for (ix, h) in self.ix.iter_mut().zip(hs) {
                        if let Some(h) = h {
                            ix.add(h, id);
                        }
                    }
                }
                Some(first) => {
                    let later = self.slots.cell(id).and_then(Option::take);
                    self.live -= 1;
                    if let Some(later) = later {
                        self.index_hashed(first, src, false, kh);
                        if let Some(cell) = self.slots.cell(first) {
                            *cell = Some(later);
                        }
                        self.index_hashed(first, src, true, kh);
                    }
                }
            }
        }
    }

    /// Stores an entry under `key`: in place if the key exists (Python's
    /// dict keeps the position), else at the end. Returns its id.
    pub(crate) fn put(&mut self, src: &str, key: Text, body: Body, f: F) -> u32 {
        self.present = true;
        let plain_key = is_plain(key.get(src));
        let slot = Slot {
            key,
            plain_key,
            body,
            f,
        };
        let kh = key_hash(&self.seed, slot.key.get(src));
        match self.find_hashed(src, slot.key.get(src), kh) {
            Some(id) => {
                self.index_hashed(id, src, false, kh);
                if let Some(cell) = self.slots.cell(id) {
                    *cell = Some(slot);
                }
                self.index_hashed(id, src, true, kh);
                id
            }
            None => {
                let id = self.slots.push(slot);
                self.live += 1;
                self.index_hashed(id, src, true, kh);
                id
            }
        }
    }

    /// Replaces the body and fields of entry `id`, keeping key and position.
    pub(crate) fn replace(&mut self, src: &str, id: u32, body: Body, f: F) {
        if self.get(id).is_none() {
            return;
        }
        self.index(id, src, false);
        if let Some(Some(slot)) = self.slots.cell(id) {
            slot.body = body;
            slot.f = f;
        }
        self.index(id, src, true);
    }

    /// Removes entry `id`.
    pub(crate) fn remove(&mut self, src: &str, id: u32) -> bool {
        if self.get(id).is_none() {
            return false;
        }
        self.index(id, src, false);
        if let Some(cell) = self.slots.cell(id) {
            *cell = None;
        }
        self.live -= 1;
        true
    }

    /// Closes the holes left by removals once they outnumber the entries
    /// (amortised O(1) per removal). Ids change: callers hold none across it.
    pub(crate) fn compact(&mut self, src: &str) {
        let holes = self.slots.len() - self.live;
        if holes < 1024 || holes < self.live {
            return;
        }
        let old = std::mem::take(&mut self.slots);
        self.live = 0;
        for slot in old.chunks.into_iter().flatten().flatten() {
            self.slots.push(slot);
            self.live += 1;
        }
        self.reindex(src);
    }
}
