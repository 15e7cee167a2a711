//! Addresses, postcodes, company names, free text and identifiers.
//!
//! Token conventions: lowercase ASCII alphanumeric tokens; Chinese addresses
//! read as written in Latin letters (one pinyin word per name, street types
//! as their English abbreviation); company names keep each Han character as
//! its own token. Apostrophes join
//! (`St Mary's` -> `marys`), other punctuation splits, and runs of single
//! letters are merged (`P.O.` -> `po`, `S.A.` -> `sa`).

use super::{fold_chars, is_han_char, nfkc};
use pinyin::ToPinyin;
use rust_stemmers::{Algorithm, Stemmer};
use std::sync::LazyLock;
use unicode_normalization::char::is_combining_mark;

/// Splits `s` into ASCII alphanumeric tokens and single-Han-character
/// tokens; `&` becomes the token "and".
fn raw_tokens(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // scratch buffer: each token is copied out at its exact size
    let mut cur = String::with_capacity(32);
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(cur.as_str().to_owned());
            cur.clear();
        }
    };
    fold_chars(s, |c| {
        if c.is_ascii_alphanumeric() {
            cur.push(c);
        } else if matches!(c, '\'' | '’' | '‘' | 'ʼ' | '`' | '´') || is_combining_mark(c) {
            // apostrophes join ("mary's" -> "marys"); stray marks are dropped
        } else if c == '&' {
            flush(&mut cur, &mut out);
            out.push("and".to_string());
        } else if is_han_char(c) {
            flush(&mut cur, &mut out);
            out.push(c.to_string());
        } else if c.is_ascii() || !c.is_alphanumeric() {
            flush(&mut cur, &mut out);
        } else if let Some(t) = deunicode::deunicode_char(c) {
            for b in t.bytes() {
                if b.is_ascii_alphanumeric() {
                    cur.push(b.to_ascii_lowercase() as char);
                } else {
                    flush(&mut cur, &mut out);
                }
            }
        }
    });
    flush(&mut cur, &mut out);
    merge_single_letters(&mut out);
    out
}

/// Merges runs of 2+ single ASCII letters: [p, o, box] -> [po, box].
fn merge_single_letters(tokens: &mut Vec<String>) {
    let single = |t: &String| t.len() == 1 && t.as_bytes()[0].is_ascii_alphabetic();
    if tokens.windows(2).all(|w| !(single(&w[0]) && single(&w[1]))) {
        return;
    }
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut prev_single = false;
    for t in tokens.drain(..) {
        let is_single = single(&t);
        match out.last_mut() {
            Some(last) if is_single && prev_single => last.push_str(&t),
            _ => out.push(t),
        }
        prev_single = is_single;
    }
    *tokens = out;
}

/// Canonical short form of an address word.
fn address_abbrev(t: &str) -> Option<&'static str> {
    Some(match t {
        "street" | "str" | "st" | "saint" | "jie" => "st",
        "road" | "rd" | "lu" => "rd",
        "avenue" | "ave" | "av" | "aven" | "dadao" => "ave",
        "drive" | "dr" | "drv" => "dr",
        "place" | "pl" => "pl",
        "court" | "ct" | "crt" => "ct",
        "crescent" | "cres" | "cresc" => "cres",
        "boulevard" | "blvd" | "boul" => "blvd",
        "lane" | "ln" => "ln",
        "terrace" | "tce" | "terr" => "tce",
        "circuit" | "cct" => "cct",
        "parade" | "pde" => "pde",
        "highway" | "hwy" => "hwy",
        "square" | "sq" => "sq",
        "close" | "cl" => "cl",
        "parkway" | "pkwy" => "pkwy",
        "apartment" | "apt" | "unit" | "flat" => "unit",
        "north" | "n" => "n",
        "south" | "s" => "s",
        "east" | "e" => "e",
        "west" | "w" => "w",
        "northeast" | "ne" => "ne",
        "northwest" | "nw" => "nw",
        "southeast" | "se" => "se",
        "southwest" | "sw" => "sw",
        "suite" | "ste" => "ste",
        "floor" | "fl" | "flr" => "fl",
        "level" | "lvl" => "lvl",
        "building" | "bldg" | "bld" => "bldg",
        "mount" | "mt" => "mt",
        "room" | "rm" => "rm",
        _ => return None,
    })
}

