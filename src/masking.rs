//! Masking of personal data for keys without the `pii` scope.
//!
//! Each attribute has a [`Mask`] (`[masking]` in the config, else the default of its kind,
//! [`Mask::default_for`]). [`Masker::mask_json`] rewrites a JSON answer: every value under an
//! object key that names an attribute (record `values`, `golden` values, `overrides`, change
//! events), and the values of a survivorship conflict (`{"attribute": A, "golden",
//! "candidates": [{"value"}]}`). Error messages that may quote a value are withheld.
//! The export masks its rows itself ([`crate::export::export`]).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::{AttrKind, Config};

/// How one attribute's values are shown without the `pii` scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// In clear.
    None,
    /// Every character replaced: `***`.
    Redact,
    /// Digits but the last 4 replaced: `*******0101`.
    Last4,
    /// First letter of the local part and the domain: `j***@example.com`.
    Email,
    /// The year of a date: `1980`.
    Year,
    /// Initial of the given name and the family name: `J. Smith`.
    FamilyInitial,
    /// The first two characters: `94***`.
    Prefix2,
    /// The first letter: `J.` (a given name supplied on its own, under `family_initial`).
    Initial,
}

impl Mask {
    /// Parses a policy name of the config.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "redact" => Self::Redact,
            "last4" => Self::Last4,
            "email" => Self::Email,
            "year" => Self::Year,
            "family_initial" => Self::FamilyInitial,
            "prefix2" => Self::Prefix2,
            "initial" => Self::Initial,
            _ => return None,
        })
    }

    /// The policy names, for error messages.
    pub const NAMES: &'static str =
        "none, redact, last4, email, year, family_initial, initial, prefix2";

    /// The default policy of an attribute kind: identifying values masked, context (city,
    /// company) in clear.
    pub fn default_for(kind: AttrKind) -> Self {
        match kind {
            AttrKind::PersonName => Self::FamilyInitial,
            AttrKind::GivenName => Self::Initial,
            AttrKind::FamilyName => Self::None,
            AttrKind::Email => Self::Email,
            AttrKind::Phone => Self::Last4,
            AttrKind::Date => Self::Year,
            AttrKind::Address => Self::Redact,
            AttrKind::Postcode => Self::Prefix2,
            AttrKind::Identifier => Self::Redact,
            AttrKind::Company | AttrKind::Text => Self::None,
        }
    }

    /// The masked form of a value.
    pub fn apply(self, v: &str) -> String {
        match self {
            Self::None => v.to_string(),
            Self::Redact => "***".into(),
            Self::Last4 => {
                let digits = v.chars().filter(char::is_ascii_digit).count();
                let mut seen = 0;
                v.chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .map(|c| {
                        if c.is_ascii_digit() {
                            seen += 1;
                            if seen + 4 <= digits {
                                return '*';
                            }
                        }
                        c
                    })
                    .collect()
            }
            Self::Email => match v.rsplit_once('@') {
                Some((local, domain)) => {
                    let first: String = local.chars().take(1).collect();
                    format!("{first}***@{domain}")
                }
                None => "***".into(),
            },
            Self::Year => v
                .split(|c: char| !c.is_ascii_digit())
                .find(|p| p.len() == 4)
                .map_or_else(|| "***".into(), str::to_string),
            Self::FamilyInitial => {
                // Parsed as the matcher parses names: "SMITH, John", "Dr. John Smith" and
                // "张伟" (family first) all find their family name.
                let Some(n) = crate::normalize::name::parse_person_name(v) else {
                    return "***".into();
                };
                let title = |t: &str| {
                    let mut c = t.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                };
                let family: Vec<String> = n.family.iter().map(|t| title(t)).collect();
                match n.given.first().and_then(|g| g.chars().next()) {
                    Some(i) => format!("{}. {}", i.to_uppercase(), family.join(" ")),
                    None => family.join(" "),
                }
            }
            Self::Initial => v
                .chars()
                .next()
                .map_or_else(String::new, |c| format!("{}.", c.to_uppercase())),
            Self::Prefix2 => {
                let head: String = v.chars().take(2).collect();
                format!("{head}***")
            }
        }
    }
}

/// Error codes whose message may quote a supplied or stored value.
const VALUE_ERRORS: &[&str] = &["invalid_value", "invalid_record"];

/// The masks of a configuration, by attribute name.
#[derive(Debug, Clone)]
pub struct Masker {
    by_attr: BTreeMap<String, Mask>,
}

