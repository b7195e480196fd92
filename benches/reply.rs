//! STUB benchmark.
fn main() {}
