// The same picture as tables, for screen readers, keyboards and small screens: members, links
// and clients. Client rows are focusable (Tab, then Up/Down arrows); Enter or Space selects one.
// Rows carry `data-row-member`, `data-row-link` and `data-row-client`, never the graph's and
// map's `data-member` / `data-link` / `data-client`, so each of those names one element.

import { htmlEl, setAttr, setText } from "./dom.js";
import { fmtMs } from "./graph.js";
import { shortNumber } from "./model.ts";

/** A row and its cells, by column. */
function row(attrs, columns) {
  const tr = htmlEl("tr", attrs);
  const cells = columns.map((c) => {
    const td = htmlEl(c === 0 ? "th" : "td", c === 0 ? { scope: "row" } : {});
    tr.append(td);
    return td;
  });
  return { tr, cells };
}

/** Client time (POSIX seconds as text) as an ISO date, or the text itself if it is not one. */
function clientTime(text) {
  const s = Number(text);
  if (!Number.isFinite(s)) return text;
  const d = new Date(s * 1000);
  return Number.isNaN(d.getTime()) ? text : d.toISOString().replace("T", " ").replace(/Z$/, " UTC");
}

/** The tables of the page. */
export class Tables {
  /**
   * @param {{members: HTMLElement, links: HTMLElement, clients: HTMLElement}} bodies the tbodies
   * @param {(id: string) => void} onSelect
   */
  constructor(bodies, onSelect) {
    this.bodies = bodies;
    /** @type {Map<string, {tr: HTMLElement, cells: HTMLElement[]}>} */
    this.memberRows = new Map();
    /** @type {Map<string, {tr: HTMLElement, cells: HTMLElement[]}>} */
    this.linkRows = new Map();
    /** @type {Map<string, {tr: HTMLElement, cells: HTMLElement[]}>} */
    this.clientRows = new Map();
    /** Client ids in row order (sorted). */
    this.order = [];
    const clients = bodies.clients;
    clients.addEventListener("click", (event) => {
      const tr = /** @type {Element} */ (event.target).closest("tr[data-row-client]");
      if (tr !== null) onSelect(tr.getAttribute("data-row-client"));
    });
    clients.addEventListener("keydown", (event) => {
      const tr = /** @type {Element} */ (event.target).closest("tr[data-row-client]");
      if (tr === null) return;
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        onSelect(tr.getAttribute("data-row-client"));
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const next = event.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
        if (next instanceof HTMLElement) next.focus();
      }
    });
  }

  /**
   * Makes a row per member and per link.
   *
   * @param {string[]} names
   * @param {[string, string][]} links
   */
  setTopology(names, links) {
    this.bodies.members.replaceChildren();
    this.bodies.links.replaceChildren();
    this.memberRows.clear();
    this.linkRows.clear();
    for (const name of names) {
      const r = row({ "data-row-member": name }, [0, 1, 2, 3, 4, 5]);
      r.cells[0].textContent = name;
      this.bodies.members.append(r.tr);
      this.memberRows.set(name, r);
    }
    for (const [a, b] of links) {
      const key = `${a} ${b}`;
      const r = row({ "data-row-link": key }, [0, 1, 2, 3]);
      r.cells[0].textContent = `${a} - ${b}`;
      this.bodies.links.append(r.tr);
      this.linkRows.set(key, r);
    }
  }

  /**
   * Shows the latest states and figures.
   *
   * @param {Map<string, string>} memberStates
   * @param {Map<string, import("./model.ts").HerdReport | null>} reports
   * @param {Map<string, {state: string, rates: import("./model.ts").LinkRates}>} linkViews
   * @param {import("./model.ts").Journey | null} journey
   */
  update(memberStates, reports, linkViews, journey) {
    for (const [name, r] of this.memberRows) {
      const state = memberStates.get(name) ?? "unreachable";
      const report = reports.get(name) ?? null;
      setAttr(r.tr, "class", `state-${state}`);
      setText(r.cells[1], state);
      setText(r.cells[2], report === null ? "-" : String(report.records));
      setText(r.cells[3], report === null ? "-" : shortNumber(report.lines_per_s));
      setText(r.cells[4], report === null ? "-" : `${Math.round(report.uptime_s)} s`);
      const step = journey?.steps.get(name);
      let j = "";
      if (step?.state === "stored") j = step.ms === undefined ? "stored" : `+${fmtMs(step.ms)}`;
      else if (step !== undefined) j = step.state === "unknown" ? "no answer" : step.state;
      if (step?.from !== undefined) j += ` (from ${step.from})`;
      setText(r.cells[5], j);
    }
    for (const [key, r] of this.linkRows) {
      const view = linkViews.get(key);
      if (view === undefined) continue;
      setAttr(r.tr, "class", `state-${view.state}`);
      setText(r.cells[1], view.state);
      setText(r.cells[2], `${shortNumber(view.rates.ab)}/s`);
      setText(r.cells[3], `${shortNumber(view.rates.ba)}/s`);
    }
  }

  /**
   * Adds or updates a client's row.
   *
   * @param {import("./model.ts").RecordView} record
   */
  setClient(record) {
    let r = this.clientRows.get(record.client);
    if (r === undefined) {
      r = row({ "data-row-client": record.client, tabindex: 0 }, [0, 1, 2, 3]);
      r.cells[0].textContent = record.client;
      let lo = 0;
      let hi = this.order.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.order[mid] < record.client) lo = mid + 1;
        else hi = mid;
      }
      const before = lo < this.order.length ? this.clientRows.get(this.order[lo]).tr : null;
      this.bodies.clients.insertBefore(r.tr, before);
      this.order.splice(lo, 0, record.client);
      this.clientRows.set(record.client, r);
    }
    setText(r.cells[1], record.location);
    setText(r.cells[2], record.server);
    setText(r.cells[3], clientTime(record.time));
  }

  /**
   * Removes a client's row (the client was erased, or its record expired).
   *
   * @param {string} id
   */
  removeClient(id) {
    const r = this.clientRows.get(id);
    if (r === undefined) return;
    r.tr.remove();
    this.clientRows.delete(id);
    const at = this.order.indexOf(id);
    if (at !== -1) this.order.splice(at, 1);
  }

  /**
   * Marks the selected client's row.
   *
   * @param {string | null} id
   */
  select(id) {
    for (const [key, r] of this.clientRows) {
      if (key === id) setAttr(r.tr, "aria-current", "true");
      else if (r.tr.hasAttribute("aria-current")) r.tr.removeAttribute("aria-current");
    }
  }
}
