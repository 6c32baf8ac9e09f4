//! Reading and writing the whole document.
//!
//! Loading scans the text once: it validates it, notes each entry's span and
//! lookup fields, and builds the indexes. Saving writes the skeleton in
//! Python's layout and copies every entry whose text is already in that
//! layout; only entries written in another layout (by another MSAL) are
//! re-formatted.

use crate::error::CacheFormatError;

use super::TokenCache;
use super::index::{FieldVal, Fields};
use super::json::py::{Json, escape_into, newline_indent, unescape};
use super::json::scan::{Kind, ScanError, Scanner, Val, Ws};
use super::store::{Body, Section, Text};

/// The top-level members, in document order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Top {
    AccessToken,
    RefreshToken,
    IdToken,
    Account,
    AppMetadata,
    /// Index into `TokenCache::unknown`.
    Unknown(usize),
}

impl Top {
    pub(crate) fn name(self) -> Option<&'static str> {
        Some(match self {
            Top::AccessToken => "AccessToken",
            Top::RefreshToken => "RefreshToken",
            Top::IdToken => "IdToken",
            Top::Account => "Account",
            Top::AppMetadata => "AppMetadata",
            Top::Unknown(_) => return None,
        })
    }

    fn from_name(name: &str) -> Option<Top> {
        Some(match name {
            "AccessToken" => Top::AccessToken,
            "RefreshToken" => Top::RefreshToken,
            "IdToken" => Top::IdToken,
            "Account" => Top::Account,
            "AppMetadata" => Top::AppMetadata,
            _ => return None,
        })
    }
}

/// A top-level member msal does not know, kept as it was.
#[derive(Debug, Clone)]
pub(crate) struct Unknown {
    pub(crate) key: Text,
    pub(crate) body: Body,
}

/// A scan error inside an entry, with the member it happened in.
struct EntryError(ScanError, Option<String>);

impl From<ScanError> for EntryError {
    fn from(e: ScanError) -> Self {
        EntryError(e, None)
    }
}

fn string_text(v: &Val, base: &str) -> Text {
    match v.kind {
        Kind::Str { escaped: true } => {
            Text::Own(unescape(base.get(v.start..v.end).unwrap_or("")).into())
        }
        _ => Text::Span(v.start as u32, v.end as u32),
    }
}

/// Scans one entry at `level` (2 inside a section), reading its lookup
/// fields. A value that is not an object is kept and has no fields.
fn scan_entry<F: Fields>(
    sc: &mut Scanner<'_>,
    base: &str,
    level: usize,
) -> Result<(Val, F), EntryError> {
    let mut f = F::default();
    if sc.peek() != Some(b'{') {
        return Ok((sc.value(level)?, f));
    }
    let start = sc.pos;
    sc.pos += 1;
    let empty = sc.ws(Ws::None);
    if sc.eat(b'}') {
        return Ok((
            Val {
                kind: Kind::Obj,
                start,
                end: sc.pos,
                canonical: empty,
            },
            f,
        ));
    }
    sc.pos = start + 1;
    let mut canonical = sc.ws(Ws::Indent(4 * (level + 1)));
    let mut seen = 0u64;
    let mut others: Vec<(usize, usize)> = Vec::new();
    loop {
        if sc.peek() != Some(b'"') {
            return Err(ScanError {
                pos: sc.pos,
                message: "expected a string key",
            }
            .into());
        }
        let k = sc.string()?;
        canonical &= k.canonical;
        let decoded;
        let name = match k.kind {
            Kind::Str { escaped: true } => {
                decoded = unescape(base.get(k.start..k.end).unwrap_or(""));
                decoded.as_str()
            }
            _ => base.get(k.start..k.end).unwrap_or(""),
        };
        canonical &= sc.ws(Ws::None);
        sc.expect(b':', "expected ':'")
            .map_err(|e| EntryError(e, Some(name.to_owned())))?;
        canonical &= sc.ws(Ws::Space);
        let v = sc
            .value(level + 1)
            .map_err(|e| EntryError(e, Some(name.to_owned())))?;
        canonical &= v.canonical;
        let fv = match v.kind {
            Kind::Str { .. } => FieldVal::Str(string_text(&v, base)),
            Kind::Num => FieldVal::Num(Text::Span(v.start as u32, v.end as u32)),
            Kind::Null => FieldVal::Null,
            Kind::Obj => FieldVal::Obj(Text::Span(v.start as u32, v.end as u32)),
            _ => FieldVal::Other,
        };
        match f.set(name, fv, base) {
            Some(bit) => {
                canonical &= seen & (1 << bit) == 0;
                seen |= 1 << bit;
            }
            None if canonical => {
                let raw = base.as_bytes().get(k.start..k.end).unwrap_or(&[]);
                canonical &= !others
                    .iter()
                    .any(|&(a, b)| base.as_bytes().get(a..b) == Some(raw));
                others.push((k.start, k.end));
            }
            None => {}
        }
        let ws_start = sc.pos;
        let tight = sc.ws(Ws::None);
        if sc.eat(b',') {
            let indent = sc.ws(Ws::Indent(4 * (level + 1)));
            canonical &= tight && indent;
        } else if sc.peek() == Some(b'}') {
            canonical &= sc.is_indent(ws_start, level);
            sc.pos += 1;
            return Ok((
                Val {
                    kind: Kind::Obj,
                    start,
                    end: sc.pos,
                    canonical,
                },
                f,
            ));
        } else {
            return Err(ScanError {
                pos: sc.pos,
                message: "expected ',' or '}'",
            }
            .into());
        }
    }
}

