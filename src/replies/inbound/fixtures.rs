//! The parsers against the providers' own published samples
//! (`tests/fixtures/meta`, `tests/fixtures/green_api`; each README names where
//! each comes from): what each body is read as.

use serde_json::{json, Value};

use super::*;
use crate::domain::Delivery;

fn sample(text: &str, case: Option<&str>) -> Value {
    let all: Value = serde_json::from_str(text).expect("a published sample is JSON");
    match case {
        Some(case) => all[case].clone(),
        None => all,
    }
}

fn meta(case: &str) -> Vec<Incoming> {
    let file = include_str!("../../../tests/fixtures/meta/pywa_message.json");
    cloud_api(&sample(file, Some(case)))
}

/// The one client message a body carries.
fn message(items: Vec<Incoming>) -> Inbound {
    match items.as_slice() {
        [Incoming::Message(m)] => m.clone(),
        other => panic!("one message, not {other:?}"),
    }
}

fn green(text: &str) -> GreenNotification {
    green_api(&sample(text, None)).expect("a valid body")
}

fn green_message(text: &str) -> Inbound {
    match green(text) {
        GreenNotification::Message(m) => m,
        other => panic!("a message, not {other:?}"),
    }
}

#[test]
fn metas_messages_are_read_with_their_captions_quotes_and_russian_labels() {
    let text = message(meta("text"));
    assert_eq!(text.content, Content::Text("Body Text".into()));
    assert_eq!(text.from.digits(), "972987654321");
    assert_eq!(text.name.as_deref(), Some("Test Name"));
    assert_eq!(text.sender.as_deref(), Some("1122334455667"));
    assert_eq!(text.at.timestamp(), 1_697_043_223);

    let image = message(meta("image"));
    assert_eq!((image.body(), image.meaning().0), (None, Intent::Other));
    for (case, label) in [("video", "видео"), ("document", "документ")] {
        let m = message(meta(case));
        assert_eq!(m.body(), Some(format!("{label}: caption")), "{case}");
        assert_eq!(m.meaning().0, Intent::Other);
    }
    for (case, label) in [
        ("voice", "голосовое сообщение"),
        ("contacts", "контакт"),
        ("order", "заказ"),
        ("unsupported", "сообщение неподдерживаемого вида"),
        ("static_sticker", "стикер"),
        ("current_location", "геопозиция"),
    ] {
        let m = message(meta(case));
        let Content::Media { kind, caption } = &m.content else {
            panic!("{case}: media, not {:?}", m.content)
        };
        assert_eq!((media_label(kind), caption), (label, &None), "{case}");
    }

    let reaction = message(meta("reaction"));
    assert_eq!(reaction.content, Content::Reaction("😮".into()));
    assert_eq!(reaction.quoted.as_deref(), Some("wamid.yzxyzx="));
    assert!(meta("unreaction_empty").is_empty());
    assert!(meta("unreaction_no_emoji").is_empty());
    assert_eq!(
        message(meta("reply")).quoted.as_deref(),
        Some("wamid.xyzxyz==")
    );
    assert_eq!(message(meta("forwarded")).quoted, None);
    // Every published case reads without a panic.
    let file = include_str!("../../../tests/fixtures/meta/pywa_message.json");
    for (case, body) in sample(file, None).as_object().unwrap() {
        let _ = cloud_api(body);
        assert!(!case.is_empty());
    }
}

#[test]
fn metas_buttons_name_our_payload_and_the_message_they_came_with() {
    let file = include_str!("../../../tests/fixtures/meta/pywa_callback_button.json");
    let tap = message(cloud_api(&sample(file, Some("button"))));
    assert_eq!(
        tap.content,
        Content::Button {
            payload: Some("callback_data".into()),
            title: "title".into()
        }
    );
    assert_eq!(tap.quoted.as_deref(), Some("wamid.xyzxyz"));
    let mut ours = sample(file, Some("quick_reply"));
    ours["entry"][0]["changes"][0]["value"]["messages"][0]["button"] =
        json!({"payload": "bm:17:cancel", "text": "Не смогу"});
    let quick = message(cloud_api(&ours));
    assert_eq!(quick.meaning(), (Intent::Cancel, Some(NotificationId(17))));
    assert_eq!(quick.quoted.as_deref(), Some("wamid.xyzxyz=="));
}

#[test]
fn metas_system_messages_and_revokes_are_not_replies() {
    let file = include_str!("../../../tests/fixtures/meta/pywa_system.json");
    match cloud_api(&sample(file, Some("phone_number_change"))).as_slice() {
        [Incoming::NumberChanged(change)] => {
            assert_eq!(
                (change.old.digits(), change.new.digits()),
                ("972987654321", "972912345678")
            );
            assert_eq!(change.sender.as_deref(), Some("1122334455667"));
        }
        other => panic!("a changed number, not {other:?}"),
    }
    let identity = cloud_api(&sample(file, Some("identity_change")));
    assert!(
        matches!(identity.as_slice(), [Incoming::NotAReply(_)]),
        "{identity:?}"
    );
    let file = include_str!("../../../tests/fixtures/meta/pywa_deleted_message.json");
    let revoke = cloud_api(&sample(file, Some("revoke")));
    assert!(
        matches!(revoke.as_slice(), [Incoming::NotAReply(_)]),
        "{revoke:?}"
    );
}

