//! Random and mutated YClients answers: the parser never panics, and every failure
//! is a typed error.

use booking_monitor::yclients::{read_page, Record, YClientsError};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[ -~а-я]{0,12}".prop_map(Value::String),
        // The shapes YClients' own fields take.
        Just(Value::String("2019-01-16T20:35:11+0900".into())),
        Just(Value::String("2026-12-01 14:00:00".into())),
        Just(Value::String("+7 916 684-41-22".into())),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,16}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn sample_record() -> Value {
    let text = include_str!("../fixtures/yclients/docs_get_record_200.json");
    serde_json::from_str::<Value>(text).unwrap()["data"].clone()
}

const FIELDS: &[&str] = &[
    "id",
    "company_id",
    "services",
    "staff",
    "client",
    "date",
    "datetime",
    "create_date",
    "last_change_date",
    "online",
    "attendance",
    "deleted",
    "created_user_id",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_json_is_a_record_or_a_typed_error(value in json_value()) {
        let _ = Record::from_json(value);
    }

    #[test]
    fn a_mutated_documented_record_is_a_record_or_an_error_naming_it(
        field in prop::sample::select(FIELDS),
        replacement in json_value(),
        remove in any::<bool>(),
    ) {
        let mut record = sample_record();
        if remove {
            record.as_object_mut().unwrap().remove(field);
        } else {
            record[field] = replacement;
        }
        match Record::from_json(record) {
            Ok(r) => prop_assert!(r.id.0 == 2 || field == "id"),
            Err(e) => prop_assert!(!e.reason.is_empty()),
        }
    }

    #[test]
    fn any_bytes_are_a_page_or_a_typed_error(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(json) = serde_json::from_slice::<Value>(&bytes) {
            match read_page(&json) {
                Ok(_) | Err(YClientsError::Malformed(_)) => {}
                Err(other) => prop_assert!(false, "unexpected error kind {other:?}"),
            }
        }
    }

    #[test]
    fn a_truncated_documented_list_never_panics(cut in 0usize..6000) {
        let text = include_str!("../fixtures/yclients/docs_get_records_list_200.json");
        let cut = cut.min(text.len());
        let bytes = &text.as_bytes()[..cut];
        if let Ok(json) = serde_json::from_slice::<Value>(bytes) {
            let _ = read_page(&json);
        }
    }
}

#[test]
fn the_documented_list_reads_whole() {
    let text = include_str!("../fixtures/yclients/docs_get_records_list_200.json");
    let page = read_page(&serde_json::from_str(text).unwrap()).unwrap();
    assert_eq!(page.total_count, Some(10));
    assert_eq!(page.records.len(), 2);
    assert!(page.records.iter().all(Result::is_ok));
}
