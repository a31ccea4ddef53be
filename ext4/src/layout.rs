//! `finish()`: number the inodes, build directories, place metadata after
//! the file data, size the filesystem and write every structure.

use std::collections::BTreeMap;
use std::io::{Seek, Write};

use crate::alloc::{gdt_blocks, has_super, Alloc, BPG, BS};
use crate::bitmap::{self, Bitmap};
use crate::csum::{fs_seed, inode_seed};
use crate::dir::{self, DirEnt};
use crate::extent::{Extent, MAX_EXTENT_LEN};
use crate::group::GroupDesc;
use crate::inode::{self, Inode, INODE_SIZE};
use crate::node::{Node, NodeId, NodeKind, ROOT};
use crate::out::BlockOut;
use crate::sizing::{place_group_meta, size_fs};
use crate::superblock::Super;
use crate::xattr::{self, Placement};
use crate::{Error, Options, Sizing, Summary};

const FIRST_INO: u32 = 11;

/// Per-inode layout decisions.
#[derive(Default, Clone)]
struct Plan {
    /// Extents of directory blocks (dirs only).
    dir_extents: Vec<Extent>,
    indexed: bool,
    tree_blocks: Vec<u64>,
    xattr_block: Option<u64>,
    links: u32,
}

fn runs_to_extents(runs: &[(u64, u64)]) -> Vec<Extent> {
    let mut out = Vec::new();
    let mut logical = 0u32;
    for &(start, len) in runs {
        let mut s = start;
        let mut left = len;
        while left > 0 {
            let l = left.min(u64::from(MAX_EXTENT_LEN));
            out.push(Extent {
                logical,
                len: l as u32,
                start: s,
            });
            logical += l as u32;
            s += l;
            left -= l;
        }
    }
    out
}

fn mode_bits(kind: &NodeKind) -> (u16, u8) {
    match kind {
        NodeKind::Dir { .. } => (inode::S_IFDIR, dir::FT_DIR),
        NodeKind::File { .. } => (inode::S_IFREG, dir::FT_REG),
        NodeKind::Symlink { .. } => (inode::S_IFLNK, dir::FT_SYMLINK),
        NodeKind::Chr { .. } => (inode::S_IFCHR, dir::FT_CHR),
        NodeKind::Blk { .. } => (inode::S_IFBLK, dir::FT_BLK),
        NodeKind::Fifo => (inode::S_IFIFO, dir::FT_FIFO),
        NodeKind::Sock => (inode::S_IFSOCK, dir::FT_SOCK),
    }
}

/// What [`finish`] lays out: the writer's tree and its data so far.
pub(crate) struct Parts<W: Write + Seek> {
    pub opts: Options,
    pub nodes: Vec<Node>,
    pub out: BlockOut<W>,
    pub alloc: Alloc,
    pub data_bytes: u64,
    /// The `lost+found` directory (inode 11).
    pub lost_found: NodeId,
}