/// Splits glued number/word tokens: "12main" -> [12, main], "apt5" ->
/// [apt, 5]. Ordinals and unit letters ("12a", "21st", "3rd") stay whole.
fn split_glued(t: &str) -> Option<(&str, &str)> {
    let b = t.as_bytes();
    let digits_first = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits_first > 0 {
        let rest = &t[digits_first..];
        return (rest.len() >= 3 && rest.bytes().all(|c| c.is_ascii_alphabetic()))
            .then(|| t.split_at(digits_first));
    }
    let letters = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let rest = &t[letters..];
    (letters >= 3 && !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_digit()))
        .then(|| t.split_at(letters))
}

/// Address tokens: ASCII-folded, punctuation removed, street types and
/// designators folded to one short form (street/str/st/saint -> st,
/// avenue/ave/av -> ave, apartment/apt/unit/flat -> unit, north -> n, ...),
/// glued number+word split ("12main" -> "12 main", "12a" stays); a Chinese
/// address in Hanzi reads as its Latin form (see [`han_address_words`]).
pub fn address_tokens(s: &str) -> Vec<String> {
    let mut tokens = raw_tokens(s);
    if tokens.iter().any(|t| is_han_token(t)) {
        tokens = han_address_words(tokens);
    }
    drop_address_fillers(&mut tokens);
    if !tokens.iter().any(|t| split_glued(t).is_some()) {
        // nothing to split: abbreviate in place, reusing the token buffers
        for t in &mut tokens {
            if let Some(short) = address_abbrev(t) {
                t.clear();
                t.push_str(short);
            }
        }
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len() + 1);
    for t in tokens {
        match split_glued(&t) {
            Some((a, b)) => {
                push_address_token(a, &mut out);
                push_address_token(b, &mut out);
            }
            None => match address_abbrev(&t) {
                Some(short) => out.push(short.to_string()),
                None => out.push(t),
            },
        }
    }
    out
}

fn is_han_token(t: &str) -> bool {
    t.chars().next().is_some_and(is_han_char)
}

/// Markers of a Chinese address: what follows a name in Hanzi, with the token it reads as in
/// a Latin address (`None`: dropped, as the Latin form leaves it out or puts it elsewhere).
/// Two-character markers come first.
const HAN_ADDRESS_MARKERS: &[(&str, Option<&str>)] = &[
    ("大道", Some("ave")),
    ("大街", Some("st")),
    ("单元", Some("unit")),
    ("路", Some("rd")),
    ("街", Some("st")),
    ("道", Some("rd")),
    ("巷", Some("ln")),
    ("弄", Some("ln")),
    ("号", None),
    ("室", Some("rm")),
    ("栋", Some("bldg")),
    ("幢", Some("bldg")),
    ("座", Some("bldg")),
    ("楼", Some("fl")),
    ("层", Some("fl")),
    ("区", None),
    ("县", None),
    ("镇", None),
    ("乡", None),
    ("村", None),
];

/// Chinese address tokens as the address is written in Latin letters, so that 越秀区人民路290号
/// and `290 Renmin Road, Yuexiu` agree: each run of Han characters before a marker (路, 街,
/// 大道, 区, 号, 单元, 室, ...) is one pinyin word (`renmin`), the marker reads as its street
/// type or designator (路 `rd`, 大道 `ave`, 单元 `unit`) or is dropped (区, 号), and a city
/// or province written in front (北京市, 广东省) is dropped (the city is its own field).
fn han_address_words(tokens: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut Vec<String>| {
        if !run.is_empty() {
            out.push(han_word(run));
            run.clear();
        }
    };
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if !is_han_token(t) {
            flush(&mut run, &mut out);
            out.push(t.clone());
            i += 1;
            continue;
        }
        let next = tokens.get(i + 1).map(String::as_str);
        if let Some((m, canon)) = HAN_ADDRESS_MARKERS.iter().find(|(m, _)| {
            *m == t.as_str()
                || m.strip_prefix(t.as_str())
                    .is_some_and(|rest| Some(rest) == next)
        }) {
            i += m.chars().count();
            if run.is_empty() && canon.is_none() {
                continue;
            }
            flush(&mut run, &mut out);
            out.extend(canon.map(str::to_string));
        } else if t == "市" || t == "省" {
            // city or province in front: its own field
            run.clear();
            i += 1;
        } else {
            run.push_str(t);
            i += 1;
        }
    }
    flush(&mut run, &mut out);
    out
}

