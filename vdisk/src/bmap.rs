//! bmaptool's block map, format 2.0, written as yoctoproject/bmaptool
//! `src/bmaptool/BmapCreate.py` writes it: the raw disk's mapped 4 KiB
//! blocks as ranges with their sha256, so `bmaptool copy` writes only the
//! data.
//!
//! Mapped means inside a data range of the disk *and* not all zero: the map
//! then depends on the disk's bytes only, not on how sparse its copy is. A
//! block left out reads as zero on a fresh or zero-filled target, which is
//! what it holds.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::{is_zero, Error, Format, RawDisk, Result};

/// The block size of the map.
pub const BLOCK: u64 = 4096;
/// Blocks read at a time.
const BATCH: u64 = 256;

/// A range of mapped blocks `first..=last` and the sha256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// First block.
    pub first: u64,
    /// Last block (inclusive).
    pub last: u64,
    /// sha256 of the range's bytes (up to the end of the disk), hex.
    pub sha256: String,
}

/// Write the bmap of `src` into `out`.
pub fn write(src: &RawDisk, out: &mut File, out_path: &Path) -> Result<()> {
    if src.size() == 0 {
        return Err(Error::Unsuitable {
            path: out_path.to_path_buf(),
            format: Format::Raw,
            why: "the disk is empty; bmaptool maps no empty image".into(),
        });
    }
    let text = render(src.size(), &ranges(src)?);
    out.write_all(text.as_bytes())
        .map_err(|e| Error::io(out_path, None, e))
}

/// The mapped ranges of `src`, with their checksums (the data ranges are
/// read once; holes are not read).
pub fn ranges(src: &RawDisk) -> Result<Vec<Range>> {
    let size = src.size();
    let mut out = Vec::new();
    let mut open: Option<(u64, u64, Sha256)> = None;
    let mut buf = vec![0u8; (BATCH * BLOCK) as usize];
    for run in src.granules(BLOCK) {
        let mut block = run.start;
        while block < run.end {
            let n = (run.end - block).min(BATCH);
            let bytes = &mut buf[..(n * BLOCK) as usize];
            src.read_at(block * BLOCK, bytes)?;
            for (i, b) in bytes.chunks_exact(BLOCK as usize).enumerate() {
                let this = block + i as u64;
                if is_zero(b) {
                    out.extend(open.take().map(finish));
                    continue;
                }
                // The last block may be partial: hash only the disk's bytes.
                let len = (size - this * BLOCK).min(BLOCK) as usize;
                match &mut open {
                    Some((_, last, h)) if *last + 1 == this => {
                        *last = this;
                        h.update(&b[..len]);
                    }
                    _ => {
                        out.extend(open.take().map(finish));
                        open = Some((this, this, Sha256::new().chain_update(&b[..len])));
                    }
                }
            }
            block += n;
        }
    }
    out.extend(open.take().map(finish));
    Ok(out)
}

fn finish((first, last, h): (u64, u64, Sha256)) -> Range {
    Range {
        first,
        last,
        sha256: hex::encode(h.finalize()),
    }
}

