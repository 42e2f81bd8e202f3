//! How many billed parts an SMS text takes. A text of GSM-7 characters only goes as
//! 7-bit units (160 in one part, 153 per part once split: the rest of each part is
//! the concatenation header); one character outside GSM-7 (any Cyrillic) makes the
//! whole text UCS-2, counted in UTF-16 code units (70 in one part, 67 per part).
//! A character of GSM-7's extension table is an escape plus itself (2 units), and
//! neither such a pair nor an emoji's surrogate pair is ever split across parts, so
//! the count is of whole characters filling parts in order, as phones split them.

/// The alphabet the text goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    /// (units in a single-part message, units per part of a split one)
    fn capacity(self) -> (usize, usize) {
        match self {
            Encoding::Gsm7 => (160, 153),
            Encoding::Ucs2 => (70, 67),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }
}

/// A text's size as an SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// 7-bit units (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Billed parts; an empty text is one (empty) part.
    pub parts: u32,
}

/// GSM 03.38's basic character set (the escape 0x1B aside).
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Its extension table: each is sent as the escape plus a code, 2 units.
const EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// The GSM-7 units of `c`, or None when it is not in GSM-7.
fn gsm7_units(c: char) -> Option<usize> {
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

pub fn segments(text: &str) -> Segments {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_units).collect();
    let (encoding, widths) = match gsm {
        Some(widths) => (Encoding::Gsm7, widths),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect::<Vec<_>>(),
        ),
    };
    let units: usize = widths.iter().sum();
    let (single, per_part) = encoding.capacity();
    let parts = if units <= single {
        1
    } else {
        // Fill parts in order; a character that does not fit whole starts the next.
        let mut parts = 1;
        let mut used = 0;
        for width in widths {
            if used + width > per_part {
                parts += 1;
                used = 0;
            }
            used += width;
        }
        parts
    };
    Segments {
        encoding,
        units,
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> u32 {
        segments(text).parts
    }

    #[test]
    fn gsm7_fits_160_in_one_part_and_153_per_part_after() {
        for (n, expected) in [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3)] {
            let s = segments(&"a".repeat(n));
            assert_eq!(s.encoding, Encoding::Gsm7, "{n}");
            assert_eq!(s.units, n);
            assert_eq!(s.parts, expected, "{n} characters");
        }
    }

    #[test]
    fn the_whole_gsm7_alphabet_stays_gsm7() {
        let s = segments(BASIC);
        assert_eq!(s.encoding, Encoding::Gsm7);
        assert_eq!(s.units, BASIC.chars().count());
        assert_eq!(
            segments("Hello, world! 10:30 @ 50% (ok?)").encoding,
            Encoding::Gsm7
        );
    }

    #[test]
    fn extension_characters_count_two_and_are_never_split() {
        let s = segments(&"€".repeat(80));
        assert_eq!((s.encoding, s.units, s.parts), (Encoding::Gsm7, 160, 1));
        assert_eq!(parts(&"€".repeat(81)), 2);
        for c in ['^', '{', '}', '\\', '[', ']', '~', '|', '€', '\u{0C}'] {
            assert_eq!(segments(&c.to_string()).units, 2, "{c:?}");
        }
        // 306 units would fill two parts exactly, but the € cannot straddle the
        // first part's end: 152 + (2 + 151) + 1.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(segments(&text).units, 306);
        assert_eq!(parts(&text), 3);
    }

    #[test]
    fn cyrillic_makes_it_ucs2_with_70_and_67_per_part() {
        for (n, expected) in [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)] {
            let s = segments(&"я".repeat(n));
            assert_eq!(s.encoding, Encoding::Ucs2, "{n}");
            assert_eq!(s.units, n);
            assert_eq!(s.parts, expected, "{n} characters");
        }
        // One Cyrillic letter turns a Latin text to UCS-2.
        let s = segments(&format!("{}ж", "a".repeat(69)));
        assert_eq!((s.encoding, s.parts), (Encoding::Ucs2, 1));
        assert_eq!(parts(&format!("{}ж", "a".repeat(70))), 2);
    }

    #[test]
    fn characters_outside_gsm7_also_make_it_ucs2() {
        for text in ["`", "₽", "«", "\t", "ä€ç"] {
            assert_eq!(segments(text).encoding, Encoding::Ucs2, "{text:?}");
        }
    }

    #[test]
    fn an_emoji_counts_two_utf16_units_and_is_never_split() {
        let s = segments("😀");
        assert_eq!((s.encoding, s.units, s.parts), (Encoding::Ucs2, 2, 1));
        assert_eq!(parts(&"😀".repeat(35)), 1);
        assert_eq!(parts(&format!("{}😀", "я".repeat(69))), 2);
        // 66 + 2 would overfill the first part by one unit: the pair moves whole.
        let text = format!("{}😀{}", "я".repeat(66), "я".repeat(66));
        assert_eq!(segments(&text).units, 134);
        assert_eq!(parts(&text), 3);
    }
}
