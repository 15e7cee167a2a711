//! Normalization of a mapped [`SourceRecord`] into a [`Profile`]: the comparable form of every
//! attribute that blocking and scoring work on.
//!
//! The per-kind rules live in [`crate::normalize`]; this module applies them by attribute kind,
//! with the source's date formats and phone region, and turns failures into field errors.

use serde::{Deserialize, Serialize};

use super::SourceRecord;
use crate::config::{AttrKind, Config, InvalidValues, Mapping, Source};
use crate::normalize::{self, PersonName};

/// A normalized person name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct NameNorm {
    /// Given-name tokens (lowercase ASCII; pinyin for Hanzi).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    /// Family-name tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub family: Vec<String>,
    /// The name in Hanzi, when it was written so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub han: Option<String>,
    /// Other pinyin readings of a polyphonic Han family name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alt: Vec<String>,
}

impl NameNorm {
    /// Given then family tokens, space-separated.
    pub fn full(&self) -> String {
        self.given
            .iter()
            .chain(&self.family)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl From<PersonName> for NameNorm {
    fn from(p: PersonName) -> Self {
        Self {
            given: p.given,
            family: p.family,
            han: p.han,
            alt: p.family_alternatives,
        }
    }
}

/// The normalized value of one attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// A person name.
    Name(NameNorm),
    /// A single canonical string: email, E.164 phone, ISO date, postcode, identifier, text.
    Str(String),
    /// A token list: address, company.
    Tokens(Vec<String>),
}

/// Comparable form of a record: one optional normalized value per attribute ([`crate::config::AttrId`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Profile {
    /// Normalized values indexed by attribute id.
    pub attrs: Vec<Option<Norm>>,
}

impl Profile {
    /// The person name of attribute `attr`, if present.
    pub fn name(&self, attr: usize) -> Option<&NameNorm> {
        match self.attrs.get(attr)? {
            Some(Norm::Name(n)) => Some(n),
            _ => None,
        }
    }

    /// The string form of attribute `attr`, if it has one.
    pub fn str(&self, attr: usize) -> Option<&str> {
        match self.attrs.get(attr)? {
            Some(Norm::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The tokens of attribute `attr`, if it has them.
    pub fn tokens(&self, attr: usize) -> Option<&[String]> {
        match self.attrs.get(attr)? {
            Some(Norm::Tokens(t)) => Some(t),
            _ => None,
        }
    }
}

/// A value that failed normalization: the source field (or attribute) and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Source field path, or the attribute name when several fields feed it.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// Normalizes every attribute of a record.
pub fn build(config: &Config, source: &Source, rec: &SourceRecord) -> Result<Profile, FieldError> {
    let mut attrs = vec![None; config.attributes.len()];
    let mut hint = None;
    for (attr, mapping) in &source.fields {
        let a = &config.attributes[*attr];
        let field = match mapping {
            Mapping::Path(p) => p.as_str(),
            _ => a.name.as_str(),
        };
        let fail = |reason: String| FieldError {
            field: field.to_string(),
            reason,
        };
        let Some(value) = rec.values.get(&a.name) else {
            continue;
        };
        // Only a person name reads its parts.
        let (given, family) = if a.kind == AttrKind::PersonName {
            (part(rec, &a.name, ".given"), part(rec, &a.name, ".family"))
        } else {
            (None, None)
        };
        // The record's country, worked out once and only for phones of a multi-region source.
        let region = if a.kind == AttrKind::Phone && source.default_region.len() > 1 {
            *hint.get_or_insert_with(|| region_hint(config, rec))
        } else {
            None
        };
        let normalized = normalize_value(a.kind, value, given, family, source, region);
        attrs[*attr] = match normalized {
            Ok(v) => v,
            Err(reason) => match source.invalid_values {
                InvalidValues::Reject => return Err(fail(reason)),
                InvalidValues::KeepRaw => {
                    let raw = normalize::ascii_fold(value);
                    (!raw.is_empty()).then_some(Norm::Str(raw))
                }
                InvalidValues::Drop => None,
            },
        };
    }
    Ok(Profile { attrs })
}

/// The country a record's other values point to, for reading its national phone numbers in a
/// source with customers in several countries (`default_region = ["US", "CN"]`): a six-digit
/// postcode points to China, a five-digit ZIP (or ZIP+4) to the US; without a postcode, Hanzi in
/// the address or city, else in any value, point to China.
/// `15105104454` is valid in both (`+1 510 510 4454`, `+86 151 0510 4454`): read the same way
/// for all of a customer's records, it agrees exactly; read one way here and the other there,
/// only the national digits agree.
fn region_hint(config: &Config, rec: &SourceRecord) -> Option<&'static str> {
    let values = |kinds: &'static [AttrKind]| {
        config
            .attributes
            .iter()
            .filter(move |a| kinds.contains(&a.kind))
            .filter_map(|a| rec.values.get(&a.name))
    };
    let han = |v: &String| v.chars().any(normalize::is_han_char);
    // Where the customer lives says more than the script of the name (a Chinese name on a
    // US address has a US phone): the postcode first, then Hanzi in the address or city,
    // then anywhere.
    values(&[AttrKind::Postcode])
        .find_map(|v| {
            let v = v.trim();
            let digits = v.bytes().filter(u8::is_ascii_digit).count();
            let only = v
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'-' || b == b' ');
            match (only, digits, v.len()) {
                (true, 6, 6) => Some("CN"),
                (true, 5, 5) | (true, 9, 10) => Some("US"),
                _ => None,
            }
        })
        .or_else(|| {
            values(&[AttrKind::Address, AttrKind::Text])
                .any(han)
                .then_some("CN")
        })
        .or_else(|| rec.values.values().any(han).then_some("CN"))
}

