//! Scoring candidate pairs: a Fellegi-Sunter model over configured comparisons.
//!
//! Each comparison reaches one of its ordered levels (see [`comparison`]); a level carries m
//! (probability of the level among true matches) and u (among non-matches), and contributes
//! the weight `log2(m / u)`. The match weight of a pair is the prior's log-odds plus the sum of
//! its level weights; its match probability is `1 / (1 + 2^-weight)`. A missing value reaches
//! the null level, which weighs nothing.
//!
//! Location evidence is not independent either: a move changes the address, the city and the
//! postcode at once. Comparisons in the *location group* (addresses and postcodes by default)
//! add their agreements, but of their disagreements only the strongest counts; and a coarse
//! place's agreement (a city: any comparison in the group but an address or a postcode)
//! counts only when no address or postcode agrees, as those already say which city it is.
//!
//! Household evidence is not independent evidence: family members share a family name, an
//! address and often a phone (and sometimes an email), and adding those weights would link
//! them. So a pair whose *personal* comparisons (given name, birth date, email, identifiers) sum
//! to a negative weight, while none of the identifying ones (given name, birth date,
//! identifiers) agrees, never links: its decision weight is capped just below the link weight,
//! which sends it to review instead. Nor does a pair whose emails or phones differ and whose
//! given names differ outright (twins share a birth date besides their household's address
//! and family name) or whose birth dates are a generation apart (a father and a son of the
//! same name), unless an identifier agrees.

pub mod comparison;
pub mod similarity;
pub mod term_frequencies;
pub mod training;

use std::sync::{Arc, RwLock};

use term_frequencies::{term_key, TermFrequencies, TermKey};

use serde::{Deserialize, Serialize};

use crate::config::{AttrKind, Config, Method, NamePart};
use crate::ingest::profile::Profile;

/// m and u of one level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelModel {
    /// Level name, e.g. `exact`.
    pub name: String,
    /// Probability of the level among true matches.
    pub m: f64,
    /// Probability of the level among non-matches.
    pub u: f64,
}

/// One comparison with its levels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComparisonModel {
    /// Label, e.g. `name.family` or `email`.
    pub label: String,
    /// Attribute compared.
    pub attr: usize,
    /// Name part, for person names.
    pub part: Option<NamePart>,
    /// Similarity method.
    pub method: Method,
    /// Levels, best first.
    pub levels: Vec<LevelModel>,
    /// Whether the comparison describes the individual (given name, birth date, email,
    /// identifier) rather than what a household or company shares (family name, address,
    /// phone, postcode, city).
    pub personal: bool,
    /// Whether a positive weight on it alone rules out a household conflict (given name, birth
    /// date, identifier; not email, which families share).
    #[serde(default)]
    pub identifying: bool,
    /// Whether the exact level's u follows the agreed value's frequency in the store.
    #[serde(default)]
    pub term_frequency: bool,
    /// Whether the comparison is in the location group (only its strongest disagreement counts).
    #[serde(default)]
    pub location: bool,
    #[serde(skip)]
    weights: Vec<f64>,
}

impl ComparisonModel {
    /// Weight `log2(m / u)` of a level.
    pub fn weight(&self, level: u8) -> f64 {
        self.weights[level as usize]
    }
}

/// The scoring model: comparisons, prior and decision thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    /// Comparisons, in configuration order.
    pub comparisons: Vec<ComparisonModel>,
    /// Prior probability that a random pair matches when configured; `None`: estimated from
    /// the population ([`population_prior`]).
    #[serde(default)]
    pub prior: Option<f64>,
    /// Match probability at or above which records link.
    pub link_threshold: f64,
    /// Match probability at or above which a pair goes to review.
    pub review_threshold: f64,
    /// Comparison indices, cheapest first, for early exit in [`Model::weight_at_least`].
    #[serde(skip)]
    order: Vec<usize>,
    /// `headroom[i]`: the most weight comparisons `order[i..]` can still add at their default
    /// u (a rare value's boost comes on top: see `boosted`).
    #[serde(skip)]
    headroom: Vec<f64>,
    /// `boosted[i]`: how many of comparisons `order[i..]` are term-frequency adjusted (each
    /// may add up to `log2(max_boost)` over its exact weight).
    #[serde(skip)]
    boosted: Vec<usize>,
    /// Value frequencies of the stored records, shared with the engine that updates them.
    #[serde(skip)]
    tf: Arc<RwLock<TermFrequencies>>,
    /// The person-name attribute compared by given and family part, if any.
    #[serde(skip)]
    name_attr: Option<usize>,
    /// The indices of its given and family comparisons.
    #[serde(skip)]
    name_parts: Option<(usize, usize)>,
}

/// Relative cost of a method's level computation; cheap, decisive comparisons run first.
fn cost(method: Method) -> u8 {
    match method {
        Method::Phone | Method::Email | Method::Date | Method::Postcode | Method::Identifier => 0,
        Method::Text => 1,
        Method::Address | Method::Tokens => 2,
        Method::Name => 3,
    }
}

/// One comparison's contribution to a score, for stewards and the match probe.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonExplanation {
    /// Comparison label.
    pub comparison: String,
    /// Level reached, or `null` when a value was missing.
    pub level: Option<String>,
    /// Weight contributed (0 for the null level).
    pub weight: f64,
}

/// A pair's score with the per-comparison breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Prior log-odds plus all level weights.
    pub match_weight: f64,
    /// Match probability from the weight.
    pub match_probability: f64,
    /// Weight the decision uses: the match weight, capped below the link weight when the
    /// personal evidence disagrees.
    pub decision_weight: f64,
    /// Probability from the decision weight.
    pub decision_probability: f64,
    /// True when personal evidence (given name, birth date, email, identifier) disagrees, so
    /// the pair cannot link on shared household evidence alone.
    pub personal_conflict: bool,
    /// The prior's contribution.
    pub prior_weight: f64,
    /// Per comparison, in model order.
    pub comparisons: Vec<ComparisonExplanation>,
}

