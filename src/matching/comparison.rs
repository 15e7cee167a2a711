//! Comparisons and their ordered levels.
//!
//! A comparison looks at one attribute (or one part of a person name) of two profiles and
//! returns the index of the first level the pair reaches, best first, or `None` (the null
//! level, no weight) when either side has no value. Each [`Method`] has a fixed list of levels
//! named in [`level_names`]; their m and u probabilities live in the model.

use crate::config::{Method, NamePart};
use crate::ingest::profile::{NameNorm, Norm, Profile};
use crate::normalize;
use std::borrow::Cow;

use super::similarity::{best_jw, dl, jw, name_level, names_swapped, soft_token_overlap};

/// The date level of birth dates ten years or more apart (`years_apart_10`): another
/// generation, not a typo.
pub const DATE_YEARS_APART: u8 = 5;

/// The names of a method's levels, best first; the last is "else" (for dates, "years_apart_10"
/// follows it).
pub fn level_names(method: Method) -> &'static [&'static str] {
    match method {
        Method::Name => &[
            "exact",
            "equivalent",
            "jaro_winkler_0.92_or_one_edit",
            "jaro_winkler_0.8_or_initial",
            "else",
        ],
        Method::Email => &[
            "exact",
            "same_local_part",
            "local_part_jaro_winkler_0.88",
            "else",
        ],
        Method::Phone => &[
            "exact_e164",
            "same_national_number",
            "same_last_8_digits",
            "same_last_7_digits",
            "else",
        ],
        Method::Date => &[
            "exact",
            "day_month_swapped",
            "one_edit",
            "same_year",
            "else",
            "years_apart_10",
        ],
        Method::Address => &[
            "same_tokens",
            "token_overlap_0.75",
            "token_overlap_0.5",
            "else",
        ],
        Method::Postcode => &["exact", "one_edit", "else"],
        Method::Text => &["exact", "jaro_winkler_0.92", "jaro_winkler_0.8", "else"],
        Method::Tokens => &["same_tokens", "token_overlap_0.6", "else"],
        Method::Identifier => &["exact", "one_edit_or_transposition", "else"],
    }
}

/// Default `[m, u]` per level before any training: m is the share of true matches reaching the
/// level, u the share of non-matches. Chosen from typical customer data, not from one data set.
pub fn default_levels(method: Method, part: Option<NamePart>) -> &'static [[f64; 2]] {
    match (method, part) {
        (Method::Name, Some(NamePart::Family)) => &[
            [0.80, 0.004],
            [0.04, 0.001],
            [0.08, 0.003],
            [0.03, 0.02],
            [0.05, 0.972],
        ],
        (Method::Name, _) => &[
            [0.78, 0.01],
            [0.05, 0.002],
            [0.08, 0.005],
            [0.04, 0.03],
            [0.05, 0.953],
        ],
        (Method::Email, _) => &[
            [0.85, 0.0001],
            [0.05, 0.0005],
            [0.03, 0.002],
            [0.07, 0.9974],
        ],
        (Method::Phone, _) => &[
            [0.74, 0.0001],
            // One number read with two country codes (or none): as rare among non-matches as
            // an exact agreement that also differs in form.
            [0.06, 0.00001],
            [0.07, 0.0002],
            [0.03, 0.001],
            [0.10, 0.99869],
        ],
        (Method::Date, _) => &[
            [0.82, 0.0005],
            [0.02, 0.0005],
            [0.10, 0.008],
            [0.02, 0.02],
            [0.035, 0.35],
            // Ten or more years apart and not one slip of a digit: a parent and a child.
            [0.005, 0.621],
        ],
        (Method::Address, _) => &[[0.70, 0.0005], [0.15, 0.002], [0.07, 0.01], [0.08, 0.9875]],
        (Method::Postcode, _) => &[[0.85, 0.003], [0.08, 0.03], [0.07, 0.967]],
        (Method::Text, _) => &[[0.80, 0.005], [0.08, 0.005], [0.04, 0.03], [0.08, 0.96]],
        (Method::Tokens, _) => &[[0.80, 0.001], [0.10, 0.01], [0.10, 0.989]],
        (Method::Identifier, _) => &[[0.85, 0.00001], [0.08, 0.0001], [0.07, 0.99989]],
    }
}

