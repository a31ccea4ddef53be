//! POSIX ACL conversion: Linux xattr format (version 2, 8-byte entries, as
//! carried by tar `SCHILY.xattr.system.posix_acl_*`) to ext4's on-disk format
//! (version 1, 4-byte entries for the *_OBJ/MASK/OTHER tags).

use crate::Error;

const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;

/// Convert a Linux v2 ACL xattr value to ext4's format.
pub fn to_ext4(path: &str, v: &[u8]) -> Result<Vec<u8>, Error> {
    let bad = |m: &str| Error::entry(path, format!("invalid POSIX ACL xattr: {m}"));
    if v.len() < 4 || (v.len() - 4) % 8 != 0 {
        return Err(bad("length"));
    }
    if u32::from_le_bytes([v[0], v[1], v[2], v[3]]) != 2 {
        return Err(bad("version is not 2"));
    }
    let mut out = 1u32.to_le_bytes().to_vec();
    for e in v[4..].chunks(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        match tag {
            ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_MASK | ACL_OTHER => {}
            ACL_USER | ACL_GROUP => out.extend_from_slice(&e[4..8]),
            _ => return Err(bad(&format!("unknown tag {tag:#x}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_entries() {
        let mut v = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (1u16, 6u16, u32::MAX),
            (2, 4, 1000),
            (4, 4, u32::MAX),
            (0x10, 4, u32::MAX),
            (0x20, 0, u32::MAX),
        ] {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        let o = to_ext4("x", &v).expect("valid");
        assert_eq!(o.len(), 4 + 4 + 8 + 4 + 4 + 4);
        assert_eq!(&o[..4], &1u32.to_le_bytes());
        assert_eq!(&o[8..16], &[2, 0, 4, 0, 0xe8, 3, 0, 0]);
        assert!(to_ext4("x", &v[..7]).is_err());
    }
}
