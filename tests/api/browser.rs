//! The steward page in a real headless Chromium, driven over WebDriver (chromedriver) against
//! the real server: sign in, decide a queued pair with the keyboard, read the entity it made
//! with its history, meet a concurrent change (409) on an override, search, and the overview;
//! and audit mode: judge sampled automatic links, the estimated precision on the page and in the API.
//! Screenshots of each page go to `$CARGO_TARGET_DIR/screenshots/` (else `target/`).
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`;
//! `.ci/run` installs them). Without them the test fails and says so: it never passes by
//! skipping.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{root, spawn_app, TestApp, ADMIN_KEY};

const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(15);

/// `name` on the `PATH`, or in `/usr/bin` and `/usr/lib/chromium` (Debian's places).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A chromedriver this test started, on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let chromedriver = find_program("chromedriver").unwrap_or_else(|| {
        panic!(
            "chromedriver not found (PATH, /usr/bin, /usr/lib/chromium): the browser test needs it. \
             Install with: apt-get install -y chromium chromium-driver"
        )
    });
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} not found: the browser test needs Chromium. \
         Install with: apt-get install -y chromium chromium-driver"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("{}/status", driver.url)).await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            started.elapsed() < WAIT,
            "chromedriver did not answer on {} within {WAIT:?}",
            driver.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
}

async fn start_browser(driver: &Driver, profile: &Path) -> Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1400",
        &format!("--user-data-dir={}", profile.display()),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("a Chromium session through {}: {e}", driver.url))
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shoot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

/// Clicks the element `loc` finds (it must be there).
async fn click(c: &Client, loc: Locator<'_>) {
    c.find(loc)
        .await
        .unwrap_or_else(|e| panic!("nothing to click: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits for `css` and returns its text.
async fn text_of(c: &Client, css: &str) -> String {
    let el = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"));
    el.text().await.unwrap()
}

/// Waits until the text of `css` contains `want`; returns the text.
async fn wait_text(c: &Client, css: &str, want: &str) -> String {
    let started = Instant::now();
    loop {
        let text = match c.find(Locator::Css(css)).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(want) {
            return text;
        }
        if started.elapsed() > WAIT {
            let alert = match c.find(Locator::Id("alert")).await {
                Ok(a) => a.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("{css} never showed {want:?}; it shows {text:?} (alert: {alert:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn press(c: &Client, key: char) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    c.perform_actions(keys).await.expect("key press");
}

async fn steward_session(app: &TestApp, c: &Client) {
    c.goto(&format!("http://{}/", app.addr)).await.unwrap();
    let key = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("api-key"))
        .await
        .expect("the page asks for a key");
    key.send_keys(ADMIN_KEY).await.unwrap();
    c.find(Locator::Id("actor"))
        .await
        .unwrap()
        .send_keys("browser-steward")
        .await
        .unwrap();
    click(c, Locator::Id("login")).await;
}

/// Runs `walk` against `app` in a fresh headless Chromium. The steps run in their own task
/// so that a failed step still ends the browser session (killing chromedriver alone would
/// leave Chromium running); the step's panic is raised again after.
async fn in_browser<F, Fut>(app: TestApp, walk: F)
where
    F: FnOnce(TestApp, Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = start_browser(&driver, profile.path()).await;
    let outcome = tokio::spawn(walk(app, c.clone())).await;
    let _ = c.close().await;
    drop(driver);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steward_decides_a_pair_and_reads_the_entity_in_a_real_browser() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let queue = app.review(10, 0).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    let pair = queue.body["items"][0].clone();
    assert!(
        pair["a"]["key"].is_string(),
        "a queued pair: {}",
        queue.body
    );
    in_browser(app, move |app, c| steward_walk(app, c, pair)).await;
}

/// The steps of the browser test, on a server with the fixtures loaded and `pair` queued.
async fn steward_walk(app: TestApp, c: Client, pair: Value) {
    let (a_key, b_key) = (
        pair["a"]["key"].as_str().unwrap().to_string(),
        pair["b"]["key"].as_str().unwrap().to_string(),
    );
    let queued = app.review(10, 0).await.body["total"].as_u64().unwrap();

    // Sign in: the overview opens with the store's counts.
    steward_session(&app, &c).await;
    let records = app.health().await["records"].as_u64().unwrap();
    let cards = wait_text(&c, ".cards", "Records").await;
    assert!(cards.contains(&records.to_string()), "{cards}");
    assert!(
        cards.contains(&format!("Review queue\n{queued}")),
        "{cards}"
    );
    wait_text(&c, "main", "webshop").await;
    shoot(&c, "overview").await;

    // The review queue: both records side by side, the weights chart, decided with the keyboard.
    click(&c, Locator::Css("a[data-nav=review]")).await;
    let table = wait_text(&c, "table.pair", &a_key).await;
    assert!(table.contains(&b_key), "{table}");
    assert!(
        table.contains("agrees") && table.contains("differs"),
        "{table}"
    );
    let chart = c
        .find(Locator::Css("svg.chart"))
        .await
        .expect("the match weight chart");
    let label = chart.attr("aria-label").await.unwrap().unwrap_or_default();
    assert!(label.contains("prior"), "{label}");
    let bars = c.find_all(Locator::Css("svg.chart rect")).await.unwrap();
    let comparisons = pair["explanation"]["comparisons"].as_array().unwrap().len();
    // The prior, each comparison, the total (and the capped decision weight, if any).
    assert!(bars.len() >= comparisons + 2, "{} bars", bars.len());
    shoot(&c, "review").await;
    // k skips: the pair goes to the back of the queue (here, the only pair, it stays).
    press(&c, 'k').await;
    wait_text(&c, "#status", &format!("Skipped {a_key} / {b_key}")).await;
    wait_text(&c, "table.pair", &a_key).await;
    c.find(Locator::Id("reason"))
        .await
        .unwrap()
        .send_keys("same phone and address, checked in the browser")
        .await
        .unwrap();
    // Leave the field (keys typed in a field are text), then press s.
    click(&c, Locator::Id("queue-pos")).await;
    press(&c, 's').await;
    let status = wait_text(&c, "#status", "Decided same").await;
    assert!(
        status.contains(&a_key) && status.contains(&b_key),
        "{status}"
    );

    // The server holds the decision, and both records are one entity now.
    let a_source = pair["a"]["source"].as_str().unwrap();
    let merged = app.entity_of(a_source, &a_key).await;
    let body = app.entity(merged).await;
    let keys: Vec<&str> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&a_key.as_str()) && keys.contains(&b_key.as_str()),
        "{keys:?}"
    );

    // The entity page of the result: members, golden values, the history entry.
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("last-entity"))
        .await
        .expect("a link to the decided entity")
        .click()
        .await
        .unwrap();
    let members = wait_text(&c, "#members", &a_key).await;
    assert!(members.contains(&b_key), "{members}");
    let history = text_of(&c, "#history").await;
    assert!(
        history.contains("same phone and address, checked in the browser")
            && history.contains("browser-steward"),
        "{history}"
    );
    let golden = text_of(&c, "#golden").await;
    assert!(golden.contains("Why this value"), "{golden}");
    shoot(&c, "entity").await;
    c.execute(
        "document.getElementById('history').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    shoot(&c, "entity-history").await;

    // Someone else pins a value meanwhile: the page's override carries the old ETag, gets
    // 409 and shows what changed, then the new version.
    let before = body["version"].as_u64().unwrap();
    let other = app
        .client
        .put(app.url(&format!("/v1/entities/{merged}/overrides/city")))
        .json(&json!({"value": "Brooklyn", "actor": "other-steward", "reason": "moved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    c.find(Locator::Css("button[aria-label='Pin postcode']"))
        .await
        .expect("a pin button per golden attribute")
        .click()
        .await
        .unwrap();
    let value = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("pin-value"))
        .await
        .unwrap();
    value.send_keys("10002").await.unwrap();
    click(&c, Locator::Css("#override-slot button[type=submit]")).await;
    let note = wait_text(&c, "#conflict-note", "Someone else changed").await;
    assert!(
        note.contains(&format!("version {before}")) && note.contains("Brooklyn"),
        "{note}"
    );
    wait_text(&c, "#golden", "Brooklyn").await;
    let now: Value = app.entity(merged).await;
    assert_eq!(now["golden"]["city"]["value"], "Brooklyn");
    assert_ne!(
        now["golden"]["postcode"]["value"], "10002",
        "the stale write was refused"
    );
    shoot(&c, "entity-conflict").await;

    // With the new version read, the same override goes through; then unpin the other one.
    click(&c, Locator::Css("button[aria-label='Pin postcode']")).await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("pin-value"))
        .await
        .unwrap()
        .send_keys("10002")
        .await
        .unwrap();
    c.find(Locator::Id("pin-reason"))
        .await
        .unwrap()
        .send_keys("confirmed by letter")
        .await
        .unwrap();
    click(&c, Locator::Css("#override-slot button[type=submit]")).await;
    wait_text(&c, "#status", "Pinned postcode").await;
    let golden = text_of(&c, "#golden").await;
    assert!(
        golden.contains("10002") && golden.contains("confirmed by letter"),
        "{golden}"
    );
    let pinned: Value = app.entity(merged).await;
    assert_eq!(pinned["golden"]["postcode"]["value"], "10002");
    c.find(Locator::XPath(
        "//table[@id='golden']//tr[th='city']//button[.='Unpin']",
    ))
    .await
    .expect("an unpin button on the pinned city")
    .click()
    .await
    .unwrap();
    wait_text(&c, "#status", "Unpinned city").await;
    let unpinned: Value = app.entity(merged).await;
    assert_ne!(unpinned["golden"]["city"]["value"], "Brooklyn");
    assert!(
        unpinned["golden"]["city"].get("override").is_none(),
        "{unpinned}"
    );

    // The entity merged away by the decision redirects to the one that kept its id.
    let gone = [
        pair["a"]["entity_id"].as_u64().unwrap(),
        pair["b"]["entity_id"].as_u64().unwrap(),
    ]
    .into_iter()
    .find(|id| *id != merged)
    .expect("the decision merged two entities");
    c.goto(&format!("http://{}/#/entity/{gone}", app.addr))
        .await
        .unwrap();
    wait_text(
        &c,
        ".conflict-note",
        &format!("#{gone} was merged into #{merged}"),
    )
    .await;

    // Split a record out of John Smith's entity with the checkboxes.
    let john = app.entity_of("crm", "C001").await;
    c.goto(&format!("http://{}/#/entity/{john}", app.addr))
        .await
        .unwrap();
    wait_text(&c, "#members", "S-501").await;
    click(&c, Locator::Css("input[data-key='S-501']")).await;
    c.find(Locator::Id("split-reason"))
        .await
        .unwrap()
        .send_keys("another John Smith")
        .await
        .unwrap();
    click(&c, Locator::Css("#split-form button[type=submit]")).await;
    let status = wait_text(&c, "#status", "Split 1 record").await;
    let split_off = app.entity_of("support", "S-501").await;
    assert!(status.contains(&format!("into #{split_off}")), "{status}");
    let members = wait_text(&c, "#history", "another John Smith").await;
    assert!(members.contains("browser-steward"), "{members}");
    assert!(!text_of(&c, "#members").await.contains("S-501"));
    assert_ne!(split_off, john);

    // Search by name (Chinese and Latin) and by source key.
    let zhang = app.entity_of("crm", "C002").await;
    c.goto(&format!("http://{}/#/search?name=张伟", app.addr))
        .await
        .unwrap();
    let results = wait_text(&c, "#results", &format!("#{zhang}")).await;
    assert!(results.contains("Zhang Wei"), "{results}");
    shoot(&c, "search").await;
    c.goto(&format!(
        "http://{}/#/search?source=webshop&key=W-1002",
        app.addr
    ))
    .await
    .unwrap();
    wait_text(&c, "#results", &format!("entity #{zhang}")).await;

    // The overview after: the queue is empty, the decision is among the recent changes.
    c.goto(&format!("http://{}/#/overview", app.addr))
        .await
        .unwrap();
    let cards = wait_text(&c, ".cards", "nothing to review").await;
    assert!(cards.contains("Review queue\n0"), "{cards}");
    wait_text(&c, "main", &format!("#{merged}")).await;
    shoot(&c, "overview-after").await;

    // A steward key without the pii scope: the same pages, with masked values.
    let masked_key = goldrec::auth::create(
        app.dir.path(),
        goldrec::auth::NewKey {
            name: "masked-steward".into(),
            role: goldrec::auth::Role::Steward,
            sources: Vec::new(),
            pii: false,
        },
    )
    .expect("key created")
    .1;
    click(&c, Locator::Id("logout")).await;
    let key = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("api-key"))
        .await
        .expect("forgetting the key asks for one again");
    key.send_keys(&masked_key).await.unwrap();
    click(&c, Locator::Id("login")).await;
    wait_text(&c, ".cards", "Records").await;
    c.goto(&format!("http://{}/#/entity/{zhang}", app.addr))
        .await
        .unwrap();
    let golden = wait_text(&c, "#golden", "Why this value").await;
    let clear = app.entity(zhang).await;
    for attr in ["name", "email", "phone"] {
        let v = clear["golden"][attr]["value"].as_str().unwrap();
        assert!(
            !golden.contains(v),
            "{attr} {v:?} shown to a key without pii: {golden}"
        );
    }
    assert!(golden.contains("Shanghai"), "context stays clear: {golden}");
    text_of(&c, "#history").await;
    shoot(&c, "entity-masked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steward_audits_automatic_links_in_a_real_browser() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    in_browser(app, audit_walk).await;
}

/// `x` as the page writes a share: a percentage with one decimal.
fn pct(x: &Value) -> String {
    format!("{:.1}%", x.as_f64().expect("a number") * 100.0)
}

/// The sentence the page shows for `GET /v1/quality`, from the API's numbers.
fn precision_sentence(q: &Value) -> String {
    let (a, r) = (&q["automatic_links"], &q["review"]);
    let judged = a["judged"].as_u64().unwrap();
    let links = if judged == 0 {
        "Automatic links: no pair judged yet, so no precision estimate".to_string()
    } else {
        format!(
            "Automatic links: precision {} (95% CI {}–{}) from {judged} judged pair{}",
            pct(&a["precision"]),
            pct(&a["ci95"][0]),
            pct(&a["ci95"][1]),
            if judged == 1 { "" } else { "s" }
        )
    };
    let review = match r["decided"].as_u64().unwrap() {
        0 => "no review decisions yet".to_string(),
        d => format!(
            "{} of {d} ({})",
            r["reversed"].as_u64().unwrap(),
            pct(&r["reversal_rate"])
        ),
    };
    format!("{links}; review decisions against the matcher: {review}")
}

async fn quality(app: &TestApp) -> Value {
    let r = app.get(app.url("/v1/quality")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// The `source/key` pair named in a verdict's status line ("...: crm/C001 and webshop/W-1001
/// are ...").
fn judged_pair(status: &str) -> (String, String) {
    let rest = status.split_once(": ").expect("a colon").1;
    let (left, rest) = rest.split_once(" and ").expect("two records");
    let right = rest.split_whitespace().next().unwrap();
    (left.to_string(), right.to_string())
}

/// The header of the pair table, which names both records.
async fn pair_header(c: &Client) -> String {
    text_of(c, "table.pair thead").await
}

/// Waits until the pair table names another pair than `before`, or the sample is used up
/// (`#audit-empty`); true when a pair is shown.
async fn next_pair(c: &Client, before: &str) -> bool {
    let started = Instant::now();
    loop {
        if c.find(Locator::Id("audit-empty")).await.is_ok() {
            return false;
        }
        // A re-render can detach the header between finding it and reading it: a failed read
        // is no answer (not an empty header that differs from `before`), so poll again.
        if let Ok(el) = c.find(Locator::Css("table.pair thead")).await {
            if let Ok(text) = el.text().await {
                if !text.is_empty() && text != before {
                    return true;
                }
            }
        }
        assert!(
            started.elapsed() < WAIT,
            "the page still shows {before:?} after a verdict"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Audit mode: judge sampled automatic links with a key and a button, the figures in the API
/// and on the overview, skip, and judge until nothing is left.
async fn audit_walk(app: TestApp, c: Client) {
    // One review decision, so that the reversal figure has something to count.
    let queued = app.review(10, 0).await.body["items"][0].clone();
    let decided = app
        .post_json(
            app.url("/v1/decisions"),
            &json!({"a": {"source": queued["a"]["source"], "key": queued["a"]["key"]},
                    "b": {"source": queued["b"]["source"], "key": queued["b"]["key"]},
                    "decision": "different", "actor": "api-steward", "reason": "family"}),
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.body);
    let before = quality(&app).await;
    assert_eq!(before["automatic_links"]["judged"], 0, "{before}");
    assert_eq!(before["review"]["decided"], 1, "{before}");

    // The overview says no pair is judged yet, with no number.
    steward_session(&app, &c).await;
    let text = wait_text(&c, "#precision", "Automatic links").await;
    assert!(text.contains(&precision_sentence(&before)), "{text}");
    assert!(text.contains("no pair judged yet"), "{text}");

    // The audit page: a sampled link side by side with its evidence and chart.
    click(&c, Locator::Css("a[data-nav=audit]")).await;
    wait_text(&c, "h1", "Audit automatic links").await;
    let first = pair_header(&c).await;
    let table = text_of(&c, "table.pair").await;
    assert!(table.contains("agrees"), "{table}");
    let label = c
        .find(Locator::Css("svg.chart"))
        .await
        .expect("the match weight chart")
        .attr("aria-label")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(label.contains("prior"), "{label}");
    assert!(
        c.find_all(Locator::Css("svg.chart rect"))
            .await
            .unwrap()
            .len()
            >= 3
    );
    let top = text_of(&c, "#precision").await;
    assert!(top.contains("no pair judged yet"), "{top}");

    // c confirms the pair shown; the next one comes.
    press(&c, 'c').await;
    let status = wait_text(&c, "#status", "Confirmed: ").await;
    let confirmed = judged_pair(&status);
    for name in [&confirmed.0, &confirmed.1] {
        let (source, key) = name.split_once('/').unwrap();
        assert!(
            first.contains(&format!("{source} / {key}")),
            "{status} vs {first}"
        );
    }
    assert!(next_pair(&c, &first).await, "a second pair to judge");
    let second = pair_header(&c).await;
    // The button says it is wrong.
    click(&c, Locator::Id("btn-wrong")).await;
    let status = wait_text(&c, "#status", "Wrong link: ").await;
    let wrong = judged_pair(&status);
    assert!(
        second.contains(&wrong.1.replacen('/', " / ", 1)),
        "{status} vs {second}"
    );
    assert_ne!(confirmed, wrong);
    assert!(next_pair(&c, &second).await, "a third pair to judge");

    // The server holds both verdicts, on those pairs: the sample leaves them out now.
    let q = quality(&app).await;
    assert_eq!(q["automatic_links"]["judged"], 2, "{q}");
    assert_eq!(q["automatic_links"]["confirmed"], 1, "{q}");
    let sample = app.get(app.url("/v1/quality/sample?n=100")).await;
    let left: Vec<(String, String)> = sample.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| {
            let name = |s: &Value| {
                format!(
                    "{}/{}",
                    s["source"].as_str().unwrap(),
                    s["key"].as_str().unwrap()
                )
            };
            (name(&it["left"]), name(&it["right"]))
        })
        .collect();
    assert!(
        !left.contains(&confirmed) && !left.contains(&wrong),
        "judged pairs still sampled: {left:?}"
    );
    let sentence = precision_sentence(&q);
    assert!(sentence.contains("from 2 judged pairs"), "{sentence}");
    let top = wait_text(&c, "#precision", "from 2 judged pairs").await;
    assert!(top.contains(&sentence), "{top}\nwant {sentence}");
    shoot(&c, "audit").await;

    // The overview shows the same figures.
    click(&c, Locator::Css("a[data-nav=overview]")).await;
    // The audit page has a `#precision` too: wait for the overview itself first.
    wait_text(&c, "h1", "Overview").await;
    let text = wait_text(&c, "#precision", "judged pairs").await;
    assert!(text.contains(&sentence), "{text}\nwant {sentence}");
    shoot(&c, "overview-precision").await;

    // Back to auditing: k skips a pair, then confirm until nothing is left.
    click(&c, Locator::Css("a[data-nav=audit]")).await;
    wait_text(&c, "h1", "Audit automatic links").await;
    let shown = pair_header(&c).await;
    press(&c, 'k').await;
    wait_text(&c, "#status", "Skipped ").await;
    let mut shown_now = shown;
    let mut more = next_pair(&c, &shown_now).await;
    let mut confirmed_here = 0;
    while more {
        assert!(confirmed_here < 20, "the sample never ran out");
        shown_now = pair_header(&c).await;
        press(&c, 'c').await;
        more = next_pair(&c, &shown_now).await;
        confirmed_here += 1;
    }
    let empty = text_of(&c, "#audit-empty").await;
    assert!(
        empty.contains("Nothing left to judge") && empty.contains("apart from 1 pair you skipped"),
        "{empty}"
    );
    shoot(&c, "audit-skipped-left").await;
    // The skipped pair comes back on request; once judged, nothing is left at all.
    click(&c, Locator::Id("btn-unskip")).await;
    let last = pair_header(&c).await;
    click(&c, Locator::Id("btn-confirm")).await;
    assert!(!next_pair(&c, &last).await, "a pair after the last one");
    let empty = wait_text(&c, "#audit-empty", "Nothing left to judge").await;
    assert!(!empty.contains("skipped"), "{empty}");
    let q = quality(&app).await;
    let judged = q["automatic_links"]["judged"].as_u64().unwrap();
    assert_eq!(judged, 2 + confirmed_here + 1, "{q}");
    assert_eq!(q["automatic_links"]["confirmed"], judged - 1, "{q}");
    let sample = app.get(app.url("/v1/quality/sample?n=100")).await;
    assert_eq!(sample.body["items"], json!([]), "{}", sample.body);
    wait_text(&c, "#precision", &precision_sentence(&q)).await;
    shoot(&c, "audit-done").await;
}
