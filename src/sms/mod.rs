//! The SMS fallback's building blocks: a text's size in billed parts
//! (`segments`), the long sample booking texts are measured against (`sample`),
//! and the providers that send (`providers`). When to send is the caller's.

mod providers;
pub mod sample;
mod segments;

pub use providers::{SmsProvider, SmsReceipt, SmsRu, SmsWebhook, Smsc};
pub use sample::long_booking;
pub use segments::{segments, Encoding, Segments};