/// Reads the fields of an entry msal-rs wrote itself (its own text).
pub(crate) fn fields_of<F: Fields>(text: &str) -> F {
    let mut sc = Scanner::new(text);
    scan_entry::<F>(&mut sc, text, 2)
        .map(|(_, f)| f)
        .unwrap_or_default()
}

fn format_error(src: &str, e: ScanError, path: String) -> CacheFormatError {
    let pos = e.pos.min(src.len());
    let before = src.get(..pos).unwrap_or("");
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    CacheFormatError {
        path,
        message: e.message.to_owned(),
        line: Some(line),
        column: Some(column),
    }
}

fn utf8_error(bytes: &[u8], e: std::str::Utf8Error) -> CacheFormatError {
    let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("");
    format_error(
        valid,
        ScanError {
            pos: e.valid_up_to(),
            message: "invalid UTF-8",
        },
        "$".into(),
    )
}

fn member_path(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("$.{name}")
    } else {
        format!("$[{}]", serde_json::Value::String(name.to_owned()))
    }
}

fn scan_section<F: Fields>(
    sc: &mut Scanner<'_>,
    src: &str,
    section: &mut Section<F>,
    name: &str,
) -> Result<(), CacheFormatError> {
    let path = member_path(name);
    if sc.peek() != Some(b'{') {
        let e = ScanError {
            pos: sc.pos,
            message: "expected an object mapping keys to entries",
        };
        return Err(format_error(src, e, path));
    }
    // A repeated section replaces the earlier one, as in Python's json.loads.
    section.clear();
    section.present = true;
    sc.pos += 1;
    sc.ws(Ws::None);
    if sc.eat(b'}') {
        return Ok(());
    }
    let mut i = 0usize;
    loop {
        let n = i;
        let at = |e: ScanError| format_error(src, e, format!("{path}[{n}]"));
        if sc.peek() != Some(b'"') {
            return Err(at(ScanError {
                pos: sc.pos,
                message: "expected a string key",
            }));
        }
        let k = sc.string().map_err(at)?;
        sc.ws(Ws::None);
        sc.expect(b':', "expected ':'").map_err(at)?;
        sc.ws(Ws::None);
        let (v, f) = scan_entry::<F>(sc, src, 2).map_err(|EntryError(e, field)| {
            let p = match field {
                Some(fname) => format!("{path}[{i}]{}", &member_path(&fname)[1..]),
                None => format!("{path}[{i}]"),
            };
            format_error(src, e, p)
        })?;
        let (start, end) = v.outer();
        section.push_loaded(
            src,
            string_text(&k, src),
            k.canonical && k.kind == Kind::Str { escaped: false },
            Body::Src {
                start: start as u32,
                end: end as u32,
                canonical: v.canonical,
            },
            f,
        );
        i += 1;
        sc.ws(Ws::None);
        if sc.eat(b',') {
            sc.ws(Ws::None);
        } else if sc.eat(b'}') {
            return Ok(());
        } else {
            return Err(at(ScanError {
                pos: sc.pos,
                message: "expected ',' or '}'",
            }));
        }
    }
}

