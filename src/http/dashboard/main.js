// The dashboard page (issue 12): a live picture of the herd, served by every member at `GET /`.
//
// It asks the member that served it for `/v1/herd`, learns every member and link of herd.toml
// and each member's HTTP base URL from it, then polls every member's `/v1/herd` about once a
// second; member and link states follow model.ts. Clients come from `GET /v1/clients` (paged)
// and move live with `/v1/stream` (Server-Sent Events), from this member while it answers, else
// from another that does. Nothing here throws to the page: a failed request is a state shown.
//
// Bundled by scripts/build_dashboard.ts into _bundle.js, which src/http/dashboard.ts serves.

import { allClients, clientAt, herdOf, MAX_CLIENTS, nearbyOf, streamUrl } from "./api.js";
import { byId, htmlEl, setText } from "./dom.js";
import { fmtMs, HerdGraph } from "./graph.js";
import { WorldMap } from "./map.js";
import {
  boxAround,
  journeyOf,
  linkRates,
  linkState,
  memberState,
  newerRecord,
  positionOf,
} from "./model.ts";
import { Tables } from "./tables.js";

/** How often each member's `/v1/herd` is asked, ms. */
const POLL_MS = 1000;
/** How often a member that did not answer is asked again, ms. */
const RETRY_MS = 2000;
/** After an update of the selected client, when its journey is asked of every member, ms. */
const JOURNEY_DELAYS_MS = [250, 1500];

const page = {
  /** This member's name, once it has answered. */
  self: /** @type {string | null} */ (null),
  /** herd.toml's members, in order. */
  names: /** @type {string[]} */ ([]),
  /** herd.toml's links, as written there. */
  links: /** @type {[string, string][]} */ ([]),
  /** Base URL of each member's API (`""`: this member, same origin), `null` without one. */
  bases: /** @type {Map<string, string | null>} */ (new Map()),
  /** Each member's last `/v1/herd`, `null` when it did not answer. */
  reports: /** @type {Map<string, any>} */ (new Map()),
  inFlight: /** @type {Set<string>} */ (new Set()),
  nextPoll: /** @type {Map<string, number>} */ (new Map()),
  /** Last computed states. */
  states: /** @type {Map<string, string>} */ (new Map()),
  /** Clients shown, by id. */
  clients: /** @type {Map<string, {record: any, lat: number, lng: number}>} */ (new Map()),
  truncated: false,
  selected: /** @type {string | null} */ (null),
  journey: /** @type {any} */ (null),
  /** The live stream, and the member it comes from. */
  stream: /** @type {EventSource | null} */ (null),
  streamFrom: /** @type {string | null} */ (null),
  /** Zoom to all clients as they move (off while a selected client's places are shown). */
  autoFit: true,
  renderQueued: false,
  fitQueued: false,
};

const graph = new HerdGraph(/** @type {any} */ (byId("graph")));
const map = new WorldMap(/** @type {any} */ (byId("map")), (id) => select(id));
const tables = new Tables(
  { members: byId("members-rows"), links: byId("links-rows"), clients: byId("clients-rows") },
  (id) => select(id),
);

/** Shows a line in the status bar. */
function status(text) {
  setText(byId("status"), text);
}

// ---- the herd: polling and states ----

/** Learns the herd from this member's first answer. */
function setTopology(report) {
  page.self = report.member;
  page.names = report.members.map((m) => m.name);
  page.links = report.links.map(([a, b]) => [a, b]);
  const own = report.members.find((m) => m.name === report.member)?.http ?? null;
  for (const m of report.members) {
    page.bases.set(m.name, m.name === report.member ? "" : m.http);
  }
  document.body.dataset.self = report.member;
  setText(byId("self"), report.member);
  document.title = `herd: ${report.member}`;
  if (own !== null && own !== location.origin) {
    // The other members allow this member's configured origin, not the one in the address bar.
    const hint = byId("origin-hint");
    hint.hidden = false;
    setText(hint, `Opened at ${location.origin}; the other members answer pages from ${own}: `);
    const a = htmlEl("a", { href: `${own}/` }, `${own}/`);
    hint.append(a);
  }
  graph.setTopology(page.names, page.links);
  tables.setTopology(page.names, page.links);
}

