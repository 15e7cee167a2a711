//! String and token similarities that comparisons build their levels from.
//!
//! strsim compares characters; the token-level scores (name alignment, soft token overlap)
//! are built here on top of it. Inputs are already normalized (lowercase ASCII tokens).

use crate::ingest::profile::NameNorm;
use crate::normalize;

/// Jaro-Winkler similarity in [0, 1].
pub fn jw(a: &str, b: &str) -> f64 {
    strsim::jaro_winkler(a, b)
}

/// Optimal-string-alignment Damerau-Levenshtein distance (adjacent transpositions cost 1).
pub fn dl(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

/// Best Jaro-Winkler between the joined strings and between any two tokens.
pub fn best_jw(a: &[String], b: &[String]) -> f64 {
    let mut best = jw(&a.concat(), &b.concat());
    for x in a {
        for y in b {
            let s = jw(x, y);
            if s > best {
                best = s;
            }
        }
    }
    best
}

/// Share of tokens of the shorter list with a close partner (Jaro-Winkler >= 0.9, or equal
/// numbers) in the longer list, over the longer list's length. 1.0 for equal token sets.
pub fn soft_token_overlap(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut used = vec![false; long.len()];
    let mut matched = 0.0;
    for t in short {
        let numeric = t.bytes().any(|c| c.is_ascii_digit());
        let mut best: Option<(usize, f64)> = None;
        for (i, u) in long.iter().enumerate() {
            if used[i] {
                continue;
            }
            let s = if t == u {
                1.0
            } else if numeric || u.bytes().any(|c| c.is_ascii_digit()) {
                0.0
            } else {
                jw(t, u)
            };
            if s >= 0.9 && best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        if let Some((i, s)) = best {
            used[i] = true;
            matched += s;
        }
    }
    matched / long.len() as f64
}

/// How the parts of two person names line up: straight (given with given) or swapped (given
/// with family, as when "Zhang Wei" meets 张伟 or a form swaps the fields).
pub fn names_swapped(a: &NameNorm, b: &NameNorm) -> bool {
    if a.given.is_empty() || a.family.is_empty() || b.given.is_empty() || b.family.is_empty() {
        return false;
    }
    // A family name written exactly on one side only decides ("Grace Wang" and "Wei Wang"
    // read as family Wei: Wang lines up with Wang, however unlike Grace and Wei are).
    let holds = |n: &NameNorm, tokens: &[String]| {
        n.family == tokens || n.alt.iter().any(|r| tokens == std::slice::from_ref(r))
    };
    let straight_exact = holds(a, &b.family) || holds(b, &a.family);
    let swapped_exact = holds(a, &b.given) || holds(b, &a.given);
    if straight_exact != swapped_exact {
        return swapped_exact;
    }
    // Unlike names count nothing, however many letters they share: "Virginia Perez" and
    // "Virginia Williams" line up straight (Virginia with Virginia), though "virginia" /
    // "williams" and "perez" / "virginia" sum to more than "perez" / "williams".
    let close = |s: f64| if s >= SWAP_CLOSE { s } else { 0.0 };
    let straight = close(best_jw(&a.given, &b.given)) + close(family_jw(a, b));
    // Crossed, a given name counts by its first token: a family name met among the middle
    // names ("K. Jenkins" / "Kimberly Jenkins Waller", a maiden name kept as a middle name)
    // is not a swap.
    let swapped = close(with_readings(b, |b_family| {
        best_jw(&a.given[..1], b_family)
    })) + close(with_readings(a, |a_family| {
        best_jw(a_family, &b.given[..1])
    }));
    swapped > straight + 1e-9
}

/// Jaro-Winkler below which two name parts count as unlike when deciding a swap.
const SWAP_CLOSE: f64 = 0.8;

/// Best Jaro-Winkler of two names' family tokens, counting polyphonic readings on both sides.
fn family_jw(a: &NameNorm, b: &NameNorm) -> f64 {
    with_readings(a, |fa| with_readings(b, |fb| best_jw(fa, fb)))
}

/// Best of `f` over a name's family tokens and each alternative reading of them.
fn with_readings(n: &NameNorm, mut f: impl FnMut(&[String]) -> f64) -> f64 {
    let mut best = f(&n.family);
    for alt in &n.alt {
        best = best.max(f(std::slice::from_ref(alt)));
    }
    best
}

/// Level of agreement of two name-token lists (0 best): 0 exact, 1 equivalent (nickname,
/// other reading, compound part, tokens glued differently), 2 one edit or Jaro-Winkler >= 0.92,
/// 3 Jaro-Winkler >= 0.8 or initial, 4 different.
/// `family` allows a compound family name to meet one of its parts ("smithjones" / "jones");
/// given names never do (志强 zhiqiang is not 强 qiang). One edit counts only on names of four
/// letters or more ("xu" and "wu" are different names).
/// `pinyin`: both are Chinese given names in pinyin, whose syllables are short and few, so a
/// Jaro-Winkler of 0.8 ("jian" / "jun", "xiaoming" / "xiaoping") is another name, not a
/// variant, and one edit between two valid readings ("xiulan" / "xiuyan") mostly another
/// name too (level 3).
pub fn name_level(
    a: &[String],
    b: &[String],
    alt_a: &[String],
    alt_b: &[String],
    family: bool,
    pinyin: bool,
) -> u8 {
    if a == b {
        return 0;
    }
    let ca = a.concat();
    let cb = b.concat();
    if ca == cb
        || alt_a.iter().any(|x| b.contains(x))
        || alt_b.iter().any(|x| a.contains(x))
        || shares_nickname_root(a, b)
        || (a.first() == b.first() && a.len() != b.len())
        || (family && (compound_part(&ca, b) || compound_part(&cb, a)))
    {
        return 1;
    }
    let best = best_jw(a, b);
    if best >= 0.92 || (ca.len().min(cb.len()) >= 4 && dl(&ca, &cb) <= 1) {
        // Two pinyin given names a letter apart, both read as pinyin, are mostly two names
        // (xiulan / xiuyan / xiuhan): a weak agreement. A typo that breaks the reading
        // (xiaomign) is one.
        let both_read = pinyin && normalize::is_pinyin_name(&ca) && normalize::is_pinyin_name(&cb);
        return if both_read { 3 } else { 2 };
    }
    if (best >= 0.8 && !pinyin) || initial_agrees(a, b) || initial_agrees(b, a) {
        return 3;
    }
    4
}

/// A hyphenated surname written glued ("smithjones") meets one of its parts ("jones").
fn compound_part(joined: &str, other: &[String]) -> bool {
    other.iter().any(|t| {
        t.len() >= 3
            && joined.len() > t.len()
            && (joined.starts_with(t.as_str()) || joined.ends_with(t.as_str()))
    })
}

fn shares_nickname_root(a: &[String], b: &[String]) -> bool {
    let (Some(x), Some(y)) = (a.first(), b.first()) else {
        return false;
    };
    let rx = normalize::nickname_roots(x);
    if rx.is_empty() {
        return false;
    }
    let ry = normalize::nickname_roots(y);
    rx.iter().any(|r| ry.contains(r) || r == y) || ry.iter().any(|r| r == x)
}

/// `a` is written as an initial ("j") of `b`'s first token.
fn initial_agrees(a: &[String], b: &[String]) -> bool {
    match (a.first(), b.first()) {
        (Some(x), Some(y)) => x.len() == 1 && y.starts_with(x.as_str()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn overlap_is_one_for_equal_sets_in_any_order() {
        assert_eq!(
            soft_token_overlap(&toks("12 main st"), &toks("main st 12")),
            1.0
        );
        assert!(soft_token_overlap(&toks("12 main st"), &toks("14 main st")) < 0.7);
        assert!(soft_token_overlap(&toks("12 mian st"), &toks("12 main st")) > 0.9);
    }

    #[test]
    fn name_levels_are_ordered() {
        let l = |a: &str, b: &str| name_level(&toks(a), &toks(b), &[], &[], true, false);
        assert_eq!(l("robert", "robert"), 0);
        assert_eq!(l("mary ann", "maryann"), 1);
        assert_eq!(l("smithjones", "jones"), 1);
        assert_eq!(l("jonathon", "jonathan"), 2);
        assert_eq!(l("j", "john"), 3);
        assert_eq!(l("alice", "zoe"), 4);
        assert_eq!(
            l("xu", "wu"),
            4,
            "one edit on a two-letter name is another name"
        );
        let given = |a: &str, b: &str| name_level(&toks(a), &toks(b), &[], &[], false, false);
        assert_ne!(
            given("zhiqiang", "qiang"),
            1,
            "given names have no compound parts"
        );
        let pinyin = |a: &str, b: &str| name_level(&toks(a), &toks(b), &[], &[], false, true);
        assert_eq!(given("jianhua", "jianguo"), 3);
        assert_eq!(
            pinyin("jianhua", "jianguo"),
            4,
            "two pinyin names, not a variant"
        );
        assert_eq!(pinyin("xiaoming", "xiaomign"), 2, "a typo still is one");
        assert_eq!(pinyin("xiao ming", "xiaoming"), 1);
        assert_eq!(pinyin("xiulan", "xiuyan"), 3, "two names a letter apart");
    }

    #[test]
    fn swapped_names_are_detected() {
        let name = |given: &str, family: &str| NameNorm {
            given: toks(given),
            family: toks(family),
            ..Default::default()
        };
        let a = name("zhang", "wei");
        let b = name("wei", "zhang");
        assert!(names_swapped(&a, &b));
        assert!(!names_swapped(&a, &a));
        // A nickname on one side is not a swap (regression: the family name was compared with
        // itself on the swapped side).
        let formal = name("anthony", "taylor");
        let nick = name("tony", "taylor");
        assert!(!names_swapped(&formal, &nick));
        // Same given name, another family name (a married name): straight, though the
        // crossed pairs share more letters than the family names do.
        let maiden = name("virginia", "perez");
        let married = name("virginia", "williams");
        assert!(!names_swapped(&maiden, &married));
        assert!(!names_swapped(&married, &maiden));
        // A maiden name kept as a middle name is not a swap.
        let initial = name("k", "jenkins");
        let full = name("kimberly jenkins", "waller");
        assert!(!names_swapped(&initial, &full));
        assert!(!names_swapped(&full, &initial));
    }
}