pub(crate) fn finish<W: Write + Seek>(mut w: Parts<W>) -> Result<(Summary, W), Error> {
    let seed = fs_seed(&w.opts.uuid);
    let lf = w.lost_found;

    // 1. Number inodes: / = 2, lost+found = 11, then depth-first by name.
    let n = w.nodes.len();
    let mut ino = vec![0u32; n];
    let mut parent = vec![ROOT; n];
    let mut plan: Vec<Plan> = vec![Plan::default(); n];
    let mut order: Vec<NodeId> = Vec::new(); // inode 12.. in order
    ino[ROOT] = 2;
    ino[lf] = FIRST_INO;
    let mut next_ino: u64 = 12;
    let mut stack = vec![ROOT];
    let mut dirs: Vec<NodeId> = Vec::new();
    while let Some(d) = stack.pop() {
        dirs.push(d);
        let NodeKind::Dir { children } = &w.nodes[d].kind else {
            continue;
        };
        let mut subdirs = Vec::new();
        for &c in children.values() {
            plan[c].links += 1;
            if ino[c] == 0 {
                if next_ino > u64::from(u32::MAX) {
                    return Err(Error::Limit("more than 2^32 inodes".into()));
                }
                ino[c] = next_ino as u32;
                next_ino += 1;
                order.push(c);
            }
            if matches!(w.nodes[c].kind, NodeKind::Dir { .. }) {
                parent[c] = d;
                subdirs.push(c);
            }
        }
        let nsub = subdirs.len() as u64;
        plan[d].links = if 2 + nsub > 65000 { 1 } else { 2 + nsub as u32 };
        stack.extend(subdirs.into_iter().rev());
    }
    for &id in &order {
        if plan[id].links > 65000 {
            return Err(Error::Limit(format!(
                "inode {} has more than 65000 links",
                ino[id]
            )));
        }
    }
    let used_inodes = next_ino - 1;
    let mut all: Vec<NodeId> = vec![ROOT, lf];
    all.extend(order.iter().copied().filter(|&id| id != lf));

    // 2. Directory contents.
    let mut dir_data: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut dir_ids: Vec<NodeId> = dirs.clone();
    dir_ids.sort_by_key(|&d| ino[d]);
    for &d in &dir_ids {
        let NodeKind::Dir { children } = &w.nodes[d].kind else {
            continue;
        };
        let ents: Vec<DirEnt<'_>> = children
            .iter()
            .map(|(name, &c)| DirEnt {
                name,
                ino: ino[c],
                ftype: mode_bits(&w.nodes[c].kind).1,
            })
            .collect();
        let iseed = inode_seed(seed, ino[d], 0);
        let data = if dir::fits_one_block(&ents) {
            let mut data = dir::linear(ino[d], ino[parent[d]], &ents, iseed);
            if d == lf {
                while data.len() < 4 * BS {
                    data.extend_from_slice(&dir::empty_block(iseed));
                }
            }
            data
        } else {
            plan[d].indexed = true;
            crate::htree::build(ino[d], ino[parent[d]], &ents, &w.opts.hash_seed, iseed)?
        };
        dir_data.insert(ino[d], data);
    }

    // 3. Allocate directory, extent tree and xattr blocks after the data.
    let data_end = w.alloc.next;
    for &d in &dir_ids {
        let nblocks = (dir_data[&ino[d]].len() / BS) as u64;
        let runs = w.alloc.take_runs(nblocks)?;
        plan[d].dir_extents = runs_to_extents(&runs);
    }
    let extents_of = |id: NodeId, plan: &[Plan]| -> Vec<Extent> {
        match &w.nodes[id].kind {
            NodeKind::File { extents, .. } | NodeKind::Symlink { extents, .. } => extents.clone(),
            NodeKind::Dir { .. } => plan[id].dir_extents.clone(),
            _ => Vec::new(),
        }
    };
    for &id in &all {
        let nex = match &w.nodes[id].kind {
            NodeKind::File { extents, .. } | NodeKind::Symlink { extents, .. } => extents.len(),
            NodeKind::Dir { .. } => plan[id].dir_extents.len(),
            _ => 0,
        };
        let tb = crate::extent::tree_blocks(nex);
        if tb > 0 {
            let runs = w.alloc.take_runs(tb)?;
            plan[id].tree_blocks = runs.iter().flat_map(|&(s, l)| s..s + l).collect();
        }
    }
    for &id in &all {
        let xs = &w.nodes[id].meta.xattrs;
        if matches!(xattr::place(xs), Placement::Block) {
            if !xattr::fits_block(xs) {
                return Err(Error::Limit(format!(
                    "xattrs of inode {} do not fit in one block",
                    ino[id]
                )));
            }
            plan[id].xattr_block = Some(w.alloc.take(1)?.0);
        }
    }

    // 4. Size: groups, inodes per group, bitmaps and inode tables.
    let extra_inodes = match w.opts.sizing {
        Sizing::Fit { extra_inodes, .. } => u64::from(extra_inodes),
        Sizing::Fixed { .. } => used_inodes / 8 + 256,
    };
    let want_inodes = used_inodes + extra_inodes;
    let meta_start = w.alloc.next;
    let (total, groups, ipg, gmeta) = size_fs(&w.alloc, w.opts.sizing, meta_start, want_inodes)?;
    w.alloc = {
        let mut a = Alloc::new(w.alloc.gdt_reserve, Some(total));
        a.next = meta_start;
        a
    };
    let gmeta2 = place_group_meta(&mut w.alloc, groups, ipg)?;
    debug_assert_eq!(gmeta.len(), gmeta2.len());
    let meta_end = w.alloc.next;
    if meta_end > total {
        return Err(Error::NoSpace {
            needed: meta_end * BS as u64,
            available: total * BS as u64,
            context: String::new(),
        });
    }

    // 5. Block bitmap.
    let mut bmap = Bitmap::new(total);
    let gdtb = gdt_blocks(groups);
    for g in 0..groups {
        if has_super(g) {
            bmap.set_range(g * BPG, 1 + gdtb);
        }
    }
    let mut data_blocks_live = 0u64;
    for &id in &all {
        for e in extents_of(id, &plan) {
            bmap.set_range(e.start, u64::from(e.len));
            data_blocks_live += u64::from(e.len);
        }
        for &b in &plan[id].tree_blocks {
            bmap.set(b);
        }
        if let Some(b) = plan[id].xattr_block {
            bmap.set(b);
        }
    }
    let it_blocks = ipg * INODE_SIZE as u64 / BS as u64;
    for m in &gmeta2 {
        bmap.set(m.block_bitmap);
        bmap.set(m.inode_bitmap);
        bmap.set_range(m.inode_table, it_blocks);
    }
    let _ = data_end;
    let _ = data_blocks_live;

    // 6. Write directories, extent trees and xattr blocks.
    for &d in &dir_ids {
        let data = &dir_data[&ino[d]];
        let mut off = 0usize;
        for e in &plan[d].dir_extents {
            let len = e.len as usize * BS;
            w.out.write(e.start, &data[off..off + len])?;
            off += len;
        }
    }
    drop(dir_data);
    let mut iblocks: Vec<[u8; 60]> = vec![[0u8; 60]; n];
    for &id in &all {
        let exts = extents_of(id, &plan);
        let uses_extents = match &w.nodes[id].kind {
            NodeKind::File { .. } | NodeKind::Dir { .. } => true,
            NodeKind::Symlink { target, .. } => target.len() >= 60,
            _ => false,
        };
        if uses_extents {
            let (ib, blocks) =
                crate::extent::build(&exts, &plan[id].tree_blocks, inode_seed(seed, ino[id], 0));
            for (b, &blk) in blocks.iter().zip(&plan[id].tree_blocks) {
                w.out.write(blk, b)?;
            }
            iblocks[id] = ib;
        }
        if let Some(blk) = plan[id].xattr_block {
            let b = xattr::block(&w.nodes[id].meta.xattrs, blk, seed);
            w.out.write(blk, &b)?;
        }
    }

    // 7. Inode tables and bitmaps.
    let total_inodes = groups * ipg;
    if total_inodes > u64::from(u32::MAX) {
        return Err(Error::Limit("more than 2^32 inodes".into()));
    }
    let mut by_ino: Vec<NodeId> = vec![usize::MAX; used_inodes as usize + 1];
    for &id in &all {
        by_ino[ino[id] as usize] = id;
    }
    let mut descs = Vec::with_capacity(groups as usize);
    let mut free_blocks_total = 0u64;
    let mut free_inodes_total = 0u64;
    let mut table = vec![0u8; ipg as usize * INODE_SIZE];
    for g in 0..groups {
        let first = g * ipg + 1;
        let last = (g + 1) * ipg; // inclusive
        table.fill(0);
        let mut imap = Bitmap::new(ipg);
        let mut used_dirs = 0u16;
        let mut highest = 0u64;
        for i in first..=last.min(used_inodes) {
            let slot = ((i - first) as usize) * INODE_SIZE;
            let out = &mut table[slot..slot + INODE_SIZE];
            imap.set(i - first);
            highest = i - first + 1;
            if i < u64::from(FIRST_INO) && i != 2 {
                continue; // reserved inodes stay zero
            }
            let id = by_ino[i as usize];
            if id == usize::MAX {
                continue;
            }
            let node = &w.nodes[id];
            if matches!(node.kind, NodeKind::Dir { .. }) {
                used_dirs += 1;
            }
            let ind = build_inode(
                &w.nodes[id],
                &plan[id],
                &iblocks[id],
                &exts_count(&extents_of(id, &plan)),
            );
            ind.to_bytes(seed, i as u32, out);
        }
        let m = gmeta2[g as usize];
        w.out.write(m.inode_table, &table)?;
        let ib = imap.block(0, ipg, BS);
        let ib_csum = bitmap::csum(seed, &ib, (ipg / 8) as usize);
        w.out.write(m.inode_bitmap, &ib)?;
        let gstart = g * BPG;
        let gcount = (total - gstart).min(BPG);
        let bb = bmap.block(gstart, gcount, BS);
        let bb_csum = bitmap::csum(seed, &bb, (BPG / 8) as usize);
        w.out.write(m.block_bitmap, &bb)?;
        let free_b = bmap.count_free(gstart, gcount);
        let free_i = ipg - imap_count(&imap, ipg);
        free_blocks_total += free_b;
        free_inodes_total += free_i;
        descs.push(GroupDesc {
            block_bitmap: m.block_bitmap as u32,
            inode_bitmap: m.inode_bitmap as u32,
            inode_table: m.inode_table as u32,
            free_blocks: free_b as u16,
            free_inodes: free_i as u16,
            used_dirs,
            itable_unused: (ipg - highest) as u16,
            block_bitmap_csum: bb_csum,
            inode_bitmap_csum: ib_csum,
        });
    }

    // 8. Superblock and descriptor copies.
    let mut label = [0u8; 16];
    let lb = w.opts.label.as_bytes();
    label[..lb.len().min(16)].copy_from_slice(&lb[..lb.len().min(16)]);
    let sb = Super {
        inodes: total_inodes as u32,
        blocks: total,
        free_blocks: free_blocks_total,
        free_inodes: free_inodes_total as u32,
        inodes_per_group: ipg as u32,
        uuid: w.opts.uuid,
        label,
        hash_seed: w.opts.hash_seed,
        time: w.opts.timestamp.clamp(0, i64::from(u32::MAX)) as u32,
        csum_seed: seed,
    };
    let mut gdt = vec![0u8; (gdtb as usize) * BS];
    for (g, d) in descs.iter().enumerate() {
        gdt[g * 32..g * 32 + 32].copy_from_slice(&d.to_bytes(seed, g as u32));
    }
    for g in 0..groups {
        if !has_super(g) {
            continue;
        }
        let mut blk = vec![0u8; BS];
        let off = if g == 0 { 1024 } else { 0 };
        blk[off..off + 1024].copy_from_slice(&sb.to_bytes(g as u16));
        w.out.write(g * BPG, &blk)?;
        w.out.write(g * BPG + 1, &gdt)?;
    }
    if w.out.high < total {
        w.out.write(total - 1, &[0u8; BS])?;
    }
    w.out.flush()?;
    w.out
        .target
        .flush()
        .map_err(|e| Error::io("flushing the target", e))?;
    let summary = Summary {
        size_bytes: total * BS as u64,
        block_size: BS as u32,
        blocks: total,
        free_blocks: free_blocks_total,
        inodes: total_inodes as u32,
        free_inodes: free_inodes_total as u32,
        files: all.len() as u64,
        data_bytes: w.data_bytes,
    };
    Ok((summary, w.out.target))
}

