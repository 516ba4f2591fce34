/**
 * The structure view (in place of a link to TensorBoard's Graphs tab, which shows
 * "Malformed GraphDef" for Keras 3 logs): the layers of the run picked in the header (the
 * one the overview lists) in network order with type, shapes and parameter count, each
 * coloured by its latest update ratio against the 1e-3 band (a legend says which colour
 * means what); and the "gradient flow" chart: latest update ratio against layer depth,
 * one line per selected run, so a vanishing first layer or a stopped one shows at a
 * glance, with each run's gradient ratio |g|/|W| as a dashed line when it logged gradients.
 *
 * Example:
 *   const sv = new StructurePanel((run) => tags.runs[run], (run, layer) => app.revealLayer(run, layer));
 *   body.appendChild(sv.root); await sv.update(["healthy", "vanishing"], "healthy");
 */
import { fetchOverview, fetchSpectralRun } from "../data/api";
import { latestOnly } from "../data/latest";
import type { OverviewRow, SpectralRun, TagInfo } from "../data/types";
import { hasActivationTensors, inputSummary, runVersion } from "../model/activations";
import { isLargeModel } from "../model/blocks";
import { type Broken, brokenText, looksBroken } from "../model/broken";
import { formatCount, formatShape, formatShort } from "../model/format";
import { type LayerRow, layerRows } from "../model/layerstats";
import { byNetworkOrder } from "../model/order";
import { type ChartSeries, HEALTH, HEALTHY_BAND, healthText, perStepNote, ratioHealth, runColor, tensorDash } from "../model/series";
import { clear, el } from "../ui/dom";
import { runActivations } from "./activations";
import { brokenOf } from "./broken";
import { Chart } from "./chart";

/**
 * A layer's alpha for the structure view: the alpha of its tensor with a spectrum
 * (`<layer>/...` in `GET spectral?run=`), the first with a fit in network order; null
 * when none has one.
 *
 * Example: layerAlpha({"d/kernel": {alpha: 3.1, num_evals: 64, ...}, "d/bias": ...}, "d") -> {tag: "d/kernel", alpha: 3.1, evals: 64}
 */
export function layerAlpha(tensors: SpectralRun["tensors"] | undefined, layer: string): { tag: string; alpha: number; evals: number | null } | null {
  if (!tensors) return null;
  const mine = Object.entries(tensors)
    .filter(([t]) => t.slice(0, t.lastIndexOf("/") < 0 ? 0 : t.lastIndexOf("/")) === layer)
    .sort((a, b) => (a[1].index ?? 0) - (b[1].index ?? 0));
  for (const [tag, m] of mine) if (typeof m.alpha === "number" && Number.isFinite(m.alpha)) return { tag, alpha: m.alpha, evals: m.num_evals ?? null };
  return null;
}

/** The legend of the layer bars: health class (see ratioHealth), glyph and what it means. */
export const HEALTH_LEGEND: [health: string, text: string][] = [
  ...(["ok", "large", "tiny", "stopped"] as const).map((h): [string, string] => [h, `${HEALTH[h].glyph} ${HEALTH[h].word}: ${HEALTH[h].rule}`]),
  ["none", "no ratio logged"],
];

const FLOW_TITLE = "|dW| / |W| per step by layer depth (latest step)";
/** The gradient-ratio lines' dash. */
const GRAD_DASH = tensorDash(1);

/** The alpha band the findings use ([2, 6], `band` of the spectral route). */
const ALPHA_BAND: readonly [number, number] = [2, 6];
/** Fewest eigenvalues whose alpha the findings judge (`min_evals` of the spectral route). */
const MIN_EVALS = 50;

/**
 * How the structure view shows an alpha: "low" / "high" only where the findings would
 * flag it (outside the band, from enough eigenvalues), "noise" when too few eigenvalues
 * back it, else "ok".
 *
 * Example: alphaVerdict(1.5, 64) === "low"; alphaVerdict(1.5, 10) === "noise"; alphaVerdict(3, 64) === "ok".
 */
export function alphaVerdict(alpha: number, evals: number | null, band: readonly [number, number] = ALPHA_BAND, minEvals = MIN_EVALS): "low" | "high" | "noise" | "ok" {
  if (evals === null || evals < minEvals) return "noise";
  return alpha < band[0] ? "low" : alpha > band[1] ? "high" : "ok";
}

