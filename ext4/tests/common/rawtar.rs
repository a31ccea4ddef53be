//! A tiny hand-rolled ustar writer for malformed-input tests: it writes any
//! name (`..`, absolute) and lets the test know every header's offset.

pub struct RawTar {
    pub bytes: Vec<u8>,
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0width$o}\0", v, width = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

impl RawTar {
    pub fn new() -> Self {
        RawTar { bytes: Vec::new() }
    }

    /// Append one member; returns its header offset.
    pub fn member(&mut self, name: &str, typeflag: u8, link: &str, data: &[u8]) -> u64 {
        let off = self.bytes.len() as u64;
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(
            &mut h[100..108],
            if typeflag == b'5' { 0o755 } else { 0o644 },
        );
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], 1_700_000_000);
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        self.bytes.extend_from_slice(&h);
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        off
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> u64 {
        self.member(name, b'0', "", data)
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&[0u8; 1024]);
        self.bytes
    }
}
