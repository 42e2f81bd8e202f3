//! Clients' answers: what a message means (`intent`), which notice it answers
//! (`decide`), the payloads of our buttons (`payload`), the providers' inbound
//! shapes (`inbound`) and what the staff are told (`alert`).

pub mod alert;
pub mod decide;
pub mod inbound;
pub mod intent;
pub mod payload;
