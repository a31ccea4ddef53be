//! Whether the clock can be trusted at first boot, and the clock check.
//!
//! Waiting for NTP is right when the clock cannot be trusted (a Raspberry
//! Pi without an RTC starts in 1970, or at its last shutdown with
//! fake-hwclock) and wrong when it can (a VM, a board with a battery-backed
//! RTC): there it only delays `kubeadm` by the whole timeout when no NTP
//! server answers. The rule, from evidence on the node:
//!
//! * the clock is **implausible** when it is before the image's build time
//!   (`built_at` of the build manifest; [`FLOOR`] when the image was built
//!   without `SOURCE_DATE_EPOCH`), or outside the seed CA's validity when
//!   the seed carries the CA (init and control-plane seeds);
//! * it is **trusted** when it is plausible and an RTC keeps it
//!   (`/sys/class/rtc/rtc*` exists): the agent asks timedate1 once and
//!   does not wait;
//! * otherwise (implausible, or no RTC) the agent waits up to
//!   `KUBEBAKE_NTP_TIMEOUT_MS` for `NTPSynchronized`.
//!
//! Either way an unsynchronised clock gets its diagnosis line.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::preflight::{Check, Level};

/// 2025-01-01T00:00:00Z: no kubebake image is older, so an earlier clock
/// is wrong even when the image carries no build time.
pub const FLOOR: i64 = 1_735_689_600;

/// What the node knows about its clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The clock, Unix seconds.
    pub now: i64,
    /// The first RTC device (`rtc0`), if any.
    pub rtc: Option<String>,
    /// The image's build time (`SOURCE_DATE_EPOCH`), when recorded.
    pub built_at: Option<i64>,
    /// The seed CA's `notBefore`/`notAfter`, when the seed has the CA.
    pub ca: Option<(i64, i64)>,
}

/// The verdict, with its reason for the diagnosis line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Plausible and kept by an RTC: do not wait for NTP.
    Trusted(String),
    /// Implausible or without an RTC: wait for NTP.
    Untrusted(String),
}

/// `YYYY-MM-DD` of a Unix time.
pub fn date(secs: i64) -> String {
    kubebake_civil::from_days(secs.div_euclid(86_400)).to_string()
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The first `/sys/class/rtc/rtc*` device.
fn rtc(cfg: &Config) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(cfg.path("/sys/class/rtc"))
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("rtc"))
        .collect();
    names.sort();
    names.into_iter().next()
}

/// `built_at` of the build manifest, when it is a real time (> 0).
fn built_at(cfg: &Config) -> Option<i64> {
    let text = std::fs::read(cfg.path(kubebake_seed::paths::BUILD_MANIFEST)).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v.get("built_at")?.as_i64().filter(|t| *t > 0)
}

impl Evidence {
    /// Reads the RTC, the build manifest and the seed CA (`ca_pem`).
    pub fn gather(cfg: &Config, now: SystemTime, ca_pem: Option<&str>) -> Self {
        Evidence {
            now: unix(now),
            rtc: rtc(cfg),
            built_at: built_at(cfg),
            ca: ca_pem.and_then(|p| kubebake_seed::cert_validity(p).ok()),
        }
    }

    /// Applies the rule of this module.
    pub fn trust(&self) -> Trust {
        let now = date(self.now);
        let floor = self.built_at.unwrap_or(FLOOR).max(FLOOR);
        if self.now < floor {
            let what = match self.built_at {
                Some(b) if b >= FLOOR => format!("the image's build time ({})", date(b)),
                _ => format!("{} (older than any kubebake image)", date(FLOOR)),
            };
            return Trust::Untrusted(format!("clock at {now} is before {what}"));
        }
        if let Some((nb, na)) = self.ca {
            if self.now < nb || self.now > na {
                return Trust::Untrusted(format!(
                    "clock at {now} is outside the cluster CA's validity ({} to {})",
                    date(nb),
                    date(na)
                ));
            }
        }
        let Some(rtc) = &self.rtc else {
            return Trust::Untrusted(
                "no RTC (/sys/class/rtc is empty): the clock may be the last shutdown's".into(),
            );
        };
        let mut why = format!("RTC {rtc}, after the image's build time");
        if self.ca.is_some() {
            why.push_str(", inside the CA's validity");
        }
        Trust::Trusted(why)
    }
}

