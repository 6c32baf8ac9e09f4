//! `msal cache inspect`: what the cache file holds, in counts. Never a token.

use msal_cache_file::FileCache;
use serde_json::json;

use crate::context::Ctx;
use crate::error::{CliError, CliResult};
use crate::inspect::{APP_BUCKET, Counts, Report, inspect as analyse};
use crate::output::say;
use crate::output::{Out, now_unix};

/// Reads (and decrypts) the cache file and prints its counts.
pub(crate) async fn inspect(ctx: &Ctx, json: bool) -> CliResult {
    let out = Out::new(ctx.g.output, json);
    let cache = ctx.file_cache()?;
    let facts = read(&cache).await?;
    print(&facts, out);
    Ok(())
}

/// What `inspect` found.
pub(crate) struct Facts {
    /// The file.
    pub(crate) path: std::path::PathBuf,
    /// Its size in bytes; `None` when there is no file.
    pub(crate) size: Option<u64>,
    /// Whether it is encrypted at rest.
    pub(crate) encrypted: bool,
    /// The counts.
    pub(crate) report: Report,
}

/// Reads `cache` under its lock and counts its entries.
pub(crate) async fn read(cache: &FileCache) -> CliResult<Facts> {
    let path = cache.path().to_path_buf();
    let (size, encrypted) = match size_and_header(&path) {
        Ok((size, head)) => (
            Some(size),
            msal_cache_file::envelope::looks_encrypted(&head),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, false),
        Err(e) => {
            return Err(CliError::other(format!(
                "cannot read the cache file {}: {e}",
                path.display()
            )));
        }
    };
    let doc = cache.read_document().await.map_err(file_error)?;
    let report = match doc {
        Some(doc) if !doc.is_empty() => analyse(&doc, now_unix()).map_err(|e| {
            CliError::other(format!(
                "the cache file {} is not an MSAL cache: {}",
                path.display(),
                e.0
            ))
        })?,
        _ => analyse(b"{}", 0).map_err(|e| CliError::other(e.0))?,
    };
    Ok(Facts {
        path,
        size,
        encrypted,
        report,
    })
}

/// The file's size and its first bytes (enough to tell an encrypted file):
/// the document itself is read once, by the cache.
fn size_and_header(path: &std::path::Path) -> std::io::Result<(u64, Vec<u8>)> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut head = Vec::with_capacity(msal_cache_file::envelope::MAGIC.len());
    file.take(msal_cache_file::envelope::MAGIC.len() as u64)
        .read_to_end(&mut head)?;
    Ok((size, head))
}

/// A file cache error as the CLI reports it.
pub(crate) fn file_error(e: msal_cache_file::Error) -> CliError {
    let storage: msal::error::StorageError = e.into();
    CliError::from(msal::Error::Storage(storage))
}

fn print(f: &Facts, out: Out) {
    let r = &f.report;
    if out.json {
        out.json(&json!({
            "path": f.path.display().to_string(),
            "exists": f.size.is_some(),
            "size_bytes": f.size,
            "encrypted": f.encrypted,
            "sections": r.sections,
            "accounts": r.accounts,
            "environments": r.environments,
            "clients": r.clients,
            "expired_access_tokens": r.expired_access_tokens,
            "unreadable_entries": r.unreadable_entries,
            "other_members": r.other_members,
        }));
        return;
    }
    match f.size {
        None => say!(
            "Cache file   {} (does not exist yet: empty)",
            printable(&f.path.display().to_string())
        ),
        Some(size) => say!(
            "Cache file   {} ({}, {})",
            printable(&f.path.display().to_string()),
            bytes(size),
            if f.encrypted {
                "encrypted"
            } else {
                "plain JSON"
            }
        ),
    }
    let sections: Vec<String> = crate::inspect::SECTIONS
        .iter()
        .map(|s| format!("{s} {}", r.sections.get(*s).copied().unwrap_or(0)))
        .collect();
    say!("Entries      {}", sections.join(", "));
    say!("Expired      {} access token(s)", r.expired_access_tokens);
    if r.unreadable_entries > 0 {
        say!(
            "Unreadable   {} entr(y/ies), kept as they are",
            r.unreadable_entries
        );
    }
    if !r.other_members.is_empty() {
        let names: Vec<String> = r.other_members.iter().map(|m| printable(m)).collect();
        say!("Other data   {}", names.join(", "));
    }
    if r.is_empty() {
        return;
    }
    say!("Accounts");
    for (hai, a) in &r.accounts {
        let hai = printable(hai);
        let who = if hai == APP_BUCKET {
            "(app tokens, no user)".to_owned()
        } else if a.usernames.is_empty() {
            format!("{hai} (no Account entry)")
        } else {
            format!("{} ({hai})", printable_list(&a.usernames))
        };
        let tenants = if a.realms.is_empty() {
            String::new()
        } else {
            format!("; tenants {}", printable_list(&a.realms))
        };
        say!(
            "  {who}: {} access token(s) ({} expired), {} refresh token(s), {} ID token(s){tenants}",
            a.access_tokens,
            a.expired_access_tokens,
            a.refresh_tokens,
            a.id_tokens
        );
    }
    say!("Environments");
    for (env, c) in &r.environments {
        say!("  {}: {}", shown(env), counts(c));
    }
    say!("Clients");
    for (client, c) in &r.clients {
        say!("  {}: {}", shown(client), counts(c));
    }
}

/// A value from the cache file as text to print: `(none)` when empty.
fn shown(s: &str) -> String {
    if s.is_empty() {
        "(none)".to_owned()
    } else {
        printable(s)
    }
}

/// `s` safe to print on a terminal: control characters (an ANSI escape
/// sequence in a hostile cache file could rewrite the screen or the
/// window title) and the invisible bidirectional controls (which reorder
/// what is shown) are written as `\u{..}` escapes; the rest is kept.
pub(crate) fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn printable_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| printable(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn counts(c: &Counts) -> String {
    format!(
        "{} access, {} refresh, {} ID token(s), {} account(s), {} app metadata",
        c.access_tokens, c.refresh_tokens, c.id_tokens, c.accounts, c.app_metadata
    )
}

fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} bytes")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(printable("ada@contoso.com"), "ada@contoso.com");
        assert_eq!(
            printable("Zoë 日本"),
            "Zoë 日本",
            "printable Unicode is kept"
        );
        assert_eq!(
            printable("\u{1b}[31mevil\u{1b}[0m\r\n\u{7}"),
            "\\u{1b}[31mevil\\u{1b}[0m\\u{d}\\u{a}\\u{7}"
        );
        assert_eq!(printable("\u{9b}2J"), "\\u{9b}2J", "the C1 CSI too");
        assert_eq!(printable("a\u{202e}cba"), "a\\u{202e}cba");
        assert_eq!(shown(""), "(none)");
        assert_eq!(shown("\u{1b}"), "\\u{1b}");
    }
}
