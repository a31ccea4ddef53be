//! The [`Writer`]: the in-memory tree of entries and the streaming data path.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};

use crate::alloc::{gdt_blocks, Alloc, BPG, BS};
use crate::extent::{Extent, MAX_EXTENT_LEN};
use crate::layout::Parts;
use crate::node::{Node, NodeId, NodeKind, ROOT};
use crate::out::{BlockOut, OUT_BUF};
use crate::source::{Plain, Source};
use crate::{Entry, EntryKind, Error, Metadata, Options, Sizing, Summary, Timestamp};

mod layers;

/// Streams entries into an ext4 image; see the crate documentation.
///
/// Block 0 of the filesystem is the target's stream position when the writer
/// is created, so a window of a larger disk image can be written by seeking
/// the target to the partition offset first.
pub struct Writer<W: Write + Seek> {
    opts: Options,
    nodes: Vec<Node>,
    out: BlockOut<W>,
    alloc: Alloc,
    data_bytes: u64,
    inbuf: Vec<u8>,
    layer: u32,
}

/// Split a path into components: drops empty and `.` components, rejects `..`.
fn split_path(path: &str) -> Result<Vec<&[u8]>, Error> {
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(Error::entry(path, "path contains a `..` component")),
            c if c.len() > 255 => {
                return Err(Error::entry(
                    path,
                    "a path component is longer than 255 bytes",
                ))
            }
            c if c.as_bytes().contains(&0) => {
                return Err(Error::entry(path, "path contains a NUL byte"))
            }
            c => out.push(c.as_bytes()),
        }
    }
    Ok(out)
}

impl<W: Write + Seek> Writer<W> {
    /// Start a filesystem in `target` (at its current position).
    pub fn new(target: W, opts: Options) -> Result<Self, Error> {
        let (gdt_reserve, limit) = match opts.sizing {
            Sizing::Fixed { bytes } => {
                let blocks = bytes / BS as u64;
                if blocks < 64 {
                    return Err(Error::NoSpace {
                        needed: 64 * BS as u64,
                        available: bytes,
                        context: String::new(),
                    });
                }
                if blocks > u64::from(u32::MAX) {
                    return Err(Error::Limit(format!(
                        "{bytes} bytes is over the 16 TiB limit of a non-64bit ext4"
                    )));
                }
                (gdt_blocks(blocks.div_ceil(BPG)), Some(blocks))
            }
            // Room for 4096 groups (512 GiB) of descriptors.
            Sizing::Fit { .. } => (32, None),
        };
        let mut meta = Metadata::new(0o755);
        let t = Timestamp::from_secs(opts.timestamp);
        meta.atime = t;
        meta.mtime = t;
        meta.ctime = t;
        let root = Node {
            kind: NodeKind::Dir {
                children: BTreeMap::new(),
            },
            meta,
            refs: 1,
            layer: 0,
        };
        Ok(Writer {
            opts,
            nodes: vec![root],
            out: BlockOut::new(target)?,
            alloc: Alloc::new(gdt_reserve, limit),
            data_bytes: 0,
            inbuf: Vec::new(),
            layer: 0,
        })
    }

    fn clamp(&self, t: Timestamp) -> Timestamp {
        if self.opts.clamp_times
            && (t.sec > self.opts.timestamp || (t.sec == self.opts.timestamp && t.nsec > 0))
        {
            return Timestamp::from_secs(self.opts.timestamp);
        }
        // ext4's range with the extra epoch bits: 1901..2446.
        Timestamp {
            sec: t.sec.clamp(-(1 << 31), (1 << 34) - (1 << 31) - 1),
            nsec: t.nsec.min(999_999_999),
        }
    }