/// A pair as a merge check sees it.
#[derive(Debug, Clone, Copy)]
pub struct PairCheck {
    /// Decision weight.
    pub weight: f64,
    /// Personal conflict (household members, twins' records).
    pub conflict: bool,
    /// Both records hold some identifying value (given name, birth date, identifier), so the
    /// pair can speak for or against being one person; a sparse record (a name-less contact,
    /// a family name and a phone) cannot.
    pub informative: bool,
}

/// Running match weight of a pair: the location group's disagreements count once (the most
/// negative one), and a coarse place's agreement (a city: any comparison in the group but an
/// address or a postcode) counts only when no finer one agrees, as a postcode or an address
/// shared already says the city is.
#[derive(Debug, Clone, Copy)]
struct Sum {
    w: f64,
    location_min: f64,
    /// Agreement weight of coarse places, not yet counted.
    coarse: f64,
    /// A finer place agreed.
    fine: bool,
}

impl Sum {
    fn new(prior: f64) -> Self {
        Self {
            w: prior,
            location_min: 0.0,
            coarse: 0.0,
            fine: false,
        }
    }

    fn add(&mut self, c: &ComparisonModel, x: f64) {
        if c.location && x < 0.0 {
            if x < self.location_min {
                self.w += x - self.location_min;
                self.location_min = x;
            }
        } else if c.location && x > 0.0 {
            if Self::coarse(c) {
                self.coarse += x;
            } else {
                self.w += x;
                self.fine = true;
            }
        } else {
            self.w += x;
        }
    }

    /// A coarse place: a location comparison that is not an address or a postcode (a city).
    fn coarse(c: &ComparisonModel) -> bool {
        !matches!(c.method, Method::Address | Method::Postcode)
    }

    /// The weight so far: coarse agreement counted only while no finer place agrees.
    fn total(&self) -> f64 {
        if self.fine {
            self.w
        } else {
            self.w + self.coarse
        }
    }
}

/// Personal evidence of a pair, accumulated over its comparisons.
#[derive(Debug, Clone, Copy, Default)]
struct Personal {
    /// Sum of personal weights, `None` when no personal value was on both sides.
    sum: Option<f64>,
    /// Some identifying comparison agreed strongly (see [`rescue_levels`]).
    rescued: bool,
    /// The given names differ outright (not a nickname, an initial or a typo apart).
    given_clash: bool,
    /// An identifier (national id, customer number) agreed exactly or one edit off.
    identifier_agrees: bool,
    /// Some email comparison differs outright.
    email_clash: bool,
    /// Some email comparison agrees at some level.
    email_agrees: bool,
    /// Some phone comparison differs outright.
    phone_clash: bool,
    /// Some phone comparison agrees at some level.
    phone_agrees: bool,
    /// The birth dates differ beyond a typo, a day-month swap or a shared year.
    birth_clash: bool,
    /// The birth dates are ten years or more apart (a father and a son of the same name).
    generations_apart: bool,
    /// The family names are two different Chinese surnames, not the same name in swapped
    /// fields (see [`clan_clash`]).
    clan_clash: bool,
}

/// Levels (from the top) at which an identifying comparison shows it is the same person even
/// when other personal evidence disagrees: a name exact or equivalent (not merely similar: Ming
/// and Min are different names), a date exact, swapped or one edit off, an identifier exact or
/// one edit off.
fn rescue_levels(method: Method) -> u8 {
    match method {
        Method::Date => 3,
        Method::Name | Method::Identifier | Method::Postcode => 2,
        _ => 1,
    }
}

impl Personal {
    fn add(&mut self, c: &ComparisonModel, level: u8, weight: f64, pair: (&Profile, &Profile)) {
        if matches!(c.method, Method::Email | Method::Phone) {
            let clash = usize::from(level) + 1 == c.levels.len();
            let (clashes, agrees) = match c.method {
                Method::Email => (&mut self.email_clash, &mut self.email_agrees),
                _ => (&mut self.phone_clash, &mut self.phone_agrees),
            };
            *clashes |= clash;
            *agrees |= !clash;
        }
        if c.part == Some(NamePart::Family) && usize::from(level) + 1 == c.levels.len() {
            self.clan_clash |= clan_clash(c.attr, pair.0, pair.1);
        }
        if c.identifying {
            *self.sum.get_or_insert(0.0) += weight;
            self.rescued |= weight > 0.0 && level < rescue_levels(c.method);
            // An identifying name comparison is a given name's (a name's given part, or a
            // given_name attribute).
            if c.method == Method::Name {
                self.given_clash |= usize::from(level) + 1 == c.levels.len();
            }
            if c.method == Method::Date {
                self.generations_apart |= level == comparison::DATE_YEARS_APART;
                // A year one off with the same day and month is a slip, not another birth date.
                self.birth_clash |= level == comparison::DATE_YEARS_APART
                    || (level == comparison::DATE_YEARS_APART - 1
                        && !comparison::year_slip(c.attr, pair.0, pair.1));
            }
            if c.method == Method::Identifier {
                self.identifier_agrees |= weight > 0.0 && level < rescue_levels(c.method);
            }
        } else if c.personal {
            // Families share inboxes: an agreeing email is household evidence, a differing
            // one still speaks against the pair.
            *self.sum.get_or_insert(0.0) += weight.min(0.0);
        }
    }

    /// The pair disagrees on who the person is: personal evidence is negative overall and no
    /// identifying comparison agrees; or the emails or phones and either the given names or
    /// the generations (birth dates ten years or more apart) differ outright, and no
    /// identifier agrees; or the birth dates, the emails and the phones all differ outright
    /// and no identifier agrees. A shared birth date does not outweigh another given name and
    /// another mailbox or mobile (twins share it, and their household shares the rest), nor a
    /// shared given name another generation and another mailbox (a father and a son of the
    /// same name), nor a shared name another birth date, mailbox and phone (a namesake at the
    /// same address: the same person with a new mailbox and a new phone does not also change
    /// birth date).
    ///
    /// With several email (or phone) attributes, the mailboxes (numbers) differ only when one
    /// comparison differs outright and none agrees: a new work address beside a shared
    /// personal one is not another person.
    fn conflict(&self) -> bool {
        let email_clash = self.email_clash && !self.email_agrees;
        let phone_clash = self.phone_clash && !self.phone_agrees;
        (matches!(self.sum, Some(p) if p < 0.0) && !self.rescued)
            || ((self.given_clash || self.generations_apart)
                && (email_clash || phone_clash)
                && !self.identifier_agrees)
            || (self.birth_clash && email_clash && phone_clash && !self.identifier_agrees)
            || (self.clan_clash && !self.identifier_agrees)
    }
}

