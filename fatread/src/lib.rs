//! A read-only FAT12/16/32 reader for volumes made by anyone: `kubebake inspect` reads the
//! ESP of any image, and the first-boot agent reads its seed from the boot partition (which
//! users edit) and from CIDATA volumes. Every cluster number is checked against the data area
//! before it is turned into an offset, chains are bounded by what the entry can hold,
//! directories by entry count and depth; damage is an [`Error`] naming the path, never a
//! panic or a read of some other place of the volume. (`fatfs`, which writes kubebake's
//! volumes, computes offsets from cluster numbers unchecked, so hostile volumes never reach
//! it.) Nothing is ever written.
//!
//! ```no_run
//! # fn main() -> Result<(), kubebake_fatread::Error> {
//! let f = std::fs::File::open("esp.img").expect("open");
//! for (path, size) in kubebake_fatread::list(&f)? {
//!     println!("{path} {size}");
//! }
//! let cmdline = kubebake_fatread::read_file(&f, "cmdline.txt", 4096)?;
//! # let _ = cmdline; Ok(()) }
//! ```

mod bpb;
mod dir;
mod error;
mod volume;

use std::io::{Read, Seek};

pub use bpb::Bpb;
pub use dir::{Dir, Entry};
pub use error::{Error, Result};
pub use volume::Volume;

use error::{corrupt, fat_err};

/// Bound on directory nesting: a subdirectory that points back at its parent must not be
/// walked forever.
pub const MAX_DEPTH: usize = 32;
/// Bound on the entries listed (a directory chain that loops, in practice).
pub const MAX_ENTRIES: usize = 100_000;

/// Split and check a volume path ('/'-separated, a leading '/' allowed): no empty, "." or
/// ".." components.
pub fn split_path(path: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == "..")
    {
        return Err(Error::BadPath {
            path: path.to_string(),
        });
    }
    Ok(parts)
}

fn walk<T: Read + Seek>(
    v: &mut Volume<T>,
    dir: Dir,
    prefix: &str,
    depth: usize,
    seen: &mut usize,
    out: &mut Vec<(String, u64)>,
) -> Result<()> {
    let shown = if prefix.is_empty() { "/" } else { prefix };
    if depth > MAX_DEPTH {
        return Err(fat_err("listing", shown)(corrupt(format!(
            "directories nest deeper than {MAX_DEPTH} (a loop?)"
        ))));
    }
    for e in v.read_dir(dir, shown)? {
        *seen += 1;
        if *seen > MAX_ENTRIES {
            return Err(fat_err("listing", shown)(corrupt(format!(
                "more than {MAX_ENTRIES} directory entries (a loop?)"
            ))));
        }
        let path = if prefix.is_empty() {
            e.name.clone()
        } else {
            format!("{prefix}/{}", e.name)
        };
        if e.is_dir {
            walk(v, Dir::Chain(e.first_cluster), &path, depth + 1, seen, out)?;
        } else {
            out.push((path, u64::from(e.size)));
        }
    }
    Ok(())
}

/// Every regular file of the volume with its size, sorted by path ("EFI/BOOT/BOOTX64.EFI").
/// A volume nesting deeper than [`MAX_DEPTH`] directories or holding more than
/// [`MAX_ENTRIES`] entries (a looping chain, in practice) is an error, as is a cluster
/// outside the data area.
pub fn list<T: Read + Seek>(target: T) -> Result<Vec<(String, u64)>> {
    let mut v = Volume::open(target)?;
    let mut out = Vec::new();
    walk(&mut v, Dir::FixedRoot, "", 0, &mut 0, &mut out)?;
    out.sort();
    Ok(out)
}

/// The content of one file of at most `limit` bytes (path '/'-separated, case-insensitive
/// as FAT is; long or short names); a larger one is [`Error::TooLarge`], a missing one
/// [`Error::NotFound`].
pub fn read_file<T: Read + Seek>(target: T, path: &str, limit: u64) -> Result<Vec<u8>> {
    let parts = split_path(path)?;
    let mut v = Volume::open(target)?;
    let mut dir = Dir::FixedRoot;
    for (i, part) in parts.iter().enumerate() {
        let e = v
            .read_dir(dir, path)?
            .into_iter()
            .find(|e| e.matches(part))
            .ok_or_else(|| Error::NotFound {
                path: path.to_string(),
                part: part.to_string(),
            })?;
        let last = i + 1 == parts.len();
        match (last, e.is_dir) {
            (true, false) => return v.read_file(&e, path, limit),
            (false, true) => dir = Dir::Chain(e.first_cluster),
            (true, true) => return Err(fat_err("reading", path)(corrupt("is a directory".into()))),
            (false, false) => {
                return Err(fat_err("opening", path)(corrupt(format!(
                    "{part:?} is a file, not a directory"
                ))))
            }
        }
    }
    Err(fat_err("opening", path)(corrupt("empty path".into())))
}
