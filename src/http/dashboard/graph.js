// The herd graph: one SVG group per member (`data-member`, `data-state`), one line per link
// (`data-link="<A> <B>"` as herd.toml writes it, `data-state`), placed by layout.ts and
// updated in place every second. The journey of an update is drawn over it: each member's
// time after the first, and an arrow from the neighbour it most likely came from.

import { setAttr, setText, svgEl } from "./dom.js";
import { layoutHerd } from "./layout.ts";
import { shortNumber } from "./model.ts";

/** The drawing's coordinate box (the SVG's viewBox), scaled to the panel by CSS. */
const WIDTH = 1000;
const HEIGHT = 800;

/** Sizes by herd size: few members get big circles and every figure, many get dots and names. */
function sizesFor(n) {
  // pad: room kept around the layout for labels (left and right, above, below), viewBox units.
  if (n <= 8) return { r: 44, name: 38, info: 28, details: true, pad: [140, 90, 130] };
  if (n <= 30) return { r: 22, name: 22, info: 17, details: true, pad: [80, 50, 75] };
  return { r: 10, name: 13, info: 11, details: false, pad: [45, 25, 35] };
}

/** The herd graph of the page. */
export class HerdGraph {
  /** @param {SVGSVGElement} svg */
  constructor(svg) {
    this.svg = svg;
    svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
    const defs = svgEl("defs");
    const marker = svgEl("marker", {
      id: "arrow",
      viewBox: "0 0 10 10",
      refX: 10,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: "auto-start-reverse",
    });
    marker.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }));
    defs.append(marker);
    this.linkLayer = svgEl("g", { class: "links" });
    this.journeyLayer = svgEl("g", { class: "journey" });
    this.memberLayer = svgEl("g", { class: "members" });
    svg.append(defs, this.linkLayer, this.journeyLayer, this.memberLayer);
    /** @type {Map<string, {g: SVGElement, title: SVGElement, info: SVGElement, badge: SVGElement, x: number, y: number}>} */
    this.members = new Map();
    /** @type {Map<string, {line: SVGElement, title: SVGElement, rate: SVGElement | null}>} */
    this.links = new Map();
    this.sizes = sizesFor(0);
  }

  /**
   * Draws the members and links of herd.toml (once; the herd does not change while the page runs).
   *
   * @param {string[]} names
   * @param {[string, string][]} links
   */
  setTopology(names, links) {
    this.linkLayer.replaceChildren();
    this.memberLayer.replaceChildren();
    this.journeyLayer.replaceChildren();
    this.members.clear();
    this.links.clear();
    const s = (this.sizes = sizesFor(names.length));
    this.svg.dataset.size = names.length <= 8 ? "small" : names.length <= 30 ? "medium" : "large";
    const at = layoutHerd(names, links, { margin: 0 });
    const [padX, padTop, padBottom] = s.pad;
    for (const name of names) {
      const p = at.get(name);
      const x = padX + p.x * (WIDTH - 2 * padX);
      const y = padTop + p.y * (HEIGHT - padTop - padBottom);
      const g = svgEl("g", {
        class: "member",
        "data-member": name,
        "data-state": "unreachable",
        transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})`,
      });
      const title = svgEl("title");
      const circle = svgEl("circle", { r: s.r });
      const label = svgEl("text", { class: "name", y: s.r + s.name, "font-size": s.name });
      label.textContent = name;
      const info = svgEl("text", {
        class: "info",
        y: s.r + s.name + s.info + 2,
        "font-size": s.info,
      });
      const badge = svgEl("text", { class: "badge", y: -s.r - 8, "font-size": s.info });
      g.append(title, circle, label, info, badge);
      this.memberLayer.append(g);
      this.members.set(name, { g, title, info, badge, x, y });
    }
    for (const [a, b] of links) {
      const pa = this.members.get(a);
      const pb = this.members.get(b);
      if (pa === undefined || pb === undefined) continue;
      const key = `${a} ${b}`;
      const line = svgEl("line", {
        class: "link",
        "data-link": key,
        "data-state": "down",
        x1: pa.x.toFixed(1),
        y1: pa.y.toFixed(1),
        x2: pb.x.toFixed(1),
        y2: pb.y.toFixed(1),
      });
      const title = svgEl("title");
      line.append(title);
      let rate = null;
      if (s.details) {
        // Beside the link's middle, on the side away from the drawing's centre.
        const mx = (pa.x + pb.x) / 2;
        const my = (pa.y + pb.y) / 2;
        const len = Math.hypot(pb.x - pa.x, pb.y - pa.y) || 1;
        let nx = -(pb.y - pa.y) / len;
        let ny = (pb.x - pa.x) / len;
        if (nx * (mx - WIDTH / 2) + ny * (my - HEIGHT / 2) < 0) {
          nx = -nx;
          ny = -ny;
        }
        const off = s.info * 0.9;
        rate = svgEl("text", {
          class: "rate",
          x: (mx + nx * off).toFixed(1),
          y: (my + ny * off + s.info * 0.35).toFixed(1),
          "font-size": s.info,
        });
      }
      this.linkLayer.append(line);
      if (rate !== null) this.linkLayer.append(rate);
      this.links.set(key, { line, title, rate });
    }
  }

  /**
   * Shows the latest states and figures.
   *
   * @param {Map<string, string>} memberStates name -> up/down/unreachable
   * @param {Map<string, import("./model.ts").HerdReport | null>} reports
   * @param {Map<string, {state: string, rates: import("./model.ts").LinkRates}>} linkViews
   */
  update(memberStates, reports, linkViews) {
    for (const [name, m] of this.members) {
      const state = memberStates.get(name) ?? "unreachable";
      setAttr(m.g, "data-state", state);
      const r = reports.get(name) ?? null;
      const figures = r === null ? state : `${r.records} rec, ${shortNumber(r.lines_per_s)}/s`;
      if (this.sizes.details) setText(m.info, figures);
      setText(
        m.title,
        `${name}: ${state}` +
          (r === null ? "" : `, ${r.records} records, ${shortNumber(r.lines_per_s)} lines/s`),
      );
    }
    for (const [key, l] of this.links) {
      const view = linkViews.get(key);
      if (view === undefined) continue;
      setAttr(l.line, "data-state", view.state);
      const [a, b] = key.split(" ");
      const { ab, ba } = view.rates;
      setText(
        l.title,
        `${a} - ${b}: ${view.state}; ${a}→${b} ${shortNumber(ab)}/s, ${b}→${a} ${
          shortNumber(ba)
        }/s`,
      );
      if (l.rate !== null) {
        const total = (ab ?? 0) + (ba ?? 0);
        setText(l.rate, view.state === "up" ? `${shortNumber(total)}/s` : "down");
      }
    }
  }

  /**
   * Draws an update's journey, or clears it.
   *
   * @param {import("./model.ts").Journey | null} journey
   */
  showJourney(journey) {
    this.journeyLayer.replaceChildren();
    for (const [name, m] of this.members) {
      const step = journey?.steps.get(name);
      m.g.classList.toggle("journey-first", journey?.first === name);
      m.g.classList.toggle("journey-stored", step?.state === "stored");
      m.g.classList.toggle("journey-missing", step !== undefined && step.state !== "stored");
      let badge = "";
      if (step?.state === "stored") badge = step.ms === undefined ? "stored" : `+${fmtMs(step.ms)}`;
      else if (step !== undefined) badge = step.state === "unknown" ? "?" : step.state;
      setText(m.badge, badge);
      if (step?.from === undefined) continue;
      const from = this.members.get(step.from);
      if (from === undefined) continue;
      const dx = m.x - from.x;
      const dy = m.y - from.y;
      const d = Math.hypot(dx, dy);
      if (d <= 2 * this.sizes.r) continue;
      const ux = dx / d;
      const uy = dy / d;
      const pad = this.sizes.r + 4;
      this.journeyLayer.append(
        svgEl("line", {
          class: "hop",
          x1: (from.x + ux * pad).toFixed(1),
          y1: (from.y + uy * pad).toFixed(1),
          x2: (m.x - ux * pad).toFixed(1),
          y2: (m.y - uy * pad).toFixed(1),
          "marker-end": "url(#arrow)",
        }),
      );
    }
  }
}

/**
 * Milliseconds for a label: `0 ms`, `0.42 ms`, `12.3 ms`, `1.25 s`.
 *
 * @param {number} ms
 * @returns {string}
 */
export function fmtMs(ms) {
  if (ms === 0) return "0 ms";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
