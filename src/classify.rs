//! Classification (`[classification]`): named attributes computed per entity from its
//! activity: RFM scores (fixed or quantile bands), lifecycle stage, value tier, scorecards
//! (points per band of a field, summed, each factor's contribution kept), and the segments
//! they put the entity in.
//!
//! [`Rules::metrics`] sums an entity's activity into [`Metrics`]; [`Rules::classify`] turns
//! metrics into a [`Classification`] with the current [`Quantiles`]. The engine recomputes
//! the classification of every entity a commit touches (its members or their activity) in
//! that commit, and emits the old and new values in the change feed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::activity::Activity;
use crate::config::raw::{RawBands, RawClassification};
use crate::store::EntityId;

const DAY_MS: f64 = 86_400_000.0;

/// A numeric field of the metrics that bands, tiers and scorecards read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Days since the last activity.
    RecencyDays,
    /// Days since the first activity.
    TenureDays,
    /// Number of activities with an amount (purchases).
    Frequency,
    /// Sum of amounts in the classification's currency.
    Monetary,
    /// Number of activities of any type.
    Interactions,
    /// Complaints still open.
    OpenComplaints,
}

impl Field {
    const NAMES: &'static str =
        "recency_days, tenure_days, frequency, monetary, interactions, open_complaints";

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "recency_days" => Self::RecencyDays,
            "tenure_days" => Self::TenureDays,
            "frequency" => Self::Frequency,
            "monetary" => Self::Monetary,
            "interactions" => Self::Interactions,
            "open_complaints" => Self::OpenComplaints,
            _ => return None,
        })
    }

    /// The field's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RecencyDays => "recency_days",
            Self::TenureDays => "tenure_days",
            Self::Frequency => "frequency",
            Self::Monetary => "monetary",
            Self::Interactions => "interactions",
            Self::OpenComplaints => "open_complaints",
        }
    }
}

/// RFM band boundaries: four fixed ones, ascending, or the store's quintiles.
#[derive(Debug, Clone, PartialEq)]
pub enum Bands {
    /// Fixed boundaries.
    Fixed([f64; 4]),
    /// Quintiles over the store's entities with activity.
    Quantiles,
}

/// `[classification.lifecycle]`, in days.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// First activity at most this long ago: `new`.
    pub new_days: f64,
    /// Last activity at most this long ago: `active`.
    pub active_days: f64,
    /// Last activity longer ago than this: `lapsed` (between: `at_risk`).
    pub lapsed_days: f64,
}

/// One scorecard factor.
#[derive(Debug, Clone)]
pub struct Factor {
    /// Field read.
    pub field: Field,
    /// `[upper bound, points]`, ascending: the first bound the value is at or under wins.
    pub bands: Vec<[f64; 2]>,
    /// Points above every bound.
    pub otherwise: f64,
    /// Points when the field has no value (no activity).
    pub missing: f64,
}

/// A scorecard: factors summed, graded.
#[derive(Debug, Clone)]
pub struct Scorecard {
    /// Name (the result attribute).
    pub name: String,
    /// Factors.
    pub factors: Vec<Factor>,
    /// (grade, lowest score), highest first.
    pub grades: Vec<(String, f64)>,
}

/// Validated `[classification]`.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Currency of monetary.
    pub currency: String,
    /// Units of `currency` per unit of another currency.
    pub rates: BTreeMap<String, f64>,
    /// (recency, frequency, monetary) bands.
    pub rfm: Option<[Bands; 3]>,
    /// Lifecycle stage.
    pub lifecycle: Option<Lifecycle>,
    /// Value tier: field and (tier, lowest value), highest first.
    pub value_tier: Option<(Field, Vec<(String, f64)>)>,
    /// Scorecards.
    pub scorecards: Vec<Scorecard>,
    /// Segment name -> result values that must all hold.
    pub segments: BTreeMap<String, BTreeMap<String, String>>,
    /// How often a running server reclassifies every customer, ms (`None`: never): recency,
    /// lifecycle and the scores built on them move with time alone.
    pub refresh_ms: Option<i64>,
}

/// `[classification] refresh` when not set: once a day.
pub const DEFAULT_REFRESH_MS: i64 = 86_400_000;

/// What an entity's activity sums to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// First activity, ms.
    pub first_at: Option<i64>,
    /// Last activity, ms.
    pub last_at: Option<i64>,
    /// Activities with an amount.
    pub frequency: u64,
    /// Sum of amounts in the classification currency.
    pub monetary: f64,
    /// All activities.
    pub interactions: u64,
    /// Open complaints.
    pub open_complaints: u64,
}

