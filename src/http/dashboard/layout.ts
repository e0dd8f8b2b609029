/**
 * Where the dashboard draws each member of the herd graph: a small
 * force-directed layout (Fruchterman and Reingold, 1991) started from a
 * circle, so that linked members sit near each other and no two overlap, for
 * five members as for a hundred. Deterministic: the same herd.toml always
 * gives the same picture, and members keep their place across reloads.
 *
 * Bundled into the page by scripts/build_dashboard.ts.
 *
 * @module
 */

/** A position in the unit square: x right, y down, both 0..1. */
export interface Point {
  /** 0 (left) .. 1 (right). */
  x: number;
  /** 0 (top) .. 1 (bottom). */
  y: number;
}

/** Options of {@linkcode layoutHerd}. */
export interface LayoutOptions {
  /** Force iterations. @default 300 */
  iterations?: number;
  /** Empty border kept on each side of the unit square. @default 0.08 */
  margin?: number;
}

/**
 * Places members in the unit square.
 *
 * Members start evenly on a circle in the order given; every pair repels
 * (k²/d), every link attracts (d²/k), and the step shrinks linearly to zero,
 * so the result depends only on the names, their order and the links. The
 * result is scaled to fill the square within the margin, keeping its aspect.
 * One member sits in the middle; links naming an unknown member are ignored.
 *
 * @example
 * ```ts
 * import { layoutHerd } from "./layout.ts";
 * const at = layoutHerd(["A", "B"], [["A", "B"]]);
 * if (at.get("A")!.x === at.get("B")!.x && at.get("A")!.y === at.get("B")!.y) throw new Error();
 * ```
 *
 * @param names The members, in herd.toml's order.
 * @param links herd.toml's links.
 * @param opts See {@linkcode LayoutOptions}.
 * @returns Each member's position.
 */
export function layoutHerd(
  names: readonly string[],
  links: readonly (readonly [string, string])[],
  opts: LayoutOptions = {},
): Map<string, Point> {
  const n = names.length;
  const iterations = opts.iterations ?? 300;
  const margin = opts.margin ?? 0.08;
  const out = new Map<string, Point>();
  if (n === 0) return out;
  if (n === 1) {
    out.set(names[0], { x: 0.5, y: 0.5 });
    return out;
  }
  const index = new Map(names.map((name, i) => [name, i]));
  const edges: [number, number][] = [];
  for (const [a, b] of links) {
    const i = index.get(a);
    const j = index.get(b);
    if (i !== undefined && j !== undefined && i !== j) edges.push([i, j]);
  }
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Start at the top, clockwise.
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / n;
    x[i] = 0.5 + 0.5 * Math.cos(angle);
    y[i] = 0.5 + 0.5 * Math.sin(angle);
  }
  const k = Math.sqrt(1 / n);
  const dx = new Float64Array(n);
  const dy = new Float64Array(n);
  for (let it = 0; it < iterations; it++) {
    dx.fill(0);
    dy.fill(0);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let ex = x[i] - x[j];
        let ey = y[i] - y[j];
        let d2 = ex * ex + ey * ey;
        if (d2 < 1e-12) {
          // Coincident: push apart along a direction fixed by the pair.
          ex = Math.cos(i + j);
          ey = Math.sin(i + j);
          d2 = 1e-6;
        }
        const f = (k * k) / d2; // (k²/d) along the unit vector (e/d)
        dx[i] += ex * f;
        dy[i] += ey * f;
        dx[j] -= ex * f;
        dy[j] -= ey * f;
      }
    }
    for (const [i, j] of edges) {
      const ex = x[i] - x[j];
      const ey = y[i] - y[j];
      const d = Math.sqrt(ex * ex + ey * ey);
      const f = d / k; // (d²/k) along the unit vector
      dx[i] -= ex * f;
      dy[i] -= ey * f;
      dx[j] += ex * f;
      dy[j] += ey * f;
    }
    const step = 0.1 * (1 - it / iterations);
    for (let i = 0; i < n; i++) {
      const len = Math.sqrt(dx[i] * dx[i] + dy[i] * dy[i]);
      if (len === 0) continue;
      const move = Math.min(len, step);
      x[i] += (dx[i] / len) * move;
      y[i] += (dy[i] / len) * move;
    }
  }
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    minX = Math.min(minX, x[i]);
    maxX = Math.max(maxX, x[i]);
    minY = Math.min(minY, y[i]);
    maxY = Math.max(maxY, y[i]);
  }
  const span = Math.max(maxX - minX, maxY - minY, 1e-9);
  const scale = (1 - 2 * margin) / span;
  const offX = (1 - (maxX - minX) * scale) / 2;
  const offY = (1 - (maxY - minY) * scale) / 2;
  for (let i = 0; i < n; i++) {
    x[i] = offX + (x[i] - minX) * scale;
    y[i] = offY + (y[i] - minY) * scale;
  }
  separate(x, y, Math.min(0.5 / Math.sqrt(n), 0.15), margin);
  names.forEach((name, i) => out.set(name, { x: x[i], y: y[i] }));
  return out;
}

/**
 * Pushes apart every pair closer than `sep` (half the shortfall each, a few
 * rounds), keeping points within the margin: a force layout can leave a
 * crowded corner where labels would overlap.
 */
function separate(x: Float64Array, y: Float64Array, sep: number, margin: number): void {
  const n = x.length;
  const clamp = (v: number) => Math.min(1 - margin, Math.max(margin, v));
  for (let round = 0; round < 50; round++) {
    let moved = false;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let ex = x[i] - x[j];
        let ey = y[i] - y[j];
        let d = Math.sqrt(ex * ex + ey * ey);
        if (d >= sep) continue;
        const push = (sep - d) / 2;
        if (d < 1e-9) {
          // Coincident: apart along a direction fixed by the pair.
          ex = Math.cos(i + j);
          ey = Math.sin(i + j);
          d = 1;
        }
        x[i] = clamp(x[i] + (ex / d) * push);
        y[i] = clamp(y[i] + (ey / d) * push);
        x[j] = clamp(x[j] - (ex / d) * push);
        y[j] = clamp(y[j] - (ey / d) * push);
        moved = true;
      }
    }
    if (!moved) return;
  }
}
