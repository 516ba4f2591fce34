/**
 * A small line chart on uPlot: log or linear y, hover read-outs in uPlot's legend (or,
 * with `readout`, no legend but one line naming the series nearest the cursor, which is
 * highlighted: charts with many series stay compact),
 * cursor synced across every chart of the tab (shared sync key, matched by step), an
 * optional shaded guide band (the |dW|/|W| healthy band, its label on a backdrop above the
 * lines), y tick labels thinned so they never collide (`data-yticks` test hook), and an "Export CSV"
 * button that downloads exactly the plotted series. null values are gaps, never errors.
 *
 * Example:
 *   const chart = new Chart({testid: "chart-ratio", title: "|dW|/|W|", log: true,
 *                            band: HEALTHY_BAND, csvName: ["run", "dense", "ratio"]});
 *   parent.appendChild(chart.root);
 *   chart.setData([0, 10, 20], [{label: "run_a", color: "#1f77b4", values: [null, 1e-3, 2e-3]}]);
 */
import uPlot from "uplot";
import { columnsToCsv, safeFilename } from "../model/csv";
import { formatShort } from "../model/format";
import { type ChartSeries, HEALTHY_LABEL, bandRect, logRange, logValues, maxPerInterval, symlogThreshold, thinLabels, zeroFloor } from "../model/series";
import { download, el, setText } from "../ui/dom";
import { onThemeChange, themeVar } from "../ui/theme";
import { themedAxis } from "../ui/uplot";

/** Every chart joins this sync group: hovering one shows the same step on all. */
export const SYNC_KEY = "nnviz-steps";

/**
 * The last non-null value of each series with its label (and key fields): the
 * chart's `data-series-last` hook, so tests can compare series without reading pixels.
 *
 * Example: seriesLast([{label: "a", color: "#000", values: [1, 2, null], key: {run: "r"}}])
 *   -> [{label: "a", run: "r", last: 2}]
 */
export function seriesLast(series: readonly ChartSeries[]): Record<string, string | number | null>[] {
  return series.map((s) => {
    let last: number | null = null;
    for (let k = s.values.length - 1; k >= 0; k--) {
      const v = s.values[k];
      if (v !== null && v !== undefined) {
        last = v;
        break;
      }
    }
    return { label: s.label, ...(s.key ?? {}), last };
  });
}

/**
 * Test hooks that cost a JSON serialisation per redraw (`data-series-last`) are written
 * only when the page sets this flag before the tab loads (tests/browser.py does).
 */
export function testHooksOn(): boolean {
  return typeof window !== "undefined" && (window as { __NNVIZ_TEST_HOOKS__?: unknown }).__NNVIZ_TEST_HOOKS__ === true;
}

export interface ChartSpec {
  testid: string;
  title: string;
  /** Extra attributes of the root (data-layer, data-tag, ...). */
  attrs?: Record<string, string>;
  log: boolean;
  /** Shaded band [lo, hi], labelled `bandLabel` (default HEALTHY_LABEL); the y range includes it. */
  band?: readonly [number, number];
  bandLabel?: string;
  /** Linear charts: y values the axis always includes (fractions: [0, 1]). */
  yInclude?: readonly number[];
  /** Parts of the CSV file name. */
  csvName: (string | number)[];
  height?: number;
  small?: boolean;
  /** The x axis' label (default "step"). */
  xLabel?: string;
  /**
   * A linear chart that may switch its y axis to symlog (asinh): on by itself when one
   * series' values would flatten another's (symlogThreshold), with a button to switch.
   */
  symlog?: boolean;
  /** The CSV's x column header (default "step"). */
  csvX?: string;
  /** Whole-number x ticks only (layer depths). */
  xInteger?: boolean;
  /**
   * Hide uPlot's legend (one row per series) and show one read-out line for the series
   * nearest the cursor instead; `readoutHint` is its text while nothing is hovered.
   */
  readout?: boolean;
  readoutHint?: string;
  /**
   * A series longer than the chart is wide is drawn as one point per pixel-wide interval
   * holding each series' maximum there (model/series' maxPerInterval), so a spike is
   * never lost; the CSV keeps every point. For the trajectory charts (|dW|/|W|, norms).
   */
  peaks?: boolean;
  /**
   * While the chart's root is hidden, setData keeps the data (and the root's data-*
   * attributes) but makes no plot: a uPlot is two canvases, composited layers and a
   * forced layout, for nothing on screen. The owner calls setData again after showing it.
   */
  lazyHidden?: boolean;
}