/// One run of Han characters as one pinyin word (major cities in their customary spelling).
fn han_word(run: &str) -> String {
    if let Some((_, pinyin)) = CN_CITIES.iter().find(|(han, _)| *han == run) {
        return (*pinyin).to_string();
    }
    let mut w = String::with_capacity(run.len() * 2);
    for c in run.chars() {
        match c.to_pinyin() {
            Some(p) => w.push_str(p.plain()),
            None => w.push(c),
        }
    }
    w
}

/// Drops what one written form of an address has and the other leaves out: `district` (区)
/// and `no` before a number (`No. 328` = 328号). The pinyin street types (`lu`, `jie`, `dadao`)
/// fold with the English ones in [`address_abbrev`].
fn drop_address_fillers(tokens: &mut Vec<String>) {
    let numeric = |t: Option<&String>| t.is_some_and(|t| t.bytes().any(|c| c.is_ascii_digit()));
    let dropped = |i: usize| match tokens[i].as_str() {
        "district" => true,
        "no" => numeric(tokens.get(i + 1)),
        _ => false,
    };
    let keep: Vec<bool> = (0..tokens.len()).map(|i| !dropped(i)).collect();
    let mut flags = keep.into_iter();
    tokens.retain(|_| flags.next().unwrap_or(true));
}

fn push_address_token(t: &str, out: &mut Vec<String>) {
    out.push(address_abbrev(t).map_or_else(|| t.to_string(), str::to_string));
}

/// The part of a normalized postcode that places it: a US ZIP+4 (nine digits) is its five-digit
/// ZIP, so `94043-1351` agrees with `94043` in comparison, blocking and value frequencies; any
/// other postcode is itself.
pub fn postcode_area(s: &str) -> &str {
    if s.len() == 9 && s.bytes().all(|b| b.is_ascii_digit()) {
        &s[..5]
    } else {
        s
    }
}

/// Postcode: NFKC, uppercase, spaces and dashes removed.
pub fn normalize_postcode(s: &str) -> String {
    if s.is_ascii() {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if !c.is_whitespace() && c != '-' {
                out.push(c.to_ascii_uppercase());
            }
        }
        return out;
    }
    nfkc(s)
        .chars()
        .filter(|&c| !c.is_whitespace() && !is_dash(c))
        .flat_map(char::to_uppercase)
        .collect()
}

fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | '﹘' | '﹣' | '－'
    )
}

fn is_legal_form(t: &str) -> bool {
    matches!(
        t,
        "ltd"
            | "limited"
            | "inc"
            | "incorporated"
            | "llc"
            | "pllc"
            | "gmbh"
            | "ag"
            | "kg"
            | "sa"
            | "sas"
            | "sarl"
            | "bv"
            | "nv"
            | "plc"
            | "co"
            | "company"
            | "corp"
            | "corporation"
            | "pty"
            | "pte"
            | "llp"
            | "lp"
            | "oy"
            | "oyj"
            | "ab"
            | "as"
            | "asa"
            | "aps"
            | "spa"
            | "srl"
            | "sl"
            | "kk"
            | "bhd"
            | "sdn"
            | "ltda"
            | "the"
    )
}

/// Chinese legal-form suffixes, longest first.
const HAN_LEGAL_FORMS: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "有限責任公司",
    "有限公司",
    "公司",
];

/// Company name tokens: ASCII-folded, `&` -> "and", legal forms (ltd, inc,
/// llc, gmbh, pty, co, corp, ... and "the") dropped wherever they occur
/// unless that would leave nothing; Han characters one per token with
/// 股份有限公司 / 有限责任公司 / 有限公司 / 公司 removed.
pub fn company_tokens(s: &str) -> Vec<String> {
    let mut text = nfkc(s).into_owned();
    if super::has_han(&text) {
        for form in HAN_LEGAL_FORMS {
            if text.contains(form) {
                text = text.replace(form, " ");
            }
        }
    }
    let tokens = raw_tokens(&text);
    let kept: Vec<String> = tokens
        .iter()
        .filter(|t| !is_legal_form(t))
        .cloned()
        .collect();
    if kept.is_empty() {
        tokens
    } else {
        kept
    }
}

