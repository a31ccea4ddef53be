//! Hand-written blocking zbus proxies for the systemd D-Bus services the
//! agent uses: systemd1 (start/restart units, unit state), hostname1 (static
//! hostname) and timedate1 (timezone, NTP synchronisation).
//!
//! zbus is pinned `>=5.19,<6`: 6.0 removed the blocking API. The system bus
//! address honours `DBUS_SYSTEM_BUS_ADDRESS`, which tests point at a private
//! `dbus-daemon`.

use std::time::{Duration, Instant};
use zbus::blocking::Connection;
use zbus::zvariant::OwnedObjectPath;

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
}

impl Bus {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` or the default).
    pub fn system() -> Result<Self, BusError> {
        Ok(Bus {
            conn: ctx("connect system bus", Connection::system())?,
        })
    }

    /// Connects to a bus by address (tests).
    pub fn at(address: &str) -> Result<Self, BusError> {
        let b = ctx(
            "bus address",
            zbus::blocking::connection::Builder::address(address),
        )?;
        Ok(Bus {
            conn: ctx(format!("connect {address}"), b.build())?,
        })
    }

    /// Sets the static hostname through hostname1.
    pub fn set_static_hostname(&self, name: &str) -> Result<(), BusError> {
        let p = ctx("hostname1", HostnameProxy::new(&self.conn))?;
        ctx(
            "hostname1.SetStaticHostname",
            p.set_static_hostname(name, false),
        )
    }

    /// Reads the static hostname through hostname1.
    pub fn static_hostname(&self) -> Result<String, BusError> {
        let p = ctx("hostname1", HostnameProxy::new(&self.conn))?;
        ctx("hostname1.StaticHostname", p.static_hostname())
    }

    /// Sets the timezone through timedate1.
    pub fn set_timezone(&self, tz: &str) -> Result<(), BusError> {
        let p = ctx("timedate1", TimedateProxy::new(&self.conn))?;
        ctx("timedate1.SetTimezone", p.set_timezone(tz, false))
    }

    /// Reads timedate1 `NTPSynchronized`.
    pub fn ntp_synchronized(&self) -> Result<bool, BusError> {
        let p = ctx("timedate1", TimedateProxy::new(&self.conn))?;
        // the property changes without a signal we subscribe to: no caching
        ctx(
            "timedate1.NTPSynchronized",
            p.inner().get_property::<bool>("NTPSynchronized"),
        )
    }

    /// Reads timedate1 `NTP` (is time synchronisation enabled at all).
    pub fn ntp_enabled(&self) -> Result<bool, BusError> {
        let p = ctx("timedate1", TimedateProxy::new(&self.conn))?;
        ctx("timedate1.NTP", p.inner().get_property::<bool>("NTP"))
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