impl TokenCache {
    /// Loads a cache from its JSON text (the unified format of every MSAL).
    ///
    /// Empty input is an empty cache (as in MSAL Python). Entries that
    /// cannot be used (not an object, missing or malformed fields, foreign
    /// credential types) are kept verbatim and skipped by lookups.
    ///
    /// # Errors
    /// [`CacheFormatError`] when the text is not UTF-8 JSON, its top level
    /// is not an object, or a section is not an object; it gives the JSON
    /// path and the line and column.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, CacheFormatError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| utf8_error(bytes, e))?;
        Self::deserialize_text(text.to_owned())
    }

    /// [`deserialize`](Self::deserialize), taking ownership of the bytes (as
    /// a [`CacheStore`](crate::storage::CacheStore) returns them), which
    /// saves copying a large document.
    ///
    /// # Errors
    /// As [`deserialize`](Self::deserialize).
    pub fn deserialize_owned(mut bytes: Vec<u8>) -> Result<Self, CacheFormatError> {
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        match String::from_utf8(bytes) {
            Ok(text) => Self::deserialize_text(text),
            Err(e) => {
                let err = e.utf8_error();
                Err(utf8_error(e.as_bytes(), err))
            }
        }
    }

    fn deserialize_text(text: String) -> Result<Self, CacheFormatError> {
        let mut cache = TokenCache::new();
        if text.is_empty() {
            return Ok(cache);
        }
        if text.len() >= u32::MAX as usize {
            return Err(CacheFormatError::new("$", "document larger than 4 GiB"));
        }
        let result = cache.load(&text);
        cache.src = text;
        cache.touched_access_tokens();
        result.map(|()| cache)
    }

    fn load(&mut self, src: &str) -> Result<(), CacheFormatError> {
        let mut sc = Scanner::new(src);
        sc.ws(Ws::None);
        if sc.peek() != Some(b'{') {
            // Tell "not JSON" apart from "JSON, but not an object".
            let start = sc.pos;
            let e = match sc.value(0) {
                Err(e) => e,
                Ok(_) => ScanError {
                    pos: start,
                    message: "expected a JSON object at the top level",
                },
            };
            let e =
                if e.message == "expected a JSON value" || e.message == "unexpected end of input" {
                    ScanError {
                        message: "not JSON: expected a JSON object",
                        ..e
                    }
                } else {
                    e
                };
            return Err(format_error(src, e, "$".into()));
        }
        sc.pos += 1;
        sc.ws(Ws::None);
        if !sc.eat(b'}') {
            loop {
                if sc.peek() != Some(b'"') {
                    return Err(format_error(
                        src,
                        ScanError {
                            pos: sc.pos,
                            message: "expected a string key",
                        },
                        "$".into(),
                    ));
                }
                let k = sc.string().map_err(|e| format_error(src, e, "$".into()))?;
                let key = string_text(&k, src);
                let name = key.get(src).to_owned();
                sc.ws(Ws::None);
                sc.expect(b':', "expected ':'")
                    .map_err(|e| format_error(src, e, "$".into()))?;
                sc.ws(Ws::None);
                let top = match Top::from_name(&name) {
                    Some(top) => {
                        match top {
                            Top::AccessToken => scan_section(&mut sc, src, &mut self.at, &name)?,
                            Top::RefreshToken => scan_section(&mut sc, src, &mut self.rt, &name)?,
                            Top::IdToken => scan_section(&mut sc, src, &mut self.idt, &name)?,
                            Top::Account => scan_section(&mut sc, src, &mut self.acc, &name)?,
                            Top::AppMetadata => scan_section(&mut sc, src, &mut self.app, &name)?,
                            Top::Unknown(_) => {}
                        }
                        top
                    }
                    None => {
                        let v = sc
                            .value(1)
                            .map_err(|e| format_error(src, e, member_path(&name)))?;
                        let (start, end) = v.outer();
                        let body = Body::Src {
                            start: start as u32,
                            end: end as u32,
                            canonical: v.canonical,
                        };
                        match self.unknown.iter().position(|u| u.key.get(src) == name) {
                            Some(i) => {
                                self.unknown[i].body = body;
                                Top::Unknown(i)
                            }
                            None => {
                                self.unknown.push(Unknown { key, body });
                                Top::Unknown(self.unknown.len() - 1)
                            }
                        }
                    }
                };
                if !self.order.contains(&top) {
                    self.order.push(top);
                }
                sc.ws(Ws::None);
                if sc.eat(b',') {
                    sc.ws(Ws::None);
                } else if sc.eat(b'}') {
                    break;
                } else {
                    return Err(format_error(
                        src,
                        ScanError {
                            pos: sc.pos,
                            message: "expected ',' or '}'",
                        },
                        "$".into(),
                    ));
                }
            }
        }
        self.at.reindex(src);
        self.rt.reindex(src);
        self.idt.reindex(src);
        self.acc.reindex(src);
        self.app.reindex(src);
        if !sc.at_end() {
            return Err(format_error(
                src,
                ScanError {
                    pos: sc.pos,
                    message: "extra data after the document",
                },
                "$".into(),
            ));
        }
        Ok(())
    }

    /// The cache as JSON text, laid out exactly as MSAL Python writes it
    /// (`json.dumps(indent=4)`): members in insertion order, unknown members,
    /// entries and fields kept, and each entry stored under the key it was
    /// read with.
    pub fn serialize(&self) -> Vec<u8> {
        let src = &*self.src;
        if self.order.is_empty() {
            return b"{}".to_vec();
        }
        let mut out = String::with_capacity(src.len() + 4096);
        out.push('{');
        for (i, top) in self.order.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let key = match top {
                Top::Unknown(u) => self.unknown.get(*u).map(|u| u.key.get(src)).unwrap_or(""),
                _ => top.name().unwrap_or(""),
            };
            out.push_str("\n    \"");
            escape_into(&mut out, key);
            out.push_str("\": ");
            match top {
                Top::AccessToken => write_section(&mut out, src, &self.at),
                Top::RefreshToken => write_section(&mut out, src, &self.rt),
                Top::IdToken => write_section(&mut out, src, &self.idt),
                Top::Account => write_section(&mut out, src, &self.acc),
                Top::AppMetadata => write_section(&mut out, src, &self.app),
                Top::Unknown(u) => match self.unknown.get(*u) {
                    Some(u) => write_body(&mut out, src, &u.body, 1),
                    None => out.push_str("null"),
                },
            }
        }
        out.push_str("\n}");
        out.into_bytes()
    }
}

fn write_section<F: Fields>(out: &mut String, src: &str, section: &Section<F>) {
    if section.live == 0 {
        out.push_str("{}");
        return;
    }
    out.push('{');
    let mut first = true;
    for (_, slot) in section.iter() {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str("\n        \"");
        if slot.plain_key {
            out.push_str(slot.key.get(src));
        } else {
            escape_into(out, slot.key.get(src));
        }
        out.push_str("\": ");
        write_body(out, src, &slot.body, 2);
    }
    newline_indent(out, 1);
    out.push('}');
}

/// Writes a value's text at `level`: verbatim when already in Python's
/// layout, else re-formatted.
pub(crate) fn write_body(out: &mut String, src: &str, body: &Body, level: usize) {
    let text = body.text(src);
    if body.is_canonical() {
        out.push_str(text);
        return;
    }
    match Json::parse(text) {
        Some(v) => v.write(out, level),
        // Unreachable for scanned text; keep the bytes rather than lose them.
        None => out.push_str(text),
    }
}
