//! Deleting and hiding: plain removal, the OCI whiteouts that hide only
//! what earlier layers added, and why a parent that is not a directory
//! cannot hold an entry (a lower layer's `bin -> usr/bin`, say).

use std::io::{Seek, Write};

use super::{split_path, Writer};
use crate::node::{NodeId, NodeKind};
use crate::Error;

/// Where a path is in the tree.
enum Place {
    /// The root directory.
    Root,
    /// Nothing is there.
    Missing,
    /// Node `id`, named `name` in directory `parent`.
    Child {
        parent: NodeId,
        name: Vec<u8>,
        id: NodeId,
    },
}

impl<W: Write + Seek> Writer<W> {
    fn place(&self, path: &str) -> Result<Place, Error> {
        let comps = split_path(path)?;
        let Some((name, parents)) = comps.split_last() else {
            return Ok(Place::Root);
        };
        let found = self.lookup(parents).and_then(|parent| {
            let id = self.children(parent)?.get(*name).copied()?;
            Some(Place::Child {
                parent,
                name: name.to_vec(),
                id,
            })
        });
        Ok(found.unwrap_or(Place::Missing))
    }

    /// Take `name` out of directory `parent`, freeing what only it named.
    fn unlink(&mut self, parent: NodeId, name: &[u8]) {
        let old = self.children_mut(parent).and_then(|c| c.remove(name));
        if let Some(old) = old {
            self.unref(old);
        }
    }

    /// Remove a path and everything below it. A missing path is not an error.
    pub fn remove(&mut self, path: &str) -> Result<(), Error> {
        match self.place(path)? {
            Place::Root => self.clear_dir(""),
            Place::Missing => Ok(()),
            Place::Child { parent, name, .. } => {
                self.unlink(parent, &name);
                Ok(())
            }
        }
    }

    /// Remove every child of a directory, keeping the directory itself.
    /// A missing path or a non-directory is not an error.
    pub fn clear_dir(&mut self, path: &str) -> Result<(), Error> {
        let comps = split_path(path)?;
        let Some(id) = self.lookup(&comps) else {
            return Ok(());
        };
        let old = self.children_mut(id).map(std::mem::take);
        for (_, child) in old.into_iter().flatten() {
            self.unref(child);
        }
        Ok(())
    }

    /// Start a new layer: entries added from now on are "upper" for the
    /// whiteouts [`Writer::remove_lower`] and [`Writer::clear_lower`].
    pub fn begin_layer(&mut self) {
        self.layer += 1;
    }

    /// OCI whiteout `.wh.NAME`: hide what earlier layers (see
    /// [`Writer::begin_layer`]) put at `path`. What the current layer added
    /// stays: a directory it added or added to keeps this layer's entries
    /// and loses the earlier ones below it. A missing path is not an error.
    pub fn remove_lower(&mut self, path: &str) -> Result<(), Error> {
        match self.place(path)? {
            Place::Root => self.clear_lower(""),
            Place::Missing => Ok(()),
            Place::Child { parent, name, id } => {
                if self.nodes[id].layer < self.layer {
                    self.unlink(parent, &name);
                } else {
                    self.hide_lower_below(id);
                }
                Ok(())
            }
        }
    }

    /// Opaque whiteout: remove everything below `path` that was added before
    /// the current layer (see [`Writer::begin_layer`]), keeping what the
    /// current layer added. A missing path is not an error.
    pub fn clear_lower(&mut self, path: &str) -> Result<(), Error> {
        let comps = split_path(path)?;
        if let Some(id) = self.lookup(&comps) {
            self.hide_lower_below(id);
        }
        Ok(())
    }

    /// Remove the entries below directory `id` that earlier layers added.
    fn hide_lower_below(&mut self, id: NodeId) {
        let mut stack = vec![id];
        while let Some(d) = stack.pop() {
            let layer = self.layer;
            let Some(ch) = self.children(d) else { continue };
            let (old, keep): (Vec<_>, Vec<_>) = ch
                .iter()
                .map(|(k, &v)| (k.clone(), v))
                .partition(|&(_, v)| self.nodes[v].layer < layer);
            for (name, v) in old {
                if let Some(c) = self.children_mut(d) {
                    c.remove(&name);
                }
                self.unref(v);
            }
            stack.extend(keep.into_iter().map(|(_, v)| v));
        }
    }

    /// Why the parent `comps` of `path` (node `id`) cannot hold entries; for
    /// a symlink (`bin -> usr/bin` on a merged-/usr base), where to put the
    /// entry instead.
    pub(super) fn not_a_dir(&self, path: &str, comps: &[&[u8]], id: NodeId) -> String {
        let shown = crate::error::quote(&String::from_utf8_lossy(&comps.join(&b'/')));
        let node = &self.nodes[id];
        let NodeKind::Symlink { target, .. } = &node.kind else {
            return format!("parent component {shown} is not a directory");
        };
        let whence = if node.layer < self.layer {
            " from a lower layer"
        } else {
            ""
        };
        let mut msg = format!(
            "parent component {shown} is a symlink{whence} to {}, not a directory",
            crate::error::quote(&String::from_utf8_lossy(target))
        );
        let dir = resolve(&comps[..comps.len() - 1], target);
        let dir_comps: Vec<&[u8]> = dir.iter().map(Vec::as_slice).collect();
        let is_dir = self
            .lookup(&dir_comps)
            .is_some_and(|d| matches!(self.nodes[d].kind, NodeKind::Dir { .. }));
        if is_dir {
            let rest = split_path(path).unwrap_or_default();
            let mut better = dir_comps;
            better.extend_from_slice(&rest[comps.len()..]);
            let merged =
                comps.len() == 1 && dir.len() == 2 && dir[0] == b"usr" && dir[1] == comps[0];
            msg.push_str(&format!(
                "{}: put the entry at {} instead",
                if merged { " (a merged-/usr base)" } else { "" },
                crate::error::quote(&String::from_utf8_lossy(&better.join(&b'/')))
            ));
        }
        msg
    }
}

/// Where symlink `target` in directory `dir` points, resolved lexically
/// (`..` stops at the root).
fn resolve(dir: &[&[u8]], target: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = if target.starts_with(b"/") {
        Vec::new()
    } else {
        dir.iter().map(|c| c.to_vec()).collect()
    };
    for c in target.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c.to_vec()),
        }
    }
    out
}