export class StructurePanel {
  readonly root: HTMLDetailsElement;
  private readonly list: HTMLDivElement;
  /** The model input's statistics (runs with activation statistics), above the layers. */
  private readonly input: HTMLDivElement;
  private readonly chart: Chart;
  private readonly legend: HTMLDivElement;
  private readonly alphaKey: HTMLSpanElement;
  /** The legend's entry for NaN layers' red bar, shown when the listed run has one. */
  private readonly nanKey: HTMLSpanElement;
  private readonly latest = latestOnly();
  /** The run whose layers are listed (the chart shows every selected run). */
  private run: string | null = null;
  private filter: RegExp | null | undefined = undefined;
  /** Broken layers' last finite ratio and NaN step, by run and layer. */
  private broken = new Map<string, Map<string, Broken>>();
  private last: { run: string; layers: LayerRow[]; rows: OverviewRow[]; spectra?: SpectralRun; }[] = [];

  constructor(
    private readonly tagsOf: (run: string) => Record<string, TagInfo>,
    private readonly onPick: (run: string, tag: string) => void,
  ) {
    this.list = el("div", { className: "nv-layers", attrs: { "data-testid": "structure-layers" } });
    this.input = el("div", {
      className: "nv-structure-input",
      title: "The batch the activation statistics are measured on. Inputs far from unit scale (std or values well above 1) slow or stall training: the findings call them unnormalized_inputs.",
      attrs: { "data-testid": "structure-input" },
    });
    this.input.hidden = true;
    this.alphaKey = el("span", { className: "nv-layer-alpha nv-alpha-out", text: `alpha low / high: outside 2–6 (from ${MIN_EVALS}+ eigenvalues; "(?)": too few to judge)` });
    this.alphaKey.hidden = true;
    this.nanKey = el(
      "span",
      { attrs: { "data-testid": "structure-legend-nan", "data-health": "nan" } },
      el("span", { className: "nv-health-key nv-health-nan" }),
      document.createTextNode("✖ NaN/Inf weights: the last finite ratio and the step NaN started"),
    );
    this.nanKey.hidden = true;
    this.legend = el(
      "div",
      { className: "nv-health-legend", attrs: { "data-testid": "structure-legend" }, title: "The bar on each layer's left: its latest update ratio per optimizer step (the findings' definition)" },
      el("span", { text: "|dW|/|W| per step (left bar):" }),
      ...HEALTH_LEGEND.map(([health, text]) =>
        el("span", { attrs: { "data-testid": "structure-legend-item", "data-health": health } }, el("span", { className: `nv-health-key nv-health-${health}` }), document.createTextNode(text)),
      ),
      this.nanKey,
      this.alphaKey,
    );
    this.chart = new Chart({
      testid: "chart-flow",
      title: FLOW_TITLE,
      log: true,
      band: HEALTHY_BAND,
      csvName: ["update-ratio-by-depth"],
      csvX: "depth",
      xLabel: "layer depth (network order)",
      xInteger: true,
      readout: true,
      readoutHint: "Hover a line for its run and the layer's ratio",
    });
    this.root = el(
      "details",
      { className: "nv-panel", attrs: { "data-testid": "structure-panel" } },
      el("summary", { text: "Model structure" }),
      el("div", { className: "nv-structure" }, el("div", { className: "nv-layers-box" }, this.legend, this.input, this.list), this.chart.root),
    );
    this.root.open = true;
  }

  /** Fetches every selected run's overview; lists the layers of `run`, charts all. */
  async update(runs: readonly string[], run: string | null): Promise<void> {
    this.run = run;
    const fetched = await this.latest.run(() =>
      Promise.all([
        Promise.allSettled(runs.map((r) => fetchOverview(r))),
        Promise.allSettled(runs.map((r) => fetchSpectralRun(r))), // 404 for runs without spectra
      ]),
    );
    if (fetched === undefined) return;
    const [results, spectra] = fetched;
    const perRun = results.map((res, k) => {
      const tags = this.tagsOf(runs[k]);
      const rows = res.status === "fulfilled" ? byNetworkOrder(res.value, (r) => r.name, [tags]) : [];
      const sp = spectra[k];
      return { run: runs[k], layers: layerRows(rows, tags), rows, spectra: sp.status === "fulfilled" ? sp.value : undefined };
    });
    this.last = perRun;
    this.broken = new Map();
    this.showLayers();
    this.drawChart();
    void this.findBroken(perRun);
  }