/// The clock check: synchronised, or a warning naming why the agent did or
/// did not wait; a clock before 2020 fails (every certificate looks invalid).
pub fn check(now: SystemTime, trust: &Trust, ntp_synced: Option<bool>, waited: Duration) -> Check {
    let secs = unix(now);
    let today = date(secs);
    let fail = |diagnosis: String, fix: &str| Check {
        name: "clock",
        level: Level::Fail,
        diagnosis,
        fix: fix.to_string(),
    };
    let warn = |diagnosis: String, fix: &str| Check {
        name: "clock",
        level: Level::Warn,
        diagnosis,
        fix: fix.to_string(),
    };
    if secs < 1_577_836_800 {
        return fail(
            format!("clock at {today}; no RTC? certificates will look invalid"),
            "enable systemd-timesyncd/NTP (seed `ntp:`) and make sure the NTP server is reachable",
        );
    }
    let ntp_fix =
        "check systemd-timesyncd (`timedatectl timesync-status`) and the seed's ntp servers";
    match (ntp_synced, trust) {
        (Some(true), _) => Check {
            name: "clock",
            level: Level::Ok,
            diagnosis: format!("NTP-synchronised ({today})"),
            fix: String::new(),
        },
        (Some(false), Trust::Trusted(why)) => warn(
            format!("clock at {today} is not NTP-synchronised; not waiting: it is trusted ({why})"),
            ntp_fix,
        ),
        (Some(false), Trust::Untrusted(why)) => warn(
            format!(
                "clock at {today} is not NTP-synchronised after {} s ({why})",
                waited.as_secs()
            ),
            ntp_fix,
        ),
        (None, _) => warn(
            format!("clock at {today}; synchronisation state unknown (timedate1 unavailable)"),
            "check `timedatectl`",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23 = 1795392000
    const NOW: i64 = 1_795_392_000;

    fn ev(rtc: bool, built_at: Option<i64>, ca: Option<(i64, i64)>) -> Evidence {
        Evidence {
            now: NOW,
            rtc: rtc.then(|| "rtc0".to_string()),
            built_at,
            ca,
        }
    }

    #[test]
    fn trusted_only_with_an_rtc_and_a_plausible_clock() {
        let built = Some(NOW - 86_400 * 30);
        assert!(
            matches!(ev(true, built, None).trust(), Trust::Trusted(w) if w.contains("RTC rtc0"))
        );
        assert!(matches!(
            ev(true, built, Some((NOW - 10, NOW + 10))).trust(),
            Trust::Trusted(w) if w.contains("inside the CA's validity")
        ));
        // a Pi without RTC: plausible is not enough
        assert!(
            matches!(ev(false, built, None).trust(), Trust::Untrusted(w) if w.contains("no RTC"))
        );
        // an RTC that says the image is from the future
        assert!(matches!(
            ev(true, Some(NOW + 3600), None).trust(),
            Trust::Untrusted(w) if w.contains("before the image's build time (2026-11-23)")
        ));
        // the CA is not valid yet: the clock lags
        assert!(matches!(
            ev(true, built, Some((NOW + 3600, NOW + 86_400))).trust(),
            Trust::Untrusted(w) if w.contains("outside the cluster CA's validity")
        ));
        // no build time recorded: 1970 is still implausible
        let mut e = ev(true, None, None);
        e.now = 0;
        assert!(
            matches!(e.trust(), Trust::Untrusted(w) if w.contains("1970-01-01 is before 2025-01-01"))
        );
    }

    #[test]
    fn evidence_from_the_node() {
        let d = tempfile::tempdir().expect("tmp");
        let cfg = Config::from_env(Some(d.path().to_path_buf()));
        let e = Evidence::gather(&cfg, UNIX_EPOCH + Duration::from_secs(NOW as u64), None);
        assert_eq!((e.rtc, e.built_at), (None, None));
        std::fs::create_dir_all(d.path().join("sys/class/rtc/rtc0")).expect("mk");
        let m = cfg.path(kubebake_seed::paths::BUILD_MANIFEST);
        std::fs::create_dir_all(m.parent().expect("dir")).expect("mk");
        std::fs::write(&m, r#"{"profile":"x","built_at":1700000000}"#).expect("w");
        let e = Evidence::gather(&cfg, UNIX_EPOCH + Duration::from_secs(NOW as u64), None);
        assert_eq!(
            (e.rtc.as_deref(), e.built_at),
            (Some("rtc0"), Some(1_700_000_000))
        );
        // built without SOURCE_DATE_EPOCH: no build time
        std::fs::write(&m, r#"{"built_at":0}"#).expect("w");
        assert_eq!(
            Evidence::gather(&cfg, SystemTime::now(), None).built_at,
            None
        );
    }

    #[test]
    fn clock_1970_fails_and_the_diagnosis_says_why_it_waited() {
        let untrusted = Trust::Untrusted("no RTC".into());
        let k = check(
            UNIX_EPOCH + Duration::from_secs(3600),
            &untrusted,
            Some(false),
            Duration::from_secs(120),
        );
        assert_eq!(k.level, Level::Fail);
        assert!(
            k.diagnosis.starts_with("clock at 1970-01-01; no RTC?"),
            "{}",
            k.diagnosis
        );
        assert!(k.fix.contains("systemd-timesyncd/NTP"));
        let t = UNIX_EPOCH + Duration::from_secs(NOW as u64);
        assert_eq!(
            check(t, &untrusted, Some(true), Duration::ZERO).level,
            Level::Ok
        );
        let w = check(t, &untrusted, Some(false), Duration::from_secs(120));
        assert_eq!(w.level, Level::Warn);
        assert!(
            w.diagnosis.contains("2026-11-23") && w.diagnosis.contains("after 120 s (no RTC)"),
            "{}",
            w.diagnosis
        );
        let w = check(
            t,
            &Trust::Trusted("RTC rtc0".into()),
            Some(false),
            Duration::ZERO,
        );
        assert!(
            w.diagnosis
                .contains("not waiting: it is trusted (RTC rtc0)"),
            "{}",
            w.diagnosis
        );
    }
}
