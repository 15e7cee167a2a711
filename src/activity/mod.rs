//! Activity: what a customer bought and how they interacted (orders, tickets, calls), read
//! from activity sources (`kind = "activity"`) and attached to identity *records*, so that it
//! follows its customer through merges and splits without being moved.
//!
//! [`map`] turns a raw record into an [`Activity`] (per-record errors name the field);
//! [`StoredActivity`] is what the `activity` tree holds: the activity, the identity record
//! it is attached to (or none: unresolved) and how it was resolved. The customer file
//! (summaries, preferences, timeline) is built by [`file`].

pub mod file;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ActivitySource, Config};
use crate::ingest::{self, Position, RawRecord, RecordError, RecordId};

/// The id of activity record `key` of `source`: the first 16 bytes of
/// `blake3(source, 0x01, key)` (identity records use `0x00`, so the two never collide).
pub fn activity_id(source: &str, key: &str) -> RecordId {
    let mut h = blake3::Hasher::new();
    h.update(source.as_bytes());
    h.update(&[1]);
    h.update(key.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.finalize().as_bytes()[..16]);
    RecordId(id)
}

/// One activity record, as mapped from its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Activity source.
    pub source: String,
    /// Record key in the source.
    pub key: String,
    /// Activity type (`order`, `ticket`, `complaint`, ...), lower case.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened, ms since the epoch.
    pub at: i64,
    /// Amount, when the record has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// ISO 4217 currency of `amount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Channel (web, store, phone, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Payment method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<String>,
    /// Status (open, closed, shipped, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Free text (a ticket's description): masked for keys without the pii scope.
    #[serde(default, rename = "free_text", skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The identity record named by the activity (`customer_source` + `customer_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerKey>,
    /// Identifying values (attribute -> value) for a probe, when the source maps any.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identifying: BTreeMap<String, String>,
    /// Whether this activity is a complaint still open.
    #[serde(default)]
    pub open_complaint: bool,
}

impl Activity {
    /// blake3 of the mapped content: an equal hash means an unchanged record (a no-op).
    pub fn content_hash(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("activity serializes");
        blake3::hash(&bytes).to_hex()[..32].to_string()
    }
}

/// An identity record named by source and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerKey {
    /// Identity source.
    pub source: String,
    /// Record key.
    pub key: String,
}

/// How an activity found its customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolvedBy {
    /// The identity record it names.
    Key,
    /// A match probe of its identifying fields.
    Probe,
}

/// An activity as stored in the `activity` tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredActivity {
    /// The activity.
    #[serde(flatten)]
    pub activity: Activity,
    /// The identity record it is attached to; `None`: unresolved.
    pub record: Option<RecordId>,
    /// How it was attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<ResolvedBy>,
    /// Content hash ([`Activity::content_hash`]).
    pub hash: String,
    /// When it was stored, ms since the epoch.
    pub stored_at: i64,
}

/// One activity write of a batch: the stored value before (to update the indexes) and after
/// (`None`: erased).
#[derive(Debug, Clone)]
pub struct ActivityWrite {
    /// Activity id.
    pub id: RecordId,
    /// As stored before.
    pub old: Option<StoredActivity>,
    /// As stored after; `None` removes it.
    pub new: Option<StoredActivity>,
    /// Index keys of `activity_unresolved` (reference hashes) when `new` is unresolved.
    pub unresolved_keys: Vec<[u8; 8]>,
    /// Index keys it had in `activity_unresolved` before (to remove).
    pub old_unresolved_keys: Vec<[u8; 8]>,
}

/// What happened to one activity record of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    /// New, attached to a customer.
    Inserted,
    /// Changed.
    Updated,
    /// Same content as stored: nothing done.
    Unchanged,
    /// A later record with the same key in the batch replaced it.
    Superseded,
}

/// Result of one accepted activity record.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityOutcome {
    /// Activity id.
    pub activity_id: RecordId,
    /// What happened.
    pub status: ActivityStatus,
    /// The identity record it is attached to (`None`: kept unresolved).
    pub record_id: Option<RecordId>,
    /// The customer's entity.
    pub entity_id: Option<crate::store::EntityId>,
    /// How it was attached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<ResolvedBy>,
}

/// A mapped activity with what its probe needs (the identifying values as a source record).
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The activity.
    pub activity: Activity,
    /// Identifying profile for a probe, when the source maps identifying fields.
    pub profile: Option<crate::ingest::profile::Profile>,
}

