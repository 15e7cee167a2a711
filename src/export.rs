//! Bulk export of golden records, NDJSON or CSV, one entity at a time (constant memory).
//!
//! An export runs under [`Engine::snapshot`]: it is consistent with the change sequence it
//! reports, so a consumer can load it and follow the change feed from that sequence.

use std::io::Write;

use serde_json::{json, Value};

use crate::engine::{Engine, EngineError};
use crate::store::{Entity, EntityState};

/// Export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per entity and line.
    Ndjson,
    /// A header row, then one row per entity.
    Csv,
}

/// One entity as an export line: id, version, golden values (with lineage if asked), members,
/// and the consent of every declared purpose.
pub fn entity_json(engine: &Engine, e: &Entity, lineage: bool) -> Result<Value, EngineError> {
    let mut members = Vec::new();
    for id in &e.members {
        if let Some(r) = engine.reads().record(*id)? {
            members.push(json!({"source": r.source, "key": r.key}));
        }
    }
    let golden: Value = if lineage {
        serde_json::to_value(&e.golden).expect("golden values serialize")
    } else {
        Value::Object(
            e.golden
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.value.clone())))
                .collect(),
        )
    };
    let mut line =
        json!({"entity_id": e.id, "version": e.version, "golden": golden, "members": members});
    if !engine.config.purposes.is_empty() {
        // What a downstream system may use the record for, per declared purpose (with the
        // deciding record when lineage is asked).
        line["consent"] = crate::consent::declared(&engine.config.purposes, e)
            .into_iter()
            .map(|(p, c)| {
                let v = if lineage { json!(c) } else { json!(c.state) };
                (p, v)
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    if engine.config.classification.is_some() {
        if let Some(c) = engine.classification(e.id)? {
            line["classification"] = json!(c.values);
            line["segments"] = json!(c.segments);
        }
    }
    Ok(line)
}

/// Writes every active entity to `out`; returns the change sequence the export is consistent
/// with and the number of entities written. `on_start` learns the sequence before the first
/// byte is written (an HTTP response sends it as a header). With `mask`, personal values
/// are masked ([`crate::masking`]). With `purpose` (checked by the caller with
/// [`crate::config::Config::check_purpose`]), only entities whose consent for it is granted
/// are written. With `segment` (a configured `[classification.segments]` name), only its
/// members.
#[allow(clippy::too_many_arguments)]
pub fn export(
    engine: &Engine,
    format: Format,
    lineage: bool,
    purpose: Option<&str>,
    segment: Option<&str>,
    mask: Option<&crate::masking::Masker>,
    out: &mut dyn Write,
    on_start: impl FnOnce(u64),
) -> Result<(u64, usize), ExportError> {
    let attrs: Vec<String> = engine
        .config
        .attributes
        .iter()
        .map(|a| a.name.clone())
        .collect();
    engine.snapshot(|seq| {
        on_start(seq);
        let mut n = 0;
        let mut csv =
            (format == Format::Csv).then(|| csv::WriterBuilder::new().from_writer(Vec::new()));
        if let Some(c) = &mut csv {
            let mut header = vec!["entity_id".to_string(), "version".to_string()];
            header.extend(attrs.iter().cloned());
            header.push("members".into());
            c.write_record(&header)?;
        }
        for e in engine.reads().entities() {
            let e = e.map_err(EngineError::from)?;
            if e.state != EntityState::Active {
                continue;
            }
            if let Some(p) = purpose {
                if crate::consent::state_of(&e.consent, p) != crate::consent::ConsentState::Granted
                {
                    continue;
                }
            }
            if let Some(s) = segment {
                if !engine.in_segment(s, e.id)? {
                    continue;
                }
            }
            n += 1;
            let mut line = entity_json(engine, &e, lineage)?;
            if let Some(m) = mask {
                m.mask_json(&mut line);
            }
            match &mut csv {
                Some(c) => {
                    let mut row = vec![e.id.to_string(), e.version.to_string()];
                    for a in &attrs {
                        let v = e
                            .golden
                            .get(a)
                            .map(|g| g.value.as_str())
                            .unwrap_or_default();
                        row.push(mask.map_or_else(|| v.to_string(), |m| m.value(a, v)));
                    }
                    let members: Vec<String> = line["members"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|m| {
                            format!(
                                "{}:{}",
                                m["source"].as_str().unwrap_or(""),
                                m["key"].as_str().unwrap_or("")
                            )
                        })
                        .collect();
                    row.push(members.join(";"));
                    c.write_record(&row)?;
                    c.flush()?;
                    out.write_all(c.get_ref())?;
                    *c = csv::WriterBuilder::new()
                        .has_headers(false)
                        .from_writer(Vec::new());
                }
                None => {
                    serde_json::to_writer(&mut *out, &line)
                        .map_err(|e| ExportError::Io(e.into()))?;
                    out.write_all(b"\n")?;
                }
            }
        }
        if let Some(c) = &mut csv {
            c.flush()?;
            out.write_all(c.get_ref())?;
        }
        out.flush()?;
        Ok((seq, n))
    })?
}

/// Export failure.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the store failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Writing the output failed (or the reader went away).
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    /// CSV encoding failed.
    #[error("writing the export: {0}")]
    Csv(#[from] csv::Error),
}
