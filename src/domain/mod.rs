//! Domain types: identifiers and validated values that make bad states unrepresentable.

mod ids;
mod notice;
mod phone;
mod reply;

pub use ids::{CompanyId, NotificationId, RecordId};
pub use notice::{Audience, Delivery, Effect, Kind, Reason, Status, OPT_OUT_ACKNOWLEDGEMENT};
pub use phone::{mask_phone, Phone, PhoneError};
pub use reply::{reading, Intent, MatchedBy};