/// Level reached by two profiles on one comparison, or `None` when either value is missing.
pub fn level(
    method: Method,
    attr: usize,
    part: Option<NamePart>,
    a: &Profile,
    b: &Profile,
) -> Option<u8> {
    let (va, vb) = (a.attrs.get(attr)?.as_ref()?, b.attrs.get(attr)?.as_ref()?);
    Some(match (method, va, vb) {
        (Method::Name, Norm::Name(x), Norm::Name(y)) => return name_part_level(x, y, part),
        (Method::Email, Norm::Str(x), Norm::Str(y)) => email_level(x, y),
        (Method::Phone, Norm::Str(x), Norm::Str(y)) => phone_level(x, y),
        (Method::Date, Norm::Str(x), Norm::Str(y)) => date_level(x, y),
        (Method::Address | Method::Tokens, x, y) => {
            let (tx, ty) = (tokens(x), tokens(y));
            if tx.is_empty() || ty.is_empty() {
                return None;
            }
            let overlap = soft_token_overlap(&tx, &ty);
            let cuts: &[f64] = if method == Method::Address {
                &[0.999, 0.75, 0.5]
            } else {
                &[0.999, 0.6]
            };
            cuts.iter()
                .position(|&c| overlap >= c)
                .unwrap_or(cuts.len()) as u8
        }
        (Method::Postcode | Method::Identifier, Norm::Str(x), Norm::Str(y)) => {
            let (x, y) = if method == Method::Postcode {
                (normalize::postcode_area(x), normalize::postcode_area(y))
            } else {
                (x.as_str(), y.as_str())
            };
            if x == y {
                0
            } else if dl(x, y) <= 1 {
                1
            } else {
                2
            }
        }
        (Method::Text, x, y) => {
            let (sx, sy) = (text(x), text(y));
            if sx == sy {
                0
            } else {
                let s = jw(&sx, &sy);
                if s >= 0.92 {
                    1
                } else if s >= 0.8 {
                    2
                } else {
                    3
                }
            }
        }
        _ => return None,
    })
}

/// The tokens of a value; borrowed when it is stored as tokens (no copy per scored pair).
fn tokens(n: &Norm) -> Cow<'_, [String]> {
    match n {
        Norm::Tokens(t) => Cow::Borrowed(t),
        // Free text is compared as stemmed words.
        Norm::Str(s) => Cow::Owned(crate::normalize::text_tokens(s)),
        Norm::Name(n) => Cow::Owned(n.given.iter().chain(&n.family).cloned().collect()),
    }
}

/// The text of a value; borrowed when it is stored as a string.
fn text(n: &Norm) -> Cow<'_, str> {
    match n {
        Norm::Str(s) => Cow::Borrowed(s),
        Norm::Tokens(t) => Cow::Owned(t.join(" ")),
        Norm::Name(n) => Cow::Owned(n.full()),
    }
}

