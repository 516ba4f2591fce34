/**
 * One plot of the weight-space path, drawn by uPlot in scatter mode (mode 2: each series
 * its own x and y): the PCA coordinates of one or more runs as a line per run (run
 * colour, broken at non-finite points), the steps between as small points coloured by
 * step order (viridis, dark = early, yellow = late), the first step as a ring and the
 * last step as a filled dot, so start and end read apart at any size. Both axes have the
 * same units per pixel and are labelled with the explained variance. The projection
 * panel holds one (joint axes) or one per run.
 *
 * Example:
 *   const plot = new PathPlot("projection", (text, run, step) => readout(text));
 *   box.appendChild(plot.root);
 *   plot.setData(projection, [{run: "a", color: "#1f77b4"}]);
 *   plot.draw(640, 360);
 */
import { interpolateViridis } from "d3-scale-chromatic";
import uPlot from "uplot";
import type { Projection } from "../data/types";
import { formatShort } from "../model/format";
import { type PathSeries, collapsedSeries, equalAspect, finiteSegments, nearestPoint, orderColors, pathExtent, pathLength, pcLabel } from "../model/pathplot";
import { el, setText } from "../ui/dom";
import { themeVar } from "../ui/theme";
import { themedAxis } from "../ui/uplot";

/** Axis sizes and padding (CSS px): fixed, so the plot area, and with it equal units, is known before drawing. */
const Y_AXIS = 52;
const X_AXIS = 26;
const LABEL = 18;
const PAD = { top: 12, right: 16 };
/** Diameters (CSS px) of the start ring, the end dot and the points between. */
const START_D = 13;
const END_D = 12;
const MID_R = 3;

export interface PathRun {
  run: string;
  color: string;
}

/** Called on hover: a read-out text and the hovered run and step, or null when off every point. */
export type PathHover = (text: string | null, run?: string, step?: number) => void;

/** Tick labels: short numbers, and 0 for -0. */
const ticks = (_u: uPlot, vals: number[]) => vals.map((v) => formatShort(v || 0));

export class PathPlot {
  readonly root: HTMLDivElement;
  /** The element with the test hooks (data-points, data-xlabel, ...) holding uPlot's canvas. */
  readonly host: HTMLDivElement;
  private readonly error: HTMLDivElement;
  private readonly empty: HTMLDivElement;
  /** Per-run plots: the path length line, since each plot has its own scale. */
  private readonly scale: HTMLDivElement;
  private data: Projection | null = null;
  private runs: PathRun[] = [];
  private plot: uPlot | null = null;
  /** The runs drawn, in series order. */
  private shown: string[] = [];

  constructor(
    testid: string,
    private readonly onHover: PathHover,
    title?: PathRun,
  ) {
    this.host = el("div", { className: "nv-projection", attrs: { "data-testid": testid } });
    if (title) this.host.setAttribute("data-run", title.run);
    this.host.addEventListener("mouseleave", () => this.onHover(null));
    this.error = el("div", { className: "nv-error", attrs: { "data-testid": "projection-error", role: "alert" } });
    this.error.hidden = true;
    this.empty = el("div", { className: "nv-chart-empty", text: "No finite path coordinates to plot." });
    this.empty.hidden = true;
    this.scale = el("div", {
      className: "nv-path-scale",
      attrs: { "data-testid": "projection-scale" },
      title:
        "Length of the path drawn, in the PC1–PC2 plane, in parameter units (the sketch keeps Euclidean distances " +
        "on average). Each plot is scaled to its own path: compare these lengths, not the plots' sizes.",
    });
    this.scale.hidden = true;
    let head: HTMLElement | null = null;
    if (title) {
      const sw = el("span", { className: "nv-swatch" });
      sw.style.background = title.color;
      head = el("div", { className: "nv-path-title", attrs: { "data-testid": "projection-title" } }, sw, document.createTextNode(title.run));
    }
    this.root = el("div", { className: "nv-path-box" }, head, this.scale, this.error, this.empty, this.host);
  }

