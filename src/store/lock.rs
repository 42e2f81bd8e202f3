//! One daemon per database.
//!
//! The OS file lock (flock) on `<db>.lock` is what decides, never the file's
//! existence: a file left behind by `kill -9` is unlocked and taken over. A clean
//! shutdown removes the file.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{explain_io, StoreError};

/// One daemon per database: a second one would send every confirmation twice.
/// Held (an OS file lock on `<db>.lock`, which records the holder's pid) for as
/// long as the value lives; the OS releases it if the process dies.
pub struct InstanceLock {
    path: PathBuf,
    _file: File,
}

impl InstanceLock {
    pub fn acquire(db_path: &Path) -> Result<InstanceLock, StoreError> {
        use std::io::{Read, Seek, Write};
        let mut lock_path = db_path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let fail = |e: std::io::Error| StoreError::Open {
            path: db_path.to_path_buf(),
            reason: explain_io(&lock_path, &e),
        };
        // A holder that shuts down unlinks the file it locked; a lock taken on that
        // unlinked file would guard nothing, so take it again on the new file.
        let mut file = loop {
            let mut file = open_owner_only(&lock_path).map_err(fail)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = match holder.trim() {
                        "" => "a process".to_string(),
                        pid => format!("pid {pid}"),
                    };
                    return Err(StoreError::Locked {
                        path: db_path.to_path_buf(),
                        holder,
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(fail(e)),
            }
            if still_at(&file, &lock_path) {
                break file;
            }
        };
        // A file left by an older version may be world-readable.
        restrict(&file).map_err(fail)?;
        file.set_len(0).map_err(fail)?;
        file.rewind().map_err(fail)?;
        write!(file, "{}", std::process::id()).map_err(fail)?;
        file.flush().map_err(fail)?;
        Ok(InstanceLock {
            path: lock_path,
            _file: file,
        })
    }
}

impl Drop for InstanceLock {
    /// Unlinks while the lock is still held (the file closes after this), so no
    /// other process can be holding it now.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn open_owner_only(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_owner_only(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

#[cfg(unix)]
fn restrict(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_file: &File) -> std::io::Result<()> {
    Ok(())
}

/// Whether `path` still names the file we locked (same device and inode).
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(ours), Ok(named)) => ours.dev() == named.dev() && ours.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(_file: &File, _path: &Path) -> bool {
    true
}
