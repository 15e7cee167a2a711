//! Consent and purpose: what each source record says about a purpose (marketing, profiling,
//! ...), and the golden consent of an entity.
//!
//! A source maps, per declared purpose, a field holding the customer's statement and
//! optionally a field with its time (`[sources.<name>.consent]`). The statement is kept in the
//! record's value map under reserved keys, so it is sealed, hashed for change detection and
//! shown with the record like any supplied value:
//! `consent.<purpose>` = `granted` or `denied`, `consent.<purpose>.at` = milliseconds since the
//! epoch. An absent or empty field says nothing (unknown).
//!
//! **The rule** ([`golden`]), per purpose, over the entity's member records, each holding its
//! source record's current statement (an update of a record replaces its statement):
//! - **denied** when any member's statement is a denial: a withdrawal in one system is never
//!   outweighed by a grant in another, whatever their times (the members are judged to be one
//!   person by matching, which can be wrong, and a grant in one channel does not prove the
//!   customer took back a withdrawal made in another). The denial lifts only when the record
//!   that stated it says otherwise.
//! - **granted** when at least one member granted and none denied;
//! - **unknown** otherwise.
//!
//! Lineage names the record that decides the state: the most recent denial, else the most
//! recent grant (time: the statement's own time, else the record's source update time, else
//! its arrival).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ingest::RecordId;
use crate::store::StoredRecord;

/// Prefix of the reserved value keys holding consent statements.
pub const KEY_PREFIX: &str = "consent.";

/// Value key of a purpose's statement (`consent.<purpose>`).
pub fn value_key(purpose: &str) -> String {
    format!("{KEY_PREFIX}{purpose}")
}

/// Value key of a purpose's statement time (`consent.<purpose>.at`).
pub fn at_key(purpose: &str) -> String {
    format!("{KEY_PREFIX}{purpose}.at")
}

/// Consent for one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// At least one member granted and none denied.
    Granted,
    /// A member denied or withdrew.
    Denied,
    /// No member said anything.
    Unknown,
}

impl ConsentState {
    /// The stored tag.
    pub fn tag(self) -> u8 {
        match self {
            Self::Granted => 1,
            Self::Denied => 2,
            Self::Unknown => 0,
        }
    }

    /// From the stored tag.
    pub fn of_tag(t: u8) -> Option<Self> {
        Some(match t {
            1 => Self::Granted,
            2 => Self::Denied,
            0 => Self::Unknown,
            _ => return None,
        })
    }
}

/// Parses a supplied consent value: `true/false`, `yes/no`, `y/n`, `1/0`, `granted/denied`,
/// `opt_in/opt_out` (or `opt-in`, `optin`, ...), `allowed/withdrawn`... (ASCII
/// case-insensitive). `Err` names what is accepted.
pub fn parse_value(v: &str) -> Result<bool, String> {
    let folded: String = v
        .trim()
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    match folded.as_str() {
        "true" | "yes" | "y" | "1" | "granted" | "grant" | "optin" | "optedin" | "allowed"
        | "allow" | "consented" | "given" => Ok(true),
        "false" | "no" | "n" | "0" | "denied" | "deny" | "optout" | "optedout" | "withdrawn"
        | "revoked" | "refused" | "notallowed" => Ok(false),
        _ => Err(format!(
            "invalid consent value {v:?}: expected true/false, yes/no, 1/0, granted/denied, opt_in/opt_out or withdrawn"
        )),
    }
}

/// The golden consent of one purpose, with the record that decides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GoldenConsent {
    /// granted, denied or unknown.
    pub state: ConsentState,
    /// Record whose statement decides the state (absent when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub record: Option<RecordId>,
    /// Its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Its key in the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// When it was stated (ms since the epoch): the statement's time, else the record's
    /// source update time, else its arrival.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
}

impl GoldenConsent {
    /// Nobody said anything.
    pub fn unknown() -> Self {
        Self {
            state: ConsentState::Unknown,
            record: None,
            source: None,
            key: None,
            at: None,
        }
    }
}

/// An entity's golden consent for every declared purpose: a purpose not computed for it yet
/// (declared after the entity last changed, or a store from before consent) is unknown.
pub fn declared(purposes: &[String], e: &crate::store::Entity) -> BTreeMap<String, GoldenConsent> {
    purposes
        .iter()
        .map(|p| {
            let c = e
                .consent
                .get(p)
                .cloned()
                .unwrap_or_else(GoldenConsent::unknown);
            (p.clone(), c)
        })
        .collect()
}

/// A record's statement for a purpose: granted or not, and when.
pub fn statement(r: &StoredRecord, purpose: &str) -> Option<(bool, i64)> {
    statement_at(r, &value_key(purpose), &at_key(purpose))
}