#[test]
fn a_meta_edit_is_a_new_message_with_its_new_text_under_its_own_id() {
    let file = include_str!("../../../tests/fixtures/meta/pywa_edited_message_2025.json");
    let edit = message(cloud_api(&sample(file, Some("edit_text"))));
    assert_eq!(edit.content, Content::Text("Text was edited".into()));
    assert_eq!(edit.id, "wamid.yyyyyy");
    let caption = message(cloud_api(&sample(file, Some("edit_caption"))));
    assert_eq!(caption.body().as_deref(), Some("фото: caption"));
    let file = include_str!("../../../tests/fixtures/meta/pywa_edited_message.json");
    let newer = message(cloud_api(&sample(file, Some("image"))));
    assert_eq!(newer.body().as_deref(), Some("фото: Updated image caption"));
    assert_eq!(newer.quoted.as_deref(), Some("M0"));
}

#[test]
fn green_apis_quotes_are_read_wherever_its_docs_put_the_id() {
    let only_extended = green_message(include_str!(
        "../../../tests/fixtures/green_api/incoming_quoted_message_deprecated.json"
    ));
    assert_eq!(only_extended.content, Content::Text("Quoting this".into()));
    assert_eq!(
        only_extended.quoted.as_deref(),
        Some("46618B98B3B9DF50F123456789123456")
    );
    let both = green_message(include_str!(
        "../../../tests/fixtures/green_api/incoming_quoted_text.json"
    ));
    assert_eq!(both.quoted.as_deref(), Some("3EB063C771F28EB323FAE3"));
    let reaction = green_message(include_str!(
        "../../../tests/fixtures/green_api/incoming_reaction.json"
    ));
    assert_eq!(reaction.meaning().0, Intent::Confirm);
    assert_eq!(
        reaction.quoted.as_deref(),
        Some("A16014FAC9F5382E7B9CEEFEF1FFEB6F")
    );
    let plain = green_message(include_str!(
        "../../../tests/fixtures/green_api/incoming_text.json"
    ));
    assert_eq!(plain.quoted, None);
    assert_eq!(
        plain.id,
        "79001234568@c.us/F7AEC1B7086ECDC7E6E45923F5EDB825"
    );
    assert_eq!(plain.sender.as_deref(), Some("1234"));
}

#[test]
fn green_apis_button_replies_in_every_spelling_name_the_message_they_came_with() {
    for (file, payload, title) in [
        (
            include_str!("../../../tests/fixtures/green_api/incoming_buttons_response.json"),
            "1",
            "Green",
        ),
        (
            include_str!(
                "../../../tests/fixtures/green_api/incoming_template_button_reply_waba.json"
            ),
            "id1",
            "red",
        ),
        (
            include_str!("../../../tests/fixtures/green_api/incoming_template_buttons_reply.json"),
            "1",
            "First Button",
        ),
    ] {
        let tap = green_message(file);
        assert_eq!(
            tap.content,
            Content::Button {
                payload: Some(payload.into()),
                title: title.into()
            }
        );
        assert!(
            tap.quoted.as_deref().unwrap_or("").starts_with("BAE5"),
            "{tap:?}"
        );
    }
}

#[test]
fn green_apis_edits_captions_and_unreadable_messages() {
    let edit = green_message(include_str!(
        "../../../tests/fixtures/green_api/incoming_edited.json"
    ));
    assert_eq!(edit.content, Content::Text("New message".into()));
    assert_eq!(edit.quoted, None, "the edited message is the client's own");
    assert_eq!(edit.id, "71234567890@c.us/BAE597DC5CB134F7");
    let image = green_message(include_str!(
        "../../../tests/fixtures/green_api/incoming_image_caption.json"
    ));
    assert_eq!(image.body().as_deref(), Some("фото: Картинка"));
    let unreadable = green_message(include_str!(
        "../../../tests/fixtures/green_api/incoming_text_swe001.json"
    ));
    assert_eq!(unreadable.content, Content::Unreadable);
    assert_eq!(
        (unreadable.body(), unreadable.may_be_answered()),
        (None, false)
    );
}

#[test]
fn green_apis_deleted_outgoing_and_group_messages_are_not_replies() {
    for file in [
        include_str!("../../../tests/fixtures/green_api/incoming_deleted.json"),
        include_str!("../../../tests/fixtures/green_api/outgoing_api_message.json"),
        include_str!("../../../tests/fixtures/green_api/outgoing_message_quoted.json"),
    ] {
        assert!(
            matches!(green(file), GreenNotification::Ignored(_)),
            "{file}"
        );
    }
    let mut group = sample(
        include_str!("../../../tests/fixtures/green_api/incoming_text.json"),
        None,
    );
    group["senderData"]["chatId"] = json!("120363043968066561@g.us");
    assert!(matches!(
        green_api(&group).unwrap(),
        GreenNotification::Ignored(_)
    ));
    assert!(green_api(&json!({})).is_err());
}

#[test]
fn green_apis_statuses_keep_its_description_and_a_yellow_card_is_its_own() {
    let status = |file| match green(file) {
        GreenNotification::Status {
            delivery, error, ..
        } => (delivery, error),
        other => panic!("a status, not {other:?}"),
    };
    assert_eq!(
        status(include_str!(
            "../../../tests/fixtures/green_api/status_sent.json"
        )),
        (Delivery::Sent, None)
    );
    assert_eq!(
        status(include_str!(
            "../../../tests/fixtures/green_api/status_failed_swe004.json"
        )),
        (
            Delivery::Failed,
            Some(
                "failed: SWE004: the number of participants in the group has been exceeded - 300"
                    .into()
            )
        )
    );
    assert_eq!(
        status(include_str!(
            "../../../tests/fixtures/green_api/status_no_account.json"
        )),
        (Delivery::Failed, Some("noAccount: SWE004: 1000".into()))
    );
    assert_eq!(
        green(include_str!(
            "../../../tests/fixtures/green_api/status_yellow_card.json"
        )),
        GreenNotification::SendingSuspended {
            id: "3EB0608D6A2901063D63".into(),
            description: None
        }
    );
}
