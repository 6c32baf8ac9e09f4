//! What is read from each entry up front (its lookup fields, as spans), and
//! the index keys built from them.
//!
//! Index keys are hashes of ASCII-lower-cased field values, so a lookup
//! costs a few hash probes whatever the cache size. A hash only narrows the
//! candidates: every candidate is checked field by field afterwards, so a
//! collision can never produce a wrong answer.

use std::hash::{BuildHasher, Hasher};

use super::store::{Seed, Text};

/// A field value as the entry scanner hands it over.
#[derive(Debug, Clone)]
pub(crate) enum FieldVal {
    /// A string (span of the base, or decoded).
    Str(Text),
    /// A number: its raw text span.
    Num(Text),
    /// `null`.
    Null,
    /// An object: its text span.
    Obj(Text),
    /// `true`/`false` or an array.
    Other,
}

impl FieldVal {
    fn text(self) -> Option<Text> {
        match self {
            FieldVal::Str(t) => Some(t),
            _ => None,
        }
    }

    /// A Unix time: a numeric string (as every MSAL writes) or a number.
    fn int(self, base: &str) -> Option<i64> {
        match self {
            FieldVal::Str(t) => parse_int(t.get(base)),
            FieldVal::Num(t) => {
                let raw = t.get(base);
                raw.parse::<i64>().ok().or_else(|| {
                    // Python's int() truncates a float.
                    raw.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite() && f.abs() < 9.2e18)
                        .map(|f| f.trunc() as i64)
                })
            }
            _ => None,
        }
    }
}

/// Parses a decimal integer the way Python's `int(str)` does for the values
/// caches hold: surrounding whitespace, an optional sign, digits.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty()
        || !digits
            .trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

/// `home_account_id` as stored.
#[derive(Debug, Clone, Default)]
pub(crate) enum Hai {
    /// Not there (.NET and Go app tokens).
    #[default]
    Absent,
    /// `null` (Python app tokens).
    Null,
    /// A string (`""` for Node app tokens).
    Str(Text),
    /// Anything else: matches nothing.
    Other,
}

impl Hai {
    fn from(v: FieldVal) -> Self {
        match v {
            FieldVal::Str(t) => Hai::Str(t),
            FieldVal::Null => Hai::Null,
            _ => Hai::Other,
        }
    }

    /// `Some(None)` for an app token, `Some(Some(hai))` for a user's.
    pub(crate) fn owner<'a>(&'a self, base: &'a str) -> Option<Option<&'a str>> {
        match self {
            Hai::Absent | Hai::Null => Some(None),
            Hai::Str(t) => {
                let s = t.get(base);
                Some(if s.is_empty() { None } else { Some(s) })
            }
            Hai::Other => None,
        }
    }
}

/// Lookup fields of one kind of entry.
pub(crate) trait Fields: Default {
    /// Records member `name`. Returns its bit (for spotting repeated
    /// members), or `None` for a member this kind does not read.
    fn set(&mut self, name: &str, v: FieldVal, base: &str) -> Option<u32>;
    /// The entry's keys in the section's two indexes.
    fn index_keys(&self, base: &str, seed: &Seed) -> [Option<u64>; 2];
}

const TAG_USER: &str = "\u{1}u";
const TAG_APP: &str = "\u{1}a";

/// Hash of ASCII-lower-cased parts (length-prefixed, so parts cannot run
/// into each other).
pub(crate) fn hk(seed: &Seed, parts: &[&str]) -> u64 {
    // Lower-case into a stack buffer and hash it in one call (the hasher's
    // bulk path); parts are length-prefixed.
    let mut buf = [0u8; 320];
    let mut n = 0;
    let mut h = seed.build_hasher();
    for p in parts {
        let bytes = p.as_bytes();
        if n + 8 + bytes.len() > buf.len() {
            h.write(&buf[..n]);
            n = 0;
        }
        if 8 + bytes.len() > buf.len() {
            // Longer than any real field: hash it in pieces.
            h.write_usize(bytes.len());
            for c in bytes.chunks(256) {
                let mut tmp = [0u8; 256];
                for (d, s) in tmp.iter_mut().zip(c) {
                    *d = s.to_ascii_lowercase();
                }
                h.write(&tmp[..c.len()]);
            }
            continue;
        }
        buf[n..n + 8].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        n += 8;
        let dst = &mut buf[n..n + bytes.len()];
        let mut chunks = bytes.chunks_exact(8);
        let mut i = 0;
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            dst[i..i + 8].copy_from_slice(&lower8(u64::from_le_bytes(w)).to_le_bytes());
            i += 8;
        }
        for (d, s) in dst[i..].iter_mut().zip(chunks.remainder()) {
            *d = s.to_ascii_lowercase();
        }
        n += bytes.len();
    }
    h.write(&buf[..n]);
    h.finish()
}

