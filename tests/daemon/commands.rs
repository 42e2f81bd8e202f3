//! The operator's one-shot commands as they are typed: `check`'s warnings,
//! `webhooks install`'s refusals, `bot-record`, `migrate` and the help text.

use crate::helpers::*;

/// The WARN line of `check`'s output, if any.
fn warning(stdout: &str) -> Option<&str> {
    stdout.lines().find(|l| l.starts_with("WARN"))
}

#[actix_rt::test]
async fn check_warns_of_cloud_api_kinds_that_are_on_without_a_template() {
    // Templates for the confirmation (the older key) and changes; cancellations
    // and the hours-before reminder are on without one; the day-before one is off.
    let app = prepare(Options {
        cloud_api_extra: "template = \"confirmation\"\ntemplates = { changed = \"changed\" }"
            .into(),
        extra: "[notifications]\nreminder_hours_before = 2\n".into(),
        ..Options::default()
    })
    .await;
    let (code, stdout, _) = app.command(&["check"]).await;
    assert_eq!(code, Some(0), "a warning fails nothing: {stdout}");
    let line = warning(&stdout).unwrap_or_else(|| panic!("no warning: {stdout}"));
    assert!(
        line.contains("no approved template for cancelled, reminder_hours_before:"),
        "{line}"
    );
    assert!(line.contains("24 h"), "{line}");
    assert!(
        stdout.contains("All checks passed.\n1 warning: see WARN above."),
        "{stdout}"
    );

    // Every kind that is on has its template (cancellations turned off): no warning.
    let app = prepare(Options {
        cloud_api_extra: "templates = { created = \"c\", changed = \"ch\", \
                          reminder_hours_before = \"r\" }"
            .into(),
        extra: "[notifications]\ncancelled = false\nreminder_hours_before = 2\n".into(),
        ..Options::default()
    })
    .await;
    let (code, stdout, _) = app.command(&["check"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(warning(&stdout), None, "{stdout}");
}