impl Metrics {
    /// These metrics with `other`'s activity added.
    pub fn merged(&self, other: &Metrics) -> Metrics {
        let min = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        let max = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        Metrics {
            first_at: min(self.first_at, other.first_at),
            last_at: max(self.last_at, other.last_at),
            frequency: self.frequency + other.frequency,
            monetary: ((self.monetary + other.monetary) * 100.0).round() / 100.0,
            interactions: self.interactions + other.interactions,
            open_complaints: self.open_complaints + other.open_complaints,
        }
    }

    /// The value of `f` at `now` (`None`: no activity for recency and tenure).
    pub fn field(&self, f: Field, now: i64) -> Option<f64> {
        let days = |t: Option<i64>| t.map(|t| ((now - t) as f64 / DAY_MS).max(0.0).floor());
        match f {
            Field::RecencyDays => days(self.last_at),
            Field::TenureDays => days(self.first_at),
            Field::Frequency => Some(self.frequency as f64),
            Field::Monetary => Some(self.monetary),
            Field::Interactions => Some(self.interactions as f64),
            Field::OpenComplaints => Some(self.open_complaints as f64),
        }
    }
}

/// One factor's contribution to a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// Field.
    pub field: String,
    /// Its value (`None`: missing).
    pub value: Option<f64>,
    /// Points it gave.
    pub points: f64,
}

/// A scorecard's result, explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Sum of the points.
    pub total: f64,
    /// Grade, when grades are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// Each factor's contribution.
    pub factors: Vec<Contribution>,
}

/// An entity's classification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// Named results (`rfm`, `rfm_r`, `lifecycle`, `value_tier`, scorecard grades...).
    pub values: BTreeMap<String, String>,
    /// Scorecards with each factor's contribution.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scores: BTreeMap<String, Score>,
    /// Segments the entity is in.
    #[serde(default)]
    pub segments: Vec<String>,
    /// The metrics it was computed from.
    pub metrics: Metrics,
    /// When it was computed, ms.
    pub at: i64,
}

/// Quintile cut points of recency (days), frequency and monetary over the store's entities.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quantiles {
    /// Recency cut points (ascending).
    pub recency: [f64; 4],
    /// Frequency cut points.
    pub frequency: [f64; 4],
    /// Monetary cut points.
    pub monetary: [f64; 4],
    /// Entities they were computed over.
    pub over: usize,
}

impl Quantiles {
    /// Quintiles of the metrics of entities with activity, at `now`.
    pub fn of<'a>(metrics: impl Iterator<Item = &'a Metrics>, now: i64) -> Self {
        let (mut r, mut f, mut m) = (Vec::new(), Vec::new(), Vec::new());
        for x in metrics {
            if let Some(d) = x.field(Field::RecencyDays, now) {
                r.push(d);
                f.push(x.frequency as f64);
                m.push(x.monetary);
            }
        }
        let cuts = |v: &mut Vec<f64>| -> [f64; 4] {
            if v.is_empty() {
                return [0.0; 4];
            }
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
            [at(0.2), at(0.4), at(0.6), at(0.8)]
        };
        Self {
            over: r.len(),
            recency: cuts(&mut r),
            frequency: cuts(&mut f),
            monetary: cuts(&mut m),
        }
    }
}

/// Changes of one entity's classification in a commit.
#[derive(Debug, Clone)]
pub struct ClassWrite {
    /// Entity.
    pub entity: EntityId,
    /// Segments before.
    pub old_segments: Vec<String>,
    /// The classification after (`None`: the entity is gone).
    pub new: Option<Classification>,
}

fn bands(key: &str, b: RawBands) -> Result<Bands, (String, String)> {
    match (b.bands, b.quantiles) {
        (Some(_), true) => Err((
            key.into(),
            "give bands or quantiles = true, not both".into(),
        )),
        (None, false) => Err((
            key.into(),
            "give bands = [four ascending bounds] or quantiles = true".into(),
        )),
        (None, true) => Ok(Bands::Quantiles),
        (Some(v), false) => {
            let arr: [f64; 4] = v.as_slice().try_into().map_err(|_| {
                (
                    format!("{key}.bands"),
                    format!("give four ascending bounds (five bands), got {}", v.len()),
                )
            })?;
            if !arr.windows(2).all(|w| w[0] < w[1]) || arr.iter().any(|x| !x.is_finite()) {
                return Err((
                    format!("{key}.bands"),
                    "bounds must be finite and strictly ascending".into(),
                ));
            }
            Ok(Bands::Fixed(arr))
        }
    }
}

