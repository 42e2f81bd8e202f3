//! `--env-file PATH`: the variables systemd gives the daemon from the unit's
//! `EnvironmentFile=` (the tokens), read by a command itself. This lets `check`
//! run as the daemon's user while the env file stays readable by root alone:
//! root's shell opens the file and hands it over as stdin
//! (`runuser -u booking-monitor -- booking-monitor check --env-file - < /etc/booking-monitor/env`).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// `NAME=value` lines as systemd reads them: blank lines and `#` or `;` comments
/// skipped, spaces around name and value trimmed, one pair of surrounding quotes
/// removed.
#[derive(Debug, Default)]
pub struct EnvFile(HashMap<String, String>);

#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("cannot read the env file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The line itself is not shown: it may hold a token.
    #[error("env file {}, line {line}: expected NAME=value", path.display())]
    BadLine { path: PathBuf, line: usize },
}

impl EnvFile {
    /// Reads `path`, or stdin for `-`.
    pub fn read(path: &Path) -> Result<EnvFile, EnvFileError> {
        let stdin = path == Path::new("-");
        let shown = if stdin { Path::new("(stdin)") } else { path };
        let unreadable = |source| EnvFileError::Unreadable {
            path: shown.to_path_buf(),
            source,
        };
        let text = if stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(unreadable)?;
            text
        } else {
            std::fs::read_to_string(path).map_err(unreadable)?
        };
        EnvFile::parse(&text, shown)
    }

    pub fn parse(text: &str, path: &Path) -> Result<EnvFile, EnvFileError> {
        let mut vars = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let bad = || EnvFileError::BadLine {
                path: path.to_path_buf(),
                line: i + 1,
            };
            let (name, value) = line.split_once('=').ok_or_else(bad)?;
            let name = name.trim();
            let valid = |c: char| c.is_ascii_alphanumeric() || c == '_';
            if name.is_empty() || !name.chars().all(valid) {
                return Err(bad());
            }
            vars.insert(name.to_string(), unquote(value.trim()));
        }
        Ok(EnvFile(vars))
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn unquote(value: &str) -> String {
    let quoted = |q: char| value.len() >= 2 && value.starts_with(q) && value.ends_with(q);
    if quoted('\'') {
        value[1..value.len() - 1].to_string()
    } else if quoted('"') {
        value[1..value.len() - 1]
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_systemd_reads() {
        let text = "# the tokens\n; also a comment\n\nYCLIENTS_USER_TOKEN=abc\n\
                    WHATSAPP_ACCESS_TOKEN = \"x y\\\"z\"\nGREEN_API_TOKEN='q'\nEMPTY=\n";
        let env = EnvFile::parse(text, Path::new("env")).unwrap();
        assert_eq!(env.get("YCLIENTS_USER_TOKEN").as_deref(), Some("abc"));
        assert_eq!(env.get("WHATSAPP_ACCESS_TOKEN").as_deref(), Some("x y\"z"));
        assert_eq!(env.get("GREEN_API_TOKEN").as_deref(), Some("q"));
        assert_eq!(env.get("EMPTY").as_deref(), Some(""));
        assert_eq!(env.get("HOME"), None);
    }

    #[test]
    fn a_bad_line_is_named_by_its_number_not_its_text() {
        let e = EnvFile::parse(
            "A=1\nsecret-token-without-a-name\n",
            Path::new("/etc/bm/env"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "env file /etc/bm/env, line 2: expected NAME=value"
        );
    }
}
