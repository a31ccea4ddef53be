//! The writer's in-memory tree: one [`Node`] per inode, directories holding
//! their children by name. Shared by the writer (which builds it) and the
//! layout (which numbers and writes it).

use std::collections::BTreeMap;

use crate::extent::Extent;
use crate::Metadata;

/// Index of a node (inode) in the writer's arena.
pub(crate) type NodeId = usize;

#[derive(Debug)]
pub(crate) enum NodeKind {
    Dir {
        children: BTreeMap<Vec<u8>, NodeId>,
    },
    File {
        size: u64,
        extents: Vec<Extent>,
    },
    Symlink {
        target: Vec<u8>,
        extents: Vec<Extent>,
    },
    Chr {
        major: u32,
        minor: u32,
    },
    Blk {
        major: u32,
        minor: u32,
    },
    Fifo,
    Sock,
}

#[derive(Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub meta: Metadata,
    /// Directory entries naming this node.
    pub refs: u32,
    /// Layer (see `begin_layer`) that last added or updated this node.
    pub layer: u32,
}

/// The root directory's node.
pub(crate) const ROOT: NodeId = 0;