/// Level of one part of two person names, after lining the names up (swapped order counts as
/// agreement). Names written in the same Hanzi agree exactly on both parts.
fn name_part_level(a: &NameNorm, b: &NameNorm, part: Option<NamePart>) -> Option<u8> {
    if let (Some(ha), Some(hb)) = (&a.han, &b.han) {
        if ha == hb {
            return Some(0);
        }
    }
    let swapped = names_swapped(a, b);
    let (x, y, alt_x, alt_y) = match part {
        Some(part) => lined_up(a, b, swapped, part),
        // A given_name or family_name attribute keeps its tokens in one of the two lists.
        None => {
            let ta: Vec<String> = a.given.iter().chain(&a.family).cloned().collect();
            let tb: Vec<String> = b.given.iter().chain(&b.family).cloned().collect();
            if ta.is_empty() || tb.is_empty() {
                return None;
            }
            return Some(name_level(
                &ta,
                &tb,
                &a.alt,
                &b.alt,
                !a.family.is_empty(),
                false,
            ));
        }
    };
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let mut pinyin = false;
    if part == Some(NamePart::Given) {
        // "Kevin Wang" and 王伟 / "Wang Wei": the English name a Chinese person uses beside
        // their own says nothing about the Chinese given name, for or against. Looked for in
        // every way the parts can line up: "Wei Wang" may have been read either way round.
        let lineups = [
            (
                &a.given,
                &a.family,
                &a.alt[..],
                &b.given,
                &b.family,
                &b.alt[..],
            ),
            (
                &a.given,
                &a.family,
                &a.alt[..],
                &b.family,
                &b.given,
                &[][..],
            ),
            (
                &a.family,
                &a.given,
                &[][..],
                &b.given,
                &b.family,
                &b.alt[..],
            ),
        ];
        for (gx, fx, alt_fx, gy, fy, alt_fy) in lineups {
            if chinese_surname(fx, alt_fx)
                && chinese_surname(fy, alt_fy)
                && name_level(fx, fy, alt_fx, alt_fy, true, false) <= 1
                && ((pinyin_given(a, gx) && english_beside(gx, gy))
                    || (pinyin_given(b, gy) && english_beside(gy, gx)))
            {
                return None;
            }
        }
        // The family names the given names stand beside, lined up like them.
        let (fx, fy, alt_fx, alt_fy) = lined_up(a, b, swapped, NamePart::Family);
        if chinese_surname(fx, alt_fx)
            && chinese_surname(fy, alt_fy)
            && name_level(fx, fy, alt_fx, alt_fy, true, false) <= 1
        {
            pinyin = pinyin_given(a, x) && pinyin_given(b, y);
        }
    }
    Some(name_level(
        x,
        y,
        alt_x,
        alt_y,
        part == Some(NamePart::Family),
        pinyin,
    ))
}

/// Tokens of one part of two names, lined up, with the family readings that go with them:
/// `(a's tokens, b's tokens, a's readings, b's readings)`. Names written in opposite orders
/// (`swapped`) line up crossed, and then it matters which one is reversed: "Reeves David"
/// against "Amy Reeves" is David Reeves (given names David / Amy differ, a household) and
/// not Reeves Amy. The reversed side is the one whose given slot reads more like a family
/// name and whose family slot more like a given name; with nothing to tell, a fixed order of
/// the two names decides, so a pair scores the same whichever record comes first.
fn lined_up<'n>(
    a: &'n NameNorm,
    b: &'n NameNorm,
    swapped: bool,
    part: NamePart,
) -> (&'n [String], &'n [String], &'n [String], &'n [String]) {
    let none: &[String] = &[];
    match (part, swapped, swapped && a_reversed(a, b)) {
        (NamePart::Given, false, _) => (&a.given, &b.given, none, none),
        (NamePart::Family, false, _) => (&a.family, &b.family, &a.alt, &b.alt),
        // `b` written family first: its family slot holds the given name.
        (NamePart::Given, true, false) => (&a.given, &b.family, none, &b.alt),
        (NamePart::Family, true, false) => (&a.family, &b.given, &a.alt, none),
        // `a` written family first.
        (NamePart::Given, true, true) => (&a.family, &b.given, &a.alt, none),
        (NamePart::Family, true, true) => (&a.given, &b.family, none, &b.alt),
    }
}

/// Of two names written in opposite orders, whether `a` is the one written family first.
fn a_reversed(a: &NameNorm, b: &NameNorm) -> bool {
    // How much a slot reads as a given name: a known given name or nickname counts for, a
    // common Chinese surname against.
    let given_like = |t: &[String]| match t {
        [g] if !normalize::nickname_roots(g).is_empty() => 1,
        [f] if normalize::is_chinese_surname(f) => -1,
        _ => 0,
    };
    let reversed = |n: &NameNorm| given_like(&n.family) - given_like(&n.given);
    match reversed(a).cmp(&reversed(b)) {
        std::cmp::Ordering::Equal => (&a.given, &a.family) > (&b.given, &b.family),
        o => o.is_gt(),
    }
}