  /**
   * Layers whose latest ratio is NaN: their last finite ratio and the step NaN started,
   * from the largest tensor's trajectory; the list and the chart are redrawn with them.
   */
  private async findBroken(perRun: typeof this.last): Promise<void> {
    const jobs: Promise<void>[] = [];
    const found = new Map<string, Map<string, Broken>>();
    for (const p of perRun) {
      const mine = new Map<string, Broken>();
      found.set(p.run, mine);
      for (const l of p.layers) {
        if (l.ratio !== null) continue;
        const rows = p.rows.filter((r) => r.layer === l.layer);
        const big = rows.reduce<OverviewRow | null>((a, r) => (a === null || r.parameters > a.parameters ? r : a), null);
        if (!big || !rows.some((r) => looksBroken(r))) continue;
        jobs.push(
          brokenOf(p.run, big.name, big.step).then((b) => {
            if (b && b.nanStep !== null) mine.set(l.layer, b);
          }),
        );
        if (jobs.length >= 400) break;
      }
    }
    if (!jobs.length) return;
    await Promise.all(jobs);
    if (this.last !== perRun) return; // a newer update came first
    this.broken = found;
    this.showLayers();
    this.drawChart();
  }

  /** Ratio (or, for a broken layer, its last finite ratio) against depth, one line per run. */
  private drawChart(): void {
    const perRun = this.last;
    const depth = Math.max(0, ...perRun.map((p) => p.layers.length));
    const x = Array.from({ length: depth }, (_, k) => k + 1);
    const ratioAt = (p: (typeof perRun)[number], d: number) => {
      const l = p.layers[d - 1];
      if (!l) return null;
      return l.ratio ?? this.broken.get(p.run)?.get(l.layer)?.value ?? null;
    };
    const series: ChartSeries[] = perRun.map((p, k) => ({
      label: p.run,
      color: runColor(k),
      values: x.map((d) => ratioAt(p, d)),
      key: { run: p.run, stat: "update_ratio" },
    }));
    // Gradient ratios (runs that logged gradients): dashed, in the run's colour.
    const grads = perRun.filter((p) => p.layers.some((l) => l.gradRatio !== null));
    for (const p of grads) {
      series.push({
        label: `${p.run} · |g|/|W|`,
        color: runColor(perRun.indexOf(p)),
        dash: GRAD_DASH,
        values: x.map((d) => p.layers[d - 1]?.gradRatio ?? null),
        key: { run: p.run, stat: "grad_ratio" },
      });
    }
    const anyBroken = [...this.broken.values()].some((m) => m.size > 0);
    const base = grads.length ? "|dW| / |W| per step (solid) and |g| / |W| (dashed) by layer depth (latest step)" : FLOW_TITLE;
    this.chart.setTitle(anyBroken ? `${base}; NaN layers: their last finite ratio` : base);
    const shown = perRun.find((p) => p.run === this.run) ?? perRun[0];
    this.chart.setXNames(x.map((d) => shown?.layers[d - 1]?.layer ?? ""), "layer");
    this.chart.setData(x, series);
    const muted = "var(--nv-muted)";
    this.chart.setKey([
      ...perRun.map((p, k) => ({ label: p.run, color: runColor(k) })),
      ...(grads.length ? [{ label: "|dW|/|W|", color: muted, dash: [] }, { label: "|g|/|W|", color: muted, dash: GRAD_DASH }] : []),
    ]);
  }

  /** Lists only layers with a tensor matching `re` (large models; undefined: all). */
  setFilter(re: RegExp | null | undefined): void {
    if (re === this.filter) return;
    this.filter = re;
    this.showLayers();
  }

  /** Lists the layers of `run` (one of the selected runs; no refetch). */
  show(run: string | null): void {
    this.run = run;
    this.showLayers();
  }

  resize(): void {
    this.chart.resize();
  }

