/**
 * One canvas of the weight-space path: the PCA coordinates of one or more runs as a
 * line per run (run colour), the steps between as small points coloured by step order
 * (viridis, dark = early, yellow = late), the first step as a ring and the last step as
 * a filled dot, so start and end read apart at any size. Axis labels carry the
 * explained variance. The projection panel holds one (joint axes) or one per run.
 *
 * Example:
 *   const plot = new PathPlot("projection", (text, run, step) => readout(text));
 *   box.appendChild(plot.root);
 *   plot.setData(projection, [{run: "a", color: "#1f77b4"}]);
 *   plot.draw(640, 360);
 */
import { interpolateViridis } from "d3-scale-chromatic";
import { el, setText } from "./dom";
import { formatShort } from "./format";
import { type PlotScale, collapsedSeries, nearestPoint, orderColors, pathExtent, pcLabel, plotScale } from "./pathplot";
import { themeVar } from "./theme";
import type { Projection } from "./types";

const MARGIN = { left: 56, right: 16, top: 12, bottom: 40 };
/** Radii (CSS px) of the start ring, the end dot and the points between. */
const START_R = 6;
const END_R = 5.5;
const MID_R = 3;

export interface PathRun {
  run: string;
  color: string;
}

/** Called on hover: a read-out text and the hovered run and step, or null when off every point. */
export type PathHover = (text: string | null, run?: string, step?: number) => void;

export class PathPlot {
  readonly root: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  private readonly error: HTMLDivElement;
  private data: Projection | null = null;
  private runs: PathRun[] = [];
  private scale: PlotScale | null = null;
  private pixels: [number, number, number, number][] = [];
  private shown: string[] = [];

  constructor(
    testid: string,
    private readonly onHover: PathHover,
    title?: PathRun,
  ) {
    this.canvas = el("canvas", { className: "nv-projection", attrs: { "data-testid": testid } });
    if (title) this.canvas.setAttribute("data-run", title.run);
    this.canvas.addEventListener("mousemove", (ev) => this.hover(ev));
    this.canvas.addEventListener("mouseleave", () => this.onHover(null));
    this.error = el("div", { className: "nv-error", attrs: { "data-testid": "projection-error", role: "alert" } });
    this.error.hidden = true;
    let head: HTMLElement | null = null;
    if (title) {
      const sw = el("span", { className: "nv-swatch" });
      sw.style.background = title.color;
      head = el("div", { className: "nv-path-title", attrs: { "data-testid": "projection-title" } }, sw, document.createTextNode(title.run));
    }
    this.root = el("div", { className: "nv-path-box" }, head, this.error, this.canvas);
  }

  /** The projection to draw and the runs of it to show, with their colours. */
  setData(data: Projection | null, runs: PathRun[]): void {
    this.data = data;
    this.runs = runs;
  }

  /** Shows a request error above the (then empty) canvas; null clears it. */
  showError(msg: string | null): void {
    this.error.hidden = msg === null;
    setText(this.error, msg ?? "");
  }

  /** Runs drawn so small next to the others that they show as a dot (joint axes). */
  collapsed(): string[] {
    const data = this.data;
    if (!data) return [];
    const runs = this.runs.filter((r) => data.runs[r.run]);
    return collapsedSeries(runs.map((r) => data.runs[r.run])).map((k) => runs[k].run);
  }

  /** Explained variance ratio of the data drawn ([] without data). */
  get ratio(): number[] {
    return this.data?.explained_variance_ratio ?? [];
  }