/** Asks one member for `/v1/herd`, unless a question is in flight or not yet due. */
function poll(name, now) {
  const base = page.bases.get(name);
  if (base === null || base === undefined) {
    page.reports.set(name, null);
    return;
  }
  if (page.inFlight.has(name) || (page.nextPoll.get(name) ?? 0) > now) return;
  page.inFlight.add(name);
  herdOf(base).then(
    (report) => {
      page.reports.set(name, report);
      page.nextPoll.set(name, now + POLL_MS);
      // A member restarted on another port: every member's answer names its new URL.
      for (const m of report.members) {
        if (m.name !== page.self && page.bases.has(m.name)) page.bases.set(m.name, m.http);
      }
    },
    () => {
      page.reports.set(name, null);
      page.nextPoll.set(name, now + RETRY_MS);
    },
  ).finally(() => {
    page.inFlight.delete(name);
    scheduleRender();
  });
}

/** Once a second: ask who is due, keep a stream open. */
function tick() {
  const now = performance.now();
  if (page.self === null) {
    if (page.inFlight.has("")) return;
    page.inFlight.add("");
    herdOf("").then(
      (report) => {
        setTopology(report);
        page.reports.set(report.member, report);
        page.nextPoll.set(report.member, now + POLL_MS);
        for (const name of page.names) poll(name, now);
        scheduleRender();
        // The list at once; the stream's open loads it again, for what moved in between.
        void loadClients("");
        ensureStream();
      },
      (e) => status(`This member does not answer /v1/herd (${e.message}); asking again.`),
    ).finally(() => page.inFlight.delete(""));
    return;
  }
  for (const name of page.names) poll(name, now);
  ensureStream();
}

/** Computes states and redraws the graph and tables, at most once a frame. */
function scheduleRender() {
  if (page.renderQueued) return;
  page.renderQueued = true;
  requestAnimationFrame(() => {
    page.renderQueued = false;
    render();
  });
}

function render() {
  const states = new Map();
  for (const name of page.names) states.set(name, memberState(name, page.links, page.reports));
  page.states = states;
  const linkViews = new Map();
  for (const link of page.links) {
    linkViews.set(`${link[0]} ${link[1]}`, {
      state: linkState(link, page.reports),
      rates: linkRates(link, page.reports),
    });
  }
  graph.update(states, page.reports, linkViews);
  tables.update(states, page.reports, linkViews, page.journey);
  const up = [...states.values()].filter((s) => s === "up").length;
  const linksUp = [...linkViews.values()].filter((v) => v.state === "up").length;
  const stream = document.body.dataset.stream ?? "connecting";
  status(
    `${up} of ${page.names.length} members up, ${linksUp} of ${page.links.length} links up; ` +
      `${page.clients.size} clients${page.truncated ? ` (the first ${MAX_CLIENTS})` : ""}; ` +
      `live updates: ${stream}${page.streamFrom === null ? "" : ` from ${page.streamFrom}`}`,
  );
}

// ---- clients: the list, the stream ----

/** Opens the stream from this member, or from another that answers while this one does not. */
function ensureStream() {
  const usable = (name) => page.states.get(name) === "up" && page.bases.get(name) != null;
  if (page.stream !== null) {
    // Move off a member that is down if another one answers.
    if (page.streamFrom !== null && !usable(page.streamFrom) && page.stream.readyState !== 1) {
      const other = page.names.find(usable);
      if (other !== undefined && other !== page.streamFrom) closeStream("reconnecting");
    }
    if (page.stream !== null) return;
  }
  const from = usable(page.self) ? page.self : page.names.find(usable) ?? page.self;
  if (from === null) return;
  const base = page.bases.get(from) ?? "";
  const es = new EventSource(streamUrl(base), { withCredentials: true });
  page.stream = es;
  page.streamFrom = from;
  streamState("connecting");
  es.onopen = () => {
    streamState("live");
    // Whatever moved while no stream was open.
    void loadClients(base);
  };
  es.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (event.type === "lagged") void loadClients(base);
    else if (event.type === "erased") removeClient(event.client);
    else if (event.type === "expired") removeExpired(event.record);
    else if (event.record !== undefined) setClient(event.record);
  };
  // The member ends the stream with a `close` event (it is stopping, or this reader fell behind).
  es.addEventListener("close", () => closeStream("closed"));
  es.onerror = () => {
    if (es.readyState === 2) closeStream("closed");
    else streamState("reconnecting");
  };
}

