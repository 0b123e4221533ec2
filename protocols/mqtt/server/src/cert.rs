//! The common name of a client certificate (for `use_identity_as_username`), read with a small
//! DER walker: Certificate → tbsCertificate → subject → the first `commonName` (2.5.4.3).

/// `id-at-commonName`.
const CN_OID: &[u8] = &[0x55, 0x04, 0x03];

/// Reads one DER element: `(tag, contents, rest)`.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, body, rest) = element(input)?;
    (t == tag).then_some((body, rest))
}

/// The subject common name of a DER certificate, if it has one.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (cert, _) = expect(der, 0x30)?;
    let (tbs, _) = expect(cert, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xA0) {
        rest = element(rest)?.2; // [0] version
    }
    for _ in 0..4 {
        // serialNumber, signature, issuer, validity
        rest = element(rest)?.2;
    }
    let (mut rdns, _) = expect(rest, 0x30)?;
    while !rdns.is_empty() {
        let (set, next) = expect(rdns, 0x31)?;
        rdns = next;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (atv, next) = expect(atvs, 0x30)?;
            atvs = next;
            let (oid, value) = expect(atv, 0x06)?;
            if oid != CN_OID {
                continue;
            }
            let (tag, text, _) = element(value)?;
            return match tag {
                // UTF8String, PrintableString, T61String, IA5String
                0x0C | 0x13 | 0x14 | 0x16 => std::str::from_utf8(text).ok().map(str::to_owned),
                // BMPString: UTF-16 big-endian
                0x1E => {
                    let units: Vec<u16> = text
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16(&units).ok()
                }
                _ => None,
            };
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if body.len() < 0x80 {
            v.push(body.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    fn cert_with_subject(subject: &[u8]) -> Vec<u8> {
        let mut tbs = tlv(0xA0, &tlv(0x02, &[2]));
        tbs.extend(tlv(0x02, &[1, 2, 3]));
        tbs.extend(tlv(0x30, &[]));
        tbs.extend(tlv(0x30, &[]));
        tbs.extend(tlv(0x30, &[]));
        tbs.extend(tlv(0x30, subject));
        tbs.extend(tlv(0x30, &[0; 200])); // subjectPublicKeyInfo, long form length
        tlv(0x30, &tlv(0x30, &tbs))
    }

    fn rdn(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut atv = tlv(0x06, oid);
        atv.extend(tlv(tag, value));
        tlv(0x31, &tlv(0x30, &atv))
    }

    #[test]
    fn finds_the_common_name_after_other_attributes() {
        let mut subject = rdn(&[0x55, 0x04, 0x06], 0x13, b"DE");
        subject.extend(rdn(CN_OID, 0x0C, b"device-7"));
        assert_eq!(
            common_name(&cert_with_subject(&subject)).as_deref(),
            Some("device-7")
        );
    }

    #[test]
    fn bmp_strings_and_missing_names() {
        let subject = rdn(CN_OID, 0x1E, &[0, b'a', 0, b'b']);
        assert_eq!(
            common_name(&cert_with_subject(&subject)).as_deref(),
            Some("ab")
        );
        let subject = rdn(&[0x55, 0x04, 0x0A], 0x0C, b"org");
        assert_eq!(common_name(&cert_with_subject(&subject)), None);
    }

    #[test]
    fn truncated_or_garbage_input_is_none() {
        let subject = rdn(CN_OID, 0x0C, b"x");
        let der = cert_with_subject(&subject);
        for n in 0..der.len() {
            let _ = common_name(&der[..n]);
        }
        assert_eq!(common_name(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]), None);
        assert_eq!(common_name(b""), None);
    }
}
