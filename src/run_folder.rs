//! The run folder: where one recording's files go (`profile.json`, `flame.svg`, ...).
//!
//! It is created and proven writable before the program is launched, so an unwritable
//! destination fails in one line before any work; if the run then fails before anything was
//! recorded, the folders it created are removed again.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::UserError;

/// The default parent of run folders.
pub const DEFAULT_PARENT: &str = "port-advisor-out";

#[derive(Debug)]
pub struct RunFolder {
    pub path: PathBuf,
    /// Folders this run created, innermost first, removed by [`RunFolder::discard`].
    created: Vec<PathBuf>,
}

impl RunFolder {
    /// `explicit` (from `-o`) as is, else `port-advisor-out/<stem>-<timestamp>`.
    pub fn create(explicit: Option<&Path>, stem: &str) -> Result<RunFolder> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
                let base = Path::new(DEFAULT_PARENT).join(format!("{}-{stamp}", safe_stem(stem)));
                let mut path = base.clone();
                let mut n = 2;
                while path.exists() {
                    path = PathBuf::from(format!("{}-{n}", base.display()));
                    n += 1;
                }
                path
            }
        };
        if path.exists() && !path.is_dir() {
            return Err(UserError::Output(format!(
                "{} exists and is not a folder: choose another with -o DIR",
                path.display()
            ))
            .into());
        }
        let mut created = Vec::new();
        let mut p = path.as_path();
        while !p.as_os_str().is_empty() && !p.exists() {
            created.push(p.to_path_buf());
            p = p.parent().unwrap_or(Path::new(""));
        }
        let folder = RunFolder { path, created };
        if let Err(e) = std::fs::create_dir_all(&folder.path) {
            let shown = folder.path.display().to_string();
            folder.discard();
            return Err(UserError::Output(format!(
                "cannot create output folder {shown}: {e}; choose another with -o DIR"
            ))
            .into());
        }
        if let Err(e) = tempfile::tempfile_in(&folder.path) {
            let shown = folder.path.display().to_string();
            folder.discard();
            return Err(UserError::Output(format!(
                "cannot write in output folder {shown}: {e}; choose another with -o DIR"
            ))
            .into());
        }
        Ok(folder)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Removes the folders this run created, if they are still empty.
    pub fn discard(self) {
        for dir in &self.created {
            // Only empty folders go; anything else there is the user's.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn safe_stem(stem: &str) -> String {
    let s: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    if s.is_empty() {
        "run".into()
    } else {
        s
    }
}
