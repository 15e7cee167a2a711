//! Normalization rules per kind of value: Unicode folding, person names (Latin and Chinese
//! script), contact data (email, E.164 phone, dates) and addresses, companies and free text.
//!
//! Everything here is a pure function of its input and never panics; [`crate::ingest::profile`]
//! applies these rules to records by attribute kind.

mod contact;
mod name;
mod text;

pub use contact::{normalize_date, normalize_email, normalize_phone};
pub use name::{
    han_readings, has_han, metaphone, name_tokens, nickname_roots, parse_person_name,
    person_name_from_parts, PersonName,
};
pub use text::{
    address_tokens, company_tokens, normalize_identifier, normalize_postcode, text_tokens,
};

use unicode_normalization::UnicodeNormalization;

/// Why a value could not be normalized.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NormError {
    /// Nothing is left after folding.
    #[error("empty value")]
    Empty,
    /// Not an email address.
    #[error("invalid email address {0:?}")]
    Email(String),
    /// Not a phone number.
    #[error("invalid phone number {0:?}: {1}")]
    Phone(String, String),
    /// Not a date in any accepted format.
    #[error("invalid date {0:?}: expected one of {1}")]
    Date(String, String),
}

/// NFKC, Unicode lower-casing, trimmed, internal whitespace collapsed to single spaces.
pub fn fold(s: &str) -> String {
    let lower: String = s.nfkc().collect::<String>().to_lowercase();
    let mut out = String::with_capacity(lower.len());
    for w in lower.split(|c: char| c.is_whitespace() || c == '\u{200b}') {
        if w.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// [`fold`] then transliteration to ASCII (deunicode): only `[a-z0-9 ]` remain, other
/// characters become spaces, spaces collapse.
pub fn ascii_fold(s: &str) -> String {
    // Symbols and emoji go before transliteration (deunicode spells 💥 as "boom").
    let letters: String = fold(s)
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let ascii = deunicode::deunicode(&letters).to_ascii_lowercase();
    let mut out = String::with_capacity(ascii.len());
    let mut space = true;
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_handles_width_case_accents_and_odd_input() {
        assert_eq!(fold("  ＪＯＨＮ\t  Smith "), "john smith");
        assert_eq!(ascii_fold("Łukasz Żółć-O'Brien"), "lukasz zolc o brien");
        assert_eq!(ascii_fold("Straße"), "strasse");
        for s in ["", "   ", "💥", "\u{200b}", &"x".repeat(100_000)] {
            let _ = fold(s);
            let _ = ascii_fold(s);
        }
        assert_eq!(ascii_fold("💥"), "");
    }
}