/// A source's regions in the order to try for one phone value: in a source listing both the
/// US and China, the region its own digit grouping points to first
/// ([`normalize::phone_grouping_region`]), else the record's ([`region_hint`]), then the
/// configured order.
fn phone_regions<'r>(configured: &'r [String], value: &str, hint: Option<&str>) -> Vec<&'r str> {
    let mut out: Vec<&str> = configured.iter().map(String::as_str).collect();
    // The hints tell a US number from a Chinese one and nothing else (a London 020 number
    // groups 3-4-4 too; India's postcodes have six digits): other lists keep their order.
    let has = |r: &str| out.iter().any(|c| c.eq_ignore_ascii_case(r));
    if !(has("US") && has("CN")) {
        return out;
    }
    let first = normalize::phone_grouping_region(value).or(hint);
    if let Some(i) = first.and_then(|f| out.iter().position(|r| r.eq_ignore_ascii_case(f))) {
        let r = out.remove(i);
        out.insert(0, r);
    }
    out
}

/// The value of `<name><suffix>` (a name part kept by `map_record`), if any.
fn part<'a>(rec: &'a SourceRecord, name: &str, suffix: &str) -> Option<&'a str> {
    let mut key = String::with_capacity(name.len() + suffix.len());
    key.push_str(name);
    key.push_str(suffix);
    rec.values.get(&key).map(String::as_str)
}

/// Normalizes one value of the given kind; `Ok(None)` when nothing comparable is left.
/// `region` is the country the record's other values point to (`region_hint`), used to read
/// a national phone number valid in several of the source's regions (`phone_regions`).
pub fn normalize_value(
    kind: AttrKind,
    value: &str,
    given: Option<&str>,
    family: Option<&str>,
    source: &Source,
    region: Option<&str>,
) -> Result<Option<Norm>, String> {
    let non_empty_str = |s: String| (!s.is_empty()).then_some(Norm::Str(s));
    let non_empty_tokens = |t: Vec<String>| (!t.is_empty()).then_some(Norm::Tokens(t));
    Ok(match kind {
        AttrKind::PersonName => {
            let parsed = if given.is_some() || family.is_some() {
                normalize::person_name_from_parts(given, family)
            } else {
                normalize::parse_person_name(value)
            };
            parsed.map(|p| Norm::Name(p.into()))
        }
        // Single name parts parse like the parts of a person name (titles dropped, Hanzi
        // surnames read as surnames).
        AttrKind::GivenName => {
            normalize::person_name_from_parts(Some(value), None).map(|p| Norm::Name(p.into()))
        }
        AttrKind::FamilyName => {
            normalize::person_name_from_parts(None, Some(value)).map(|p| Norm::Name(p.into()))
        }
        AttrKind::Email => {
            non_empty_str(normalize::normalize_email(value).map_err(|e| e.to_string())?)
        }
        AttrKind::Phone => non_empty_str(
            normalize::normalize_phone_in(
                value,
                &phone_regions(&source.default_region, value, region),
            )
            .map_err(|e| e.to_string())?,
        ),
        AttrKind::Date => non_empty_str(
            normalize::normalize_date(value, &source.date_formats).map_err(|e| e.to_string())?,
        ),
        AttrKind::Address => non_empty_tokens(normalize::address_tokens(value)),
        AttrKind::Postcode => non_empty_str(normalize::normalize_postcode(value)),
        AttrKind::Company => non_empty_tokens(normalize::company_tokens(value)),
        AttrKind::Text => non_empty_str(normalize::text_value(value)),
        AttrKind::Identifier => non_empty_str(normalize::normalize_identifier(value)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(values: &[(&str, &str)]) -> SourceRecord {
        SourceRecord {
            source: "crm".into(),
            key: "k".into(),
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            updated_at: None,
        }
    }

    #[test]
    fn a_national_number_valid_in_two_regions_reads_by_the_record() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/goldrec.toml"))
                .unwrap();
        let config = Config::parse(&text).unwrap();
        let source = &config.sources["crm"];
        let phone = config.attr("phone").unwrap();
        let phone_of = |values: &[(&str, &str)]| {
            build(&config, source, &record(values)).unwrap().attrs[phone].clone()
        };
        let e164 = |s: &str| Some(Norm::Str(s.into()));
        // Digits in one run, valid in the US and in China: the configured order (US first)
        // unless the record points elsewhere.
        assert_eq!(phone_of(&[("phone", "15105104454")]), e164("+15105104454"));
        assert_eq!(
            phone_of(&[("phone", "15105104454"), ("postcode", "94568")]),
            e164("+15105104454")
        );
        assert_eq!(
            phone_of(&[("phone", "15105104454"), ("postcode", "300900")]),
            e164("+8615105104454")
        );
        assert_eq!(
            phone_of(&[("phone", "13273713208"), ("city", "天津")]),
            e164("+8613273713208")
        );
        // A Chinese name on a US address: the address decides.
        assert_eq!(
            phone_of(&[
                ("name", "王伟"),
                ("phone", "2129671804"),
                ("postcode", "10032")
            ]),
            e164("+12129671804")
        );
        // The number's own grouping first: 3-4-4 is a Chinese mobile, 3-3-4 a US number.
        assert_eq!(
            phone_of(&[("phone", "132-7371-3208")]),
            e164("+8613273713208")
        );
        assert_eq!(
            phone_of(&[("phone", "(212) 967-1804"), ("city", "上海")]),
            e164("+12129671804")
        );
        // Other lists keep their order: a London number groups 3-4-4 like a Chinese mobile.
        let configured = ["GB".to_string(), "CN".to_string()];
        assert_eq!(
            phone_regions(&configured, "020 7946 0958", Some("CN")),
            ["GB", "CN"]
        );
    }
}