/// The bmap text of a disk of `size` bytes with `ranges` mapped, byte for
/// byte as BmapCreate.py writes it (including its placeholders that the
/// counts overwrite in place).
pub fn render(size: u64, ranges: &[Range]) -> String {
    let blocks = size.div_ceil(BLOCK);
    let mapped: u64 = ranges.iter().map(|r| r.last - r.first + 1).sum();
    let size_human = human_size(size);
    let mut x = String::new();
    x.push_str(HEADER);
    let _ = write!(
        x,
        "<bmap version=\"2.0\">\n    <!-- Image size in bytes: {size_human} -->\n    <ImageSize> {size} </ImageSize>\n\n    <!-- Size of a block in bytes -->\n    <BlockSize> {BLOCK} </BlockSize>\n\n    <!-- Count of blocks in the image file -->\n    <BlocksCount> {blocks} </BlocksCount>\n\n"
    );
    x.push_str("    <!-- Count of mapped blocks: ");
    let pos1 = x.len();
    let _ = writeln!(
        x,
        "{} or {}   -->",
        " ".repeat(size_human.len()),
        " ".repeat(6)
    );
    x.push_str("    <MappedBlocksCount> ");
    let pos2 = x.len();
    let _ = write!(
        x,
        "{} </MappedBlocksCount>\n\n",
        " ".repeat(blocks.to_string().len())
    );
    x.push_str("    <!-- Type of checksum used in this file -->\n    <ChecksumType> sha256 </ChecksumType>\n\n");
    x.push_str("    <!-- The checksum of this bmap file. When it is calculated, the value of\n         the checksum has to be zero (all ASCII \"0\" symbols).  -->\n    <BmapFileChecksum> ");
    let pos3 = x.len();
    x.push_str(&"0".repeat(64));
    x.push_str(" </BmapFileChecksum>\n\n    <!-- The block map which consists of elements which may either be a\n         range of blocks or a single block. The 'chksum' attribute\n         (if present) is the checksum of this blocks range. -->\n    <BlockMap>\n");
    for r in ranges {
        if r.first == r.last {
            let _ = writeln!(
                x,
                "        <Range chksum=\"{}\"> {} </Range>",
                r.sha256, r.first
            );
        } else {
            let _ = writeln!(
                x,
                "        <Range chksum=\"{}\"> {}-{} </Range>",
                r.sha256, r.first, r.last
            );
        }
    }
    x.push_str("    </BlockMap>\n</bmap>\n");
    let percent = mapped as f64 * 100.0 / blocks as f64;
    overwrite(
        &mut x,
        pos1,
        &format!("{} or {percent:.1}%", human_size(mapped * BLOCK)),
    );
    overwrite(&mut x, pos2, &mapped.to_string());
    let sum = hex::encode(Sha256::digest(x.as_bytes()));
    overwrite(&mut x, pos3, &sum);
    x
}

/// Overwrite `s` from byte `at` with `with` (ASCII), as a seek and write
/// in the Python file would.
fn overwrite(s: &mut String, at: usize, with: &str) {
    let end = (at + with.len()).min(s.len());
    s.replace_range(at..end, &with[..end - at]);
}

/// bmaptool's `human_size`: "1 byte", "N bytes" under 512, else one decimal
/// of KiB, MiB, GiB, TiB or EiB.
pub fn human_size(size: u64) -> String {
    if size == 1 {
        return "1 byte".into();
    }
    if size < 512 {
        return format!("{size} bytes");
    }
    let mut v = size as f64;
    for unit in ["KiB", "MiB", "GiB", "TiB"] {
        v /= 1024.0;
        if v < 1024.0 {
            return format!("{v:.1} {unit}");
        }
    }
    format!("{v:.1} EiB")
}

const HEADER: &str = r#"<?xml version="1.0" ?>
<!-- This file contains the block map for an image file, which is basically
     a list of useful (mapped) block numbers in the image file. In other words,
     it lists only those blocks which contain data (boot sector, partition
     table, file-system metadata, files, directories, extents, etc). These
     blocks have to be copied to the target device. The other blocks do not
     contain any useful data and do not have to be copied to the target
     device.

     The block map is an optimization which allows to copy or flash the image
     to the image quicker than copying of flashing the entire image. This is
     because with bmap less data is copied: <MappedBlocksCount> blocks instead
     of <BlocksCount> blocks.

     Besides the machine-readable data, this file contains useful commentaries
     which contain human-readable information like image size, percentage of
     mapped data, etc.

     The 'version' attribute is the block map file format version in the
     'major.minor' format. The version major number is increased whenever an
     incompatible block map format change is made. The minor number changes
     in case of minor backward-compatible changes. -->

"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_as_bmaptool_prints_them() {
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(511), "511 bytes");
        assert_eq!(human_size(512), "0.5 KiB");
        assert_eq!(human_size(4 << 30), "4.0 GiB");
        assert_eq!(human_size((37 << 20) + 2560), "37.0 MiB");
        // bmaptool skips PiB: past TiB it prints TiB/1024 as "EiB".
        assert_eq!(human_size(1 << 60), "1048576.0 EiB");
    }

    #[test]
    fn counts_overwrite_their_placeholders() {
        let r = Range {
            first: 3,
            last: 3,
            sha256: "ab".repeat(32),
        };
        let x = render(1 << 30, &[r]);
        assert!(
            x.contains("    <!-- Count of mapped blocks: 4.0 KiB or 0.0%     -->\n"),
            "{x}"
        );
        assert!(
            x.contains("    <MappedBlocksCount> 1      </MappedBlocksCount>\n"),
            "{x}"
        );
        assert!(x.contains(&format!(
            "        <Range chksum=\"{}\"> 3 </Range>\n",
            "ab".repeat(32)
        )));
    }
}
