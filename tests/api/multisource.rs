//! Generalization check: a generated customer base described by three sources with different
//! layouts (the bundled CRM, web shop and support desk), with the variations real feeds have:
//! Hanzi and pinyin spellings, nicknames, swapped name order, moves, new phones and emails,
//! other date formats, and family members sharing a phone and an address. Nothing here is
//! tuned to: it is a floor that catches regressions in how goldrec generalizes.

use std::collections::HashMap;

use goldrec::engine::{Change, Engine};
use goldrec::ingest::{Position, RawRecord};
use serde_json::{json, Value};

use crate::helpers::config_for;

const US_GIVEN: &[(&str, &str)] = &[
    ("Robert", "Bob"),
    ("William", "Bill"),
    ("Elizabeth", "Liz"),
    ("Katherine", "Kate"),
    ("James", "Jim"),
    ("Michael", "Mike"),
    ("Jennifer", "Jen"),
    ("Margaret", "Peggy"),
    ("Richard", "Dick"),
    ("Thomas", "Tom"),
    ("Susan", "Sue"),
    ("Joseph", "Joe"),
    ("Patricia", "Pat"),
    ("Daniel", "Dan"),
    ("Christopher", "Chris"),
    ("Anthony", "Tony"),
    ("Samantha", "Sam"),
    ("Nicholas", "Nick"),
    ("Rebecca", "Becky"),
    ("Edward", "Ed"),
];
const US_FAMILY: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
];
const CN_FAMILY: &[(&str, &str)] = &[
    ("王", "Wang"),
    ("李", "Li"),
    ("张", "Zhang"),
    ("刘", "Liu"),
    ("陈", "Chen"),
    ("杨", "Yang"),
    ("黄", "Huang"),
    ("赵", "Zhao"),
    ("吴", "Wu"),
    ("周", "Zhou"),
    ("徐", "Xu"),
    ("孙", "Sun"),
    ("马", "Ma"),
    ("朱", "Zhu"),
];
const CN_GIVEN: &[(&str, &str)] = &[
    ("伟", "Wei"),
    ("芳", "Fang"),
    ("娜", "Na"),
    ("敏", "Min"),
    ("静", "Jing"),
    ("强", "Qiang"),
    ("磊", "Lei"),
    ("军", "Jun"),
    ("洋", "Yang"),
    ("勇", "Yong"),
    ("艳", "Yan"),
    ("杰", "Jie"),
    ("涛", "Tao"),
    ("明", "Ming"),
    ("超", "Chao"),
    ("秀英", "Xiuying"),
    ("小明", "Xiaoming"),
    ("建华", "Jianhua"),
    ("志强", "Zhiqiang"),
    ("丽娟", "Lijuan"),
];
const STREETS: &[&str] = &[
    "Main Street",
    "Oak Avenue",
    "Park Road",
    "Pine Street",
    "Maple Drive",
    "Cedar Lane",
    "Elm Street",
    "Lake Road",
];
const CITIES: &[(&str, u32)] = &[
    ("New York", 10001),
    ("San Francisco", 94102),
    ("Seattle", 98101),
    ("Boston", 2108),
    ("Chicago", 60601),
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone)]
struct Person {
    id: usize,
    chinese: bool,
    given: (String, String), // (formal or hanzi, nickname or pinyin)
    family: (String, String),
    dob: (u32, u32, u32),
    email: String,
    phone: String,
    street: String,
    city: (String, String),
}