/// Maps one raw activity record: key, time, typed fields, customer reference. Errors name the
/// field and the reason.
pub fn map(
    config: &Config,
    src: &ActivitySource,
    position: Position,
    raw: &RawRecord,
) -> Result<Mapped, RecordError> {
    let spec = &src.spec;
    let rec = ingest::map_record(config, &src.source, position, raw)?;
    let key = rec.key.clone();
    let err = |field: &str, reason: String| RecordError {
        position,
        key: Some(key.clone()),
        field: Some(field.to_string()),
        reason,
    };
    let read = |path: &Option<String>| -> Result<Option<String>, RecordError> {
        match path {
            None => Ok(None),
            Some(p) => ingest::scalar(raw, p).map_err(|r| err(p, r)),
        }
    };
    let at_text = read(&Some(spec.at.clone()))?
        .ok_or_else(|| err(&spec.at, "missing activity time".into()))?;
    let mut formats = spec.at_formats.clone();
    formats.extend(
        ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]
            .into_iter()
            .map(String::from),
    );
    let at = ingest::parse_timestamp(&at_text, &formats).ok_or_else(|| {
        err(
            &spec.at,
            format!("invalid time {at_text:?}: expected RFC 3339, YYYY-MM-DD[ HH:MM:SS] or one of at_formats"),
        )
    })?;
    let amount = match read(&spec.amount)? {
        None => None,
        Some(t) => {
            let v: f64 = t
                .replace(',', "")
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| {
                    err(
                        spec.amount.as_deref().unwrap_or_default(),
                        format!("invalid amount {t:?}: expected a decimal number"),
                    )
                })?;
            Some(v)
        }
    };
    let currency = match read(&spec.currency)? {
        Some(c) => {
            let c = c.to_ascii_uppercase();
            if c.len() != 3 || !c.chars().all(|x| x.is_ascii_uppercase()) {
                return Err(err(
                    spec.currency.as_deref().unwrap_or_default(),
                    format!("invalid currency {c:?}: expected an ISO 4217 code like USD"),
                ));
            }
            Some(c)
        }
        None => spec.default_currency.clone(),
    };
    if amount.is_some() && currency.is_none() {
        return Err(err(
            spec.currency
                .as_deref()
                .or(spec.amount.as_deref())
                .unwrap_or_default(),
            "an amount needs a currency (a currency field or default_currency)".into(),
        ));
    }
    let kind = read(&spec.type_field)?
        .unwrap_or_else(|| spec.type_name.clone())
        .to_lowercase();
    let status = read(&spec.status)?;
    let open_complaint = spec.complaint_types.contains(&kind)
        && !status
            .as_deref()
            .is_some_and(|s| spec.closed_statuses.contains(&s.to_lowercase()));
    let customer = match &spec.customer_key {
        None => None,
        Some((source, field)) => read(&Some(field.clone()))?.map(|key| CustomerKey {
            source: source.clone(),
            key,
        }),
    };
    let identifying = rec.values.clone();
    if customer.is_none() && identifying.is_empty() {
        let field = spec
            .customer_key
            .as_ref()
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| "customer".into());
        return Err(err(
            &field,
            "no customer reference: neither the customer key nor an identifying field (email, phone, name) has a value".into(),
        ));
    }
    let profile = if identifying.is_empty() {
        None
    } else {
        Some(
            crate::ingest::profile::build(config, &src.source, &rec)
                .map_err(|f| err(&f.field, f.reason))?,
        )
    };
    Ok(Mapped {
        activity: Activity {
            source: src.source.name.clone(),
            key: key.clone(),
            kind,
            at,
            amount,
            currency,
            channel: read(&spec.channel)?.map(|c| c.to_lowercase()),
            product: read(&spec.product)?,
            payment: read(&spec.payment)?.map(|c| c.to_lowercase()),
            status,
            text: read(&spec.text)?,
            customer,
            identifying,
            open_complaint,
        },
        profile,
    })
}

/// The identifying profile of a stored activity (rebuilt from its identifying values).
pub fn profile_of(config: &Config, a: &Activity) -> Option<crate::ingest::profile::Profile> {
    if a.identifying.is_empty() {
        return None;
    }
    let src = config.activity_sources.get(&a.source)?;
    let rec = crate::ingest::SourceRecord {
        source: a.source.clone(),
        key: a.key.clone(),
        values: a.identifying.clone(),
        updated_at: None,
    };
    crate::ingest::profile::build(config, &src.source, &rec).ok()
}