  /** The projection to draw and the runs of it to show, with their colours. */
  setData(data: Projection | null, runs: PathRun[]): void {
    this.data = data;
    this.runs = runs;
  }

  /** Shows a request error above the (then empty) plot; null clears it. */
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

  /** Length of the path of each run drawn (null: no finite points), in `runs` order. */
  lengths(): (number | null)[] {
    const data = this.data;
    return this.runs.map((r) => (data?.runs[r.run] ? pathLength(data.runs[r.run]) : null));
  }

  /** Shows the scale line (per-run plots; null hides it) and its path length for tests. */
  setScale(text: string | null, length: number | null = null): void {
    this.scale.hidden = text === null;
    setText(this.scale, text ?? "");
    if (length === null) this.scale.removeAttribute("data-length");
    else this.scale.setAttribute("data-length", String(length));
  }

  /** Explained variance ratio of the data drawn ([] without data). */
  get ratio(): number[] {
    return this.data?.explained_variance_ratio ?? [];
  }

  /** Draws the plot at w x h CSS pixels (anew: sizes, data and theme may all have changed) and updates the test hooks. */
  draw(w: number, h: number): void {
    this.plot?.destroy();
    this.plot = null;
    const data = this.data;
    const runs = data ? this.runs.filter((r) => data.runs[r.run]) : [];
    const series = runs.map((r) => data!.runs[r.run]);
    const ratio = this.ratio;
    const c = this.host;
    c.hidden = !data && !this.error.hidden;
    c.setAttribute("data-pc1", ratio[0] !== undefined ? String(ratio[0]) : "");
    c.setAttribute("data-pc2", ratio[1] !== undefined ? String(ratio[1]) : "");
    c.setAttribute("data-runs", String(runs.length));
    const ext = pathExtent(series);
    this.empty.hidden = !data || !!ext;
    this.shown = runs.map((r) => r.run);
    if (!data || !ext) {
      c.setAttribute("data-points", "0");
      c.removeAttribute("data-xlabel");
      c.removeAttribute("data-ylabel");
      return;
    }
    const box = equalAspect(ext, w - Y_AXIS - LABEL - PAD.right, h - X_AXIS - LABEL - PAD.top);
    const [xLabel, yLabel] = [pcLabel(0, ratio), pcLabel(1, ratio)];
    const { opts, aligned } = this.options(runs, series, box, xLabel, yLabel, w, h);
    this.plot = new uPlot(opts, aligned, c);
    c.setAttribute("data-xlabel", xLabel);
    c.setAttribute("data-ylabel", yLabel);
    c.setAttribute("data-points", String(series.reduce((n, s) => n + finiteSegments(s).reduce((m, g) => m + g.x.length, 0), 0)));
  }