impl Masker {
    /// The masks of `config`'s attributes.
    pub fn new(config: &Config) -> Self {
        Self {
            by_attr: config
                .attributes
                .iter()
                .zip(&config.masks)
                .map(|(a, m)| (a.name.clone(), *m))
                .collect(),
        }
    }

    /// The mask of an attribute (`None` for names that are not attributes). A person
    /// name supplied in parts is stored as `name.given` and `name.family`: under
    /// `family_initial` the given part shows its initial, the family part is in clear;
    /// under other masks both parts take the attribute's mask.
    pub fn mask_of(&self, attr: &str) -> Option<Mask> {
        let m = match attr.split_once('.') {
            Some((a, part)) => match (self.by_attr.get(a).copied()?, part) {
                (Mask::FamilyInitial, "family") => Mask::None,
                (Mask::FamilyInitial, _) => Mask::Initial,
                (m, _) => m,
            },
            None => self.by_attr.get(attr).copied()?,
        };
        (m != Mask::None).then_some(m)
    }

    /// A value of `attr` masked.
    pub fn value(&self, attr: &str, v: &str) -> String {
        self.mask_of(attr)
            .map_or_else(|| v.to_string(), |m| m.apply(v))
    }

    /// Masks a JSON answer in place.
    pub fn mask_json(&self, v: &mut Value) {
        if let Value::Object(o) = v {
            if let (Some(Value::String(code)), Some(Value::String(_))) =
                (o.get("code"), o.get("message"))
            {
                if VALUE_ERRORS.contains(&code.as_str()) {
                    o.insert(
                        "message".into(),
                        Value::String(format!(
                            "{code}: the details may quote personal data and are shown to keys with the pii scope only"
                        )),
                    );
                }
            }
        }
        self.walk(v);
    }

    fn walk(&self, v: &mut Value) {
        match v {
            Value::Array(a) => a.iter_mut().for_each(|x| self.walk(x)),
            Value::Object(o) => {
                // A survivorship conflict names its attribute in a field.
                if let Some(m) = o
                    .get("attribute")
                    .and_then(Value::as_str)
                    .and_then(|a| self.mask_of(a))
                {
                    if let Some(g) = o.get_mut("golden") {
                        mask_leaf(m, g);
                    }
                    if let Some(Value::Array(cs)) = o.get_mut("candidates") {
                        for c in cs {
                            if let Some(x) = c.get_mut("value") {
                                mask_leaf(m, x);
                            }
                        }
                    }
                }
                for (k, child) in o.iter_mut() {
                    match self.mask_of(k) {
                        Some(m) => mask_under(m, child),
                        // Activity free text (a ticket's description) may say anything.
                        None if k == FREE_TEXT => mask_leaf(Mask::Redact, child),
                        None => self.walk(child),
                    }
                }
            }
            _ => {}
        }
    }
}

/// The key of activity free text in answers ([`crate::activity::Activity::text`]): always
/// redacted without the pii scope.
pub const FREE_TEXT: &str = "free_text";

fn mask_leaf(m: Mask, v: &mut Value) {
    if let Value::String(s) = v {
        *s = m.apply(s);
    }
}

/// Masks what an attribute key holds: a string, a `{"value", ...}` object (golden value,
/// override) whose nested objects (a golden value's `override`) are masked the same way,
/// or a list of these.
fn mask_under(m: Mask, v: &mut Value) {
    match v {
        Value::String(_) => mask_leaf(m, v),
        Value::Array(a) => a.iter_mut().for_each(|x| mask_under(m, x)),
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "value" || x.is_object() {
                    mask_under(m, x);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_masks_as_documented() {
        assert_eq!(Mask::Last4.apply("+14155550101"), "+*******0101");
        assert_eq!(Mask::Last4.apply("(415) 555-0101"), "******0101");
        assert_eq!(
            Mask::Email.apply("john.smith@example.com"),
            "j***@example.com"
        );
        assert_eq!(Mask::Year.apply("1980-03-15"), "1980");
        assert_eq!(Mask::Year.apply("03/15/1980"), "1980");
        assert_eq!(Mask::FamilyInitial.apply("John Robert Smith"), "J. Smith");
        assert_eq!(Mask::FamilyInitial.apply("SMITH, John"), "J. Smith");
        assert_eq!(Mask::FamilyInitial.apply("张伟"), "W. Zhang");
        assert_eq!(Mask::Initial.apply("john"), "J.");
        assert_eq!(Mask::Prefix2.apply("94103"), "94***");
        assert_eq!(Mask::Redact.apply("1 Main St"), "***");
        assert_eq!(Mask::None.apply("Acme"), "Acme");
    }
}