/// Whether the family names of person-name attribute `attr` are two different Chinese
/// surnames (one token each, neither the other's given name): Chinese women keep their
/// surname when they marry, so a Wang and a Li sharing a mailbox and an address are a couple,
/// not one customer; a Western surname may change at marriage and never counts.
fn clan_clash(attr: usize, a: &Profile, b: &Profile) -> bool {
    use crate::normalize::name::is_chinese_surname;
    let (Some(a), Some(b)) = (a.name(attr), b.name(attr)) else {
        return false;
    };
    match (a.family.as_slice(), b.family.as_slice()) {
        ([x], [y]) => {
            x != y
                && is_chinese_surname(x)
                && is_chinese_surname(y)
                && !a.alt.contains(y)
                && !b.alt.contains(x)
                && !b.given.contains(x)
                && !a.given.contains(y)
        }
        _ => false,
    }
}

/// Share of namesakes (different people with the same name) holding the same address built
/// from that name (`mjones@gmail.com`): the u of an email agreement once the names agree.
const NAMESAKE_EMAIL_U: f64 = 0.05;

/// How far below the link weight a pair with conflicting personal evidence is placed.
const PERSONAL_CONFLICT_MARGIN: f64 = 1e-3;

/// Population below which the prior stays at its small-store value: with fewer records the
/// chance of a random pair matching is not estimated from so little.
pub const REFERENCE_POPULATION: f64 = 10_000.0;

/// Prior probability that two records taken at random are the same customer, in a population
/// of `records` (the store with the batch in progress), given a store of `stored` records in
/// `entities` live entities.
///
/// Each record has about `d` true matches, so a random pair matches with probability
/// `d / records`: the prior falls as the customer base grows, and agreeing on a common name
/// (whose frequency does not fall) weighs less against it. `d` is estimated from the store as
/// `2 (stored - entities) / stored` (exact when entities have one or two members), bounded to
/// `[1, 2]`: not below 1, because a store loaded source by source holds no duplicates before
/// the second source arrives, though they are coming.
pub fn population_prior(records: u64, stored: u64, entities: u64) -> f64 {
    let d = if stored >= 1_000 && entities > 0 && entities <= stored {
        (2.0 * (stored - entities) as f64 / stored as f64).clamp(1.0, 2.0)
    } else {
        1.0
    };
    (d / (records as f64).max(REFERENCE_POPULATION)).min(0.5)
}

/// Records a full name must be held by before its own frequency counts (more than one
/// customer's records).
const FULL_NAME_MIN_COUNT: u64 = 10;

/// A profile's full name as counted for [`Model::full_name_excess`]: given and family tokens,
/// the two parts in sorted order so "Wang Wei" and "Wei Wang" count as one name.
fn full_name_key(p: &Profile, attr: usize) -> Option<String> {
    let Some(Some(crate::ingest::profile::Norm::Name(n))) = p.attrs.get(attr) else {
        return None;
    };
    if n.given.is_empty() || n.family.is_empty() {
        return None;
    }
    let (g, f) = (n.given.join(" "), n.family.join(" "));
    Some(if g <= f {
        format!("{g}|{f}")
    } else {
        format!("{f}|{g}")
    })
}

/// Converts a match weight to a probability.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

/// Converts a probability to a match weight.
pub fn weight_of(probability: f64) -> f64 {
    (probability / (1.0 - probability)).log2()
}

impl Model {
    /// The untrained model the configuration describes (configured or default m/u).
    pub fn from_config(config: &Config) -> Self {
        let comparisons = config
            .matching
            .comparisons
            .iter()
            .map(|c| {
                let attr_name = &config.attributes[c.attr].name;
                let label = match c.part {
                    None => attr_name.clone(),
                    Some(NamePart::Given) => format!("{attr_name}.given"),
                    Some(NamePart::Family) => format!("{attr_name}.family"),
                };
                let names = comparison::level_names(c.method);
                let mu: Vec<[f64; 2]> = match &c.levels {
                    Some(l) if l.len() == names.len() => l.clone(),
                    _ => comparison::default_levels(c.method, c.part).to_vec(),
                };
                let kind = config.attributes[c.attr].kind;
                let personal = c.part == Some(NamePart::Given)
                    || matches!(
                        kind,
                        AttrKind::GivenName
                            | AttrKind::Date
                            | AttrKind::Email
                            | AttrKind::Identifier
                    );
                let identifying = personal && kind != AttrKind::Email;
                ComparisonModel {
                    label,
                    personal,
                    identifying,
                    term_frequency: c
                        .term_frequency
                        .unwrap_or_else(|| term_frequencies::applies_to(c.method)),
                    location: c
                        .location
                        .unwrap_or(matches!(kind, AttrKind::Address | AttrKind::Postcode)),
                    attr: c.attr,
                    part: c.part,
                    method: c.method,
                    levels: names
                        .iter()
                        .zip(mu)
                        .map(|(n, [m, u])| LevelModel {
                            name: n.to_string(),
                            m,
                            u,
                        })
                        .collect(),
                    weights: Vec::new(),
                }
            })
            .collect();
        let mut model = Self {
            comparisons,
            prior: config.matching.prior,
            link_threshold: config.matching.link_threshold,
            review_threshold: config.matching.review_threshold,
            order: Vec::new(),
            headroom: Vec::new(),
            boosted: Vec::new(),
            tf: Arc::default(),
            name_attr: None,
            name_parts: None,
        };
        model.refresh();
        model
    }

