//! Disk image building blocks for kubebake: byte windows over an image, deterministic GUIDs,
//! GPT and MBR partition tables, FAT volumes (ESP, Raspberry Pi boot), filesystem probing and
//! a pure-Rust ext4 file reader for `kubebake inspect`. No CLI here; every error is a
//! [`Error`] naming what was done and where.
//!
//! ```no_run
//! use std::fs::OpenOptions;
//! use kubebake_disk::{fat, gpt, guid, Window};
//!
//! # fn main() -> Result<(), kubebake_disk::Error> {
//! let mut img = OpenOptions::new().read(true).write(true).create(true)
//!     .open("disk.img").map_err(|e| kubebake_disk::Error::Io {
//!         what: "opening disk.img".into(), offset: 0, source: e })?;
//! let seed = b"profile-hash";
//! let esp = gpt::Partition {
//!     name: "ESP".into(),
//!     type_guid: guid::ESP,
//!     guid: guid::derive(seed, "part:esp"),
//!     first_lba: 2048,
//!     last_lba: 2048 + (256 << 20) / 512 - 1,
//!     attributes: 0,
//! };
//! gpt::write(&mut img, 1 << 30, guid::derive(seed, "disk"), std::slice::from_ref(&esp))?;
//! let window = Window::new(&mut img, esp.byte_offset(), Some(esp.byte_len())).named("ESP");
//! let opts = fat::FatOptions {
//!     size_bytes: esp.byte_len(),
//!     label: "ESP".into(),
//!     volume_id: guid::fat_volume_id(seed, "esp"),
//!     timestamp: 1_700_000_000,
//! };
//! fat::build(window, &opts, &[fat::FatFile {
//!     path: "loader/loader.conf".into(),
//!     source: fat::Source::Bytes(b"timeout 0\n".to_vec()),
//! }])?;
//! # Ok(()) }
//! ```

mod cache;
pub mod damage;
mod error;
pub mod ext4read;
pub mod fat;
mod fatfix;
pub mod gpt;
pub mod guid;
pub mod image;
pub mod mbr;
pub mod probe;
pub mod table;
mod window;

pub use damage::Warning;
pub use error::{Error, FileKind, Result};
pub use window::Window;