function closeStream(state) {
  page.stream?.close();
  page.stream = null;
  page.streamFrom = null;
  streamState(state);
}

function streamState(state) {
  document.body.dataset.stream = state;
  scheduleRender();
}

/** Loads every client a member holds (up to MAX_CLIENTS). */
async function loadClients(base) {
  try {
    const { records, truncated } = await allClients(base);
    page.truncated = truncated;
    for (const r of records) setClient(r);
    document.body.dataset.clientsLoaded = "true";
  } catch (e) {
    status(`Could not load the clients: ${e.message}`);
  }
  scheduleRender();
}

/** Shows a client's record (new, moved, or older and ignored). */
function setClient(record) {
  if (typeof record?.client !== "string") return;
  const held = page.clients.get(record.client);
  if (held !== undefined && !newerRecord(record, held.record)) {
    // Same update from the list and the stream: keep the store time if only one had it.
    if (record.at === held.record.at && held.record.stored_at == null) {
      held.record.stored_at = record.stored_at;
    }
    return;
  }
  const p = positionOf(record);
  if (p === undefined) return;
  if (held === undefined && page.clients.size >= MAX_CLIENTS) {
    page.truncated = true;
    return;
  }
  page.clients.set(record.client, { record, lat: p.lat, lng: p.lng });
  map.setClient(record.client, p.lat, p.lng, `${record.client} ${record.location}`);
  tables.setClient(record);
  if (page.autoFit && (held === undefined || !map.shows(p.lat, p.lng))) scheduleFit();
  if (record.client === page.selected) {
    showRecord(record);
    for (const ms of JOURNEY_DELAYS_MS) setTimeout(() => void refreshJourney(record.client), ms);
  }
  scheduleRender();
}

/** Forgets a client whose record expired (`record_ttl_s`), unless a newer record is shown. */
function removeExpired(record) {
  if (typeof record?.client !== "string") return;
  const held = page.clients.get(record.client);
  if (held === undefined || newerRecord(held.record, record)) return;
  removeClient(record.client);
}

/** Forgets a client (erased, or its record expired): its dot, its row, its details if selected. */
function removeClient(id) {
  if (typeof id !== "string" || !page.clients.delete(id)) return;
  map.removeClient(id);
  tables.removeClient(id);
  if (page.selected === id) {
    page.selected = null;
    map.select(null);
    map.showNearby(null);
    tables.select(null);
    byId("detail").hidden = true;
    byId("detail-empty").hidden = false;
  }
  scheduleRender();
}

/** Zooms the map to every client, once a frame at most. */
function scheduleFit() {
  if (page.fitQueued) return;
  page.fitQueued = true;
  requestAnimationFrame(() => {
    page.fitQueued = false;
    if (page.autoFit) map.fit(boxAround(page.clients.values()) ?? null);
  });
}

// ---- the selected client: record, places, journey ----

function select(id) {
  const held = page.clients.get(id);
  if (held === undefined) return;
  page.selected = id;
  map.select(id);
  tables.select(id);
  byId("detail-empty").hidden = true;
  byId("detail").hidden = false;
  showRecord(held.record);
  void refreshNearby();
  void refreshJourney(id);
}

function showRecord(record) {
  setText(byId("detail-id"), record.client);
  const dl = byId("record");
  const rows = [
    ["location", record.location],
    ["received by", record.server],
    ["skew", `${record.skew} s`],
    ["client time", record.time],
    [
      "stored here",
      typeof record.stored_at === "number" ? new Date(record.stored_at).toISOString() : "-",
    ],
    ["AT line", record.at],
  ];
  dl.replaceChildren(...rows.flatMap(([k, v]) => [htmlEl("dt", {}, k), htmlEl("dd", {}, v)]));
}

