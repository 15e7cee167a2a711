//! Person names: titles and suffixes dropped, "Family, Given" and "Given Family" orders, accents
//! folded, Hanzi converted to pinyin (every reading of a polyphonic surname kept), nicknames.
//!
//! Order is a hint, not a fact: "Zhang Wei" is read as given "zhang", family "wei" while 张伟 is
//! family "zhang", given "wei". The matcher lines the parts up itself (swapped order agrees).

use std::collections::HashMap;
use std::sync::LazyLock;

use pinyin::{ToPinyin, ToPinyinMulti};

use super::fold;

/// A parsed person name; tokens are lowercase ASCII (pinyin without tones for Hanzi).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonName {
    /// Given-name tokens (middle names included).
    pub given: Vec<String>,
    /// Family-name tokens.
    pub family: Vec<String>,
    /// The name in Hanzi when it was written so.
    pub han: Option<String>,
    /// Other pinyin readings of a polyphonic Han family name (曾: zeng, ceng).
    pub family_alternatives: Vec<String>,
}

impl PersonName {
    /// All tokens, given then family.
    pub fn tokens(&self) -> Vec<&str> {
        self.given
            .iter()
            .chain(&self.family)
            .map(String::as_str)
            .collect()
    }

    /// True when no token is left.
    pub fn is_empty(&self) -> bool {
        self.given.is_empty() && self.family.is_empty()
    }
}

/// Titles and honorifics dropped anywhere in a name.
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "rev", "herr", "frau", "mme",
    "mlle", "sr", "sra",
];
/// Suffixes dropped at the end of a name.
const SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "dds"];
/// Chinese honorifics dropped from Hanzi names.
const HAN_TITLES: &[&str] = &["先生", "女士", "小姐", "太太", "博士", "老师"];
/// Two-character Chinese surnames.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "令狐", "独孤", "南宫", "西门", "端木", "轩辕", "钟离", "澹台", "申屠", "太史", "闻人",
    "呼延",
];

/// True when `s` contains a CJK unified ideograph.
pub fn has_han(s: &str) -> bool {
    s.chars().any(is_han)
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{f900}'..='\u{faff}')
}

/// Pinyin readings (no tones) of one Han character, default reading first; empty for others.
pub fn han_readings(c: char) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(p) = c.to_pinyin() {
        out.push(p.plain().to_string());
    }
    if let Some(multi) = c.to_pinyin_multi() {
        for p in multi {
            let s = p.plain().to_string();
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// Default pinyin of a Han string, syllables concatenated ("小明" -> "xiaoming").
fn han_to_pinyin(s: &str) -> String {
    s.chars()
        .filter_map(|c| han_readings(c).into_iter().next())
        .collect()
}

/// Tokens of one name part, without title handling: accents folded, apostrophes and hyphens
/// joined ("O'Neil" -> "oneil", "Mary-Jane" -> "maryjane"), Hanzi as one pinyin token.
pub fn name_tokens(s: &str) -> Vec<String> {
    let f = fold(s);
    if has_han(&f) {
        let han: String = f.chars().filter(|c| is_han(*c)).collect();
        let p = han_to_pinyin(&han);
        return if p.is_empty() { Vec::new() } else { vec![p] };
    }
    f.split(|c: char| c.is_whitespace() || c == ',' || c == '/' || c == '&')
        .map(|w| {
            let joined: String = w
                .chars()
                .filter(|c| !matches!(c, '\'' | '’' | '-' | '.'))
                .collect();
            super::ascii_fold(&joined).replace(' ', "")
        })
        .filter(|t| !t.is_empty())
        .collect()
}

fn strip_titles(tokens: Vec<String>) -> Vec<String> {
    let mut t: Vec<String> = tokens
        .into_iter()
        .filter(|x| !TITLES.contains(&x.as_str()))
        .collect();
    while t.len() > 1 && t.last().is_some_and(|x| SUFFIXES.contains(&x.as_str())) {
        t.pop();
    }
    t
}

/// A name written in Hanzi: the family name is the first character, or a known two-character
/// compound; the rest is the given name, as one pinyin token.
fn parse_han(s: &str) -> Option<PersonName> {
    let mut han: String = s.chars().filter(|c| is_han(*c)).collect();
    for t in HAN_TITLES {
        han = han.replace(t, "");
    }
    let chars: Vec<char> = han.chars().collect();
    if chars.is_empty() {
        return None;
    }
    let split = if chars.len() > 2 && COMPOUND_SURNAMES.iter().any(|c| han.starts_with(c)) {
        2
    } else {
        1
    };
    let family_han: String = chars[..split].iter().collect();
    let given_han: String = chars[split..].iter().collect();
    let (family, alternatives) = if split == 1 {
        let readings = han_readings(chars[0]);
        let first = readings.first()?.clone();
        (first, readings.into_iter().skip(1).collect())
    } else {
        (han_to_pinyin(&family_han), Vec::new())
    };
    let given = han_to_pinyin(&given_han);
    Some(PersonName {
        given: if given.is_empty() {
            Vec::new()
        } else {
            vec![given]
        },
        family: vec![family],
        han: Some(han),
        family_alternatives: alternatives,
    })
}

/// Parses a full name from one field: "Smith, John", "John A. Smith Jr.", "Dr. Emily Chen",
/// "张伟", "ZHANG Wei". Western order is assumed unless a comma says otherwise, or exactly one
/// token is written in capitals (then it is the family name). Returns `None` when nothing is left.
pub fn parse_person_name(full: &str) -> Option<PersonName> {
    let full = full.trim();
    if has_han(full) && !full.chars().any(|c| c.is_ascii_alphabetic()) {
        return parse_han(full);
    }
    if let Some((family, given)) = full.split_once(',') {
        return person_name_from_parts(Some(given), Some(family));
    }
    let words: Vec<&str> = full.split_whitespace().collect();
    let caps: Vec<usize> = words
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            w.chars().filter(|c| c.is_alphabetic()).count() > 1
                && w.chars().all(|c| !c.is_lowercase())
        })
        .map(|(i, _)| i)
        .collect();
    if caps.len() == 1 && words.len() > 1 {
        let family = words[caps[0]];
        let given: Vec<&str> = words
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != caps[0])
            .map(|(_, w)| *w)
            .collect();
        return person_name_from_parts(Some(&given.join(" ")), Some(family));
    }
    let tokens = strip_titles(words.iter().flat_map(|w| name_tokens(w)).collect());
    match tokens.len() {
        0 => None,
        1 => Some(PersonName {
            family: tokens,
            ..PersonName::default()
        }),
        n => Some(PersonName {
            given: tokens[..n - 1].to_vec(),
            family: vec![tokens[n - 1].clone()],
            ..PersonName::default()
        }),
    }
}

