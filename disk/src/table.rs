//! Which partition table an image has, for readers of images made by anyone: a GPT when
//! either copy is sound, else an MBR, never a GPT disk silently shown as an MBR one.
//!
//! | image                                                 | result                     |
//! |-------------------------------------------------------|----------------------------|
//! | a sound GPT copy                                      | GPT, damage as warnings    |
//! | no usable GPT copy, protective MBR (0xee) at LBA 0    | [`Error::GptUnreadable`]   |
//! | a damaged GPT header, an MBR without a 0xee entry     | MBR + `stale-gpt-ignored`  |
//! | no GPT signature, an MBR                              | MBR                        |
//! | a damaged GPT header, no MBR                          | [`Error::GptUnreadable`]   |
//! | neither                                               | [`Error::NoTable`]         |

use std::io::{Read, Seek};

use serde::Serialize;

use crate::damage::Warning;
use crate::error::{Error, Result};
use crate::{gpt, mbr};

/// The partition table found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Found {
    /// A GPT (one of its copies was sound).
    Gpt(gpt::Table),
    /// An MBR.
    Mbr(mbr::Table),
}

impl Found {
    /// Damage found while reading the table.
    pub fn warnings(&self) -> &[Warning] {
        match self {
            Found::Gpt(t) => &t.warnings,
            Found::Mbr(t) => &t.warnings,
        }
    }
}

/// Read the partition table of a whole-disk image (see the module table for the rules).
pub fn read<F: Read + Seek>(f: &mut F) -> Result<Found> {
    let (faults, protective) = match gpt::read(f) {
        Ok(t) => return Ok(Found::Gpt(t)),
        Err(Error::GptUnreadable { faults, protective }) => (faults, protective),
        Err(e) => return Err(e),
    };
    if protective {
        return Err(Error::GptUnreadable { faults, protective });
    }
    match mbr::read(f) {
        Ok(mut t) => {
            if faults.header_seen() {
                t.warnings.insert(0, Warning::StaleGptIgnored(*faults));
            }
            Ok(Found::Mbr(t))
        }
        Err(Error::NoMbr(_)) if faults.header_seen() => {
            Err(Error::GptUnreadable { faults, protective })
        }
        Err(Error::NoMbr(mbr)) => Err(Error::NoTable { gpt: faults, mbr }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const MIB: u64 = 1 << 20;

    fn gpt_disk() -> Vec<u8> {
        let p = gpt::Partition {
            name: "a".into(),
            type_guid: crate::guid::LINUX_DATA,
            guid: crate::guid::derive(b"t", "a"),
            first_lba: 2048,
            last_lba: 4095,
            attributes: 0,
        };
        let mut cur = Cursor::new(Vec::new());
        gpt::write(&mut cur, 4 * MIB, uuid::Uuid::nil(), &[p]).expect("gpt");
        cur.into_inner()
    }

    fn mbr_over(d: Vec<u8>) -> Vec<u8> {
        let p = mbr::Partition {
            kind: mbr::LINUX,
            bootable: false,
            first_lba: 2048,
            last_lba: 4095,
        };
        let mut cur = Cursor::new(d);
        mbr::write(&mut cur, 4 * MIB, 9, &[p]).expect("mbr");
        cur.into_inner()
    }

    fn wipe_gpt_headers(d: &mut [u8]) {
        let last = d.len() - 512;
        d[512..1024].fill(0xaa);
        d[last..].fill(0xaa);
        d[512..520].copy_from_slice(b"EFI PART"); // a header, damaged
    }

    #[test]
    fn a_gpt_disk_with_both_headers_lost_is_not_shown_as_mbr() {
        let mut d = gpt_disk();
        wipe_gpt_headers(&mut d);
        let e = read(&mut Cursor::new(d)).expect_err("unreadable");
        let msg = e.to_string();
        assert!(msg.contains("GPT header at LBA 1: header size"), "{msg}");
        assert!(msg.contains("backup GPT header at LBA 8191"), "{msg}");
        assert!(msg.contains("protective MBR"), "{msg}");
    }

    #[test]
    fn a_stale_gpt_beside_a_real_mbr_is_a_warning() {
        let mut d = mbr_over(gpt_disk());
        wipe_gpt_headers(&mut d);
        match read(&mut Cursor::new(d)).expect("mbr") {
            Found::Mbr(t) => {
                assert_eq!(t.partitions.len(), 1);
                assert!(
                    matches!(t.warnings[..], [Warning::StaleGptIgnored(_)]),
                    "{:?}",
                    t.warnings
                );
            }
            other => panic!("{other:?}"),
        }
        let plain = mbr_over(vec![0u8; 4 * MIB as usize]);
        match read(&mut Cursor::new(plain)).expect("mbr") {
            Found::Mbr(t) => assert!(t.warnings.is_empty(), "{:?}", t.warnings),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_table_names_both_attempts() {
        let e = read(&mut Cursor::new(vec![0u8; 4 * MIB as usize])).expect_err("none");
        let msg = e.to_string();
        assert!(
            msg.contains("no partition table")
                && msg.contains("no \"EFI PART\" signature")
                && msg.contains("no boot signature"),
            "{msg}"
        );
    }
}
