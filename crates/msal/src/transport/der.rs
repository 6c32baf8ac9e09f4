//! Just enough DER to name a certificate's issuer and subject in an error
//! message ("issued by CN=Contoso Inspection CA, O=Contoso"), so a person
//! behind a TLS-inspecting proxy knows which root to add. Never panics on
//! malformed input: anything unexpected yields `None`.

/// One DER element: its tag and content.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
}

/// Reads one element from the front of `input`; returns it and the rest.
fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((Tlv { tag, content }, rest))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The issuer and subject names of a DER certificate, as `CN=..., O=...`.
pub(crate) fn issuer_and_subject(cert: &[u8]) -> Option<(String, String)> {
    let (certificate, _) = read(cert)?;
    if certificate.tag != SEQUENCE {
        return None;
    }
    let (tbs, _) = read(certificate.content)?;
    if tbs.tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs.content;
    let (first, after) = read(rest)?;
    rest = after;
    if first.tag == 0xa0 {
        // That was the explicit version; the serial number follows.
        (_, rest) = read(rest)?;
    }
    let (_signature, rest) = read(rest)?;
    let (issuer, rest) = read(rest)?;
    let (_validity, rest) = read(rest)?;
    let (subject, _) = read(rest)?;
    Some((name(&issuer)?, name(&subject)?))
}

/// A Name (SEQUENCE OF SET OF AttributeTypeAndValue) with the attributes
/// people recognise; an empty name shows as `(empty name)`.
fn name(n: &Tlv<'_>) -> Option<String> {
    if n.tag != SEQUENCE {
        return None;
    }
    let mut parts = Vec::new();
    let mut rdns = n.content;
    while !rdns.is_empty() {
        let (rdn, after) = read(rdns)?;
        rdns = after;
        if rdn.tag != SET {
            return None;
        }
        let mut atvs = rdn.content;
        while !atvs.is_empty() {
            let (atv, after) = read(atvs)?;
            atvs = after;
            let (oid, value_rest) = read(atv.content)?;
            let (value, _) = read(value_rest)?;
            if oid.tag != OID {
                return None;
            }
            let (rank, label) = match oid.content {
                [0x55, 0x04, 0x03] => (0, "CN"),
                [0x55, 0x04, 0x0b] => (1, "OU"),
                [0x55, 0x04, 0x0a] => (2, "O"),
                [0x55, 0x04, 0x06] => (3, "C"),
                _ => continue,
            };
            parts.push((rank, format!("{label}={}", string_value(&value))));
        }
    }
    // Issuers order attributes either way; people look for the CN first.
    parts.sort_by_key(|(rank, _)| *rank);
    let parts: Vec<String> = parts.into_iter().map(|(_, p)| p).collect();
    Some(if parts.is_empty() {
        "(empty name)".to_owned()
    } else {
        parts.join(", ")
    })
}

fn string_value(v: &Tlv<'_>) -> String {
    match v.tag {
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = v
                .content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => String::from_utf8_lossy(v.content).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_input_is_none_not_a_panic() {
        for bad in [
            &b""[..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x02, 0x30],
            &[0x04, 0x00],
        ] {
            assert!(issuer_and_subject(bad).is_none());
        }
    }

    #[test]
    fn names_show_the_common_name_first() {
        // SEQUENCE { SET { SEQ { OID C, "US" } }, SET { SEQ { OID O, "Contoso" } }, SET { SEQ { OID CN, "Root" } } }
        let atv = |oid: u8, s: &str| {
            let mut v = vec![0x06, 3, 0x55, 0x04, oid, 0x0c, s.len() as u8];
            v.extend_from_slice(s.as_bytes());
            let mut seq = vec![0x30, v.len() as u8];
            seq.extend(v);
            let mut set = vec![0x31, seq.len() as u8];
            set.extend(seq);
            set
        };
        let mut body = atv(0x06, "US");
        body.extend(atv(0x0a, "Contoso"));
        body.extend(atv(0x03, "Root"));
        let mut n = vec![0x30, body.len() as u8];
        n.extend(body);
        let (tlv, _) = read(&n).expect("valid");
        assert_eq!(name(&tlv).as_deref(), Some("CN=Root, O=Contoso, C=US"));
    }
}
