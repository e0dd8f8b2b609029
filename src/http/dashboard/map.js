// The map: Natural Earth's land and borders (world-atlas, 1:110m, decoded by topojson-client)
// drawn by d3-geo into SVG, zoomed to a box; each client a dot (`data-client`) at its ISO 6709
// location; the selected client's WHATSAT circle and places around it.

import { geoCircle, geoGraticule10, geoNaturalEarth1, geoPath } from "d3-geo";
import { feature, mesh } from "topojson-client";
import { setAttr, setText, svgEl } from "./dom.js";

/** The drawing's coordinate box (the SVG's viewBox). */
const WIDTH = 960;
const HEIGHT = 540;
/** Space kept around what the map zooms to, in viewBox units. */
const PAD = 24;
/** Mean Earth radius, km (as the members' geo index): km to degrees of arc. */
const EARTH_RADIUS_KM = 6371.0088;

/** The map of the page. */
export class WorldMap {
  /**
   * @param {SVGSVGElement} svg
   * @param {(id: string) => void} onSelect called when a client's dot is clicked
   */
  constructor(svg, onSelect) {
    this.svg = svg;
    svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
    this.sphere = svgEl("path", { class: "sphere" });
    this.graticule = svgEl("path", { class: "graticule" });
    this.land = svgEl("path", { class: "land" });
    this.borders = svgEl("path", { class: "borders" });
    this.nearbyLayer = svgEl("g", { class: "nearby" });
    this.clientLayer = svgEl("g", { class: "clients" });
    svg.append(
      this.sphere,
      this.graticule,
      this.land,
      this.borders,
      this.nearbyLayer,
      this.clientLayer,
    );
    /** @type {{land: any, borders: any} | null} */
    this.world = null;
    /** @type {Map<string, {dot: SVGElement, title: SVGElement, lat: number, lng: number}>} */
    this.dots = new Map();
    /** @type {{lat: number, lng: number, radiusKm: number, places: any[]} | null} */
    this.nearby = null;
    this.projection = geoNaturalEarth1();
    this.fit(null);
    this.clientLayer.addEventListener("click", (event) => {
      const dot = /** @type {Element} */ (event.target).closest("[data-client]");
      if (dot !== null) onSelect(dot.getAttribute("data-client"));
    });
  }

  /**
   * Sets the world's shapes (the TopoJSON of world-atlas countries-110m).
   *
   * @param {any} topology
   */
  setWorld(topology) {
    this.world = {
      land: feature(topology, topology.objects.land),
      borders: mesh(topology, topology.objects.countries, (a, b) => a !== b),
    };
    this.#drawBase();
  }

  /**
   * Zooms to a box of degrees, or to the whole world for `null`.
   *
   * @param {import("./model.ts").GeoBox | null} box
   */
  fit(box) {
    this.box = box;
    const p = geoNaturalEarth1().precision(0.2);
    const extent = [[PAD, PAD], [WIDTH - PAD, HEIGHT - PAD]];
    if (box === null) {
      p.fitExtent(extent, { type: "Sphere" });
    } else {
      const mid = (box.west + box.east) / 2;
      p.rotate([-mid, 0]);
      const lngs = [box.west, mid, box.east];
      const corners = [];
      for (const lng of lngs) corners.push([lng, box.south], [lng, box.north]);
      p.fitExtent(extent, { type: "MultiPoint", coordinates: corners });
    }
    p.clipExtent([[0, 0], [WIDTH, HEIGHT]]);
    this.projection = p;
    this.#drawBase();
    for (const d of this.dots.values()) this.#place(d);
    this.#drawNearby();
  }

  /**
   * Adds a client's dot, or moves it.
   *
   * @param {string} id
   * @param {number} lat
   * @param {number} lng
   * @param {string} label its tooltip
   */
  setClient(id, lat, lng, label) {
    let d = this.dots.get(id);
    if (d === undefined) {
      const dot = svgEl("circle", { class: "client", r: 6, "data-client": id });
      const title = svgEl("title");
      dot.append(title);
      this.clientLayer.append(dot);
      d = { dot, title, lat, lng };
      this.dots.set(id, d);
    }
    d.lat = lat;
    d.lng = lng;
    setText(d.title, label);
    this.#place(d);
  }

  /**
   * Takes a client's dot off the map (the client was erased, or its record expired).
   *
   * @param {string} id
   */
  removeClient(id) {
    this.dots.get(id)?.dot.remove();
    this.dots.delete(id);
  }

  /**
   * Marks the selected client (or none).
   *
   * @param {string | null} id
   */
  select(id) {
    for (const [key, d] of this.dots) {
      const on = key === id;
      if (d.dot.classList.contains("selected") !== on) {
        d.dot.classList.toggle("selected", on);
        setAttr(d.dot, "r", on ? 9 : 6);
        // The selected dot on top.
        if (on) this.clientLayer.append(d.dot);
      }
    }
  }

  /**
   * Draws a WHATSAT circle and its places around a client, or clears them.
   *
   * @param {{lat: number, lng: number, radiusKm: number, places: any[]} | null} nearby
   */
  showNearby(nearby) {
    this.nearby = nearby;
    this.#drawNearby();
  }

  /** Whether a point lies inside the box the map shows (always true for the world). */
  shows(lat, lng) {
    const b = this.box;
    if (b === null) return true;
    return lat >= b.south && lat <= b.north && lng >= b.west && lng <= b.east;
  }

  /** The radius of a WHATSAT circle in degrees of arc. */
  static degrees(radiusKm) {
    return (radiusKm / EARTH_RADIUS_KM) * (180 / Math.PI);
  }

  #drawBase() {
    const path = geoPath(this.projection);
    setAttr(this.sphere, "d", path({ type: "Sphere" }) ?? "");
    setAttr(this.graticule, "d", path(geoGraticule10()) ?? "");
    if (this.world !== null) {
      setAttr(this.land, "d", path(this.world.land) ?? "");
      setAttr(this.borders, "d", path(this.world.borders) ?? "");
    }
  }

  #place(d) {
    const xy = this.projection([d.lng, d.lat]);
    const visible = xy !== null && xy[0] >= 0 && xy[0] <= WIDTH && xy[1] >= 0 && xy[1] <= HEIGHT;
    d.dot.classList.toggle("hidden", !visible);
    if (xy !== null) {
      setAttr(d.dot, "cx", xy[0].toFixed(1));
      setAttr(d.dot, "cy", xy[1].toFixed(1));
    }
  }

  #drawNearby() {
    this.nearbyLayer.replaceChildren();
    const n = this.nearby;
    if (n === null) return;
    const path = geoPath(this.projection);
    const circle = geoCircle().center([n.lng, n.lat]).radius(WorldMap.degrees(n.radiusKm))();
    this.nearbyLayer.append(svgEl("path", { class: "radius", d: path(circle) ?? "" }));
    for (const place of n.places) {
      const loc = place?.geometry?.location;
      if (typeof loc?.lat !== "number" || typeof loc?.lng !== "number") continue;
      const xy = this.projection([loc.lng, loc.lat]);
      if (xy === null) continue;
      const mark = svgEl("rect", {
        class: "place",
        x: (xy[0] - 4).toFixed(1),
        y: (xy[1] - 4).toFixed(1),
        width: 8,
        height: 8,
        transform: `rotate(45 ${xy[0].toFixed(1)} ${xy[1].toFixed(1)})`,
      });
      const title = svgEl("title");
      title.textContent = String(place.name ?? "place");
      mark.append(title);
      this.nearbyLayer.append(mark);
    }
  }
}
