/**
 * The heatmaps' two colour maps and the colours of NaN / +-Inf. Pure apart from
 * d3-scale-chromatic; no DOM.
 *
 *   "diverging" -> signed values on [-m, m]: blue (negative) - white (0) - red (positive)
 *   "viridis"   -> magnitudes |x| on [0, m] (the seed's map for |W| and update sizes):
 *                  dark purple (0) - green - yellow (m); the sign is not shown
 *
 * Example:
 *   const m = symmetricMax(-0.3, 0.31);         // 0.31
 *   rgbaOf(0, m)                -> the centre colour (near white)
 *   rgbaOf(-0.31, m)            -> the dark blue end, rgbaOf(NaN, m) -> NAN_RGBA (magenta)
 *   rgbaOf(-0.31, m, "viridis") -> viridis' yellow end, as rgbaOf(0.31, m, "viridis")
 */
import { rgb } from "d3-color";
import { interpolateRdBu, interpolateViridis } from "d3-scale-chromatic";
import { formatShort } from "./format";

export type Rgba = readonly [number, number, number, number];

/** LUT entries. Odd, so that 0 has an exact centre entry (index LUT_SIZE >> 1). */
export const LUT_SIZE = 257;
export const LUT_CENTER = LUT_SIZE >> 1;

/** Colours that appear nowhere on the blue-white-red map; shown in a legend when present. */
export const NAN_RGBA: Rgba = [255, 0, 255, 255]; // magenta
export const POSINF_RGBA: Rgba = [255, 214, 0, 255]; // yellow
export const NEGINF_RGBA: Rgba = [0, 200, 83, 255]; // green

/**
 * A LUT_SIZE x RGBA lookup table sampled from `interp` at t = i / (LUT_SIZE - 1).
 * Entry 0 is for -m, LUT_CENTER for 0, the last for +m.
 */
export function buildLut(interp: (t: number) => string, size = LUT_SIZE): Uint8ClampedArray {
  const lut = new Uint8ClampedArray(size * 4);
  for (let i = 0; i < size; i++) {
    const c = rgb(interp(i / (size - 1)));
    lut.set([c.r, c.g, c.b, 255], i * 4);
  }
  return lut;
}

export type ColormapName = "diverging" | "viridis";

/** The colour maps and their labels in a card's menu. */
export const COLORMAPS: [ColormapName, string][] = [
  ["diverging", "colours: signed (blue–red)"],
  ["viridis", "colours: |x| (viridis)"],
];

/** True when `name` is one of COLORMAPS (a URL may hold anything). */
export function isColormap(name: unknown): name is ColormapName {
  return COLORMAPS.some(([c]) => c === name);
}

/** True for the maps that colour |x| on [0, m] rather than x on [-m, m]. */
export function isMagnitude(cmap: ColormapName): boolean {
  return cmap === "viridis";
}

const cached = new Map<ColormapName, Uint8ClampedArray>();

/** The lookup table of `cmap` (entry 0 = -m, or 0 for a magnitude map; the last = m). Built once each. */
export function lutOf(cmap: ColormapName = "diverging"): Uint8ClampedArray {
  let lut = cached.get(cmap);
  if (!lut) {
    // RdBu reversed: negative = blue, 0 = near white, positive = red.
    lut = buildLut(cmap === "viridis" ? interpolateViridis : (t) => interpolateRdBu(1 - t));
    cached.set(cmap, lut);
  }
  return lut;
}

/**
 * The colours of NaN, +Inf and -Inf under `cmap`: none appears on the map itself
 * (viridis ends in yellow, so its +Inf is white and its -Inf red).
 */
export function specialColors(cmap: ColormapName = "diverging"): { nan: Rgba; posinf: Rgba; neginf: Rgba } {
  return cmap === "viridis"
    ? { nan: NAN_RGBA, posinf: [255, 255, 255, 255], neginf: [230, 0, 0, 255] }
    : { nan: NAN_RGBA, posinf: POSINF_RGBA, neginf: NEGINF_RGBA };
}

