/**
 * Text formatting of values for tooltips, colour bar ticks, card headers and parameter counts.
 * Pure functions, no DOM.
 */

/**
 * The shortest decimal string that reads back as the same float32.
 *
 * Example: formatFloat32(Math.fround(0.1)) === "0.1",
 * formatFloat32(Math.fround(1/3)) === "0.33333334", formatFloat32(NaN) === "NaN",
 * formatFloat32(Infinity) === "+Inf", formatFloat32(-Infinity) === "-Inf".
 */
export function formatFloat32(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const target = Math.fround(v);
  for (let p = 1; p <= 9; p++) {
    const s = target.toPrecision(p);
    if (Math.fround(Number(s)) === target) return tidy(s);
  }
  return tidy(target.toPrecision(9));
}

/** "1.50e-7" -> "1.5e-7", "2.000" -> "2": strip trailing zeros of a toPrecision string. */
function tidy(s: string): string {
  const [mant, exp] = s.split("e");
  let m = mant;
  if (m.includes(".")) m = m.replace(/0+$/, "").replace(/\.$/, "");
  return exp === undefined ? m : `${m}e${exp}`;
}

/**
 * A short label for colour bar ticks and min/max lines (3 significant digits).
 *
 * Example: formatShort(0.012345) === "0.0123", formatShort(-12345) === "-1.23e+4".
 */
export function formatShort(v: number): string {
  if (!Number.isFinite(v)) return formatFloat32(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return tidy(v.toExponential(2));
  return tidy(v.toPrecision(3));
}

/** Example: formatIndex([3, 17]) === "[3, 17]", formatIndex([]) === "[]". */
export function formatIndex(idx: readonly number[]): string {
  return `[${idx.join(", ")}]`;
}

/**
 * A half-open integer range as an inclusive label.
 *
 * Example: formatRange(4, 8) === "4–7", formatRange(4, 5) === "4".
 */
export function formatRange(start: number, end: number): string {
  return end - start <= 1 ? String(start) : `${start}–${end - 1}`;
}

/** Example: formatShape([3, 3, 16, 32]) === "3 × 3 × 16 × 32", formatShape([]) === "scalar". */
export function formatShape(shape: readonly number[]): string {
  return shape.length === 0 ? "scalar" : shape.join(" × ");
}

/**
 * A parameter count with thousands separators. Example: formatCount(55050) === "55,050".
 */
export function formatCount(n: number | null | undefined): string {
  if (typeof n !== "number" || !Number.isFinite(n)) return "–";
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}
