// goldrec steward page: hash-routed views over the /v1 JSON API. No framework, no build:
// every element is made with h() (text goes in as text nodes, never as HTML).
"use strict";

const KEY = "goldrec.key";
const ACTOR = "goldrec.actor";
const main = () => document.getElementById("main");

// ----- small DOM helpers -------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function table(headers, rows, attrs) {
  return h("table", attrs || {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", class: x.startsWith("#") ? "num" : null }, x.replace(/^#/, ""))))),
    h("tbody", {}, rows));
}

function when(ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  return d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

function age(ms) {
  if (ms === null || ms === undefined) return "—";
  const mins = Math.max(0, Math.round((Date.now() - ms) / 60000));
  if (mins < 60) return `${mins} min`;
  const hours = Math.round(mins / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.round(hours / 24)} days`;
}

function say(msg) { document.getElementById("status").textContent = msg || ""; }
function alarm(msg) { document.getElementById("alert").textContent = msg || ""; }

// Views fetch before they draw, and a steward may move on meanwhile (a slow overview would
// otherwise draw over the audit page opened after it): a view notes the address it started
// at and draws only while the address is still that one.
const movedOn = (at) => location.hash !== at;

function render(title, ...children) {
  const m = main();
  m.replaceChildren(h("h1", {}, title), ...children.filter((c) => c !== null && c !== undefined && c !== false));
  document.title = `${title} · goldrec`;
}

// ----- the API -----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(method, path, body, headers) {
  const init = { method, headers: Object.assign({ Authorization: `Bearer ${sessionStorage.getItem(KEY)}` }, headers || {}) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = { message: text }; }
  if (r.status === 401) {
    sessionStorage.removeItem(KEY);
    login(json && json.message);
    throw new ApiError(401, json);
  }
  if (!r.ok) throw new ApiError(r.status, json);
  return { json, etag: r.headers.get("ETag"), redirected: r.redirected, url: r.url };
}

function actor() { return sessionStorage.getItem(ACTOR) || "steward"; }

function showError(e) {
  if (e instanceof ApiError && e.status === 401) return;
  if (e instanceof ApiError && e.status === 403) alarm(`Not allowed: ${e.message}`);
  else alarm(e.message || String(e));
}

// ----- key entry -----------------------------------------------------------------------------

function login(why) {
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  const key = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true, size: 40 });
  const name = h("input", { id: "actor", type: "text", value: sessionStorage.getItem(ACTOR) || "", required: true, size: 24 });
  const form = h("form", { class: "login", onsubmit: (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, key.value.trim());
    sessionStorage.setItem(ACTOR, name.value.trim());
    alarm("");
    route();
  } },
  h("p", {}, "Paste a steward key (", h("code", {}, "goldrec keys create --role steward"), "). It stays in this browser tab only."),
  h("label", { for: "api-key" }, "API key", key),
  h("label", { for: "actor" }, "Your name (recorded as the actor of your decisions)", name),
  h("button", { type: "submit", class: "primary", id: "login" }, "Open"));
  render("Sign in", form);
  if (why) alarm(why);
  key.focus();
}

// ----- overview ----------------------------------------------------------------------------

async function overview() {
  const at = location.hash;
  const [{ json: o }, { json: health }] = await Promise.all([api("GET", "/v1/overview"), api("GET", "/v1/health")]);
  const card = (label, n, note) => h("div", { class: "card" }, h("div", { class: "muted" }, label), h("div", { class: "n" }, n), note ? h("div", { class: "muted" }, note) : null);
  const cards = h("div", { class: "cards" },
    card("Records", o.records, `${health.indexed} indexed`),
    card("Entities", o.entities),
    card("Review queue", o.review.open, o.review.open ? `oldest waiting ${age(o.review.oldest_queued_at)}` : "nothing to review"),
    card("Changes", o.latest_change, "last sequence"));
  const sources = table(["Source", "#Records", "Last new record", "Last change"],
    o.sources.map((x) => h("tr", {}, h("td", {}, x.source), h("td", { class: "num" }, x.records), h("td", {}, when(x.last_ingested_at)), h("td", {}, when(x.last_changed_at)))));
  let recent = h("p", { class: "muted" }, "No changes yet.");
  if (o.latest_change > 0) {
    const after = Math.max(0, o.latest_change - 15);
    try {
      const { json: feed } = await api("GET", `/v1/changes?after=${after}&limit=15`);
      recent = table(["#Seq", "When", "Entity", "What", "Changed"],
        feed.events.slice().reverse().map((e) => h("tr", {},
          h("td", { class: "num" }, e.seq), h("td", {}, when(e.at)),
          h("td", {}, h("a", { href: `#/entity/${e.entity_id}` }, `#${e.entity_id}`), " ", (e.golden && e.golden.name) || ""),
          h("td", {}, e.kind), h("td", {}, (e.changed || []).join(", ")))));
    } catch (e) {
      recent = h("p", { class: "muted" }, `Recent changes unavailable: ${e.message}`);
    }
  }
  // The estimated precision needs a steward key; a reader's overview goes without it.
  let precision = null;
  try {
    const { json: q } = await api("GET", "/v1/quality");
    precision = h("p", { class: "figures", id: "precision" }, precisionText(q), " · ", h("a", { href: "#/audit" }, "Audit links →"));
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 403)) throw e;
  }
  if (movedOn(at)) return;
  render("Overview", cards,
    precision,
    h("p", {}, o.review.open ? h("a", { href: "#/review" }, `Review ${o.review.open} open pair(s) →`) : "The review queue is empty."),
    h("h2", {}, "Ingest per source"), sources,
    h("h2", {}, "Recent changes"), recent);
}