/// The family tokens (or one of their readings) are a common Chinese surname.
fn chinese_surname(family: &[String], alt: &[String]) -> bool {
    match family {
        [f] => {
            normalize::is_chinese_surname(f) || alt.iter().any(|r| normalize::is_chinese_surname(r))
        }
        _ => false,
    }
}

/// `given` (a name's given tokens as lined up) reads as a Chinese given name: written in
/// Hanzi, or pinyin syllables.
fn pinyin_given(name: &NameNorm, given: &[String]) -> bool {
    (name.han.is_some() || given.iter().all(|t| normalize::is_pinyin_name(t)))
        && !given.iter().any(|t| t.len() == 1)
}

/// `western` is an English name beside the pinyin given name `pinyin`, not a misspelling of
/// it: one Western given name ([`western_given`]) more than one edit away (`Xiaoyna` is
/// Xiaoyan typed fast, `Kevin` is another name).
fn english_beside(pinyin: &[String], western: &[String]) -> bool {
    western_given(western)
        && match (pinyin, western) {
            ([p], [w]) => dl(p, w) > 1,
            _ => true,
        }
}

/// `given` is one Western given name: a known name or nickname, or no pinyin reading.
fn western_given(given: &[String]) -> bool {
    match given {
        [g] => {
            g.len() >= 3
                && (!normalize::is_pinyin_name(g) || !normalize::nickname_roots(g).is_empty())
        }
        _ => false,
    }
}

/// The value two profiles agree on at the exact level, as counted by term frequencies: `a`'s
/// side of the aligned name part, or `a`'s text. When two names agree with their parts swapped
/// ("Adams Lisa" / "Lisa Adams"), also `b`'s side of the part ("lisa" for the given name): the
/// string from `a`'s side plays the other role there, so its frequency must be looked up on
/// both sides (a family name is rare as a given name).
pub fn exact_values(
    method: Method,
    attr: usize,
    part: Option<NamePart>,
    a: &Profile,
    b: &Profile,
) -> Option<(String, Option<String>)> {
    match (
        method,
        a.attrs.get(attr)?.as_ref()?,
        b.attrs.get(attr)?.as_ref()?,
    ) {
        (Method::Name, Norm::Name(x), Norm::Name(y)) => {
            let Some(part) = part else {
                return Some((x.full(), None));
            };
            fn side(n: &NameNorm, part: NamePart) -> &[String] {
                match part {
                    NamePart::Given => &n.given,
                    NamePart::Family => &n.family,
                }
            }
            let tokens = side(x, part);
            if tokens.is_empty() {
                return None;
            }
            let other = Some(side(y, part))
                .filter(|t| !t.is_empty() && *t != tokens && names_swapped(x, y))
                .map(|t| t.join(" "));
            Some((tokens.join(" "), other))
        }
        (Method::Postcode, Norm::Str(x), _) => {
            Some((normalize::postcode_area(x).to_string(), None))
        }
        (Method::Text | Method::Email | Method::Phone, Norm::Str(x), _) => Some((x.clone(), None)),
        _ => None,
    }
}

/// Mail providers with millions of users, where namesakes end up with the same name-built
/// address (`mjones@gmail.com`); at a company's own domain such an address is one person's.
const BIG_PROVIDERS: &[&str] = &[
    "126.com",
    "139.com",
    "163.com",
    "aliyun.com",
    "aol.com",
    "att.net",
    "comcast.net",
    "foxmail.com",
    "gmail.com",
    "gmx.com",
    "gmx.net",
    "googlemail.com",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "mail.com",
    "me.com",
    "msn.com",
    "outlook.com",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "sina.com",
    "sohu.com",
    "verizon.net",
    "yahoo.com",
    "yandex.com",
    "yeah.net",
    "ymail.com",
];

