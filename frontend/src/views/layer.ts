/**
 * Update trajectories of one layer (group): |W|, |dW| and |dW|/|W| per optimizer step
 * (the findings' definition: the interval's ratio over the steps between points) over
 * steps on log scales (the ratio chart with the healthy band), and beside them the gradient
 * norm |g| and the gradient ratio |g|/|W| when a run logged gradients (hidden when every
 * value is missing: writers without gradients log NaN), every selected run overlaid
 * (colour per run, dash per tensor), and one small chart of single-parameter traces per
 * tensor. Fetches lazily (the app calls setVisible) and refetches on reload only the
 * tensors whose step count changed.
 *
 * Example:
 *   const lc = new LayerCharts("dense");
 *   lc.update([{run: "a", tag: "dense/kernel", steps: 20}], ["a"]);
 *   section.appendChild(lc.root); lc.setVisible(true);
 */
import { fetchTrajectory } from "../data/api";
import { latestOnly } from "../data/latest";
import type { Trajectory } from "../data/types";
import { isActivationTag } from "../model/activations";
import { distributionSeries } from "../model/distribution";
import { formatIndex } from "../model/format";
import { type ChartSeries, HEALTHY_BAND, alignSeries, perStepNote, runColor, tensorDash } from "../model/series";
import { clear, el, setText } from "../ui/dom";
import { idleTime, nextFrame } from "../ui/frames";
import { Chart } from "./chart";
import { ActivationCharts } from "./activations";
import { SpectralCharts } from "./spectral";

/** One tensor of one run with trajectory data. */
export interface LayerTensor {
  run: string;
  tag: string;
  /** Number of logged trajectory steps (from `tags`), to know when to refetch. */
  steps: number;
}

/** The charts of statistics over steps: field, test id, title. */
const STATS: [field: "norm" | "update_norm" | "update_ratio_per_step" | "grad_norm" | "grad_ratio", testid: string, title: string][] = [
  ["norm", "chart-norm", "|W| (norm)"],
  ["update_norm", "chart-update", "|dW| (update norm since the previous point)"],
  ["update_ratio_per_step", "chart-ratio", "|dW| / |W| per step (update ratio)"],
  ["grad_norm", "chart-grad", "|g| (gradient norm, before the step)"],
  ["grad_ratio", "chart-grad-ratio", "|g| / |W| (gradient ratio)"],
];

/** Fields shown only when some run logged them (NaN, served as null, otherwise). */
const OPTIONAL = new Set(["grad_norm", "grad_ratio"]);

/** Destroys and removes the charts of `charts` whose tensor is not in `keep`. */
function prune(charts: Map<string, Chart>, keep: ReadonlySet<string>): void {
  for (const [tag, chart] of charts) {
    if (keep.has(tag)) continue;
    chart.destroy();
    chart.root.remove();
    charts.delete(tag);
  }
}

/**
 * The ratio chart's tooltip: how many optimizer steps each point averages over.
 *
 * Example: gapNote([{update_steps: [null, 20, 20]}]) === perStepNote(20).
 */
export function gapNote(trajectories: readonly Pick<Trajectory, "update_steps">[]): string {
  const gaps = [...new Set(trajectories.flatMap((t) => (t.update_steps ?? []).filter((g): g is number => typeof g === "number")))].sort((a, b) => a - b);
  if (gaps.length <= 1) return perStepNote(gaps[0]);
  return `${perStepNote(null)}: ${gaps[0]} to ${gaps[gaps.length - 1]} steps between points`;
}

/** Traces drawn per tensor per run at most (the chart stays readable). */
const MAX_TRACES = 8;

export class LayerCharts {
  readonly root: HTMLDivElement;
  private readonly status: HTMLDivElement;
  private readonly main: HTMLDivElement;
  private readonly tracesBox: HTMLDivElement;
  private readonly charts: Chart[];
  private readonly traceCharts = new Map<string, Chart>();
  private readonly distCharts = new Map<string, Chart>();
  private readonly distBox: HTMLDivElement;
  private readonly spectral: SpectralCharts;
  private readonly activations: ActivationCharts;
  /** The selected runs' data versions (model/activations.ts runVersion), for the activation charts. */
  private versions: { run: string; version: number }[] = [];
  private tensors: LayerTensor[] = [];
  private tags: string[] = [];
  private runs: string[] = [];
  private readonly cache = new Map<string, { steps: number; data: Trajectory }>();
  private visible = false;
  /** The closed box of distributions and traces (compact sections), and what it would draw. */
  private more: HTMLDetailsElement | null = null;
  private lastItems: [LayerTensor, Trajectory][] | null = null;
  /** Counts draws: a newer draw (or dispose) stops an older one between charts. */
  private drawn = 0;
  private stale = true;
  private readonly latest = latestOnly();