// ----- review queue ----------------------------------------------------------------------------

const review = { items: [], index: 0, total: 0, skipped: new Set() };
const pairId = (item) => [item.a.record_id, item.b.record_id].sort().join("-");

async function loadQueue() {
  const { json } = await api("GET", "/v1/review?limit=50");
  // The queue is ordered by uncertainty, where a skipped pair keeps its place: pairs skipped
  // in this tab go last (stable sort).
  const rank = (item) => (review.skipped.has(pairId(item)) ? 1 : 0);
  review.items = json.items.slice().sort((x, y) => rank(x) - rank(y));
  review.total = json.total;
  if (review.index >= review.items.length) review.index = 0;
}

// One comparison's explanation per attribute name (a comparison named like the attribute,
// or `name.given` for the attribute `name.given`).
function comparisonFor(explanation, attr) {
  return explanation.comparisons.find((c) => c.comparison === attr) || null;
}

function pairTable(item) {
  const attrs = [...new Set([...Object.keys(item.a.values), ...Object.keys(item.b.values)])].sort();
  const rows = attrs.map((attr) => {
    const va = item.a.values[attr], vb = item.b.values[attr];
    const c = comparisonFor(item.explanation, attr);
    let cls = "none", mark = "";
    if (c && c.level !== null) {
      cls = c.weight > 0 ? "agree" : c.weight < 0 ? "differ" : "none";
      const w = `${c.weight > 0 ? "+" : ""}${c.weight.toFixed(1)} bits`;
      mark = `${c.weight > 0 ? "✓ agrees" : c.weight < 0 ? "✗ differs" : "neutral"} (${c.level}, ${w})`;
    } else if (va !== undefined && vb !== undefined) {
      const same = va.trim().toLowerCase() === vb.trim().toLowerCase();
      cls = same ? "agree" : "differ";
      mark = same ? "✓ same text" : "✗ different text (not compared)";
    } else {
      mark = "only one side";
    }
    return h("tr", {}, h("th", { scope: "row" }, attr),
      h("td", { class: cls }, va === undefined ? "—" : va),
      h("td", { class: cls }, vb === undefined ? "—" : vb),
      h("td", {}, h("span", { class: `mark ${cls}` }, mark)));
  });
  const side = (x) => h("span", {}, `${x.source} / ${x.key} `, h("a", { href: `#/entity/${x.entity_id}` }, `entity #${x.entity_id}`));
  return h("table", { class: "pair", "aria-label": "The two records side by side" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Attribute"), h("th", { scope: "col" }, "A: ", side(item.a)), h("th", { scope: "col" }, "B: ", side(item.b)), h("th", { scope: "col" }, "Evidence"))),
    h("tbody", {}, rows));
}

// The match weight as a waterfall: the prior, then each comparison's weight added on, then
// the total (in bits, log2 of the odds).
function waterfall(ex) {
  const steps = [{ label: "prior", weight: ex.prior_weight, kind: "prior" }];
  for (const c of ex.comparisons) {
    steps.push({ label: `${c.comparison}${c.level === null ? " (missing)" : `: ${c.level}`}`, weight: c.weight, kind: c.weight >= 0 ? "pos" : "neg" });
  }
  let run = 0;
  const bars = steps.map((st) => { const from = run; run += st.weight; return Object.assign(st, { from, to: run }); });
  bars.push({ label: "match weight", from: 0, to: ex.match_weight, weight: ex.match_weight, kind: "total" });
  if (ex.decision_weight !== ex.match_weight) {
    bars.push({ label: "decision weight (capped)", from: 0, to: ex.decision_weight, weight: ex.decision_weight, kind: "total" });
  }
  const values = bars.flatMap((b) => [b.from, b.to]).concat([0]);
  const lo = Math.floor(Math.min(...values) / 5) * 5, hi = Math.ceil(Math.max(...values) / 5) * 5;
  const W = 760, left = 230, right = 70, row = 22, top = 8;
  const x = (v) => left + ((v - lo) / (hi - lo || 1)) * (W - left - right);
  const H = top + bars.length * row + 24;
  const summary = `Match weight ${ex.match_weight.toFixed(1)} bits (probability ${(ex.match_probability * 100).toFixed(1)}%): prior ${ex.prior_weight.toFixed(1)}, ` +
    ex.comparisons.filter((c) => c.level !== null).map((c) => `${c.comparison} ${c.weight > 0 ? "+" : ""}${c.weight.toFixed(1)}`).join(", ");
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": summary });
  svg.append(s("title", {}, summary));
  for (let v = lo; v <= hi; v += 5) {
    svg.append(s("line", { class: "grid", x1: x(v), x2: x(v), y1: top, y2: H - 20 }));
    svg.append(s("text", { x: x(v), y: H - 6, "text-anchor": "middle" }, String(v)));
  }
  bars.forEach((b, i) => {
    const y = top + i * row;
    const x0 = x(Math.min(b.from, b.to)), x1 = x(Math.max(b.from, b.to));
    svg.append(s("text", { x: left - 8, y: y + 15, "text-anchor": "end" }, b.label));
    svg.append(s("rect", { class: b.kind, x: x0, y: y + 3, width: Math.max(1, x1 - x0), height: row - 6 }));
    svg.append(s("text", { x: x1 + 4, y: y + 15 }, `${b.weight > 0 && b.kind !== "total" ? "+" : ""}${b.weight.toFixed(1)}`));
  });
  svg.append(s("line", { class: "zero", x1: x(0), x2: x(0), y1: top, y2: H - 20 }));
  return svg;
}

// The keys of the current view (set by the view, cleared on every route change): key → action.
let shortcuts = null;

// A group of action buttons, each with its keyboard key shown; sets the view's shortcuts.
// specs: [{ id, cls, text, key, run }].
function actionButtons(label, specs, ...before) {
  shortcuts = Object.fromEntries(specs.map((b) => [b.key, b.run]));
  return h("div", { class: "row", role: "group", "aria-label": label }, before,
    specs.map((b) => h("button", { type: "button", class: b.cls || null, id: b.id, "aria-keyshortcuts": b.key, onclick: () => b.run() }, `${b.text} `, h("kbd", {}, b.key))));
}

// A pair with its evidence, as the review queue and audit mode show it: the match probability,
// both records side by side with agreeing and differing values marked, the action buttons,
// and the match weight chart. `item` has a, b (source, key, values, entity_id) and explanation.
function pairPanel(item, buttons, keysHelp) {
  const ex = item.explanation;
  return [
    h("p", { id: "pair-probability" }, `Match probability `, h("strong", {}, `${(ex.match_probability * 100).toFixed(1)}%`), ` (weight ${ex.match_weight.toFixed(1)} bits)`,
      ex.personal_conflict ? ` · personal evidence disagrees, decision probability ${(ex.decision_probability * 100).toFixed(1)}%` : ""),
    pairTable(item),
    buttons,
    h("p", { class: "muted" }, `Keys: ${keysHelp} (when not typing in a field).`),
    h("h2", {}, "Why: match weight by comparison"),
    waterfall(ex),
  ];
}

async function reviewView() {
  shortcuts = null;
  const at = location.hash;
  await loadQueue();
  if (movedOn(at)) return;
  const item = review.items[review.index];
  const last = review.last ? h("p", {}, h("a", { href: `#/entity/${review.last}`, id: "last-entity" }, `Open entity #${review.last} of the last decision`)) : null;
  if (!item) {
    render("Review queue", last, h("p", { id: "queue-empty" }, "Nothing to review: every queued pair is decided."), h("p", {}, h("a", { href: "#/overview" }, "Back to the overview")));
    return;
  }
  const reason = h("input", { id: "reason", type: "text", size: 50, placeholder: "why (optional, kept with the decision)" });
  const decide = async (decision) => {
    alarm("");
    try {
      const body = { a: { source: item.a.source, key: item.a.key }, b: { source: item.b.source, key: item.b.key }, decision, actor: actor(), reason: reason.value };
      const { json } = await api("POST", "/v1/decisions", body);
      let done;
      if (decision === "skip") {
        review.skipped.add(pairId(item));
        done = `Skipped ${item.a.key} / ${item.b.key}: it goes to the back of the queue.`;
      } else {
        const ents = json.entity_a === json.entity_b ? `entity #${json.entity_a}` : `entities #${json.entity_a} and #${json.entity_b}`;
        done = `Decided ${decision}: ${item.a.source}/${item.a.key} and ${item.b.source}/${item.b.key} are now in ${ents}.`;
        review.last = json.entity_a;
      }
      await reviewView();
      say(done); // after the next pair is shown
    } catch (e) {
      if (e instanceof ApiError && e.body.code === "decision_conflict") {
        alarm(`This contradicts a decision in force: ${e.message}`);
      } else showError(e);
    }
  };
  const next = () => { review.index = (review.index + 1) % review.items.length; reviewView().catch(showError); };
  const buttons = actionButtons("Decision", [
    { id: "btn-same", cls: "same", text: "Same", key: "s", run: () => decide("same") },
    { id: "btn-different", cls: "different", text: "Different", key: "d", run: () => decide("different") },
    { id: "btn-skip", text: "Skip", key: "k", run: () => decide("skip") },
    { id: "btn-next", text: "Next", key: "n", run: next },
  ], h("label", { for: "reason" }, "Reason", reason));
  render("Review queue",
    last,
    h("p", { class: "muted", id: "queue-pos" }, `Pair ${review.index + 1} of ${review.total} · queued ${when(item.queued_at)} (${item.reason.replaceAll("_", " ")}) · ${item.records_affected} records affected`),
    ...pairPanel(item, buttons, "s same, d different, k skip, n next"));
}

// ----- audit mode: stewards judge a random sample of automatic links -----------------------

// Pairs sampled and not judged yet (the head is shown); pairs skipped in this tab.
const audit = { items: [], skipped: new Set(), judged: 0 };
const sampleId = (it) => `${it.left.source}/${it.left.key} ${it.right.source}/${it.right.key}`;
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const probabilityOf = (w) => 1 / (1 + Math.pow(2, -w));

// The estimated precision of automatic links and the review reversals, as one sentence.
function precisionText(q) {
  const a = q.automatic_links, r = q.review;
  const links = a.judged === 0 || a.precision === null
    ? "Automatic links: no pair judged yet, so no precision estimate"
    : `Automatic links: precision ${pct(a.precision)} (95% CI ${pct(a.ci95[0])}–${pct(a.ci95[1])}) from ${a.judged} judged pair${a.judged === 1 ? "" : "s"}`;
  const rev = r.decided === 0 || r.reversal_rate === null
    ? "no review decisions yet"
    : `${r.reversed} of ${r.decided} (${pct(r.reversal_rate)})`;
  return `${links}; review decisions against the matcher: ${rev}`;
}

// A sampled link in the shape the review queue's pair panel reads.
function fromSample(it) {
  const side = (x) => Object.assign({ entity_id: it.entity_id }, x);
  return {
    a: side(it.left),
    b: side(it.right),
    explanation: {
      prior_weight: it.prior_weight,
      comparisons: it.explanation,
      match_weight: it.weight,
      match_probability: it.probability,
      decision_weight: it.decision_weight,
      decision_probability: probabilityOf(it.decision_weight),
      personal_conflict: it.decision_weight < it.weight,
    },
  };
}

// The next pair to judge: the head of the sample, fetching a new sample when it is used up.
async function nextSample() {
  if (audit.items.length === 0) {
    const { json } = await api("GET", "/v1/quality/sample?n=20");
    audit.items = json.items.filter((it) => !audit.skipped.has(sampleId(it)));
  }
  return audit.items[0] || null;
}

async function auditView() {
  shortcuts = null;
  const at = location.hash;
  const [{ json: q }, raw] = await Promise.all([api("GET", "/v1/quality"), nextSample()]);
  if (movedOn(at)) return;
  const figures = h("p", { class: "figures", id: "precision" }, precisionText(q));
  const intro = h("p", { class: "muted" }, "Pairs the matcher linked on its own, drawn at random: confirm or refute them to estimate its precision. A verdict changes no entity; to fix a wrong link, split the entity.");
  if (!raw) {
    const skipped = audit.skipped.size;
    render("Audit automatic links", figures,
      h("p", { id: "audit-empty" }, skipped
        ? `Nothing left to judge: every automatic link has a verdict, apart from ${skipped} pair${skipped === 1 ? "" : "s"} you skipped.`
        : "Nothing left to judge: every automatic link has a verdict (or no entity holds records the matcher linked on its own)."),
      skipped ? h("button", { type: "button", id: "btn-unskip", onclick: () => { audit.skipped.clear(); auditView().catch(showError); } }, "Show the skipped pairs again") : null,
      h("p", {}, h("a", { href: "#/overview" }, "Back to the overview")));
    return;
  }
  const item = fromSample(raw);
  const names = `${raw.left.source}/${raw.left.key} and ${raw.right.source}/${raw.right.key}`;
  let busy = false;
  const after = async (done) => {
    audit.items.shift();
    await auditView();
    main().focus({ preventScroll: true });
    say(done); // after the next pair is shown
  };
  const judge = async (verdict) => {
    if (busy) return;
    busy = true;
    alarm("");
    try {
      await api("POST", "/v1/quality/verdicts", { left: `${raw.left.source}/${raw.left.key}`, right: `${raw.right.source}/${raw.right.key}`, verdict, actor: actor() });
      audit.judged += 1;
      await after(verdict === "same" ? `Confirmed: ${names} are the same.` : `Wrong link: ${names} are different people (split entity #${raw.entity_id} to fix it).`);
    } catch (e) {
      busy = false;
      if (e instanceof ApiError && e.body.code === "not_automatic_link") {
        // A steward decided or split meanwhile: this pair is no longer the matcher's alone.
        await after("");
        alarm(`Not judged: ${e.message}`);
      } else showError(e);
    }
  };
  const skip = async () => {
    if (busy) return;
    busy = true;
    audit.skipped.add(sampleId(raw));
    await after(`Skipped ${names}.`).catch(showError);
  };
  const buttons = actionButtons("Verdict", [
    { id: "btn-confirm", cls: "same", text: "Confirm (same)", key: "c", run: () => judge("same") },
    { id: "btn-wrong", cls: "different", text: "Wrong link (different)", key: "w", run: () => judge("different") },
    { id: "btn-audit-skip", text: "Skip", key: "k", run: skip },
  ]);
  render("Audit automatic links", figures, intro,
    h("p", { class: "muted", id: "audit-pos" }, `Linked in entity #${raw.entity_id} · ${audit.judged} judged in this tab · ${audit.items.length - 1} more in this sample`),
    ...pairPanel(item, buttons, "c confirm, w wrong link, k skip"));
}

document.addEventListener("keydown", (ev) => {
  if (!shortcuts) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  const f = shortcuts[ev.key];
  if (f) { ev.preventDefault(); f(); }
});

// ----- entity ------------------------------------------------------------------------------

const RULES = {
  source_priority: "source priority: the most trusted source wins",
  most_recent: "most recent: the newest value wins",
  most_frequent: "most frequent: the value most members hold wins",
  longest: "longest: the most complete value wins",
  first_non_empty: "first non-empty: the earliest ingested record's value wins",
};

async function entityView(id, notice) {
  const got = await api("GET", `/v1/entities/${encodeURIComponent(id)}`);
  const e = got.json;
  const etag = got.etag;
  const steward = await Promise.allSettled([
    api("GET", `/v1/entities/${e.id}/conflicts`),
    api("GET", `/v1/entities/${e.id}/history`),
  ]);
  const conflicts = steward[0].status === "fulfilled" ? steward[0].value.json.conflicts : null;
  const history = steward[1].status === "fulfilled" ? steward[1].value.json.versions : null;
  const byAttr = Object.fromEntries((conflicts || []).map((c) => [c.attribute, c]));

  const state = { e, etag };
  const pinForm = (attr) => {
    // Empty, not the current value: with a key without pii that value is masked.
    const value = h("input", { type: "text", id: "pin-value", required: true });
    const why = h("input", { type: "text", id: "pin-reason", size: 30 });
    const name = h("input", { type: "text", id: "pin-attr", required: true, value: attr || "" });
    return h("form", { class: "inline", onsubmit: async (ev) => {
      ev.preventDefault();
      await write(() => api("PUT", `/v1/entities/${e.id}/overrides/${encodeURIComponent(name.value)}`, { value: value.value, actor: actor(), reason: why.value }, { "If-Match": state.etag }),
        `Pinned ${name.value}.`);
    } }, h("label", { for: "pin-attr" }, "Attribute", name), h("label", { for: "pin-value" }, "Value", value), h("label", { for: "pin-reason" }, "Reason", why),
    h("button", { type: "submit", class: "primary" }, "Pin value"));
  };
  const overrideSlot = h("div", { id: "override-slot" });

  // A write with If-Match: on 409 someone else changed the entity; show what and reload.
  const write = async (call, done) => {
    alarm("");
    try {
      const msg = await call();
      await entityView(e.id);
      say(typeof msg === "string" ? msg : done);
    } catch (err) {
      if (err instanceof ApiError && err.body.code === "version_conflict") {
        const before = e;
        const now = (await api("GET", `/v1/entities/${e.id}`)).json;
        await entityView(now.id, changedNotice(before, now, history, err.message));
      } else showError(err);
    }
  };

  const goldenRows = Object.entries(e.golden).sort().map(([attr, g]) => {
    const l = g.lineage;
    const c = byAttr[attr];
    const beaten = c ? c.candidates.filter((x) => !x.wins) : [];
    const why = g.override
      ? h("span", {}, h("span", { class: "badge pin" }, "pinned"), ` by ${g.override.actor} ${when(g.override.at)}${g.override.reason ? ` — ${g.override.reason}` : ""}`)
      : l ? h("span", {}, RULES[l.rule] || l.rule, ` (${l.support} of ${e.members.length} member${e.members.length === 1 ? "" : "s"} hold it)`,
        beaten.length ? h("div", { class: "muted" }, "beat: ", beaten.map((b) => `${b.value} (${b.source}/${b.key}, ${b.support})`).join("; ")) : null)
        : "—";
    return h("tr", {}, h("th", { scope: "row" }, attr), h("td", {}, g.value),
      h("td", {}, l ? `${l.source} / ${l.key}` : "—", l ? h("div", { class: "muted" }, when(l.observed_at)) : null),
      h("td", {}, why),
      h("td", {}, g.override
        ? h("button", { type: "button", onclick: () => write(() => api("DELETE", `/v1/entities/${e.id}/overrides/${encodeURIComponent(attr)}?actor=${encodeURIComponent(actor())}`, undefined, { "If-Match": state.etag }), `Unpinned ${attr}.`) }, "Unpin")
        : h("button", { type: "button", "aria-label": `Pin ${attr}`, onclick: () => { overrideSlot.replaceChildren(pinForm(attr)); overrideSlot.querySelector("#pin-value").focus(); } }, "Pin…")));
  });

  const conflictBlock = conflicts === null
    ? h("p", { class: "muted" }, "Conflicts and history need a steward key.")
    : conflicts.length === 0 ? h("p", { class: "muted" }, "The members agree on every attribute.")
      : table(["Attribute", "Candidate", "From", "#Support", "Observed", "Rule"], conflicts.flatMap((c) => c.candidates.map((x, i) =>
        h("tr", {}, i === 0 ? h("th", { scope: "row", rowspan: c.candidates.length }, c.attribute) : null,
          h("td", {}, x.value, x.wins ? h("span", { class: "badge" }, " kept") : null), h("td", {}, `${x.source} / ${x.key}`),
          h("td", { class: "num" }, x.support), h("td", {}, when(x.observed_at)), i === 0 ? h("td", { rowspan: c.candidates.length }, c.rule) : null))));

  const attrs = [...new Set(e.members.flatMap((m) => Object.keys(m.values)))].sort();
  const memberRows = e.members.map((m, i) => h("tr", {},
    h("td", {}, h("input", { type: "checkbox", id: `split-${i}`, "data-source": m.source, "data-key": m.key, "aria-label": `Split out ${m.source} ${m.key}` })),
    h("th", { scope: "row" }, `${m.source} / ${m.key}`),
    attrs.map((a) => h("td", { class: m.values[a] !== undefined && e.golden[a] && m.values[a] !== e.golden[a].value ? "changed" : null }, m.values[a] === undefined ? "—" : m.values[a]))));
  const splitReason = h("input", { type: "text", id: "split-reason", size: 30 });
  const splitForm = h("form", { class: "inline", id: "split-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const picked = [...main().querySelectorAll("input[data-source]:checked")].map((c) => ({ source: c.dataset.source, key: c.dataset.key }));
    if (picked.length === 0 || picked.length === e.members.length) { alarm("Pick some, not all, members to split out."); return; }
    await write(async () => {
      const { json } = await api("POST", `/v1/entities/${e.id}/split`, { groups: [picked], actor: actor(), reason: splitReason.value }, { "If-Match": state.etag });
      const made = json.entities.filter((x) => x.id !== e.id).map((x) => `#${x.id}`);
      return `Split ${picked.length} record(s) out of #${e.id} into ${made.join(", ")}.`;
    }, `Split ${picked.length} record(s) out of #${e.id}.`);
  } }, h("label", { for: "split-reason" }, "Reason", splitReason), h("button", { type: "submit" }, "Split checked records into a new entity"));

  let timeline = null;
  if (history) {
    timeline = h("ol", { class: "timeline", id: "history" }, history.slice().reverse().map((v, i, all) => {
      const prev = all[i + 1];
      const changed = prev ? Object.keys(Object.assign({}, v.golden, prev.golden)).filter((k) => v.golden[k] !== prev.golden[k]) : [];
      return h("li", {}, h("strong", {}, `v${v.version} ${v.kind.replaceAll("_", " ")}`), ` · ${when(v.at)} · ${v.actor}`,
        v.reason ? h("div", {}, `“${v.reason}”`) : null,
        h("div", { class: "muted" }, `${v.members.length} member(s): ${v.members.map((m) => `${m.source}/${m.key}`).join(", ")}`),
        changed.length ? h("div", { class: "muted" }, `changed: ${changed.map((k) => `${k} ${prev.golden[k] ?? "—"} → ${v.golden[k] ?? "—"}`).join("; ")}`) : null);
    }));
  }

  render(`Entity #${e.id}`,
    got.redirected && String(e.id) !== String(id) ? h("p", { class: "conflict-note" }, `Entity #${id} was merged into #${e.id}.`) : null,
    notice || null,
    h("p", { class: "muted", id: "entity-meta" }, `Version ${e.version} · created ${when(e.created_at)} · updated ${when(e.updated_at)} · ETag ${etag}`),
    h("h2", {}, "Golden record"),
    table(["Attribute", "Value", "From", "Why this value", "Action"], goldenRows, { id: "golden" }),
    overrideSlot,
    h("button", { type: "button", onclick: () => { overrideSlot.replaceChildren(pinForm("")); overrideSlot.querySelector("#pin-attr").focus(); } }, "Pin another attribute…"),
    h("h2", {}, "Conflicts"), conflictBlock,
    h("h2", {}, `Members (${e.members.length})`),
    h("p", { class: "muted" }, "Values in red differ from the golden value."),
    table(["Split", "Record", ...attrs], memberRows, { id: "members" }),
    e.members.length > 1 ? splitForm : null,
    h("h2", {}, "History"), timeline || h("p", { class: "muted" }, "History needs a steward key."));
}