/// Whether an address at a big provider has a local part built from the person's name alone
/// (`mjones`, `michael.jones`, `jones_m`, `wangming`): separators aside, it is the family
/// name, or it with the given name or its initial before or after. Namesakes share such
/// addresses, so agreeing on one says little once the names agree. A local part with digits
/// (`jsmith1987`, `li.wei88`) is not: the provider gave the plain name to someone else, and
/// the number the person chose makes the address theirs.
pub fn name_built_email(email: &str, name: &NameNorm) -> bool {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    if BIG_PROVIDERS.binary_search(&domain).is_err() {
        return false;
    }
    let local = local.split('+').next().unwrap_or(local);
    if local.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let letters: String = local
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let family = name.family.concat();
    let Some(given) = name.given.first() else {
        return false;
    };
    if letters.len() < 3 || family.is_empty() {
        return false;
    }
    let initial = &given[..given.len().min(1)];
    [
        family.clone(),
        format!("{given}{family}"),
        format!("{family}{given}"),
        format!("{initial}{family}"),
        format!("{family}{initial}"),
    ]
    .contains(&letters)
}

fn email_level(a: &str, b: &str) -> u8 {
    if a == b {
        return 0;
    }
    let la = a.split('@').next().unwrap_or(a);
    let lb = b.split('@').next().unwrap_or(b);
    // One edit catches typos; a looser similarity would re-count the name that addresses
    // like jane.doe12 and jane.doe77 are built from.
    if la == lb {
        1
    } else if la.len().min(lb.len()) >= 4 && dl(la, lb) <= 1 {
        2
    } else {
        3
    }
}

/// Phones are E.164 (`+15676697381`) or, when no region validated them, `+?` and digits.
/// Digits of a national significant number compared across country codes: the last ten (a
/// US number, a Chinese mobile without its leading 1).
const NATIONAL_DIGITS: usize = 10;

fn phone_level(a: &str, b: &str) -> u8 {
    if a == b {
        return 0;
    }
    let da: Vec<u8> = a.bytes().filter(u8::is_ascii_digit).collect();
    let db: Vec<u8> = b.bytes().filter(u8::is_ascii_digit).collect();
    let tail_eq =
        |n: usize| da.len() >= n && db.len() >= n && da[da.len() - n..] == db[db.len() - n..];
    if tail_eq(NATIONAL_DIGITS) {
        1
    } else if tail_eq(8) {
        2
    } else if tail_eq(7) {
        3
    } else {
        4
    }
}

/// Dates are ISO `YYYY-MM-DD`.
fn date_level(a: &str, b: &str) -> u8 {
    if a == b {
        return 0;
    }
    let (Some((ya, ma, da)), Some((yb, mb, db))) = (split_date(a), split_date(b)) else {
        // A value kept as supplied (not a valid date): compare its digits.
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        let (x, y) = (digits(a), digits(b));
        return if x == y {
            0
        } else if dl(&x, &y) <= 1 {
            2
        } else if x.len() >= 4 && y.len() >= 4 && x[..4] == y[..4] {
            3
        } else {
            4
        };
    };
    if ya == yb && ma == db && da == mb {
        1
    } else if dl(a, b) <= 1 {
        2
    } else if ya == yb {
        3
    } else if dl(ya, yb) > 1
        && matches!((ya.parse::<i32>(), yb.parse::<i32>()), (Ok(x), Ok(y)) if x.abs_diff(y) >= 10)
    {
        // (a slipped or swapped digit of the year, 1985 / 1958, is a typo, not a generation)
        5
    } else {
        4
    }
}

/// Whether two profiles' dates of attribute `attr` are one year apart on the same day and
/// month (`1979-12-05` / `1980-12-05`: a slipped year, two edits apart).
pub fn year_slip(attr: usize, a: &Profile, b: &Profile) -> bool {
    let (Some(Some(Norm::Str(x))), Some(Some(Norm::Str(y)))) =
        (a.attrs.get(attr), b.attrs.get(attr))
    else {
        return false;
    };
    match (split_date(x), split_date(y)) {
        (Some((ya, ma, da)), Some((yb, mb, db))) => {
            ma == mb
                && da == db
                && matches!((ya.parse::<i32>(), yb.parse::<i32>()), (Ok(p), Ok(q)) if p.abs_diff(q) == 1)
        }
        _ => false,
    }
}

