//! Natural version order (`6.12.10` after `6.12.9`), for kernels and releases.

use std::cmp::Ordering;

/// Natural version order: digit runs compare numerically, the rest bytewise.
pub fn cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let o = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_kernel_wins_numerically() {
        assert_eq!(cmp("6.12.10-amd64", "6.12.9-amd64"), Ordering::Greater);
        assert_eq!(cmp("6.1.0-1-amd64", "6.12.0-1-amd64"), Ordering::Less);
        assert_eq!(cmp("6.12.0", "6.12.0"), Ordering::Equal);
    }
}
