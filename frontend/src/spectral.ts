/**
 * Spectral charts of one layer (issue 14): WeightWatcher's `alpha` (with the [2, 6]
 * band) and `stable_rank` over steps, runs overlaid, and a log-log plot of one step's
 * eigenvalue density with the fitted power-law tail. Tensors without spectra (biases)
 * show nothing; a tensor whose spectrum was skipped shows the reason as text.
 *
 * Example:
 *   const sc = new SpectralCharts("dense");
 *   lc.root.appendChild(sc.root); await sc.load(["dense/kernel", "dense/bias"], ["a", "b"]);
 */
import uPlot from "uplot";
import { fetchSpectral, fetchSpectralRun } from "./api";
import { Chart, type ChartSeries, chartWidth } from "./chart";
import { clear, el, setOptions, setText } from "./dom";
import { formatShort } from "./format";
import { alignSeries, runColor, tensorDash } from "./series";
import { onThemeChange, themeVar } from "./theme";
import type { Spectral, SpectralRun, SpectrumFit } from "./types";

/** `GET spectral?run=` answers shared by every layer's section for a few seconds (one request per run, not per layer). */
const LISTING_TTL_MS = 5000;
const listings = new Map<string, { at: number; promise: Promise<SpectralRun> }>();

function runListing(run: string): Promise<SpectralRun> {
  const hit = listings.get(run);
  const now = Date.now();
  if (hit && now - hit.at < LISTING_TTL_MS) return hit.promise;
  const promise = fetchSpectralRun(run);
  listings.set(run, { at: now, promise });
  return promise;
}

export const ALPHA_BAND_LABEL = "alpha 2–6 (well trained)";

/**
 * A log-binned density of `eigs` (normalised by the tail's size, so it is comparable to
 * the fitted tail density) and the fit `(alpha-1)/xmin * (x/xmin)^-alpha` at the same
 * x for x >= xmin (null below).
 *
 * Example: spectrumDensity({eigenvalues: [4, 2, 1, 0.5], num_tail: 2, xmin: 2, alpha: 3, ...})
 *   -> {x: [...bin centres], empirical: [...], fit: [null, ..., 1, ...]}
 */
export function spectrumDensity(s: Pick<SpectrumFit, "eigenvalues" | "num_tail" | "xmin" | "alpha">): {
  x: number[];
  empirical: (number | null)[];
  fit: (number | null)[];
} {
  const eigs = s.eigenvalues.filter((v) => Number.isFinite(v) && v > 0);
  if (!eigs.length) return { x: [], empirical: [], fit: [] };
  const lo = Math.log10(Math.min(...eigs));
  const hi = Math.log10(Math.max(...eigs));
  const nb = Math.max(8, Math.min(40, Math.round(2 * Math.sqrt(eigs.length))));
  const span = hi - lo || 1;
  const edges = Array.from({ length: nb + 1 }, (_, k) => 10 ** (lo + (span * k) / nb - (hi === lo ? 0.5 : 0)));
  const counts = new Array<number>(nb).fill(0);
  const l0 = Math.log10(edges[0]);
  const l1 = Math.log10(edges[nb]);
  for (const v of eigs) counts[Math.min(nb - 1, Math.max(0, Math.floor(((Math.log10(v) - l0) / (l1 - l0)) * nb)))]++;
  const norm = s.num_tail && s.num_tail > 0 ? s.num_tail : eigs.length;
  const x: number[] = [];
  const empirical: (number | null)[] = [];
  const fit: (number | null)[] = [];
  const { alpha, xmin } = s;
  for (let k = 0; k < nb; k++) {
    const c = Math.sqrt(edges[k] * edges[k + 1]);
    x.push(c);
    empirical.push(counts[k] ? counts[k] / (norm * (edges[k + 1] - edges[k])) : null);
    fit.push(alpha !== null && xmin !== null && xmin > 0 && c >= xmin ? ((alpha - 1) / xmin) * (c / xmin) ** -alpha : null);
  }
  return { x, empirical, fit };
}

interface Loaded {
  run: string;
  tag: string;
  data: Spectral;
}

