//! Filesystem layout at `finish()`.

use std::io::{Seek, Write};

use crate::{Error, Summary, Writer};

pub(crate) fn finish<W: Write + Seek>(w: Writer<W>) -> Result<Summary, Error> {
    let _ = w;
    Err(Error::Limit("not implemented yet".into()))
}
