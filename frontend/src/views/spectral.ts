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
import { fetchSpectral, fetchSpectralRun } from "../data/api";
import { latestOnly } from "../data/latest";
import type { Spectral, SpectralRun } from "../data/types";
import { formatShort } from "../model/format";
import { type ChartSeries, alignSeries, runColor, tensorDash } from "../model/series";
import { spectrumDensity } from "../model/spectrum";
import { clear, el, setOptions, setText } from "../ui/dom";
import { onThemeChange, themeVar } from "../ui/theme";
import { themedAxis } from "../ui/uplot";
import { Chart, chartWidth } from "./chart";

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
  private readonly latest = latestOnly();

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
  async load(tags: readonly string[], runs: readonly string[]): Promise<void> {
    const wanted: { run: string; tag: string }[] = [];
    const results = await this.latest.run(async (signal) => {
      // The listings are shared by every layer's section: never aborted by one of them.
      const perRun = await Promise.allSettled(runs.map((r) => runListing(r)));
      perRun.forEach((res, k) => {
        if (res.status !== "fulfilled") return; // a run without spectra (404): nothing to show
        for (const tag of tags) if (res.value.tensors && tag in res.value.tensors) wanted.push({ run: runs[k], tag });
      });
      return Promise.allSettled(wanted.map((w) => fetchSpectral(w.run, w.tag, undefined, signal)));
    });
    if (results === undefined) return;
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

  /** The run's steps (from the layer's trajectories): the alpha and stable-rank charts span them. */
  setSpan(span: readonly [number, number] | null): void {
    this.alpha.setXSpan(span);
    this.rank.setXSpan(span);
  }

  resize(): void {
    this.alpha.resize();
    this.rank.resize();
    this.spectrum?.resize();
  }

  dispose(): void {
    this.latest.cancel();
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
  private readonly latest = latestOnly();
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
    if (!c || this.stepSel.value === "") {
      this.latest.cancel();
      return;
    }
    const step = Number(this.stepSel.value);
    this.root.setAttribute("data-loading", "true");
    let res: Spectral | undefined;
    try {
      res = await this.latest.run(() => fetchSpectral(c.run, c.tag, step));
    } catch (e) {
      this.root.removeAttribute("data-loading");
      setText(this.caption, `Could not load the spectrum: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const fit = res?.spectrum;
    if (!fit) return; // superseded, or no spectrum at that step
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
          ? fit.eigenvalues.some((v) => v === null || !Number.isFinite(v))
            ? "no fit: the weights hold NaN/Inf at this step, so their eigenvalues are NaN"
            : "too few eigenvalues for a fit"
          : `tail of ${fit.num_tail} from xmin ${formatShort(fit.xmin ?? NaN)}: alpha ${formatShort(fit.alpha)} (KS distance ${formatShort(fit.D ?? NaN)})`),
    );
    this.plot?.destroy();
    const axis = (label: string, extra: Partial<uPlot.Axis> = {}): uPlot.Axis =>
      themedAxis({ label, labelSize: 18, values: (_u, vals) => vals.map((v) => (v === null ? "" : formatShort(v))), ...extra });
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
        axes: [axis("eigenvalue of WᵀW"), axis("density", { size: 56 })],
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
    this.latest.cancel();
    this.plot?.destroy();
    this.plot = null;
    this.unsubscribeTheme?.();
    this.unsubscribeTheme = null;
    clear(this.host);
  }
}
