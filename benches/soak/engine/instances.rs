//! The daemon's instances under soak: the binary (release for the bench, debug for
//! the test) run in slots, each with its config, log and HTTP port; killed,
//! stopped and started again by the schedule. Each process (numbered from 1 as it
//! is started) has its own WhatsApp token, SMS key and YClients partner id, so the
//! simulator's log says which process sent what, and a duplicate is put down to a
//! kill only when the process killed is the one that sent the first copy.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use booking_monitor::simulator::Simulator;

use super::schedule::COMPANIES;
use super::Timing;

/// Meta's number id for every salon (one shared sender) and the app secret.
pub const NUMBER_ID: &str = "100200300";
pub const APP_SECRET: &str = "soak-app-secret";
pub const WEBHOOK_TOKEN: &str = "soak-webhook-token";
pub const BOT: &str = "123456:soak-bot-token";
/// How long a SIGTERM may take.
pub const STOP_PATIENCE: Duration = Duration::from_secs(30);

/// The texts the soak tells apart: each starts with its kind.
pub const TEXTS: &str = r#"
[messages]
booking_created = "SOAK created {date} {time}"
booking_changed = "SOAK changed {date} {time}"
booking_cancelled = "SOAK cancelled {date} {time}"
ask_to_confirm = "SOAK ask"
reply_confirmed = "SOAK thanks"
reply_cancel_request = "SOAK cancel request"
reply_forwarded = "SOAK forwarded"
"#;
const OPT_TEXTS: &str = "opted_out = \"SOAK opted out\"\nopted_in = \"SOAK opted in\"\n";
const SMS_TEXTS: &str = r#"
[sms]
booking_created = "SOAK SMS created {date} {time}"
booking_changed = "SOAK SMS changed {date} {time}"
booking_cancelled = "SOAK SMS cancelled {date} {time}"
"#;

/// What every instance's config shares.
pub struct Setup {
    pub binary: PathBuf,
    pub dir: PathBuf,
    pub database_url: String,
    pub postgres: bool,
    /// The daemon has opt-outs (`booking-monitor optout --help` succeeds).
    pub optouts: bool,
    pub timing: Timing,
}

/// A slot's running process, if any.
pub struct Instance {
    child: Option<Child>,
    /// Its process number (the count of processes started before it, plus one).
    pub process: usize,
    pub port: u16,
    pub log: PathBuf,
}

pub struct Instances {
    pub setup: Setup,
    pub slots: Vec<Instance>,
    /// Sent SIGTERM, not yet exited: (slot, process, when signalled).
    stopping: Vec<(usize, Child, Instant)>,
    spawned: usize,
}

/// WhatsApp's bearer token of a process.
pub fn token(process: usize) -> String {
    format!("soak-access-token-{process}")
}

/// The process an `Authorization` or `X-Partner-Id` names.
pub fn process_of(by: Option<&str>) -> Option<usize> {
    let by = by?;
    by.strip_prefix("Bearer soak-access-token-")
        .unwrap_or(by)
        .parse()
        .ok()
}

/// The process an SMS came from (its SMS.ru `api_id`).
pub fn sms_process(body: &serde_json::Value) -> Option<usize> {
    body["api_id"]
        .as_str()?
        .strip_prefix("soak-sms-")?
        .parse()
        .ok()
}

impl Instances {
    pub fn new(setup: Setup, slots: usize) -> Instances {
        let slots = (0..slots)
            .map(|_| Instance {
                child: None,
                process: 0,
                port: 0,
                log: PathBuf::new(),
            })
            .collect();
        Instances {
            setup,
            slots,
            stopping: Vec::new(),
            spawned: 0,
        }
    }