/// Builds a name from separate given and family fields (either may be missing). A Hanzi
/// family name keeps its alternative readings and the Hanzi form of the whole name.
pub fn person_name_from_parts(given: Option<&str>, family: Option<&str>) -> Option<PersonName> {
    let given = given.unwrap_or("").trim();
    let family = family.unwrap_or("").trim();
    if has_han(family) {
        let whole = format!("{family}{given}");
        if !given.chars().any(|c| c.is_ascii_alphabetic()) {
            let han: String = whole.chars().filter(|c| is_han(*c)).collect();
            let mut p = parse_han(&han)?;
            // The fields say which part is which: trust them over the compound-surname table.
            let fam_han: String = family.chars().filter(|c| is_han(*c)).collect();
            let giv_han: String = given.chars().filter(|c| is_han(*c)).collect();
            if fam_han.chars().count() == 1 {
                let readings = han_readings(fam_han.chars().next()?);
                p.family = vec![readings.first()?.clone()];
                p.family_alternatives = readings.into_iter().skip(1).collect();
            } else {
                p.family = vec![han_to_pinyin(&fam_han)];
                p.family_alternatives.clear();
            }
            let g = han_to_pinyin(&giv_han);
            p.given = if g.is_empty() { Vec::new() } else { vec![g] };
            return Some(p);
        }
    }
    let g = strip_titles(name_tokens(given));
    let f = strip_titles(name_tokens(family));
    let p = PersonName {
        given: g,
        family: f,
        ..PersonName::default()
    };
    (!p.is_empty()).then_some(p)
}

/// Double Metaphone primary code of an ASCII token ("" for empty input).
pub fn metaphone(token: &str) -> String {
    use rphonetic::Encoder;
    if token.is_empty() {
        return String::new();
    }
    DOUBLE_METAPHONE.encode(token)
}

static DOUBLE_METAPHONE: LazyLock<rphonetic::DoubleMetaphone> =
    LazyLock::new(rphonetic::DoubleMetaphone::default);

