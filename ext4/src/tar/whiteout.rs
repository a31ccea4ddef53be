//! OCI whiteouts: `.wh.NAME` hides `NAME` and `.wh..wh..opq` hides a
//! directory's contents, both only as far as lower layers put them there
//! (see [`Writer::begin_layer`]); entries of the whiteout's own layer stay.

use std::io::{Seek, Write};

use crate::{Error, Writer};

/// What a whiteout member asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whiteout {
    /// `DIR/.wh..wh..opq`: hide what lower layers put in `dir`.
    Opaque {
        /// The directory (`""` is the root).
        dir: String,
    },
    /// `DIR/.wh.NAME`: hide what lower layers put at `path` (`DIR/NAME`).
    Remove {
        /// The path to hide.
        path: String,
    },
}

impl Whiteout {
    /// The whiteout a (normalised) member path stands for, if it is one.
    /// `.wh.` with an empty name (or `.` or `..`) is an error.
    pub fn parse(path: &str) -> Result<Option<Whiteout>, Error> {
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (d, b),
            None => ("", path),
        };
        if base == ".wh..wh..opq" {
            return Ok(Some(Whiteout::Opaque { dir: dir.into() }));
        }
        let Some(name) = base.strip_prefix(".wh.") else {
            return Ok(None);
        };
        if matches!(name, "" | "." | "..") {
            return Err(Error::entry(
                path,
                format!(
                    "whiteout with an empty name ({base:?} names no entry): a whiteout is \
                     `.wh.` followed by the name it hides"
                ),
            ));
        }
        let path = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        Ok(Some(Whiteout::Remove { path }))
    }

    /// The path at and below which this whiteout hides entries.
    pub fn target(&self) -> &str {
        match self {
            Whiteout::Opaque { dir } => dir,
            Whiteout::Remove { path } => path,
        }
    }

    /// Hide in `w` what lower layers put at the target.
    pub fn apply<W: Write + Seek>(&self, w: &mut Writer<W>) -> Result<(), Error> {
        match self {
            Whiteout::Opaque { dir } => w.clear_lower(dir),
            Whiteout::Remove { path } => w.remove_lower(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_names() {
        assert_eq!(Whiteout::parse("etc/motd").expect("ok"), None);
        assert_eq!(
            Whiteout::parse("etc/.wh.motd").expect("ok"),
            Some(Whiteout::Remove {
                path: "etc/motd".into()
            })
        );
        assert_eq!(
            Whiteout::parse(".wh.etc").expect("ok"),
            Some(Whiteout::Remove { path: "etc".into() })
        );
        assert_eq!(
            Whiteout::parse("usr/.wh..wh..opq").expect("ok"),
            Some(Whiteout::Opaque { dir: "usr".into() })
        );
        for bad in ["etc/.wh.", ".wh.", "a/.wh..", "a/.wh..."] {
            let e = Whiteout::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("empty name"), "{e}");
        }
    }
}
