//! Printing results: text for people, one JSON document for programs, and
//! times in a form both can read.

use std::time::{SystemTime, UNIX_EPOCH};

/// `println!` that ignores a closed stdout (`msal token | head -c 10`)
/// instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use say;

use serde_json::{Value, json};

use crate::cli::OutputFormat;

/// Where results go and in which form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Out {
    /// JSON instead of text.
    pub(crate) json: bool,
}

impl Out {
    /// JSON when `--output json` or the command's own `--json` asked for it.
    pub(crate) fn new(format: OutputFormat, json_flag: bool) -> Self {
        Self {
            json: json_flag || format == OutputFormat::Json,
        }
    }

    /// Prints `value` as pretty JSON on stdout.
    pub(crate) fn json(&self, value: &Value) {
        // Serializing a `Value` cannot fail.
        say!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    }
}

/// Seconds since the Unix epoch now.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `unix` as an RFC 3339 UTC time (`2024-05-01T12:00:00Z`).
pub(crate) fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// "in 59 min", "in 2 h 3 min", "3 min ago".
pub(crate) fn relative(unix: i64, now: i64) -> String {
    let delta = unix - now;
    let abs = delta.unsigned_abs();
    let text = if abs < 60 {
        format!("{abs} s")
    } else if abs < 3600 {
        format!("{} min", abs / 60)
    } else if abs < 86_400 {
        format!("{} h {} min", abs / 3600, (abs % 3600) / 60)
    } else {
        format!("{} d {} h", abs / 86_400, (abs % 86_400) / 3600)
    };
    if delta >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// The home tenant of an account: the part after the dot of its home
/// account id (`<object id>.<tenant id>`).
pub(crate) fn home_tenant(a: &msal::cache::Account) -> &str {
    a.home_account_id()
        .split_once('.')
        .map(|(_, t)| t)
        .unwrap_or(a.realm())
}

/// An account as JSON (no token, no ID token).
pub(crate) fn account_json(a: &msal::cache::Account) -> Value {
    json!({
        "username": a.username(),
        "name": a.name(),
        "home_account_id": a.home_account_id(),
        "home_tenant_id": home_tenant(a),
        "environment": a.environment(),
        "realm": a.realm(),
        "local_account_id": a.local_account_id(),
        "authority_type": a.authority_type(),
    })
}

/// An account on one line of text.
pub(crate) fn account_line(a: &msal::cache::Account) -> String {
    account_line_named(a, a.name())
}

/// [`account_line`] with the display name given (the Account entry may have none).
pub(crate) fn account_line_named(a: &msal::cache::Account, name: Option<&str>) -> String {
    let name = name
        .filter(|n| !n.is_empty())
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    format!(
        "{}{name}  home tenant {}  at {}",
        a.username(),
        home_tenant(a),
        a.environment()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(1000 + 3599, 1000), "in 59 min");
        assert_eq!(relative(1000 + 7380, 1000), "in 2 h 3 min");
        assert_eq!(relative(1000 - 180, 1000), "3 min ago");
        assert_eq!(relative(1000, 1000), "in 0 s");
    }
}
