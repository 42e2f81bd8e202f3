//! The simulated YClients' one write: `PUT /api/v1/visits/{visit_id}/{record_id}`
//! with `{"attendance", "comment"}` (both required), as the salon's staff see it
//! afterwards («Подтвердил»); the change comes back as an `update` event and in the
//! next `changed_after` poll, as YClients' own would.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::answer::{not_found, yclients_call};
use super::{push, State};

pub(super) async fn put_visit(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, i64)>,
    body: web::Bytes,
) -> HttpResponse {
    let (visit_id, record_id) = path.into_inner();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut changed = None;
    let response = yclients_call(&state, &req, |w| {
        let (Some(attendance), Some(comment)) = (body.get("attendance"), body.get("comment"))
        else {
            return (
                422,
                json!({"success": false, "data": null,
                    "meta": {"message": "attendance и comment обязательны"}}),
            );
        };
        let Some(record) = w
            .records
            .iter()
            .find(|((_, id), r)| *id == record_id && !super::World::is_deleted(r))
            .map(|(_, r)| r)
        else {
            return not_found("Запись");
        };
        if id_text(&record["visit_id"]) != visit_id {
            return not_found("Визит");
        }
        changed = Some((attendance.clone(), comment.clone()));
        (
            200,
            json!({"success": true, "data": {"id": record_id}, "meta": []}),
        )
    })
    .await;
    if let Some((attendance, comment)) = changed {
        let record = state.change(|w| {
            let stamp = w.stamp_for_record(record_id);
            let record = w
                .records
                .values_mut()
                .find(|r| r["id"] == json!(record_id))?;
            record["attendance"] = attendance;
            record["comment"] = comment;
            record["last_change_date"] = json!(stamp);
            Some(record.clone())
        });
        if let Some(record) = record {
            push::booking_event(&state.into_inner(), "update", &record);
        }
    }
    response
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
