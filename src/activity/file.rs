//! The customer file's activity part: summaries (first and last activity, counts and amounts
//! per month, year and channel, open complaints), preferences as golden values with lineage
//! (the most recent activity value per preference field), and the timeline, paged.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Activity, ResolvedBy, StoredActivity};
use crate::ingest::RecordId;

/// Count and amounts (per currency) of a group of activity.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    /// Activities.
    pub count: u64,
    /// Sum of amounts per currency.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub amounts: BTreeMap<String, f64>,
}

impl Tally {
    fn add(&mut self, a: &Activity) {
        self.count += 1;
        if let (Some(v), Some(c)) = (a.amount, &a.currency) {
            let t = self.amounts.entry(c.clone()).or_default();
            *t = ((*t + v) * 100.0).round() / 100.0;
        }
    }
}

/// Where a value of the file comes from.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityRef {
    /// Activity id.
    pub activity_id: RecordId,
    /// Activity source.
    pub source: String,
    /// Record key.
    pub key: String,
    /// Its time, ms.
    pub at: i64,
}

impl ActivityRef {
    fn of(id: RecordId, a: &Activity) -> Self {
        Self {
            activity_id: id,
            source: a.source.clone(),
            key: a.key.clone(),
            at: a.at,
        }
    }
}

/// A preference: the golden value and the activity that decided it.
#[derive(Debug, Clone, Serialize)]
pub struct Preference {
    /// Value.
    pub value: String,
    /// Rule that chose it.
    pub rule: &'static str,
    /// The deciding activity.
    pub lineage: ActivityRef,
}

/// An open complaint.
#[derive(Debug, Clone, Serialize)]
pub struct OpenComplaint {
    /// The activity.
    #[serde(flatten)]
    pub activity: ActivityRef,
    /// Its status.
    pub status: Option<String>,
}

/// Activity summaries of one customer.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    /// First activity, ms.
    pub first_at: Option<i64>,
    /// Last activity, ms.
    pub last_at: Option<i64>,
    /// Everything.
    pub total: Tally,
    /// Per type.
    pub by_type: BTreeMap<String, Tally>,
    /// Per calendar month (`YYYY-MM`, UTC).
    pub by_month: BTreeMap<String, Tally>,
    /// Per calendar year.
    pub by_year: BTreeMap<String, Tally>,
    /// Per channel.
    pub by_channel: BTreeMap<String, Tally>,
    /// Complaints still open.
    pub open_complaints: Vec<OpenComplaint>,
}

/// One timeline entry.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Activity id.
    pub activity_id: RecordId,
    /// The activity.
    #[serde(flatten)]
    pub activity: Activity,
    /// Identity record it hangs on.
    pub record_id: Option<RecordId>,
    /// How it was attached.
    pub resolved_by: Option<ResolvedBy>,
}

/// A page of the timeline, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// Entries.
    pub items: Vec<Entry>,
    /// Cursor of the next page (absent on the last).
    pub next_cursor: Option<String>,
}

fn month_year(at: i64) -> (String, String) {
    let t = chrono::DateTime::from_timestamp_millis(at).unwrap_or_default();
    (t.format("%Y-%m").to_string(), t.format("%Y").to_string())
}

/// Summaries of an entity's activity.
pub fn summarize(acts: &[(RecordId, StoredActivity)]) -> Summary {
    let mut s = Summary::default();
    for (id, sa) in acts {
        let a = &sa.activity;
        s.first_at = Some(s.first_at.map_or(a.at, |t| t.min(a.at)));
        s.last_at = Some(s.last_at.map_or(a.at, |t| t.max(a.at)));
        s.total.add(a);
        s.by_type.entry(a.kind.clone()).or_default().add(a);
        let (m, y) = month_year(a.at);
        s.by_month.entry(m).or_default().add(a);
        s.by_year.entry(y).or_default().add(a);
        if let Some(c) = &a.channel {
            s.by_channel.entry(c.clone()).or_default().add(a);
        }
        if a.open_complaint {
            s.open_complaints.push(OpenComplaint {
                activity: ActivityRef::of(*id, a),
                status: a.status.clone(),
            });
        }
    }
    s.open_complaints
        .sort_by_key(|c| std::cmp::Reverse(c.activity.at));
    s
}

/// Preferences: per field (channel, payment, product) the value of the most recent activity
/// that has one, naming it.
pub fn preferences(acts: &[(RecordId, StoredActivity)]) -> BTreeMap<String, Preference> {
    type Getter = fn(&Activity) -> Option<&String>;
    let fields: [(&str, Getter); 3] = [
        ("channel", |a| a.channel.as_ref()),
        ("payment", |a| a.payment.as_ref()),
        ("product", |a| a.product.as_ref()),
    ];
    let mut out = BTreeMap::new();
    for (name, get) in fields {
        let best = acts
            .iter()
            .filter_map(|(id, sa)| get(&sa.activity).map(|v| (id, sa, v)))
            .max_by(|a, b| a.1.activity.at.cmp(&b.1.activity.at).then(a.0.cmp(b.0)));
        if let Some((id, sa, v)) = best {
            out.insert(
                name.to_string(),
                Preference {
                    value: v.clone(),
                    rule: "most_recent",
                    lineage: ActivityRef::of(*id, &sa.activity),
                },
            );
        }
    }
    out
}

/// A timeline cursor: the last entry's time and id.
fn cursor_of(at: i64, id: RecordId) -> String {
    format!("{at}.{id}")
}

/// Parses a cursor; `None` when malformed.
pub fn parse_cursor(c: &str) -> Option<(i64, RecordId)> {
    let (at, id) = c.split_once('.')?;
    Some((at.parse().ok()?, RecordId::parse(id)?))
}

/// One page of the timeline (newest first) after `cursor`.
pub fn timeline(
    acts: &[(RecordId, StoredActivity)],
    cursor: Option<(i64, RecordId)>,
    limit: usize,
) -> Timeline {
    let mut sorted: Vec<&(RecordId, StoredActivity)> = acts.iter().collect();
    sorted.sort_by(|a, b| b.1.activity.at.cmp(&a.1.activity.at).then(b.0.cmp(&a.0)));
    let after = |x: &&(RecordId, StoredActivity)| match cursor {
        None => true,
        Some((at, id)) => (x.1.activity.at, x.0) < (at, id),
    };
    let page: Vec<&(RecordId, StoredActivity)> =
        sorted.into_iter().filter(after).take(limit + 1).collect();
    let more = page.len() > limit;
    let items: Vec<Entry> = page
        .into_iter()
        .take(limit)
        .map(|(id, sa)| Entry {
            activity_id: *id,
            activity: sa.activity.clone(),
            record_id: sa.record,
            resolved_by: sa.resolved_by,
        })
        .collect();
    let next_cursor = if more {
        items
            .last()
            .map(|e| cursor_of(e.activity.at, e.activity_id))
    } else {
        None
    };
    Timeline { items, next_cursor }
}