fn statement_at(r: &StoredRecord, value_key: &str, at_key: &str) -> Option<(bool, i64)> {
    let granted = match r.values.get(value_key)?.as_str() {
        "granted" => true,
        "denied" => false,
        _ => return None,
    };
    let at = r
        .values
        .get(at_key)
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or_else(|| r.recency());
    Some((granted, at))
}

/// Golden consent per declared purpose (every purpose present, unknown when no member says).
pub fn golden(
    purposes: &[String],
    members: &[(RecordId, &StoredRecord)],
) -> BTreeMap<String, GoldenConsent> {
    let mut out = BTreeMap::new();
    for p in purposes {
        let (vk, ak) = (value_key(p), at_key(p));
        // Most recent denial, else most recent grant; ties by record id for determinism.
        let mut best: Option<(bool, i64, RecordId, &StoredRecord)> = None;
        for (id, r) in members {
            let Some((granted, at)) = statement_at(r, &vk, &ak) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((bg, bat, bid, _)) => match (granted, *bg) {
                    (false, true) => true,
                    (true, false) => false,
                    _ => (at, *id) > (*bat, *bid),
                },
            };
            if better {
                best = Some((granted, at, *id, r));
            }
        }
        let g = match best {
            None => GoldenConsent::unknown(),
            Some((granted, at, id, r)) => GoldenConsent {
                state: if granted {
                    ConsentState::Granted
                } else {
                    ConsentState::Denied
                },
                record: Some(id),
                source: Some(r.source.clone()),
                key: Some(r.key.clone()),
                at: Some(at),
            },
        };
        out.insert(p.clone(), g);
    }
    out
}

/// The state of `purpose` in a golden consent map (unknown when absent).
pub fn state_of(m: &BTreeMap<String, GoldenConsent>, purpose: &str) -> ConsentState {
    m.get(purpose).map_or(ConsentState::Unknown, |g| g.state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::profile::Profile;

    fn rec(key: &str, stated: Option<(&str, i64)>, updated: i64) -> (RecordId, StoredRecord) {
        let mut values = BTreeMap::new();
        if let Some((s, at)) = stated {
            values.insert(value_key("marketing"), s.to_string());
            values.insert(at_key("marketing"), at.to_string());
        }
        let r = StoredRecord {
            source: "crm".into(),
            key: key.into(),
            values,
            updated_at: Some(updated),
            hash: String::new(),
            entity: 1,
            seq: 0,
            ingested_at: 0,
            changed_at: 0,
            profile: Profile::default(),
        };
        (RecordId::of("crm", key), r)
    }

    fn run(recs: &[(RecordId, StoredRecord)]) -> GoldenConsent {
        let refs: Vec<(RecordId, &StoredRecord)> = recs.iter().map(|(i, r)| (*i, r)).collect();
        golden(&["marketing".to_string()], &refs)
            .remove("marketing")
            .unwrap()
    }

    #[test]
    fn values_parse_and_bad_ones_name_what_is_accepted() {
        for v in ["true", "YES", "1", "granted", "opt-in", "Opt_In", "y"] {
            assert_eq!(parse_value(v), Ok(true), "{v}");
        }
        for v in ["false", "No", "0", "denied", "withdrawn", "opt_out", "N"] {
            assert_eq!(parse_value(v), Ok(false), "{v}");
        }
        let e = parse_value("maybe").unwrap_err();
        assert!(e.contains("\"maybe\"") && e.contains("yes/no"), "{e}");
    }

    #[test]
    fn any_denial_wins_over_grants_even_later_ones() {
        let c = run(&[
            rec("a", Some(("granted", 500)), 0),
            rec("b", Some(("denied", 100)), 0),
            rec("c", Some(("granted", 900)), 0),
        ]);
        assert_eq!(c.state, ConsentState::Denied);
        assert_eq!(c.key.as_deref(), Some("b"));
        assert_eq!(c.at, Some(100));
    }

    #[test]
    fn granted_needs_a_grant_and_names_the_latest_one() {
        let c = run(&[
            rec("a", Some(("granted", 500)), 0),
            rec("b", None, 0),
            rec("c", Some(("granted", 700)), 0),
        ]);
        assert_eq!(c.state, ConsentState::Granted);
        assert_eq!(c.key.as_deref(), Some("c"));
        assert_eq!(c.at, Some(700));
        assert_eq!(run(&[rec("a", None, 0)]), GoldenConsent::unknown());
        assert_eq!(run(&[]).state, ConsentState::Unknown);
    }

    #[test]
    fn a_statement_without_its_own_time_takes_the_record_time() {
        let (id, mut r) = rec("a", Some(("denied", 0)), 4242);
        r.values.remove(&at_key("marketing"));
        let c = run(&[(id, r)]);
        assert_eq!((c.state, c.at), (ConsentState::Denied, Some(4242)));
    }
}
