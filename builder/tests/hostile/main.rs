//! Hostile inputs, one table per front end (issue 9): tarballs, profiles,
//! images for `inspect`, seeds. Every case runs the real `kubebake` binary
//! and asserts the exit code, that the one `error:` line names the file and
//! the field or entry, that nothing is left at the output path or in the
//! temporary directory, and, for inputs that declare huge sizes, a ceiling
//! on the process's peak RSS (read by `/usr/bin/time`, not timed).

#[path = "../support/mod.rs"]
mod support;

mod harness;

mod formats;
mod inspect;
mod profile;
mod seed;
mod tarball;
