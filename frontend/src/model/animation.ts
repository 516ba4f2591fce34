/**
 * What an exported heatmap animation shows: which logged steps become frames and the one
 * colour range they share (so a colour means the same value in every frame). Pure.
 *
 * Example:
 *   animationSteps([0, 10, 20], "none") -> [0, 10, 20]
 *   animationSteps([0, 10, 20], "prev") -> [10, 20]      (step 0 has no previous step)
 *   sharedRange([{min: -0.2, max: 0.1}, {min: -0.05, max: 0.3}]) === 0.3
 */
import type { DiffMode } from "../data/types";
import { symmetricMax } from "./colormap";

/** The frames' steps: every logged step, but the first for a change since the previous step. */
export function animationSteps(steps: readonly number[], mode: DiffMode): number[] {
  return mode === "prev" ? steps.slice(1) : [...steps];
}

/** max |x| over the frames' finite min / max (0 when there is none): the half-width every frame uses. */
export function sharedRange(headers: readonly { min: number | null; max: number | null }[]): number {
  return headers.reduce((m, h) => Math.max(m, symmetricMax(h.min, h.max)), 0);
}