fn imap_count(m: &Bitmap, ipg: u64) -> u64 {
    ipg - m.count_free(0, ipg)
}

fn exts_count(e: &[Extent]) -> u64 {
    e.iter().map(|x| u64::from(x.len)).sum()
}

fn build_inode(node: &Node, plan: &Plan, iblock: &[u8; 60], data_blocks: &u64) -> Inode {
    let (ty, _) = mode_bits(&node.kind);
    let m = &node.meta;
    let mut ind = Inode {
        mode: ty | (m.mode & 0o7777),
        uid: m.uid,
        gid: m.gid,
        atime: m.atime,
        ctime: m.ctime,
        mtime: m.mtime,
        crtime: m.ctime,
        links: plan.links.min(65000) as u16,
        ..Inode::default()
    };
    let mut blocks = *data_blocks + plan.tree_blocks.len() as u64;
    match &node.kind {
        NodeKind::Dir { .. } => {
            ind.size = *data_blocks * BS as u64;
            ind.flags = inode::FL_EXTENTS | if plan.indexed { inode::FL_INDEX } else { 0 };
            ind.block = *iblock;
        }
        NodeKind::File { size, .. } => {
            ind.size = *size;
            ind.flags = inode::FL_EXTENTS;
            ind.block = *iblock;
        }
        NodeKind::Symlink { target, .. } => {
            ind.size = target.len() as u64;
            if target.len() < 60 {
                ind.block[..target.len()].copy_from_slice(target);
            } else {
                ind.flags = inode::FL_EXTENTS;
                ind.block = *iblock;
            }
        }
        NodeKind::Chr { major, minor } | NodeKind::Blk { major, minor } => {
            let (major, minor) = (*major, *minor);
            if major < 256 && minor < 256 {
                ind.block[..4].copy_from_slice(&((major << 8) | minor).to_le_bytes());
            } else {
                let v = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
                ind.block[4..8].copy_from_slice(&v.to_le_bytes());
            }
        }
        NodeKind::Fifo | NodeKind::Sock => {}
    }
    match xattr::place(&m.xattrs) {
        Placement::None => {}
        Placement::InInode(area) => ind.xattr_area = area,
        Placement::Block => {
            if let Some(b) = plan.xattr_block {
                ind.file_acl = b;
                blocks += 1;
            }
        }
    }
    ind.sectors = blocks * (BS as u64 / 512);
    ind
}
