//! Domain types: identifiers and validated values that make bad states unrepresentable.

mod ids;
mod phone;

pub use ids::{CompanyId, NotificationId, RecordId};
pub use phone::{mask_phone, Phone, PhoneError};
