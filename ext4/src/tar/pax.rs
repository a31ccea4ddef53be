//! PAX extended headers: `LEN key=value\n` records, parsed by length so
//! binary values (a `security.capability` xattr, say) may contain newlines.

use super::Records;

/// The last value of `key` (later records win).
pub(crate) fn get<'a>(records: Option<&'a Records>, key: &str) -> Option<&'a [u8]> {
    records?
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

/// Parse a record set; trailing NUL padding is allowed.
pub(crate) fn parse(data: &[u8]) -> Result<Records, String> {
    let mut out = Vec::new();
    let mut p = 0usize;
    while p < data.len() {
        if data[p..].iter().all(|&b| b == 0) {
            break;
        }
        let bad = |why: &str| format!("bad PAX record at byte {p} of the extended header: {why}");
        let sp = data[p..]
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("no length"))?;
        let len: usize = std::str::from_utf8(&data[p..p + sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("the length is not a number"))?;
        let rec = p
            .checked_add(len)
            .and_then(|end| data.get(p..end))
            .ok_or_else(|| bad("the length runs past the header"))?;
        if len <= sp + 1 || rec.last() != Some(&b'\n') {
            return Err(bad("the record does not end in a newline"));
        }
        let kv = &rec[sp + 1..len - 1];
        let eq = kv
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("no `=`"))?;
        let key = String::from_utf8(kv[..eq].to_vec()).map_err(|_| bad("the key is not UTF-8"))?;
        out.push((key, kv[eq + 1..].to_vec()));
        p += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_with_newlines() {
        let v = b"a\nb\n";
        let rec = format!("{} user.x=", 3 + 7 + v.len() + 1);
        let mut d = rec.into_bytes();
        d.extend_from_slice(v);
        d.push(b'\n');
        d.extend_from_slice(b"11 path=ab\n");
        let got = parse(&d).expect("parse");
        assert_eq!(got[0], ("user.x".to_string(), v.to_vec()));
        assert_eq!(got[1], ("path".to_string(), b"ab".to_vec()));
        assert_eq!(get(Some(&got), "path"), Some(&b"ab"[..]));
        for bad in [&b"99 x=1\n"[..], b"x", b"7 x=1\n", b"5 x1\n"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
