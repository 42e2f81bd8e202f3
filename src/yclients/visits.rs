//! The one write to YClients: a visit marked confirmed after the client's «да», and
//! the budget's slots it takes (never waited for: see `RateLimiter::try_take_for_write`).

use super::{Record, YClients, YClientsError};
use crate::domain::{CompanyId, RecordId};

/// A write's slot of the request budget, taken before the row is claimed (a write
/// never waits for the budget while it holds a send slot); spent by the write.
pub struct WriteSlot(());

/// A re-read's slot, taken with its write's (`YClients::reread_and_write_slots`).
pub struct ReadSlot(());

impl YClients {
    /// The budget's slot for a write, if the polls can spare it now (see
    /// `RateLimiter::try_take_for_write`); else how long to wait.
    pub fn write_slot(&self) -> Result<WriteSlot, std::time::Duration> {
        self.limiter.try_take_for_write(1).map(|()| WriteSlot(()))
    }

    /// As `write_slot`, with a slot for the re-read before the write: both or none,
    /// so that the re-read cannot leave its write without room.
    pub fn reread_and_write_slots(&self) -> Result<(ReadSlot, WriteSlot), std::time::Duration> {
        self.limiter
            .try_take_for_write(2)
            .map(|()| (ReadSlot(()), WriteSlot(())))
    }

    /// `record`, in a slot taken with `reread_and_write_slots`.
    pub async fn record_in_slot(
        &self,
        _slot: ReadSlot,
        company: CompanyId,
        id: RecordId,
    ) -> Result<Option<Record>, YClientsError> {
        self.read_record(company, id).await
    }

    /// Marks the visit confirmed (attendance 2, «Подтвердил»), keeping the
    /// record's comment: `PUT /api/v1/visits/{visit_id}/{record_id}`, no read first.
    pub async fn confirm_visit(
        &self,
        _slot: WriteSlot,
        visit_id: &str,
        record: RecordId,
        comment: &str,
    ) -> Result<(), YClientsError> {
        let body = serde_json::json!({"attendance": 2, "comment": comment});
        let request = self.request(self.http.put(format!(
            "{}/api/v1/visits/{visit_id}/{record}",
            self.base_url
        )));
        let response = request
            .send_json(&body)
            .await
            .map_err(|e| self.send_error(e))?;
        self.answer(response).await.map(drop)
    }
}
