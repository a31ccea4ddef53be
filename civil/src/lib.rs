//! Civil dates (proleptic Gregorian calendar, UTC) from Unix time, with no
//! dependencies: the one conversion that the FAT writer (`kubebake-disk`,
//! DOS timestamps) and the first-boot agent (clock diagnosis) share.
//!
//! The algorithm is Howard Hinnant's `civil_from_days`
//! (<https://howardhinnant.github.io/date_algorithms.html>): exact for every
//! day an `i64` count of days can name, negative days included.

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year (1970, 2026, …; may be negative far before the epoch).
    pub year: i64,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
}

impl std::fmt::Display for Date {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The date of `days` days after 1970-01-01 (negative: before it).
pub fn from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // day is 1..=31 and month 1..=12 by construction.
    let small = |v: i64| u8::try_from(v).unwrap_or(0);
    Date {
        year,
        month: small(month),
        day: small(day),
    }
}

/// Days from 1970-01-01 to `year-month-day` (negative before it); the
/// inverse of [`from_days`]. `None` when the month or day is out of range.
pub fn to_days(year: i64, month: u8, day: u8) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let len = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > len {
        return None;
    }
    // Hinnant's days_from_civil
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The date and the seconds into that day (0–86399) of a Unix time.
pub fn from_unix(secs: i64) -> (Date, u32) {
    let into_day = u32::try_from(secs.rem_euclid(86_400)).unwrap_or(0);
    (from_days(secs.div_euclid(86_400)), into_day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(d: Date) -> (i64, u8, u8) {
        (d.year, d.month, d.day)
    }

    #[test]
    fn known_dates() {
        assert_eq!(ymd(from_days(0)), (1970, 1, 1));
        assert_eq!(ymd(from_days(-1)), (1969, 12, 31));
        // 2000-02-29: a leap day of a century divisible by 400
        assert_eq!(ymd(from_days(11_016)), (2000, 2, 29));
        let (d, s) = from_unix(1_709_214_330);
        assert_eq!((ymd(d), s), ((2024, 2, 29), 13 * 3600 + 45 * 60 + 30));
        assert_eq!(from_unix(1_795_392_000).0.to_string(), "2026-11-23");
        let (d, s) = from_unix(-1);
        assert_eq!((ymd(d), s), ((1969, 12, 31), 86_399));
    }

    #[test]
    fn to_days_inverts_from_days() {
        for days in (-800_000..800_000).step_by(7) {
            let d = from_days(days);
            assert_eq!(to_days(d.year, d.month, d.day), Some(days), "{d}");
        }
        assert_eq!(to_days(2023, 2, 29), None);
        assert_eq!(to_days(2024, 13, 1), None);
    }

    #[test]
    fn consecutive_days_advance_by_one() {
        // Every day from 1900 to 2200 follows its predecessor.
        let mut prev = from_days(-25_567);
        assert_eq!(ymd(prev), (1900, 1, 1));
        for days in -25_566..84_000 {
            let d = from_days(days);
            let next_month = d.day == 1 && (d.month == prev.month % 12 + 1);
            assert!(
                (d.year == prev.year && d.month == prev.month && d.day == prev.day + 1)
                    || (next_month
                        && (d.year == prev.year || (d.month == 1 && d.year == prev.year + 1))),
                "{prev} -> {d}"
            );
            prev = d;
        }
    }
}
