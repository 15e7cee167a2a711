//! Contact data: email addresses, phone numbers (E.164) and dates (ISO 8601).

use super::{fold, NormError};

/// Lowercased email with a leading `mailto:` removed; exactly one `@`, a non-empty local part
/// and a dotted domain, no spaces.
pub fn normalize_email(s: &str) -> Result<String, NormError> {
    let e = fold(s);
    let e = e.strip_prefix("mailto:").unwrap_or(&e);
    match e.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !e.contains(' ') =>
        {
            Ok(e.to_string())
        }
        _ => Err(NormError::Email(s.to_string())),
    }
}

/// E.164 (`+16502530000`) using the default region for national numbers ("0412 345 678" with
/// "AU"); `00` international prefixes are accepted. A number phonenumber cannot validate but
/// with 7 to 15 digits is kept as `+?` and its digits, so trailing-digit comparisons still work.
pub fn normalize_phone(s: &str, default_region: Option<&str>) -> Result<String, NormError> {
    let trimmed = s.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let candidate = match trimmed.strip_prefix("00") {
        Some(rest) if !trimmed.starts_with('+') => format!("+{rest}"),
        _ => trimmed.to_string(),
    };
    let region = default_region.and_then(|r| r.parse::<phonenumber::country::Id>().ok());
    if let Ok(n) = phonenumber::parse(region, &candidate) {
        if phonenumber::is_valid(&n) {
            return Ok(n.format().mode(phonenumber::Mode::E164).to_string());
        }
    }
    match digits.len() {
        7..=15 => Ok(format!("+?{digits}")),
        0 => Err(NormError::Phone(s.to_string(), "no digits".into())),
        n => Err(NormError::Phone(
            s.to_string(),
            format!("{n} digits, expected 7 to 15"),
        )),
    }
}

/// Parses a date with the given strftime formats, tried in order; returns `YYYY-MM-DD`.
/// Impossible dates (February 30th) are rejected.
pub fn normalize_date(s: &str, formats: &[String]) -> Result<String, NormError> {
    let t = s.trim();
    for f in formats {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(t, f) {
            return Ok(d.format("%Y-%m-%d").to_string());
        }
    }
    Err(NormError::Date(s.to_string(), formats.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_fold_and_validate() {
        assert_eq!(
            normalize_email(" John.Smith@Example.COM ").unwrap(),
            "john.smith@example.com"
        );
        assert_eq!(normalize_email("mailto:a@b.co").unwrap(), "a@b.co");
        for bad in [
            "",
            "no-at",
            "@x.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_become_e164() {
        for (input, region, want) in [
            ("(650) 253-0000", Some("US"), "+16502530000"),
            ("+1 650 253 0000", None, "+16502530000"),
            ("0412 345 678", Some("AU"), "+61412345678"),
            ("138 0013 8000", Some("CN"), "+8613800138000"),
            ("00 44 20 7946 0958", Some("US"), "+442079460958"),
        ] {
            assert_eq!(normalize_phone(input, region).unwrap(), want, "{input}");
        }
        assert_eq!(normalize_phone("555 0101 99", None).unwrap(), "+?555010199");
        assert!(normalize_phone("12", Some("US")).is_err());
        assert!(normalize_phone("💥", Some("US")).is_err());
    }

    #[test]
    fn dates_parse_in_configured_formats() {
        let f: Vec<String> = ["%Y-%m-%d", "%d/%m/%Y", "%Y%m%d"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(normalize_date("1980-03-15", &f).unwrap(), "1980-03-15");
        assert_eq!(normalize_date("15/03/1980", &f).unwrap(), "1980-03-15");
        assert_eq!(normalize_date("19800315", &f).unwrap(), "1980-03-15");
        let err = normalize_date("2023-02-30", &f).unwrap_err();
        assert!(err.to_string().contains("%Y-%m-%d"), "{err}");
        assert!(normalize_date("", &f).is_err());
    }
}