/**
 * A colour for canvas drawing: `var(--name)` is read from the current theme, anything
 * else is returned as is.
 *
 * Example: canvasColor("#1f77b4") === "#1f77b4"; canvasColor("var(--nv-muted)") -> "#616161" (light).
 */
export function canvasColor(color: string): string {
  const m = /^var\((--[\w-]+)\)$/.exec(color.trim());
  return m ? themeVar(m[1], "#888") : color;
}

/**
 * A colour square, or with `dash` a 22 x 8 line showing the line style (colours may be
 * `var(--x)`). The line is SVG, not a canvas: Chromium gives every canvas a compositing
 * layer, and a key of six tensors made six more layers per chart, each adding to every
 * scrolled frame's layerisation.
 */
function keySwatch(color: string, dash?: number[]): Element {
  if (dash === undefined) {
    const sw = el("span", { className: "nv-swatch" });
    sw.style.background = color;
    return sw;
  }
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "nv-dash-sample");
  svg.setAttribute("viewBox", "0 0 22 8");
  const line = document.createElementNS(ns, "line");
  for (const [k, v] of [["x1", "0"], ["y1", "4"], ["x2", "22"], ["y2", "4"], ["stroke-width", "1.5"]]) line.setAttribute(k, v);
  if (dash.length) line.setAttribute("stroke-dasharray", dash.join(" "));
  line.style.stroke = color;
  svg.appendChild(line);
  return svg;
}

/** Chart width for the current window: three per row on wide screens. */
export function chartWidth(small = false): number {
  const w = (window.innerWidth || 1200) - 72;
  if (small) return Math.max(220, Math.min(340, Math.floor(w / 3) - 16));
  return Math.max(260, Math.min(520, Math.floor(w / 3) - 16));
}

export class Chart {
  readonly root: HTMLDivElement;
  private readonly host: HTMLDivElement;
  private readonly empty: HTMLDivElement;
  private readonly readout: HTMLDivElement | null = null;
  private readonly keyLine: HTMLDivElement;
  private readonly titleEl: HTMLSpanElement;
  private readonly zeroNote: HTMLDivElement;
  private focused: number | null = null;
  private xNames: { header: string; names: string[] } | null = null;
  private xSpan: [number, number] | null = null;
  /** The symlog threshold the data calls for (null: linear reads fine), and the user's choice. */
  private symAuto: number | null = null;
  private symChoice: boolean | null = null;
  private readonly scaleButton: HTMLButtonElement | null = null;
  private plot: uPlot | null = null;
  private signature = "";
  private x: number[] = [];
  /** As given (exact zeros included): the CSV uses these. */
  private series: ChartSeries[] = [];
  /** As drawn: every point, or with `peaks` each interval's maximum and the interval's first step (read-outs, zeros). */
  private drawn: { x: number[]; ys: (number | null)[][]; from: number[] } = { x: [], ys: [], from: [] };
  /** On a log axis, where exact zeros are drawn (null: none, or a linear axis). */
  private floor: number | null = null;
  private bands: readonly [number, number, string][] = [];
  private keyItems: readonly { label: string; color: string; dash?: number[] }[] = [];
  private unsubscribeTheme: (() => void) | null = null;