/// ASCII-lower-cases 8 bytes at once.
#[inline]
fn lower8(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let low7 = x & !HIGHS;
    let ge_a = low7.wrapping_add(ONES * (0x80 - u64::from(b'A')));
    let gt_z = low7.wrapping_add(ONES * (0x7f - u64::from(b'Z')));
    let upper = ge_a & !gt_z & !x & HIGHS;
    x | (upper >> 2)
}

/// Key of the account-level buckets: a user's (hai, env), or an app's
/// (env, client).
pub(crate) fn owner_key(seed: &Seed, owner: Option<&str>, env: &str, client: &str) -> u64 {
    match owner {
        Some(hai) => hk(seed, &[TAG_USER, hai, env]),
        None => hk(seed, &[TAG_APP, env, client]),
    }
}

/// Key of the exact AT bucket: (owner, env, client, realm).
pub(crate) fn at_key(
    seed: &Seed,
    owner: Option<&str>,
    env: &str,
    client: &str,
    realm: &str,
) -> u64 {
    hk(seed, &[owner.unwrap_or(TAG_APP), env, client, realm])
}

/// Key of the ID token bucket: (hai, env, client).
pub(crate) fn idt_key(seed: &Seed, hai: &str, env: &str, client: &str) -> u64 {
    hk(seed, &[TAG_USER, hai, env, client])
}

/// Key of the AppMetadata bucket: (env, client).
pub(crate) fn app_key(seed: &Seed, env: &str, client: &str) -> u64 {
    hk(seed, &[TAG_APP, env, client])
}

fn opt<'a>(t: &'a Option<Text>, base: &'a str) -> &'a str {
    t.as_ref().map(|t| t.get(base)).unwrap_or("")
}

/// An AccessToken entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct AtFields {
    pub(crate) credential_type: Option<Text>,
    pub(crate) secret: Option<Text>,
    pub(crate) hai: Hai,
    pub(crate) environment: Option<Text>,
    pub(crate) client_id: Option<Text>,
    pub(crate) realm: Option<Text>,
    pub(crate) target: Option<Text>,
    pub(crate) token_type: Option<Text>,
    pub(crate) key_id: Option<Text>,
    pub(crate) key_id_alt: Option<Text>,
    pub(crate) ext_cache_key: Option<Text>,
    /// The current-form hash of the entry's extra key parts, stored as an
    /// object (MSAL.NET's `ext`, MSAL Node's `additionalCacheKeyComponents`).
    pub(crate) ext_parts: Option<Box<str>>,
    pub(crate) uah: Option<Text>,
    pub(crate) uah_alt: Option<Text>,
    pub(crate) expires_on: Option<i64>,
    pub(crate) extended_expires_on: Option<i64>,
    pub(crate) ext_expires_on: Option<i64>,
    pub(crate) refresh_on: Option<i64>,
    /// The entry as results share it, decoded on its first hit. An entry is
    /// never changed in place (a write replaces its fields), so the memo
    /// cannot go stale.
    pub(crate) shared: std::sync::OnceLock<std::sync::Arc<super::model::SharedToken>>,
}