export class SpectralCharts {
  readonly root: HTMLDivElement;
  private readonly note: HTMLDivElement;
  private readonly row: HTMLDivElement;
  private readonly alpha: Chart;
  private readonly rank: Chart;
  private readonly spectrumBox: HTMLDivElement;
  private spectrum: SpectrumPlot | null = null;
  private seq = 0;

  constructor(readonly layer: string) {
    this.alpha = new Chart({
      testid: "chart-alpha",
      title: "alpha (power-law exponent of the spectrum)",
      attrs: { "data-layer": layer },
      log: false,
      band: [2, 6],
      bandLabel: ALPHA_BAND_LABEL,
      csvName: [layer || "layer", "alpha"],
      readout: true,
      readoutHint: "Hover a line for its run, tensor and alpha",
    });
    this.rank = new Chart({
      testid: "chart-stable-rank",
      title: "stable rank (sum of eigenvalues / largest)",
      attrs: { "data-layer": layer },
      log: false,
      csvName: [layer || "layer", "stable-rank"],
      readout: true,
      readoutHint: "Hover a line for its run, tensor and stable rank",
    });
    this.note = el("div", { className: "nv-note-text", attrs: { "data-testid": "spectral-note" } });
    this.note.hidden = true;
    this.spectrumBox = el("div", {});
    this.row = el("div", { className: "nv-chart-row" }, this.alpha.root, this.rank.root, this.spectrumBox);
    this.row.hidden = true;
    this.row.style.display = "none";
    this.root = el("div", { className: "nv-spectral", attrs: { "data-testid": "spectral-charts", "data-layer": layer } }, this.note, this.row);
    this.root.hidden = true;
  }

  /** Fetches the spectra of the layer's `tags` in `runs` (runs in order, for colours) and draws them. */
  async load(tags: readonly string[], runs: readonly string[], signal?: AbortSignal): Promise<void> {
    const seq = ++this.seq;
    const perRun = await Promise.allSettled(runs.map((r) => runListing(r)));
    const wanted: { run: string; tag: string }[] = [];
    perRun.forEach((res, k) => {
      if (res.status !== "fulfilled") return; // a run without spectra (404): nothing to show
      for (const tag of tags) if (res.value.tensors && tag in res.value.tensors) wanted.push({ run: runs[k], tag });
    });
    const results = await Promise.allSettled(wanted.map((w) => fetchSpectral(w.run, w.tag, undefined, signal)));
    if (seq !== this.seq) return;
    const loaded: Loaded[] = [];
    const notes: string[] = [];
    results.forEach((res, k) => {
      const w = wanted[k];
      if (res.status === "rejected") notes.push(`${w.run} / ${w.tag}: ${res.reason instanceof Error ? res.reason.message : String(res.reason)}`);
      else if (res.value.skipped) notes.push(`${w.run} / ${w.tag}: no spectrum: ${res.value.skipped}`);
      else loaded.push({ ...w, data: res.value });
    });
    this.note.hidden = !notes.length;
    setText(this.note, notes.join("\n"));
    this.root.hidden = !notes.length && !loaded.length;
    this.row.hidden = !loaded.length;
    this.row.style.display = loaded.length ? "" : "none"; // .nv-chart-row's display: flex would override [hidden]
    this.root.setAttribute("data-loaded", "true");
    this.root.setAttribute("data-tensors", String(loaded.length));
    if (!loaded.length) return;
    this.draw(loaded, runs);
  }

  resize(): void {
    this.alpha.resize();
    this.rank.resize();
    this.spectrum?.resize();
  }

  dispose(): void {
    this.seq++;
    this.alpha.destroy();
    this.rank.destroy();
    this.spectrum?.destroy();
  }

