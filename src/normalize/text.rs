//! Addresses, postcodes, company names, identifiers and free text.

use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

use super::ascii_fold;

/// Street-type and direction words folded to one short form.
fn fold_address_word(w: &str) -> &str {
    match w {
        "street" | "str" | "st" | "saint" => "st",
        "road" | "rd" => "rd",
        "avenue" | "ave" | "av" => "ave",
        "drive" | "dr" => "dr",
        "place" | "pl" => "pl",
        "court" | "ct" => "ct",
        "crescent" | "cres" | "cr" => "cres",
        "boulevard" | "blvd" => "blvd",
        "lane" | "ln" => "ln",
        "terrace" | "tce" | "ter" => "tce",
        "circuit" | "cct" => "cct",
        "parade" | "pde" => "pde",
        "highway" | "hwy" => "hwy",
        "square" | "sq" => "sq",
        "close" | "cl" => "cl",
        "apartment" | "apt" | "unit" | "flat" => "unit",
        "suite" | "ste" => "ste",
        "floor" | "fl" => "fl",
        "building" | "bldg" => "bldg",
        "mount" | "mt" => "mt",
        "north" | "n" => "n",
        "south" | "s" => "s",
        "east" | "e" => "e",
        "west" | "w" => "w",
        other => other,
    }
}

/// Address tokens: ASCII-folded, punctuation removed, street types and directions folded
/// ("12 Main Street" and "12 main st." agree). Han characters are kept one per token.
pub fn address_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let folded: String = s.nfkc().collect::<String>().to_lowercase();
    let mut latin = String::new();
    for c in folded.chars() {
        if super::has_han(&c.to_string()) {
            out.extend(tokens_of(&latin));
            latin.clear();
            out.push(c.to_string());
        } else {
            latin.push(c);
        }
    }
    out.extend(tokens_of(&latin));
    out
}

fn tokens_of(s: &str) -> Vec<String> {
    ascii_fold(s)
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| fold_address_word(t).to_string())
        .collect()
}

/// Postcode: NFKC, uppercase, spaces and dashes removed.
pub fn normalize_postcode(s: &str) -> String {
    s.nfkc()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase()
}

const LEGAL_FORMS: &[&str] = &[
    "ltd",
    "limited",
    "inc",
    "incorporated",
    "llc",
    "gmbh",
    "ag",
    "sa",
    "sarl",
    "bv",
    "nv",
    "plc",
    "co",
    "corp",
    "corporation",
    "company",
    "pty",
    "llp",
    "lp",
    "oy",
    "ab",
    "as",
    "spa",
    "srl",
    "kk",
    "the",
];
const HAN_LEGAL_FORMS: &[&str] = &["股份有限公司", "有限责任公司", "有限公司", "公司"];

/// Company tokens: legal forms dropped ("Acme Corp" and "ACME Corporation" agree), "&" read as
/// "and", Han characters one per token.
pub fn company_tokens(s: &str) -> Vec<String> {
    let mut t: String = s.nfkc().collect::<String>().replace('&', " and ");
    for f in HAN_LEGAL_FORMS {
        t = t.replace(f, " ");
    }
    address_like(&t)
        .into_iter()
        .filter(|w| !LEGAL_FORMS.contains(&w.as_str()))
        .collect()
}

fn address_like(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut latin = String::new();
    for c in s.chars() {
        if super::has_han(&c.to_string()) {
            out.extend(
                ascii_fold(&latin)
                    .split(' ')
                    .filter(|x| !x.is_empty())
                    .map(String::from),
            );
            latin.clear();
            out.push(c.to_string());
        } else {
            latin.push(c);
        }
    }
    out.extend(
        ascii_fold(&latin)
            .split(' ')
            .filter(|x| !x.is_empty())
            .map(String::from),
    );
    out
}

/// Identifier: NFKC, uppercase, only `[A-Z0-9]` kept.
pub fn normalize_identifier(s: &str) -> String {
    s.nfkc()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase()
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "of", "on",
    "or", "that", "the", "to", "was", "with",
];

static STEMMER: LazyLock<rust_stemmers::Stemmer> =
    LazyLock::new(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English));

/// Free text: ASCII-folded words, stop words dropped, each stemmed (English Snowball).
pub fn text_tokens(s: &str) -> Vec<String> {
    ascii_fold(s)
        .split(' ')
        .filter(|t| !t.is_empty() && !STOP_WORDS.contains(t))
        .map(|t| STEMMER.stem(t).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_fold_abbreviations() {
        assert_eq!(
            address_tokens("12 Main Street"),
            address_tokens("12 main st.")
        );
        assert_eq!(
            address_tokens("400 Park Avenue, Apt 5"),
            ["400", "park", "ave", "unit", "5"]
        );
        assert_eq!(address_tokens("南京路1号"), ["南", "京", "路", "1", "号"]);
        assert!(address_tokens("💥").is_empty());
    }

    #[test]
    fn companies_drop_legal_forms() {
        assert_eq!(
            company_tokens("Acme Corp"),
            company_tokens("ACME Corporation")
        );
        assert_eq!(
            company_tokens("Johnson & Sons LLC"),
            ["johnson", "and", "sons"]
        );
        assert_eq!(company_tokens("华为技术有限公司"), ["华", "为", "技", "术"]);
    }

    #[test]
    fn codes_and_text() {
        assert_eq!(normalize_postcode("nw1 6xe"), "NW16XE");
        assert_eq!(normalize_identifier("123-45 6789"), "123456789");
        assert_eq!(
            text_tokens("The customers were complaining"),
            ["custom", "were", "complain"]
        );
    }
}
