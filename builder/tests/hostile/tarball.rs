//! Hostile tarball inputs (issue 9). Cases are added by the work on that front end.