    fn check_meta(&self, path: &str, meta: &Metadata) -> Result<Metadata, Error> {
        let mut m = meta.clone();
        m.mode &= 0o7777;
        m.atime = self.clamp(m.atime);
        m.mtime = self.clamp(m.mtime);
        m.ctime = self.clamp(m.ctime);
        for x in &mut m.xattrs {
            crate::xattr::validate(path, x)?;
        }
        if !crate::xattr::fits_block(&m.xattrs) {
            return Err(Error::entry(path, "xattrs do not fit in one 4 KiB block"));
        }
        Ok(m)
    }

    fn new_node(&mut self, kind: NodeKind, meta: Metadata) -> NodeId {
        self.nodes.push(Node {
            kind,
            meta,
            refs: 0,
            layer: self.layer,
        });
        self.nodes.len() - 1
    }

    fn children(&self, id: NodeId) -> Option<&BTreeMap<Vec<u8>, NodeId>> {
        match &self.nodes[id].kind {
            NodeKind::Dir { children } => Some(children),
            _ => None,
        }
    }

    fn children_mut(&mut self, id: NodeId) -> Option<&mut BTreeMap<Vec<u8>, NodeId>> {
        match &mut self.nodes[id].kind {
            NodeKind::Dir { children } => Some(children),
            _ => None,
        }
    }

    /// Look up a path; `None` if any component is missing.
    fn lookup(&self, comps: &[&[u8]]) -> Option<NodeId> {
        let mut cur = ROOT;
        for c in comps {
            cur = *self.children(cur)?.get(*c)?;
        }
        Some(cur)
    }

    /// Walk to the directory `comps`, creating missing directories. Every
    /// directory on the way counts as touched by the current layer (it has
    /// this layer's entries below it, which a whiteout must keep).
    fn ensure_dir(&mut self, path: &str, comps: &[&[u8]]) -> Result<NodeId, Error> {
        let mut cur = ROOT;
        for (i, c) in comps.iter().enumerate() {
            let next = self.children(cur).and_then(|ch| ch.get(*c).copied());
            cur = match next {
                Some(id) if matches!(self.nodes[id].kind, NodeKind::Dir { .. }) => {
                    self.nodes[id].layer = self.layer;
                    id
                }
                Some(id) => return Err(Error::entry(path, self.not_a_dir(path, &comps[..=i], id))),
                None => {
                    let t = Timestamp::from_secs(self.opts.timestamp);
                    let mut meta = Metadata::new(0o755);
                    (meta.atime, meta.mtime, meta.ctime) = (t, t, t);
                    let id = self.new_node(
                        NodeKind::Dir {
                            children: BTreeMap::new(),
                        },
                        meta,
                    );
                    self.link(cur, c.to_vec(), id);
                    id
                }
            };
        }
        Ok(cur)
    }

