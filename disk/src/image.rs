//! Opening a disk image to read: a regular file or a block device, nothing else.
//!
//! The path's metadata is checked before it is opened, so a FIFO or a directory is refused
//! with a message instead of a hang or a "generic I/O error"; the open itself is
//! non-blocking and the opened file is checked again, so a path swapped in between cannot
//! block either.

use std::fs::{File, FileType, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, FileKind, Result};

/// What an image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    /// A regular file.
    File,
    /// A block device.
    BlockDevice,
}

/// An image opened for reading.
#[derive(Debug)]
pub struct Image {
    /// The open file.
    pub file: File,
    /// Its size in bytes (for a block device, the device size).
    pub size: u64,
    /// File or block device.
    pub kind: ImageKind,
}

fn classify(t: FileType) -> std::result::Result<ImageKind, FileKind> {
    if t.is_file() {
        Ok(ImageKind::File)
    } else if t.is_block_device() {
        Ok(ImageKind::BlockDevice)
    } else if t.is_dir() {
        Err(FileKind::Directory)
    } else if t.is_fifo() {
        Err(FileKind::Fifo)
    } else if t.is_char_device() {
        Err(FileKind::CharDevice)
    } else if t.is_socket() {
        Err(FileKind::Socket)
    } else {
        Err(FileKind::Other)
    }
}

/// Open `path` for reading if it is a regular file or a block device (symlinks followed);
/// anything else is [`Error::NotADisk`] naming the path and what it is.
pub fn open(path: &Path) -> Result<Image> {
    let open_err = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let not_a_disk = |kind| Error::NotADisk {
        path: path.to_path_buf(),
        kind,
    };
    let meta = std::fs::metadata(path).map_err(open_err)?;
    classify(meta.file_type()).map_err(not_a_disk)?;
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    let kind = classify(meta.file_type()).map_err(not_a_disk)?;
    let size = match kind {
        ImageKind::File => meta.len(),
        ImageKind::BlockDevice => file.seek(SeekFrom::End(0)).map_err(open_err)?,
    };
    Ok(Image { file, size, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_and_devices_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = open(dir.path()).expect_err("a directory");
        let msg = e.to_string();
        assert!(
            msg.contains(&dir.path().display().to_string()) && msg.contains("is a directory"),
            "{msg}"
        );
        let e = open(Path::new("/dev/null")).expect_err("a char device");
        assert!(e.to_string().contains("is a character device"), "{e}");
        let e = open(&dir.path().join("missing")).expect_err("missing");
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo failed");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(open(&p).map(|_| ()).map_err(|e| e.to_string()));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("open() blocked on a FIFO");
        let msg = got.expect_err("a FIFO must be refused");
        assert!(msg.contains("fifo: is a FIFO"), "{msg}");
    }

    #[test]
    fn regular_files_open_with_their_size() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("img");
        std::fs::write(&p, [0u8; 1536]).expect("write");
        let img = open(&p).expect("open");
        assert_eq!((img.size, img.kind), (1536, ImageKind::File));
    }
}
