//! Contact data: e-mail addresses, phone numbers (to E.164) and dates (to
//! ISO `YYYY-MM-DD`).
//!
//! Phone numbers that `phonenumber` cannot parse or validate but that carry
//! 7..=15 digits are returned as `"+?"` followed by the digits as written
//! (no country code inferred, extension dropped), so that "same last N
//! digits" comparisons still work. Such values never equal a real E.164
//! value, which always starts with `+` and a digit.

use super::{nfkc, NormError};
use chrono::{Datelike, NaiveDate};
use phonenumber::{country, metadata::DATABASE, Mode};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Trim, NFKC, lowercase and validate an e-mail address.
///
/// Strips a leading `mailto:` and surrounding `<...>`. Requires exactly one
/// `@`, a non-empty local part, a domain containing a `.` that neither starts
/// nor ends with a dot nor contains `..`, and no whitespace or control
/// characters. Empty input gives [`NormError::Empty`], anything else invalid
/// [`NormError::Email`].
pub fn normalize_email(s: &str) -> Result<String, NormError> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(NormError::Empty);
    }
    let mut email = nfkc(trimmed).to_lowercase();
    if let Some(rest) = email.strip_prefix("mailto:") {
        email = rest.trim().to_string();
    }
    if let Some(inner) = email.strip_prefix('<').and_then(|e| e.strip_suffix('>')) {
        email = inner.trim().to_string();
    }
    let invalid = || NormError::Email(s.to_string());
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let ok = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email)
    } else {
        Err(invalid())
    }
}

/// Fewest digits accepted for a phone number.
const MIN_PHONE_DIGITS: usize = 7;
/// Most digits in an E.164 number.
const MAX_PHONE_DIGITS: usize = 15;

/// Normalize a phone number to E.164 (`+16502530000`).
///
/// `default_region` is an ISO 3166 alpha-2 code ("US", "AU", "CN", "GB")
/// used for national numbers; with None the number must carry `+country` or
/// an international `00` prefix. A leading `00` is accepted as international
/// prefix whatever the region (as is the region's own prefix, e.g. `011` for
/// US). Extensions (`x123`, `ext. 123`, `#123`) and letters are dropped.
///
/// When the number cannot be parsed or validated but has 7..=15 digits, the
/// result is `"+?"` followed by those digits. Fewer than 7 digits, more than
/// 15 (17 with a `00` prefix) give [`NormError::Phone`], as does an unknown
/// region when the number needs one (no `+`, or a `00` number that does not
/// validate); empty input gives [`NormError::Empty`].
pub fn normalize_phone(s: &str, default_region: Option<&str>) -> Result<String, NormError> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(NormError::Empty);
    }
    let err = |reason: String| NormError::Phone(s.to_string(), reason);
    let text = nfkc(trimmed);
    let text = text
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("tel:"))
        .map_or(&*text, |_| &text[4..]);
    // everything from the first letter or extension marker on is dropped
    let main = text
        .find(|c: char| c.is_alphabetic() || matches!(c, '#' | ';' | ','))
        .map_or(text, |i| &text[..i]);
    let plus = main.chars().find(|c| c.is_ascii_digit() || *c == '+') == Some('+');
    let digits: String = main.chars().filter(char::is_ascii_digit).collect();
    let idd = !plus && digits.starts_with("00");
    let max = if idd {
        MAX_PHONE_DIGITS + 2
    } else {
        MAX_PHONE_DIGITS
    };
    if digits.len() < MIN_PHONE_DIGITS {
        return Err(err(format!(
            "too few digits ({} < {MIN_PHONE_DIGITS})",
            digits.len()
        )));
    }
    if digits.len() > max {
        return Err(err(format!("too many digits ({} > {max})", digits.len())));
    }
    if plus {
        // fully qualified: the default region is irrelevant
        return Ok(
            parse_valid(None, &format!("+{digits}")).unwrap_or_else(|| format!("+?{digits}"))
        );
    }
    let region = match default_region.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) => r
            .to_ascii_uppercase()
            .parse::<country::Id>()
            .ok()
            .filter(|id| DATABASE.by_id(id.as_ref()).is_some())
            .map(Some)
            .ok_or_else(|| err(format!("unknown region {r:?}"))),
    };
    let e164 = match region {
        Ok(Some(r)) => parse_valid(Some(r), &digits),
        _ => None,
    }
    .or_else(|| {
        idd.then(|| parse_valid(None, &format!("+{}", &digits[2..])))
            .flatten()
    });
    if let Some(e164) = e164 {
        return Ok(e164);
    }
    region?;
    let fallback = if idd { &digits[2..] } else { &digits[..] };
    if (MIN_PHONE_DIGITS..=MAX_PHONE_DIGITS).contains(&fallback.len()) {
        Ok(format!("+?{fallback}"))
    } else {
        Err(err(format!(
            "not a valid number and {} digits after the 00 prefix",
            fallback.len()
        )))
    }
}