  /** Lists the chosen run's layers, input to output. */
  private showLayers(): void {
    clear(this.list);
    const shown = this.last.find((p) => p.run === this.run);
    this.list.setAttribute("data-run", this.run ?? "");
    void this.showInput(shown?.run ?? null);
    this.alphaKey.hidden = !shown?.layers.some((l) => layerAlpha(shown.spectra?.tensors, l.layer));
    this.nanKey.hidden = !shown || !this.broken.get(shown.run)?.size;
    if (!shown) return;
    // A large model's layers scroll in their own box (ResNet-50 has 107).
    this.list.classList.toggle("nv-layers-scroll", isLargeModel(shown.layers.length));
    const re = this.filter;
    for (const l of shown.layers) {
      if (re !== undefined && !(re !== null && shown.rows.some((r) => r.layer === l.layer && re.test(r.name)))) continue;
      this.list.appendChild(this.box(shown.run, l, shown.rows.find((r) => r.layer === l.layer)?.name, layerAlpha(shown.spectra?.tensors, l.layer), shown.spectra));
    }
  }

  /** The input line of `run`: its statistics, or hidden when it logged none. */
  private async showInput(run: string | null): Promise<void> {
    const tags = run === null ? undefined : this.tagsOf(run);
    const got = run !== null && hasActivationTensors(tags) ? inputSummary(await runActivations(run, runVersion(tags))) : null;
    if (run !== this.run) return; // another run was picked meanwhile
    this.input.hidden = !got;
    this.input.textContent = got?.text ?? "";
  }

  private box(run: string, l: LayerRow, tag: string | undefined, alpha: ReturnType<typeof layerAlpha>, spectra?: SpectralRun): HTMLElement {
    const broken = this.broken.get(run)?.get(l.layer) ?? null;
    const health = broken ? null : ratioHealth(l.ratio);
    const word = health ? `${HEALTH[health].glyph} ${HEALTH[health].word}` : "";
    const b = el(
      "button",
      {
        className: `nv-layer nv-health-${health ?? "none"}`,
        title: `${health ? `${healthText(health)}\n` : ""}${perStepNote(l.ratioSteps)}\nClick: scroll to this layer`,
        attrs: { type: "button", "data-testid": "structure-layer", "data-layer": l.layer, "data-health": health ?? "" },
      },
      el("span", { className: "nv-layer-name", text: `${l.depth}. ${l.layer || "(none)"}` }),
      el("span", { className: "nv-layer-type", text: l.type }),
      el("span", { className: "nv-layer-shape", text: l.shapes.map(formatShape).join(" + ") }),
      el("span", { className: "nv-layer-params", text: `${formatCount(l.parameters)} params` }),
      el("span", {
        className: broken ? "nv-layer-ratio nv-bad" : "nv-layer-ratio",
        text: broken ? `|dW|/|W| ${brokenText(broken)}` : l.ratio === null ? "|dW|/|W| –" : `|dW|/|W| ${formatShort(l.ratio)}/step${word ? ` ${word}` : ""}`,
        attrs: { "data-testid": "structure-ratio" },
      }),
    );
    if (broken) {
      b.classList.replace("nv-health-none", "nv-health-nan");
      b.setAttribute("data-health", "nan");
      b.title = `NaN/Inf weights from step ${broken.nanStep}; the ratio shown is the last finite one${broken.step === null ? "" : ` (step ${broken.step})`}\nClick: scroll to this layer`;
    }
    if (alpha) {
      const band = spectra?.band ?? ALPHA_BAND;
      const minEvals = spectra?.min_evals ?? MIN_EVALS;
      const verdict = alphaVerdict(alpha.alpha, alpha.evals, band, minEvals);
      const out = verdict === "low" || verdict === "high" ? verdict : "";
      const about = `${alpha.tag}: power-law exponent of the latest spectrum (${band[0]}–${band[1]}: well trained)`;
      b.appendChild(
        el("span", {
          className: `nv-layer-alpha${out ? " nv-alpha-out" : ""}${verdict === "noise" ? " nv-alpha-noise" : ""}`,
          text: `alpha ${formatShort(alpha.alpha)}${out ? ` ${out}` : verdict === "noise" ? " (?)" : ""}`,
          title:
            verdict === "noise"
              ? `${about}. Too few eigenvalues to judge: ${alpha.evals ?? 0} < ${minEvals}, so the fit is noise and the findings ignore it.`
              : about,
          attrs: { "data-testid": "structure-alpha", "data-verdict": verdict },
        }),
      );
      b.setAttribute("data-alpha", String(alpha.alpha));
    }
    if (tag) b.addEventListener("click", () => this.onPick(run, tag));
    return b;
  }
}