/// Nicknames and the formal given names they stand for (lowercase ASCII).
const NICKNAMES: &[(&str, &str)] = &[
    ("abby", "abigail"),
    ("al", "albert"),
    ("al", "alfred"),
    ("al", "alexander"),
    ("alex", "alexander"),
    ("alex", "alexandra"),
    ("andy", "andrew"),
    ("drew", "andrew"),
    ("tony", "anthony"),
    ("art", "arthur"),
    ("barb", "barbara"),
    ("ben", "benjamin"),
    ("benny", "benjamin"),
    ("bernie", "bernard"),
    ("bert", "albert"),
    ("bert", "robert"),
    ("beth", "elizabeth"),
    ("betty", "elizabeth"),
    ("betsy", "elizabeth"),
    ("bill", "william"),
    ("billy", "william"),
    ("bob", "robert"),
    ("bobby", "robert"),
    ("brad", "bradley"),
    ("cathy", "catherine"),
    ("kathy", "katherine"),
    ("cat", "catherine"),
    ("charlie", "charles"),
    ("chuck", "charles"),
    ("chris", "christopher"),
    ("chris", "christine"),
    ("christy", "christine"),
    ("cindy", "cynthia"),
    ("dan", "daniel"),
    ("danny", "daniel"),
    ("dave", "david"),
    ("davy", "david"),
    ("deb", "deborah"),
    ("debbie", "deborah"),
    ("dick", "richard"),
    ("don", "donald"),
    ("donny", "donald"),
    ("doug", "douglas"),
    ("ed", "edward"),
    ("eddie", "edward"),
    ("ted", "edward"),
    ("ted", "theodore"),
    ("teddy", "theodore"),
    ("liz", "elizabeth"),
    ("lizzie", "elizabeth"),
    ("eliza", "elizabeth"),
    ("ellie", "eleanor"),
    ("fran", "frances"),
    ("frank", "francis"),
    ("fred", "frederick"),
    ("freddie", "frederick"),
    ("gabe", "gabriel"),
    ("gene", "eugene"),
    ("greg", "gregory"),
    ("hank", "henry"),
    ("harry", "henry"),
    ("jack", "john"),
    ("johnny", "john"),
    ("jon", "john"),
    ("jim", "james"),
    ("jimmy", "james"),
    ("jamie", "james"),
    ("jan", "janet"),
    ("jen", "jennifer"),
    ("jenny", "jennifer"),
    ("jeff", "jeffrey"),
    ("jerry", "gerald"),
    ("jess", "jessica"),
    ("jessie", "jessica"),
    ("joe", "joseph"),
    ("joey", "joseph"),
    ("jos", "joseph"),
    ("josh", "joshua"),
    ("judy", "judith"),
    ("kate", "katherine"),
    ("kate", "catherine"),
    ("katie", "katherine"),
    ("kathy", "catherine"),
    ("ken", "kenneth"),
    ("kenny", "kenneth"),
    ("kim", "kimberly"),
    ("larry", "lawrence"),
    ("len", "leonard"),
    ("lenny", "leonard"),
    ("leo", "leonard"),
    ("lou", "louis"),
    ("lucy", "lucille"),
    ("maggie", "margaret"),
    ("meg", "margaret"),
    ("peggy", "margaret"),
    ("marge", "margaret"),
    ("matt", "matthew"),
    ("max", "maximilian"),
    ("mike", "michael"),
    ("mickey", "michael"),
    ("mitch", "mitchell"),
    ("molly", "mary"),
    ("polly", "mary"),
    ("nancy", "ann"),
    ("nate", "nathan"),
    ("nat", "nathaniel"),
    ("nick", "nicholas"),
    ("nicky", "nicholas"),
    ("pam", "pamela"),
    ("pat", "patricia"),
    ("pat", "patrick"),
    ("patty", "patricia"),
    ("trish", "patricia"),
    ("pete", "peter"),
    ("phil", "philip"),
    ("ray", "raymond"),
    ("rick", "richard"),
    ("ricky", "richard"),
    ("rich", "richard"),
    ("rob", "robert"),
    ("robbie", "robert"),
    ("ron", "ronald"),
    ("ronnie", "ronald"),
    ("russ", "russell"),
    ("sam", "samuel"),
    ("sam", "samantha"),
    ("sammy", "samuel"),
    ("sandy", "sandra"),
    ("steve", "stephen"),
    ("steve", "steven"),
    ("stu", "stuart"),
    ("sue", "susan"),
    ("susie", "susan"),
    ("suzy", "susan"),
    ("terry", "terence"),
    ("terry", "theresa"),
    ("tess", "theresa"),
    ("tim", "timothy"),
    ("timmy", "timothy"),
    ("tom", "thomas"),
    ("tommy", "thomas"),
    ("val", "valerie"),
    ("vic", "victor"),
    ("vicky", "victoria"),
    ("vince", "vincent"),
    ("walt", "walter"),
    ("wally", "walter"),
    ("will", "william"),
    ("willy", "william"),
    ("zach", "zachary"),
    ("zack", "zachary"),
    ("sasha", "alexander"),
    ("misha", "mikhail"),
    ("pepe", "jose"),
    ("paco", "francisco"),
    ("pancho", "francisco"),
    ("lupe", "guadalupe"),
    ("nacho", "ignacio"),
    ("chema", "jose"),
    ("manny", "manuel"),
    ("hans", "johannes"),
    ("sepp", "josef"),
    ("fritz", "friedrich"),
    ("gus", "augustus"),
    ("gus", "gustav"),
    ("ollie", "oliver"),
    ("izzy", "isabella"),
    ("bella", "isabella"),
    ("abe", "abraham"),
    ("ike", "isaac"),
    ("becky", "rebecca"),
    ("bex", "rebecca"),
    ("jo", "joanne"),
    ("mandy", "amanda"),
    ("manda", "amanda"),
    ("mel", "melissa"),
    ("missy", "melissa"),
    ("nell", "eleanor"),
    ("nora", "eleanor"),
    ("sally", "sarah"),
    ("sadie", "sarah"),
];