  private draw(loaded: Loaded[], runs: readonly string[]): void {
    const multiRun = runs.length > 1;
    const tags = [...new Set(loaded.map((l) => l.tag))];
    const short = (tag: string) => (this.layer && tag.startsWith(this.layer + "/") ? tag.slice(this.layer.length + 1) : tag);
    const color = (run: string) => runColor(Math.max(0, runs.indexOf(run)));
    for (const [chart, field] of [
      [this.alpha, "alpha"],
      [this.rank, "stable_rank"],
    ] as const) {
      const { x, ys } = alignSeries(loaded.map((l) => ({ x: l.data.step, y: l.data[field] })));
      const series: ChartSeries[] = loaded.map((l, i) => ({
        label: multiRun ? `${l.run} · ${short(l.tag)}` : short(l.tag),
        color: color(l.run),
        dash: tensorDash(tags.indexOf(l.tag)),
        values: ys[i],
        key: { run: l.run, tag: l.tag },
      }));
      chart.setData(x, series);
      const shownRuns = runs.filter((r) => loaded.some((l) => l.run === r));
      chart.setKey([
        ...(multiRun ? shownRuns.map((r) => ({ label: r, color: color(r) })) : []),
        ...(tags.length > 1 ? tags.map((t, k) => ({ label: short(t), color: "var(--nv-muted)", dash: tensorDash(k) })) : []),
      ]);
    }
    if (!this.spectrum) {
      this.spectrum = new SpectrumPlot(this.layer);
      this.spectrumBox.appendChild(this.spectrum.root);
    }
    this.spectrum.setChoices(loaded.map((l) => ({ run: l.run, tag: l.tag, steps: l.data.step, color: color(l.run) })));
  }
}

interface Choice {
  run: string;
  tag: string;
  steps: number[];
  color: string;
}

/** One step's eigenvalue density on log-log axes with the fitted tail; a tensor and step chooser. */
class SpectrumPlot {
  readonly root: HTMLDivElement;
  private readonly which: HTMLSelectElement;
  private readonly stepSel: HTMLSelectElement;
  private readonly host: HTMLDivElement;
  private readonly caption: HTMLDivElement;
  private choices: Choice[] = [];
  private plot: uPlot | null = null;
  private seq = 0;
  private unsubscribeTheme: (() => void) | null = null;

  constructor(layer: string) {
    this.which = el("select", { attrs: { "data-testid": "spectrum-tensor", "aria-label": "tensor and run" } });
    this.stepSel = el("select", { attrs: { "data-testid": "spectrum-step", "aria-label": "step" } });
    this.which.addEventListener("change", () => this.fillSteps(null));
    this.stepSel.addEventListener("change", () => void this.show());
    this.host = el("div", { className: "nv-chart-host" });
    this.caption = el("div", { className: "nv-chart-readout", attrs: { "data-testid": "spectrum-caption" } });
    this.root = el(
      "div",
      { className: "nv-chart", attrs: { "data-testid": "spectrum-plot", "data-layer": layer } },
      el("div", { className: "nv-chart-head" }, el("span", { className: "nv-chart-title", text: "eigenvalue density (log-log) and fitted tail" })),
      el("div", { className: "nv-spectrum-pick" }, this.which, el("span", { text: "step" }), this.stepSel),
      this.host,
      this.caption,
    );
  }

  setChoices(choices: Choice[]): void {
    const prev = this.current();
    const prevStep = this.stepSel.value;
    this.choices = choices;
    const keyOf = (c: Choice) => JSON.stringify([c.run, c.tag]);
    const keep = prev && choices.some((c) => keyOf(c) === keyOf(prev)) ? keyOf(prev) : choices.length ? keyOf(choices[0]) : "";
    setOptions(this.which, choices.map((c) => [keyOf(c), `${c.run} · ${c.tag}`]), keep);
    this.fillSteps(prev && keyOf(prev) === keep ? prevStep : null);
  }

  private current(): Choice | null {
    return this.choices.find((c) => JSON.stringify([c.run, c.tag]) === this.which.value) ?? null;
  }

  /** Fills the step list of the chosen tensor (latest step unless `keep` is one of them) and shows it. */
  private fillSteps(keep: string | null): void {
    const c = this.current();
    const steps = c ? c.steps.map(String) : [];
    const value = keep !== null && steps.includes(keep) ? keep : steps[steps.length - 1] ?? "";
    setOptions(this.stepSel, steps.map((s) => [s, s]), value);
    void this.show();
  }