fn is_stop_word(t: &str) -> bool {
    matches!(
        t,
        "a" | "an"
            | "and"
            | "are"
            | "as"
            | "at"
            | "be"
            | "been"
            | "but"
            | "by"
            | "for"
            | "from"
            | "had"
            | "has"
            | "have"
            | "he"
            | "her"
            | "his"
            | "i"
            | "if"
            | "in"
            | "into"
            | "is"
            | "it"
            | "its"
            | "me"
            | "my"
            | "of"
            | "on"
            | "or"
            | "our"
            | "she"
            | "so"
            | "than"
            | "that"
            | "the"
            | "their"
            | "them"
            | "then"
            | "there"
            | "these"
            | "they"
            | "this"
            | "to"
            | "was"
            | "we"
            | "were"
            | "what"
            | "when"
            | "which"
            | "who"
            | "will"
            | "with"
            | "you"
            | "your"
    )
}

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Free text: ASCII-folded, split on non-alphanumerics, English stop words
/// dropped, each token stemmed (Snowball English).
pub fn text_tokens(s: &str) -> Vec<String> {
    super::ascii_fold(s)
        .split(' ')
        .filter(|t| !t.is_empty() && !is_stop_word(t))
        .map(|t| STEMMER.stem(t).into_owned())
        .collect()
}

/// Major Chinese cities in Hanzi with the pinyin their names are written in.
/// The table settles readings the per-character default gets wrong (重庆 is Chongqing, not
/// Zhongqing; 厦门 Xiamen; 长沙 Changsha) and the customary spellings (西安 Xian).
const CN_CITIES: &[(&str, &str)] = &[
    ("上海", "shanghai"),
    ("东莞", "dongguan"),
    ("中山", "zhongshan"),
    ("乌鲁木齐", "urumqi"),
    ("佛山", "foshan"),
    ("兰州", "lanzhou"),
    ("北京", "beijing"),
    ("南京", "nanjing"),
    ("南宁", "nanning"),
    ("南昌", "nanchang"),
    ("厦门", "xiamen"),
    ("合肥", "hefei"),
    ("呼和浩特", "hohhot"),
    ("哈尔滨", "harbin"),
    ("大连", "dalian"),
    ("天津", "tianjin"),
    ("太原", "taiyuan"),
    ("宁波", "ningbo"),
    ("无锡", "wuxi"),
    ("昆明", "kunming"),
    ("杭州", "hangzhou"),
    ("武汉", "wuhan"),
    ("沈阳", "shenyang"),
    ("济南", "jinan"),
    ("海口", "haikou"),
    ("深圳", "shenzhen"),
    ("温州", "wenzhou"),
    ("珠海", "zhuhai"),
    ("石家庄", "shijiazhuang"),
    ("福州", "fuzhou"),
    ("苏州", "suzhou"),
    ("西安", "xian"),
    ("贵阳", "guiyang"),
    ("郑州", "zhengzhou"),
    ("重庆", "chongqing"),
    ("长春", "changchun"),
    ("长沙", "changsha"),
    ("青岛", "qingdao"),
    ("成都", "chengdu"),
    ("广州", "guangzhou"),
];

/// Short free text compared as a whole (a city, a state, a label): [`super::ascii_fold`],
/// except that a run of Han characters becomes one pinyin word (`北京` -> `beijing`, as the
/// name is written in Latin letters, not syllable by syllable), a Chinese city's `市`
/// ("city") is dropped, and major Chinese cities take their customary spelling, so 北京市,
/// 北京, `Beijing` and `BEIJING` agree.
pub fn text_value(s: &str) -> String {
    if !s.chars().any(is_han_char) {
        return super::ascii_fold(s);
    }
    let folded = super::fold(s);
    let trimmed = folded.trim();
    let place = trimmed
        .strip_suffix('市')
        .filter(|p| p.chars().count() >= 2)
        .unwrap_or(trimmed);
    let mut latin = String::with_capacity(place.len() * 2);
    let mut run = String::new();
    for c in place.chars() {
        if is_han_char(c) {
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            latin.push(' ');
            latin.push_str(&han_word(&run));
            latin.push(' ');
            run.clear();
        }
        latin.push(c);
    }
    if !run.is_empty() {
        latin.push(' ');
        latin.push_str(&han_word(&run));
    }
    super::ascii_fold(&latin)
}

