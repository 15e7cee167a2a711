//! Ingest adapters: CSV, NDJSON and JSON payloads read into [`SourceRecord`]s.
//!
//! An adapter turns bytes into raw JSON objects, each tagged with its [`Position`] (line or
//! array index); [`map_record`] then reads the source's record key and mapped attribute fields.
//! Every failure is a [`RecordError`] naming the position, the record key when known, the field
//! and the reason, so one bad record never stops the good ones of the same batch.

pub mod profile;

use std::collections::BTreeMap;
use std::io::{BufRead, Read};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Config, Format, Mapping, Source};

/// Where a record sits in its payload: a 1-based line of a file or an index in a JSON batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// 1-based line number (CSV counts the header as line 1).
    Line(u64),
    /// 0-based index in a JSON array or a list of records.
    Index(u64),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Line(n) => write!(f, "line {n}"),
            Self::Index(n) => write!(f, "index {n}"),
        }
    }
}

/// Why one record was rejected.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{position}{}{}: {reason}", key.as_ref().map(|k| format!(" (key {k:?})")).unwrap_or_default(), field.as_ref().map(|f| format!(", field {f:?}")).unwrap_or_default())]
pub struct RecordError {
    /// Line or index of the record in its payload.
    #[serde(flatten)]
    pub position: Position,
    /// The record key, when it could be read.
    pub key: Option<String>,
    /// The source field at fault, if one is.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// Identity of a source record: the first 16 bytes of `blake3(source, 0x00, key)`, shown as hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub [u8; 16]);

impl RecordId {
    /// The id of record `key` of `source`.
    pub fn of(source: &str, key: &str) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(source.as_bytes());
        h.update(&[0]);
        h.update(key.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&h.finalize().as_bytes()[..16]);
        Self(id)
    }

    /// Parses the 32-character hex form.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 32 {
            return None;
        }
        let mut id = [0u8; 16];
        for (i, b) in id.iter_mut().enumerate() {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(id))
    }

    /// High and low 64-bit halves (tantivy stores them as two fast fields).
    pub fn halves(&self) -> (u64, u64) {
        let (hi, lo) = self.0.split_at(8);
        (
            u64::from_be_bytes(hi.try_into().expect("8 bytes")),
            u64::from_be_bytes(lo.try_into().expect("8 bytes")),
        )
    }

    /// Rebuilds an id from its halves.
    pub fn from_halves(hi: u64, lo: u64) -> Self {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&hi.to_be_bytes());
        id[8..].copy_from_slice(&lo.to_be_bytes());
        Self(id)
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s)
            .ok_or_else(|| serde::de::Error::custom("expected a 32-character hex record id"))
    }
}

impl SourceRecord {
    /// The record's identity.
    pub fn id(&self) -> RecordId {
        RecordId::of(&self.source, &self.key)
    }

    /// blake3 of the mapped content (values and source update time): equal hashes mean an
    /// unchanged record, so re-sending it is a no-op.
    pub fn content_hash(&self) -> [u8; 16] {
        let mut h = blake3::Hasher::new();
        for (k, v) in &self.values {
            h.update(k.as_bytes());
            h.update(&[0]);
            h.update(v.as_bytes());
            h.update(&[1]);
        }
        if let Some(t) = self.updated_at {
            h.update(&t.to_be_bytes());
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        out
    }
}

/// A raw record from a payload, before mapping.
pub type RawRecord = Map<String, Value>;

/// One record of a source system, mapped onto the configured attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Source name.
    pub source: String,
    /// Record key, unique within the source.
    pub key: String,
    /// Attribute values as supplied (trimmed). A person name mapped from parts also keeps
    /// `<attr>.given` and `<attr>.family`.
    pub values: BTreeMap<String, String>,
    /// Last update in the source system, milliseconds since the Unix epoch, if the source says.
    pub updated_at: Option<i64>,
}

/// Values that mean "no value" in real feeds (ASCII case-insensitive).
fn is_null_token(s: &str) -> bool {
    s.len() <= 7
        && ["", "null", "n/a", "na", "none", "-", "--", "unknown", "nil"]
            .iter()
            .any(|t| s.eq_ignore_ascii_case(t))
}

