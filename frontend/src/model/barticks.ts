/**
 * Tick labels for a heatmap's colour bar over [-m, m] that fit the bar's width. Pure.
 *
 * d3-scale picks round values and a precision that suits their spacing ("-0.05", "0",
 * "0.05" rather than "-0.0982", "0.0491"), and the count drops until the labels, at an
 * estimated width per character, no longer touch. Positions are in pixels along the bar,
 * with each label's centre kept far enough from the ends that it stays inside.
 *
 * Example: barTicks(0.0982, 240).map((t) => t.label) -> ["−0.05", "0", "0.05"];
 *          barTicks(0.0982, 240, true) labels "0", "0.02", ..., "0.08" (a magnitude bar);
 *          barTicks(4.9e-5, 240) labels "−4e-5", "−2e-5", "0", "2e-5", "4e-5".
 */
import { scaleLinear } from "d3-scale";

/** Width of one character of the 11 px tick font, on the wide side (DejaVu Sans digits are 7 px), and the space between labels. */
export const CHAR_PX = 7.4;
export const LABEL_GAP_PX = 10;

export interface BarTick {
  value: number;
  label: string;
  /** Centre of the label, in pixels from the bar's left end. */
  x: number;
}

function labelWidth(label: string): number {
  return label.length * CHAR_PX;
}

/**
 * The ticks over [-m, m] (a `magnitude` colour map's bar: [0, m]) on a bar `width`
 * pixels wide; [0] alone when m is not positive.
 */
export function barTicks(m: number, width: number, magnitude = false): BarTick[] {
  if (!(m > 0) || !Number.isFinite(m)) return [{ value: 0, label: "0", x: magnitude ? labelWidth("0") / 2 : width / 2 }];
  const scale = scaleLinear().domain([magnitude ? 0 : -m, m]).range([0, width]);
  for (let count = 7; count >= 1; count--) {
    const values = scale.ticks(count);
    // Fixed notation while it stays short; exponents for tiny or huge weights ("4e-5").
    const big = Math.max(...values.map(Math.abs));
    const fmt = scale.tickFormat(count, big !== 0 && (big < 1e-3 || big >= 1e4) ? "~e" : "~f");
    const ticks = values.map((value) => {
      const label = value === 0 ? "0" : fmt(value);
      const half = labelWidth(label) / 2;
      return { value, label, x: Math.min(width - half, Math.max(half, scale(value))) };
    });
    if (fits(ticks)) return ticks;
  }
  return [{ value: 0, label: "0", x: width / 2 }];
}

/** True when no two neighbouring labels overlap (with the gap between them). */
export function fits(ticks: readonly BarTick[]): boolean {
  for (let k = 1; k < ticks.length; k++) {
    const a = ticks[k - 1];
    const b = ticks[k];
    if (b.x - a.x < (labelWidth(a.label) + labelWidth(b.label)) / 2 + LABEL_GAP_PX) return false;
  }
  return true;
}