  /**
   * `compact` (large models): the distribution and trace charts wait in a closed
   * "more charts" box, drawn when it is opened (a batch-norm layer has eight of them).
   */
  constructor(
    readonly layer: string,
    compact = false,
  ) {
    this.status = el("div", { className: "nv-note-text", attrs: { "data-testid": "layer-status" } });
    this.status.hidden = true;
    this.charts = STATS.map(
      ([field, testid, title]) =>
        new Chart({
          testid,
          title,
          attrs: { "data-layer": layer },
          log: true,
          band: field === "update_ratio_per_step" ? HEALTHY_BAND : undefined,
          csvName: [layer || "layer", field],
          // A long run: one point per pixel, each interval's maximum (a spike is never lost).
          peaks: true,
          // Runs x tensors legend rows grow past the chart: a key of runs and tensors, and
          // one read-out line for the hovered series.
          readout: true,
          readoutHint: "Hover a line for its run, tensor and value",
          // The gradient charts are hidden when no run logged gradients (most runs).
          lazyHidden: OPTIONAL.has(field),
        }),
    );
    this.main = el("div", { className: "nv-chart-row" }, ...this.charts.map((c) => c.root));
    this.tracesBox = el("div", { className: "nv-chart-row nv-traces-row" });
    this.distBox = el("div", { className: "nv-chart-row nv-traces-row" });
    this.spectral = new SpectralCharts(layer);
    this.activations = new ActivationCharts(layer);
    this.root = el(
      "div",
      { className: "nv-layer-charts", attrs: { "data-testid": "layer-charts", "data-layer": layer } },
      this.status,
      this.main,
      this.activations.root,
      this.spectral.root,
      ...(compact ? [] : [this.distBox, this.tracesBox]),
    );
    if (compact) {
      this.more = el(
        "details",
        { className: "nv-more", attrs: { "data-testid": "layer-more" } },
        el("summary", { text: "Distributions and single-parameter traces" }),
        this.distBox,
        this.tracesBox,
      );
      this.more.addEventListener("toggle", () => {
        if (this.more?.open && this.lastItems) void this.drawDetails(this.lastItems, ++this.drawn);
      });
      this.root.appendChild(this.more);
    }
  }

  /** The tensors (per run) to plot and the selected runs in order (for colours). */
  update(tensors: LayerTensor[], runs: string[], tags?: readonly string[], versions: { run: string; version: number }[] = []): void {
    const sig = (ts: LayerTensor[]) => JSON.stringify(ts.map((t) => [t.run, t.tag, t.steps]));
    // Every tensor of the layer (spectra may be logged without trajectories).
    const all = [...new Set([...(tags ?? []), ...tensors.map((t) => t.tag)])];
    if (sig(tensors) === sig(this.tensors) && JSON.stringify(runs) === JSON.stringify(this.runs) && JSON.stringify(all) === JSON.stringify(this.tags) && JSON.stringify(versions) === JSON.stringify(this.versions)) return;
    this.versions = versions;
    this.tags = all;
    this.tensors = tensors;
    this.runs = runs;
    this.stale = true;
    if (this.visible) void this.load();
  }

  setVisible(v: boolean): void {
    this.visible = v;
    if (v && this.stale) void this.load();
  }

  /** The traces chart of a tensor, if drawn (overview rows scroll to it for chart-only tensors). */
  tracesChart(tag: string): HTMLElement | null {
    return this.traceCharts.get(tag)?.root ?? null;
  }

  resize(): void {
    for (const c of this.charts) c.resize();
    for (const c of this.traceCharts.values()) c.resize();
    for (const c of this.distCharts.values()) c.resize();
    this.spectral.resize();
    this.activations.resize();
  }

  dispose(): void {
    this.drawn++;
    this.latest.cancel();
    for (const c of this.charts) c.destroy();
    for (const c of this.traceCharts.values()) c.destroy();
    for (const c of this.distCharts.values()) c.destroy();
    this.spectral.dispose();
    this.activations.dispose();
  }