static NICKNAME_INDEX: LazyLock<HashMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
    let mut m: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
    for &(nick, formal) in NICKNAMES {
        m.entry(nick).or_default().push(formal);
        let own = m.entry(formal).or_default();
        if !own.contains(&formal) {
            own.push(formal);
        }
    }
    m
});

/// The formal given names a token may stand for ("bob" -> ["robert"]); a formal name that has
/// nicknames maps to itself. Empty when the token is in no pair.
pub fn nickname_roots(token: &str) -> Vec<&'static str> {
    NICKNAME_INDEX.get(token).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(p: &PersonName) -> Vec<String> {
        let mut t: Vec<String> = p.tokens().into_iter().map(String::from).collect();
        t.sort();
        t
    }

    #[test]
    fn western_orders_and_titles() {
        let a = parse_person_name("Smith, John").unwrap();
        let b = parse_person_name("John Smith").unwrap();
        let c = parse_person_name("Mr. John Smith").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(b.given, ["john"]);
        assert_eq!(b.family, ["smith"]);
        let d = parse_person_name("Dr. John A. Smith Jr.").unwrap();
        assert_eq!(d.given, ["john", "a"]);
        assert_eq!(d.family, ["smith"]);
        let e = parse_person_name("José O'Brien-Núñez").unwrap();
        assert_eq!(e.given, ["jose"]);
        assert_eq!(e.family, ["obriennunez"]);
    }

    #[test]
    fn chinese_names_meet_in_hanzi_and_pinyin_in_any_order() {
        let han = parse_person_name("张伟").unwrap();
        assert_eq!(han.family, ["zhang"]);
        assert_eq!(han.given, ["wei"]);
        assert_eq!(han.han.as_deref(), Some("张伟"));
        for latin in ["Zhang Wei", "Wei Zhang", "ZHANG Wei", "Wei ZHANG"] {
            assert_eq!(
                set(&parse_person_name(latin).unwrap()),
                set(&han),
                "{latin}"
            );
        }
        // All caps marks the family name.
        assert_eq!(parse_person_name("ZHANG Wei").unwrap().family, ["zhang"]);
        let compound = parse_person_name("欧阳娜娜").unwrap();
        assert_eq!(compound.family, ["ouyang"]);
        assert_eq!(compound.given, ["nana"]);
        let parts = person_name_from_parts(Some("伟"), Some("张")).unwrap();
        assert_eq!(set(&parts), set(&han));
        assert_eq!(
            parse_person_name("张伟先生").unwrap().han.as_deref(),
            Some("张伟")
        );
    }

    #[test]
    fn polyphonic_surnames_keep_every_reading() {
        let p = parse_person_name("曾小明").unwrap();
        let all: Vec<&String> = p.family.iter().chain(&p.family_alternatives).collect();
        assert!(all.iter().any(|r| *r == "zeng"), "{p:?}");
        assert_eq!(p.given, ["xiaoming"]);
        assert!(han_readings('单').contains(&"shan".to_string()));
        assert!(han_readings('x').is_empty());
    }

    #[test]
    fn nicknames_share_roots() {
        assert_eq!(nickname_roots("bob"), ["robert"]);
        assert_eq!(nickname_roots("robert"), ["robert"]);
        assert!(nickname_roots("kate").contains(&"catherine"));
        assert!(nickname_roots("zzz").is_empty());
    }

    #[test]
    fn odd_input_never_panics() {
        for s in [
            "",
            "   ",
            "💥",
            ",",
            "Mr.",
            "\u{200b}",
            "先生",
            &"名".repeat(10_000),
        ] {
            let _ = parse_person_name(s);
            let _ = person_name_from_parts(Some(s), Some(s));
            let _ = name_tokens(s);
        }
        assert_eq!(parse_person_name("Mr."), None);
        assert_eq!(metaphone(""), "");
        assert_eq!(metaphone("smith"), metaphone("smyth"));
    }
}
