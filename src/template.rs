//! The template engine: `{placeholder}`s in a text, checked when parsed, filled in
//! when rendered; and the built-in Russian texts. A leaf: it knows nothing of
//! bookings (`text::MessageFields` fills the placeholders).

/// Every placeholder a text may use.
pub const PLACEHOLDERS: &[&str] = &[
    "client_name",
    "company",
    "date",
    "time",
    "weekday",
    "services",
    "staff",
    "price",
    "address",
    "old_date",
    "old_time",
    "changes",
];

pub const DEFAULT_BOOKING_CREATED: &str = "Здравствуйте, {client_name}! Вы записаны в {company} \
на {date} ({weekday}) в {time}.\nУслуги: {services}\nМастер: {staff}\nСтоимость: {price} ₽\n\
Адрес: {address}\nЕсли планы изменятся, пожалуйста, сообщите нам заранее.";

pub const DEFAULT_BOOKING_CHANGED: &str = "Здравствуйте, {client_name}! Ваша запись в {company} \
изменилась: {changes}.\nТеперь: {date} ({weekday}) в {time}.\nУслуги: {services}\nМастер: {staff}\n\
Адрес: {address}";

pub const DEFAULT_BOOKING_CANCELLED: &str = "Здравствуйте, {client_name}! Ваша запись в {company} \
на {date} ({weekday}) в {time} отменена. Если это ошибка или вы хотите выбрать другое время, \
пожалуйста, свяжитесь с нами.";

pub const DEFAULT_REMINDER_DAY_BEFORE: &str = "Здравствуйте, {client_name}! Напоминаем: завтра, \
{date}, в {time} вас ждут в {company}.\nМастер: {staff}\nУслуги: {services}\nАдрес: {address}\n\
Если планы изменились, пожалуйста, сообщите нам.";

pub const DEFAULT_REMINDER_HOURS_BEFORE: &str = "Здравствуйте, {client_name}! Ждём вас сегодня \
в {time} в {company}.\nМастер: {staff}\nАдрес: {address}";

/// Appended to a notice that asks the client to answer (`replies.ask_in`).
pub const DEFAULT_ASK_TO_CONFIRM: &str =
    "Ответьте 1, чтобы подтвердить запись, или 2, если не сможете прийти.";
/// Our answers to a client's reply.
pub const DEFAULT_REPLY_CONFIRMED: &str = "Спасибо, {client_name}! Ждём вас {date} в {time}.";
pub const DEFAULT_REPLY_CANCEL_REQUEST: &str =
    "Передали администратору: с вами свяжутся, чтобы перенести или отменить запись.";
pub const DEFAULT_REPLY_FORWARDED: &str = "Передали ваше сообщение администратору.";
pub const DEFAULT_OPTED_OUT: &str = "Хорошо, больше не будем присылать сообщения о записях. Чтобы снова получать их, напишите «старт».";
pub const DEFAULT_OPTED_IN: &str = "Снова будем присылать сообщения о ваших записях.";

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(&'static str),
}

/// The values of the placeholders, by name.
pub trait Fields {
    /// The value of `name`; empty when it has none.
    fn get(&self, name: &str) -> &str;
}

/// A parsed `[messages]` text; an unknown placeholder is a config error.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Part>);

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            parts.push(Part::Text(rest[..open].to_string()));
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("a '{{' at byte {open} is never closed"))?;
            let name = &rest[open + 1..open + close];
            let field = PLACEHOLDERS.iter().find(|p| **p == name).ok_or_else(|| {
                format!(
                    "unknown placeholder {{{name}}}; known: {}",
                    PLACEHOLDERS.map_braced()
                )
            })?;
            parts.push(Part::Field(field));
            rest = &rest[open + close + 1..];
        }
        parts.push(Part::Text(rest.to_string()));
        Ok(Template(parts))
    }

    pub fn render(&self, fields: &impl Fields) -> String {
        self.0
            .iter()
            .map(|part| match part {
                Part::Text(t) => t.as_str(),
                Part::Field(name) => fields.get(name),
            })
            .collect()
    }
}

trait MapBraced {
    fn map_braced(&self) -> String;
}

impl MapBraced for &[&str] {
    fn map_braced(&self) -> String {
        self.iter()
            .map(|p| format!("{{{p}}}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_placeholders_are_refused() {
        assert!(Template::parse("{name}").unwrap_err().contains("{name}"));
        assert!(Template::parse("{time").is_err());
    }

    #[test]
    fn every_built_in_text_parses() {
        for text in [
            DEFAULT_BOOKING_CREATED,
            DEFAULT_BOOKING_CHANGED,
            DEFAULT_BOOKING_CANCELLED,
            DEFAULT_REMINDER_DAY_BEFORE,
            DEFAULT_REMINDER_HOURS_BEFORE,
        ] {
            assert!(Template::parse(text).is_ok(), "{text}");
        }
    }
}
