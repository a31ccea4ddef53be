//! The text rendering of an inspect [`Report`].

use std::fmt::Write;

use kubebake_disk::probe::FsInfo;
use serde_json::Value;

use super::Report;

/// Human-readable rendering.
pub fn render(r: &Report) -> String {
    let mut s = format!(
        "image    {} ({} bytes, {} MiB)\ntable    {} {}\n",
        r.image.display(),
        r.size,
        r.size >> 20,
        r.table,
        r.disk_id
    );
    for p in &r.partitions {
        let _ = writeln!(
            s,
            "part {}   {:<8} {:<12} {:>8} MiB at {} MiB  {}",
            p.number,
            if p.name.is_empty() { "-" } else { &p.name },
            p.type_name,
            p.size >> 20,
            p.offset >> 20,
            p.guid.as_deref().unwrap_or("")
        );
        if p.attributes & (1 << 60) != 0 {
            s.push_str("         attributes: read-only\n");
        }
        let _ = match &p.filesystem {
            FsInfo::Ext4(e) => writeln!(
                s,
                "         ext4 uuid {} label {:?} {} blocks of {} ({} free)\n         features {}",
                e.uuid,
                e.label,
                e.block_count,
                e.block_size,
                e.free_blocks,
                e.features.join(" ")
            ),
            FsInfo::Fat(f) => writeln!(
                s,
                "         {} label {:?} serial {:08X}",
                f.kind, f.label, f.volume_id
            ),
            FsInfo::Unknown => writeln!(s, "         no filesystem recognised"),
        };
    }
    if let Some(c) = &r.cmdline {
        let _ = writeln!(s, "cmdline  {c}");
    }
    if let Some(m) = &r.manifest {
        render_manifest(m, &mut s);
    }
    s
}

fn render_manifest(m: &Value, s: &mut String) {
    let get = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
    let _ = writeln!(
        s,
        "baked    profile {} arch {} kubernetes {} kernel {}",
        get("profile"),
        get("arch"),
        get("kubernetes_version"),
        get("kernel_version")
    );
    if let Some(cs) = m.get("components").and_then(|c| c.as_array()) {
        for c in cs {
            let g = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
            let _ = writeln!(
                s,
                "  {:<20} {:<10} sha256 {}",
                g("name"),
                g("version"),
                g("sha256")
            );
        }
    }
}
