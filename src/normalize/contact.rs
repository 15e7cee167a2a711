//! Contact data: e-mail addresses, phone numbers (to E.164) and dates (to
//! ISO `YYYY-MM-DD`).
//!
//! Phone numbers that `phonenumber` cannot parse or validate but that carry
//! 7..=15 digits are returned as `"+?"` followed by the digits as written
//! (no country code inferred, extension dropped), so that "same last N
//! digits" comparisons still work. Such values never equal a real E.164
//! value, which always starts with `+` and a digit.

use super::{nfkc, NormError};
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{Datelike, NaiveDate};
use phonenumber::metadata::{Descriptor, DATABASE};
use phonenumber::{country, Mode};
use regex::{Regex, RegexBuilder};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::LazyLock;

/// Trim, NFKC, lowercase and validate an e-mail address.
///
/// Strips a leading `mailto:` and surrounding `<...>`, and a sub-address tag
/// (`jane+news@x.com` is `jane@x.com`: the tag names a list, not a mailbox, and
/// one customer gives a different tag to every shop). Requires exactly one
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
        Ok(match local.split_once('+') {
            Some((mailbox, _)) if !mailbox.is_empty() => format!("{mailbox}@{domain}"),
            _ => email,
        })
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
    phone(s, default_region.as_slice(), true)
}

/// [`normalize_phone`] for a source with customers in several countries: a national number
/// takes the first of `regions` (ISO 3166 codes, in order) in which it is valid, so
/// `13970198500` reads as a Chinese mobile and `5676697381` as a US number with
/// `["US", "CN"]`. A number valid in none falls back as [`normalize_phone`] does.
pub fn normalize_phone_in<S: AsRef<str>>(s: &str, regions: &[S]) -> Result<String, NormError> {
    let regions: Vec<&str> = regions.iter().map(AsRef::as_ref).collect();
    phone(s, &regions, true)
}

/// The country a national number's own grouping points to, for a source with customers in
/// several countries: Chinese mobiles are written in groups of 3, 4 and 4 digits
/// (`156-1293-6785`, `+86 156 1293 6785`), North American numbers in 3, 3 and 4, with or
/// without the leading 1 (`510-510-4454`, `1 (510) 510-4454`). `None` for digits written in
/// one run (`15105104454` is either) or any other grouping.
pub fn phone_grouping_region(s: &str) -> Option<&'static str> {
    let groups: Vec<usize> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(str::len)
        .collect();
    match groups.as_slice() {
        [3, 4, 4] | [2, 3, 4, 4] | [4, 3, 4, 4] => Some("CN"),
        [3, 3, 4] | [1, 3, 3, 4] => Some("US"),
        _ => None,
    }
}

/// [`normalize_phone`] without the NANPA fast path: every number goes through
/// `phonenumber`. Kept as the reference the fast path is checked against.
#[doc(hidden)]
pub fn normalize_phone_reference(
    s: &str,
    default_region: Option<&str>,
) -> Result<String, NormError> {
    phone(s, default_region.as_slice(), false)
}

fn phone(s: &str, regions: &[&str], fast: bool) -> Result<String, NormError> {
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
            parse_valid(None, &format!("+{digits}"), fast).unwrap_or_else(|| format!("+?{digits}"))
        );
    }
    let regions: Vec<&str> = regions
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .collect();
    let region = match regions.iter().find(|r| region_id(r).is_none()) {
        Some(r) => Err(err(format!("unknown region {r:?}"))),
        None => Ok(()),
    };
    let e164 = regions
        .iter()
        .filter_map(|r| region_id(r))
        .find_map(|r| parse_valid(Some(r), &digits, fast))
        .or_else(|| {
            idd.then(|| parse_valid(None, &format!("+{}", &digits[2..]), fast))
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

/// The region of an ISO 3166 alpha-2 code (any case) that has phone metadata.
fn region_id(code: &str) -> Option<country::Id> {
    if code.eq_ignore_ascii_case("US") && NANPA.is_some() {
        // the common case, without allocating; NANPA holds US metadata
        return Some(country::Id::US);
    }
    code.to_ascii_uppercase()
        .parse::<country::Id>()
        .ok()
        .filter(|id| DATABASE.by_id(id.as_ref()).is_some())
}

/// Parses with `phonenumber` and returns E.164 when the number is valid.
/// Input is only ever `+?[0-9]+`; a panic inside the library (it has had
/// several) is treated as "not parseable". With `fast`, NANPA numbers take
/// [`nanpa_fast`] instead, which gives the same answer.
fn parse_valid(region: Option<country::Id>, number: &str, fast: bool) -> Option<String> {
    if fast {
        if let Some(result) = nanpa_fast(region, number) {
            return result;
        }
    }
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        phonenumber::parse(region, number)
            .ok()
            .filter(phonenumber::PhoneNumber::is_valid)
            .map(|n| n.format().mode(Mode::E164).to_string())
    }));
    parsed.ok().flatten()
}

