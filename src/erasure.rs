//! After `forget` on SQLite: the erased phone must be nowhere in the database's
//! files. Deleted rows are overwritten (`secure_delete`) and the write-ahead log
//! is folded in and emptied; a file written by a version before `secure_delete`
//! may still hold old copies in its free space, so the files are read back and,
//! if the digits are still there, rewritten whole (`VACUUM`).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::store::{self, Db, StoreError};

/// Folds the log into the file, checks the files, and rewrites the file when the
/// phone is still in it. Says what it found.
pub fn scrub_sqlite(db: &Db, path: &Path, digits: &str) -> Result<String, StoreError> {
    db.blocking(store::checkpoint_fully)?;
    if !found_in_files(path, digits) {
        return Ok("verified: the phone is nowhere in the database files".into());
    }
    db.blocking(store::vacuum)?;
    db.blocking(store::checkpoint_fully)?;
    Ok(if found_in_files(path, digits) {
        "warning: the phone's digits are still in the database files (a running daemon kept \
         the log busy); run `forget` again once it is idle"
            .into()
    } else {
        "verified after rewriting the file: the phone is nowhere in the database files".into()
    })
}

/// The database file and its log.
fn files(path: &Path) -> [PathBuf; 2] {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)]
}

fn found_in_files(path: &Path, digits: &str) -> bool {
    files(path).iter().any(|f| contains_phone(f, digits))
}

/// Whether the file holds the phone in any format: its last ten digits in a run of
/// digits and the separators phones are written with (`+7 (916) 123-45-67`).
pub fn contains_phone(file: &Path, digits: &str) -> bool {
    let Ok(mut f) = std::fs::File::open(file) else {
        return false;
    };
    let tail = &digits[digits.len().saturating_sub(10)..];
    let mut run = String::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) | Err(_) => return run.contains(tail),
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            match b {
                b'0'..=b'9' => run.push(b as char),
                b' ' | b'-' | b'(' | b')' | b'+' => {}
                _ => {
                    if run.contains(tail) {
                        return true;
                    }
                    run.clear();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_is_found_in_any_format_and_only_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        for (content, found) in [
            (&b"x\x0079161234567\x00y"[..], true),
            (b"\"phone\":\"+7 (916) 123-45-67\"", true),
            (b"89161234567", true),
            (b"7916123456", false),
            (b"7916\x001234567", false),
        ] {
            std::fs::write(&file, content).unwrap();
            assert_eq!(contains_phone(&file, "79161234567"), found, "{content:?}");
        }
    }
}
