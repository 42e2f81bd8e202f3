//! One daemon per database.

use std::path::{Path, PathBuf};

use super::{explain_io, StoreError};

/// One daemon per database: a second one would send every confirmation twice.
/// Held (an OS file lock on `<db>.lock`, which records the holder's pid) for as
/// long as the value lives; the OS releases it if the process dies.
pub struct InstanceLock {
    _file: std::fs::File,
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
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(fail)?;
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
        file.set_len(0).map_err(fail)?;
        file.rewind().map_err(fail)?;
        write!(file, "{}", std::process::id()).map_err(fail)?;
        file.flush().map_err(fail)?;
        Ok(InstanceLock { _file: file })
    }
}
