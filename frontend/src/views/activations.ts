/**
 * Activation charts of one layer (Beholder's activation view: which units fire): the
 * dead and saturated fraction of its units, and the mean and std of its activations (with
 * DL4J's 0.5–2 guidance band for std) over steps, runs overlaid by colour. Hidden when no
 * selected run has activation statistics for the layer (Keras runs, writers without
 * `watch`). One `GET activations?run=` per run and data version, shared by every section.
 *
 * Example:
 *   const ac = new ActivationCharts("relu");
 *   section.appendChild(ac.root); await ac.load([{run: "a", version: 12}], ["a"]);
 */
import { fetchActivations } from "../data/api";
import { latestOnly } from "../data/latest";
import type { Activations } from "../data/types";
import { SECOND_DASH, STD_BAND, STD_BAND_LABEL, activationSeries, layerActivations } from "../model/activations";
import { alignSeries, runColor } from "../model/series";
import { el } from "../ui/dom";
import { Chart } from "./chart";

/** The answers of `GET activations?run=` by run, with the data version they were fetched for. */
const cache = new Map<string, { version: number; promise: Promise<Activations | null> }>();

/** A run's activation statistics (null: none), fetched once per data version. */
export function runActivations(run: string, version: number): Promise<Activations | null> {
  const hit = cache.get(run);
  if (hit && hit.version === version) return hit.promise;
  const promise = fetchActivations(run).catch(() => null);
  cache.set(run, { version, promise });
  return promise;
}

export class ActivationCharts {
  readonly root: HTMLDivElement;
  private readonly fraction: Chart;
  private readonly moments: Chart;
  private readonly latest = latestOnly();

  constructor(readonly layer: string) {
    const attrs = { "data-layer": layer };
    this.fraction = new Chart({
      testid: "chart-act-fraction",
      title: "activations: dead / saturated fraction of units",
      attrs,
      log: false,
      yInclude: [0, 1],
      csvName: [layer || "layer", "activation_fractions"],
      readout: true,
      readoutHint: "Hover a line: dead (solid) = never active on the batch; saturated (dashed)",
    });
    this.moments = new Chart({
      testid: "chart-act-moments",
      title: "activations: mean / std",
      attrs,
      log: false,
      band: STD_BAND,
      bandLabel: STD_BAND_LABEL,
      csvName: [layer || "layer", "activation_moments"],
      readout: true,
      readoutHint: "Hover a line: mean (solid), std (dashed)",
    });
    this.root = el(
      "div",
      { className: "nv-chart-row", attrs: { "data-testid": "activation-charts", "data-layer": layer } },
      this.fraction.root,
      this.moments.root,
    );
    this.root.hidden = true;
  }

  /** Fetches (or reuses) the runs' statistics and draws this layer's; hidden when none has any. */
  async load(runs: readonly { run: string; version: number }[], order: readonly string[]): Promise<void> {
    const got = await this.latest.run(() => Promise.all(runs.map((r) => runActivations(r.run, r.version))));
    if (got === undefined) return;
    const entries = [];
    for (let k = 0; k < runs.length; k++) {
      const layer = layerActivations(got[k], this.layer);
      if (layer) entries.push({ run: runs[k].run, color: runColor(Math.max(0, order.indexOf(runs[k].run))), layer });
    }
    this.root.hidden = !entries.length;
    if (!entries.length) return;
    const multiRun = order.length > 1;
    const s = activationSeries(entries, multiRun);
    const runKey = multiRun ? entries.map((e) => ({ label: e.run, color: e.color })) : [];
    const muted = "var(--nv-muted)"; // the key follows the theme (Chart.setKey resolves it)
    for (const [chart, c, names] of [
      [this.fraction, s.fraction, ["dead", "saturated"]],
      [this.moments, s.moments, ["mean", "std"]],
    ] as const) {
      const { x, ys } = alignSeries(c.parts);
      chart.setData(x, c.series.map((m, i) => ({ ...m, values: ys[i] })));
      // Which statistics are drawn (solid: the first, dashed: the second), then the runs.
      const stats = names.filter((_, k) => c.series.some((m) => (m.dash !== undefined) === (k === 1)));
      chart.setKey([...stats.map((n) => ({ label: n, color: muted, dash: n === names[1] ? SECOND_DASH : [] })), ...runKey]);
    }
    this.root.setAttribute("data-loaded", "true");
  }

  resize(): void {
    this.fraction.resize();
    this.moments.resize();
  }

  dispose(): void {
    this.latest.cancel();
    this.fraction.destroy();
    this.moments.destroy();
  }
}