  constructor(private readonly spec: ChartSpec) {
    const button = el("button", {
      className: "nv-button nv-small",
      text: "Export CSV",
      title: "Download the plotted series as CSV",
      attrs: { type: "button", "data-testid": "export-csv" },
    });
    button.addEventListener("click", () => this.exportCsv());
    if (spec.symlog) {
      const b = el("button", { className: "nv-button nv-small", attrs: { type: "button", "data-testid": "chart-yscale" } });
      b.hidden = true;
      b.addEventListener("click", () => {
        this.symChoice = !this.symOn();
        this.signature = "";
        this.setData(this.x, this.series, this.bands);
      });
      this.scaleButton = b;
    }
    this.titleEl = el("span", { className: "nv-chart-title", text: spec.title, title: spec.title, attrs: { "data-testid": "chart-title" } });
    this.host = el("div", { className: "nv-chart-host" });
    this.empty = el("div", { className: "nv-chart-empty", text: "no finite values to plot" });
    this.empty.hidden = true;
    this.zeroNote = el("div", { className: "nv-chart-empty", text: "▼ at the bottom (0) = exactly 0", attrs: { "data-testid": "zero-note" } });
    this.zeroNote.hidden = true;
    this.keyLine = el("div", { className: "nv-chart-key" });
    this.keyLine.hidden = true;
    if (spec.readout) this.readout = el("div", { className: "nv-chart-readout", attrs: { "data-testid": "chart-readout" } });
    this.root = el(
      "div",
      { className: spec.small ? "nv-chart nv-chart-small" : "nv-chart", attrs: { "data-testid": spec.testid, ...(spec.attrs ?? {}) } },
      el("div", { className: "nv-chart-head" }, this.titleEl, ...(this.scaleButton ? [this.scaleButton] : []), button),
      this.empty,
      this.host,
      this.zeroNote,
      this.keyLine,
      this.readout,
    );
    this.showReadout(null);
  }

  /** Replaces the title (what the chart shows may change with the data); `tip`: its tooltip (default the title). */
  setTitle(title: string, tip?: string): void {
    setText(this.titleEl, title);
    this.titleEl.title = tip ?? title;
  }

  /**
   * A one-line key under the chart: a colour square per item, or a short line sample
   * when the item has a dash pattern (telling tensors apart); empty hides it.
   */
  setKey(items: readonly { label: string; color: string; dash?: number[] }[]): void {
    this.keyItems = items;
    this.keyLine.replaceChildren(...items.map((it) => el("span", {}, keySwatch(it.color, it.dash), document.createTextNode(it.label))));
    this.keyLine.hidden = !items.length;
  }

  /**
   * Plots `series` over steps `x` (recreated only when the set of series changes);
   * `bands` fill between pairs of series: [upper index, lower index, fill colour].
   */
  setData(x: readonly number[], series: readonly ChartSeries[], bands: readonly [number, number, string][] = []): void {
    this.bands = bands;
    this.x = [...x];
    this.series = series.map((s) => ({ ...s, values: [...s.values] }));
    this.floor = this.spec.log ? zeroFloor(this.series.map((s) => s.values), this.spec.band) : null;
    const values = this.series.map((s) => s.values);
    this.drawn = this.spec.peaks ? maxPerInterval(this.x, values, chartWidth(this.spec.small)) : { x: this.x, ys: values as (number | null)[][], from: this.x };
    const plotted = this.drawn.ys.map((vs) => (this.spec.log ? logValues(vs, this.floor) : vs));
    const hasValue = plotted.some((vs) => vs.some((v) => v !== null));
    this.zeroNote.hidden = this.floor === null;
    this.empty.hidden = hasValue || !this.x.length;
    this.root.setAttribute("data-points", String(this.x.length));
    this.root.setAttribute("data-drawn", String(this.drawn.x.length));
    this.root.setAttribute("data-series", String(this.series.length));
    if (testHooksOn()) this.root.setAttribute("data-series-last", JSON.stringify(seriesLast(this.series)));
    this.root.setAttribute("data-zeros", String(this.series.reduce((n, s) => n + s.values.filter((v) => v === 0).length, 0)));
    const data = [this.drawn.x, ...plotted] as uPlot.AlignedData;
    if (this.spec.symlog && !this.spec.log) {
      this.symAuto = symlogThreshold(plotted);
      const b = this.scaleButton!;
      b.hidden = this.symAuto === null && this.symChoice === null;
      setText(b, this.symOn() ? "y: symlog" : "y: linear");
      b.title = this.symOn()
        ? "The y axis is symlog (linear near 0, logarithmic beyond) so that runs of very different sizes all read; click for linear"
        : "Click for a symlog y axis (runs of very different sizes all read)";
      b.setAttribute("data-scale", this.symOn() ? "symlog" : "linear");
      this.root.setAttribute("data-yscale", this.symOn() ? "symlog" : "linear");
    }
    if (this.spec.lazyHidden && this.root.hidden) {
      this.plot?.destroy();
      this.plot = null;
      this.signature = "";
      return;
    }
    const sig = JSON.stringify([this.series.map((s) => [s.label, s.color, s.dash ?? []]), bands, this.symOn() ? this.symThreshold() : 0]);
    if (this.plot && sig === this.signature) {
      this.plot.setData(data);
      return;
    }
    this.plot?.destroy();
    this.signature = sig;
    this.focused = null;
    this.plot = new uPlot(this.options(), data, this.host);
    if (!this.unsubscribeTheme) this.unsubscribeTheme = onThemeChange(() => this.restyle());
  }