    /// Takes a trained model's m and u when it has the same comparisons and levels as this one
    /// (the configuration may have changed since training); thresholds and prior stay this
    /// model's. Returns whether it did.
    pub fn adopt(&mut self, trained: &Model) -> bool {
        let same = self.comparisons.len() == trained.comparisons.len()
            && self
                .comparisons
                .iter()
                .zip(&trained.comparisons)
                .all(|(a, b)| {
                    a.label == b.label && a.method == b.method && a.levels.len() == b.levels.len()
                });
        if same {
            for (a, b) in self.comparisons.iter_mut().zip(&trained.comparisons) {
                for (la, lb) in a.levels.iter_mut().zip(&b.levels) {
                    la.m = lb.m;
                    la.u = lb.u;
                }
            }
            self.refresh();
        }
        same
    }

    /// Recomputes cached level weights after m/u changed (or after deserializing).
    pub fn refresh(&mut self) {
        for c in &mut self.comparisons {
            c.weights = c.levels.iter().map(|l| (l.m / l.u).log2()).collect();
        }
        let mut order: Vec<usize> = (0..self.comparisons.len()).collect();
        order.sort_by_key(|&i| (cost(self.comparisons[i].method), i));
        let mut headroom = vec![0.0; order.len() + 1];
        let mut boosted = vec![0usize; order.len() + 1];
        for k in (0..order.len()).rev() {
            let c = &self.comparisons[order[k]];
            let best = c.weights.iter().copied().fold(0.0, f64::max);
            headroom[k] = headroom[k + 1] + best;
            boosted[k] = boosted[k + 1] + usize::from(c.term_frequency);
        }
        self.order = order;
        self.headroom = headroom;
        self.boosted = boosted;
        let part = |part| {
            self.comparisons
                .iter()
                .position(|c| c.method == Method::Name && c.part == Some(part))
        };
        self.name_parts = match (part(NamePart::Given), part(NamePart::Family)) {
            (Some(g), Some(f)) if self.comparisons[g].attr == self.comparisons[f].attr => {
                Some((g, f))
            }
            _ => None,
        };
        self.name_attr = self.name_parts.map(|(g, _)| self.comparisons[g].attr);
    }

    /// The prior in use: the configured one, else [`population_prior`] of the counted records
    /// and the population the engine last set.
    pub fn prior(&self) -> f64 {
        self.prior_of(&self.tf.read().expect("term frequencies lock"))
    }

    fn prior_of(&self, tf: &TermFrequencies) -> f64 {
        self.prior.unwrap_or_else(|| {
            let (stored, entities) = tf.population();
            population_prior(tf.records(), stored, entities)
        })
    }

    /// Log-odds of the prior.
    pub fn prior_weight(&self) -> f64 {
        weight_of(self.prior())
    }

    /// Tells the model the store's records and live entities before a batch (the prior is
    /// estimated from them).
    pub fn set_population(&self, records: u64, entities: u64) {
        self.tf
            .write()
            .expect("term frequencies lock")
            .set_population(records, entities, self.prior.is_none());
    }

    /// Match weight at which records link.
    pub fn link_weight(&self) -> f64 {
        weight_of(self.link_threshold)
    }

    /// Match weight at which pairs are queued for review.
    pub fn review_weight(&self) -> f64 {
        weight_of(self.review_threshold)
    }

    /// Levels reached by a pair on every comparison.
    pub fn levels(&self, a: &Profile, b: &Profile) -> Vec<Option<u8>> {
        self.comparisons
            .iter()
            .map(|c| comparison::level(c.method, c.attr, c.part, a, b))
            .collect()
    }

    /// Decision weight of a pair: the match weight, capped below the link weight when the
    /// personal evidence disagrees.
    pub fn weight(&self, a: &Profile, b: &Profile) -> f64 {
        self.weight_and_conflict(a, b).weight
    }

    /// Decision weight and what clustering checks when the pair is a cross pair of a merge.
    pub fn weight_and_conflict(&self, a: &Profile, b: &Profile) -> PairCheck {
        let tf = self.tf.read().expect("term frequencies lock");
        let mut w = Sum::new(weight_of(self.prior_of(&tf)));
        let mut personal = Personal::default();
        let mut informative = false;
        for (i, c) in self.comparisons.iter().enumerate() {
            if let Some(l) = comparison::level(c.method, c.attr, c.part, a, b) {
                let x = self.level_weight(&tf, i, l, a, b);
                w.add(c, x);
                personal.add(c, l, x, (a, b));
                informative |= c.identifying;
            }
        }
        PairCheck {
            weight: self.cap(w.total(), personal),
            conflict: personal.conflict(),
            informative,
        }
    }

    /// [`Model::weight`], or `None` as soon as the pair cannot reach `floor` even if every
    /// remaining comparison agreed at its best level. Exact: a pair it drops scores below `floor`.
    pub fn weight_at_least(&self, a: &Profile, b: &Profile, floor: f64) -> Option<f64> {
        let tf = self.tf.read().expect("term frequencies lock");
        let mut w = Sum::new(weight_of(self.prior_of(&tf)));
        let mut personal = Personal::default();
        let boost = tf.max_boost().log2();
        for (k, &i) in self.order.iter().enumerate() {
            if w.w + w.coarse + self.headroom[k] + self.boosted[k] as f64 * boost < floor {
                return None;
            }
            let c = &self.comparisons[i];
            if let Some(l) = comparison::level(c.method, c.attr, c.part, a, b) {
                let x = self.level_weight(&tf, i, l, a, b);
                w.add(c, x);
                personal.add(c, l, x, (a, b));
            }
        }
        let w = self.cap(w.total(), personal);
        (w >= floor).then_some(w)
    }