impl Fields for AtFields {
    fn set(&mut self, name: &str, v: FieldVal, base: &str) -> Option<u32> {
        Some(match name {
            "credential_type" => (self.credential_type = v.text(), 0).1,
            "secret" => (self.secret = v.text(), 1).1,
            "home_account_id" => (self.hai = Hai::from(v), 2).1,
            "environment" => (self.environment = v.text(), 3).1,
            "client_id" => (self.client_id = v.text(), 4).1,
            "realm" => (self.realm = v.text(), 5).1,
            "target" => (self.target = v.text(), 6).1,
            "token_type" => (self.token_type = v.text(), 7).1,
            "key_id" => (self.key_id = v.text(), 8).1,
            "kid" | "keyid" => {
                (
                    self.key_id_alt = v.text(),
                    if name == "kid" { 9 } else { 10 },
                )
                    .1
            }
            "ext_cache_key" => (self.ext_cache_key = v.text(), 11).1,
            "user_assertion_hash" => (self.uah = v.text(), 12).1,
            "userAssertionHash" => (self.uah_alt = v.text(), 13).1,
            "expires_on" => (self.expires_on = v.int(base), 14).1,
            "extended_expires_on" => (self.extended_expires_on = v.int(base), 15).1,
            "ext_expires_on" => (self.ext_expires_on = v.int(base), 16).1,
            "refresh_on" => (self.refresh_on = v.int(base), 17).1,
            "cached_at" => 18,
            "ext" | "additionalCacheKeyComponents" => {
                if let FieldVal::Obj(t) = v {
                    let hashed = super::ext_key::hash_of_object(t.get(base));
                    self.ext_parts = hashed.map(String::into_boxed_str).or(self.ext_parts.take());
                }
                if name == "ext" { 19 } else { 20 }
            }
            _ => return None,
        })
    }

    fn index_keys(&self, base: &str, seed: &Seed) -> [Option<u64>; 2] {
        let Some(owner) = self.hai.owner(base) else {
            return [None, None];
        };
        let (env, client, realm) = (
            opt(&self.environment, base),
            opt(&self.client_id, base),
            opt(&self.realm, base),
        );
        [
            Some(at_key(seed, owner, env, client, realm)),
            Some(owner_key(seed, owner, env, client)),
        ]
    }
}

/// A RefreshToken entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct RtFields {
    pub(crate) credential_type: Option<Text>,
    pub(crate) secret: Option<Text>,
    pub(crate) hai: Hai,
    pub(crate) environment: Option<Text>,
    pub(crate) client_id: Option<Text>,
    pub(crate) family_id: Option<Text>,
    pub(crate) target: Option<Text>,
    pub(crate) last_modification_time: Option<i64>,
    pub(crate) uah: Option<Text>,
    pub(crate) uah_alt: Option<Text>,
}

impl Fields for RtFields {
    fn set(&mut self, name: &str, v: FieldVal, base: &str) -> Option<u32> {
        Some(match name {
            "credential_type" => (self.credential_type = v.text(), 0).1,
            "secret" => (self.secret = v.text(), 1).1,
            "home_account_id" => (self.hai = Hai::from(v), 2).1,
            "environment" => (self.environment = v.text(), 3).1,
            "client_id" => (self.client_id = v.text(), 4).1,
            "family_id" => (self.family_id = v.text(), 5).1,
            "target" => (self.target = v.text(), 6).1,
            "last_modification_time" => (self.last_modification_time = v.int(base), 7).1,
            "user_assertion_hash" => (self.uah = v.text(), 8).1,
            "userAssertionHash" => (self.uah_alt = v.text(), 9).1,
            _ => return None,
        })
    }

    fn index_keys(&self, base: &str, seed: &Seed) -> [Option<u64>; 2] {
        match self.hai.owner(base) {
            Some(Some(hai)) => [
                Some(owner_key(seed, Some(hai), opt(&self.environment, base), "")),
                None,
            ],
            _ => [None, None],
        }
    }
}

/// An IdToken entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdtFields {
    pub(crate) credential_type: Option<Text>,
    pub(crate) secret: Option<Text>,
    pub(crate) hai: Hai,
    pub(crate) environment: Option<Text>,
    pub(crate) client_id: Option<Text>,
    pub(crate) realm: Option<Text>,
    /// The token as results share it, read on the entry's first hit (an
    /// entry is never changed in place).
    pub(crate) shared: std::sync::OnceLock<crate::secret::IdTokenSecret>,
}

impl Fields for IdtFields {
    fn set(&mut self, name: &str, v: FieldVal, _base: &str) -> Option<u32> {
        Some(match name {
            "credential_type" => (self.credential_type = v.text(), 0).1,
            "secret" => (self.secret = v.text(), 1).1,
            "home_account_id" => (self.hai = Hai::from(v), 2).1,
            "environment" => (self.environment = v.text(), 3).1,
            "client_id" => (self.client_id = v.text(), 4).1,
            "realm" => (self.realm = v.text(), 5).1,
            _ => return None,
        })
    }

