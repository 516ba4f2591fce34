/**
 * Activation statistics (`GET activations?run=`, written by `tb_nnviz.torch.watch`): which
 * layers have them, the chart series of one layer over the selected runs (dead and
 * saturated fraction; mean and std with DL4J's 0.5–2 guidance band for std), and the
 * label of an activation heatmap (`<layer>/activations`: samples down, units across).
 *
 * Example:
 *   const s = activationSeries([{run: "a", color: "#1f77b4", layer: resp.layers[1]}], false);
 *   s.fraction.series[0].label === "dead"; s.moments.series[1].label === "std"
 */
import type { ActivationLayer, Activations, TagInfo } from "../data/types";
import { formatShort } from "./format";
import type { ChartSeries, XY } from "./series";

/** The suffix of activation heatmap tensors. */
export const ACTIVATION_SUFFIX = "/activations";

/** DL4J's guidance for the standard deviation of a layer's activations. */
export const STD_BAND: readonly [number, number] = [0.5, 2];
export const STD_BAND_LABEL = "std 0.5–2 (DL4J guidance)";

/** True for an activation heatmap tensor. Example: isActivationTag("relu/activations") === true. */
export function isActivationTag(tag: string): boolean {
  return tag.endsWith(ACTIVATION_SUFFIX);
}

/**
 * The label of an activation heatmap at `step`: what its rows and columns are.
 *
 * Example: activationHeading([8, 16], 12) === "activations: 8 samples × 16 units at step 12".
 */
export function activationHeading(shape: readonly number[], step: number | null): string {
  const samples = shape[0] ?? 0;
  const units = shape.slice(1).reduce((a, b) => a * b, 1);
  const at = step === null ? "" : ` at step ${step}`;
  return `activations: ${samples} sample${samples === 1 ? "" : "s"} × ${units} unit${units === 1 ? "" : "s"}${at}`;
}

/**
 * A run's statistics of `layer`: the layer named so, else (module names the tags
 * shortened) none. The model input ("input", kind "input") is never a layer's.
 */
export function layerActivations(resp: Activations | null | undefined, layer: string): ActivationLayer | null {
  if (!resp) return null;
  return resp.layers.find((l) => l.layer === layer && l.kind !== "input") ?? null;
}

/**
 * The model input's statistics at its latest logged step (the probe batch the activations
 * are measured on), as the structure view states them; null when the run logged none.
 *
 * Example: inputSummary({layers: [{layer: "input", kind: "input", step: [0, 40], mean: [0, 0.5],
 *   std: [1, 30], min: [-1, -98], max: [1, 104], ...}], ...}) ->
 *   {step: 40, text: "model input at step 40: mean 0.5 · std 30 · range -98 to 104"}
 */
export function inputSummary(resp: Activations | null | undefined): { step: number; text: string } | null {
  const input = resp?.layers.find((l) => l.kind === "input");
  if (!input || !input.step.length) return null;
  const k = input.step.length - 1;
  const at = (xs: (number | null)[] | undefined) => {
    const v = xs?.[k];
    return typeof v === "number" && Number.isFinite(v) ? formatShort(v) : "–";
  };
  const nan = input.nan_count?.[k];
  const text =
    `model input at step ${input.step[k]}: mean ${at(input.mean)} · std ${at(input.std)} · range ${at(input.min)} to ${at(input.max)}` +
    (typeof nan === "number" && nan > 0 ? ` · ${nan} NaN/Inf` : "");
  return { step: input.step[k], text };
}

/**
 * A run's data version for the activation cache: the logged steps of its tensors (a
 * reload that adds steps changes it).
 *
 * Example: runVersion({"a/w": {steps: [0, 10], trajectory_steps: 3}}) === 5.
 */
export function runVersion(tags: Record<string, Pick<TagInfo, "steps" | "trajectory_steps">> | undefined): number {
  let n = 0;
  for (const info of Object.values(tags ?? {})) n += (info.steps?.length ?? 0) + (info.trajectory_steps ?? 0);
  return n;
}

/**
 * True when a run lists activation heatmaps: the runs whose activation statistics the tab
 * asks for (the route answers 404 for the others, which browsers log as console errors).
 *
 * Example: hasActivationTensors({"relu/activations": i}) === true.
 */
export function hasActivationTensors(tags: Record<string, unknown> | undefined): boolean {
  return Object.keys(tags ?? {}).some(isActivationTag);
}

/** One chart's series before alignment (parts: each series' own steps and values). */
export interface ActivationChart {
  parts: XY[];
  series: ChartSeries[];
}

const hasValues = (vs: readonly (number | null)[] | undefined): vs is (number | null)[] =>
  Array.isArray(vs) && vs.some((v) => v !== null && v !== undefined && Number.isFinite(v));

/** Dash of the second statistic of a chart (saturated, std). */
export const SECOND_DASH = [6, 3];

/**
 * The two charts of one layer over runs: `fraction` (dead, saturated: only those some run
 * logged) and `moments` (mean, std). Labels name the run when `multiRun`.
 */
export function activationSeries(
  entries: readonly { run: string; color: string; layer: ActivationLayer }[],
  multiRun: boolean,
): { fraction: ActivationChart; moments: ActivationChart } {
  const chart = (fields: [keyof ActivationLayer, string][]): ActivationChart => {
    const out: ActivationChart = { parts: [], series: [] };
    for (const e of entries) {
      fields.forEach(([field, name], k) => {
        const vs = e.layer[field] as (number | null)[] | undefined;
        if (!hasValues(vs)) return;
        out.parts.push({ x: e.layer.step, y: vs });
        out.series.push({
          label: multiRun ? `${e.run} · ${name}` : name,
          color: e.color,
          dash: k ? SECOND_DASH : undefined,
          values: [],
          key: { run: e.run, stat: String(field) },
        });
      });
    }
    return out;
  };
  return {
    fraction: chart([
      ["dead_fraction", "dead"],
      ["saturated_fraction", "saturated"],
    ]),
    moments: chart([
      ["mean", "mean"],
      ["std", "std"],
    ]),
  };
}