fn split_date(s: &str) -> Option<(&str, &str, &str)> {
    let mut it = s.split('-');
    Some((it.next()?, it.next()?, it.next()?))
}

/// Best Jaro-Winkler of two names over all tokens, for search ranking.
pub fn name_similarity(a: &NameNorm, b: &NameNorm) -> f64 {
    let ta: Vec<String> = a.given.iter().chain(&a.family).cloned().collect();
    let tb: Vec<String> = b.given.iter().chain(&b.family).cloned().collect();
    best_jw(&ta, &tb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_reach_their_levels() {
        assert_eq!(date_level("1980-03-04", "1980-03-04"), 0);
        assert_eq!(date_level("1980-03-04", "1980-04-03"), 1);
        assert_eq!(date_level("1980-03-04", "1980-03-05"), 2);
        assert_eq!(date_level("1980-03-04", "1980-11-25"), 3);
        assert_eq!(date_level("1980-03-04", "1975-11-25"), 4);
        assert_eq!(
            date_level("1980-03-04", "1952-11-25"),
            5,
            "a generation apart"
        );
        assert_eq!(
            date_level("1980-03-04", "1990-03-04"),
            2,
            "one slipped digit"
        );
        assert_eq!(
            date_level("1985-05-05", "1958-11-05"),
            4,
            "year digits swapped"
        );
        // Impossible dates kept as supplied still compare by digits.
        assert_eq!(date_level("19800231", "1980-02-21"), 2);
    }

    #[test]
    fn phones_agree_on_trailing_digits() {
        assert_eq!(phone_level("+16502530000", "+16502530000"), 0);
        assert_eq!(phone_level("+16502530000", "+?2530000"), 3);
        assert_eq!(phone_level("+16502530000", "+446502530000"), 1);
        assert_eq!(phone_level("+16502530000", "+16602530000"), 2);
        assert_eq!(phone_level("+16502530000", "+16502539999"), 4);
    }

    #[test]
    fn emails_compare_local_parts() {
        assert_eq!(email_level("a.b@x.com", "a.b@x.com"), 0);
        assert_eq!(email_level("a.b@x.com", "a.b@y.org"), 1);
        assert_eq!(email_level("jonathan@x.com", "jonathon@y.org"), 2);
        assert_eq!(
            email_level("jane.doe12@x.com", "jane.doe77@x.com"),
            3,
            "namesakes' addresses"
        );
        assert_eq!(email_level("ann@x.com", "zed@x.com"), 3);
    }

    #[test]
    fn name_built_addresses_at_big_providers() {
        assert!(BIG_PROVIDERS.windows(2).all(|w| w[0] < w[1]), "sorted");
        let name = NameNorm {
            given: vec!["michael".into()],
            family: vec!["jones".into()],
            ..Default::default()
        };
        for built in [
            "mjones@gmail.com",
            "michael.jones@yahoo.com",
            "jones_m@hotmail.com",
            "MichaelJones+shop@gmail.com",
            "jones@qq.com",
        ] {
            assert!(name_built_email(built, &name), "{built}");
        }
        for own in [
            "mjones@acme-corp.com",
            "mjones1987@gmail.com",
            "michael.jones88@yahoo.com",
            "jones_m77+news@hotmail.com",
            "mike.jones@gmail.com",
            "mj1980@gmail.com",
            "jonesfamily@gmail.com",
        ] {
            assert!(!name_built_email(own, &name), "{own}");
        }
    }

    #[test]
    fn every_method_has_matching_defaults() {
        for m in [
            Method::Name,
            Method::Email,
            Method::Phone,
            Method::Date,
            Method::Address,
            Method::Postcode,
            Method::Text,
            Method::Tokens,
            Method::Identifier,
        ] {
            for part in [None, Some(NamePart::Family)] {
                let levels = default_levels(m, part);
                assert_eq!(levels.len(), level_names(m).len(), "{m:?}");
                let (sm, su): (f64, f64) = levels
                    .iter()
                    .fold((0.0, 0.0), |(a, b), l| (a + l[0], b + l[1]));
                assert!(
                    (sm - 1.0).abs() < 1e-9 && (su - 1.0).abs() < 1e-9,
                    "{m:?} sums {sm} {su}"
                );
            }
        }
    }
}

/// Each comparison the MDM brief expects, end to end: raw values through the configured
/// normalization, then the level reached.
#[cfg(test)]
mod expected_comparisons {
    use super::*;
    use crate::config::Config;
    use crate::ingest::{self, Position};

    const CONFIG: &str = r#"
        [attributes]
        name = { kind = "person_name" }
        email = { kind = "email" }
        phone = { kind = "phone" }
        dob = { kind = "date" }
        address = { kind = "address" }
        postcode = { kind = "postcode" }
        notes = { kind = "text" }
        [sources.s]
        format = "json"
        key = "id"
        default_region = "US"
        date_formats = ["%Y-%m-%d", "%m/%d/%Y"]
        fields = { name = "name", email = "email", phone = "phone", dob = "dob", address = "address", postcode = "postcode", notes = "notes" }
    "#;

    fn profile(config: &Config, field: &str, value: &str) -> Profile {
        let raw: ingest::RawRecord =
            serde_json::from_value(serde_json::json!({"id": "1", field: value})).unwrap();
        let src = &config.sources["s"];
        let rec = ingest::map_record(config, src, Position::Index(0), &raw).unwrap();
        ingest::profile::build(config, src, &rec).unwrap()
    }

    fn lvl(field: &str, method: Method, part: Option<NamePart>, a: &str, b: &str) -> Option<u8> {
        let config = Config::parse(CONFIG).unwrap();
        let attr = config.attr(field).unwrap();
        level(
            method,
            attr,
            part,
            &profile(&config, field, a),
            &profile(&config, field, b),
        )
    }

    fn name(part: NamePart, a: &str, b: &str) -> Option<u8> {
        lvl("name", Method::Name, Some(part), a, b)
    }

    #[test]
    fn a_misspelt_pinyin_given_name_is_no_english_name() {
        // One letter apart agrees at a typo level; an English name beside it says nothing.
        let typo = name(NamePart::Given, "Liu Xiaoyan", "Xiaoyna Liu");
        assert!(matches!(typo, Some(l) if (1..4).contains(&l)), "{typo:?}");
        assert_eq!(name(NamePart::Given, "Liu Xiaoyan", "Kevin Liu"), None);
    }

    #[test]
    fn chinese_names_in_hanzi_and_pinyin_either_order() {
        for other in ["Zhang Wei", "Wei Zhang", "ZHANG Wei", "张伟"] {
            assert_eq!(name(NamePart::Family, "张伟", other), Some(0), "{other}");
            assert_eq!(name(NamePart::Given, "张伟", other), Some(0), "{other}");
        }
        // Homophone typo: same pinyin, another character.
        assert_eq!(name(NamePart::Family, "张伟", "章伟"), Some(0));
        assert_eq!(name(NamePart::Given, "张伟", "张威"), Some(0));
        // A different given name stays different.
        assert_eq!(name(NamePart::Given, "张伟", "张小明"), Some(4));
        // Pinyin syllables are short: a Jaro-Winkler of 0.8 is another name.
        assert_eq!(
            name(NamePart::Given, "Wang Jianhua", "Wang Jianguo"),
            Some(4)
        );
        assert_eq!(
            name(NamePart::Given, "Jianhua Smith", "Jianguo Smith"),
            Some(3)
        );
        // An English name beside the Chinese one is neither agreement nor conflict.
        for english in ["Kevin Wang", "Grace Wang", "Tony Wang"] {
            for chinese in ["王伟", "Wei Wang", "WANG Wei"] {
                assert_eq!(name(NamePart::Given, english, chinese), None, "{english}");
                assert_eq!(name(NamePart::Family, english, chinese), Some(0));
            }
        }
        assert_eq!(name(NamePart::Given, "Kevin Smith", "Wei Smith"), Some(4));
    }

    #[test]
    fn western_name_variants() {
        assert_eq!(
            name(NamePart::Given, "Robert Johnson", "Bob Johnson"),
            Some(1),
            "nickname"
        );
        assert_eq!(
            name(NamePart::Given, "John Smith", "J. Smith"),
            Some(3),
            "initial"
        );
        assert_eq!(
            name(NamePart::Family, "Anna Smith-Jones", "Anna Jones"),
            Some(1),
            "hyphenated part"
        );
        assert_eq!(
            name(NamePart::Family, "Smith, John", "John Smith"),
            Some(0),
            "comma order"
        );
        assert_eq!(
            name(NamePart::Given, "Jonathan Smith", "Jonathon Smith"),
            Some(2),
            "one edit"
        );
        assert_eq!(
            name(NamePart::Family, "Mary Smith", "Smith Mary"),
            Some(0),
            "swapped fields"
        );
        assert_eq!(name(NamePart::Given, "Mary Smith", "Alice Smith"), Some(4));
    }

    #[test]
    fn dates_phones_emails_addresses_postcodes_text() {
        let d = |a: &str, b: &str| lvl("dob", Method::Date, None, a, b);
        assert_eq!(d("1980-03-15", "03/15/1980"), Some(0), "formats normalize");
        assert_eq!(
            d("1980-03-04", "1980-04-03"),
            Some(1),
            "day and month swapped"
        );
        assert_eq!(d("1980-03-15", "1980-03-16"), Some(2), "one-digit slip");
        assert_eq!(d("1980-03-15", "1980-11-02"), Some(3), "year only");
        let p = |a: &str, b: &str| lvl("phone", Method::Phone, None, a, b);
        assert_eq!(
            p("(415) 555-0101", "+1 415 555 0101"),
            Some(0),
            "equal after E.164"
        );
        assert_eq!(
            p("+1 415 555 0101", "+44 20 4555 0101"),
            Some(3),
            "same last 7 digits"
        );
        // One number in the forms of a mixed-country source read with region US: every form
        // agrees at least on the national number.
        for group in [
            &[
                "5676697381",
                "15676697381",
                "(567) 669-7381",
                "+1 567 669 7381",
            ][..],
            &[
                "13970198500",
                "(+86)13970198500",
                "8613970198500",
                "+86 139 7019 8500",
            ][..],
        ] {
            for a in group {
                for b in group {
                    assert!(p(a, b).is_some_and(|l| l <= 1), "{a} vs {b}");
                }
            }
        }
        assert_eq!(p("+86 139 7019 8500", "+86 139 7019 8501"), Some(4));
        let e = |a: &str, b: &str| lvl("email", Method::Email, None, a, b);
        assert_eq!(
            e("John.Smith@Example.com", "john.smith@example.com"),
            Some(0)
        );
        assert_eq!(
            e("john.smith@example.com", "john.smith@gmail.com"),
            Some(1),
            "same local part"
        );
        let a = |x: &str, y: &str| lvl("address", Method::Address, None, x, y);
        assert_eq!(
            a("12 Main Street", "12 main st."),
            Some(0),
            "abbreviations fold"
        );
        assert_eq!(
            a("12 Main Street Springfield", "12 Main St Springfeld"),
            Some(1),
            "typo in one token"
        );
        assert_eq!(
            a("12 Main Street Apt 4", "12 Main St"),
            Some(2),
            "partial overlap"
        );
        assert_eq!(
            lvl("postcode", Method::Postcode, None, "94105", "94106"),
            Some(1),
            "one-digit slip"
        );
        assert_eq!(
            lvl("postcode", Method::Postcode, None, "94105-1351", "94105"),
            Some(0),
            "ZIP+4 agrees with its ZIP"
        );
        assert_eq!(
            lvl("postcode", Method::Postcode, None, "94105-1351", "94106"),
            Some(1),
            "and a slip in the ZIP is a slip"
        );
        assert_eq!(
            lvl(
                "notes",
                Method::Tokens,
                None,
                "customers complaining",
                "customer complained"
            ),
            Some(0),
            "stemmed free text"
        );
    }
}