/// Parses with `phonenumber` and returns E.164 when the number is valid.
/// Input is only ever `+?[0-9]+`; a panic inside the library (it has had
/// several) is treated as "not parseable".
fn parse_valid(region: Option<country::Id>, number: &str) -> Option<String> {
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        phonenumber::parse(region, number)
            .ok()
            .filter(phonenumber::PhoneNumber::is_valid)
            .map(|n| n.format().mode(Mode::E164).to_string())
    }));
    parsed.ok().flatten()
}

/// Parse a date with the given chrono strftime formats, tried in order, and
/// return ISO `YYYY-MM-DD`.
///
/// Input is trimmed and NFKC-normalized (full-width digits). Impossible dates
/// (2023-02-30) and years outside 1..=9999 are rejected with
/// [`NormError::Date`] (input, formats joined by ", "); empty input gives
/// [`NormError::Empty`].
pub fn normalize_date(s: &str, formats: &[String]) -> Result<String, NormError> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(NormError::Empty);
    }
    let text = nfkc(trimmed);
    formats
        .iter()
        .filter_map(|f| NaiveDate::parse_from_str(&text, f).ok())
        .find(|d| (1..=9999).contains(&d.year()))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| NormError::Date(s.to_string(), formats.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(s: &str, region: Option<&str>) -> String {
        normalize_phone(s, region).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn formats(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn email_valid() {
        assert_eq!(
            normalize_email("  John.Doe@Example.COM ").unwrap(),
            "john.doe@example.com"
        );
        assert_eq!(normalize_email("mailto:A@B.co").unwrap(), "a@b.co");
        assert_eq!(normalize_email("MAILTO:a@b.co").unwrap(), "a@b.co");
        assert_eq!(normalize_email("<a+tag@b.co.uk>").unwrap(), "a+tag@b.co.uk");
        assert_eq!(normalize_email("Ａ@ｂ.com").unwrap(), "a@b.com");
        assert_eq!(
            normalize_email("josé@exämple.de").unwrap(),
            "josé@exämple.de"
        );
    }

    #[test]
    fn email_invalid() {
        for s in [
            "a@b",
            "@b.com",
            "a@@b.com",
            "a@b@c.com",
            "a b@c.com",
            "a@.com",
            "a@b.",
            "a@b..com",
            "plainaddress",
            "💥",
            "mailto:",
        ] {
            assert_eq!(
                normalize_email(s),
                Err(NormError::Email(s.to_string())),
                "{s}"
            );
        }
        assert_eq!(normalize_email(""), Err(NormError::Empty));
        assert_eq!(normalize_email(" \t "), Err(NormError::Empty));
        assert!(normalize_email("\u{200b}").is_err());
        let long = format!("{}@example.com", "a".repeat(100_000));
        assert!(normalize_email(&long).is_ok());
    }

    #[test]
    fn phone_us_au_cn_gb() {
        assert_eq!(phone("(650) 253-0000", Some("US")), "+16502530000");
        assert_eq!(phone("650.253.0000", Some("us")), "+16502530000");
        assert_eq!(phone("+1 650 253 0000", None), "+16502530000");
        assert_eq!(phone("+1 650 253 0000", Some("AU")), "+16502530000");
        assert_eq!(phone("tel:+1-650-253-0000", None), "+16502530000");
        assert_eq!(phone("0412 345 678", Some("AU")), "+61412345678");
        assert_eq!(phone("+61 412 345 678", None), "+61412345678");
        assert_eq!(phone("138 0013 8000", Some("CN")), "+8613800138000");
        assert_eq!(
            phone("１３８ ００１３ ８０００", Some("CN")),
            "+8613800138000"
        );
        assert_eq!(phone("020 7946 0958", Some("GB")), "+442079460958");
    }

    #[test]
    fn phone_international_prefixes() {
        assert_eq!(phone("00 44 20 7946 0958", None), "+442079460958");
        assert_eq!(phone("00 44 20 7946 0958", Some("US")), "+442079460958");
        assert_eq!(phone("011 44 20 7946 0958", Some("US")), "+442079460958");
        assert_eq!(phone("0011 44 20 7946 0958", Some("AU")), "+442079460958");
        assert_eq!(phone("+44 (0) 20 7946 0958", None), "+442079460958");
        assert_eq!(phone("1 650 253 0000", Some("US")), "+16502530000");
        assert_eq!(phone("86 138 0013 8000", Some("CN")), "+8613800138000");
    }

    #[test]
    fn phone_extensions_dropped() {
        for s in [
            "+1 650 253 0000 ext. 123",
            "+1 650 253 0000 x123",
            "+1 650 253 0000 #123",
        ] {
            assert_eq!(phone(s, None), "+16502530000", "{s}");
        }
    }

    #[test]
    fn phone_fallback_digits() {
        assert_eq!(phone("555-1234", Some("US")), "+?5551234");
        assert_eq!(phone("650 253 0000", None), "+?6502530000");
        assert_eq!(phone("+999 1234 5678", None), "+?99912345678");
        assert_eq!(phone("123456789012345", Some("US")), "+?123456789012345");
    }

    #[test]
    fn phone_errors() {
        assert_eq!(normalize_phone("", Some("US")), Err(NormError::Empty));
        assert_eq!(normalize_phone("   ", None), Err(NormError::Empty));
        for s in ["123", "12-34-56", "💥", "\u{200b}", "call me", "+"] {
            assert!(
                matches!(normalize_phone(s, Some("US")), Err(NormError::Phone(ref i, _)) if i == s),
                "{s}"
            );
        }
        assert!(matches!(
            normalize_phone("6502530000", Some("XX")),
            Err(NormError::Phone(_, ref r)) if r.contains("region")
        ));
        assert!(normalize_phone("1234567890123456", Some("US")).is_err());
        // an unknown region only matters when the number needs one
        assert_eq!(phone("+1 650 253 0000", Some("XX")), "+16502530000");
        assert_eq!(phone("00 44 20 7946 0958", Some("XX")), "+442079460958");
        assert!(normalize_phone("00 99 1234 5678", Some("XX")).is_err());
        assert!(normalize_phone(&"1".repeat(100_000), Some("US")).is_err());
        let err = normalize_phone("123", None).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid phone number \"123\": too few digits"),
            "{err}"
        );
    }

    #[test]
    fn phone_weird_input_never_panics() {
        for s in [
            "+;phone-context=",
            "tel:;phone-context=+",
            "+\u{1F4A9}1234567",
            "0000000000",
            "+0000000000",
            "+1 (((650))) 253--0000",
            "٦٥٠٢٥٣٠٠٠٠",
            "+86 13800138000 13800138000",
        ] {
            for region in [None, Some("US"), Some("CN"), Some("AU"), Some("GB")] {
                let _ = normalize_phone(s, region);
            }
        }
    }

    #[test]
    fn dates_in_several_formats() {
        let f = formats(&["%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d %b %Y"]);
        for s in [
            "2023-02-28",
            "28/02/2023",
            "20230228",
            " 28 Feb 2023 ",
            "２０２３-０２-２８",
        ] {
            assert_eq!(normalize_date(s, &f).unwrap(), "2023-02-28", "{s}");
        }
        assert_eq!(normalize_date("2024-02-29", &f).unwrap(), "2024-02-29");
        assert_eq!(
            normalize_date("03/04/2023", &formats(&["%m/%d/%Y"])).unwrap(),
            "2023-03-04"
        );
    }

    #[test]
    fn dates_invalid() {
        let f = formats(&["%Y-%m-%d", "%d/%m/%Y", "%Y%m%d"]);
        let want = "%Y-%m-%d, %d/%m/%Y, %Y%m%d".to_string();
        for s in [
            "2023-02-30",
            "2023-13-01",
            "30/02/2023",
            "2023-02-28x",
            "0000-01-01",
            "💥",
            "\u{200b}",
        ] {
            assert_eq!(
                normalize_date(s, &f),
                Err(NormError::Date(s.to_string(), want.clone())),
                "{s}"
            );
        }
        assert_eq!(normalize_date("", &f), Err(NormError::Empty));
        assert_eq!(normalize_date("  ", &f), Err(NormError::Empty));
        assert_eq!(
            normalize_date("2023-01-01", &[]),
            Err(NormError::Date("2023-01-01".into(), String::new()))
        );
        assert!(normalize_date(&"9".repeat(100_000), &f).is_err());
    }
}