    /// Weight of comparison `i` at level `l`: term-frequency adjusted at the exact level, and
    /// an email agreement on an address built from the name weighs little between namesakes.
    fn level_weight(&self, tf: &TermFrequencies, i: usize, l: u8, a: &Profile, b: &Profile) -> f64 {
        let c = &self.comparisons[i];
        let x = if l != 0 || !c.term_frequency || tf.records() == 0 {
            c.weight(l)
        } else {
            match self.exact_u(tf, i, a, b) {
                Some(u) => (c.levels[0].m / u).log2(),
                None => c.weight(l),
            }
        };
        if l == 0 && c.part == Some(NamePart::Family) && c.term_frequency && tf.records() > 0 {
            let given_exact = self.name_attr == Some(c.attr)
                && comparison::level(Method::Name, c.attr, Some(NamePart::Given), a, b) == Some(0);
            if given_exact {
                return x - self.full_name_excess(tf, a, b);
            }
        }
        if c.method == Method::Email && l <= 1 {
            let cap = (c.levels[l as usize].m / NAMESAKE_EMAIL_U).log2();
            if x > cap && self.namesakes_on_name_built_email(c.attr, a, b) {
                return cap;
            }
        }
        x
    }

    /// u of comparison `i`'s exact level from the agreed value's frequency. Names agreeing with
    /// their parts swapped take the larger of the two sides' frequencies: "Adams" written as a
    /// given name is rare, but the agreement is on a common family name.
    fn exact_u(&self, tf: &TermFrequencies, i: usize, a: &Profile, b: &Profile) -> Option<f64> {
        let c = &self.comparisons[i];
        let (v, swapped) = comparison::exact_values(c.method, c.attr, c.part, a, b)?;
        let u = |v: &str| tf.u(i, term_key(v), c.levels[0].u);
        Some(swapped.map_or(u(&v), |w| u(&v).max(u(&w))))
    }

    /// Whether `a` and `b` agree on both name parts (exact or equivalent) and either one's
    /// email (the one they share) is built from its name ([`comparison::name_built_email`]).
    fn namesakes_on_name_built_email(&self, email_attr: usize, a: &Profile, b: &Profile) -> bool {
        use crate::ingest::profile::Norm;
        let Some(n) = self.name_attr else {
            return false;
        };
        // Either record's address built from its own name: asked of one side only, a pair
        // scored differently depending on which record came first.
        let built = |p: &Profile| match (p.attrs.get(email_attr), p.attrs.get(n)) {
            (Some(Some(Norm::Str(email))), Some(Some(Norm::Name(name)))) => {
                comparison::name_built_email(email, name)
            }
            _ => false,
        };
        (built(a) || built(b))
            && [NamePart::Given, NamePart::Family].into_iter().all(|part| {
                comparison::level(Method::Name, n, Some(part), a, b).is_some_and(|l| l <= 1)
            })
    }

    /// Each comparison's term-frequency value of a profile (`None` where it has none or the
    /// comparison is not adjusted).
    /// After them, one more column: the full name ([`full_name_key`]).
    pub fn tf_values(&self, p: &Profile) -> Vec<Option<TermKey>> {
        self.comparisons
            .iter()
            .map(|c| {
                if c.term_frequency {
                    term_frequencies::value_of(c.method, c.attr, c.part, p).map(|v| term_key(&v))
                } else {
                    None
                }
            })
            .chain(std::iter::once(
                self.name_attr
                    .and_then(|n| full_name_key(p, n))
                    .map(|v| term_key(&v)),
            ))
            .collect()
    }

    /// Weight to take off a pair agreeing exactly on both name parts because the full name is
    /// more common than its parts' frequencies multiplied suggest ("Wang Wei", "Michael
    /// Jones"): `log2(u_full / (u_given * u_family))` when positive.
    fn full_name_excess(&self, tf: &TermFrequencies, a: &Profile, b: &Profile) -> f64 {
        let (Some(n), Some((g, f))) = (self.name_attr, self.name_parts) else {
            return 0.0;
        };
        if !(self.comparisons[g].term_frequency && self.comparisons[f].term_frequency) {
            return 0.0;
        }
        // A full name held by few records may be one customer's own (every record of a
        // customer carries the name): only a name more records hold than one customer has
        // is known to be shared by others. Checked first: most names are not.
        let Some(full) = full_name_key(a, n) else {
            return 0.0;
        };
        let count = tf.count(self.comparisons.len(), term_key(&full));
        if count < FULL_NAME_MIN_COUNT {
            return 0.0;
        }
        let (Some(ug), Some(uf)) = (self.exact_u(tf, g, a, b), self.exact_u(tf, f, a, b)) else {
            return 0.0;
        };
        let full = count as f64 / tf.records().max(1) as f64;
        (full / (ug * uf)).log2().max(0.0)
    }

