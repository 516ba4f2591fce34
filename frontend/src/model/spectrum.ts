/**
 * The eigenvalue density of one step's spectrum, for the log-log plot of a layer's
 * spectral charts (views/spectral.ts): a log-binned histogram of the eigenvalues and the
 * fitted power-law tail at the same points. Pure, no DOM.
 */
import type { SpectrumFit } from "../data/types";

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