  /** Redraws axes, grid, band and key in the current theme's colours (data and scales unchanged). */
  restyle(): void {
    this.plot?.redraw(false, false);
    if (this.keyItems.length) this.setKey(this.keyItems);
  }

  /** The read-out line: the focused series' label and value at the cursor's step. */
  private updateReadout(u: uPlot): void {
    const idx = u.cursor.idx;
    const f = this.focused;
    if (idx === null || idx === undefined || f === null || f < 1 || f > this.series.length) return this.showReadout(null);
    const s = this.series[f - 1];
    const v = this.drawn.ys[f - 1]?.[idx];
    const { x, from } = this.drawn;
    const at = from[idx] === x[idx] ? `at step ${x[idx]}` : `(max of steps ${from[idx]}–${x[idx]})`;
    this.showReadout(`${s.label}: ${v === null || v === undefined ? "–" : formatShort(v)} ${at}`, s.color, s);
  }

  private showReadout(text: string | null, color?: string, s?: ChartSeries): void {
    const r = this.readout;
    if (!r) return;
    if (text === null) {
      r.replaceChildren(el("span", { className: "nv-chart-hint", text: this.spec.readoutHint ?? "Hover a line for its label and value" }));
      r.removeAttribute("data-label");
      return;
    }
    const sw = el("span", { className: "nv-swatch" });
    sw.style.background = color ?? "";
    r.replaceChildren(sw, document.createTextNode(text));
    r.setAttribute("data-label", s?.label ?? "");
  }

  private bandPixels(u: uPlot): { y: number; h: number } | null {
    const band = this.spec.band;
    return band ? bandRect(u.valToPos(band[1], "y", true), u.valToPos(band[0], "y", true), u.bbox.top, u.bbox.height) : null;
  }

  /**
   * The band's label: a DOM label on uPlot's overlay (above the lines, on a backdrop, so
   * lines never run over it), at the band's top edge.
   */
  private drawBandLabel(u: uPlot): void {
    const r = this.bandPixels(u);
    let label = u.over.querySelector<HTMLSpanElement>(".nv-band-label");
    if (!r) {
      if (label) label.hidden = true;
      return;
    }
    if (!label) {
      label = el("span", { className: "nv-band-label", attrs: { "data-testid": "band-label" } });
      u.over.appendChild(label);
    }
    setText(label, this.spec.bandLabel ?? HEALTHY_LABEL);
    label.hidden = false;
    label.style.top = `${Math.round((r.y - u.bbox.top) / devicePixelRatio) + 1}px`;
  }