/// One number-type pattern of a region, as `phonenumber`'s `Descriptor::is_match` applies it:
/// the length must be a possible length (when any are listed) and the pattern must match at
/// the start (compiled here anchored at the start, so `is_match` is that test).
struct NumberPattern {
    re: Regex,
    lengths: Vec<u16>,
}

impl NumberPattern {
    fn new(desc: &Descriptor) -> Option<Self> {
        Some(Self {
            re: anchored(desc.national_number().as_str())?,
            lengths: desc.possible_length().to_vec(),
        })
    }

    fn is_match(&self, value: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(value.len() as u16)))
            && self.re.is_match(value)
    }
}

/// `phonenumber` compiles its metadata patterns with `ignore_whitespace`; `^(?:..\n)` keeps
/// the match anchored at the start even if a pattern ended in a `#` comment.
fn anchored(pattern: &str) -> Option<Regex> {
    any_anchored(&[pattern])
}

/// Anchored alternation of `patterns` (None when empty or not compilable).
fn any_anchored(patterns: &[&str]) -> Option<Regex> {
    if patterns.is_empty() {
        return None;
    }
    let alternatives: Vec<String> = patterns.iter().map(|p| format!("(?:{p}\n)")).collect();
    RegexBuilder::new(&format!("^(?:{})", alternatives.join("|")))
        .ignore_whitespace(true)
        .build()
        .ok()
}

/// Length of every national number the fast path validates.
const NANPA_NSN_LEN: u16 = 10;

/// A region sharing country code 1, with what `phonenumber` looks at to validate a number.
struct NanpaRegion {
    id: country::Id,
    leading_digits: Option<Regex>,
    general: NumberPattern,
    /// The patterns of premium rate, toll free, shared cost, VoIP, personal, pager, UAN,
    /// voicemail, fixed line and mobile numbers (a match of any makes the number type known)
    /// that allow 10 digits, as one alternation.
    types: Option<Regex>,
    prefix_for_parsing: Option<Regex>,
    national_prefix: Option<String>,
}

impl NanpaRegion {
    /// None when the region's metadata is missing or a pattern does not compile.
    fn load(id: &str) -> Option<Self> {
        let meta = DATABASE.by_id(id)?;
        let d = meta.descriptors();
        let types: Vec<&str> = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ]
        .into_iter()
        .flatten()
        .filter(|t| t.possible_length().is_empty() || t.possible_length().contains(&NANPA_NSN_LEN))
        .map(|t| t.national_number().as_str())
        .fold(Vec::new(), |mut v, p| {
            // US lists one pattern for fixed line and mobile
            if !v.contains(&p) {
                v.push(p);
            }
            v
        });
        let types = match any_anchored(&types) {
            None if !types.is_empty() => return None,
            re => re,
        };
        Some(Self {
            id: id.parse().ok()?,
            leading_digits: match meta.leading_digits() {
                Some(re) => Some(anchored(re.as_str())?),
                None => None,
            },
            general: NumberPattern::new(d.general())?,
            types,
            prefix_for_parsing: match meta.national_prefix_for_parsing() {
                Some(re) => Some(anchored(re.as_str())?),
                None => None,
            },
            national_prefix: meta.national_prefix().map(str::to_string),
        })
    }

    /// `phonenumber::validator::number_type(..) != Type::Unknown` for a 10-digit number.
    fn type_known(&self, national: &str) -> bool {
        debug_assert_eq!(national.len(), usize::from(NANPA_NSN_LEN));
        self.general.is_match(national) && self.types.as_ref().is_some_and(|t| t.is_match(national))
    }

    /// True when parsing would strip a national prefix (or apply a transform rule) from
    /// `national`, which the fast path does not model.
    fn strips_prefix(&self, national: &str) -> bool {
        self.prefix_for_parsing
            .as_ref()
            .is_some_and(|re| re.is_match(national))
            || self
                .national_prefix
                .as_deref()
                .is_some_and(|p| national.starts_with(p))
    }
}

/// The regions of country code 1 in `phonenumber`'s order; None when its metadata cannot be
/// mirrored (then every number takes the library path).
static NANPA: LazyLock<Option<Vec<NanpaRegion>>> = LazyLock::new(|| {
    DATABASE
        .region(&1u16)?
        .into_iter()
        .map(NanpaRegion::load)
        .collect()
});

