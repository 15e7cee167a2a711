//! Normalization of raw customer-record fields before matching.
//!
//! This module owns every transformation from "what a source system sent"
//! to "the canonical form the matcher compares": Unicode folding
//! ([`fold`], [`ascii_fold`]), person names ([`name`]), contact data such
//! as e-mail, phone and dates ([`contact`]) and addresses, company names,
//! free text and identifiers ([`text`]). Everything is re-exported here, so
//! callers use `crate::normalize::*`.
//!
//! All functions are pure, allocation-light, never panic, and build their
//! lookup tables once (`match` statements or `LazyLock`).

pub mod contact;
pub mod name;
pub mod text;

pub use contact::{
    normalize_date, normalize_email, normalize_phone, normalize_phone_in, phone_grouping_region,
};
pub use name::{
    han_readings, has_han, is_chinese_surname, is_pinyin_name, metaphone, metaphone_alt,
    name_tokens, nickname_roots, parse_person_name, person_name_from_parts, PersonName, NICKNAMES,
};
pub use text::{
    address_tokens, company_tokens, normalize_identifier, normalize_postcode, postcode_area,
    text_tokens, text_value,
};

use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

/// Why a field could not be normalized.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NormError {
    /// The input was empty or whitespace only.
    #[error("empty value")]
    Empty,
    /// The input is not a plausible e-mail address.
    #[error("invalid email address {0:?}")]
    Email(String),
    /// The input is not a usable phone number: (input, reason).
    #[error("invalid phone number {0:?}: {1}")]
    Phone(String, String),
    /// No format matched: (input, formats joined by ", ").
    #[error("invalid date {0:?}: expected one of {1}")]
    Date(String, String),
}

/// NFKC, full Unicode lower-casing (case folding), trim, collapse internal
/// whitespace to single spaces.
///
/// Besides `char::to_lowercase` the common full-case-folding differences are
/// applied (`ß`/`ẞ` -> `ss`, final sigma `ς` -> `σ`). Invisible format
/// characters (zero-width space/joiners, BOM, soft hyphen, bidi marks,
/// variation selectors) are removed; control characters count as whitespace.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    fold_chars(s, |c| {
        if c == ' ' {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    });
    out
}

/// [`fold`] + `deunicode` transliteration to ASCII, keeping only `[a-z0-9 ]`
/// (everything else becomes a space), with spaces collapsed and trimmed.
///
/// Only alphanumeric characters are transliterated, so symbols and emoji
/// vanish instead of turning into words (`deunicode` maps `💥` to "boom").
/// Han characters are transliterated by `deunicode` here (one syllable per
/// character); person names use the pinyin tables in [`name`] instead.
pub fn ascii_fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    let mut push = |b: u8, out: &mut String| {
        if b.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(b.to_ascii_lowercase() as char);
        } else {
            pending_space = true;
        }
    };
    fold_chars(s, |c| {
        if c.is_ascii() {
            push(c as u8, &mut out);
        } else if c.is_alphanumeric() {
            match deunicode::deunicode_char(c) {
                Some(t) => t.bytes().for_each(|b| push(b, &mut out)),
                None => push(b' ', &mut out),
            }
        } else {
            push(b' ', &mut out);
        }
    });
    out
}

/// NFKC without case change; borrows when the input is ASCII.
pub(crate) fn nfkc(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfkc().collect())
    }
}

/// Streams the NFKC, case-folded characters of `s` to `f`. Whitespace and
/// control characters are reported as a single `' '` each (not collapsed),
/// invisible format characters are dropped.
pub(crate) fn fold_chars(s: &str, mut f: impl FnMut(char)) {
    if s.is_ascii() {
        for b in s.bytes() {
            if b.is_ascii_whitespace() || b.is_ascii_control() {
                f(' ');
            } else {
                f(b.to_ascii_lowercase() as char);
            }
        }
        return;
    }
    for c in s.nfkc() {
        if c.is_whitespace() || c.is_control() {
            f(' ');
        } else if is_invisible(c) {
            // dropped: zero-width characters must not split or alter tokens
        } else if c.is_ascii() {
            f(c.to_ascii_lowercase());
        } else {
            for l in c.to_lowercase() {
                match l {
                    'ß' => {
                        f('s');
                        f('s');
                    }
                    'ς' => f('σ'),
                    other => f(other),
                }
            }
        }
    }
}

/// Default-ignorable format characters that should not influence matching.
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5
        | 0x180B..=0x180F | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0
        | 0x1BCA0..=0x1BCA3 | 0xE0000..=0xE0FFF)
}