/// A given-name field holding `Na` beside a Chinese family name: the given name 娜 (one of the
/// most common), not the null token "NA" it reads as elsewhere.
fn na_given(raw: &RawRecord, path: &str, family: &str) -> Option<String> {
    let family = crate::normalize::ascii_fold(family);
    match lookup(raw, path) {
        Some(Value::String(s))
            if s.trim().eq_ignore_ascii_case("na")
                && crate::normalize::is_chinese_surname(family.trim()) =>
        {
            Some(s.trim().to_string())
        }
        _ => None,
    }
}

/// Items of a JSON payload parsed ahead of the reader (see [`read_payload`]).
const JSON_READ_AHEAD: usize = 4096;

/// Reads a file-like payload of the source's format into raw records, as it streams: memory
/// holds a few thousand records whatever the file's size (a JSON array is parsed on its own
/// thread, [`JSON_READ_AHEAD`] elements ahead). Malformed entries come back as errors in
/// place, the others as records; malformed JSON ends the items with one error (the elements
/// of the read-ahead chunk it breaks are not handed over).
pub fn read_payload(
    format: Format,
    input: impl Read + Send + 'static,
) -> Box<dyn Iterator<Item = (Position, Result<RawRecord, String>)>> {
    match format {
        Format::Csv => Box::new(read_csv(input)),
        Format::Ndjson => Box::new(read_ndjson(input)),
        Format::Json => {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Item>>(1);
            std::thread::spawn(move || {
                let mut next = 0u64;
                let read = stream_json_array(input, JSON_READ_AHEAD, |items| {
                    next += items.len() as u64;
                    tx.send(items)
                });
                if let Err(StreamError::Payload(m)) = read {
                    let _ = tx.send(vec![(Position::Index(next), Err(m))]);
                }
            });
            Box::new(rx.into_iter().flatten())
        }
    }
}

/// CSV with a header row; every value is a string.
pub fn read_csv(input: impl Read) -> impl Iterator<Item = (Position, Result<RawRecord, String>)> {
    // Fields are trimmed below with `str::trim`: what `Trim::All` gives (it trims ASCII
    // whitespace, then Unicode whitespace), without csv rebuilding each record twice to do it.
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::Headers)
        .from_reader(input);
    let headers: Result<Vec<String>, String> = rdr
        .headers()
        .map(|h| {
            h.iter()
                .map(|s| s.trim_start_matches('\u{feff}').to_string())
                .collect()
        })
        .map_err(|e| format!("cannot read csv header: {e}"));
    let mut header_err = None;
    let headers = match headers {
        Ok(h) => h,
        Err(e) => {
            header_err = Some(e);
            Vec::new()
        }
    };
    let mut rec = csv::StringRecord::new();
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        if let Some(e) = header_err.take() {
            done = true;
            return Some((Position::Line(1), Err(e)));
        }
        // One record buffer for the whole file.
        let row = match rdr.read_record(&mut rec) {
            Ok(false) => return None,
            Ok(true) => Ok(&rec),
            Err(e) => Err(e),
        };
        Some(match row {
            Ok(rec) => {
                let line = rec.position().map_or(0, |p| p.line());
                let mut m = Map::new();
                for (h, v) in headers.iter().zip(rec.iter()) {
                    m.insert(h.clone(), Value::String(v.trim().to_string()));
                }
                (Position::Line(line), Ok(m))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let msg = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("expected {expected_len} fields, found {len}")
                    }
                    csv::ErrorKind::Utf8 { .. } => "invalid utf-8".to_string(),
                    _ => e.to_string(),
                };
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    done = true;
                }
                (Position::Line(line), Err(msg))
            }
        })
    })
}

/// One JSON object per line; blank lines are skipped.
pub fn read_ndjson(
    input: impl Read,
) -> impl Iterator<Item = (Position, Result<RawRecord, String>)> {
    let mut lines = std::io::BufReader::new(input).split(b'\n');
    let mut n = 0u64;
    std::iter::from_fn(move || loop {
        let line = lines.next()?;
        n += 1;
        let pos = Position::Line(n);
        let line = match line {
            Ok(l) => l,
            Err(e) => return Some((pos, Err(e.to_string()))),
        };
        let text = match std::str::from_utf8(&line) {
            Ok(t) => t.trim(),
            Err(_) => return Some((pos, Err("invalid utf-8".into()))),
        };
        if text.is_empty() {
            continue;
        }
        return Some((pos, parse_object(text)));
    })
}

