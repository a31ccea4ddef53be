//! Hand-written blocking zbus proxies for the systemd D-Bus services the
//! agent uses: systemd1 (start/restart units, unit state), hostname1 (static
//! hostname) and timedate1 (timezone, NTP synchronisation).
//!
//! zbus is pinned `>=5.19,<6`: 6.0 removed the blocking API. The system bus
//! address honours `DBUS_SYSTEM_BUS_ADDRESS`, which tests point at a private
//! `dbus-daemon`.
//!
//! hostname1 and timedate1 are started on demand (D-Bus activation) and exit
//! when idle. On a loaded node systemd can take longer to start one than the
//! bus waits (25 s), and the call fails with `TimedOut: Failed to activate
//! service`. Calls to them are retried while that lasts, up to a bounded
//! total wait, with one console line saying what the agent waits for; the
//! time is counted as waiting, not as the agent's own work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zbus::blocking::Connection;
use zbus::zvariant::OwnedObjectPath;

/// Default bound on the total wait for one slowly starting service
/// (`KUBEBAKE_DBUS_WAIT_MS` overrides it).
pub const ACTIVATION_WAIT: Duration = Duration::from_secs(180);

/// The D-Bus-activated services the agent calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// org.freedesktop.hostname1 (systemd-hostnamed).
    Hostname1,
    /// org.freedesktop.timedate1 (systemd-timedated).
    Timedate1,
}

impl Service {
    /// The well-known bus name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Hostname1 => "org.freedesktop.hostname1",
            Service::Timedate1 => "org.freedesktop.timedate1",
        }
    }

    /// The service's object path.
    fn path(self) -> &'static str {
        match self {
            Service::Hostname1 => "/org/freedesktop/hostname1",
            Service::Timedate1 => "/org/freedesktop/timedate1",
        }
    }
}

/// Whether `e` says the service is still starting (activation or reply
/// timed out, or it went away mid-call) rather than that the call is wrong.
pub fn is_slow_start(e: &zbus::Error) -> bool {
    use zbus::fdo::Error as Fdo;
    match e {
        zbus::Error::FDO(f) => matches!(**f, Fdo::TimedOut(_) | Fdo::Timeout(_) | Fdo::NoReply(_)),
        zbus::Error::MethodError(name, _, _) => matches!(
            name.as_str(),
            "org.freedesktop.DBus.Error.TimedOut"
                | "org.freedesktop.DBus.Error.Timeout"
                | "org.freedesktop.DBus.Error.NoReply"
        ),
        _ => false,
    }
}

/// org.freedesktop.systemd1.Manager (subset).
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1",
    gen_async = false,
    blocking_name = "ManagerProxy"
)]
pub trait Manager {
    /// Starts a unit; returns the job path.
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    /// Restarts a unit; returns the job path.
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    /// Object path of a loaded unit.
    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
}

/// org.freedesktop.systemd1.Unit (subset).
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1",
    gen_async = false,
    blocking_name = "UnitProxy"
)]
pub trait Unit {
    /// `active`, `activating`, `failed`, …
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
}

/// org.freedesktop.hostname1 (subset).
#[zbus::proxy(
    interface = "org.freedesktop.hostname1",
    default_service = "org.freedesktop.hostname1",
    default_path = "/org/freedesktop/hostname1",
    gen_async = false,
    blocking_name = "HostnameProxy"
)]
pub trait Hostname {
    /// Sets the static hostname (persisted in /etc/hostname).
    fn set_static_hostname(&self, hostname: &str, interactive: bool) -> zbus::Result<()>;
    /// The static hostname.
    #[zbus(property)]
    fn static_hostname(&self) -> zbus::Result<String>;
}

/// org.freedesktop.timedate1 (subset).
#[zbus::proxy(
    interface = "org.freedesktop.timedate1",
    default_service = "org.freedesktop.timedate1",
    default_path = "/org/freedesktop/timedate1",
    gen_async = false,
    blocking_name = "TimedateProxy"
)]
pub trait Timedate {
    /// Sets the system timezone.
    fn set_timezone(&self, timezone: &str, interactive: bool) -> zbus::Result<()>;
    /// Whether the clock is NTP-synchronised.
    #[zbus(property, name = "NTPSynchronized")]
    fn ntp_synchronized(&self) -> zbus::Result<bool>;
    /// Whether NTP (systemd-timesyncd) is enabled.
    #[zbus(property, name = "NTP")]
    fn ntp(&self) -> zbus::Result<bool>;
}

/// D-Bus call errors, naming the call.
#[derive(Debug, thiserror::Error)]
#[error("D-Bus {call}: {source}")]
pub struct BusError {
    /// Which call failed.
    pub call: String,
    /// Cause.
    #[source]
    pub source: Box<zbus::Error>,
}

