//! Fuzzing of the adapters and normalizers with a deterministic generator (no extra
//! dependency; `FUZZ_ITERS=N` runs more): arbitrary bytes and arbitrary-but-plausible records
//! through the CSV, NDJSON and streamed JSON readers, `map_record` and profile building with
//! the bundled config, and every normalizer. Properties: nothing panics; the streamed JSON
//! reader hands over exactly the array's elements, in order, in chunks no larger than asked;
//! an accepted record's key and values hold no control characters; folding is idempotent.

use goldrec::config::AttrKind;
use goldrec::ingest::{self, profile, Position, RawRecord};
use goldrec::normalize;
use serde_json::{json, Value};

use crate::helpers::config_for;

use crate::helpers::Rng;

impl Rng {
    /// A string biased toward what breaks text handling: controls (C0, DEL, C1), whitespace
    /// of every kind, combining marks, Hanzi, full-width and RTL letters, emoji, digits and
    /// the punctuation of emails, phones, dates and CSV.
    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "ß",
            "é",
            "e\u{301}",
            "İ",
            "ﬁ",
            "Ａ",
            "张",
            "伟",
            "李",
            "ع",
            "\u{200d}",
            "😀",
            "0",
            "7",
            "9",
            "+",
            "-",
            "(",
            ")",
            ".",
            "@",
            "/",
            ",",
            "\"",
            "'",
            ";",
            ":",
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "\u{0}",
            "\u{1b}",
            "\u{7f}",
            "\u{85}",
            "\u{9f}",
            "\u{a0}",
            "\u{3000}",
            "\u{feff}",
            "Mr",
            "Dr.",
            "Smith",
            "O'Neil",
            "van der",
            "street",
            "St",
            "Ltd",
            "GmbH",
            "1980-03-15",
            "03/15/1980",
            "+1 415 555 0101",
            "x@y.com",
            "null",
            "N/A",
        ];
        let n = self.below(12);
        (0..n).map(|_| PIECES[self.below(PIECES.len())]).collect()
    }

    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth > 2 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.below(100_000) as i64 - 50_000),
            3 => json!(self.below(1000) as f64 / 7.0),
            4 => json!(self.text()),
            5 => Value::Array((0..self.below(3)).map(|_| self.value(depth + 1)).collect()),
            _ => Value::Object(self.object(depth + 1)),
        }
    }

    fn object(&mut self, depth: usize) -> RawRecord {
        const FIELDS: &[&str] = &[
            "customer_id",
            "full_name",
            "email",
            "phone",
            "birth_date",
            "street",
            "city",
            "zip",
            "employer",
            "last_modified",
            "other",
        ];
        let mut m = RawRecord::new();
        for _ in 0..self.below(8) {
            let f = FIELDS[self.below(FIELDS.len())];
            m.insert(f.into(), self.value(depth));
        }
        if depth == 0 && self.below(4) > 0 {
            // Mostly a usable key, so the values reach normalization.
            m.insert(
                "customer_id".into(),
                json!(format!("K{}", self.below(1000))),
            );
        }
        m
    }

    fn bytes(&mut self) -> Vec<u8> {
        match self.below(3) {
            0 => (0..self.below(200))
                .map(|_| self.below(256) as u8)
                .collect(),
            1 => self.text().into_bytes(),
            _ => {
                // Plausible JSON with a random cut.
                let v = Value::Array((0..self.below(5)).map(|_| self.value(0)).collect());
                let mut b = v.to_string().into_bytes();
                b.truncate(self.below(b.len() + 1));
                b
            }
        }
    }
}

fn iterations() -> usize {
    std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

#[test]
fn adapters_survive_arbitrary_input() {
    let mut rng = Rng(0x5eed_0001);
    let n = iterations();
    for _ in 0..n {
        let b = rng.bytes();
        let _ = ingest::read_csv(&b[..]).count();
        let _ = ingest::read_ndjson(&b[..]).count();
        let _ = ingest::read_json_array(&b);
        let chunk = 1 + rng.below(4);
        let mut seen = 0u64;
        let _ = ingest::stream_json_array::<()>(&b[..], chunk, |items| {
            assert!(!items.is_empty() && items.len() <= chunk);
            for (p, _) in items {
                if let Position::Index(i) = p {
                    assert!(i == seen || seen == 0, "positions in order");
                    seen = i + 1;
                }
            }
            Ok(())
        });
        // A well-formed array: exactly its elements, in order.
        let elements: Vec<Value> = (0..rng.below(9)).map(|_| rng.value(0)).collect();
        let text = Value::Array(elements.clone()).to_string();
        let mut got = Vec::new();
        ingest::stream_json_array::<()>(text.as_bytes(), chunk, |items| {
            got.extend(items);
            Ok(())
        })
        .expect("a well-formed array streams");
        assert_eq!(got.len(), elements.len());
        for ((p, r), (i, e)) in got.iter().zip(elements.iter().enumerate()) {
            assert_eq!(*p, Position::Index(i as u64));
            assert_eq!(r.is_ok(), e.is_object());
        }
    }
    println!("fuzz: {n} inputs through each of 4 adapters");
}

#[test]
fn records_and_normalizers_survive_arbitrary_values() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path());
    let mut rng = Rng(0x5eed_0002);
    let n = iterations();
    let mut accepted = 0;
    for _ in 0..n {
        let raw = rng.object(0);
        for source in config.sources.values() {
            let Ok(rec) = ingest::map_record(&config, source, Position::Index(0), &raw) else {
                continue;
            };
            assert!(!rec.key.chars().any(char::is_control), "{:?}", rec.key);
            for v in rec.values.values() {
                assert!(!v.chars().any(char::is_control), "{v:?}");
            }
            if profile::build(&config, source, &rec).is_ok() {
                accepted += 1;
            }
        }
        let s = rng.text();
        let folded = normalize::fold(&s);
        assert_eq!(
            normalize::fold(&folded),
            folded,
            "fold is idempotent on {s:?}"
        );
        let _ = normalize::ascii_fold(&s);
        let _ = normalize::normalize_email(&s);
        let _ = normalize::normalize_phone(&s, Some("US"));
        let _ = normalize::normalize_date(&s, &["%Y-%m-%d".into(), "%m/%d/%Y".into()]);
        let _ = normalize::parse_person_name(&s);
        let _ = normalize::name_tokens(&s);
        let _ = normalize::address_tokens(&s);
        let _ = normalize::normalize_postcode(&s);
        let _ = normalize::company_tokens(&s);
        let _ = normalize::text_tokens(&s);
        let _ = normalize::normalize_identifier(&s);
        let source = config.sources.values().next().unwrap();
        for kind in [
            AttrKind::PersonName,
            AttrKind::Email,
            AttrKind::Phone,
            AttrKind::Date,
        ] {
            let _ = profile::normalize_value(kind, &s, None, None, source, None);
        }
    }
    assert!(accepted > 0, "some generated records are accepted");
    println!("fuzz: {n} records through 3 sources ({accepted} accepted), {n} strings through 16 normalizers");
}
