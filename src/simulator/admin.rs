//! What a salon's administrator does in YClients, for the tests and the demo:
//! bookings made, edited, moved and deleted, each stamped on YClients' clock.

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::{push, Booking, Simulator, RECORD_SAMPLE};

impl Simulator {
    /// Creates a booking now (YClients' clock) and returns its id.
    pub fn create(&self, booking: Booking) -> i64 {
        let (id, record) = self.change(|w| {
            w.next_record_id += 1;
            let id = w.next_record_id;
            let tz = w
                .companies
                .get(&booking.company)
                .map(|c| c.timezone)
                .unwrap_or(chrono_tz::UTC);
            let stamp = w.stamp(booking.company);
            let mut json: Value = serde_json::from_str::<Value>(RECORD_SAMPLE)
                .expect("record sample")["data"]
                .clone();
            json["id"] = json!(id);
            json["company_id"] = json!(booking.company);
            json["services"] = Value::Array(
                booking
                    .services
                    .iter()
                    .enumerate()
                    .map(|(i, (title, cost))| {
                        json!({"id": i + 1, "title": title, "cost": cost,
                        "cost_to_pay": cost, "discount": 0, "amount": 1})
                    })
                    .collect(),
            );
            json["staff"]["name"] = json!(booking.staff);
            json["client"] = json!({"id": id * 10, "name": booking.client_name, "surname": "",
                "display_name": booking.client_name, "phone": booking.phone, "email": ""});
            set_visit(&mut json, tz, booking.visit);
            json["create_date"] = json!(stamp);
            json["last_change_date"] = json!(stamp);
            json["online"] = json!(booking.online);
            json["created_user_id"] = json!(booking.created_user_id);
            json["record_from"] = json!(if booking.online { "Online widget" } else { "" });
            json["attendance"] = json!(0);
            json["deleted"] = json!(false);
            // Each booking its own visit, as YClients numbers them.
            json["visit_id"] = json!((id + 500_000).to_string());
            w.records.insert((booking.company, id), json.clone());
            (id, json)
        });
        // Outside the lock: the sender reads the world.
        push::booking_event(&self.state, "create", &record);
        id
    }

    /// Edits a booking as an administrator would; its change time moves to now.
    pub fn edit(&self, company: i64, id: i64, f: impl FnOnce(&mut Value)) {
        self.edit_as(company, id, "update", f)
    }

    /// An edit, sent to the webhook (if any) as a `status` event.
    fn edit_as(&self, company: i64, id: i64, status: &'static str, f: impl FnOnce(&mut Value)) {
        let record = self.change(|w| {
            let stamp = w.stamp(company);
            let record = w.records.get_mut(&(company, id)).expect("a known record");
            f(record);
            record["last_change_date"] = json!(stamp);
            record.clone()
        });
        push::booking_event(&self.state, status, &record);
    }

    /// Moves a booking to another time (salon wall clock).
    pub fn move_to(&self, company: i64, id: i64, visit: NaiveDateTime) {
        let tz = self
            .world()
            .companies
            .get(&company)
            .map(|c| c.timezone)
            .unwrap_or(chrono_tz::UTC);
        self.edit(company, id, |json| set_visit(json, tz, visit));
    }

    pub fn delete(&self, company: i64, id: i64) {
        self.edit_as(company, id, "delete", |json| json["deleted"] = json!(true));
    }
}

fn set_visit(json: &mut Value, tz: Tz, visit: NaiveDateTime) {
    let at = tz
        .from_local_datetime(&visit)
        .earliest()
        .expect("a real local time");
    json["date"] = json!(visit.format("%Y-%m-%d %H:%M:%S").to_string());
    json["datetime"] = json!(at.format("%Y-%m-%dT%H:%M:%S%:z").to_string());
}