fn people(n: usize, rng: &mut Rng) -> Vec<Person> {
    let mut out: Vec<Person> = Vec::new();
    while out.len() < n {
        let id = out.len();
        let chinese = rng.chance(40);
        let (given, family) = if chinese {
            let g = CN_GIVEN[rng.below(CN_GIVEN.len())];
            let f = CN_FAMILY[rng.below(CN_FAMILY.len())];
            (
                (g.0.to_string(), g.1.to_string()),
                (f.0.to_string(), f.1.to_string()),
            )
        } else {
            let g = US_GIVEN[rng.below(US_GIVEN.len())];
            let f = US_FAMILY[rng.below(US_FAMILY.len())];
            (
                (g.0.to_string(), g.1.to_string()),
                (f.to_string(), f.to_string()),
            )
        };
        let city = CITIES[rng.below(CITIES.len())];
        // Each city has dozens of postcodes.
        let city = (city.0, format!("{:05}", city.1 + rng.below(60) as u32));
        let p = Person {
            id,
            chinese,
            email: format!(
                "{}.{}{}@mail{}.com",
                given.1.to_lowercase(),
                family.1.to_lowercase(),
                rng.below(1000),
                rng.below(5)
            ),
            phone: format!("{}-555-{:04}", 200 + rng.below(700), rng.below(10_000)),
            street: format!(
                "{} {}",
                1 + rng.below(999),
                STREETS[rng.below(STREETS.len())]
            ),
            city: (city.0.to_string(), city.1),
            dob: (
                1940 + rng.below(60) as u32,
                1 + rng.below(12) as u32,
                1 + rng.below(28) as u32,
            ),
            given,
            family,
        };
        // A family member: same family name, address and phone; another given name and birth
        // date; sometimes the same email.
        let relative = rng.chance(15).then(|| {
            let mut r = p.clone();
            r.id = id + 1;
            r.given = loop {
                let g = if p.chinese {
                    let g = CN_GIVEN[rng.below(CN_GIVEN.len())];
                    (g.0.to_string(), g.1.to_string())
                } else {
                    let g = US_GIVEN[rng.below(US_GIVEN.len())];
                    (g.0.to_string(), g.1.to_string())
                };
                if g != p.given {
                    break g;
                }
            };
            r.dob = (
                p.dob.0 + 20 + rng.below(10) as u32,
                1 + rng.below(12) as u32,
                1 + rng.below(28) as u32,
            );
            if !rng.chance(30) {
                r.email = format!(
                    "{}.{}{}@mail{}.com",
                    r.given.1.to_lowercase(),
                    r.family.1.to_lowercase(),
                    rng.below(1000),
                    rng.below(5)
                );
            }
            r
        });
        out.push(p);
        out.extend(relative);
    }
    out.truncate(n);
    out
}

