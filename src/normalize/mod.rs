//! Interim normalization (replaced by the full module).
use unicode_normalization::UnicodeNormalization;

/// Normalization failure.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NormError {
    /// Nothing left.
    #[error("empty value")]
    Empty,
    /// Bad email.
    #[error("invalid email address {0:?}")]
    Email(String),
    /// Bad phone.
    #[error("invalid phone number {0:?}: {1}")]
    Phone(String, String),
    /// Bad date.
    #[error("invalid date {0:?}: expected one of {1}")]
    Date(String, String),
}

/// A parsed person name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonName {
    /// Given tokens.
    pub given: Vec<String>,
    /// Family tokens.
    pub family: Vec<String>,
    /// Hanzi form.
    pub han: Option<String>,
    /// Alternative family readings.
    pub family_alternatives: Vec<String>,
}

/// NFKC + lowercase + collapse spaces.
pub fn fold(s: &str) -> String {
    s.nfkc()
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// ASCII fold.
pub fn ascii_fold(s: &str) -> String {
    let d = deunicode::deunicode(&fold(s)).to_lowercase();
    d.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Any Han char.
pub fn has_han(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Readings of a Han char.
pub fn han_readings(c: char) -> Vec<String> {
    use pinyin::ToPinyinMulti;
    let mut v = Vec::new();
    if let Some(m) = c.to_pinyin_multi() {
        for p in m {
            let s = p.plain().to_string();
            if !v.contains(&s) {
                v.push(s);
            }
        }
    }
    v
}

/// Name tokens.
pub fn name_tokens(s: &str) -> Vec<String> {
    if has_han(s) {
        return vec![s
            .chars()
            .filter_map(|c| han_readings(c).into_iter().next())
            .collect()];
    }
    fold(s)
        .replace(['\'', '-', '.'], "")
        .split(|c: char| !c.is_alphanumeric())
        .map(|t| ascii_fold(t).replace(' ', ""))
        .filter(|t| !t.is_empty())
        .collect()
}

const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "jr", "sr", "ii", "iii",
];

/// Parse a full name.
pub fn parse_person_name(full: &str) -> Option<PersonName> {
    let t = full.trim();
    if has_han(t) && !t.contains(' ') {
        let chars: Vec<char> = t.chars().collect();
        let fam = han_readings(chars[0]);
        return Some(PersonName {
            family: vec![fam.first()?.clone()],
            given: if chars.len() > 1 {
                vec![chars[1..]
                    .iter()
                    .filter_map(|c| han_readings(*c).into_iter().next())
                    .collect()]
            } else {
                vec![]
            },
            han: Some(t.to_string()),
            family_alternatives: fam.into_iter().skip(1).collect(),
        });
    }
    if let Some((f, g)) = t.split_once(',') {
        return person_name_from_parts(Some(g), Some(f));
    }
    let toks: Vec<String> = t
        .split_whitespace()
        .flat_map(name_tokens)
        .filter(|x| !TITLES.contains(&x.as_str()))
        .collect();
    match toks.len() {
        0 => None,
        1 => Some(PersonName {
            family: toks,
            ..Default::default()
        }),
        n => Some(PersonName {
            given: toks[..n - 1].to_vec(),
            family: vec![toks[n - 1].clone()],
            ..Default::default()
        }),
    }
}

/// From parts.
pub fn person_name_from_parts(given: Option<&str>, family: Option<&str>) -> Option<PersonName> {
    let g: Vec<String> = given
        .map(name_tokens)
        .unwrap_or_default()
        .into_iter()
        .filter(|x| !TITLES.contains(&x.as_str()))
        .collect();
    let f = family.map(name_tokens).unwrap_or_default();
    if g.is_empty() && f.is_empty() {
        return None;
    }
    Some(PersonName {
        given: g,
        family: f,
        ..Default::default()
    })
}

/// Metaphone.
pub fn metaphone(token: &str) -> String {
    use rphonetic::Encoder;
    rphonetic::DoubleMetaphone::default().encode(token)
}

/// Nickname roots.
pub fn nickname_roots(token: &str) -> Vec<&'static str> {
    const T: &[(&str, &str)] = &[
        ("bob", "robert"),
        ("rob", "robert"),
        ("bill", "william"),
        ("liz", "elizabeth"),
        ("jim", "james"),
    ];
    T.iter()
        .filter(|(n, _)| *n == token)
        .map(|(_, f)| *f)
        .collect()
}

/// Email.
pub fn normalize_email(s: &str) -> Result<String, NormError> {
    let e = fold(s);
    let e = e.strip_prefix("mailto:").unwrap_or(&e).to_string();
    match e.split_once('@') {
        Some((l, d)) if !l.is_empty() && d.contains('.') && !d.contains('@') => Ok(e),
        _ => Err(NormError::Email(s.to_string())),
    }
}

/// Phone.
pub fn normalize_phone(s: &str, region: Option<&str>) -> Result<String, NormError> {
    let country = region.and_then(|r| r.parse::<phonenumber::country::Id>().ok());
    if let Ok(n) = phonenumber::parse(country, s) {
        if phonenumber::is_valid(&n) {
            return Ok(n.format().mode(phonenumber::Mode::E164).to_string());
        }
    }
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    if d.len() >= 7 && d.len() <= 15 {
        Ok(format!("+?{d}"))
    } else {
        Err(NormError::Phone(s.to_string(), "too few digits".into()))
    }
}

/// Date.
pub fn normalize_date(s: &str, formats: &[String]) -> Result<String, NormError> {
    for f in formats {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s.trim(), f) {
            return Ok(d.format("%Y-%m-%d").to_string());
        }
    }
    Err(NormError::Date(s.to_string(), formats.join(", ")))
}

/// Address tokens.
pub fn address_tokens(s: &str) -> Vec<String> {
    ascii_fold(s)
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| match t {
            "street" | "str" => "st".to_string(),
            "road" => "rd".to_string(),
            "avenue" | "av" => "ave".to_string(),
            "place" => "pl".to_string(),
            other => other.to_string(),
        })
        .collect()
}

/// Postcode.
pub fn normalize_postcode(s: &str) -> String {
    s.nfkc()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase()
}

/// Company tokens.
pub fn company_tokens(s: &str) -> Vec<String> {
    ascii_fold(s)
        .split(' ')
        .filter(|t| !t.is_empty() && !["ltd", "inc", "llc", "gmbh"].contains(t))
        .map(String::from)
        .collect()
}

/// Identifier.
pub fn normalize_identifier(s: &str) -> String {
    s.nfkc()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_uppercase()
}
