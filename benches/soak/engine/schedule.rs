//! The soak's schedule: every action and fault of a run, drawn up front from one
//! PRNG seeded with the run's seed, so the same seed gives the same schedule
//! whatever the daemon does. Actions name bookings by their ordinal (booking 17),
//! never by what the daemon did; which instance a mid-send kill strikes, and the
//! wall-clock interleaving of sends with actions, still differ between runs.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};

/// The salons: three in Moscow, sharing one WhatsApp number.
pub const COMPANIES: [i64; 3] = [7_101, 7_102, 7_103];
/// Instance slots the schedule names: on SQLite both are the one instance.
pub const SLOTS: usize = 2;

#[derive(Debug, Clone)]
pub struct Step {
    /// From the start of the schedule.
    pub at: Duration,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub enum Action {
    Create(Plan),
    Move {
        n: usize,
        visit: NaiveDateTime,
    },
    Delete {
        n: usize,
    },
    Reply(Reply),
    /// kill -9 at a moment nothing singles out; back after `down`.
    Kill {
        slot: usize,
        down: Duration,
        fresh_identity: bool,
    },
    /// SIGTERM: it must exit 0; back after `down`.
    Term {
        slot: usize,
        down: Duration,
    },
    /// `.ci/postgres.sh restart` (PostgreSQL only, and only where allowed).
    PgRestart,
    /// The next `times` YClients requests, whatever they are.
    YClients {
        trouble: Trouble,
        times: u8,
    },
    /// The next WhatsApp send, whoever it is for.
    WhatsApp(Trouble),
    /// The next SMS, whoever it is for.
    Sms(Trouble),
}

/// A passing failure of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// 500 or 503.
    ServerError,
    /// 429 (YClients' with `Retry-After`, Meta's 130429).
    RateLimited,
    /// No answer within the client's timeout (the request is carried out later).
    Timeout,
}