/// A JSON array of objects (a single object is accepted as a batch of one).
pub fn read_json_array(bytes: &[u8]) -> Vec<(Position, Result<RawRecord, String>)> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let pos = Position::Index(i as u64);
                match v {
                    Value::Object(m) => (pos, Ok(m)),
                    other => (
                        pos,
                        Err(format!(
                            "expected a JSON object, found {}",
                            type_name(&other)
                        )),
                    ),
                }
            })
            .collect(),
        Ok(Value::Object(m)) => vec![(Position::Index(0), Ok(m))],
        Ok(other) => vec![(
            Position::Index(0),
            Err(format!(
                "expected a JSON array of objects, found {}",
                type_name(&other)
            )),
        )],
        Err(e) => vec![(Position::Index(0), Err(format!("invalid JSON: {e}")))],
    }
}

/// One raw item of a payload: its position and the record, or why it is not one.
pub type Item = (Position, Result<RawRecord, String>);

/// Why [`stream_json_array`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum StreamError<E> {
    /// The payload is not JSON or not an array of objects (at the position reached).
    #[error("{0}")]
    Payload(String),
    /// The chunk handler failed.
    #[error("the chunk handler stopped")]
    Handler(E),
}

/// Reads a JSON array of objects (or one object) from `input` as it arrives, handing `chunk`
/// items at a time to `handle`, so memory holds one chunk whatever the payload's size. An
/// element that is not an object is an item error in place; malformed JSON stops the read
/// (chunks already handed over stay handled).
pub fn stream_json_array<E>(
    input: impl Read,
    chunk: usize,
    mut handle: impl FnMut(Vec<Item>) -> Result<(), E>,
) -> Result<(), StreamError<E>> {
    use serde::de::Deserializer as _;

    struct Items<'a, F, E> {
        chunk: usize,
        handle: &'a mut F,
        failed: &'a mut Option<E>,
    }
    impl<F: FnMut(Vec<Item>) -> Result<(), E>, E> Items<'_, F, E> {
        fn give<D: serde::de::Error>(&mut self, items: Vec<Item>) -> Result<(), D> {
            (self.handle)(items).map_err(|e| {
                *self.failed = Some(e);
                D::custom("stopped by the chunk handler")
            })
        }
    }
    impl<'de, F: FnMut(Vec<Item>) -> Result<(), E>, E> serde::de::Visitor<'de> for Items<'_, F, E> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of objects")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            let mut buf = Vec::with_capacity(self.chunk.min(65_536));
            let mut i = 0u64;
            while let Some(v) = seq.next_element::<Value>()? {
                let item = match v {
                    Value::Object(m) => Ok(m),
                    other => Err(format!(
                        "expected a JSON object, found {}",
                        type_name(&other)
                    )),
                };
                buf.push((Position::Index(i), item));
                i += 1;
                if buf.len() >= self.chunk {
                    self.give(std::mem::take(&mut buf))?;
                }
            }
            if !buf.is_empty() {
                self.give(buf)?;
            }
            Ok(())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(mut self, map: A) -> Result<(), A::Error> {
            let m = <RawRecord as serde::Deserialize>::deserialize(
                serde::de::value::MapAccessDeserializer::new(map),
            )?;
            self.give(vec![(Position::Index(0), Ok(m))])
        }
    }

    let mut failed = None;
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, input));
    let read = de
        .deserialize_any(Items {
            chunk: chunk.max(1),
            handle: &mut handle,
            failed: &mut failed,
        })
        .and_then(|()| de.end());
    match (read, failed) {
        (_, Some(e)) => Err(StreamError::Handler(e)),
        (Ok(()), None) => Ok(()),
        (Err(e), None) if e.is_io() => Err(StreamError::Payload(e.to_string())),
        (Err(e), None) => Err(StreamError::Payload(format!("invalid JSON: {e}"))),
    }
}

fn parse_object(text: &str) -> Result<RawRecord, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!(
            "expected a JSON object, found {}",
            type_name(&other)
        )),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Looks up a dotted path: the whole path as one key first (CSV headers), then nested objects.
