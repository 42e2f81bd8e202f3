//! A running daemon's config changed as an operator changes it: the file written
//! whole (a rename, so the daemon never reads half of it) and `SIGHUP` sent.

use std::process::Command;

use booking_monitor::simulator::{ConfigParts, Simulator};

use super::{Running, DB_FILE};

impl Running {
    /// Writes the config for `companies` and `parts` (on the SQLite file in the
    /// daemon's directory) in place of the running one.
    pub fn rewrite_config(
        &self,
        sim: &Simulator,
        companies: &[i64],
        parts: &ConfigParts,
    ) -> Result<(), String> {
        let url = Simulator::sqlite_url(&self.dir.path().join(DB_FILE));
        let fresh = self.dir.path().join("config.toml.new");
        std::fs::write(&fresh, sim.daemon_config(&url, companies, parts))
            .map_err(|e| format!("writing {}: {e}", fresh.display()))?;
        std::fs::rename(&fresh, self.config_path())
            .map_err(|e| format!("renaming {}: {e}", fresh.display()))
    }

    /// `kill -HUP`: the daemon reloads its config.
    pub fn hangup(&self) -> Result<(), String> {
        let status = Command::new("kill")
            .args(["-HUP", &self.pid.to_string()])
            .status()
            .map_err(|e| format!("kill -HUP: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -HUP {} failed: {status}", self.pid))
        }
    }

    /// How many reloads the daemon logged as applied, and as refused.
    pub fn reloads(&self) -> (usize, usize) {
        let log = self.log_text();
        (
            log.matches("config reloaded and applied").count(),
            log.matches("config reload refused").count(),
        )
    }
}
