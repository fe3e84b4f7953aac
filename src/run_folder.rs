//! The run folder: where one recording's files go (`profile.json`, `flame.svg`, ...).
//!
//! It is created and proven writable before the program is launched, so an unwritable
//! destination fails in one line before any work; if the run then fails before anything was
//! recorded, the folders it created are removed again. A run holds a lock on its folder while
//! it writes, so two runs never mix their files in one folder.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::UserError;

/// The default parent of run folders.
pub const DEFAULT_PARENT: &str = "port-advisor-out";

/// The lock file a run holds in its folder.
const LOCK_FILE: &str = ".port-advisor.lock";

#[derive(Debug)]
pub struct RunFolder {
    pub path: PathBuf,
    /// Folders this run created, innermost first, removed by [`RunFolder::discard`].
    created: Vec<PathBuf>,
    /// Held (an `flock`) until this value is dropped.
    lock: Option<std::fs::File>,
}

impl RunFolder {
    /// `explicit` (from `-o`) as is, else `port-advisor-out/<stem>-<timestamp>`.
    pub fn create(explicit: Option<&Path>, stem: &str) -> Result<RunFolder> {
        let mut made = Vec::new();
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
                let base = Path::new(DEFAULT_PARENT).join(format!("{}-{stamp}", safe_stem(stem)));
                // Created here, one name at a time, so that two runs started in the same
                // second take different folders.
                if !Path::new(DEFAULT_PARENT).exists()
                    && std::fs::create_dir(DEFAULT_PARENT).is_ok()
                {
                    made.push(PathBuf::from(DEFAULT_PARENT));
                }
                let mut path = base.clone();
                let mut n = 2;
                loop {
                    match std::fs::create_dir(&path) {
                        Ok(()) => {
                            made.insert(0, path.clone());
                            break;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n <= 1000 => {
                            path = PathBuf::from(format!("{}-{n}", base.display()));
                            n += 1;
                        }
                        Err(_) => break, // reported below, with the folder's name
                    }
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
        let mut created = made;
        let mut p = path.as_path();
        while !p.as_os_str().is_empty() && !p.exists() {
            created.push(p.to_path_buf());
            p = p.parent().unwrap_or(Path::new(""));
        }
        let mut folder = RunFolder {
            path,
            created,
            lock: None,
        };
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
        match lock(&folder.path.join(LOCK_FILE)) {
            Ok(file) => folder.lock = Some(file),
            Err(e) => {
                let shown = folder.path.display().to_string();
                // Another run's folder: nothing here is this run's to remove.
                folder.created.clear();
                return Err(UserError::Output(format!(
                    "{shown} is being written by another port-advisor run ({e}); wait for it \
                     to finish or choose another folder with -o DIR"
                ))
                .into());
            }
        }
        Ok(folder)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Removes the folders this run created, if they are still empty.
    pub fn discard(mut self) {
        if self.lock.take().is_some() {
            let _ = std::fs::remove_file(self.path.join(LOCK_FILE));
        }
        for dir in &self.created {
            // Only empty folders go; anything else there is the user's.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Takes an exclusive lock on `path`, without waiting; the error says who holds it.
fn lock(path: &Path) -> std::io::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(match holder.trim() {
                "" => std::io::Error::other("locked"),
                pid => std::io::Error::other(format!("pid {pid}")),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    Ok(file)
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