fn lookup<'a>(raw: &'a RawRecord, path: &str) -> Option<&'a Value> {
    if let Some(v) = raw.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut cur = raw.get(parts.next()?)?;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.get(p)?,
            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Reads the record key: a string or an integer (a boolean or a fraction is refused, not
/// turned into text), without control characters.
fn record_key(raw: &RawRecord, path: &str) -> Result<Option<String>, String> {
    match lookup(raw, path) {
        Some(Value::Bool(b)) => Err(format!(
            "a record key is a string or an integer, found the boolean {b}"
        )),
        Some(Value::Number(n)) if !(n.is_i64() || n.is_u64()) => Err(format!(
            "a record key is a string or an integer, found the number {n}"
        )),
        Some(Value::String(s)) => match s.chars().find(|c| c.is_control()) {
            Some(c) => Err(format!(
                "a record key must not contain control characters, found U+{:04X}",
                c as u32
            )),
            None => scalar(raw, path),
        },
        _ => scalar(raw, path),
    }
}

/// Reads a scalar field as trimmed text; `Ok(None)` when absent, null or a null token.
/// Control characters are cleaned by [`collapse_ws`].
pub(crate) fn scalar(raw: &RawRecord, path: &str) -> Result<Option<String>, String> {
    match lookup(raw, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let t = collapse_ws(s);
            Ok((!is_null_token(&t)).then_some(t))
        }
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(format!("expected a text value, found {}", type_name(other))),
    }
}

/// Trims and collapses whitespace runs to one space. The rule for control characters
/// (Unicode `Cc`: C0, DEL, C1): those that are whitespace (tab, line feed, carriage return,
/// vertical tab, form feed, U+0085) separate words like a space; every other one (NUL, ESC,
/// ...) is removed. Record keys refuse them instead ([`record_key`]).
fn collapse_ws(s: &str) -> String {
    // Common case: printable ASCII already in that form (no double or edge spaces).
    let b = s.as_bytes();
    let clean = b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && !b.windows(2).any(|w| w == b"  ")
        && b.iter().all(|&c| (0x20..0x7f).contains(&c));
    if clean {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        let start = out.len();
        if !out.is_empty() {
            out.push(' ');
        }
        let word = out.len();
        out.extend(w.chars().filter(|c| !c.is_control()));
        if out.len() == word {
            // Only control characters: no word, no separator.
            out.truncate(start);
        }
    }
    out
}

/// Maps a raw record onto the source's attributes.
pub fn map_record(
    config: &Config,
    source: &Source,
    position: Position,
    raw: &RawRecord,
) -> Result<SourceRecord, RecordError> {
    let err = |key: Option<String>, field: Option<&str>, reason: String| RecordError {
        position,
        key,
        field: field.map(String::from),
        reason,
    };
    let key = match record_key(raw, &source.key) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return Err(err(None, Some(&source.key), "missing record key".into()));
        }
        Err(reason) => return Err(err(None, Some(&source.key), reason)),
    };
    if key.len() > 512 {
        return Err(err(
            None,
            Some(&source.key),
            "record key longer than 512 bytes".into(),
        ));
    }
    let mut values = BTreeMap::new();
    let read = |path: &str| scalar(raw, path).map_err(|r| err(Some(key.clone()), Some(path), r));
    for (attr, mapping) in &source.fields {
        let name = &config.attributes[*attr].name;
        match mapping {
            Mapping::Path(p) => {
                if let Some(v) = read(p)? {
                    values.insert(name.clone(), v);
                }
            }
            Mapping::Join(paths) => {
                let mut parts = Vec::new();
                for p in paths {
                    if let Some(v) = read(p)? {
                        parts.push(v);
                    }
                }
                if !parts.is_empty() {
                    values.insert(name.clone(), parts.join(" "));
                }
            }
            Mapping::Name {
                full,
                given,
                family,
            } => {
                let given_path = given.as_deref();
                let full = match full {
                    Some(p) => read(p)?,
                    None => None,
                };
                let given = match given {
                    Some(p) => read(p)?,
                    None => None,
                };
                let family = match family {
                    Some(p) => read(p)?,
                    None => None,
                };
                let given = given.or_else(|| na_given(raw, given_path?, family.as_deref()?));
                if given.is_some() || family.is_some() {
                    let han = [&given, &family]
                        .iter()
                        .any(|p| p.as_deref().is_some_and(crate::normalize::has_han));
                    let display = match (&given, &family) {
                        (Some(g), Some(f)) if han => format!("{f}{g}"),
                        (Some(g), Some(f)) => format!("{g} {f}"),
                        (Some(x), None) | (None, Some(x)) => x.clone(),
                        (None, None) => unreachable!("checked above"),
                    };
                    values.insert(name.clone(), full.unwrap_or(display));
                    if let Some(g) = given {
                        values.insert(format!("{name}.given"), g);
                    }
                    if let Some(f) = family {
                        values.insert(format!("{name}.family"), f);
                    }
                } else if let Some(f) = full {
                    values.insert(name.clone(), f);
                }
            }
        }
    }
    let updated_at = match &source.updated_at {
        None => None,
        Some(p) => match read(p)? {
            None => None,
            Some(v) => Some(parse_timestamp(&v, &source.updated_at_formats).ok_or_else(|| {
                err(
                    Some(key.clone()),
                    Some(p),
                    format!("invalid timestamp {v:?}: expected RFC 3339 or one of the updated_at_formats"),
                )
            })?),
        },
    };
    // Consent is never guessed: a value that is not a recognisable grant or denial rejects
    // the record whatever `invalid_values` says.
    for c in &source.consent {
        let Some(v) = read(&c.field)? else { continue };
        let granted = crate::consent::parse_value(&v).map_err(|reason| {
            err(
                Some(key.clone()),
                Some(&c.field),
                format!("{reason} (consent for {})", c.purpose),
            )
        })?;
        values.insert(
            crate::consent::value_key(&c.purpose),
            if granted { "granted" } else { "denied" }.to_string(),
        );
        if let Some(p) = &c.at {
            if let Some(t) = read(p)? {
                let ms = parse_timestamp(&t, &source.updated_at_formats).ok_or_else(|| {
                    err(
                        Some(key.clone()),
                        Some(p),
                        format!("invalid timestamp {t:?} of consent for {}: expected RFC 3339 or one of the updated_at_formats", c.purpose),
                    )
                })?;
                values.insert(crate::consent::at_key(&c.purpose), ms.to_string());
            }
        }
    }
    Ok(SourceRecord {
        source: source.name.clone(),
        key,
        values,
        updated_at,
    })
}