  /** Paints the plot at w x h CSS pixels and updates the data-* test hooks. */
  draw(w: number, h: number): void {
    const c = this.canvas;
    c.hidden = !this.data && !this.error.hidden;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    this.pixels = [];
    this.scale = null;
    const data = this.data;
    const runs = data ? this.runs.filter((r) => data.runs[r.run]) : [];
    const ratio = this.ratio;
    c.setAttribute("data-pc1", ratio[0] !== undefined ? String(ratio[0]) : "");
    c.setAttribute("data-pc2", ratio[1] !== undefined ? String(ratio[1]) : "");
    c.setAttribute("data-runs", String(runs.length));
    // Theme colours (the panel redraws on a theme change); the rims around the start and
    // end markers are the panel's background.
    const muted = themeVar("--nv-axis", "#616161");
    const gridColor = themeVar("--nv-grid", "#e0e0e0");
    const bg = themeVar("--nv-card", "#f7f7f7");
    ctx.font = "11px Roboto, system-ui, sans-serif";
    const series = runs.map((r) => data!.runs[r.run]);
    const ext = pathExtent(series);
    if (!data || !ext) {
      ctx.fillStyle = muted;
      ctx.textAlign = "center";
      ctx.fillText(data ? "No finite path coordinates to plot." : "", w / 2, h / 2);
      c.setAttribute("data-points", "0");
      c.removeAttribute("data-xlabel");
      c.removeAttribute("data-ylabel");
      return;
    }
    const sc = plotScale(ext, w, h, MARGIN);
    this.scale = sc;
    ctx.strokeStyle = gridColor;
    ctx.fillStyle = muted;
    ctx.lineWidth = 1;
    const xt = sc.xTicks(Math.max(2, Math.round(w / 110)));
    const yt = sc.yTicks(Math.max(2, Math.round(h / 72)));
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of xt) {
      const [px] = sc.toPx(t, 0);
      ctx.beginPath();
      ctx.moveTo(Math.round(px) + 0.5, MARGIN.top);
      ctx.lineTo(Math.round(px) + 0.5, h - MARGIN.bottom);
      ctx.stroke();
      ctx.fillText(formatShort(t), px, h - MARGIN.bottom + 4);
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of yt) {
      const [, py] = sc.toPx(0, t);
      ctx.beginPath();
      ctx.moveTo(MARGIN.left, Math.round(py) + 0.5);
      ctx.lineTo(w - MARGIN.right, Math.round(py) + 0.5);
      ctx.stroke();
      ctx.fillText(formatShort(t), MARGIN.left - 4, py);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    ctx.fillText(pcLabel(0, ratio), MARGIN.left + (w - MARGIN.left - MARGIN.right) / 2, h - 2);
    ctx.save();
    ctx.translate(12, MARGIN.top + (h - MARGIN.top - MARGIN.bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText(pcLabel(1, ratio), 0, 0);
    ctx.restore();
    c.setAttribute("data-xlabel", pcLabel(0, ratio));
    c.setAttribute("data-ylabel", pcLabel(1, ratio));
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top, w - MARGIN.left - MARGIN.right, h - MARGIN.top - MARGIN.bottom);
    ctx.clip();
    // Lines first, then the points between, then start rings and end dots on top.
    const pts = series.map((s) => {
      const out: [number, number, number][] = [];
      for (let i = 0; i < s.step.length; i++) {
        const x = s.x[i];
        const y = s.y[i];
        if (x === null || y === null) {
          out.push([i, NaN, NaN]);
          continue;
        }
        const [px, py] = sc.toPx(x, y);
        out.push([i, px, py]);
      }
      return out;
    });
    pts.forEach((p, k) => {
      ctx.strokeStyle = runs[k].color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let pen = false;
      for (const [i, px, py] of p) {
        if (Number.isNaN(px)) {
          pen = false;
          continue;
        }
        if (pen) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        pen = true;
        this.pixels.push([k, i, px, py]);
      }
      ctx.stroke();
    });
    const ends = pts.map((p) => {
      const drawn = p.filter(([, px]) => !Number.isNaN(px));
      return drawn.length ? [drawn[0][0], drawn[drawn.length - 1][0]] : [-1, -1];
    });
    pts.forEach((p, k) => {
      const colors = orderColors(p.length, interpolateViridis);
      for (const [i, px, py] of p) {
        if (Number.isNaN(px) || i === ends[k][0] || i === ends[k][1]) continue;
        ctx.beginPath();
        ctx.arc(px, py, MID_R, 0, 2 * Math.PI);
        ctx.fillStyle = colors[i];
        ctx.fill();
        ctx.strokeStyle = runs[k].color;
        ctx.lineWidth = 1;
        ctx.stroke();
      }
    });
    pts.forEach((p, k) => {
      const [first, last] = ends[k];
      if (first < 0) return;
      const color = runs[k].color;
      const [, ex, ey] = p[last];
      // End: a filled dot in the run colour with a rim of the background colour.
      ctx.beginPath();
      ctx.arc(ex, ey, END_R, 0, 2 * Math.PI);
      ctx.fillStyle = color;
      ctx.fill();
      ctx.strokeStyle = bg;
      ctx.lineWidth = 1.5;
      ctx.stroke();
      // Start: a ring (hollow), drawn last so a path that returns home keeps both visible.
      const [, sx, sy] = p[first];
      ctx.beginPath();
      ctx.arc(sx, sy, START_R, 0, 2 * Math.PI);
      ctx.strokeStyle = bg;
      ctx.lineWidth = 4.5;
      ctx.stroke();
      ctx.strokeStyle = color;
      ctx.lineWidth = 2.2;
      ctx.stroke();
    });
    ctx.restore();
    this.shown = runs.map((r) => r.run);
    c.setAttribute("data-points", String(this.pixels.length));
  }

  private hover(ev: MouseEvent): void {
    if (!this.scale || !this.data) return this.onHover(null);
    const rect = this.canvas.getBoundingClientRect();
    const hit = nearestPoint(this.pixels, ev.clientX - rect.left, ev.clientY - rect.top, 12);
    if (!hit) return this.onHover(null);
    const run = this.shown[hit.series];
    const s = this.data.runs[run];
    const n = s.step.length;
    const where = hit.index === 0 ? " first" : hit.index === n - 1 ? " last" : "";
    this.onHover(
      `${run} · step ${s.step[hit.index]} (${hit.index + 1} of ${n}${where}) · PC1 ${formatShort(s.x[hit.index] ?? NaN)}, PC2 ${formatShort(s.y[hit.index] ?? NaN)}`,
      run,
      s.step[hit.index],
    );
  }
}