    /// Starts the slot's instance: its own id (`soak-<slot>`) unless `fresh_identity`
    /// (then the default, host and pid: a new instance to the others).
    pub fn spawn(
        &mut self,
        sim: &Simulator,
        slot: usize,
        fresh_identity: bool,
    ) -> Result<(), String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("a free port: {e}"))?;
        self.spawned += 1;
        let config = self.setup.dir.join(format!("slot-{slot}.toml"));
        let text = self.config(sim, slot, self.spawned, port, fresh_identity);
        std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
        let log = self
            .setup
            .dir
            .join(format!("slot-{slot}-{}.log", self.spawned));
        let stderr = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut command = Command::new(&self.setup.binary);
        command
            .args(["run", "--config"])
            .arg(&config)
            .current_dir(&self.setup.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (name, _) in std::env::vars() {
            let ours = [
                "BOOKING_",
                "YCLIENTS_",
                "WHATSAPP_",
                "GREEN_API_",
                "TELEGRAM_",
                "SMS",
            ];
            if ours.iter().any(|p| name.starts_with(p)) {
                command.env_remove(name);
            }
        }
        let child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.setup.binary.display()))?;
        self.slots[slot] = Instance {
            child: Some(child),
            process: self.spawned,
            port,
            log,
        };
        Ok(())
    }

    pub fn running(&self, slot: usize) -> bool {
        self.slots[slot].child.is_some()
    }

    /// The slot's HTTP base URL while it runs.
    pub fn url(&self, slot: usize) -> Option<String> {
        let instance = &self.slots[slot];
        instance
            .child
            .as_ref()
            .map(|_| format!("http://127.0.0.1:{}", instance.port))
    }

    /// kill -9 and reap; false if it was not running.
    pub fn kill(&mut self, slot: usize) -> bool {
        let Some(mut child) = self.slots[slot].child.take() else {
            return false;
        };
        let _ = child.kill();
        let _ = child.wait();
        true
    }

    /// Sends SIGTERM; false if it was not running. [`Instances::stopped`] says
    /// when and how it exited.
    pub fn term(&mut self, slot: usize) -> bool {
        let Some(child) = self.slots[slot].child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        self.stopping.push((slot, child, Instant::now()));
        true
    }

    pub fn stopping(&self, slot: usize) -> bool {
        self.stopping.iter().any(|(s, _, _)| *s == slot)
    }

    /// Slots sent SIGTERM that have exited since the last look: how, and how long it
    /// took (`None`: not within `STOP_PATIENCE`, then killed).
    pub fn stopped(&mut self) -> Vec<(usize, Option<ExitStatus>, Duration)> {
        let mut done = Vec::new();
        self.stopping.retain_mut(|(slot, child, since)| {
            let status = match child.try_wait() {
                Ok(Some(status)) => Some(status),
                _ if since.elapsed() < STOP_PATIENCE => return true,
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    None
                }
            };
            done.push((*slot, status, since.elapsed()));
            false
        });
        done
    }

    /// Slots whose process exited by itself since the last look, with how.
    pub fn exited(&mut self) -> Vec<(usize, ExitStatus)> {
        let mut gone = Vec::new();
        for (slot, instance) in self.slots.iter_mut().enumerate() {
            if let Some(child) = instance.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    instance.child = None;
                    gone.push((slot, status));
                }
            }
        }
        gone
    }

    /// Whether the slot's current process has said it started.
    pub fn started(&self, slot: usize) -> bool {
        std::fs::read_to_string(&self.slots[slot].log)
            .is_ok_and(|log| log.contains("booking-monitor started"))
    }

    /// The last `n` lines of a slot's current log.
    pub fn log_tail(&self, slot: usize, n: usize) -> String {
        let text = std::fs::read_to_string(&self.slots[slot].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The slot where `process` runs now, if it does.
    pub fn slot_of(&self, process: usize) -> Option<usize> {
        (0..self.slots.len()).find(|s| self.running(*s) && self.slots[*s].process == process)
    }

    fn config(
        &self,
        sim: &Simulator,
        slot: usize,
        process: usize,
        port: u16,
        fresh_identity: bool,
    ) -> String {
        let s = &self.setup;
        let t = &s.timing;
        let companies: String = COMPANIES
            .iter()
            .map(|id| format!("[[companies]]\nid = {id}\nstaff_telegram_chat_id = -100{id}\n"))
            .collect();
        let identity = if fresh_identity {
            String::new()
        } else {
            format!("instance_id = \"soak-{slot}\"\n")
        };
        let cluster = if s.postgres {
            format!("{identity}lease_ttl_ms = {}\n", t.lease_ttl_ms)
        } else {
            format!("instance_id = \"soak-{slot}\"\n")
        };
        let opt_texts = if s.optouts { OPT_TEXTS } else { "" };
        format!(
            "[database]\nurl = \"{db}\"\n\n\
             [yclients]\nbase_url = \"{sim}\"\npartner_token = \"soak-partner\"\n\
             user_token = \"soak-user\"\nrequest_timeout_ms = {timeout}\npartner_id = {partner}\n\
             max_requests_per_second = 1000\nmax_requests_per_minute = 60000\n\
             webhook_token = \"{WEBHOOK_TOKEN}\"\n\n\
             {companies}\n\
             [monitor]\npoll_interval_ms = {poll}\nnotification_delay_ms = {grace}\n\
             retry_initial_ms = 200\nretry_max_ms = 2000\ncursor_overlap_ms = 20000\n\n\
             [notifications]\nchanged = true\ncancelled = true\n\n\
             [whatsapp]\nprovider = \"cloud_api\"\nrequest_timeout_ms = {timeout}\n\n\
             [whatsapp.cloud_api]\nbase_url = \"{cloud}\"\nphone_number_id = \"{NUMBER_ID}\"\n\
             access_token = \"{token}\"\napp_secret = \"{APP_SECRET}\"\n\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"soak-http-token\"\n\n\
             [replies]\nenabled = true\nask_in = [\"created\"]\n\n\
             [staff]\ntelegram_bot_token = \"{BOT}\"\ntelegram_api_base_url = \"{telegram}\"\n\n\
             [fallback]\nprovider = \"sms_ru\"\nafter_ms = {after}\n\
             sms_ru = {{ base_url = \"{sms}\", api_id = \"soak-sms-{process}\" }}\n\
             {TEXTS}{opt_texts}{SMS_TEXTS}\n\
             [cluster]\n{cluster}\n\
             [log]\nlevel = \"info\"\n",
            db = s.database_url,
            sim = sim.base_url(),
            timeout = t.request_timeout_ms,
            partner = process,
            poll = t.poll_ms,
            grace = t.grace_ms,
            cloud = sim.cloud_api_url(),
            token = token(process),
            telegram = sim.telegram_url(),
            after = t.sms_after_ms,
            sms = sim.sms_ru_url(),
        )
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        for slot in 0..self.slots.len() {
            self.kill(slot);
        }
        for (_, child, _) in &mut self.stopping {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
