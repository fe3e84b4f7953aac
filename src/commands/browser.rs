//! Opening a page in the user's browser: `$BROWSER` first, as xdg-utils reads it, then the
//! desktop's own opener. Nothing is waited for; no output of the browser reaches ours.

use std::path::Path;
use std::process::{Command, Stdio};

/// Starts a browser on `page` without waiting for it; returns the program used, or `None`
/// when none could be started (no `$BROWSER`, no display).
pub(super) fn open(page: &Path) -> Option<String> {
    let mut tried: Vec<String> = Vec::new();
    if let Some(b) = std::env::var_os("BROWSER").filter(|b| !b.is_empty()) {
        // $BROWSER may list several, separated by `:`, as xdg-utils reads it.
        for one in b.to_string_lossy().split(':').filter(|s| !s.is_empty()) {
            tried.push(one.to_owned());
        }
    }
    let desktop = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty());
    if cfg!(target_os = "macos") {
        tried.push("open".into());
    } else if desktop {
        tried.push("xdg-open".into());
    }
    tried.into_iter().find(|program| {
        let mut parts = program.split_whitespace();
        let Some(exe) = parts.next() else {
            return false;
        };
        Command::new(exe)
            .args(parts)
            .arg(page)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .is_ok()
    })
}