/// Parses RFC 3339, then each format as a date-time, then as a date (midnight UTC).
pub(crate) fn parse_timestamp(s: &str, formats: &[String]) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for f in formats {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_millis());
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, f) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_files_stream_and_a_break_ends_them_with_one_error() {
        let many: Vec<Value> = (0..10_000).map(|i| json!({"id": i})).collect();
        let text = Value::Array(many).to_string();
        let items: Vec<_> = read_payload(Format::Json, std::io::Cursor::new(text)).collect();
        assert_eq!(items.len(), 10_000);
        assert_eq!(items[9_999].0, Position::Index(9_999));
        let items: Vec<_> = read_payload(
            Format::Json,
            std::io::Cursor::new(r#"[{"id":1},{"id":2},{"#),
        )
        .collect();
        // Elements of the unfinished read-ahead chunk are not handed over: only the error.
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].0, Position::Index(0));
        assert!(items[0].1.as_ref().unwrap_err().contains("invalid JSON"));
    }

    #[test]
    fn control_characters_are_spaces_or_removed_in_values_and_refused_in_keys() {
        assert_eq!(collapse_ws("Ann\u{0}a\tLee\r\n"), "Anna Lee");
        assert_eq!(collapse_ws("a \u{1b} b\u{85}c\u{9f}"), "a b c");
        assert_eq!(collapse_ws("\u{0}"), "");
        assert_eq!(collapse_ws("plain text"), "plain text");
        let rec = |k: Value| {
            let mut m = RawRecord::new();
            m.insert("id".into(), k);
            record_key(&m, "id")
        };
        assert_eq!(
            rec(json!("K\u{0}1")).unwrap_err(),
            "a record key must not contain control characters, found U+0000"
        );
        assert!(rec(json!("K\t1")).is_err());
        assert!(rec(json!(true)).unwrap_err().contains("boolean true"));
        assert!(rec(json!(1.5)).unwrap_err().contains("number 1.5"));
        assert_eq!(rec(json!(42)).unwrap().as_deref(), Some("42"));
        assert_eq!(rec(json!(-7)).unwrap().as_deref(), Some("-7"));
        assert_eq!(rec(json!(" K1 ")).unwrap().as_deref(), Some("K1"));
    }

    #[test]
    fn na_beside_a_chinese_family_name_is_a_given_name() {
        let config = crate::config::Config::parse(
            r#"
            [attributes]
            name = { kind = "person_name" }
            [sources.web]
            format = "json"
            key = "id"
            fields = { name = { given = "first", family = "last" } }
            "#,
        )
        .unwrap();
        let src = &config.sources["web"];
        let given = |first: &str, last: &str| {
            let raw: RawRecord =
                serde_json::from_value(json!({"id": "1", "first": first, "last": last})).unwrap();
            let rec = map_record(&config, src, Position::Index(0), &raw).unwrap();
            rec.values.get("name.given").cloned()
        };
        assert_eq!(given("Na", "Zhu").as_deref(), Some("Na"));
        assert_eq!(given("NA", "ZHU").as_deref(), Some("NA"));
        assert_eq!(given("N/A", "Zhu"), None);
        assert_eq!(given("NA", "Smith"), None);
    }

    #[test]
    fn record_ids_round_trip_and_differ_by_source() {
        let a = RecordId::of("crm", "1");
        assert_ne!(a, RecordId::of("web", "1"));
        // Source names never contain NUL (config rejects it), so the encoding is unambiguous.
        assert_ne!(RecordId::of("ab", "c"), RecordId::of("a", "bc"));
        assert_eq!(RecordId::parse(&a.to_string()), Some(a));
        let (hi, lo) = a.halves();
        assert_eq!(RecordId::from_halves(hi, lo), a);
        assert_eq!(RecordId::parse("zz"), None);
    }

    #[test]
    fn csv_reports_short_rows_with_line_numbers() {
        let data = "id,name\n1,Ann\n2\n3,Bo\n";
        let rows: Vec<_> = read_csv(data.as_bytes()).collect();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].1.is_ok());
        assert_eq!(rows[1].0, Position::Line(3));
        assert!(rows[1]
            .1
            .as_ref()
            .unwrap_err()
            .contains("expected 2 fields"));
        assert_eq!(rows[2].0, Position::Line(4));
    }

    #[test]
    fn csv_trims_headers_and_fields_like_trim_all() {
        let data = "\u{feff} id ,\tname\u{3000}\n 1 ,\u{a0}Ann \u{b}\n2,\" Bo \"\n3, \n";
        let rows: Vec<_> = read_csv(data.as_bytes()).collect();
        let mut want = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(data.as_bytes());
        let want_headers: Vec<String> = want.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(want_headers[1], "name");
        for ((_, row), rec) in rows.iter().zip(want.records()) {
            let row = row.as_ref().unwrap();
            for (h, v) in want_headers.iter().zip(rec.unwrap().iter()) {
                let h = h.trim_start_matches('\u{feff}');
                assert_eq!(row[h], Value::String(v.to_string()), "{h}");
            }
        }
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].1.as_ref().unwrap()["name"], "Ann");
    }

    #[test]
    fn ndjson_reports_bad_lines_and_skips_blank_ones() {
        let data = "{\"id\":1}\n\nnot json\n[1]\n{\"id\":2}";
        let rows: Vec<_> = read_ndjson(data.as_bytes()).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1].0, Position::Line(3));
        assert!(rows[1].1.as_ref().unwrap_err().starts_with("invalid JSON"));
        assert!(rows[2].1.as_ref().unwrap_err().contains("an array"));
        assert_eq!(rows[3].0, Position::Line(5));
    }

    #[test]
    fn nested_paths_and_whole_keys_resolve() {
        let raw: RawRecord = serde_json::from_str(
            r#"{"contact": {"phone": "123"}, "a.b": "flat", "list": [{"x": "0"}]}"#,
        )
        .unwrap();
        assert_eq!(
            scalar(&raw, "contact.phone").unwrap().as_deref(),
            Some("123")
        );
        assert_eq!(scalar(&raw, "a.b").unwrap().as_deref(), Some("flat"));
        assert_eq!(scalar(&raw, "list.0.x").unwrap().as_deref(), Some("0"));
        assert_eq!(scalar(&raw, "contact.fax").unwrap(), None);
        assert!(scalar(&raw, "contact").unwrap_err().contains("an object"));
    }

    #[test]
    fn null_tokens_are_empty() {
        let raw: RawRecord = serde_json::from_str(r#"{"a": " N/A ", "b": "  x  y "}"#).unwrap();
        assert_eq!(scalar(&raw, "a").unwrap(), None);
        assert_eq!(scalar(&raw, "b").unwrap().as_deref(), Some("x y"));
    }

    #[test]
    fn timestamps_parse_in_several_shapes() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z", &[]), Some(1000));
        let f = vec!["%Y-%m-%d %H:%M".to_string(), "%d/%m/%Y".to_string()];
        assert_eq!(parse_timestamp("1970-01-01 00:01", &f), Some(60_000));
        assert_eq!(parse_timestamp("02/01/1970", &f), Some(86_400_000));
        assert_eq!(parse_timestamp("yesterday", &f), None);
    }
}
