//! The actor system: Poller → Filter → Delay → Notifier, each supervised. What
//! they share is `crate::shared`; the messages they pass, `crate::messages`.

mod delay;
mod filter;
mod notifier;
mod poller;

pub use delay::DelayActor;
pub use filter::FilterActor;
pub use notifier::NotifierActor;
pub use poller::PollerActor;