fn field(key: &str, name: &str) -> Result<Field, (String, String)> {
    Field::parse(name).ok_or_else(|| {
        (
            key.into(),
            format!("unknown field {name:?}, expected one of {}", Field::NAMES),
        )
    })
}

fn descending(m: BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

impl Rules {
    /// Validates `[classification]`; errors are (dotted key, reason).
    pub fn from_raw(raw: RawClassification) -> Result<Self, (String, String)> {
        let k = "classification";
        let currency = raw.currency.unwrap_or_else(|| "USD".into());
        let rfm = match raw.rfm {
            None => None,
            Some(r) => Some([
                bands(&format!("{k}.rfm.recency"), r.recency)?,
                bands(&format!("{k}.rfm.frequency"), r.frequency)?,
                bands(&format!("{k}.rfm.monetary"), r.monetary)?,
            ]),
        };
        let lifecycle = match raw.lifecycle {
            None => None,
            Some(l) => {
                if !(l.new_days >= 0.0 && l.active_days > 0.0 && l.lapsed_days > l.active_days) {
                    return Err((
                        format!("{k}.lifecycle"),
                        "need new_days >= 0, active_days > 0 and lapsed_days > active_days".into(),
                    ));
                }
                Some(Lifecycle {
                    new_days: l.new_days,
                    active_days: l.active_days,
                    lapsed_days: l.lapsed_days,
                })
            }
        };
        let value_tier = match raw.value_tier {
            None => None,
            Some(t) => {
                let f = field(
                    &format!("{k}.value_tier.field"),
                    t.field.as_deref().unwrap_or("monetary"),
                )?;
                if t.tiers.is_empty() {
                    return Err((
                        format!("{k}.value_tier.tiers"),
                        "name at least one tier".into(),
                    ));
                }
                Some((f, descending(t.tiers)))
            }
        };
        let mut scorecards = Vec::new();
        for (name, s) in raw.scorecards {
            let sk = format!("{k}.scorecards.{name}");
            if s.factors.is_empty() {
                return Err((format!("{sk}.factors"), "give at least one factor".into()));
            }
            let mut factors = Vec::new();
            for (i, f) in s.factors.into_iter().enumerate() {
                let fk = format!("{sk}.factors[{i}]");
                if !f.bands.windows(2).all(|w| w[0][0] < w[1][0]) {
                    return Err((format!("{fk}.bands"), "bounds must be ascending".into()));
                }
                factors.push(Factor {
                    field: field(&format!("{fk}.field"), &f.field)?,
                    bands: f.bands,
                    otherwise: f.otherwise,
                    missing: f.missing,
                });
            }
            scorecards.push(Scorecard {
                name,
                factors,
                grades: descending(s.grades),
            });
        }
        let refresh_ms = match raw.refresh.as_deref().map(str::trim) {
            None => Some(DEFAULT_REFRESH_MS),
            Some("off") => None,
            Some(v) => Some(crate::config::parse_duration_ms(v).ok_or_else(|| {
                (
                    format!("{k}.refresh"),
                    format!("expected a duration like \"24h\", \"30m\" or \"off\", got {v:?}"),
                )
            })?),
        };
        let mut rules = Self {
            refresh_ms,
            currency,
            rates: raw.rates,
            rfm,
            lifecycle,
            value_tier,
            scorecards,
            segments: BTreeMap::new(),
        };
        let names = rules.result_names();
        for (seg, conds) in &raw.segments {
            if conds.is_empty() {
                return Err((
                    format!("{k}.segments.{seg}"),
                    "give at least one result = value".into(),
                ));
            }
            for r in conds.keys() {
                if !names.contains(r) {
                    return Err((
                        format!("{k}.segments.{seg}.{r}"),
                        format!("unknown result {r:?}, expected one of {}", names.join(", ")),
                    ));
                }
            }
        }
        rules.segments = raw.segments;
        Ok(rules)
    }

    /// The result names these rules compute.
    pub fn result_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.rfm.is_some() {
            v.extend(["rfm", "rfm_r", "rfm_f", "rfm_m"].map(String::from));
        }
        if self.lifecycle.is_some() {
            v.push("lifecycle".into());
        }
        if self.value_tier.is_some() {
            v.push("value_tier".into());
        }
        for s in &self.scorecards {
            v.push(s.name.clone());
            v.push(format!("{}_score", s.name));
        }
        v
    }

    /// Whether quantile bands are in use (their cut points must be kept current).
    pub fn uses_quantiles(&self) -> bool {
        self.rfm
            .as_ref()
            .is_some_and(|r| r.contains(&Bands::Quantiles))
    }

    /// An amount in the classification currency (`None`: a currency without a rate).
    pub fn convert(&self, amount: f64, currency: Option<&str>) -> Option<f64> {
        match currency {
            Some(c) if c != self.currency => self.rates.get(c).map(|r| amount * r),
            _ => Some(amount),
        }
    }

    /// Sums activities into metrics.
    pub fn metrics<'a>(&self, acts: impl IntoIterator<Item = &'a Activity>) -> Metrics {
        let mut m = Metrics::default();
        for a in acts {
            m.interactions += 1;
            m.first_at = Some(m.first_at.map_or(a.at, |t| t.min(a.at)));
            m.last_at = Some(m.last_at.map_or(a.at, |t| t.max(a.at)));
            if let Some(v) = a.amount {
                m.frequency += 1;
                if let Some(v) = self.convert(v, a.currency.as_deref()) {
                    m.monetary += v;
                }
            }
            m.open_complaints += u64::from(a.open_complaint);
        }
        m.monetary = (m.monetary * 100.0).round() / 100.0;
        m
    }

    /// Classifies metrics at `now` with the current quantiles.
    pub fn classify(&self, m: &Metrics, q: &Quantiles, now: i64) -> Classification {
        let mut values = BTreeMap::new();
        let recency = m.field(Field::RecencyDays, now);
        if let (Some([rb, fb, mb]), Some(r)) = (&self.rfm, recency) {
            let lower_better = |b: &Bands, cuts: &[f64; 4], v: f64| -> u8 {
                let c = match b {
                    Bands::Fixed(c) => c,
                    Bands::Quantiles => cuts,
                };
                5 - c.iter().filter(|x| v > **x).count() as u8
            };
            let higher_better = |b: &Bands, cuts: &[f64; 4], v: f64| -> u8 {
                match b {
                    Bands::Fixed(c) => 1 + c.iter().filter(|x| v >= **x).count() as u8,
                    Bands::Quantiles => 1 + cuts.iter().filter(|x| v > **x).count() as u8,
                }
            };
            let rs = lower_better(rb, &q.recency, r);
            let fs = higher_better(fb, &q.frequency, m.frequency as f64);
            let ms = higher_better(mb, &q.monetary, m.monetary);
            values.insert("rfm_r".into(), rs.to_string());
            values.insert("rfm_f".into(), fs.to_string());
            values.insert("rfm_m".into(), ms.to_string());
            values.insert("rfm".into(), format!("{rs}{fs}{ms}"));
        }
        if let Some(l) = &self.lifecycle {
            let tenure = m.field(Field::TenureDays, now);
            let stage = match (recency, tenure) {
                (None, _) | (_, None) => "prospect",
                (Some(_), Some(t)) if t <= l.new_days => "new",
                (Some(r), _) if r <= l.active_days => "active",
                (Some(r), _) if r <= l.lapsed_days => "at_risk",
                _ => "lapsed",
            };
            values.insert("lifecycle".into(), stage.into());
        }
        if let Some((f, tiers)) = &self.value_tier {
            if let Some(v) = m.field(*f, now) {
                if let Some((t, _)) = tiers.iter().find(|(_, min)| v >= *min) {
                    values.insert("value_tier".into(), t.clone());
                }
            }
        }
        let mut scores = BTreeMap::new();
        for s in &self.scorecards {
            let mut total = 0.0;
            let factors: Vec<Contribution> = s
                .factors
                .iter()
                .map(|f| {
                    let value = m.field(f.field, now);
                    let points = match value {
                        None => f.missing,
                        Some(v) => f
                            .bands
                            .iter()
                            .find(|[bound, _]| v <= *bound)
                            .map_or(f.otherwise, |[_, p]| *p),
                    };
                    total += points;
                    Contribution {
                        field: f.field.name().into(),
                        value,
                        points,
                    }
                })
                .collect();
            let grade = s
                .grades
                .iter()
                .find(|(_, min)| total >= *min)
                .map(|(g, _)| g.clone());
            values.insert(format!("{}_score", s.name), format_number(total));
            if let Some(g) = &grade {
                values.insert(s.name.clone(), g.clone());
            }
            scores.insert(
                s.name.clone(),
                Score {
                    total,
                    grade,
                    factors,
                },
            );
        }
        let segments = self.segments_of(&values);
        Classification {
            values,
            scores,
            segments,
            metrics: m.clone(),
            at: now,
        }
    }

    /// The segments whose conditions `values` meet, by name.
    pub fn segments_of(&self, values: &BTreeMap<String, String>) -> Vec<String> {
        self.segments
            .iter()
            .filter(|(_, conds)| conds.iter().all(|(k, v)| values.get(k) == Some(v)))
            .map(|(s, _)| s.clone())
            .collect()
    }
}

