use std::fmt;

use super::Reason;

/// A phone number as WhatsApp wants it: E.164 digits, country code first, no `+`.
///
/// Its `Debug` and `Display` are masked (`7916***4567`), so a phone cannot leak
/// into a log line by accident; `digits()` is the one way to the whole number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("no phone number")]
    Missing,
    #[error("not a plausible E.164 number ({0} digits)")]
    Implausible(usize),
}

impl PhoneError {
    /// The reason stored on a `skipped` notification.
    pub fn reason(&self) -> Reason {
        match self {
            PhoneError::Missing => Reason::NoPhone,
            PhoneError::Implausible(_) => Reason::InvalidPhone,
        }
    }
}

impl Phone {
    /// Normalises what salons type: `8 (916) 123-45-67`, `+7 916 123 45 67` and
    /// the bare 10-digit mobile `9161234567` all become `79161234567`.
    pub fn parse(raw: &str) -> Result<Phone, PhoneError> {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(PhoneError::Missing);
        }
        let digits = match (digits.len(), digits.as_bytes()[0]) {
            // Russian trunk prefix 8 stands for +7.
            (11, b'8') => format!("7{}", &digits[1..]),
            // A Russian mobile written without the country code.
            (10, b'9') => format!("7{digits}"),
            _ => digits,
        };
        let plausible = match digits.as_bytes()[0] {
            b'0' => false,
            b'7' => digits.len() == 11,
            _ => (10..=15).contains(&digits.len()),
        };
        if plausible {
            Ok(Phone(digits))
        } else {
            Err(PhoneError::Implausible(digits.len()))
        }
    }

    pub fn digits(&self) -> &str {
        &self.0
    }
}

/// Masks the middle of a phone for logs: `79161234567` → `7916***4567`.
pub fn mask_phone(digits: &str) -> String {
    let chars: Vec<char> = digits.chars().collect();
    if chars.len() < 9 {
        return "***".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_phone(&self.0))
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_the_ways_salons_write_numbers() {
        for raw in [
            "8 916 123-45-67",
            "8 (916) 123-45-67",
            "+7 916 123 45 67",
            "9161234567",
            "79161234567",
        ] {
            assert_eq!(Phone::parse(raw).unwrap().digits(), "79161234567", "{raw}");
        }
        assert_eq!(
            Phone::parse("+380 44 123 4567").unwrap().digits(),
            "380441234567"
        );
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        assert_eq!(Phone::parse(""), Err(PhoneError::Missing));
        assert_eq!(Phone::parse("***"), Err(PhoneError::Missing));
        assert_eq!(Phone::parse("12345"), Err(PhoneError::Implausible(5)));
        assert_eq!(Phone::parse("7916123456"), Err(PhoneError::Implausible(10)));
        assert_eq!(Phone::parse("0123456789"), Err(PhoneError::Implausible(10)));
    }

    #[test]
    fn display_and_debug_are_masked() {
        let phone = Phone::parse("79161234567").unwrap();
        assert_eq!(phone.to_string(), "7916***4567");
        assert!(!format!("{phone:?}").contains("79161234567"));
    }
}