  /** Test hook: the y axis' shown labels and their CSS pixel rows (`data-yticks`). */
  private markYTicks(u: uPlot): void {
    if (!testHooksOn()) return;
    const ax = u.axes[1] as uPlot.Axis & { _splits?: number[]; _values?: string[] };
    const ticks = (ax._splits ?? []).map((v, k) => [ax._values?.[k] ?? "", u.valToPos(v, "y")] as const).filter(([l]) => l !== "");
    this.root.setAttribute("data-yticks", JSON.stringify(ticks));
  }

  private drawZeros(u: uPlot): void {
    const floor = this.floor;
    if (floor === null) return;
    const ctx = u.ctx;
    const r = 4 * devicePixelRatio;
    const y = u.valToPos(floor, "y", true);
    ctx.save();
    this.series.forEach((s, i) => {
      if (u.series[i + 1]?.show === false) return;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      this.drawn.ys[i].forEach((v, k) => {
        if (v !== 0) return;
        const x = u.valToPos(this.drawn.x[k], "x", true);
        ctx.moveTo(x - r, y - 2 * r);
        ctx.lineTo(x + r, y - 2 * r);
        ctx.lineTo(x, y);
        ctx.closePath();
      });
      ctx.fill();
    });
    ctx.restore();
  }

  /** True while a plot is drawn (not before data, nor while hidden with `lazyHidden`). */
  get hasPlot(): boolean {
    return this.plot !== null;
  }

  /** Follows the window width. */
  resize(): void {
    this.plot?.setSize({ width: chartWidth(this.spec.small), height: this.height() });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
    this.unsubscribeTheme?.();
    this.unsubscribeTheme = null;
  }

  /** A name per x value (the layer at each depth), written as the CSV's second column `header`. */
  setXNames(names: readonly string[] | null, header = "name"): void {
    this.xNames = names ? { header, names: [...names] } : null;
  }

  /**
   * A fixed x range (the run's steps, when the chart's own points span less: a spectrum
   * logged at one step), null: the data's.
   */
  setXSpan(span: readonly [number, number] | null): void {
    const same = JSON.stringify(span) === JSON.stringify(this.xSpan);
    this.xSpan = span && span[1] > span[0] ? [span[0], span[1]] : null;
    if (!same && this.plot) this.plot.setData(this.plot.data);
  }

  /** The plotted series as CSV text: step (or spec.csvX), the x names if set, then one column per series. */
  csv(): string {
    const names = this.xNames;
    return columnsToCsv(
      [this.spec.csvX ?? "step", ...(names ? [names.header] : []), ...this.series.map((s) => s.label)],
      [this.x, ...(names ? [names.names] : []), ...this.series.map((s) => s.values)],
    );
  }

  private exportCsv(): void {
    download(new Blob([this.csv()], { type: "text/csv;charset=utf-8" }), safeFilename(this.spec.csvName, "csv"));
  }

  private symOn(): boolean {
    return !!this.spec.symlog && !this.spec.log && (this.symChoice ?? this.symAuto !== null);
  }

  private symThreshold(): number {
    return this.symAuto ?? 1e-3;
  }

  private height(): number {
    return this.spec.height ?? (this.spec.small ? 150 : 200);
  }

