//! The boot sector (BIOS parameter block): the volume's geometry, checked before any
//! offset is computed from it.

/// The geometry of a FAT volume, from its boot sector (BPB), checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bpb {
    pub bytes_per_sector: u32,
    pub sectors_per_cluster: u32,
    pub reserved: u64,
    pub fats: u64,
    pub fat_sectors: u64,
    pub root_entries: u64,
    pub total_sectors: u64,
    pub clusters: u64,
    pub bits: u8,
    /// FAT32: the root directory's first cluster.
    pub root_cluster: u32,
}

pub(crate) fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

pub(crate) fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

impl Bpb {
    /// Parse and check a boot sector (512 bytes); None when it is not a FAT volume.
    pub fn parse(bs: &[u8]) -> Option<Bpb> {
        if bs.len() < 512 || bs[510] != 0x55 || bs[511] != 0xAA {
            return None;
        }
        let bps = u32::from(le16(bs, 11));
        let spc = u32::from(bs[13]);
        let reserved = u64::from(le16(bs, 14));
        let fats = u64::from(bs[16]);
        if !matches!(bps, 512 | 1024 | 2048 | 4096)
            || spc == 0
            || !spc.is_power_of_two()
            || reserved == 0
            || !(1..=2).contains(&fats)
        {
            return None;
        }
        let root_entries = u64::from(le16(bs, 17));
        let fat_sectors = match u64::from(le16(bs, 22)) {
            0 => u64::from(le32(bs, 36)),
            n => n,
        };
        let total_sectors = match u64::from(le16(bs, 19)) {
            0 => u64::from(le32(bs, 32)),
            n => n,
        };
        let root_sectors = (root_entries * 32).div_ceil(u64::from(bps));
        let meta = reserved + fats * fat_sectors + root_sectors;
        if fat_sectors == 0 || total_sectors <= meta {
            return None;
        }
        let clusters = (total_sectors - meta) / u64::from(spc);
        let bits = match clusters {
            c if c < 4085 => 12,
            c if c < 65525 => 16,
            _ => 32,
        };
        Some(Bpb {
            bytes_per_sector: bps,
            sectors_per_cluster: spc,
            reserved,
            fats,
            fat_sectors,
            root_entries,
            total_sectors,
            clusters,
            bits,
            root_cluster: if bits == 32 { le32(bs, 44) } else { 0 },
        })
    }

    pub fn cluster_bytes(&self) -> u64 {
        u64::from(self.bytes_per_sector) * u64::from(self.sectors_per_cluster)
    }

    pub(crate) fn sector_bytes(&self, sectors: u64) -> u64 {
        sectors * u64::from(self.bytes_per_sector)
    }

    pub(crate) fn root_dir_offset(&self) -> u64 {
        self.sector_bytes(self.reserved + self.fats * self.fat_sectors)
    }

    pub(crate) fn data_offset(&self) -> u64 {
        self.root_dir_offset() + self.root_entries * 32
    }

    /// The largest valid data cluster number (clusters are numbered from 2).
    pub(crate) fn last_cluster(&self) -> u64 {
        self.clusters + 1
    }
}
