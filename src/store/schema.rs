// @generated shape, kept by hand in step with migrations/.

diesel::table! {
    bot_records (company_id, record_id) {
        company_id -> BigInt,
        record_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    bookings (company_id, record_id) {
        company_id -> BigInt,
        record_id -> BigInt,
        audience -> Text,
        record_json -> Text,
        told_json -> Nullable<Text>,
        told_at -> Nullable<Timestamp>,
        revision -> Integer,
        first_seen_at -> Timestamp,
        updated_at -> Timestamp,
        pushed_at -> Nullable<Timestamp>,
        visit_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        company_id -> BigInt,
        record_id -> BigInt,
        kind -> Text,
        notice_key -> Text,
        status -> Text,
        phone -> Nullable<Text>,
        due_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        provider_message_id -> Nullable<Text>,
        message -> Nullable<Text>,
        record_json -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        claimed_by -> Nullable<Text>,
    }
}

diesel::table! {
    deliveries (provider_message_id) {
        provider_message_id -> Text,
        status -> Text,
        error -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    poll_cursors (company_id) {
        company_id -> BigInt,
        changed_after -> Timestamp,
        monitored_since -> Timestamp,
        updated_at -> Timestamp,
        last_poll_at -> Nullable<Timestamp>,
        last_poll_error -> Nullable<Text>,
        proven_at -> Nullable<Timestamp>,
        baseline_at -> Nullable<Timestamp>,
        planned_with -> Nullable<Text>,
        poll_every_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    replies (id) {
        id -> BigInt,
        provider -> Text,
        provider_message_id -> Text,
        phone -> Text,
        client_name -> Nullable<Text>,
        body -> Nullable<Text>,
        message_type -> Text,
        sender -> Nullable<Text>,
        company_id -> Nullable<BigInt>,
        record_id -> Nullable<BigInt>,
        notification_id -> Nullable<BigInt>,
        matched_by -> Text,
        intent -> Text,
        received_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_receipts (company_id) {
        company_id -> BigInt,
        last_at -> Timestamp,
        events -> BigInt,
    }
}

diesel::table! {
    company_leases (company_id) {
        company_id -> BigInt,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    instances (instance_id) {
        instance_id -> Text,
        started_at -> Timestamp,
        heartbeat_at -> Timestamp,
        expires_at -> Timestamp,
        settings -> Nullable<Text>,
        settings_fingerprint -> Nullable<Text>,
    }
}

diesel::table! {
    optouts (company_id, phone) {
        company_id -> BigInt,
        phone -> Text,
        source -> Text,
        via -> Text,
        since -> Timestamp,
    }
}

diesel::table! {
    forgotten_phones (hash) {
        hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    purged_counts (day, company_id, what, status) {
        day -> Text,
        company_id -> BigInt,
        what -> Text,
        status -> Text,
        count -> BigInt,
    }
}

diesel::table! {
    counters (name, labels) {
        name -> Text,
        labels -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    running_configs (instance_id) {
        instance_id -> Text,
        loaded_at -> Timestamp,
        fingerprint -> Text,
        reloads -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    number_changes (old_phone, new_phone) {
        old_phone -> Text,
        new_phone -> Text,
        company_id -> Nullable<BigInt>,
        sender -> Nullable<Text>,
        changed_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    bookings,
    counters,
    bot_records,
    company_leases,
    forgotten_phones,
    instances,
    deliveries,
    notifications,
    number_changes,
    optouts,
    poll_cursors,
    purged_counts,
    replies,
    running_configs,
    secrets,
    webhook_receipts
);
