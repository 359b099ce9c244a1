/* archon-mcp session browser: plain JS, no build step. Every list is paginated by the server. */
"use strict";

const TOKEN_KEY = "archon-token";
const PAGE_SIZE = 25;
const EVENT_PAGE = 50;

// ---- token: taken once from ?token=, kept in this tab only -------------------------------------
(function takeTokenFromUrl() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
})();

class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

async function api(path, params) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(url, { headers });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(response.status, err.type || "http_error", err.message || response.statusText);
  }
  return body;
}

// ---- DOM helpers: text only goes through textContent ---------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "style") el.style.cssText = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const view = () => document.getElementById("view");
function show(...nodes) { view().replaceChildren(...nodes); }

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
function fmtDuration(start, end) {
  const ms = (end ? new Date(end) : new Date()) - new Date(start);
  const min = Math.round(ms / 60000);
  if (min < 60) return min + " min";
  const hours = Math.floor(min / 60);
  if (hours < 48) return hours + " h " + (min % 60) + " min";
  return Math.round(hours / 24) + " days";
}
function shortId(id) { return id ? id.slice(0, 8) : ""; }
function truncate(text, n) { return !text ? "" : text.length > n ? text.slice(0, n - 1) + "…" : text; }

// ---- colours: fixed for known names, hashed for the rest -----------------------------------------
const AGENT_COLORS = { claude: "#d9480f", gemini: "#1c7ed6", gpt: "#2b8a3e", user: "#7048e8" };
const EVENT_COLORS = {
  task_created: "#1c7ed6", task_updated: "#4dabf7", task_completed: "#2b8a3e", decision_made: "#7048e8",
  error_encountered: "#e03131", pattern_identified: "#f08c00", context_shared: "#0c8599",
};
function hashColor(name) {
  let x = 0;
  for (const ch of name) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${x % 360}, 55%, 45%)`;
}
const agentColor = (name) => AGENT_COLORS[name] || hashColor(name);
const eventColor = (name) => EVENT_COLORS[name] || hashColor(name);
function tint(color) { return `color-mix(in srgb, ${color} 14%, white)`; }

function agentLabel(name) { return h("span", { class: "agent" }, h("span", { class: "dot", style: `background:${agentColor(name)}` }), name); }
function statusBadge(session) {
  return session.is_active ? h("span", { class: "badge active" }, "active") : h("span", { class: "badge ended" }, "ended");
}
function scoreBadge(similarity) {
  const pct = Math.round(similarity * 100);
  return h("span", { class: "score", title: "calibrated similarity" },
    h("span", { class: "bar" }, h("i", { style: `width:${pct}%` })), similarity.toFixed(2));
}

// ---- routing: #/sessions?..., #/session/<id>?..., #/search?q=..., #/activity?days= --------------
function parseHash() {
  const raw = window.location.hash.replace(/^#/, "") || "/sessions";
  const [path, query] = raw.split("?");
  return { parts: path.split("/").filter(Boolean), params: new URLSearchParams(query || "") };
}
function go(path, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") query.set(k, v);
  const qs = query.toString();
  window.location.hash = "#" + path + (qs ? "?" + qs : "");
}

let META = null;
async function meta() {
  if (!META) {
    META = await api("/api/meta");
    document.getElementById("version").textContent = "archon-mcp " + META.version;
  }
  return META;
}

async function route() {
  const { parts, params } = parseHash();
  const section = parts[0] || "sessions";
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === section || (section === "session" && a.dataset.nav === "sessions")));
  show(h("div", { class: "loading" }, "Loading…"));
  try {
    await meta();
    document.getElementById("auth").hidden = true;
    if (section === "session" && parts[1]) await sessionView(parts[1], params);
    else if (section === "search") await searchView(params);
    else if (section === "activity") await activityView(params);
    else await sessionsView(params);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      META = null;
      showAuth(Boolean(sessionStorage.getItem(TOKEN_KEY)));
      return;
    }
    show(h("div", { class: "card error", id: "error" }, err.message || String(err)));
  }
}

function showAuth(refused) {
  show();
  document.getElementById("auth").hidden = false;
  document.getElementById("auth-error").hidden = !refused;
}

// ---- session list ---------------------------------------------------------------------------------
async function sessionsView(params) {
  const m = await meta();
  const filters = {
    agent: params.get("agent") || "", project: params.get("project") || params.get("project_id") || "",
    since: params.get("since") || "", until: params.get("until") || "", active: params.get("active") || "",
  };
  const offset = Number(params.get("offset") || 0);
  const [page, projects] = await Promise.all([
    api("/api/sessions", { ...projectQuery(filters), since: dayStart(filters.since), until: dayEnd(filters.until), limit: PAGE_SIZE, offset }),
    api("/api/projects"),
  ]);

  const form = h("form", { class: "filters", id: "filters" },
    h("label", {}, "Agent", h("select", { name: "agent" }, h("option", { value: "" }, "all agents"),
      m.agents.map((a) => h("option", { value: a, selected: a === filters.agent }, a)))),
    h("label", {}, "Project", h("select", { name: "project" }, h("option", { value: "" }, "all projects"),
      projectChoices(projects).map(([value, label]) => h("option", { value, selected: value === filters.project }, label)))),
    h("label", {}, "From", h("input", { type: "date", name: "since", value: filters.since })),
    h("label", {}, "To", h("input", { type: "date", name: "until", value: filters.until })),
    h("label", {}, "Status", h("select", { name: "active" },
      h("option", { value: "" }, "active and ended"),
      h("option", { value: "true", selected: filters.active === "true" }, "active"),
      h("option", { value: "false", selected: filters.active === "false" }, "ended"))),
    h("button", { type: "submit" }, "Filter"),
    h("button", { type: "button", class: "secondary", onclick: () => go("/sessions") }, "Reset"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go("/sessions", Object.fromEntries(new FormData(form)));
  });
  form.querySelectorAll("select").forEach((el) => el.addEventListener("change", () => form.requestSubmit()));

  const rows = page.sessions.map((session) =>
    h("tr", { class: "session-row", "data-id": session.id, onclick: () => go("/session/" + session.id) },
      h("td", {}, h("a", { href: "#/session/" + session.id }, fmtTime(session.started_at))),
      h("td", {}, agentLabel(session.agent)),
      h("td", {}, statusBadge(session)),
      h("td", { class: "num" }, session.event_count.toLocaleString()),
      h("td", { class: session.project ? "project" : "mono muted" }, projectLabel(session)),
      h("td", { class: "summary" }, truncate(session.summary, 160) || h("span", { class: "muted" }, "no summary yet")),
    ));
  const table = page.total === 0
    ? h("div", { class: "empty" }, "No sessions match these filters.")
    : h("table", { class: "list", id: "session-table" },
      h("thead", {}, h("tr", {}, ["Started", "Agent", "Status", "Events", "Project", "Summary"].map((t) => h("th", { class: t === "Events" ? "num" : "" }, t)))),
      h("tbody", {}, rows));

  const here = { ...filters };
  show(
    h("div", { class: "card" }, h("h1", {}, "Sessions"), h("p", { class: "muted" }, "What your agents worked on, newest first."), form),
    h("div", { class: "card" }, table, pager(page, (o) => go("/sessions", { ...here, offset: o }))),
  );
}

// A project is chosen by name; one known only by its UUID (the seed's API) by its id.
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
function projectQuery(filters) {
  const { project, ...rest } = filters;
  if (!project) return rest;
  return UUID_RE.test(project) ? { ...rest, project_id: project } : { ...rest, project };
}
function projectChoices(projects) {
  const named = projects.named && projects.named.length ? projects.named : projects.projects.map((id) => ({ id, name: null }));
  return named.map((p) => (p.name ? [p.name, p.name] : [p.id, shortId(p.id) + "…"]));
}
function projectLabel(session) {
  if (session.project) return session.project;
  return session.project_id ? shortId(session.project_id) : "—";
}

function dayStart(date) { return date ? date + "T00:00:00Z" : ""; }
function dayEnd(date) {
  if (!date) return "";
  const d = new Date(date + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString();
}

function pager(page, onOffset) {
  const first = page.total ? page.offset + 1 : 0;
  const last = page.offset + page.sessions.length;
  return h("div", { class: "pager", id: "pager" },
    h("button", { class: "secondary", disabled: page.offset === 0, onclick: () => onOffset(Math.max(0, page.offset - page.limit)) }, "‹ Newer"),
    h("span", { class: "info" }, `${first.toLocaleString()}–${last.toLocaleString()} of ${page.total.toLocaleString()}`),
    h("button", { class: "secondary", disabled: page.next_offset === null, onclick: () => onOffset(page.next_offset) }, "Older ›"),
  );
}

// ---- one session ----------------------------------------------------------------------------------
async function sessionView(id, params) {
  const wantLatest = params.get("offset") === "last";
  let offset = wantLatest ? 0 : Math.max(0, Math.floor(Number(params.get("offset")) || 0));
  let session = await api("/api/sessions/" + encodeURIComponent(id), { event_limit: wantLatest ? 1 : EVENT_PAGE, event_offset: offset, verbose: true });
  if (wantLatest || (offset >= session.event_count && session.event_count > 0)) {
    offset = Math.max(0, session.event_count - EVENT_PAGE);
    session = await api("/api/sessions/" + encodeURIComponent(id), { event_limit: EVENT_PAGE, event_offset: offset, verbose: true });
  }
  const md = session.metadata || {};
  const facet = (title, items) => Array.isArray(items) && items.length
    ? h("div", { class: "facet", "data-facet": title }, h("h3", {}, title), h("ul", {}, items.map((x) => h("li", {}, typeof x === "string" ? x : JSON.stringify(x)))))
    : null;
  const facets = [facet("Key events", md.key_events), facet("Decisions", md.decisions), facet("Outcomes", md.outcomes), facet("Next steps", md.next_steps)].filter(Boolean);
  const otherMeta = Object.fromEntries(Object.entries(md).filter(([k]) => !["key_events", "decisions", "outcomes", "next_steps"].includes(k)));

  const header = h("div", { class: "card", id: "session-header" },
    h("div", { class: "row" }, h("a", { href: "#/sessions" }, "← Sessions")),
    h("div", { class: "row", style: "margin-top:8px" }, h("h1", {}, "Session ", h("span", { class: "mono" }, shortId(session.id))), statusBadge(session)),
    h("div", { class: "meta-grid" },
      h("div", {}, h("span", {}, "Agent"), agentLabel(session.agent)),
      h("div", {}, h("span", {}, "Started"), fmtTime(session.started_at)),
      h("div", {}, h("span", {}, "Ended"), session.ended_at ? fmtTime(session.ended_at) : "still active"),
      h("div", {}, h("span", {}, "Duration"), fmtDuration(session.started_at, session.ended_at)),
      h("div", {}, h("span", {}, "Events"), session.event_count.toLocaleString()),
      h("div", {}, h("span", {}, "Project"), session.project
        ? h("span", { title: session.project_id }, session.project)
        : h("span", { class: "mono" }, session.project_id || "—")),
      h("div", {}, h("span", {}, "Search"), session.embedding_status),
      h("div", {}, h("span", {}, "Id"), h("span", { class: "mono" }, session.id)),
    ));
  const summary = h("div", { class: "card", id: "summary" },
    h("h2", {}, "Summary"),
    session.summary ? h("div", { class: "summary-text" }, session.summary) : h("p", { class: "muted" }, "No summary yet."),
    facets.length ? h("div", { class: "facets" }, facets) : null,
    Object.keys(otherMeta).length ? [h("h3", {}, "Metadata"), h("pre", { class: "json" }, JSON.stringify(otherMeta, null, 2))] : null,
  );

  const types = [...new Set(session.events.map((e) => e.event_type))];
  const items = session.events.map((event, i) => {
    const color = eventColor(event.event_type);
    return h("div", { class: "tl-item", "data-type": event.event_type },
      h("span", { class: "tl-dot", style: `background:${color}` }),
      h("div", { class: "tl-head" },
        h("span", { class: "tl-type", style: `color:${color};background:${tint(color)}` }, event.event_type),
        h("span", { class: "tl-time" }, fmtTime(event.timestamp)),
        h("span", { class: "tl-index" }, "#" + (session.event_offset + i + 1).toLocaleString())),
      h("pre", { class: "json" }, JSON.stringify(event.event_data, null, 2)),
      Object.keys(event.metadata || {}).length ? h("div", { class: "muted mono" }, "metadata: " + JSON.stringify(event.metadata)) : null,
    );
  });
  const start = session.event_offset;
  const end = start + session.events.length;
  const nav = (o) => go("/session/" + session.id, { offset: o });
  const makePager = (id) => h("div", { class: "pager", id },
    h("button", { class: "secondary", disabled: start === 0, onclick: () => nav(0) }, "« First"),
    h("button", { class: "secondary", disabled: start === 0, onclick: () => nav(Math.max(0, start - EVENT_PAGE)) }, "‹ Earlier"),
    h("span", { class: "info" }, session.event_count ? `events ${(start + 1).toLocaleString()}–${end.toLocaleString()} of ${session.event_count.toLocaleString()}` : "no events"),
    h("button", { class: "secondary", disabled: end >= session.event_count, onclick: () => nav(end) }, "Later ›"),
    h("button", { class: "secondary", disabled: end >= session.event_count, onclick: () => nav("last") }, "Latest »"),
  );
  const timeline = h("div", { class: "card", id: "events" },
    h("div", { class: "row" }, h("h2", {}, "Timeline"), h("span", { class: "spacer" }),
      h("div", { class: "legend" }, types.map((t) => h("span", {}, h("span", { class: "dot", style: `background:${eventColor(t)}` }), t)))),
    session.event_count > EVENT_PAGE ? makePager("event-pager-top") : null,
    items.length ? h("div", { class: "timeline" }, items) : h("div", { class: "empty" }, "No events logged."),
    makePager("event-pager"),
  );
  show(header, summary, timeline);
}

// ---- search -----------------------------------------------------------------------------------------
async function searchView(params) {
  const m = await meta();
  const q = params.get("q") || "";
  const threshold = params.get("threshold") || "0.5";
  const agent = params.get("agent") || "";
  const quick = document.querySelector("#quick-search input");
  quick.value = q;
  const form = h("form", { class: "filters", id: "search-form" },
    h("label", { style: "flex:1;min-width:260px" }, "Query", h("input", { type: "search", name: "q", value: q, placeholder: "e.g. database migration errors", autofocus: true })),
    h("label", {}, "Agent", h("select", { name: "agent" }, h("option", { value: "" }, "all agents"), m.agents.map((a) => h("option", { value: a, selected: a === agent }, a)))),
    h("label", {}, "Min. score", h("select", { name: "threshold" }, ["0.0", "0.3", "0.5", "0.7", "0.85"].map((t) => h("option", { value: t, selected: t === threshold }, t)))),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (e) => { e.preventDefault(); go("/search", Object.fromEntries(new FormData(form))); });
  const head = h("div", { class: "card" }, h("h1", {}, "Search"), h("p", { class: "muted" }, "By meaning, not only by words. Scores are calibrated similarity from 0 to 1."), form);
  if (!q.trim()) { show(head); return; }

  const common = { q, threshold, agent, limit: Math.min(20, m.limits.max_search_results) };
  const [sessions, events] = await Promise.all([api("/api/search/sessions", common), api("/api/search/events", common)]);
  const sessionHits = sessions.results.map((hit) => h("div", { class: "hit session-hit" },
    h("div", { class: "row" }, scoreBadge(hit.similarity), agentLabel(hit.agent), statusBadge(hit),
      h("a", { href: "#/session/" + hit.id }, fmtTime(hit.started_at))),
    h("div", { class: "summary-text", style: "margin-top:4px" }, truncate(hit.summary, 300))));
  const eventHits = events.results.map((hit) => {
    const color = eventColor(hit.event_type);
    return h("div", { class: "hit event-hit" },
      h("div", { class: "row" }, scoreBadge(hit.similarity),
        h("span", { class: "tl-type", style: `color:${color};background:${tint(color)}` }, hit.event_type),
        agentLabel(hit.agent), h("a", { href: "#/session/" + hit.session_id }, fmtTime(hit.timestamp))),
      h("pre", { class: "json" }, truncate(JSON.stringify(hit.event_data, null, 2), 600)));
  });
  const pending = (n) => (n ? h("p", { class: "muted" }, `${n} not yet embedded (not searchable yet).`) : null);
  show(head, h("div", { class: "columns" },
    h("div", { class: "card", id: "session-results" }, h("h2", {}, `Sessions (${sessions.results.length})`), pending(sessions.pending_embeddings),
      sessionHits.length ? sessionHits : h("div", { class: "empty" }, "No session matches; try a lower score.")),
    h("div", { class: "card", id: "event-results" }, h("h2", {}, `Events (${events.results.length})`), pending(events.pending_embeddings),
      eventHits.length ? eventHits : h("div", { class: "empty" }, "No event matches; try a lower score."))));
}

// ---- activity -----------------------------------------------------------------------------------------
async function activityView(params) {
  const days = params.get("days") || "30";
  const agent = params.get("agent") || "";
  const m = await meta();
  const [report, stats] = await Promise.all([api("/api/activity", { days, agent }), api("/api/stats")]);
  const form = h("form", { class: "filters" },
    h("label", {}, "Window", h("select", { name: "days" }, ["7", "14", "30", "90", "180", "365"].map((d) => h("option", { value: d, selected: d === days }, d + " days")))),
    h("label", {}, "Agent", h("select", { name: "agent" }, h("option", { value: "" }, "all agents"), m.agents.map((a) => h("option", { value: a, selected: a === agent }, a)))),
  );
  form.querySelectorAll("select").forEach((el) => el.addEventListener("change", () => go("/activity", Object.fromEntries(new FormData(form)))));
  const agents = report.agents.map((a) => a.agent);
  show(
    h("div", { class: "card" }, h("h1", {}, "Activity"),
      h("div", { class: "stats" },
        h("div", {}, h("span", {}, "Sessions in window"), h("div", { class: "stat", id: "total-sessions" }, report.total_sessions.toLocaleString())),
        h("div", {}, h("span", {}, "Events in window"), h("div", { class: "stat", id: "total-events" }, report.total_events.toLocaleString())),
        h("div", {}, h("span", {}, "All sessions"), h("div", { class: "stat" }, stats.sessions.toLocaleString())),
        h("div", {}, h("span", {}, "All events"), h("div", { class: "stat" }, stats.events.toLocaleString())),
        h("div", {}, h("span", {}, "Active now"), h("div", { class: "stat" }, stats.active_sessions.toLocaleString())),
        h("div", {}, h("span", {}, "Awaiting embedding"), h("div", { class: "stat" }, (stats.pending_sessions + stats.pending_events).toLocaleString()))),
      h("div", { style: "margin-top:12px" }, form)),
    h("div", { class: "card chart", id: "chart-sessions" }, h("h2", {}, "Sessions per day"), barChart(report, agents, "sessions")),
    h("div", { class: "card chart", id: "chart-events" }, h("h2", {}, "Events per day"), barChart(report, agents, "events")),
    h("div", { class: "card" }, h("h2", {}, "By agent"),
      report.agents.length ? h("table", { class: "list", id: "agent-totals" },
        h("thead", {}, h("tr", {}, h("th", {}, "Agent"), h("th", { class: "num" }, "Sessions"), h("th", { class: "num" }, "Events"), h("th", { class: "num" }, "Events / session"))),
        h("tbody", {}, report.agents.map((a) => h("tr", {},
          h("td", {}, h("a", { href: "#/sessions?agent=" + encodeURIComponent(a.agent) }, agentLabel(a.agent))),
          h("td", { class: "num" }, a.sessions.toLocaleString()), h("td", { class: "num" }, a.events.toLocaleString()),
          h("td", { class: "num" }, a.sessions ? (a.events / a.sessions).toFixed(1) : "—")))))
        : h("div", { class: "empty" }, "No activity in this window.")),
  );
}

function niceMax(n) {
  if (n <= 4) return 4; // small integer counts: ticks 0..4, never fractions
  const p = Math.pow(10, Math.floor(Math.log10(n)));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= n) return f * p;
  return 10 * p;
}

/** Stacked bars: one column per day, one segment per agent. */
function barChart(report, agents, field) {
  const W = 1100, H = 240, left = 44, right = 10, top = 10, bottom = 28;
  const byDay = new Map(report.dates.map((d) => [d, {}]));
  for (const p of report.points) if (byDay.has(p.date)) byDay.get(p.date)[p.agent] = p[field];
  const totals = report.dates.map((d) => Object.values(byDay.get(d)).reduce((a, b) => a + b, 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = W - left - right, plotH = H - top - bottom;
  const slot = plotW / report.dates.length;
  const barW = Math.max(1, Math.min(28, slot * 0.72));
  const y = (v) => top + plotH - (v / max) * plotH;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${field} per day per agent`, "data-field": field });
  const grid = s("g", { class: "grid" });
  const axis = s("g", { class: "axis" });
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    grid.append(s("line", { x1: left, x2: W - right, y1: y(v), y2: y(v) }));
    axis.append(s("text", { x: left - 6, y: y(v) + 3, "text-anchor": "end" }, Number.isInteger(v) ? v : v.toFixed(1)));
  }
  const labelEvery = Math.ceil(report.dates.length / 12);
  report.dates.forEach((d, i) => {
    if (i % labelEvery === 0 || i === report.dates.length - 1) {
      axis.append(s("text", { x: left + slot * i + slot / 2, y: H - 10, "text-anchor": "middle" }, d.slice(5)));
    }
  });
  const bars = s("g", { class: "bars" });
  report.dates.forEach((d, i) => {
    let acc = 0;
    const x = left + slot * i + (slot - barW) / 2;
    for (const agent of agents) {
      const v = byDay.get(d)[agent] || 0;
      if (!v) continue;
      const rect = s("rect", { x, y: y(acc + v), width: barW, height: Math.max(1, y(acc) - y(acc + v)), fill: agentColor(agent), "data-agent": agent, "data-date": d, "data-value": v },
        s("title", {}, `${d} · ${agent}: ${v} ${field}`));
      bars.append(rect);
      acc += v;
    }
  });
  svg.append(grid, bars, axis);
  const legend = h("div", { class: "legend" }, agents.map((a) => h("span", {}, h("span", { class: "dot", style: `background:${agentColor(a)}` }), a)));
  return h("div", {}, svg, legend);
}

// ---- start ------------------------------------------------------------------------------------------
document.getElementById("quick-search").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = new FormData(e.target).get("q");
  if (q && q.trim()) go("/search", { q, threshold: "0.5" });
});
document.getElementById("auth-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = new FormData(e.target).get("token");
  if (token) sessionStorage.setItem(TOKEN_KEY, token.trim());
  route();
});
window.addEventListener("hashchange", route);
route();