fn ctx<T>(call: impl Into<String>, r: zbus::Result<T>) -> Result<T, BusError> {
    r.map_err(|source| BusError {
        call: call.into(),
        source: Box::new(source),
    })
}

/// A connection to the system bus and the calls the agent makes.
pub struct Bus {
    conn: Connection,
    /// Bound on the total wait for one slowly starting service per call.
    activation_wait: Duration,
    /// Time spent waiting for services to start since the last
    /// [`Bus::take_waited`], in ms.
    waited_ms: AtomicU64,
    /// Services whose slow start was already announced on the console.
    announced: Mutex<Vec<Service>>,
}

impl Bus {
    fn new(conn: Connection) -> Self {
        Bus {
            conn,
            activation_wait: ACTIVATION_WAIT,
            waited_ms: AtomicU64::new(0),
            announced: Mutex::new(Vec::new()),
        }
    }

    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` or the default).
    pub fn system() -> Result<Self, BusError> {
        Ok(Bus::new(ctx("connect system bus", Connection::system())?))
    }

    /// Connects to a bus by address (tests).
    pub fn at(address: &str) -> Result<Self, BusError> {
        let b = ctx(
            "bus address",
            zbus::blocking::connection::Builder::address(address),
        )?;
        Ok(Bus::new(ctx(format!("connect {address}"), b.build())?))
    }

    /// The same bus with another bound on the wait for a slow service.
    pub fn with_activation_wait(mut self, wait: Duration) -> Self {
        self.activation_wait = wait;
        self
    }

    /// Time spent waiting for services to start since the last call.
    pub fn take_waited(&self) -> Duration {
        Duration::from_millis(self.waited_ms.swap(0, Ordering::Relaxed))
    }

    fn add_waited(&self, d: Duration) {
        self.waited_ms
            .fetch_add(crate::state::ms(d), Ordering::Relaxed);
    }

    /// One console line per service, the first time it is slow to start.
    fn announce(&self, svc: Service, call: &str, e: &zbus::Error) {
        let mut seen = self
            .announced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !seen.contains(&svc) {
            seen.push(svc);
            crate::console::note(&format!(
                "waiting up to {} s for {} to start ({call}: {e})",
                self.activation_wait.as_secs(),
                svc.name()
            ));
        }
    }

    /// Runs `f` until it succeeds, fails for another reason than a slow
    /// start, or the total wait reaches the bound. The time of failed
    /// attempts and pauses is counted as waiting.
    fn retrying<T>(
        &self,
        svc: Service,
        call: &str,
        mut f: impl FnMut() -> zbus::Result<T>,
    ) -> Result<T, BusError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(250);
        loop {
            let attempt = Instant::now();
            let e = match f() {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let left = self.activation_wait.saturating_sub(start.elapsed());
            if !is_slow_start(&e) || left.is_zero() {
                let call = if start.elapsed() > attempt.elapsed() {
                    format!(
                        "{call} (gave up after waiting {:.0} s for {} to start)",
                        start.elapsed().as_secs_f64(),
                        svc.name()
                    )
                } else {
                    call.to_string()
                };
                return Err(BusError {
                    call,
                    source: Box::new(e),
                });
            }
            self.announce(svc, call, &e);
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_secs(5));
            self.add_waited(attempt.elapsed());
        }
    }

    /// Waits until `svc` answers (a Peer.Ping, which starts it if needed);
    /// the whole time is waiting. The host phase asks every service it
    /// needs before changing anything, so it is never half-applied.
    pub fn wait_ready(&self, svc: Service) -> Result<Duration, BusError> {
        let t = Instant::now();
        let before = self.waited_ms.load(Ordering::Relaxed);
        let r = self.retrying(svc, "Peer.Ping", || {
            self.conn
                .call_method(
                    Some(svc.name()),
                    svc.path(),
                    Some("org.freedesktop.DBus.Peer"),
                    "Ping",
                    &(),
                )
                .map(|_| ())
        });
        // retrying counted the failed attempts; the answered one is waiting too
        let total = t.elapsed();
        self.waited_ms.store(
            before.saturating_add(crate::state::ms(total)),
            Ordering::Relaxed,
        );
        r.map(|()| total)
    }

    /// Sets the static hostname through hostname1.
    pub fn set_static_hostname(&self, name: &str) -> Result<(), BusError> {
        let p = ctx("hostname1", HostnameProxy::new(&self.conn))?;
        self.retrying(Service::Hostname1, "hostname1.SetStaticHostname", || {
            p.set_static_hostname(name, false)
        })
    }

    /// Reads the static hostname through hostname1.
    pub fn static_hostname(&self) -> Result<String, BusError> {
        let p = ctx("hostname1", HostnameProxy::new(&self.conn))?;
        self.retrying(Service::Hostname1, "hostname1.StaticHostname", || {
            p.static_hostname()
        })
    }

    /// Sets the timezone through timedate1.
    pub fn set_timezone(&self, tz: &str) -> Result<(), BusError> {
        let p = ctx("timedate1", TimedateProxy::new(&self.conn))?;
        self.retrying(Service::Timedate1, "timedate1.SetTimezone", || {
            p.set_timezone(tz, false)
        })
    }

    /// Reads timedate1 `NTPSynchronized`.
    pub fn ntp_synchronized(&self) -> Result<bool, BusError> {
        let p = ctx("timedate1", TimedateProxy::new(&self.conn))?;
        // the property changes without a signal we subscribe to: no caching
        self.retrying(Service::Timedate1, "timedate1.NTPSynchronized", || {
            p.inner().get_property::<bool>("NTPSynchronized")
        })
    }

    /// Reads timedate1 `NTP` (is time synchronisation enabled at all).
    pub fn ntp_enabled(&self) -> Result<bool, BusError> {
        let p = ctx("timedate1", TimedateProxy::new(&self.conn))?;
        self.retrying(Service::Timedate1, "timedate1.NTP", || {
            p.inner().get_property::<bool>("NTP")
        })
    }

    /// Polls `NTPSynchronized` until true or `timeout`; returns the final
    /// value and the time waited. Does not wait when NTP is disabled.
    pub fn wait_ntp_synchronized(&self, timeout: Duration) -> Result<(bool, Duration), BusError> {
        let start = Instant::now();
        if !self.ntp_synchronized()? && !self.ntp_enabled()? {
            return Ok((false, start.elapsed()));
        }
        loop {
            if self.ntp_synchronized()? {
                return Ok((true, start.elapsed()));
            }
            if start.elapsed() >= timeout {
                return Ok((false, start.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(200).min(timeout));
        }
    }

    /// Starts a unit (mode `replace`); returns the job path.
    pub fn start_unit(&self, unit: &str) -> Result<String, BusError> {
        let p = ctx("systemd1", ManagerProxy::new(&self.conn))?;
        ctx(
            format!("systemd1.StartUnit {unit}"),
            p.start_unit(unit, "replace"),
        )
        .map(|o| o.to_string())
    }

    /// Restarts a unit (mode `replace`); returns the job path.
    pub fn restart_unit(&self, unit: &str) -> Result<String, BusError> {
        let p = ctx("systemd1", ManagerProxy::new(&self.conn))?;
        ctx(
            format!("systemd1.RestartUnit {unit}"),
            p.restart_unit(unit, "replace"),
        )
        .map(|o| o.to_string())
    }

    /// `ActiveState` of a loaded unit.
    pub fn active_state(&self, unit: &str) -> Result<String, BusError> {
        let m = ctx("systemd1", ManagerProxy::new(&self.conn))?;
        let path = ctx(format!("systemd1.GetUnit {unit}"), m.get_unit(unit))?;
        let u = ctx(
            "systemd1 unit",
            UnitProxy::builder(&self.conn)
                .path(path)
                .and_then(|b| b.cache_properties(zbus::proxy::CacheProperties::No).build()),
        )?;
        ctx(format!("{unit} ActiveState"), u.active_state())
    }

    /// Restarts a unit and waits until it is `active` (or `failed`, or
    /// `timeout`); returns the last state seen.
    pub fn restart_and_wait(&self, unit: &str, timeout: Duration) -> Result<String, BusError> {
        self.restart_unit(unit)?;
        let start = Instant::now();
        loop {
            let s = self.active_state(unit)?;
            if s == "active" || s == "failed" || start.elapsed() >= timeout {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_errors_are_told_from_wrong_calls() {
        let fdo = |e: zbus::fdo::Error| zbus::Error::FDO(Box::new(e));
        for slow in [
            zbus::fdo::Error::TimedOut("Failed to activate service".into()),
            zbus::fdo::Error::Timeout("no reply".into()),
            zbus::fdo::Error::NoReply("peer went away".into()),
        ] {
            assert!(is_slow_start(&fdo(slow)));
        }
        for wrong in [
            zbus::fdo::Error::InvalidArgs("Invalid static hostname".into()),
            zbus::fdo::Error::ServiceUnknown("not provided by any .service files".into()),
            zbus::fdo::Error::AccessDenied("no".into()),
        ] {
            assert!(!is_slow_start(&fdo(wrong)));
        }
        assert!(!is_slow_start(&zbus::Error::InvalidReply));
    }
}
