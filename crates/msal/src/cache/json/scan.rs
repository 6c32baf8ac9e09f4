//! A validating JSON scanner that reports spans instead of building values.
//!
//! Loading a large cache must not decode every entry (see the benchmark
//! notes in `docs/dev/cache-api.md`), so the scanner walks the text once,
//! validates it as strictly as Python's `json.loads`, and tells its caller
//! where each value lies. It also tells whether a value's text is already
//! exactly what Python's `json.dumps(indent=4)` would write at that nesting
//! level ("canonical"): such text is copied verbatim on save.

/// Deepest nesting accepted; deeper input is rejected rather than risking
/// the stack.
pub(crate) const MAX_LEVEL: usize = 128;

/// A scan failure: where and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanError {
    /// Byte offset of the problem.
    pub(crate) pos: usize,
    /// What was wrong.
    pub(crate) message: &'static str,
}

/// The kind of a scanned value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string; `escaped` when its text contains a backslash escape.
    Str { escaped: bool },
    /// A number.
    Num,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
    /// An object.
    Obj,
    /// An array.
    Arr,
}

/// A scanned value. For strings `start..end` is the text between the quotes;
/// for everything else it is the whole value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Val {
    pub(crate) kind: Kind,
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Whether the text is byte for byte what Python would write here.
    pub(crate) canonical: bool,
}

impl Val {
    /// The whole value's span, quotes included for strings.
    pub(crate) fn outer(&self) -> (usize, usize) {
        match self.kind {
            Kind::Str { .. } => (self.start - 1, self.end + 1),
            _ => (self.start, self.end),
        }
    }
}

/// Whitespace Python's `json.dumps(indent=4)` puts at a given place.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ws {
    /// Nothing.
    None,
    /// One space (after `:`).
    Space,
    /// A newline and this many spaces.
    Indent(usize),
}

/// Enough spaces for any indent up to `MAX_LEVEL`.
static SPACES: [u8; 4 * MAX_LEVEL + 4] = [b' '; 4 * MAX_LEVEL + 4];

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of 8 bytes needs a closer look inside a string: a quote, a
/// backslash, a control character, DEL or a non-ASCII byte. False positives
/// are harmless (the caller then goes byte by byte).
#[inline]
fn needs_attention(x: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let quote = has_zero(x ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(x ^ (ONES * u64::from(b'\\')));
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
    let high = (x | x.wrapping_add(ONES)) & HIGHS;
    (quote | backslash | control | high) != 0
}

/// The position of the first byte at or after `pos` that needs a closer
/// look inside a string (or a position near the end of `s`), 16 bytes at a
/// time.
#[inline]
fn skip_plain(s: &[u8], mut pos: usize) -> usize {
    let word = |c: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    };
    if let Some(rest) = s.get(pos..) {
        for c in rest.chunks_exact(16) {
            let (a, b) = c.split_at(8);
            if needs_attention(word(a)) || needs_attention(word(b)) {
                break;
            }
            pos += 16;
        }
    }
    while let Some(c) = s.get(pos..pos + 8) {
        if needs_attention(word(c)) {
            break;
        }
        pos += 8;
    }
    pos
}

fn hex_val(b: u8) -> Option<(u32, bool)> {
    match b {
        b'0'..=b'9' => Some((u32::from(b - b'0'), true)),
        b'a'..=b'f' => Some((u32::from(b - b'a' + 10), true)),
        b'A'..=b'F' => Some((u32::from(b - b'A' + 10), false)),
        _ => None,
    }
}

/// Whether Python writes this UTF-16 code unit as a `\uXXXX` escape.
pub(crate) fn python_escapes_as_u(unit: u32) -> bool {
    !(0x20..=0x7e).contains(&unit) && !matches!(unit, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)
}

