//! The `mailtrip` command line: parse arguments, run, render, exit.

fn main() {}