    /// Counts records in (`sign` 1) or out (`sign` -1) of the term frequencies.
    pub fn count_terms<'p>(&self, profiles: impl IntoIterator<Item = &'p Profile>, sign: i32) {
        let values: Vec<Vec<Option<TermKey>>> =
            profiles.into_iter().map(|p| self.tf_values(p)).collect();
        self.count_values(&values, sign);
    }

    /// Counts records in or out by their [`Model::tf_values`].
    pub fn count_values(&self, values: &[Vec<Option<TermKey>>], sign: i32) {
        let mut tf = self.tf.write().expect("term frequencies lock");
        for v in values {
            tf.add(v, sign);
        }
    }

    /// The term-frequency counts as bytes (see [`TermFrequencies::snapshot`]).
    pub fn terms_snapshot(&self) -> Vec<u8> {
        self.tf.read().expect("term frequencies lock").snapshot()
    }

    /// Replaces the term-frequency counts from a snapshot; false when it does not fit.
    pub fn restore_terms(&self, bytes: &[u8]) -> bool {
        match TermFrequencies::restore(bytes, self.comparisons.len() + 1) {
            Some(mut t) => {
                let mut tf = self.tf.write().expect("term frequencies lock");
                let (records, entities) = tf.population();
                t.set_population(records, entities, self.prior.is_none());
                *tf = t;
                true
            }
            None => false,
        }
    }

    /// Number of records the term frequencies count.
    pub fn counted_records(&self) -> u64 {
        self.tf.read().expect("term frequencies lock").records()
    }

    fn cap(&self, w: f64, personal: Personal) -> f64 {
        if personal.conflict() {
            w.min(self.link_weight() - PERSONAL_CONFLICT_MARGIN)
        } else {
            w
        }
    }

    /// Match weight of a pair with the per-comparison breakdown.
    pub fn explain(&self, a: &Profile, b: &Profile) -> Explanation {
        let tf = self.tf.read().expect("term frequencies lock");
        let prior_weight = weight_of(self.prior_of(&tf));
        let mut total = Sum::new(prior_weight);
        let mut personal = Personal::default();
        let mut comparisons: Vec<ComparisonExplanation> = self
            .comparisons
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let level = comparison::level(c.method, c.attr, c.part, a, b);
                let weight = level.map_or(0.0, |l| self.level_weight(&tf, i, l, a, b));
                total.add(c, weight);
                if let Some(l) = level {
                    personal.add(c, l, weight, (a, b));
                }
                ComparisonExplanation {
                    comparison: c.label.clone(),
                    level: level.map(|l| c.levels[l as usize].name.clone()),
                    weight: round3(weight),
                }
            })
            .collect();
        if total.fine {
            // A city's agreement said nothing a postcode or an address had not said already.
            for (c, e) in self.comparisons.iter().zip(&mut comparisons) {
                if c.location && Sum::coarse(c) && e.weight > 0.0 {
                    e.weight = 0.0;
                }
            }
        }
        let total = total.total();
        let decision_weight = self.cap(total, personal);
        Explanation {
            match_weight: round3(total),
            match_probability: probability(total),
            decision_weight: round3(decision_weight),
            decision_probability: probability(decision_weight),
            personal_conflict: decision_weight < total,
            prior_weight: round3(prior_weight),
            comparisons,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::ingest::profile::Norm;

    fn bundled_config() -> Config {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/goldrec.toml"))
                .unwrap();
        Config::parse(&text).unwrap()
    }

    fn person(config: &Config, given: &str, family: &str, dob: &str, email: &str) -> Profile {
        let attr = |n: &str| config.attr(n).unwrap();
        let mut p = Profile {
            attrs: vec![None; config.attributes.len()],
        };
        p.attrs[attr("name")] = Some(Norm::Name(crate::ingest::profile::NameNorm {
            given: vec![given.into()],
            family: vec![family.into()],
            ..Default::default()
        }));
        p.attrs[attr("birth_date")] = Some(Norm::Str(dob.into()));
        p.attrs[attr("email")] = Some(Norm::Str(email.into()));
        p.attrs[attr("phone")] = Some(Norm::Str("+16465550199".into()));
        p.attrs[attr("address")] =
            Some(Norm::Tokens(vec!["88".into(), "canal".into(), "st".into()]));
        p.attrs[attr("postcode")] = Some(Norm::Str("10013".into()));
        p
    }

    #[test]
    fn the_prior_follows_the_population() {
        // Small stores keep the reference value; then it falls as 1 / N.
        assert_eq!(population_prior(500, 0, 0), 1e-4);
        assert!((population_prior(400_000, 0, 0) - 2.5e-6).abs() < 1e-12);
        // d from the store: 100k records in 60k entities -> 0.8 true matches per record,
        // bounded below by 1; 100k in 40k -> 1.2.
        assert!((population_prior(100_000, 100_000, 60_000) - 1e-5).abs() < 1e-12);
        assert!((population_prior(100_000, 100_000, 40_000) - 1.2e-5).abs() < 1e-12);
        // A configured prior wins.
        let mut model = Model::from_config(&bundled_config());
        model.set_population(1_000_000, 600_000);
        assert_eq!(
            model.prior(),
            1e-4,
            "nothing counted yet: the reference population"
        );
        model.prior = Some(0.001);
        assert_eq!(model.prior(), 0.001);
    }

    #[test]
    fn another_work_address_beside_a_shared_personal_one_is_no_clash() {
        let config = Config::parse(
            r#"
            [attributes]
            name = { kind = "person_name" }
            dob = { kind = "date" }
            email = { kind = "email" }
            work_email = { kind = "email" }
            phone = { kind = "phone" }
            [sources.s]
            format = "json"
            key = "id"
            fields = { name = "name", dob = "dob", email = "email", work_email = "work", phone = "phone" }
            "#,
        )
        .unwrap();
        let model = Model::from_config(&config);
        let attr = |n: &str| config.attr(n).unwrap();
        let profile = |dob: &str, email: &str, work: &str, phone: &str| {
            let mut p = Profile {
                attrs: vec![None; config.attributes.len()],
            };
            p.attrs[attr("name")] = Some(Norm::Name(crate::ingest::profile::NameNorm {
                given: vec!["na".into()],
                family: vec!["li".into()],
                ..Default::default()
            }));
            p.attrs[attr("dob")] = Some(Norm::Str(dob.into()));
            p.attrs[attr("email")] = Some(Norm::Str(email.into()));
            p.attrs[attr("work_email")] = Some(Norm::Str(work.into()));
            p.attrs[attr("phone")] = Some(Norm::Str(phone.into()));
            p
        };
        // One name, another birth date and another phone: namesakes when the mailboxes differ
        // too, but not while the personal one is shared (only the work address changed).
        let a = profile(
            "1980-03-04",
            "na.li@example.com",
            "nli@acme.com",
            "+8613812345678",
        );
        let b = profile(
            "1985-07-09",
            "na.li@example.com",
            "na@other.cn",
            "+8613987654321",
        );
        assert!(!model.weight_and_conflict(&a, &b).conflict);
        let c = profile(
            "1985-07-09",
            "lina@example.org",
            "na@other.cn",
            "+8613987654321",
        );
        assert!(model.weight_and_conflict(&a, &c).conflict);
    }

    #[test]
    fn a_city_agreement_adds_nothing_once_the_postcode_agrees() {
        let config = bundled_config();
        let model = Model::from_config(&config);
        let city = config.attr("city").unwrap();
        let postcode = config.attr("postcode").unwrap();
        let a = person(&config, "na", "li", "1985-05-05", "na.li@example.com");
        let mut b = person(&config, "wei", "wang", "1960-01-01", "wei@example.org");
        b.attrs[config.attr("address").unwrap()] = None;
        let set = |p: &mut Profile, attr: usize, v: Option<&str>| {
            p.attrs[attr] = v.map(|v| Norm::Str(v.into()));
        };
        let (mut a_city, mut b_city) = (a.clone(), b.clone());
        set(&mut a_city, city, Some("boston"));
        set(&mut b_city, city, Some("boston"));
        // Postcode shared: the city's agreement changes nothing.
        assert_eq!(model.weight(&a, &b), model.weight(&a_city, &b_city));
        // No postcode on one side: the city is the only place evidence and counts.
        set(&mut a_city, postcode, None);
        let (mut a_none, b_none) = (a.clone(), b.clone());
        set(&mut a_none, postcode, None);
        assert!(model.weight(&a_city, &b_city) > model.weight(&a_none, &b_none) + 1.0);
    }

    #[test]
    fn a_chinese_couple_sharing_a_home_conflicts_but_a_married_western_name_does_not() {
        let config = bundled_config();
        let model = Model::from_config(&config);
        // Wife and husband: her surname stays Li; mailbox, phone and address are the family's.
        let wife = person(&config, "jianhua", "li", "1971-02-03", "home@example.com");
        let husband = person(&config, "jianhui", "wang", "1971-02-13", "home@example.com");
        let e = model.explain(&wife, &husband);
        assert!(e.personal_conflict, "{e:?}");
        assert!(e.decision_probability < model.link_threshold);
        // The same name with its fields swapped is not two surnames.
        let swapped = person(&config, "li", "jianhua", "1971-02-03", "home@example.com");
        assert!(!model.explain(&wife, &swapped).personal_conflict);
        // A Western surname changes at marriage: Smith and Jones say nothing on their own.
        let maiden = person(&config, "emily", "smith", "1980-04-05", "em@example.com");
        let married = person(&config, "emily", "jones", "1980-04-05", "em@example.com");
        let e = model.explain(&maiden, &married);
        assert!(!e.personal_conflict, "{e:?}");
        assert!(e.decision_probability >= model.link_threshold, "{e:?}");
    }

    #[test]
    fn household_members_conflict_but_a_corrupted_duplicate_does_not() {
        let config = bundled_config();
        let model = Model::from_config(&config);
        let mother = person(&config, "na", "li", "1985-05-05", "li.family@example.com");
        let son = person(&config, "ming", "li", "2010-09-09", "li.family@example.com");
        let e = model.explain(&mother, &son);
        assert!(
            e.match_probability >= model.link_threshold,
            "shared evidence alone is strong: {e:?}"
        );
        assert!(
            e.personal_conflict,
            "a shared email does not make them one person"
        );
        assert!(e.decision_probability < model.link_threshold);
        // Same person, birth date mistyped beyond one edit and a new email: the given name agrees.
        let typo = person(&config, "na", "li", "1958-11-05", "na.li@newmail.com");
        let e = model.explain(&mother, &typo);
        assert!(!e.personal_conflict, "{e:?}");
        assert!(e.decision_probability >= model.link_threshold);
    }

    #[test]
    fn a_name_written_family_first_scores_the_same_from_either_side() {
        let config = bundled_config();
        let model = Model::from_config(&config);
        // "Reeves David" (family first) and his wife Amy Reeves: one address, own mailboxes.
        let david = person(
            &config,
            "reeves",
            "david",
            "1974-10-25",
            "dreeves@example.com",
        );
        let amy = person(&config, "amy", "reeves", "1969-02-19", "amy.r@example.org");
        for (a, b) in [(&david, &amy), (&amy, &david)] {
            let e = model.explain(a, b);
            let level = |c: &str| {
                e.comparisons
                    .iter()
                    .find(|x| x.comparison == c)
                    .and_then(|x| x.level.clone())
            };
            assert_eq!(level("name.family").as_deref(), Some("exact"), "{e:?}");
            assert_ne!(level("name.given").as_deref(), Some("exact"), "{e:?}");
            assert!(e.personal_conflict, "David and Amy: {e:?}");
        }
        assert_eq!(
            model.weight(&david, &amy),
            model.weight(&amy, &david),
            "the same pair either way round"
        );
        // Nothing tells which is reversed ("Kowalski Zbigniew" / "Zbigniew Kowalski"):
        // still one weight either way round.
        let x = person(
            &config,
            "kowalski",
            "zbigniew",
            "1980-01-01",
            "zk@example.com",
        );
        let y = person(
            &config,
            "zbigniew",
            "kowalski",
            "1980-01-01",
            "zk@example.com",
        );
        assert_eq!(model.weight(&x, &y), model.weight(&y, &x));
        assert!(!model.explain(&x, &y).personal_conflict);
        // A shared address built from one record's name only ("wsmith" from William Smith,
        // not from Bill Smith): the namesake cap applies either way round.
        let william = person(
            &config,
            "william",
            "smith",
            "1980-01-01",
            "wsmith@gmail.com",
        );
        let bill = person(&config, "bill", "smith", "1980-01-01", "wsmith@gmail.com");
        assert_eq!(model.weight(&william, &bill), model.weight(&bill, &william));
    }

    #[test]
    fn twins_and_namesake_generations_with_their_own_emails_conflict() {
        let config = bundled_config();
        let model = Model::from_config(&config);
        // Same family name, birth date, phone, address; another given name and mailbox.
        let anna = person(&config, "anna", "li", "1990-01-01", "anna.li@example.com");
        let bo = person(&config, "bo", "li", "1990-01-01", "bo.li@example.org");
        let e = model.explain(&anna, &bo);
        assert!(e.match_probability >= model.link_threshold, "{e:?}");
        assert!(e.personal_conflict, "twins: {e:?}");
        assert!(e.decision_probability < model.link_threshold);
        // Without emails or phones to tell them apart, a given name alone does not outweigh
        // the birth date (a corrupted given name, as in FEBRL).
        let email = config.attr("email").unwrap();
        let (mut anna, mut bo) = (anna, bo);
        anna.attrs[email] = None;
        bo.attrs[email] = None;
        assert!(!model.explain(&anna, &bo).personal_conflict);
        // Their own mobiles tell them apart as well as their own mailboxes.
        let phone = config.attr("phone").unwrap();
        bo.attrs[phone] = Some(Norm::Str("+16465550288".into()));
        assert!(model.explain(&anna, &bo).personal_conflict);
        // A father and a son of the same name: a generation apart, each with his mailbox.
        assert_eq!(
            comparison::level_names(Method::Date)[usize::from(comparison::DATE_YEARS_APART)],
            "years_apart_10"
        );
        let senior = person(&config, "james", "li", "1955-03-04", "jli55@example.com");
        let junior = person(&config, "james", "li", "1987-07-08", "james.li@example.org");
        assert!(model.explain(&senior, &junior).personal_conflict);
        // Namesakes at one address, under ten years apart: another birth date, mailbox and
        // phone each. With the phone shared, the same pair is one person whose birth date is
        // mistyped and who has a new mailbox.
        let first = person(
            &config,
            "patricia",
            "li",
            "1986-12-05",
            "pli190@example.com",
        );
        let mut second = person(&config, "patricia", "li", "1979-09-21", "patli@example.org");
        assert!(!model.explain(&first, &second).personal_conflict);
        second.attrs[phone] = Some(Norm::Str("+12127472313".into()));
        assert!(model.explain(&first, &second).personal_conflict);
        // A birth year one off on the same day and month (two edits: 1979 / 1980) is a slip,
        // not another birth date.
        let birth = config.attr("birth_date").unwrap();
        let mut first = first;
        first.attrs[birth] = Some(Norm::Str("1979-12-05".into()));
        second.attrs[birth] = Some(Norm::Str("1980-12-05".into()));
        assert!(!model.explain(&first, &second).personal_conflict);
        second.attrs[birth] = Some(Norm::Str("1980-11-05".into()));
        assert!(model.explain(&first, &second).personal_conflict);
    }

    #[test]
    fn names_written_swapped_weigh_by_the_common_reading() {
        let config = bundled_config();
        let model = Model::from_config(&config);
        // A store where Lisa is a common given name and Adams a common family name.
        let mut store: Vec<Profile> = (0..400)
            .map(|i| person(&config, "lisa", &format!("f{i}"), "", &format!("{i}@x.com")))
            .collect();
        store.extend((0..400).map(|i| {
            person(
                &config,
                &format!("g{i}"),
                "adams",
                "",
                &format!("{i}@y.com"),
            )
        }));
        store.extend((0..20_000).map(|i| {
            person(
                &config,
                &format!("h{i}"),
                &format!("k{i}"),
                "",
                &format!("{i}@z.com"),
            )
        }));
        model.count_terms(&store, 1);
        let only_name = |p: Profile| {
            let mut p = p;
            for (i, v) in p.attrs.iter_mut().enumerate() {
                if i != config.attr("name").unwrap() {
                    *v = None;
                }
            }
            p
        };
        let straight = only_name(person(&config, "lisa", "adams", "", ""));
        let swapped = only_name(person(&config, "adams", "lisa", "", ""));
        let same = model.weight(&straight, &straight);
        let crossed = model.weight(&swapped, &straight);
        assert!(
            (crossed - same).abs() < 0.5,
            "\"Adams Lisa\" agrees with \"Lisa Adams\" on common names: {crossed} vs {same}"
        );
        assert!((model.weight(&straight, &swapped) - crossed).abs() < 1e-9);
    }

    #[test]
    fn a_move_counts_once() {
        let config = bundled_config();
        let model = Model::from_config(&config);
        let (address, postcode) = (
            config.attr("address").unwrap(),
            config.attr("postcode").unwrap(),
        );
        let home = person(&config, "na", "li", "1985-05-05", "na.li@example.com");
        let mut unknown = home.clone();
        unknown.attrs[address] = None;
        unknown.attrs[postcode] = None;
        let mut moved = home.clone();
        moved.attrs[postcode] = Some(Norm::Str("94105".into()));
        moved.attrs[address] = Some(Norm::Tokens(vec!["5".into(), "pine".into(), "st".into()]));
        let else_weight = |label: &str| {
            let c = model.comparisons.iter().find(|c| c.label == label).unwrap();
            c.weight((c.levels.len() - 1) as u8)
        };
        let penalty = model.weight(&home, &moved) - model.weight(&home, &unknown);
        let strongest = else_weight("address").min(else_weight("postcode"));
        assert!(
            (penalty - strongest).abs() < 1e-9,
            "a move costs its strongest disagreement once: {penalty} vs {strongest}"
        );
    }

    #[test]
    fn early_exit_agrees_with_the_full_weight() {
        let config = bundled_config();
        let model = Model::from_config(&config);
        let attr = |n: &str| config.attr(n).unwrap();
        let mut profiles = Vec::new();
        for (i, (email, phone, date)) in [
            ("a@x.com", "+14155550101", "1980-03-15"),
            ("a@x.com", "+14155550101", "1980-03-16"),
            ("b@y.com", "+14155550101", "1990-01-01"),
            ("c@z.com", "+16465550199", "1980-03-15"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut p = Profile {
                attrs: vec![None; config.attributes.len()],
            };
            p.attrs[attr("email")] = Some(Norm::Str(email.into()));
            p.attrs[attr("phone")] = Some(Norm::Str(phone.into()));
            p.attrs[attr("birth_date")] = Some(Norm::Str(date.into()));
            p.attrs[attr("postcode")] = Some(Norm::Str(format!("9410{i}")));
            profiles.push(p);
        }
        for a in &profiles {
            for b in &profiles {
                let full = model.weight(a, b);
                for floor in [-20.0, 0.0, 4.0, 30.0] {
                    let got = model.weight_at_least(a, b, floor);
                    assert_eq!(got, (full >= floor).then_some(full), "floor {floor}");
                }
            }
        }
    }
}
