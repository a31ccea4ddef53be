//! `tar2ext4 IN.tar[.gz|.xz|.zst] OUT.img [SIZE_BYTES]`: build an ext4 image
//! from a tarball with `ext4w` (fit-to-content unless a size is given).
//! Set SOURCE_DATE_EPOCH to choose the timestamp clamp (default 0).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: tar2ext4 IN.tar OUT.img [SIZE_BYTES]");
        std::process::exit(2);
    }
    let epoch: i64 = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut opts = ext4w::Options::new(*b"ext4w-tar2ext4!!", epoch);
    opts.clamp_times = epoch != 0;
    if let Some(size) = args.get(3) {
        opts.sizing = ext4w::Sizing::Fixed {
            bytes: size.parse()?,
        };
    }
    let out = File::create(&args[2])?;
    let mut w = ext4w::Writer::new(BufWriter::with_capacity(1 << 20, out), opts)?;
    let input = ext4w::tar::open(Path::new(&args[1]))?;
    let stats = ext4w::tar::add_tar(&mut w, input, &args[1])?;
    let s = w.finish()?;
    println!(
        "{} entries, {} data bytes -> {} bytes ({} blocks, {} free; {} inodes, {} free)",
        stats.entries, s.data_bytes, s.size_bytes, s.blocks, s.free_blocks, s.inodes, s.free_inodes
    );
    Ok(())
}