/// A booking to make, and what befalls its client's messages.
#[derive(Debug, Clone)]
pub struct Plan {
    pub n: usize,
    pub company: i64,
    pub visit: NaiveDateTime,
    /// The first WhatsApp send to this client.
    pub first_send: Option<SendFault>,
    pub delivery: Delivery,
    /// The first SMS to this client (a refusal is for every SMS).
    pub sms: Option<SmsFault>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFault {
    /// 131026: not deliverable (permanent; the SMS stands in).
    Undeliverable,
    Trouble(Trouble),
    /// Held at the provider while the instance sending it is killed.
    KillMidSend,
}

/// What Meta reports after accepting a message to this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// `sent`, then `failed`.
    Failed,
    /// `sent` and nothing more.
    Silent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsFault {
    /// Refused for this number, every time (permanent).
    Refused,
    Trouble(Trouble),
}

#[derive(Debug, Clone)]
pub struct Reply {
    /// Whose client answers.
    pub n: usize,
    pub said: Said,
    /// The inbound message's ordinal (its id is made of it and the seed).
    pub id: usize,
    /// Meta delivers it twice (the same id).
    pub repeated: bool,
    /// It quotes our latest message to this client, if there is one.
    pub quoting: bool,
    /// Which instance Meta's webhook reaches first.
    pub slot: usize,
    /// A «да» whose visit write-back is held at YClients while its sender is killed.
    pub kill_mid_write_back: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    Yes(&'static str),
    No(&'static str),
    Question(&'static str),
    /// A stop request (an opt-out once the daemon has them; until then another reply).
    Stop(&'static str),
    Resume(&'static str),
}

impl Said {
    pub fn text(self) -> &'static str {
        match self {
            Said::Yes(t) | Said::No(t) | Said::Question(t) | Said::Stop(t) | Said::Resume(t) => t,
        }
    }
}

const YES: [&str; 5] = ["да", "Да!", "1", "ок", "подтверждаю"];
const NO: [&str; 3] = ["не смогу", "2", "нет"];
const QUESTIONS: [&str; 3] = [
    "а можно на час позже?",
    "да, но я опоздаю минут на 10",
    "стоп, я перепутал день",
];
const STOPS: [&str; 3] = ["стоп", "Отписаться", "больше не пишите"];
const RESUMES: [&str; 2] = ["старт", "подписаться"];

/// How busy the schedule is.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// The mean gap between two steps.
    pub mean_gap: Duration,
    /// The daemon's grace delay: a booking deleted sooner is gone before its due time.
    pub grace: Duration,
}

/// The whole schedule for `length`, from `seed`; visits are after `today`.
pub fn draw(seed: u64, length: Duration, pace: Pace, today: NaiveDate) -> Vec<Step> {
    let mut draft = Draft {
        rng: fastrand::Rng::with_seed(seed),
        steps: Vec::new(),
        bookings: Vec::new(),
        replies: 0,
        today,
        pace,
    };
    let mean = pace.mean_gap.as_millis().max(1) as u64;
    let mut at = Duration::ZERO;
    loop {
        at += Duration::from_millis(draft.rng.u64(0..=2 * mean));
        if at >= length {
            break;
        }
        draft.step(at);
    }
    // Follow-ups (a quick deletion) were drawn beside their cause: in time order now.
    draft.steps.sort_by_key(|s| s.at);
    draft.steps
}

/// A booking as the draft knows it.
struct Drafted {
    made_at: Duration,
    deleted: bool,
    stopped: bool,
    /// Every visit time it has had: a move never goes back to one (so two
    /// identical change notices are always a duplicate).
    visits: HashSet<NaiveDateTime>,
}

struct Draft {
    rng: fastrand::Rng,
    steps: Vec<Step>,
    bookings: Vec<Drafted>,
    replies: usize,
    today: NaiveDate,
    pace: Pace,
}

impl Draft {
    fn push(&mut self, at: Duration, action: Action) {
        self.steps.push(Step { at, action });
    }

    fn step(&mut self, at: Duration) {
        let roll = self.rng.u32(0..1000);
        let action = match roll {
            0..340 => return self.create(at),
            340..440 => self.live(at, Duration::ZERO).map(|n| {
                let visit = self.fresh_visit(n);
                Action::Move { n, visit }
            }),
            440..500 => self.live(at, Duration::ZERO).map(|n| {
                self.bookings[n].deleted = true;
                Action::Delete { n }
            }),
            500..730 => self.reply(at),
            730..810 => Some(Action::YClients {
                trouble: self.trouble(),
                times: self.rng.u8(1..=3),
            }),
            810..870 => Some(Action::WhatsApp(self.trouble())),
            870..900 => Some(Action::Sms(self.trouble())),
            900..955 => Some(Action::Kill {
                slot: self.rng.usize(0..SLOTS),
                down: self.down(),
                fresh_identity: self.rng.bool(),
            }),
            955..985 => Some(Action::Term {
                slot: self.rng.usize(0..SLOTS),
                down: self.down(),
            }),
            _ => Some(Action::PgRestart),
        };
        if let Some(action) = action {
            self.push(at, action);
        }
    }

    fn create(&mut self, at: Duration) {
        let n = self.bookings.len();
        let visit = self.visit();
        let first_send = match self.rng.u32(0..100) {
            0..4 => Some(SendFault::Undeliverable),
            4..12 => Some(SendFault::Trouble(Trouble::ServerError)),
            12..15 => Some(SendFault::Trouble(Trouble::RateLimited)),
            15..19 => Some(SendFault::Trouble(Trouble::Timeout)),
            19..24 => Some(SendFault::KillMidSend),
            _ => None,
        };
        let delivery = match self.rng.u32(0..100) {
            0..6 => Delivery::Failed,
            6..11 => Delivery::Silent,
            _ => Delivery::Delivered,
        };
        let sms = match self.rng.u32(0..100) {
            0..4 => Some(SmsFault::Refused),
            4..14 => Some(SmsFault::Trouble(Trouble::ServerError)),
            14..18 => Some(SmsFault::Trouble(Trouble::Timeout)),
            _ => None,
        };
        let company = COMPANIES[self.rng.usize(0..COMPANIES.len())];
        self.bookings.push(Drafted {
            made_at: at,
            deleted: false,
            stopped: false,
            visits: HashSet::from([visit]),
        });
        self.push(
            at,
            Action::Create(Plan {
                n,
                company,
                visit,
                first_send,
                delivery,
                sms,
            }),
        );
        // Some are deleted within the grace delay: gone before their due time.
        let grace = self.pace.grace.as_millis() as u64;
        if self.rng.u32(0..100) < 7 && grace > 1_500 {
            let after = Duration::from_millis(self.rng.u64(100..=grace - 1_400));
            self.bookings[n].deleted = true;
            self.push(at + after, Action::Delete { n });
        }
    }

    fn reply(&mut self, at: Duration) -> Option<Action> {
        // Mostly clients who have had their confirmation; some answer early.
        let settled = self.pace.grace * 3;
        let n = if self.rng.u32(0..100) < 90 {
            self.live(at, settled)
        } else {
            self.live(at, Duration::ZERO)
        }?;
        let said = match self.rng.u32(0..100) {
            0..55 => Said::Yes(self.pick(&YES)),
            55..70 => Said::No(self.pick(&NO)),
            70..85 => Said::Question(self.pick(&QUESTIONS)),
            85..93 => {
                self.bookings[n].stopped = true;
                Said::Stop(self.pick(&STOPS))
            }
            _ => {
                // Mostly someone who stopped before, when there is one.
                let stopped: Vec<usize> = (0..self.bookings.len())
                    .filter(|i| self.bookings[*i].stopped)
                    .collect();
                let n = if stopped.is_empty() {
                    n
                } else {
                    stopped[self.rng.usize(0..stopped.len())]
                };
                self.bookings[n].stopped = false;
                let said = Said::Resume(self.pick(&RESUMES));
                return Some(self.reply_action(n, said));
            }
        };
        Some(self.reply_action(n, said))
    }

    fn reply_action(&mut self, n: usize, said: Said) -> Action {
        self.replies += 1;
        let yes = matches!(said, Said::Yes(_));
        Action::Reply(Reply {
            n,
            said,
            id: self.replies,
            repeated: self.rng.u32(0..100) < 15,
            quoting: self.rng.u32(0..100) < 30,
            slot: self.rng.usize(0..SLOTS),
            kill_mid_write_back: yes && self.rng.u32(0..100) < 6,
        })
    }

    /// A booking made at least `age` before `at` and not deleted, if any.
    fn live(&mut self, at: Duration, age: Duration) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.bookings.len())
            .filter(|n| {
                let b = &self.bookings[*n];
                !b.deleted && b.made_at + age <= at
            })
            .collect();
        (!candidates.is_empty()).then(|| candidates[self.rng.usize(0..candidates.len())])
    }

    fn pick(&mut self, from: &[&'static str]) -> &'static str {
        from[self.rng.usize(0..from.len())]
    }

    fn trouble(&mut self) -> Trouble {
        match self.rng.u32(0..100) {
            0..50 => Trouble::ServerError,
            50..75 => Trouble::RateLimited,
            _ => Trouble::Timeout,
        }
    }

    fn down(&mut self) -> Duration {
        Duration::from_millis(self.rng.u64(200..=3_000))
    }

    /// A visit 1 to 20 days ahead, between 10:00 and 19:30 on the half hour.
    fn visit(&mut self) -> NaiveDateTime {
        let day = self.today + Days::new(self.rng.u64(1..=20));
        let time = NaiveTime::from_hms_opt(self.rng.u32(10..=19), 30 * self.rng.u32(0..=1), 0)
            .expect("a valid time");
        day.and_time(time)
    }

    /// A visit this booking has never had.
    fn fresh_visit(&mut self, n: usize) -> NaiveDateTime {
        loop {
            let visit = self.visit();
            if self.bookings[n].visits.insert(visit) {
                return visit;
            }
        }
    }
}