    fn index_keys(&self, base: &str, seed: &Seed) -> [Option<u64>; 2] {
        match self.hai.owner(base) {
            Some(Some(hai)) => {
                let env = opt(&self.environment, base);
                [
                    Some(idt_key(seed, hai, env, opt(&self.client_id, base))),
                    Some(owner_key(seed, Some(hai), env, "")),
                ]
            }
            _ => [None, None],
        }
    }
}

/// An Account entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccFields {
    pub(crate) hai: Hai,
    pub(crate) environment: Option<Text>,
    pub(crate) realm: Option<Text>,
    pub(crate) local_account_id: Option<Text>,
    pub(crate) username: Option<Text>,
    pub(crate) authority_type: Option<Text>,
    pub(crate) account_source: Option<Text>,
    pub(crate) name: Option<Text>,
    /// The entry as `accounts()` hands it out, built on first use (an entry
    /// is never changed in place).
    pub(crate) shared: std::sync::OnceLock<super::model::Account>,
}

impl Fields for AccFields {
    fn set(&mut self, name: &str, v: FieldVal, _base: &str) -> Option<u32> {
        Some(match name {
            "home_account_id" => (self.hai = Hai::from(v), 0).1,
            "environment" => (self.environment = v.text(), 1).1,
            "realm" => (self.realm = v.text(), 2).1,
            "local_account_id" => (self.local_account_id = v.text(), 3).1,
            "username" => (self.username = v.text(), 4).1,
            "authority_type" => (self.authority_type = v.text(), 5).1,
            "account_source" => (self.account_source = v.text(), 6).1,
            "name" => (self.name = v.text(), 7).1,
            _ => return None,
        })
    }

    fn index_keys(&self, base: &str, seed: &Seed) -> [Option<u64>; 2] {
        match self.hai.owner(base) {
            Some(Some(hai)) => [
                Some(owner_key(seed, Some(hai), opt(&self.environment, base), "")),
                None,
            ],
            _ => [None, None],
        }
    }
}

/// An AppMetadata entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppFields {
    pub(crate) client_id: Option<Text>,
    pub(crate) environment: Option<Text>,
    pub(crate) family_id: Option<Text>,
}

impl Fields for AppFields {
    fn set(&mut self, name: &str, v: FieldVal, _base: &str) -> Option<u32> {
        Some(match name {
            "client_id" => (self.client_id = v.text(), 0).1,
            "environment" => (self.environment = v.text(), 1).1,
            "family_id" => (self.family_id = v.text(), 2).1,
            _ => return None,
        })
    }

    fn index_keys(&self, base: &str, seed: &Seed) -> [Option<u64>; 2] {
        match (&self.environment, &self.client_id) {
            (Some(e), Some(c)) => [Some(app_key(seed, e.get(base), c.get(base))), None],
            _ => [None, None],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower8_matches_ascii_lowercase() {
        let samples = [
            "ABCDEFGH",
            "Z@[`az{~",
            "login.MI",
            "\u{c9}\u{c0}A-Z",
            "00000000",
        ];
        for s in samples {
            let mut b = [0u8; 8];
            let bytes = s.as_bytes();
            b[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
            let expect: Vec<u8> = b.iter().map(u8::to_ascii_lowercase).collect();
            assert_eq!(
                lower8(u64::from_le_bytes(b)).to_le_bytes().to_vec(),
                expect,
                "{s}"
            );
        }
        for x in 0u8..=255 {
            let w = u64::from_le_bytes([x; 8]);
            assert_eq!(lower8(w).to_le_bytes()[0], x.to_ascii_lowercase(), "{x}");
        }
    }

    #[test]
    fn index_hash_ignores_ascii_case_only() {
        let seed = Seed::default();
        assert_eq!(
            hk(&seed, &["Login.Example", "ABC"]),
            hk(&seed, &["login.example", "abc"])
        );
        assert_ne!(hk(&seed, &["ab", "c"]), hk(&seed, &["a", "bc"]));
        let long = "X".repeat(1000);
        assert_eq!(
            hk(&seed, &[&long, "A"]),
            hk(&seed, &[&long.to_lowercase(), "a"])
        );
        assert_ne!(hk(&seed, &[&long, "A"]), hk(&seed, &[&long, "B"]));
    }

    #[test]
    fn ints_as_python_reads_them() {
        assert_eq!(parse_int("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_int(" +12 "), Some(12));
        assert_eq!(parse_int("-5"), Some(-5));
        assert_eq!(parse_int("12.5"), None);
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_int("--1"), None);
    }
}