// What changed between the version the page showed and the current one, for a 409.
function changedNotice(before, now, history, message) {
  const diffs = Object.keys(Object.assign({}, before.golden, now.golden))
    .filter((k) => (before.golden[k] || {}).value !== (now.golden[k] || {}).value)
    .map((k) => `${k}: ${(before.golden[k] || {}).value ?? "—"} → ${(now.golden[k] || {}).value ?? "—"}`);
  const beforeM = before.members.map((m) => `${m.source}/${m.key}`).sort().join(", ");
  const nowM = now.members.map((m) => `${m.source}/${m.key}`).sort().join(", ");
  return h("div", { class: "conflict-note", id: "conflict-note", role: "alert" },
    h("strong", {}, `Someone else changed this entity (you had version ${before.version}, it is now version ${now.version}). Your change was not applied.`),
    h("div", {}, message),
    diffs.length ? h("div", {}, `Golden values changed: ${diffs.join("; ")}`) : null,
    beforeM !== nowM ? h("div", {}, `Members were ${beforeM}; now ${nowM}`) : null,
    h("div", {}, "Below is the current version; check it and try again."));
}

// ----- search ------------------------------------------------------------------------------

async function searchView(params) {
  const field = (name, label, type) => h("label", { for: `q-${name}` }, label, h("input", { id: `q-${name}`, name, type: type || "text", value: params.get(name) || "" }));
  const byAttrs = h("form", { class: "inline", role: "search", onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const n of ["name", "email", "phone"]) { const v = byAttrs.querySelector(`[name=${n}]`).value.trim(); if (v) q.set(n, v); }
    location.hash = `#/search?${q}`;
  } }, field("name", "Name"), field("email", "Email", "email"), field("phone", "Phone", "tel"), h("button", { type: "submit", class: "primary" }, "Search"));
  let sources = [];
  try { sources = (await api("GET", "/v1/overview")).json.sources.map((x) => x.source); } catch (_) { /* a reader key may still look records up */ }
  const srcSel = h("select", { id: "q-source", name: "source" }, sources.map((x) => h("option", { value: x, selected: params.get("source") === x }, x)));
  const byKey = h("form", { class: "inline", onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams({ source: srcSel.value, key: byKey.querySelector("[name=key]").value.trim() });
    location.hash = `#/search?${q}`;
  } }, h("label", { for: "q-source" }, "Source", srcSel), field("key", "Source key"), h("button", { type: "submit" }, "Find record"));

  let results = null;
  if (params.get("source") && params.get("key")) {
    try {
      const { json: r } = await api("GET", `/v1/sources/${encodeURIComponent(params.get("source"))}/records/${encodeURIComponent(params.get("key"))}`);
      results = h("div", { id: "results" }, h("p", {}, `${r.source} / ${r.key} belongs to `, h("a", { href: `#/entity/${r.entity_id}` }, `entity #${r.entity_id}`)),
        table(["Attribute", "Value"], Object.entries(r.values).map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))));
    } catch (e) {
      results = h("p", { id: "results" }, e.status === 404 ? `No record ${params.get("key")} in ${params.get("source")}.` : e.message);
    }
  } else {
    const q = new URLSearchParams();
    for (const n of ["name", "email", "phone"]) if (params.get(n)) q.set(n, params.get(n));
    if ([...q].length) {
      const { json } = await api("GET", `/v1/search?${q}&limit=20`);
      results = json.results.length === 0 ? h("p", { id: "results" }, "No entity matches.")
        : table(["Entity", "Name", "Email", "Phone", "City", "#Match"], json.results.map((r) => h("tr", {},
          h("td", {}, h("a", { href: `#/entity/${r.entity_id}` }, `#${r.entity_id}`)), h("td", {}, r.golden.name || "—"),
          h("td", {}, r.golden.email || "—"), h("td", {}, r.golden.phone || "—"), h("td", {}, r.golden.city || "—"),
          h("td", { class: "num" }, `${(r.match_probability * 100).toFixed(1)}%`))), { id: "results" });
    }
  }
  render("Search", h("h2", {}, "By name, email or phone"), byAttrs, h("h2", {}, "By source key"), byKey, results ? h("h2", {}, "Results") : null, results);
}

// ----- routing -----------------------------------------------------------------------------

async function route() {
  if (!sessionStorage.getItem(KEY)) { login(); return; }
  document.getElementById("logout").hidden = false;
  document.getElementById("who").textContent = `acting as ${actor()}`;
  const at = location.hash;
  const hash = at.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const parts = path.split("/");
  const view = parts[0] || "overview";
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  shortcuts = null;
  try {
    if (view === "review") await reviewView();
    else if (view === "audit") await auditView();
    else if (view === "entity" && parts[1]) await entityView(parts[1]);
    else if (view === "search") await searchView(new URLSearchParams(query || ""));
    else await overview();
    if (movedOn(at)) return; // a later route draws the page
    main().focus({ preventScroll: true });
    document.body.dataset.view = view;
  } catch (e) {
    showError(e);
    if (!(e instanceof ApiError && e.status === 401)) render("Error", h("p", {}, e.message));
  }
}

window.addEventListener("hashchange", () => { say(""); alarm(""); route(); });
window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    login();
  });
  route();
});