    /// Drop one reference to `id`; free its subtree when unreferenced.
    fn unref(&mut self, id: NodeId) {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let n = &mut self.nodes[id];
            n.refs = n.refs.saturating_sub(1);
            if n.refs == 0 {
                if let NodeKind::Dir { children } = &mut n.kind {
                    let ch = std::mem::take(children);
                    stack.extend(ch.into_values());
                }
                // Release memory of dead nodes (their blocks become free).
                if let NodeKind::File { extents, .. } = &mut n.kind {
                    *extents = Vec::new();
                }
                n.meta.xattrs = Vec::new();
            }
        }
    }

    /// Put `name -> id` into directory `dir`, replacing (and unreferencing)
    /// any previous entry.
    fn link(&mut self, dir: NodeId, name: Vec<u8>, id: NodeId) {
        self.nodes[id].refs += 1;
        let old = self.children_mut(dir).and_then(|ch| ch.insert(name, id));
        if let Some(old) = old {
            self.unref(old);
        }
    }

    /// Add one entry; see the crate documentation for replacement rules.
    pub fn add(&mut self, entry: Entry, data: &mut dyn Read) -> Result<(), Error> {
        self.add_from(entry, &mut Plain(data))
    }

    /// [`Writer::add`] from a [`Source`], whose known holes are skipped
    /// instead of read.
    pub fn add_from(&mut self, entry: Entry, data: &mut dyn Source) -> Result<(), Error> {
        let path = entry.path.clone();
        self.add_inner(entry, data).map_err(|e| match e {
            Error::NoSpace {
                needed, available, ..
            } => Error::NoSpace {
                needed,
                available,
                context: format!(" while adding {path:?}"),
            },
            e => e,
        })
    }

    fn add_inner(&mut self, entry: Entry, data: &mut dyn Source) -> Result<(), Error> {
        let path = entry.path.as_str();
        let comps = split_path(path)?;
        let meta = self.check_meta(path, &entry.meta)?;
        let Some((name, parents)) = comps.split_last() else {
            // The root itself.
            return match entry.kind {
                EntryKind::Directory => {
                    self.nodes[ROOT].meta = meta;
                    Ok(())
                }
                _ => Err(Error::entry(path, "the root must be a directory")),
            };
        };
        let name = name.to_vec();
        let parent = self.ensure_dir(path, parents)?;
        let existing = self.children(parent).and_then(|c| c.get(&name).copied());
        let kind = match entry.kind {
            EntryKind::Directory => {
                if let Some(id) = existing {
                    if matches!(self.nodes[id].kind, NodeKind::Dir { .. }) {
                        self.nodes[id].meta = meta;
                        self.nodes[id].layer = self.layer;
                        return Ok(());
                    }
                }
                NodeKind::Dir {
                    children: BTreeMap::new(),
                }
            }
            EntryKind::HardLink { target } => {
                let tcomps = split_path(&target)?;
                let id = self.lookup(&tcomps).ok_or_else(|| {
                    Error::entry(path, format!("hard link target {target:?} does not exist"))
                })?;
                if matches!(self.nodes[id].kind, NodeKind::Dir { .. }) {
                    return Err(Error::entry(
                        path,
                        format!("hard link target {target:?} is a directory"),
                    ));
                }
                if existing != Some(id) {
                    if self.nodes[id].refs >= 65000 {
                        return Err(Error::entry(path, "more than 65000 hard links"));
                    }
                    self.link(parent, name, id);
                }
                return Ok(());
            }
            EntryKind::Regular { size } => {
                let extents = self.write_data(path, size, data)?;
                NodeKind::File { size, extents }
            }
            EntryKind::Symlink { target } => {
                if target.is_empty() || target.len() >= BS {
                    return Err(Error::entry(
                        path,
                        format!("symlink target length {} not in 1..4095", target.len()),
                    ));
                }
                let extents = if target.len() < 60 {
                    Vec::new()
                } else {
                    let len = target.len() as u64;
                    self.write_data(path, len, &mut Plain(&mut &target[..]))?
                };
                NodeKind::Symlink { target, extents }
            }
            EntryKind::CharDevice { major, minor } => NodeKind::Chr { major, minor },
            EntryKind::BlockDevice { major, minor } => NodeKind::Blk { major, minor },
            EntryKind::Fifo => NodeKind::Fifo,
            EntryKind::Socket => NodeKind::Sock,
        };
        if let NodeKind::Chr { major, minor } | NodeKind::Blk { major, minor } = kind {
            if major > 0xfff || minor > 0xfffff {
                return Err(Error::entry(
                    path,
                    format!("device number {major}:{minor} does not fit 12:20 bits"),
                ));
            }
        }
        let id = self.new_node(kind, meta);
        self.link(parent, name, id);
        Ok(())
    }

    /// Copy exactly `size` bytes from `data` into newly allocated blocks;
    /// all-zero blocks become holes.
    fn write_data(
        &mut self,
        path: &str,
        size: u64,
        data: &mut dyn Source,
    ) -> Result<Vec<Extent>, Error> {
        let max_blocks = u64::from(u32::MAX);
        if size.div_ceil(BS as u64) > max_blocks {
            return Err(Error::entry(path, format!("file size {size} is too large")));
        }
        let mut extents: Vec<Extent> = Vec::new();
        let mut buf = std::mem::take(&mut self.inbuf);
        buf.resize(OUT_BUF, 0);
        let mut done: u64 = 0;
        let mut lblk: u32 = 0;
        let res = (|| {
            while done < size {
                let hole = data.hole().filter(|h| h.len >= BS as u64);
                // A known hole at this block boundary: skip its whole
                // blocks unread (they stay holes).
                let skip = match hole {
                    Some(h) if h.at == 0 => h.len.min(size - done) / BS as u64 * BS as u64,
                    _ => 0,
                };
                if skip > 0 {
                    data.skip_hole(skip);
                    done += skip;
                    lblk = lblk.wrapping_add((skip / BS as u64) as u32);
                    continue;
                }
                let mut want = (size - done).min(OUT_BUF as u64);
                // Data, then a hole: read only up to the first block
                // boundary inside the hole.
                if let Some(h) = hole.filter(|h| h.at > 0 && h.at < want) {
                    want = want.min(h.at.next_multiple_of(BS as u64));
                }
                let want = want as usize;
                read_full(data, &mut buf[..want]).map_err(|(msg, got)| Error::Data {
                    path: path.to_string(),
                    msg: format!("{msg} after {} of {size} bytes", done + got as u64),
                })?;
                let got = want;
                done += got as u64;
                let padded = got.div_ceil(BS) * BS;
                buf[got..padded].fill(0);
                for chunk in buf[..padded].chunks(BS) {
                    if chunk.iter().any(|&b| b != 0) {
                        let (blk, _) = self.alloc.take(1)?;
                        self.out.write(blk, chunk)?;
                        match extents.last_mut() {
                            Some(e)
                                if e.start + u64::from(e.len) == blk
                                    && e.logical + e.len == lblk
                                    && e.len < MAX_EXTENT_LEN =>
                            {
                                e.len += 1
                            }
                            _ => extents.push(Extent {
                                logical: lblk,
                                len: 1,
                                start: blk,
                            }),
                        }
                    }
                    lblk = lblk.wrapping_add(1);
                }
            }
            Ok(())
        })();
        self.inbuf = buf;
        res?;
        self.data_bytes += size;
        Ok(extents)
    }

    /// Lay out the metadata and write everything; returns the summary.
    pub fn finish(self) -> Result<Summary, Error> {
        self.finish_into_inner().map(|(s, _)| s)
    }

    /// Like [`Writer::finish`], and also hand back the target (e.g. to get
    /// the bytes out of a `Cursor<Vec<u8>>`).
    pub fn finish_into_inner(mut self) -> Result<(Summary, W), Error> {
        let lost_found = self.lost_found()?;
        crate::layout::finish(Parts {
            opts: self.opts,
            nodes: self.nodes,
            out: self.out,
            alloc: self.alloc,
            data_bytes: self.data_bytes,
            lost_found,
        })
    }

    /// The `lost+found` directory (inode 11), created if the entries did
    /// not bring one.
    fn lost_found(&mut self) -> Result<NodeId, Error> {
        let name: &[u8] = b"lost+found";
        if let Some(id) = self.lookup(&[name]) {
            if matches!(self.nodes[id].kind, NodeKind::Dir { .. }) {
                return Ok(id);
            }
        }
        let ts = Timestamp::from_secs(self.opts.timestamp);
        let mut meta = Metadata::new(0o700);
        (meta.atime, meta.mtime, meta.ctime) = (ts, ts, ts);
        let e = Entry {
            path: "lost+found".into(),
            kind: EntryKind::Directory,
            meta,
        };
        self.add(e, &mut std::io::empty())?;
        self.lookup(&[name])
            .ok_or_else(|| Error::Limit("lost+found could not be created".into()))
    }
}

/// Fill `buf` completely; an early EOF is an error.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> Result<(), (String, usize)> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Err(("data ended early".into(), got)),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err((e.to_string(), got)),
        }
    }
    Ok(())
}