  private async show(): Promise<void> {
    const c = this.current();
    const seq = ++this.seq;
    if (!c || this.stepSel.value === "") return;
    const step = Number(this.stepSel.value);
    this.root.setAttribute("data-loading", "true");
    let fit: SpectrumFit | undefined;
    try {
      fit = (await fetchSpectral(c.run, c.tag, step)).spectrum;
    } catch (e) {
      if (seq !== this.seq) return;
      this.root.removeAttribute("data-loading");
      setText(this.caption, `Could not load the spectrum: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (seq !== this.seq || !fit) return;
    this.root.removeAttribute("data-loading");
    const d = spectrumDensity(fit);
    this.root.setAttribute("data-run", c.run);
    this.root.setAttribute("data-tag", c.tag);
    this.root.setAttribute("data-step", String(fit.step));
    this.root.setAttribute("data-alpha", fit.alpha === null ? "" : String(fit.alpha));
    this.root.setAttribute("data-eigenvalues", String(fit.eigenvalues.length));
    this.root.setAttribute("data-fit-points", String(d.fit.filter((v) => v !== null).length));
    setText(
      this.caption,
      `step ${fit.step}: ${fit.eigenvalues.length} eigenvalues; ` +
        (fit.alpha === null
          ? "too few eigenvalues for a fit"
          : `tail of ${fit.num_tail} from xmin ${formatShort(fit.xmin ?? NaN)}: alpha ${formatShort(fit.alpha)} (KS distance ${formatShort(fit.D ?? NaN)})`),
    );
    this.plot?.destroy();
    const axisColor = () => themeVar("--nv-axis", "#616161");
    const gridColor = () => themeVar("--nv-grid", "#e0e0e0");
    const axis = (label: string): uPlot.Axis => ({
      stroke: axisColor,
      grid: { stroke: gridColor, width: 1 },
      ticks: { stroke: gridColor, width: 1 },
      font: "11px Roboto, system-ui, sans-serif",
      label,
      labelSize: 18,
      values: (_u, vals) => vals.map((v) => (v === null ? "" : formatShort(v))),
    });
    const fitColor = themeVar("--nv-fg", "#222");
    const xmin = fit.xmin;
    this.root.setAttribute("data-xmin", xmin === null ? "" : String(xmin));
    // The tail's lower bound: a dotted vertical line labelled xmin.
    const drawXmin = (u: uPlot) => {
      if (xmin === null || !(xmin > 0)) return;
      const x = u.valToPos(xmin, "x", true);
      if (!Number.isFinite(x) || x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      const ctx = u.ctx;
      const dpr = devicePixelRatio || 1;
      ctx.save();
      ctx.strokeStyle = themeVar("--nv-muted", "#888");
      ctx.fillStyle = ctx.strokeStyle;
      ctx.lineWidth = dpr;
      ctx.setLineDash([2 * dpr, 3 * dpr]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.font = `${Math.round(10 * dpr)}px Roboto, system-ui, sans-serif`;
      ctx.textBaseline = "top";
      ctx.fillText("xmin", x + 3 * dpr, u.bbox.top + 2 * dpr);
      ctx.restore();
    };
    this.plot = new uPlot(
      {
        width: chartWidth(),
        height: 200,
        scales: { x: { time: false, distr: 3, log: 10 }, y: { distr: 3, log: 10 } },
        axes: [axis("eigenvalue of WᵀW"), { ...axis("density"), size: 56 }],
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        hooks: { draw: [drawXmin] },
        series: [
          {},
          { label: "eigenvalues", stroke: c.color, width: 0, paths: () => null, points: { show: true, size: 6, fill: c.color, stroke: c.color } },
          { label: "fit", stroke: fitColor, width: 1.5, dash: [6, 3], spanGaps: true, points: { show: false } },
        ],
      },
      [d.x, d.empirical, d.fit] as uPlot.AlignedData,
      this.host,
    );
    if (!this.unsubscribeTheme) this.unsubscribeTheme = onThemeChange(() => this.plot?.redraw(false, false));
    this.root.setAttribute("data-loaded", "true");
  }

  resize(): void {
    this.plot?.setSize({ width: chartWidth(), height: 200 });
  }

  destroy(): void {
    this.seq++;
    this.plot?.destroy();
    this.plot = null;
    this.unsubscribeTheme?.();
    this.unsubscribeTheme = null;
    clear(this.host);
  }
}