/// A number without a trailing `.0`.
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Rules {
        let raw: RawClassification = toml::from_str(text).unwrap();
        Rules::from_raw(raw).unwrap()
    }

    #[test]
    fn refresh_defaults_to_a_day_can_be_off_and_rejects_nonsense() {
        assert_eq!(rules("").refresh_ms, Some(DEFAULT_REFRESH_MS));
        assert_eq!(rules("refresh = \"off\"").refresh_ms, None);
        assert_eq!(rules("refresh = \"30m\"").refresh_ms, Some(1_800_000));
        assert_eq!(rules("refresh = \"5s\"").refresh_ms, Some(5_000));
        let raw: RawClassification = toml::from_str("refresh = \"soon\"").unwrap();
        let (key, reason) = Rules::from_raw(raw).unwrap_err();
        assert_eq!(key, "classification.refresh");
        assert!(reason.contains("soon"), "{reason}");
    }

    fn act(at: i64, amount: Option<f64>) -> Activity {
        Activity {
            source: "orders".into(),
            key: at.to_string(),
            kind: "order".into(),
            at,
            amount,
            currency: Some("USD".into()),
            channel: None,
            product: None,
            payment: None,
            status: None,
            text: None,
            customer: None,
            identifying: BTreeMap::new(),
            open_complaint: false,
        }
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn rfm_lifecycle_tier_and_scorecard() {
        let r = rules(
            r#"
            [rfm]
            recency = { bands = [30, 90, 180, 365] }
            frequency = { bands = [1, 2, 4, 8] }
            monetary = { bands = [50, 200, 500, 1000] }
            [lifecycle]
            new_days = 30
            active_days = 90
            lapsed_days = 365
            [value_tier]
            tiers = { gold = 1000, silver = 200, bronze = 0 }
            [scorecards.churn]
            grades = { low = 0, high = 30 }
            factors = [{ field = "recency_days", bands = [[30, 0], [90, 10]], otherwise = 40, missing = 50 }]
            [segments]
            vip = { value_tier = "gold" }
            "#,
        );
        let now = 1000 * DAY;
        let acts = [
            act(now - 200 * DAY, Some(700.0)),
            act(now - 100 * DAY, Some(400.0)),
        ];
        let m = r.metrics(acts.iter());
        let c = r.classify(&m, &Quantiles::default(), now);
        assert_eq!(c.values["rfm"], "335");
        assert_eq!(c.values["lifecycle"], "at_risk");
        assert_eq!(c.values["value_tier"], "gold");
        assert_eq!(c.values["churn"], "high");
        assert_eq!(c.scores["churn"].factors[0].points, 40.0);
        assert_eq!(c.segments, vec!["vip".to_string()]);
        let none = r.classify(&r.metrics([].iter()), &Quantiles::default(), now);
        assert_eq!(none.values["lifecycle"], "prospect");
        assert_eq!(none.values["churn_score"], "50");
    }

    #[test]
    fn quantile_bands_rank_within_the_store() {
        let r = rules(
            r#"
            [rfm]
            recency = { quantiles = true }
            frequency = { quantiles = true }
            monetary = { quantiles = true }
            "#,
        );
        let now = 1000 * DAY;
        let ms: Vec<Metrics> = (1..=10)
            .map(|i| r.metrics([act(now - i * DAY, Some(i as f64 * 10.0))].iter()))
            .collect();
        let q = Quantiles::of(ms.iter(), now);
        assert_eq!(q.over, 10);
        assert_eq!(r.classify(&ms[0], &q, now).values["rfm_r"], "5");
        assert_eq!(r.classify(&ms[9], &q, now).values["rfm_m"], "5");
        assert_eq!(r.classify(&ms[0], &q, now).values["rfm_m"], "1");
    }

    #[test]
    fn bad_rules_name_their_key() {
        let raw: RawClassification = toml::from_str("[segments]\nx = { nope = \"1\" }").unwrap();
        let (k, _) = Rules::from_raw(raw).unwrap_err();
        assert_eq!(k, "classification.segments.x.nope");
        let raw: RawClassification =
            toml::from_str("[rfm]\nrecency = { bands = [3, 2, 1, 0] }\nfrequency = { quantiles = true }\nmonetary = { quantiles = true }").unwrap();
        assert_eq!(
            Rules::from_raw(raw).unwrap_err().0,
            "classification.rfm.recency.bands"
        );
    }
}