/// `phonenumber::validator::source_for` for country code 1: the first region whose leading
/// digits match, or that has none and knows the number's type; with whether the number's type
/// is known there (`is_valid`).
fn nanpa_region<'a>(regions: &'a [NanpaRegion], national: &str) -> Option<(&'a NanpaRegion, bool)> {
    regions.iter().find_map(|r| match &r.leading_digits {
        Some(lead) => lead.is_match(national).then(|| (r, r.type_known(national))),
        None => r.type_known(national).then_some((r, true)),
    })
}

/// Fast path of [`parse_valid`] for the common North American shapes: with region US,
/// `[2-9]` + 9 digits or `1[2-9]` + 9 digits; with no region, `+1[2-9]` + 9 digits.
///
/// For these `phonenumber::parse` yields country code 1 and the 10 digits as national number
/// (the US international prefix `011` and national prefix `1` cannot apply), and `is_valid` is
/// [`nanpa_region`] + [`NanpaRegion::type_known`] on the library's own patterns, compiled once
/// here instead of through its 100-entry regex cache behind one global mutex. Returns None
/// (take the library path) for any other input.
fn nanpa_fast(region: Option<country::Id>, number: &str) -> Option<Option<String>> {
    let regions = NANPA.as_deref()?;
    let b = number.as_bytes();
    let nsn_start = |i: usize| b.len() == i + 10 && (b'2'..=b'9').contains(&b[i]);
    let national = match region {
        Some(country::Id::US) if nsn_start(0) => number,
        Some(country::Id::US) if b.first() == Some(&b'1') && nsn_start(1) => &number[1..],
        None if b.starts_with(b"+1") && nsn_start(2) => &number[2..],
        _ => return None,
    };
    if !national.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let found = nanpa_region(regions, national);
    // The metadata parsing would use: the default region's, else the number's own.
    let parse_meta = match region {
        Some(id) => Some(regions.iter().find(|r| r.id == id)?),
        None => found.map(|(r, _)| r),
    };
    if parse_meta.is_some_and(|m| m.strips_prefix(national)) {
        return None;
    }
    if region.is_some() && number.len() == 11 && parse_meta?.general.is_match(number) {
        // the leading 1 would not be read as the country code
        return None;
    }
    Some(
        found
            .filter(|&(_, valid)| valid)
            .map(|_| format!("+1{national}")),
    )
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
        .filter_map(|f| parse_date(&text, f))
        .find(|d| (1..=9999).contains(&d.year()))
        // `%Y-%m-%d` for years 1..=9999
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
        .ok_or_else(|| NormError::Date(s.to_string(), formats.join(", ")))
}

/// Most formats whose parsed items a thread keeps.
const MAX_CACHED_DATE_FORMATS: usize = 64;