  /**
   * uPlot's options and data: per run one line series per finite stretch, then per run
   * the points between (step-order colours), then the end dots, then the start rings on top.
   */
  private options(
    runs: PathRun[],
    series: PathSeries[],
    box: { x0: number; x1: number; y0: number; y1: number },
    xLabel: string,
    yLabel: string,
    w: number,
    h: number,
  ): { opts: uPlot.Options; aligned: uPlot.AlignedData } {
    const bg = () => themeVar("--nv-card", "#f7f7f7");
    const none = () => null;
    // uPlot's scatter mode draws the points its filter names (it has no index range of its own).
    const first = () => [0];
    const data: (number[][] | null)[] = [null];
    const specs: uPlot.Series[] = [{}];
    const add = (xy: number[][], s: uPlot.Series) => {
      data.push(xy);
      specs.push(s);
    };
    const segs = series.map((s) => finiteSegments(s));
    segs.forEach((ss, k) => {
      for (const g of ss) add([g.x, g.y], { stroke: runs[k].color, width: 1.5, points: { show: false } });
    });
    segs.forEach((ss, k) => {
      const colors = orderColors(series[k].x.length, interpolateViridis);
      const pts = ss.flatMap((g) => g.index.map((i, j) => [g.x[j], g.y[j], i]));
      const mid = pts.slice(1, -1);
      add([mid.map((p) => p[0]), mid.map((p) => p[1])], {
        paths: none,
        points: {
          show: true,
          filter: () => mid.map((_, j) => j),
          width: 1,
          stroke: runs[k].color,
          // A colour per point: uPlot fills a Map of fill colour -> path one colour at a time
          // (series paths are typed so; points go through the same drawing code).
          paths: (u: uPlot) => {
            const fill = new Map<string, Path2D>();
            const stroke = new Path2D();
            const r = MID_R * devicePixelRatio;
            for (const [x, y, i] of mid) {
              const [px, py] = [u.valToPos(x, "x", true), u.valToPos(y, "y", true)];
              const dot = fill.get(colors[i]) ?? new Path2D();
              fill.set(colors[i], dot);
              for (const path of [dot, stroke]) {
                path.moveTo(px + r, py);
                path.arc(px, py, r, 0, 2 * Math.PI);
              }
            }
            return { fill, stroke, flags: 0 } as uPlot.Series.Paths as uPlot.Series.Points.Paths;
          },
        },
      });
    });
    const ends = segs.map((ss) => {
      const all = ss.flatMap((g) => g.x.map((x, j) => [x, g.y[j]]));
      return all.length ? [all[0], all[all.length - 1]] : null;
    });
    ends.forEach((e, k) => {
      if (e) add([[e[1][0]], [e[1][1]]], { paths: none, points: { show: true, filter: first, size: END_D, width: 1.5, fill: runs[k].color, stroke: bg } });
    });
    ends.forEach((e, k) => {
      if (e) add([[e[0][0]], [e[0][1]]], { paths: none, points: { show: true, filter: first, size: START_D, width: 2.2, fill: "rgba(0, 0, 0, 0)", stroke: runs[k].color } });
    });
    const opts: uPlot.Options = {
      mode: 2,
      width: w,
      height: h,
      padding: [PAD.top, PAD.right, 0, 0],
      legend: { show: false },
      cursor: { x: false, y: false, drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: { time: false, auto: false, range: () => [box.x0, box.x1] },
        y: { auto: false, range: () => [box.y0, box.y1] },
      },
      axes: [
        themedAxis({ scale: "x", size: X_AXIS, label: xLabel, labelSize: LABEL, values: ticks }),
        themedAxis({ scale: "y", size: Y_AXIS, label: yLabel, labelSize: LABEL, values: ticks }),
      ],
      series: specs,
      hooks: { setCursor: [(u) => this.hover(u, segs)] },
    };
    return { opts, aligned: data as unknown as uPlot.AlignedData };
  }

  private hover(u: uPlot, segs: ReturnType<typeof finiteSegments>[]): void {
    const data = this.data;
    const { left, top } = u.cursor;
    if (!data || left === undefined || top === undefined || left < 0) return this.onHover(null);
    const pixels = segs.flatMap((ss, k) =>
      ss.flatMap((g) => g.index.map((i, j): [number, number, number, number] => [k, i, u.valToPos(g.x[j], "x"), u.valToPos(g.y[j], "y")])),
    );
    const hit = nearestPoint(pixels, left, top, 12);
    if (!hit) return this.onHover(null);
    const run = this.shown[hit.series];
    const s = data.runs[run];
    const n = s.step.length;
    const where = hit.index === 0 ? " first" : hit.index === n - 1 ? " last" : "";
    this.onHover(
      `${run} · step ${s.step[hit.index]} (${hit.index + 1} of ${n}${where}) · PC1 ${formatShort(s.x[hit.index] ?? NaN)}, PC2 ${formatShort(s.y[hit.index] ?? NaN)}`,
      run,
      s.step[hit.index],
    );
  }
}
