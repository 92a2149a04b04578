//! The `waymark` command line.
fn main() {}
