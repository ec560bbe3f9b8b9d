//! Fault injection for crash tests. `XUEXIN_FAULTS=point[,point…]` makes the process abort at
//! those points, the way a power cut or `kill -9` would; the tests restart it and check that
//! nothing was lost or left half-done. Unset in production, each point costs one branch.

use std::collections::HashSet;
use std::sync::OnceLock;

fn armed() -> &'static HashSet<String> {
    static POINTS: OnceLock<HashSet<String>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var("XUEXIN_FAULTS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    })
}

pub fn hit(point: &str) {
    if !armed().is_empty() && armed().contains(point) {
        eprintln!("xuexin: fault point {point} reached, aborting");
        std::process::abort();
    }
}
