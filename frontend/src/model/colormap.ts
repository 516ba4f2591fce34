/**
 * Diverging colour lookup, symmetric scaling around 0, and the colours of NaN / +-Inf.
 * Pure apart from d3-scale-chromatic; no DOM.
 *
 * Example:
 *   const lut = divergingLut();                 // blue (negative) - white - red (positive)
 *   const m = symmetricMax(-0.3, 0.31);         // 0.31
 *   rgbaOf(0, m, lut)      -> the centre colour (near white)
 *   rgbaOf(-0.31, m, lut)  -> the dark blue end, rgbaOf(NaN, m, lut) -> NAN_RGBA (magenta)
 */
import { rgb } from "d3-color";
import { interpolateRdBu } from "d3-scale-chromatic";

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

let cached: Uint8ClampedArray | null = null;

/** RdBu reversed: negative = blue, 0 = near white, positive = red. Built once. */
export function divergingLut(): Uint8ClampedArray {
  if (!cached) cached = buildLut((t) => interpolateRdBu(1 - t));
  return cached;
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
 * LUT index of a finite value under range [-m, m]; values outside are clamped and
 * m = 0 maps everything to the centre. Returns -1 for NaN, -2 for +Inf, -3 for -Inf.
 *
 * Example (LUT_SIZE 257): lutIndex(0, 1) === 128, lutIndex(1, 1) === 256, lutIndex(-5, 1) === 0.
 */
export function lutIndex(v: number, m: number, size = LUT_SIZE): number {
  if (Number.isNaN(v)) return -1;
  if (v === Infinity) return -2;
  if (v === -Infinity) return -3;
  const centre = (size - 1) / 2;
  if (!(m > 0)) return Math.round(centre);
  const i = Math.round(centre + (v / m) * centre);
  return i < 0 ? 0 : i > size - 1 ? size - 1 : i;
}

/** The RGBA colour of one value. */
export function rgbaOf(v: number, m: number, lut: Uint8ClampedArray = divergingLut()): Rgba {
  const i = lutIndex(v, m, lut.length / 4);
  if (i === -1) return NAN_RGBA;
  if (i === -2) return POSINF_RGBA;
  if (i === -3) return NEGINF_RGBA;
  return [lut[i * 4], lut[i * 4 + 1], lut[i * 4 + 2], lut[i * 4 + 3]];
}

/**
 * Colours `values` into `out` (RGBA bytes, 4 per value), e.g. an ImageData's data.
 */
export function colorize(
  values: Float32Array,
  m: number,
  out: Uint8ClampedArray,
  lut: Uint8ClampedArray = divergingLut(),
): void {
  const size = lut.length / 4;
  const centre = (size - 1) / 2;
  const scale = m > 0 ? centre / m : 0;
  for (let k = 0, o = 0; k < values.length; k++, o += 4) {
    const v = values[k];
    let src: Rgba | null = null;
    let i: number;
    if (v === v && v !== Infinity && v !== -Infinity) {
      i = Math.round(centre + v * scale);
      if (i < 0) i = 0;
      else if (i > size - 1) i = size - 1;
      i *= 4;
      out[o] = lut[i];
      out[o + 1] = lut[i + 1];
      out[o + 2] = lut[i + 2];
      out[o + 3] = lut[i + 3];
      continue;
    }
    src = v !== v ? NAN_RGBA : v > 0 ? POSINF_RGBA : NEGINF_RGBA;
    out[o] = src[0];
    out[o + 1] = src[1];
    out[o + 2] = src[2];
    out[o + 3] = src[3];
  }
}

/** "rgb(r, g, b)" of an Rgba, for CSS. */
export function cssColor(c: Rgba): string {
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}