/// The scanner: a cursor over the text.
#[derive(Debug)]
pub(crate) struct Scanner<'a> {
    s: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            s: text.as_bytes(),
            pos: 0,
        }
    }

    fn err<T>(&self, message: &'static str) -> Result<T, ScanError> {
        Err(ScanError {
            pos: self.pos,
            message,
        })
    }

    /// The next byte, if any.
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Consumes `b` if it is next.
    #[inline]
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `b` or fails with `message`.
    pub(crate) fn expect(&mut self, b: u8, message: &'static str) -> Result<(), ScanError> {
        if self.eat(b) {
            Ok(())
        } else {
            self.err(message)
        }
    }

    /// Skips whitespace and says whether it was exactly `want`.
    #[inline]
    pub(crate) fn ws(&mut self, want: Ws) -> bool {
        let start = self.pos;
        // Fast path for the expected shape, then a plain skip.
        let exact = match want {
            Ws::None => true,
            Ws::Space => self.eat(b' '),
            Ws::Indent(n) => {
                let end = start + 1 + n;
                if self.s.get(start) == Some(&b'\n')
                    && self
                        .s
                        .get(start + 1..end)
                        .is_some_and(|r| SPACES.get(..n) == Some(r))
                {
                    self.pos = end;
                    true
                } else {
                    false
                }
            }
        };
        let before = self.pos;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
        exact && self.pos == before
    }

    /// Whether only whitespace remains.
    pub(crate) fn at_end(&mut self) -> bool {
        self.ws(Ws::None);
        self.pos >= self.s.len()
    }

    /// Scans any value at nesting `level` (the top-level document is 0).
    pub(crate) fn value(&mut self, level: usize) -> Result<Val, ScanError> {
        match self.peek() {
            Some(b'{') => self.object(level),
            Some(b'[') => self.array(level),
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Kind::Bool),
            Some(b'f') => self.literal(b"false", Kind::Bool),
            Some(b'n') => self.literal(b"null", Kind::Null),
            // Python's json.loads reads (and json.dumps writes) these three,
            // so a cache MSAL Python saved can hold them.
            Some(b'N') => self.literal(b"NaN", Kind::Num),
            Some(b'I') => self.literal(b"Infinity", Kind::Num),
            Some(_) => self.err("expected a JSON value"),
            None => self.err("unexpected end of input"),
        }
    }

    fn literal(&mut self, word: &'static [u8], kind: Kind) -> Result<Val, ScanError> {
        let start = self.pos;
        if self.s.get(start..start + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(Val {
                kind,
                start,
                end: self.pos,
                canonical: true,
            })
        } else {
            self.err("expected a JSON value")
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Val, ScanError> {
        let start = self.pos;
        let mut canonical = true;
        self.eat(b'-');
        if self.peek() == Some(b'I') {
            self.pos = start;
            return self.literal(b"-Infinity", Kind::Num);
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err("invalid number"),
        }
        if self.eat(b'.') {
            canonical = false;
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            canonical = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        // Python reads -0 as the integer 0 and writes it back as 0.
        if &self.s[start..self.pos] == b"-0" {
            canonical = false;
        }
        Ok(Val {
            kind: Kind::Num,
            start,
            end: self.pos,
            canonical,
        })
    }

    /// Scans a string starting at its opening quote.
    pub(crate) fn string(&mut self) -> Result<Val, ScanError> {
        if !self.eat(b'"') {
            return self.err("expected a string");
        }
        let start = self.pos;
        let mut escaped = false;
        let mut canonical = true;
        loop {
            self.pos = skip_plain(self.s, self.pos);
            let Some(b) = self.peek() else {
                return Err(ScanError {
                    pos: start - 1,
                    message: "unterminated string",
                });
            };
            match b {
                b'"' => {
                    let end = self.pos;
                    self.pos += 1;
                    return Ok(Val {
                        kind: Kind::Str { escaped },
                        start,
                        end,
                        canonical,
                    });
                }
                b'\\' => {
                    escaped = true;
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                        Some(b'/') => {
                            canonical = false;
                            self.pos += 1;
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            let mut unit = 0u32;
                            for _ in 0..4 {
                                let Some((v, lower)) = self.peek().and_then(hex_val) else {
                                    return self.err("invalid \\u escape");
                                };
                                canonical &= lower;
                                unit = unit * 16 + v;
                                self.pos += 1;
                            }
                            canonical &= python_escapes_as_u(unit);
                        }
                        _ => return self.err("invalid escape"),
                    }
                }
                0..=0x1f => return self.err("control character in string"),
                0x7f..=0xff => {
                    canonical = false;
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Scans an object with any content; `level` is the object's own level.
    fn object(&mut self, level: usize) -> Result<Val, ScanError> {
        let start = self.pos;
        if level >= MAX_LEVEL {
            return self.err("nesting too deep");
        }
        self.pos += 1;
        let mut canonical = true;
        let mut keys: Vec<(usize, usize)> = Vec::new();
        // Past a few keys, a set keeps the duplicate check linear.
        let mut big: Option<std::collections::HashSet<&[u8]>> = None;
        let first = self.ws(Ws::None);
        if self.eat(b'}') {
            return Ok(Val {
                kind: Kind::Obj,
                start,
                end: self.pos,
                canonical: first,
            });
        }
        self.pos = start + 1;
        canonical &= self.ws(Ws::Indent(4 * (level + 1)));
        loop {
            if self.peek() != Some(b'"') {
                return self.err("expected a string key");
            }
            let key = self.string()?;
            canonical &= key.canonical;
            if canonical {
                // Canonical keys are equal exactly when their texts are.
                let text = &self.s[key.start..key.end];
                canonical = match &mut big {
                    Some(set) => set.insert(text),
                    None => {
                        let fresh = !keys.iter().any(|&(a, b)| &self.s[a..b] == text);
                        keys.push((key.start, key.end));
                        if keys.len() > 16 {
                            big = Some(keys.iter().map(|&(a, b)| &self.s[a..b]).collect());
                        }
                        fresh
                    }
                };
            }
            canonical &= self.ws(Ws::None);
            self.expect(b':', "expected ':'")?;
            canonical &= self.ws(Ws::Space);
            let v = self.value(level + 1)?;
            canonical &= v.canonical;
            let ws_start = self.pos;
            let after = self.ws(Ws::None);
            if self.eat(b',') {
                let indent = self.ws(Ws::Indent(4 * (level + 1)));
                canonical &= after && indent;
            } else if self.peek() == Some(b'}') {
                canonical &= self.is_indent(ws_start, level);
                self.pos += 1;
                return Ok(Val {
                    kind: Kind::Obj,
                    start,
                    end: self.pos,
                    canonical,
                });
            } else {
                return self.err("expected ',' or '}'");
            }
        }
    }

    /// Whether the text from `ws_start` to the cursor is exactly a newline
    /// and `4 * level` spaces (the whitespace before a closing bracket).
    #[inline]
    pub(crate) fn is_indent(&self, ws_start: usize, level: usize) -> bool {
        let n = 4 * level;
        self.pos == ws_start + n + 1
            && self.s.get(ws_start) == Some(&b'\n')
            && self
                .s
                .get(ws_start + 1..self.pos)
                .is_some_and(|r| SPACES.get(..n) == Some(r))
    }

    fn array(&mut self, level: usize) -> Result<Val, ScanError> {
        let start = self.pos;
        if level >= MAX_LEVEL {
            return self.err("nesting too deep");
        }
        self.pos += 1;
        let first = self.ws(Ws::None);
        if self.eat(b']') {
            return Ok(Val {
                kind: Kind::Arr,
                start,
                end: self.pos,
                canonical: first,
            });
        }
        self.pos = start + 1;
        let mut canonical = self.ws(Ws::Indent(4 * (level + 1)));
        loop {
            let v = self.value(level + 1)?;
            canonical &= v.canonical;
            let ws_start = self.pos;
            let after = self.ws(Ws::None);
            if self.eat(b',') {
                let indent = self.ws(Ws::Indent(4 * (level + 1)));
                canonical &= after && indent;
            } else if self.peek() == Some(b']') {
                canonical &= self.is_indent(ws_start, level);
                self.pos += 1;
                return Ok(Val {
                    kind: Kind::Arr,
                    start,
                    end: self.pos,
                    canonical,
                });
            } else {
                return self.err("expected ',' or ']'");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(t: &str, level: usize) -> Result<Val, ScanError> {
        let mut s = Scanner::new(t);
        let v = s.value(level)?;
        if !s.at_end() {
            return Err(ScanError {
                pos: s.pos,
                message: "extra",
            });
        }
        Ok(v)
    }

    fn canon(t: &str, level: usize) -> bool {
        scan(t, level).unwrap().canonical
    }

    #[test]
    fn python_layout_is_canonical() {
        assert!(canon("{}", 0));
        assert!(canon("[]", 0));
        assert!(canon(
            "{\n    \"a\": 1,\n    \"b\": [\n        \"x\",\n        null\n    ]\n}",
            0
        ));
        assert!(canon("{\n            \"a\": \"b\"\n        }", 2));
        assert!(canon(
            "\"caf\\u00e9 \\ud83d\\ude00 \\\" \\\\ \\n \\u001f \\u007f\"",
            0
        ));
        assert!(canon("-12", 0));
        assert!(canon("true", 0));
    }

    #[test]
    fn other_layouts_are_not() {
        assert!(!canon("{ }", 0));
        assert!(!canon("{\"a\":1}", 0));
        assert!(!canon("{\n  \"a\": 1\n}", 0));
        assert!(!canon("{\n    \"a\": 1,\n    \"a\": 2\n}", 0));
        assert!(!canon("{\n    \"a\" : 1\n}", 0));
        assert!(!canon("{\n    \"a\": 1 \n}", 0));
        assert!(!canon("\"caf\u{e9}\"", 0));
        assert!(!canon("\"\\u00E9\"", 0));
        assert!(!canon("\"\\u0041\"", 0));
        assert!(!canon("\"\\u000a\"", 0));
        assert!(!canon("\"a\\/b\"", 0));
        assert!(!canon("\"\u{7f}\"", 0));
        assert!(!canon("1.0", 0));
        assert!(!canon("1e3", 0));
        assert!(!canon("-0", 0));
        // Right layout, wrong level.
        assert!(!canon("{\n    \"a\": 1\n}", 1));
    }

    #[test]
    fn long_strings_and_escapes_found_past_the_fast_path() {
        let plain = "x".repeat(100);
        let v = scan(&format!("\"{plain}\""), 0).unwrap();
        assert_eq!((v.start, v.end), (1, 101));
        assert!(v.canonical);
        let v = scan(&format!("\"{plain}\\n{plain}\""), 0).unwrap();
        assert_eq!(v.kind, Kind::Str { escaped: true });
        assert!(
            !scan(&format!("\"{plain}\u{e9}{plain}\""), 0)
                .unwrap()
                .canonical
        );
    }

    #[test]
    fn invalid_json_is_rejected_with_a_position() {
        for (t, pos) in [
            ("{", 1),
            ("{\"a\" 1}", 5),
            ("[1,]", 3),
            ("\"abc", 0),
            ("\"a\u{1}\"", 2),
            ("01", 1),
            ("1.", 2),
            ("-", 1),
            ("nul", 0),
            ("\"\\x\"", 2),
            ("\"\\u12g4\"", 5),
            ("{\"a\":1,}", 7),
            ("Nan", 0),
            ("-Inf", 0),
        ] {
            let e = scan(t, 0).unwrap_err();
            assert_eq!(e.pos, pos, "{t}: {e:?}");
        }
    }

    #[test]
    fn python_non_finite_numbers_are_read() {
        for t in ["NaN", "Infinity", "-Infinity"] {
            let v = scan(t, 0).unwrap();
            assert_eq!(
                (v.kind, v.end, v.canonical),
                (Kind::Num, t.len(), true),
                "{t}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let t = "[".repeat(100_000);
        assert_eq!(scan(&t, 0).unwrap_err().message, "nesting too deep");
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(scan(&ok, 0).is_ok());
    }
}