/// True for CJK unified ideographs (BMP, extension A and the supplementary
/// ideographic planes) and CJK compatibility ideographs.
pub fn is_han_char(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x323AF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_basics() {
        assert_eq!(fold("  Hello   WORLD \t\n"), "hello world");
        assert_eq!(fold("ＡＢＣ　ｄｅｆ"), "abc def");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("ΣΊΣΥΦΟΣ"), fold("σίσυφος"));
        assert_eq!(fold("ﬁne"), "fine");
        assert_eq!(fold("a\u{200b}b\u{feff}"), "ab");
        assert_eq!(fold("José"), "josé");
        assert_eq!(fold("Jose\u{301}"), "josé");
    }

    #[test]
    fn fold_weird_input() {
        assert_eq!(fold(""), "");
        assert_eq!(fold("   "), "");
        assert_eq!(fold("\u{200b}"), "");
        assert_eq!(fold("💥"), "💥");
        let long = "Ab ".repeat(100_000);
        assert_eq!(fold(&long).len(), 100_000 * 3 - 1);
    }

    #[test]
    fn ascii_fold_basics() {
        assert_eq!(ascii_fold("José Łukasz"), "jose lukasz");
        assert_eq!(ascii_fold("O'Brien-Smith & Co."), "o brien smith co");
        assert_eq!(ascii_fold("张伟"), "zhang wei");
        assert_eq!(ascii_fold("Æsir øl"), "aesir ol");
        assert_eq!(ascii_fold("ＡＢＣ１２３"), "abc123");
        assert_eq!(ascii_fold("I 💥 NY"), "i ny");
    }

    #[test]
    fn ascii_fold_weird_input() {
        for s in ["", "   ", "💥", "\u{200b}", "\u{301}", "\u{0}\u{1}"] {
            assert_eq!(ascii_fold(s), "", "{s:?}");
        }
        let long = "é💥".repeat(50_000);
        assert_eq!(ascii_fold(&long), "e ".repeat(50_000).trim_end());
    }

    #[test]
    fn han_detection() {
        assert!(is_han_char('张'));
        assert!(is_han_char('𠀀'));
        assert!(!is_han_char('a'));
        assert!(!is_han_char('ア'));
        assert!(!is_han_char('한'));
    }

    /// Deterministic pseudo-random strings through every public function.
    #[test]
    fn nothing_panics_on_mixed_garbage() {
        const POOL: &[char] = &[
            'a', 'Z', '0', '9', ' ', '.', ',', '-', '\'', '+', '@', '&', '#', '/', '(', '·', 'é',
            'ß', 'Ł', '\u{301}', '\u{200b}', '\u{feff}', '张', '曾', '欧', '阳', '先', '生', '𠀀',
            '💥', 'Ｚ', '１', 'ｘ', 'ア', '한', 'Σ', 'ς', 'İ', '\u{0}', '\t', '\n', '٣', 'ﬁ',
        ];
        let formats = vec!["%Y-%m-%d".to_string(), "%d/%m/%Y".to_string()];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for round in 0..3000 {
            let len = round % 40;
            let mut s = String::new();
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                s.push(POOL[(seed >> 33) as usize % POOL.len()]);
            }
            let _ = fold(&s);
            let _ = ascii_fold(&s);
            if let Some(n) = parse_person_name(&s) {
                let _ = (n.display(), n.tokens());
                assert!(
                    n.tokens().iter().all(|t| !t.is_empty() && t.is_ascii()),
                    "{s:?}"
                );
            }
            let _ = person_name_from_parts(Some(&s), Some(&s));
            for t in name_tokens(&s) {
                assert!(t.bytes().all(|b| b.is_ascii_lowercase()), "{s:?}");
                let _ = (metaphone(&t), metaphone_alt(&t), nickname_roots(&t));
            }
            let _ = (metaphone(&s), metaphone_alt(&s));
            s.chars().for_each(|c| drop(han_readings(c)));
            let _ = normalize_email(&s);
            let _ = normalize_phone(&s, Some("US"));
            let _ = normalize_phone(&s, None);
            let _ = normalize_date(&s, &formats);
            let _ = address_tokens(&s);
            let _ = normalize_postcode(&s);
            let _ = company_tokens(&s);
            let _ = text_tokens(&s);
            let _ = normalize_identifier(&s);
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(NormError::Empty.to_string(), "empty value");
        assert_eq!(
            NormError::Date("x".into(), "%Y, %d".into()).to_string(),
            "invalid date \"x\": expected one of %Y, %d"
        );
    }
}
