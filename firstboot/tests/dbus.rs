//! The agent's zbus proxies against a real private `dbus-daemon` and test
//! services for hostname1, timedate1 and systemd1.

mod common;

use kubebake_firstboot::systemd::Bus;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[test]
fn hostname1_set_and_read_back() {
    let Some(bus) = common::PrivateBus::start() else {
        return;
    };
    let svc = common::serve(&bus.address, common::Shared::default());
    let b = Bus::at(&bus.address).expect("connect");
    b.set_static_hostname("node-7").expect("set");
    assert_eq!(*svc.shared.hostname.lock().expect("lock"), "node-7");
    assert_eq!(b.static_hostname().expect("get"), "node-7");
    // the service's error comes back as an error naming the call
    let e = b.set_static_hostname("").expect_err("invalid");
    assert!(e.to_string().contains("hostname1.SetStaticHostname"), "{e}");
}

#[test]
fn timedate1_timezone_and_ntp_wait() {
    let Some(bus) = common::PrivateBus::start() else {
        return;
    };
    let svc = common::serve(&bus.address, common::Shared::default());
    let b = Bus::at(&bus.address).expect("connect");
    b.set_timezone("Europe/Paris").expect("tz");
    assert_eq!(*svc.shared.timezone.lock().expect("lock"), "Europe/Paris");
    assert!(b.set_timezone("Nowhere").is_err());

    // not synchronised: the wait is bounded
    let (synced, waited) = b
        .wait_ntp_synchronized(Duration::from_millis(300))
        .expect("wait");
    assert!(!synced);
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // becomes synchronised while we wait: the new value is seen (no stale cache)
    let flag = svc.shared.ntp.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        flag.store(true, Ordering::SeqCst);
    });
    let (synced, waited) = b
        .wait_ntp_synchronized(Duration::from_secs(10))
        .expect("wait");
    t.join().expect("join");
    assert!(synced);
    assert!(waited >= Duration::from_millis(300), "{waited:?}");

    // NTP disabled and not synchronised: no point waiting
    svc.shared.ntp.store(false, Ordering::SeqCst);
    svc.shared.ntp_disabled.store(true, Ordering::SeqCst);
    assert!(!b.ntp_enabled().expect("ntp"));
    let (synced, waited) = b
        .wait_ntp_synchronized(Duration::from_secs(10))
        .expect("wait");
    assert!(!synced);
    assert!(waited < Duration::from_secs(1), "{waited:?}");
}

#[test]
fn systemd1_restart_and_state() {
    let Some(bus) = common::PrivateBus::start() else {
        return;
    };
    let svc = common::serve(&bus.address, common::Shared::default());
    let b = Bus::at(&bus.address).expect("connect");
    let job = b.restart_unit("containerd.service").expect("restart");
    assert!(job.starts_with("/org/freedesktop/systemd1/job/"), "{job}");
    assert_eq!(
        b.active_state("containerd.service").expect("state"),
        "active"
    );
    assert_eq!(
        b.restart_and_wait("systemd-networkd.service", Duration::from_secs(5))
            .expect("rw"),
        "active"
    );
    b.start_unit("kubelet.service").expect("start");
    let jobs = svc.shared.jobs.lock().expect("lock").clone();
    assert_eq!(
        jobs,
        vec![
            (
                "RestartUnit".into(),
                "containerd.service".into(),
                "replace".into()
            ),
            (
                "RestartUnit".into(),
                "systemd-networkd.service".into(),
                "replace".into()
            ),
            (
                "StartUnit".into(),
                "kubelet.service".into(),
                "replace".into()
            ),
        ]
    );
    let e = b.active_state("nope.service").expect_err("unknown unit");
    assert!(e.to_string().contains("GetUnit nope.service"), "{e}");
}
