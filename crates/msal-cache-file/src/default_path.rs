//! Where the `msal` command line keeps its cache when it is not told, so that
//! every program that shares the CLI's sign-in (such as msal-azure-identity)
//! finds the same file.

use std::path::PathBuf;

/// The directory under the user's local data directory that holds the `msal`
/// command line's cache.
pub const CLI_CACHE_DIR: &str = "msal";
/// The `msal` command line's cache file when encrypted (the default).
pub const CLI_CACHE_FILE: &str = "cache.bin";
/// The `msal` command line's cache file in plain text (`--plaintext`).
pub const CLI_PLAINTEXT_CACHE_FILE: &str = "cache.json";

/// The file the `msal` command line uses when `--cache` (`MSAL_CACHE`) is not
/// given: `msal/cache.bin`, or `msal/cache.json` when `plaintext`, in the
/// user's local data directory (`$XDG_DATA_HOME` or `~/.local/share` on
/// Linux, `~/Library/Application Support` on macOS, `%LOCALAPPDATA%` on
/// Windows).
///
/// `None` when there is no such directory (no home directory is known).
pub fn cli_default_cache_path(plaintext: bool) -> Option<PathBuf> {
    let name = if plaintext {
        CLI_PLAINTEXT_CACHE_FILE
    } else {
        CLI_CACHE_FILE
    };
    dirs::data_local_dir().map(|dir| dir.join(CLI_CACHE_DIR).join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_and_encrypted_files_sit_side_by_side() {
        let (Some(enc), Some(plain)) =
            (cli_default_cache_path(false), cli_default_cache_path(true))
        else {
            panic!("no data directory on this machine (HOME unset?)");
        };
        assert_eq!(enc.file_name().and_then(|n| n.to_str()), Some("cache.bin"));
        assert_eq!(
            plain.file_name().and_then(|n| n.to_str()),
            Some("cache.json")
        );
        assert_eq!(enc.parent(), plain.parent());
        assert!(enc.parent().is_some_and(|p| p.ends_with("msal")), "{enc:?}");
    }
}