/// Identifier: NFKC, uppercase, only `[A-Z0-9]` kept.
pub fn normalize_identifier(s: &str) -> String {
    nfkc(s)
        .chars()
        .flat_map(char::to_uppercase)
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn address_abbreviations_agree() {
        assert_eq!(address_tokens("12 Main Street"), v(&["12", "main", "st"]));
        assert_eq!(
            address_tokens("12 main st."),
            address_tokens("12 Main Street")
        );
        assert_eq!(
            address_tokens("12 MAIN STR"),
            address_tokens("12 Main Street")
        );
        assert_eq!(
            address_tokens("Apartment 4, 221B Baker Street"),
            address_tokens("apt 4 221b baker st")
        );
        assert_eq!(
            address_tokens("Unit 3/45 North Pridham Avenue"),
            v(&["unit", "3", "45", "n", "pridham", "ave"])
        );
        assert_eq!(
            address_tokens("1 Av. des Champs"),
            v(&["1", "ave", "des", "champs"])
        );
        for (long, short) in [
            ("road", "rd"),
            ("drive", "dr"),
            ("place", "pl"),
            ("court", "ct"),
            ("crescent", "cres"),
            ("boulevard", "blvd"),
            ("lane", "ln"),
            ("terrace", "tce"),
            ("circuit", "cct"),
            ("parade", "pde"),
            ("highway", "hwy"),
            ("square", "sq"),
            ("close", "cl"),
            ("suite", "ste"),
            ("floor", "fl"),
            ("building", "bldg"),
            ("mount", "mt"),
            ("saint", "st"),
            ("south", "s"),
            ("east", "e"),
            ("west", "w"),
        ] {
            assert_eq!(address_tokens(long), v(&[short]), "{long}");
            assert_eq!(address_tokens(short), v(&[short]), "{short}");
        }
    }

    #[test]
    fn address_punctuation_and_glued_tokens() {
        assert_eq!(address_tokens("P.O. Box 12"), address_tokens("PO Box 12"));
        assert_eq!(address_tokens("St Mary's Rd"), v(&["st", "marys", "rd"]));
        assert_eq!(address_tokens("12a Main St"), v(&["12a", "main", "st"]));
        assert_eq!(address_tokens("21st Avenue"), v(&["21st", "ave"]));
        assert_eq!(address_tokens("12Main Road"), v(&["12", "main", "rd"]));
        assert_eq!(address_tokens("Apt5"), v(&["unit", "5"]));
        assert_eq!(
            address_tokens("12 pridhamstreet"),
            v(&["12", "pridhamstreet"])
        );
        assert_eq!(address_tokens("Straße 5"), v(&["strasse", "5"]));
        assert_eq!(
            address_tokens("#12-14, Rue Léon"),
            v(&["12", "14", "rue", "leon"])
        );
    }

    #[test]
    fn chinese_addresses_read_as_their_latin_form() {
        assert_eq!(
            address_tokens("北京市朝阳区建国路８８号"),
            v(&["chaoyang", "jianguo", "rd", "88"])
        );
        let same = |a: &str, b: &str| {
            let (mut x, mut y) = (address_tokens(a), address_tokens(b));
            x.sort();
            y.sort();
            assert_eq!(x, y, "{a} / {b}");
        };
        same("越秀区人民路290号", "290 Renmin Road, Yuexiu");
        same("越秀区人民路290号", "No. 290 Renmin Lu, Yuexiu District");
        same(
            "锦江区迎宾大道328号2单元1002室",
            "Rm 1002, Unit 2, No. 328 Yingbin Avenue, Jinjiang",
        );
        same(
            "重庆市江北区花园街325号",
            "325 Huayuan St, Jiangbei District",
        );
        same("江北区花园街325号", "325 Huayuan Jie, Jiangbei");
        // two addresses in one district on one road differ by their number
        let (a, b) = (
            address_tokens("武昌区解放路382号"),
            address_tokens("武昌区解放路237号"),
        );
        assert_ne!(a, b);
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn postcodes() {
        assert_eq!(normalize_postcode(" sw1a 1aa "), "SW1A1AA");
        assert_eq!(normalize_postcode("94043-1351"), "940431351");
        assert_eq!(normalize_postcode("ｓｗ１Ａ　１ＡＡ"), "SW1A1AA");
        assert_eq!(normalize_postcode("100–020"), "100020");
        assert_eq!(normalize_postcode(""), "");
        assert_eq!(postcode_area("940431351"), "94043");
        assert_eq!(postcode_area("94043"), "94043");
        assert_eq!(postcode_area("SW1A1AA"), "SW1A1AA");
        assert_eq!(postcode_area("100020"), "100020");
    }

    #[test]
    fn company_legal_forms_dropped() {
        assert_eq!(company_tokens("Acme Pty Ltd"), v(&["acme"]));
        assert_eq!(company_tokens("ACME Co., Ltd."), v(&["acme"]));
        assert_eq!(
            company_tokens("Acme Inc."),
            company_tokens("acme incorporated")
        );
        assert_eq!(company_tokens("Siemens AG"), v(&["siemens"]));
        assert_eq!(company_tokens("Müller GmbH"), v(&["muller"]));
        assert_eq!(company_tokens("Nestlé S.A."), v(&["nestle"]));
        assert_eq!(
            company_tokens("The Coca-Cola Company"),
            v(&["coca", "cola"])
        );
        assert_eq!(
            company_tokens("Smith & Sons LLC"),
            v(&["smith", "and", "sons"])
        );
        assert_eq!(
            company_tokens("Smith and Sons"),
            company_tokens("Smith & Sons")
        );
        assert_eq!(company_tokens("Volvo AB"), v(&["volvo"]));
        assert_eq!(company_tokens("Nokia Oyj"), v(&["nokia"]));
        // only legal forms: keep them rather than return nothing
        assert_eq!(company_tokens("The Limited"), v(&["the", "limited"]));
    }

    #[test]
    fn company_han() {
        let want = v(&["北", "京", "百", "度", "网", "讯", "科", "技"]);
        assert_eq!(company_tokens("北京百度网讯科技有限公司"), want);
        assert_eq!(company_tokens("北京百度网讯科技股份有限公司"), want);
        assert_eq!(company_tokens("北京百度网讯科技公司"), want);
        assert_eq!(company_tokens("北京百度网讯科技有限责任公司"), want);
    }

    #[test]
    fn free_text() {
        assert_eq!(
            text_tokens("The customers are running quickly to the stores!"),
            v(&["custom", "run", "quick", "store"])
        );
        assert_eq!(text_tokens("Café résumé"), v(&["cafe", "resum"]));
        assert_eq!(
            text_tokens("connection connected"),
            v(&["connect", "connect"])
        );
    }

    #[test]
    fn chinese_cities_in_either_script() {
        let names: std::collections::HashSet<_> = CN_CITIES.iter().map(|c| c.0).collect();
        assert_eq!(names.len(), CN_CITIES.len(), "each city once");
        for v in ["北京", "北京市", "Beijing", "BEIJING", " beijing "] {
            assert_eq!(text_value(v), "beijing", "{v}");
        }
        assert_eq!(text_value("重庆市"), "chongqing");
        assert_eq!(text_value("长沙"), "changsha");
        // Any other place: one word per run of Han characters.
        assert_eq!(text_value("绍兴市"), "shaoxing");
        assert_eq!(text_value("Apt 5 上海"), "apt 5 shanghai");
        assert_eq!(text_value("Springfield"), "springfield");
    }

    #[test]
    fn identifiers() {
        assert_eq!(normalize_identifier("ab-12 ３４"), "AB1234");
        assert_eq!(normalize_identifier(" de 123.456.789 "), "DE123456789");
        assert_eq!(normalize_identifier("straße"), "STRASSE");
        assert_eq!(normalize_identifier("💥"), "");
    }

    #[test]
    fn weird_input_never_panics() {
        for s in [
            "", "   ", "💥", "\u{200b}", "\u{301}", "&&&", "...", "a.b.c.d",
        ] {
            let _ = address_tokens(s);
            let _ = company_tokens(s);
            let _ = text_tokens(s);
            let _ = normalize_identifier(s);
            let _ = normalize_postcode(s);
        }
        for s in ["", "   ", "💥", "\u{200b}"] {
            assert!(address_tokens(s).is_empty());
            assert!(company_tokens(s).is_empty());
            assert!(text_tokens(s).is_empty());
        }
        let long = "12 Main Street, 北京 & Co. ".repeat(10_000);
        assert_eq!(address_tokens(&long).len(), 60_000);
        assert!(!company_tokens(&long).is_empty());
        assert!(!text_tokens(&long).is_empty());
        assert_eq!(normalize_identifier(&long).len(), 140_000);
    }
}