  private async load(): Promise<void> {
    this.stale = false;
    void this.spectral.load(this.tags, this.runs).catch(() => undefined);
    void this.activations.load(this.versions, this.runs).catch(() => undefined);
    if (!this.tensors.length) {
      this.latest.cancel();
      // A section of activations only (a ReLU has no weights): nothing to say about trajectories.
      const onlyActivations = this.tags.length > 0 && this.tags.every(isActivationTag);
      this.showStatus(onlyActivations ? null : 
        "No update trajectories for this layer. Log them with Writer.log_weights(..., trajectories=True) " +
          "or NNVizCallback(trajectory_freq=N), then reload.",
      );
      this.main.hidden = true;
      return;
    }
    this.root.setAttribute("data-loading", "true");
    const results = await this.latest.run((signal) =>
      Promise.allSettled(
        this.tensors.map(async (t) => {
          const key = JSON.stringify([t.run, t.tag]);
          const hit = this.cache.get(key);
          if (hit && hit.steps === t.steps) return hit.data;
          const data = await fetchTrajectory(t.run, t.tag, signal);
          this.cache.set(key, { steps: t.steps, data });
          return data;
        }),
      ),
    );
    if (results === undefined) return;
    this.root.removeAttribute("data-loading");
    const ok: [LayerTensor, Trajectory][] = [];
    const failed: string[] = [];
    results.forEach((r, k) => {
      if (r.status === "fulfilled") ok.push([this.tensors[k], r.value]);
      else failed.push(`${this.tensors[k].run} / ${this.tensors[k].tag}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
    });
    this.showStatus(failed.length ? `Could not load ${failed.length} trajector${failed.length > 1 ? "ies" : "y"}:\n${failed.join("\n")}` : null);
    this.main.hidden = !ok.length;
    const steps = ok.flatMap(([, tr]) => tr.step ?? []);
    this.spectral.setSpan(steps.length ? [Math.min(...steps), Math.max(...steps)] : null);
    const token = ++this.drawn;
    await this.draw(ok, () => token !== this.drawn);
    if (token !== this.drawn) return;
    this.root.setAttribute("data-loaded", "true");
  }

  private showStatus(text: string | null): void {
    this.status.hidden = text === null;
    setText(this.status, text ?? "");
  }

  /**
   * Draws the charts, one per animation frame after the first few (a section of a large
   * model has dozens: drawn at once they would stall scrolling); stops when `stale()`.
   */
  private async draw(items: [LayerTensor, Trajectory][], stale: () => boolean): Promise<void> {
    const multiRun = this.runs.length > 1;
    const tags = [...new Set(this.tensors.map((t) => t.tag))];
    const short = (tag: string) => (this.layer && tag.startsWith(this.layer + "/") ? tag.slice(this.layer.length + 1) : tag);
    const label = (t: LayerTensor) => (multiRun ? `${t.run} · ${short(t.tag)}` : short(t.tag));
    const muted = "var(--nv-muted)"; // the key follows the theme (Chart.setKey resolves it)
    const shownRuns = this.runs.filter((r) => items.some(([t]) => t.run === r));
    const key = [
      ...(multiRun ? shownRuns.map((r) => ({ label: r, color: runColor(this.runs.indexOf(r)) })) : []),
      ...(tags.length > 1 || !multiRun ? tags.map((t, k) => ({ label: short(t), color: multiRun ? muted : runColor(0), dash: tensorDash(k) })) : []),
    ];
    // One chart per idle period: each new plot forces a layout, and a section of a large
    // model is drawn while the page scrolls.
    for (const [k, [field]] of STATS.entries()) {
      if (k === 0 || this.charts[k - 1].hasPlot) await idleTime();
      if (stale()) return;
      const parts = items.map(([, tr]) => ({ x: tr.step ?? [], y: (tr[field] as (number | null)[] | undefined) ?? [] }));
      const { x, ys } = alignSeries(parts);
      const series: ChartSeries[] = items.map(([t], i) => ({
        label: label(t),
        color: runColor(Math.max(0, this.runs.indexOf(t.run))),
        dash: tensorDash(tags.indexOf(t.tag)),
        values: ys[i],
        key: { run: t.run, tag: t.tag },
      }));
      this.charts[k].root.hidden = OPTIONAL.has(field) && !ys.some((vs) => vs.some((v) => v !== null));
      if (field === "update_ratio_per_step") this.charts[k].setTitle(STATS[k][2], gapNote(items.map(([, tr]) => tr)));
      this.charts[k].setData(x, series);
      this.charts[k].setKey(key);
    }
    this.lastItems = items;
    if (this.more) this.more.hidden = !items.length;
    if (this.more && !this.more.open) return;
    await this.drawDetails(items, this.drawn, stale);
  }

  /** The distribution and trace charts (draw token `token`: a newer draw stops this one). */
  private async drawDetails(items: [LayerTensor, Trajectory][], token: number, stale = () => token !== this.drawn): Promise<void> {
    const multiRun = this.runs.length > 1;
    const tags = [...new Set(this.tensors.map((t) => t.tag))];
    const short = (tag: string) => (this.layer && tag.startsWith(this.layer + "/") ? tag.slice(this.layer.length + 1) : tag);
    await nextFrame();
    if (stale()) return;
    await this.drawDistributions(items, tags, short, stale);
    // One traces chart per tensor; runs overlaid by colour, traces told apart by dash.
    const keep = new Set<string>();
    for (const tag of tags) {
      await nextFrame();
      if (stale()) return;
      const mine = items.filter(([t]) => t.tag === tag);
      const parts: { x: number[]; y: (number | null)[] }[] = [];
      const meta: ChartSeries[] = [];
      const runsHere: string[] = [];
      for (const [t, tr] of mine) {
        const traces = tr.traces;
        if (!traces || !traces.values.length) continue;
        if (!runsHere.includes(t.run)) runsHere.push(t.run);
        traces.values.slice(0, MAX_TRACES).forEach((vals, j) => {
          parts.push({ x: tr.step, y: vals });
          const idx = formatIndex(traces.index[j] ?? []);
          meta.push({
            label: multiRun ? `${t.run} · ${idx}` : idx,
            color: runColor(Math.max(0, this.runs.indexOf(t.run))),
            dash: tensorDash(j),
            values: [],
            key: { run: t.run, index: idx },
          });
        });
      }
      if (!parts.length) continue;
      keep.add(tag);
      let chart = this.traceCharts.get(tag);
      if (!chart) {
        // One legend row per trace and run would outgrow the chart: one read-out line instead.
        chart = this.tensorChart("traces-chart", tag, `${short(tag)}: single-parameter traces`, "traces", "Hover a line for its parameter and value");
        this.traceCharts.set(tag, chart);
      }
      this.tracesBox.appendChild(chart.root);
      const { x, ys } = alignSeries(parts);
      chart.setData(x, meta.map((m, i) => ({ ...m, values: ys[i] })));
      chart.setKey(multiRun ? runsHere.map((r) => ({ label: r, color: runColor(Math.max(0, this.runs.indexOf(r))) })) : []);
    }
    prune(this.traceCharts, keep);
    if (!this.traceCharts.size) clear(this.tracesBox);
  }

  /** A small linear chart of one tensor with a one-line read-out. */
  private tensorChart(testid: string, tag: string, title: string, csv: string, hint: string): Chart {
    return new Chart({
      testid,
      title,
      attrs: { "data-layer": this.layer, "data-tag": tag },
      log: false,
      symlog: true,
      csvName: [tag, csv],
      small: true,
      readout: true,
      readoutHint: hint,
    });
  }

  /** One distribution-over-steps chart per tensor (quantile bands, median, min/max), runs overlaid. */
  private async drawDistributions(items: [LayerTensor, Trajectory][], tags: string[], short: (tag: string) => string, stale: () => boolean): Promise<void> {
    const multiRun = this.runs.length > 1;
    const keep = new Set<string>();
    for (const tag of tags) {
      await nextFrame();
      if (stale()) return;
      const mine = items
        .filter(([t]) => t.tag === tag)
        .map(([t, tr]) => ({ run: t.run, color: runColor(Math.max(0, this.runs.indexOf(t.run))), trajectory: tr }));
      const d = distributionSeries(mine, multiRun);
      if (!d.series.length) continue;
      keep.add(tag);
      let chart = this.distCharts.get(tag);
      if (!chart) {
        chart = this.tensorChart("dist-chart", tag, `${short(tag)}: distribution of values`, "distribution", "Bands 5–95%, 25–75%; line median; dotted min, max");
        this.distCharts.set(tag, chart);
      }
      this.distBox.appendChild(chart.root);
      const { x, ys } = alignSeries(d.parts);
      chart.setData(x, d.series.map((s, i) => ({ ...s, values: ys[i] })), d.bands);
      const runsHere = [...new Set(mine.map((m) => m.run))];
      chart.setKey(multiRun ? runsHere.map((r) => ({ label: r, color: runColor(Math.max(0, this.runs.indexOf(r))) })) : []);
    }
    prune(this.distCharts, keep);
  }
}
