//! Azure Arc's key-file challenge.
//!
//! The Arc agent answers the first request with `401` and
//! `WWW-Authenticate: Basic realm=<path of a key file>`; the file's content
//! authenticates the second request. Since anything listening on the port
//! could send that header, the file is read only if it lies directly in the
//! agent's token directory, has the `.key` extension and holds at most 4 KiB
//! (the checks of MSAL Go and Python).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::Error;
use crate::http::HttpResponse;

/// The largest key file read.
pub(crate) const MAX_KEY_FILE_BYTES: u64 = 4096;

fn refused(message: String) -> Error {
    Error::protocol(format!("Azure Arc key-file challenge refused: {message}"))
}

/// The key-file path a 401 answer names.
///
/// # Errors
/// [`Error::Protocol`] when the answer is not a 401 or its challenge is not
/// `Basic realm=<path>`.
pub(crate) fn challenge_path(response: &HttpResponse) -> Result<PathBuf, Error> {
    if response.status() != 401 {
        return Err(Error::protocol(format!(
            "Azure Arc answered HTTP {} to the first request, where a 401 key-file challenge was expected",
            response.status().as_u16()
        )));
    }
    let header = response
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            refused("the 401 answer has no readable WWW-Authenticate header".to_owned())
        })?;
    let (scheme, rest) = header
        .trim()
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let realm = rest
        .trim()
        .split_once('=')
        .filter(|(name, _)| {
            scheme.eq_ignore_ascii_case("basic") && name.trim().eq_ignore_ascii_case("realm")
        })
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            refused(format!(
                "WWW-Authenticate is not `Basic realm=<key file>`: {:?}",
                shown(header)
            ))
        })?;
    Ok(PathBuf::from(realm))
}

/// Reads the key file at `path` after checking it against `directory`.
///
/// # Errors
/// [`Error::Config`] when no key directory is known on this platform;
/// [`Error::Protocol`] when the file is outside `directory`, lacks the `.key`
/// extension, is larger than 4 KiB, is not a regular file, or cannot be read.
pub(crate) fn read_key(path: &Path, directory: Option<&Path>) -> Result<Zeroizing<String>, Error> {
    let directory = directory.ok_or_else(|| {
        Error::config("Azure Arc is supported on Linux and Windows only: no key-file directory is known on this platform")
    })?;
    let shown_path = path.display();
    if path.extension().and_then(|e| e.to_str()) != Some("key") {
        return Err(refused(format!(
            "{shown_path} does not have the .key extension"
        )));
    }
    let lexical_parent = path.parent().unwrap_or(Path::new(""));
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        || lexical_parent != directory
    {
        return Err(refused(format!(
            "{shown_path} is not in the expected directory {}",
            directory.display()
        )));
    }
    // Symbolic links could still lead elsewhere: compare where both really are.
    let real = std::fs::canonicalize(path)
        .map_err(|e| refused(format!("cannot open {shown_path}: {e}")))?;
    let real_dir = std::fs::canonicalize(directory).map_err(|e| {
        refused(format!(
            "cannot open the key directory {}: {e}",
            directory.display()
        ))
    })?;
    if real.parent() != Some(real_dir.as_path()) {
        return Err(refused(format!(
            "{shown_path} leads outside the expected directory {}",
            directory.display()
        )));
    }
    let meta =
        std::fs::metadata(&real).map_err(|e| refused(format!("cannot open {shown_path}: {e}")))?;
    if !meta.is_file() {
        return Err(refused(format!("{shown_path} is not a regular file")));
    }
    // Size first, before reading anything.
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(refused(format!(
            "{shown_path} holds {} bytes, more than the {MAX_KEY_FILE_BYTES} a key file may hold",
            meta.len()
        )));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(&real)
        .and_then(|f| f.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| refused(format!("cannot read {shown_path}: {e}")))?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(refused(format!(
            "{shown_path} grew beyond {MAX_KEY_FILE_BYTES} bytes while being read"
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| refused(format!("{shown_path} is not UTF-8 text")))?;
    if text.trim().is_empty() {
        return Err(refused(format!("{shown_path} is empty")));
    }
    Ok(Zeroizing::new(text.trim().to_owned()))
}

fn shown(header: &str) -> String {
    header
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(value: Option<&str>) -> HttpResponse {
        let mut b = http::Response::builder().status(401);
        if let Some(v) = value {
            b = b.header("www-authenticate", v);
        }
        b.body(Vec::new()).expect("valid")
    }

    #[test]
    fn reads_the_realm_path() {
        let p = challenge_path(&challenge(Some(
            "Basic realm=/var/opt/azcmagent/tokens/abc.key",
        )))
        .expect("ok");
        assert_eq!(p, PathBuf::from("/var/opt/azcmagent/tokens/abc.key"));
        let p = challenge_path(&challenge(Some(r#"basic realm="/t/abc.key""#))).expect("ok");
        assert_eq!(p, PathBuf::from("/t/abc.key"));
        for bad in [
            None,
            Some("Bearer realm=/t/a.key"),
            Some("Basic"),
            Some("Basic realm="),
            Some("Basic nonce=/t/a.key"),
        ] {
            let e = challenge_path(&challenge(bad)).expect_err("bad challenge");
            assert!(matches!(e, Error::Protocol(_)), "{e:?}");
        }
        let ok = http::Response::builder()
            .status(200)
            .body(Vec::new())
            .expect("valid");
        assert!(
            challenge_path(&ok)
                .expect_err("not 401")
                .to_string()
                .contains("HTTP 200")
        );
    }

    #[test]
    fn key_file_checks() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("tokens");
        std::fs::create_dir(&dir).expect("mkdir");
        let good = dir.join("abc.key");
        std::fs::write(&good, "s3cr3t\n").expect("write");
        assert_eq!(read_key(&good, Some(&dir)).expect("ok").as_str(), "s3cr3t");

        let outside = root.path().join("abc.key");
        std::fs::write(&outside, "x").expect("write");
        let e = read_key(&outside, Some(&dir)).expect_err("outside");
        assert!(
            e.to_string().contains("not in the expected directory"),
            "{e}"
        );
        let dotdot = dir.join("..").join("abc.key");
        assert!(
            read_key(&dotdot, Some(&dir))
                .expect_err("dotdot")
                .to_string()
                .contains("expected directory")
        );

        let wrong = dir.join("abc.txt");
        std::fs::write(&wrong, "x").expect("write");
        assert!(
            read_key(&wrong, Some(&dir))
                .expect_err("ext")
                .to_string()
                .contains(".key extension")
        );

        let big = dir.join("big.key");
        std::fs::write(&big, vec![b'a'; 4097]).expect("write");
        let e = read_key(&big, Some(&dir)).expect_err("big");
        assert!(e.to_string().contains("4097 bytes"), "{e}");
        let exact = dir.join("exact.key");
        std::fs::write(&exact, vec![b'a'; 4096]).expect("write");
        assert_eq!(
            read_key(&exact, Some(&dir)).expect("4 KiB is fine").len(),
            4096
        );

        assert!(matches!(read_key(&good, None), Err(Error::Config(_))));
        let missing = dir.join("missing.key");
        assert!(
            read_key(&missing, Some(&dir))
                .expect_err("missing")
                .to_string()
                .contains("cannot open")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_the_directory_is_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("tokens");
        std::fs::create_dir(&dir).expect("mkdir");
        let target = root.path().join("elsewhere.key");
        std::fs::write(&target, "x").expect("write");
        let link = dir.join("link.key");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = read_key(&link, Some(&dir)).expect_err("symlink");
        assert!(e.to_string().contains("leads outside"), "{e}");
    }
}
