//! Files compiled into the binary by build.rs: the overlays/ tree and the
//! first-boot agent's units.

/// One embedded tree entry (paths relative to the tree root).
#[derive(Debug, Clone, Copy)]
pub enum Embedded {
    /// A directory (0755).
    Dir(&'static str),
    /// A file, its mode (0644 or 0755 from the source file) and content.
    File(&'static str, u16, &'static [u8]),
    /// A symlink and its target.
    Symlink(&'static str, &'static str),
}

impl Embedded {
    /// The entry's path.
    pub fn path(&self) -> &'static str {
        match self {
            Embedded::Dir(p) | Embedded::File(p, _, _) | Embedded::Symlink(p, _) => p,
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