thread_local! {
    /// Parsed strftime items per format string, so a format is not re-parsed for every value;
    /// None for a format that does not parse up front (it goes through `parse_from_str`).
    static DATE_ITEMS: RefCell<Vec<(String, Option<Vec<Item<'static>>>)>> =
        const { RefCell::new(Vec::new()) };
}

/// `NaiveDate::parse_from_str(text, format).ok()`, with the format's items parsed once.
fn parse_date(text: &str, format: &str) -> Option<NaiveDate> {
    DATE_ITEMS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let at = match cache.iter().position(|(f, _)| f == format) {
            Some(at) => at,
            None if cache.len() < MAX_CACHED_DATE_FORMATS => {
                let items = StrftimeItems::new(format).parse_to_owned().ok();
                cache.push((format.to_string(), items));
                cache.len() - 1
            }
            None => return NaiveDate::parse_from_str(text, format).ok(),
        };
        match &cache[at].1 {
            Some(items) => {
                let mut parsed = Parsed::new();
                chrono::format::parse(&mut parsed, text, items.iter()).ok()?;
                parsed.to_naive_date().ok()
            }
            None => NaiveDate::parse_from_str(text, format).ok(),
        }
    })
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
        assert_eq!(normalize_email("<a+tag@b.co.uk>").unwrap(), "a@b.co.uk");
        assert_eq!(
            normalize_email("Jane.Doe+Orders+2@Shop.com").unwrap(),
            "jane.doe@shop.com"
        );
        assert_eq!(normalize_email("+only@b.com").unwrap(), "+only@b.com");
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
    fn phone_in_several_regions() {
        let both = |s: &str| normalize_phone_in(s, &["US", "CN"]).unwrap();
        for us in [
            "5676697381",
            "15676697381",
            "(567) 669-7381",
            "+1 567 669 7381",
        ] {
            assert_eq!(both(us), "+15676697381", "{us}");
        }
        for cn in [
            "13970198500",
            "(+86)13970198500",
            "+86 139 7019 8500",
            "13812345678",
        ] {
            assert!(both(cn).starts_with("+861"), "{cn}: {}", both(cn));
        }
        assert_eq!(both("8613970198500"), "+8613970198500");
    }

    #[test]
    fn a_numbers_grouping_points_to_its_country() {
        for cn in ["156-1293-6785", "+86 156 1293 6785", "(+86) 156 1293 6785"] {
            assert_eq!(phone_grouping_region(cn), Some("CN"), "{cn}");
        }
        for us in [
            "510-510-4454",
            "(510) 510-4454",
            "1 510 510 4454",
            "+1-510-510-4454",
        ] {
            assert_eq!(phone_grouping_region(us), Some("US"), "{us}");
        }
        for neither in [
            "15105104454",
            "0086 15612936785",
            "(0731) 7939252",
            "+44 20 7946 0958",
        ] {
            assert_eq!(phone_grouping_region(neither), None, "{neither}");
        }
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
                assert_eq!(
                    normalize_phone(s, region),
                    normalize_phone_reference(s, region),
                    "{s} {region:?}"
                );
            }
        }
    }

    /// The NANPA fast path gives what `phonenumber` gives: every area code, valid and
    /// invalid exchanges, in all three shapes it takes.
    #[test]
    fn phone_fast_path_matches_phonenumber() {
        assert!(NANPA.is_some(), "NANPA metadata mirrored");
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let (mut valid, mut taken) = (0, 0);
        for area in 200..1000 {
            for _ in 0..2 {
                let n = format!("{area}{:07}", next(10_000_000));
                for (region, number) in [
                    (Some(country::Id::US), n.clone()),
                    (Some(country::Id::US), format!("1{n}")),
                    (None, format!("+1{n}")),
                ] {
                    let fast = nanpa_fast(region, &number);
                    taken += usize::from(fast.is_some());
                    let want = parse_valid(region, &number, false);
                    assert_eq!(fast.clone().unwrap_or(want.clone()), want, "{number}");
                    valid += usize::from(want.is_some());
                }
            }
        }
        assert_eq!(taken, 800 * 2 * 3);
        assert!(valid > 1000 && valid < 4000, "{valid}");
        // shapes it leaves to the library
        for (region, number) in [
            (Some(country::Id::US), "1234567890"),
            (Some(country::Id::US), "0234567890"),
            (Some(country::Id::US), "11234567890"),
            (Some(country::Id::CA), "6502530000"),
            (None, "6502530000"),
            (None, "+16502530000000"),
            (None, "+442079460958"),
        ] {
            assert_eq!(nanpa_fast(region, number), None, "{number}");
        }
    }

    #[test]
    fn phone_fast_path_agrees_on_formatted_input() {
        for s in [
            "(650) 253-0000",
            "650-253-0000",
            "650.253.0000",
            "6502530000",
            "16502530000",
            "+1 650 253 0000",
            "+1 (268) 464-1234",
            "(876) 555-0199",
            "800 555 0199",
            "900-555-0199",
            "(211) 555-0199",
            "555-1234",
            "011 44 20 7946 0958",
            "00 1 650 253 0000",
        ] {
            for region in [Some("US"), Some("us"), Some("CA"), None] {
                assert_eq!(
                    normalize_phone(s, region),
                    normalize_phone_reference(s, region),
                    "{s} {region:?}"
                );
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

    /// The cached-items parse gives what `NaiveDate::parse_from_str` gives.
    #[test]
    fn date_items_cache_agrees_with_chrono() {
        let formats = [
            "%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%Y%m%d", "%d %b %Y", "%e %B %Y", "%Q", "%Y-%",
        ];
        for s in [
            "2023-02-28",
            "02/28/2023",
            "28.02.2023",
            "20230228",
            "28 Feb 2023",
            " 8 february 2023",
            "2023-2-8",
            "2023-02-28x",
            "99999-01-01",
            "+2023-01-01",
            "",
            "2023 - 02 - 28",
            "1.2.3",
            "0000-01-01",
            "2023-02-30",
        ] {
            for f in formats {
                assert_eq!(
                    parse_date(s, f),
                    NaiveDate::parse_from_str(s, f).ok(),
                    "{s:?} {f:?}"
                );
            }
        }
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