/** Asks this member's WHATSAT for the selected client with the page's radius and bound. */
async function refreshNearby() {
  const id = page.selected;
  if (id === null) return;
  const radius = /** @type {HTMLInputElement} */ (byId("radius")).value;
  const bound = /** @type {HTMLInputElement} */ (byId("bound")).value;
  const list = byId("places");
  const from = page.streamFrom ?? page.self;
  const base = from === null ? "" : page.bases.get(from) ?? "";
  try {
    const { record, places } = await nearbyOf(base, id, radius, bound);
    if (page.selected !== id) return;
    const p = positionOf(record);
    const results = Array.isArray(places?.results) ? places.results : [];
    list.replaceChildren(
      ...results.map((place) =>
        htmlEl(
          "li",
          {},
          `${place.name ?? "?"}${place.vicinity ? `, ${place.vicinity}` : ""}`,
        )
      ),
    );
    setText(byId("places-status"), `${places?.status ?? "?"}: ${results.length} places`);
    if (p !== undefined) {
      const radiusKm = Number(radius);
      map.showNearby({ lat: p.lat, lng: p.lng, radiusKm, places: results });
      page.autoFit = false;
      const deg = WorldMap.degrees(radiusKm);
      const cos = Math.max(0.05, Math.cos((p.lat * Math.PI) / 180));
      map.fit(boxAround([
        { lat: p.lat - deg, lng: p.lng - deg / cos },
        { lat: p.lat + deg, lng: p.lng + deg / cos },
      ], 0));
    }
  } catch (e) {
    list.replaceChildren();
    setText(byId("places-status"), `No places: ${e.message}`);
  }
}

/** Asks every member for the selected client's record and draws who stored it when. */
async function refreshJourney(id) {
  if (page.selected !== id) return;
  const answers = new Map();
  await Promise.all(page.names.map(async (name) => {
    const base = page.bases.get(name);
    if (base === null || base === undefined) {
      answers.set(name, { kind: "failed" });
      return;
    }
    try {
      const record = await clientAt(base, id);
      answers.set(name, record === null ? { kind: "none" } : { kind: "record", record });
    } catch {
      answers.set(name, { kind: "failed" });
    }
  }));
  if (page.selected !== id) return;
  const journey = journeyOf(answers, page.links);
  page.journey = journey;
  graph.showJourney(journey);
  const items = [...journey.steps].sort(([, a], [, b]) => (a.ms ?? Infinity) - (b.ms ?? Infinity));
  byId("journey").replaceChildren(...items.map(([name, step]) => {
    let text = `${name}: `;
    if (step.state === "stored") {
      text += step.ms === undefined ? "stored (time unknown)" : `+${fmtMs(step.ms)}`;
      if (step.from !== undefined) text += ` from ${step.from}`;
    } else {
      text += {
        older: "holds an older record",
        newer: "holds a newer record",
        none: "no record yet",
        unknown: "did not answer",
      }[step.state];
    }
    return htmlEl("li", { "data-journey-member": name, "data-journey-state": step.state }, text);
  }));
  setText(
    byId("journey-of"),
    journey.record === undefined ? "-" : `${journey.record.location} at ${journey.record.time}`,
  );
  scheduleRender();
}

// ---- start ----

byId("nearby-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void refreshNearby();
});
byId("fit").addEventListener("click", () => {
  page.autoFit = true;
  map.showNearby(null);
  map.fit(boxAround(page.clients.values()) ?? null);
});
byId("journey-refresh").addEventListener("click", () => {
  if (page.selected !== null) void refreshJourney(page.selected);
});

/** The world's shapes, from the member (world-atlas countries-110m). */
async function loadWorld() {
  try {
    const res = await fetch(document.body.dataset.world ?? "", { credentials: "include" });
    if (!res.ok) throw new Error(`status ${res.status}`);
    map.setWorld(await res.json());
  } catch (e) {
    status(`No world map: ${e.message}`);
  }
}

document.body.dataset.stream = "connecting";
status("Asking this member about the herd…");
void loadWorld();
tick();
setInterval(tick, 250);