/**
 * Half-width m of the symmetric colour range [-m, m]: max(|min|, |max|) of the finite
 * values. 0 when there are none (null) or all are 0.
 *
 * Example: symmetricMax(-0.3, 0.31) === 0.31; symmetricMax(null, null) === 0.
 */
export function symmetricMax(min: number | null, max: number | null): number {
  const a = min === null || !Number.isFinite(min) ? 0 : Math.abs(min);
  const b = max === null || !Number.isFinite(max) ? 0 : Math.abs(max);
  return Math.max(a, b);
}

/**
 * LUT index of a finite value under range [-m, m] (a `magnitude` map: |v| on [0, m]);
 * values outside are clamped and m = 0 maps everything to the centre (the first entry).
 * Returns -1 for NaN, -2 for +Inf, -3 for -Inf.
 *
 * Example (LUT_SIZE 257): lutIndex(0, 1) === 128, lutIndex(1, 1) === 256, lutIndex(-5, 1) === 0,
 *   lutIndex(-0.5, 1, LUT_SIZE, true) === 128.
 */
export function lutIndex(v: number, m: number, size = LUT_SIZE, magnitude = false): number {
  if (Number.isNaN(v)) return -1;
  if (v === Infinity) return -2;
  if (v === -Infinity) return -3;
  const [origin, scale] = mapping(m, size, magnitude);
  const i = Math.round(origin + (magnitude ? Math.abs(v) : v) * scale);
  return i < 0 ? 0 : i > size - 1 ? size - 1 : i;
}

/** The LUT position of 0 and the entries per unit of value. */
function mapping(m: number, size: number, magnitude: boolean): [number, number] {
  const origin = magnitude ? 0 : (size - 1) / 2;
  const span = magnitude ? size - 1 : (size - 1) / 2;
  return [origin, m > 0 ? span / m : 0];
}

/** The RGBA colour of one value under `cmap`. */
export function rgbaOf(v: number, m: number, cmap: ColormapName = "diverging"): Rgba {
  const lut = lutOf(cmap);
  const i = lutIndex(v, m, lut.length / 4, isMagnitude(cmap));
  const special = specialColors(cmap);
  if (i === -1) return special.nan;
  if (i === -2) return special.posinf;
  if (i === -3) return special.neginf;
  return [lut[i * 4], lut[i * 4 + 1], lut[i * 4 + 2], lut[i * 4 + 3]];
}

/**
 * Colours `values` into `out` (RGBA bytes, 4 per value), e.g. an ImageData's data.
 */
export function colorize(values: Float32Array, m: number, out: Uint8ClampedArray, cmap: ColormapName = "diverging"): void {
  const lut = lutOf(cmap);
  const size = lut.length / 4;
  const magnitude = isMagnitude(cmap);
  const [origin, scale] = mapping(m, size, magnitude);
  const special = specialColors(cmap);
  for (let k = 0, o = 0; k < values.length; k++, o += 4) {
    const v = values[k];
    let src: Rgba | null = null;
    let i: number;
    if (v === v && v !== Infinity && v !== -Infinity) {
      i = Math.round(origin + (magnitude && v < 0 ? -v : v) * scale);
      if (i < 0) i = 0;
      else if (i > size - 1) i = size - 1;
      i *= 4;
      out[o] = lut[i];
      out[o + 1] = lut[i + 1];
      out[o + 2] = lut[i + 2];
      out[o + 3] = lut[i + 3];
      continue;
    }
    src = v !== v ? special.nan : v > 0 ? special.posinf : special.neginf;
    out[o] = src[0];
    out[o + 1] = src[1];
    out[o + 2] = src[2];
    out[o + 3] = src[3];
  }
}

/**
 * The colour range in words: "±0.31" for the diverging map, "|x| 0–0.31" for a magnitude map.
 *
 * Example: rangeText(0.31, "viridis") === "|x| 0–0.31"
 */
export function rangeText(m: number, cmap: ColormapName = "diverging"): string {
  return isMagnitude(cmap) ? `|x| 0–${formatShort(m)}` : `±${formatShort(m)}`;
}

/** "rgb(r, g, b)" of an Rgba, for CSS. */
export function cssColor(c: Rgba): string {
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}