  private options(): uPlot.Options {
    const spec = this.spec;
    const fmt = (_u: uPlot, v: number | null) => (v === null || v === undefined ? "–" : v === this.floor ? "0" : formatShort(v));
    const yScale: uPlot.Scale = spec.log
      ? { distr: 3, log: 10, range: (_u, min, max) => logRange(this.floor ?? min, max, spec.band) }
      : this.symOn()
      ? { distr: 4, asinh: this.symThreshold() }
      : {
          range: (_u, min, max) => {
            if (spec.yInclude?.length) {
              const vs = [min, max, ...spec.yInclude].filter((v): v is number => typeof v === "number" && Number.isFinite(v));
              min = Math.min(...vs);
              max = Math.max(...vs);
            }
            if (spec.band) {
              const lo = [min, spec.band[0]].filter((v): v is number => typeof v === "number" && Number.isFinite(v));
              const hi = [max, spec.band[1]].filter((v): v is number => typeof v === "number" && Number.isFinite(v));
              min = Math.min(...lo);
              max = Math.max(...hi);
            }
            if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [-1, 1];
            if (min === max) {
              const d = Math.abs(min) * 0.1 || 1;
              return [min - d, max + d];
            }
            const pad = (max - min) * 0.05;
            return [min - pad, max + pad];
          },
        };
    const axis = themedAxis;
    const hooks: uPlot.Hooks.Arrays = {};
    if (spec.readout) {
      // uPlot focuses the series nearest the cursor (cursor.focus) and reports it here;
      // only the hovered chart focuses (synced charts move their cursor, not their focus).
      hooks.setSeries = [
        (u: uPlot, idx: number | null, opts: uPlot.Series) => {
          if ((opts as { focus?: boolean }).focus === undefined) return;
          this.focused = idx;
          this.updateReadout(u);
        },
      ];
      hooks.setCursor = [(u: uPlot) => this.updateReadout(u)];
    }
    // Exact zeros on a log axis: a downward triangle at the floor (labelled "0"), so a
    // stopped tensor reads as zero, not as a line that ends.
    hooks.draw = [(u: uPlot) => this.drawZeros(u), (u: uPlot) => this.drawBandLabel(u), (u: uPlot) => this.markYTicks(u)];
    const band = spec.band;
    if (band) {
      hooks.drawAxes = [
        (u: uPlot) => {
          const r = this.bandPixels(u);
          if (!r) return;
          u.ctx.save();
          u.ctx.fillStyle = themeVar("--nv-band", "rgba(0, 0, 0, 0.06)");
          u.ctx.fillRect(u.bbox.left, r.y, u.bbox.width, r.h);
          u.ctx.restore();
        },
      ];
    }
    return {
      width: chartWidth(spec.small),
      height: this.height(),
      scales: {
        x: {
          time: false,
          range: (_u, min, max) => {
            if (this.xSpan) return [Math.min(this.xSpan[0], min ?? this.xSpan[0]), Math.max(this.xSpan[1], max ?? this.xSpan[1])];
            if (min === null || max === null) return [0, 1];
            return min === max ? [min - 1, max + 1] : [min, max];
          },
        },
        y: yScale,
      },
      axes: [axis({
          ...(spec.small ? { size: 30 } : { label: spec.xLabel ?? "step", labelSize: 18 }),
          ...(spec.xInteger ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] } : {}),
        }), axis({
          size: 56,
          space: spec.small ? 18 : 24,
          // Labels 14 px apart at least (11 px font): a log axis with a "0" floor otherwise crams a dozen.
          values: (u, vals) =>
            thinLabels(vals.map((v) => u.valToPos(v, "y")), vals.map((v) => (v === null ? "" : v === this.floor ? "0" : formatShort(v))), 14),
        })],
      cursor: {
        sync: { key: SYNC_KEY, setSeries: false },
        drag: { x: true, y: false },
        ...(spec.readout ? { focus: { prox: 1e6 } } : {}),
      },
      legend: spec.readout ? { show: false } : { live: true },
      bands: this.bands.map(([hi, lo, fill]) => ({ series: [hi + 1, lo + 1] as [number, number], fill })),
      ...(spec.readout ? { focus: { alpha: 0.25 } } : {}),
      series: [
        { label: "step", value: (_u, v) => (v === null || v === undefined ? "–" : String(v)) },
        ...this.series.map<uPlot.Series>((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? 1.5,
          dash: s.dash && s.dash.length ? s.dash : undefined,
          spanGaps: true,
          value: fmt,
          points: { show: this.drawn.x.length <= 60, size: 4, fill: s.color },
        })),
      ],
      hooks,
    };
  }
}
