//! Blocking keys: short strings derived from a profile such that records which might describe
//! the same customer share at least one of them.
//!
//! A rule's key is the combination of one fragment per part (`name.family+birth_date` ->
//! `n:SM0+d:19800304`). Fragments are prefixed by what they hold, not by the rule, so a given
//! name in one record meets the same string as a family name in another: swapped name order
//! still shares keys. A rule whose part has no value yields no key (a null never matches).
//! Dates also yield their day/month-swapped form, so a transposed date still meets.

use crate::config::{AttrKind, BlockingRule, Config, NamePart};
use crate::ingest::profile::{NameNorm, Norm, Profile};
use crate::normalize;

/// At most this many keys per rule, so a name with many readings cannot flood the index.
const MAX_KEYS_PER_RULE: usize = 12;

/// All blocking keys of a profile, sorted and deduplicated.
pub fn keys(config: &Config, profile: &Profile) -> Vec<String> {
    let mut out = Vec::new();
    for rule in &config.matching.blocking {
        rule_keys(config, rule, profile, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The keys one blocking rule derives from a profile (training runs per rule).
pub fn keys_of_rule(config: &Config, rule: &BlockingRule, profile: &Profile) -> Vec<String> {
    let mut out = Vec::new();
    rule_keys(config, rule, profile, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

fn rule_keys(config: &Config, rule: &BlockingRule, profile: &Profile, out: &mut Vec<String>) {
    let mut combos: Vec<String> = vec![String::new()];
    for part in &rule.parts {
        let Some(Some(value)) = profile.attrs.get(part.attr) else {
            return;
        };
        let frags = fragments(
            config.attributes[part.attr].kind,
            part.attr,
            part.part,
            value,
        );
        if frags.is_empty() {
            return;
        }
        let mut next = Vec::new();
        for c in &combos {
            for f in &frags {
                if next.len() >= MAX_KEYS_PER_RULE {
                    break;
                }
                next.push(if c.is_empty() {
                    f.clone()
                } else {
                    format!("{c}+{f}")
                });
            }
        }
        combos = next;
    }
    out.extend(combos.into_iter().filter(|c| !c.is_empty()));
}

/// Phonetic code of a name token; short codes (pinyin syllables, "li") keep the token itself,
/// which is more selective than a one-letter code.
pub fn name_code(token: &str) -> String {
    let code = normalize::metaphone(token);
    if code.len() < 2 {
        token.to_string()
    } else {
        code
    }
}

fn given_codes(n: &NameNorm) -> Vec<String> {
    let Some(first) = n.given.first() else {
        return Vec::new();
    };
    let mut codes = vec![name_code(first)];
    for root in normalize::nickname_roots(first) {
        codes.push(name_code(root));
    }
    if n.given.len() > 1 {
        codes.push(name_code(&n.given.concat()));
    }
    codes.sort_unstable();
    codes.dedup();
    codes
}

fn family_codes(n: &NameNorm) -> Vec<String> {
    let mut codes: Vec<String> = n
        .family
        .iter()
        .chain(&n.alt)
        .map(|t| name_code(t))
        .collect();
    if n.family.len() > 1 {
        codes.push(name_code(&n.family.concat()));
    }
    codes.sort_unstable();
    codes.dedup();
    codes
}

fn fragments(kind: AttrKind, attr: usize, part: Option<NamePart>, value: &Norm) -> Vec<String> {
    match (value, part) {
        (Norm::Name(n), Some(NamePart::Given)) => given_codes(n)
            .into_iter()
            .map(|c| format!("n:{c}"))
            .collect(),
        (Norm::Name(n), Some(NamePart::Family)) => family_codes(n)
            .into_iter()
            .map(|c| format!("n:{c}"))
            .collect(),
        (Norm::Name(n), None) => {
            let given = given_codes(n);
            let family = family_codes(n);
            let mut v = Vec::new();
            match (given.is_empty(), family.is_empty()) {
                (false, false) => {
                    for g in &given {
                        for f in &family {
                            let (x, y) = if g <= f { (g, f) } else { (f, g) };
                            v.push(format!("nn:{x}~{y}"));
                        }
                    }
                    // Initial plus family name: "J. Smith" meets "John Smith".
                    let initial = &n.given[0][..n.given[0]
                        .char_indices()
                        .nth(1)
                        .map_or(n.given[0].len(), |(i, _)| i)];
                    for f in &family {
                        v.push(format!("ni:{f}~{initial}"));
                    }
                }
                (true, false) => v.extend(family.iter().map(|f| format!("n:{f}"))),
                (false, true) => v.extend(given.iter().map(|g| format!("n:{g}"))),
                (true, true) => {}
            }
            v
        }
        (Norm::Str(s), _) => match kind {
            AttrKind::Email => vec![format!("e:{s}")],
            AttrKind::Phone => {
                let digits: String = s.chars().filter(char::is_ascii_digit).collect();
                let tail = &digits[digits.len().saturating_sub(8)..];
                if tail.len() >= 7 {
                    vec![format!("p:{tail}")]
                } else {
                    Vec::new()
                }
            }
            AttrKind::Date => {
                let mut v = vec![format!("d:{}", s.replace('-', ""))];
                // Day and month swapped (when both could be months) meet too.
                if let (Some(y), Some(m), Some(d)) = (s.get(..4), s.get(5..7), s.get(8..10)) {
                    if s.len() == 10 && d != m && d <= "12" {
                        v.push(format!("d:{y}{d}{m}"));
                    }
                }
                v
            }
            AttrKind::Postcode => vec![format!("z:{}", normalize::postcode_area(s))],
            AttrKind::Identifier => vec![format!("i{attr}:{s}")],
            _ => vec![format!("t{attr}:{s}")],
        },
        (Norm::Tokens(t), _) => {
            let (number, word) = if kind == AttrKind::Address {
                street_of(t)
            } else {
                (None, t.iter().find(|x| !is_numeric(x)))
            };
            match (kind, number, word) {
                (AttrKind::Address, Some(n), Some(w)) => vec![format!("a:{n}~{w}")],
                (_, _, Some(w)) => vec![format!("w{attr}:{w}")],
                _ => Vec::new(),
            }
        }
    }
}

fn is_numeric(t: &str) -> bool {
    t.bytes().any(|c| c.is_ascii_digit())
}

/// Street types as [`normalize::address_tokens`] writes them.
const STREET_TYPES: &[&str] = &[
    "rd", "st", "ave", "dr", "pl", "ct", "cres", "blvd", "ln", "tce", "cct", "pde", "hwy", "sq",
    "cl", "pkwy", "way",
];

/// The house number and street name of an address, wherever the written form puts them: the
/// word before the first street type (`main` in `12 n main st`, `renmin` in both `290 renmin rd
/// yuexiu` and `yuexiu renmin rd 290`), the number before that word or after the type; without
/// a street type, the first number and the first word.
fn street_of(t: &[String]) -> (Option<&String>, Option<&String>) {
    let first_number = t.iter().find(|x| is_numeric(x));
    let street = (1..t.len()).find(|&p| {
        STREET_TYPES.contains(&t[p].as_str())
            && !is_numeric(&t[p - 1])
            && !STREET_TYPES.contains(&t[p - 1].as_str())
    });
    match street {
        Some(p) => {
            let number = p
                .checked_sub(2)
                .map(|q| &t[q])
                .filter(|x| is_numeric(x))
                .or(t.get(p + 1).filter(|x| is_numeric(x)))
                .or(first_number);
            (number, Some(&t[p - 1]))
        }
        None => (first_number, t.iter().find(|x| !is_numeric(x))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_meet_their_transposed_form() {
        let a = fragments(AttrKind::Date, 0, None, &Norm::Str("1980-03-04".into()));
        let b = fragments(AttrKind::Date, 0, None, &Norm::Str("1980-04-03".into()));
        assert!(a.iter().any(|k| b.contains(k)), "{a:?} {b:?}");
        let c = fragments(AttrKind::Date, 0, None, &Norm::Str("1980-03-25".into()));
        assert_eq!(c.len(), 1, "day 25 cannot be a month");
    }

    #[test]
    fn an_address_in_either_written_form_meets() {
        let key = |s: &str| {
            fragments(
                AttrKind::Address,
                0,
                None,
                &Norm::Tokens(normalize::address_tokens(s)),
            )
        };
        assert_eq!(key("越秀区人民路290号"), key("290 Renmin Road, Yuexiu"));
        assert_eq!(
            key("锦江区迎宾大道328号2单元1002室"),
            key("Rm 1002, Unit 2, No. 328 Yingbin Avenue, Jinjiang")
        );
        assert_eq!(key("12 N Main St Apt 4"), vec!["a:12~main".to_string()]);
        assert_eq!(key("12 Main"), vec!["a:12~main".to_string()]);
        assert_ne!(key("12 Main St"), key("14 Main St"));
    }

    #[test]
    fn swapped_names_share_the_whole_name_key() {
        let n = |g: &str, f: &str| {
            Norm::Name(NameNorm {
                given: vec![g.into()],
                family: vec![f.into()],
                ..Default::default()
            })
        };
        let a = fragments(AttrKind::PersonName, 0, None, &n("wei", "zhang"));
        let b = fragments(AttrKind::PersonName, 0, None, &n("zhang", "wei"));
        assert!(a.iter().any(|k| b.contains(k)), "{a:?} {b:?}");
    }
}
