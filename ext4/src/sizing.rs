//! Sizing at `finish()`: how many block groups, inodes per group, and where
//! each group's bitmaps and inode table go (after all other metadata).

use crate::alloc::{gdt_blocks, has_super, Alloc, BPG, BS};
use crate::inode::INODE_SIZE;
use crate::{Error, Sizing};

/// Smallest useful last block group (blocks after any superblock copy).
const MIN_LAST_GROUP: u64 = 64;

/// Block runs of a group's bitmaps and inode table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupMeta {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
}

/// Allocate one block bitmap, one inode bitmap and a contiguous inode
/// table per group.
pub(crate) fn place_group_meta(
    a: &mut Alloc,
    groups: u64,
    ipg: u64,
) -> Result<Vec<GroupMeta>, Error> {
    let it_blocks = ipg * INODE_SIZE as u64 / BS as u64;
    let mut bb = Vec::with_capacity(groups as usize);
    for _ in 0..groups {
        bb.push(a.take(1)?.0);
    }
    let mut ib = Vec::with_capacity(groups as usize);
    for _ in 0..groups {
        ib.push(a.take(1)?.0);
    }
    let mut out = Vec::with_capacity(groups as usize);
    for g in 0..groups as usize {
        let table = loop {
            let (s, l) = a.take(it_blocks)?;
            if l == it_blocks {
                break s;
            }
        };
        out.push(GroupMeta {
            block_bitmap: bb[g],
            inode_bitmap: ib[g],
            inode_table: table,
        });
    }
    Ok(out)
}

/// Choose the total block count, group count and inodes per group.
pub(crate) fn size_fs(
    alloc: &Alloc,
    sizing: Sizing,
    meta_start: u64,
    want_inodes: u64,
) -> Result<(u64, u64, u64, Vec<GroupMeta>), Error> {
    let reserve = alloc.gdt_reserve;
    let ipg_for = |groups: u64| -> u64 { (want_inodes.div_ceil(groups).div_ceil(16) * 16).max(16) };
    match sizing {
        Sizing::Fixed { bytes } => {
            let mut total = bytes / BS as u64;
            let last = total % BPG;
            let g = total / BPG;
            if last != 0 && g > 0 {
                let min = if has_super(g) {
                    1 + reserve + MIN_LAST_GROUP
                } else {
                    MIN_LAST_GROUP
                };
                if last < min {
                    total = g * BPG;
                }
            }
            let groups = total.div_ceil(BPG);
            let ipg = ipg_for(groups);
            if ipg > BPG {
                return Err(Error::Limit(format!(
                    "{want_inodes} inodes do not fit in {groups} block groups"
                )));
            }
            let mut a = Alloc::new(reserve, None);
            a.next = meta_start;
            let gm = place_group_meta(&mut a, groups, ipg)?;
            if a.next > total {
                return Err(Error::NoSpace {
                    needed: a.next * BS as u64,
                    available: bytes,
                    context: String::new(),
                });
            }
            if gdt_blocks(groups) > reserve {
                return Err(Error::Limit("group descriptor table too large".into()));
            }
            Ok((total, groups, ipg, gm))
        }
        Sizing::Fit {
            headroom_bytes,
            headroom_percent,
            ..
        } => {
            let mut groups = meta_start.div_ceil(BPG).max(1);
            for _ in 0..64 {
                let mut ipg = ipg_for(groups);
                while ipg > BPG {
                    groups += 1;
                    ipg = ipg_for(groups);
                }
                let mut a = Alloc::new(reserve, None);
                a.next = meta_start;
                let gm = place_group_meta(&mut a, groups, ipg)?;
                let end = a.next;
                let mut total = end
                    + headroom_bytes.div_ceil(BS as u64)
                    + end * u64::from(headroom_percent) / 100;
                let g = total / BPG;
                let last = total % BPG;
                if last != 0 {
                    let min = if has_super(g) {
                        1 + reserve + MIN_LAST_GROUP
                    } else {
                        MIN_LAST_GROUP
                    };
                    if last < min {
                        total = g * BPG + min;
                    }
                }
                let need_groups = total.div_ceil(BPG);
                if need_groups <= groups {
                    // Fewer groups than planned would strand the metadata; keep
                    // the total inside the planned groups' range.
                    let total = total
                        .max((groups - 1) * BPG + MIN_LAST_GROUP.max(1 + reserve + MIN_LAST_GROUP));
                    let total = total.min(groups * BPG).max(end);
                    if gdt_blocks(groups) > reserve {
                        return Err(Error::Limit(format!(
                            "filesystem needs {groups} block groups; at most {} are supported",
                            reserve * crate::alloc::DESC_PER_BLOCK
                        )));
                    }
                    if total > u64::from(u32::MAX) {
                        return Err(Error::Limit("filesystem over 16 TiB".into()));
                    }
                    return Ok((total, groups, ipg, gm));
                }
                groups = need_groups;
            }
            Err(Error::Limit("could not settle the filesystem size".into()))
        }
    }
}