fn records(people: &[Person], rng: &mut Rng) -> (Vec<(&'static str, RawRecord)>, Vec<usize>) {
    let mut out = Vec::new();
    let mut truth = Vec::new();
    let obj = |v: Value| match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    for p in people {
        let in_crm = rng.chance(80);
        let in_web = rng.chance(70) || !in_crm;
        let in_support = rng.chance(40);
        let (y, m, d) = p.dob;
        if in_crm {
            let name = if p.chinese && rng.chance(50) {
                format!("{}{}", p.family.0, p.given.0)
            } else if p.chinese {
                format!("{} {}", p.family.1, p.given.1)
            } else {
                format!("{} {}", p.given.0, p.family.0)
            };
            out.push((
                "crm",
                obj(json!({"customer_id": format!("C{}", p.id), "full_name": name, "email": p.email, "phone": format!("({}) {}", &p.phone[..3], &p.phone[4..]),
                    "birth_date": format!("{m:02}/{d:02}/{y}"), "street": p.street, "city": p.city.0, "zip": p.city.1})),
            ));
            truth.push(p.id);
        }
        if in_web {
            let (first, last) = if p.chinese {
                (p.given.1.clone(), p.family.1.clone())
            } else if rng.chance(30) {
                (p.given.1.clone(), p.family.0.clone())
            } else {
                (p.given.0.clone(), p.family.0.clone())
            };
            // Moves, new phones and new emails happen.
            let moved = rng.chance(20);
            let street = if moved {
                format!(
                    "{} {}",
                    1 + rng.below(999),
                    STREETS[rng.below(STREETS.len())]
                )
            } else {
                p.street
                    .replace("Street", "St")
                    .replace("Avenue", "Ave")
                    .replace("Road", "Rd")
            };
            let city = if moved {
                let c = CITIES[rng.below(CITIES.len())];
                (
                    c.0.to_string(),
                    format!("{:05}", c.1 + rng.below(60) as u32),
                )
            } else {
                p.city.clone()
            };
            let phone = if rng.chance(20) {
                format!("+1 {} 555 {:04}", 200 + rng.below(700), rng.below(10_000))
            } else {
                format!("+1 {}", p.phone.replace('-', " "))
            };
            let email = if rng.chance(25) {
                format!("{}{}@shopmail.com", first.to_lowercase(), rng.below(100))
            } else {
                p.email.to_uppercase()
            };
            out.push((
                "webshop",
                obj(json!({"id": format!("W{}", p.id), "name": {"first": first, "last": last}, "contact": {"email": email, "phone": phone},
                    "dob": format!("{y}-{m:02}-{d:02}"), "shipping": {"line1": street, "city": city.0, "postcode": city.1}})),
            ));
            truth.push(p.id);
        }
        if in_support {
            let name = if p.chinese && rng.chance(50) {
                format!("{}{}", p.family.0, p.given.0)
            } else {
                format!("{}, {}", p.family.1, p.given.1)
            };
            let dob = if rng.chance(10) {
                format!("{:02}.{m:02}.{y}", (d % 28) + 1)
            } else {
                format!("{d:02}.{m:02}.{y}")
            };
            out.push((
                "support",
                obj(json!({"contact_id": format!("S{}", p.id), "name": name, "email": p.email, "phone": p.phone.replace('-', "."), "dob": dob, "city": p.city.0})),
            ));
            truth.push(p.id);
        }
    }
    (out, truth)
}

#[test]
fn a_multi_source_customer_base_resolves_with_high_precision_and_recall() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config_for(dir.path())).unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let people = people(600, &mut rng);
    let (recs, truth) = records(&people, &mut rng);
    type Items = Vec<(Position, Result<RawRecord, String>)>;
    let mut by_source: HashMap<&str, Items> = HashMap::new();
    for (i, (source, raw)) in recs.iter().enumerate() {
        by_source
            .entry(source)
            .or_default()
            .push((Position::Index(i as u64), Ok(raw.clone())));
    }
    for source in ["crm", "webshop", "support"] {
        let prepared = engine
            .prepare(source, by_source.remove(source).unwrap_or_default())
            .unwrap();
        let changes: Vec<Change> = prepared
            .into_iter()
            .map(|(p, c)| c.unwrap_or_else(|e| panic!("{p}: {e}")))
            .collect();
        engine.apply(changes).unwrap();
    }
    // Pairwise scores: every pair inside an entity against every pair of one person.
    let key_of = |source: &str, raw: &RawRecord| -> String {
        let field = match source {
            "crm" => "customer_id",
            "webshop" => "id",
            _ => "contact_id",
        };
        raw[field].as_str().unwrap().to_string()
    };
    let mut entity_of = Vec::new();
    for (source, raw) in &recs {
        let id = goldrec::ingest::RecordId::of(source, &key_of(source, raw));
        entity_of.push(engine.reads().record(id).unwrap().unwrap().entity);
    }
    // MS_DEBUG=1 prints every error with the model's explanation.
    let explain = |tag: &str, i: usize, j: usize| {
        if std::env::var("MS_DEBUG").is_err() {
            return;
        }
        let rec = |k: usize| {
            let id = goldrec::ingest::RecordId::of(recs[k].0, &key_of(recs[k].0, &recs[k].1));
            engine.reads().record(id).unwrap().unwrap()
        };
        let (ri, rj) = (rec(i), rec(j));
        let e = engine.model.explain(&ri.profile, &rj.profile);
        let levels: Vec<String> = e
            .comparisons
            .iter()
            .map(|c| {
                format!(
                    "{}={}({:+.1})",
                    c.comparison,
                    c.level.as_deref().unwrap_or("-"),
                    c.weight
                )
            })
            .collect();
        eprintln!(
            "{tag} {:?} | {:?}\n   weight {:.1} decision {:.1} {}",
            ri.values,
            rj.values,
            e.match_weight,
            e.decision_weight,
            levels.join(" ")
        );
    };
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    let mut family_merges = 0;
    for i in 0..recs.len() {
        for j in i + 1..recs.len() {
            let same_person = truth[i] == truth[j];
            let same_entity = entity_of[i] == entity_of[j];
            match (same_person, same_entity) {
                (true, true) => tp += 1,
                (false, true) => {
                    fp += 1;
                    explain("FP", i, j);
                    if people[truth[i]].family.1 == people[truth[j]].family.1
                        && people[truth[i]].phone == people[truth[j]].phone
                    {
                        family_merges += 1;
                    }
                }
                (true, false) => {
                    fneg += 1;
                    explain("FN", i, j);
                }
                _ => {}
            }
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fneg).max(1) as f64;
    eprintln!(
        "multi-source: {} records of {} people: precision {precision:.4} recall {recall:.4} (TP {tp} FP {fp} FN {fneg}, family merges {family_merges})",
        recs.len(),
        people.len()
    );
    assert!(precision >= 0.99, "precision {precision:.4}");
    assert!(recall >= 0.97, "recall {recall:.4}");
    assert_eq!(
        family_merges, 0,
        "family members sharing a phone and an address must stay apart"
    );
}
