/**
 * Performance marks the end-to-end tests read with performance.getEntriesByName:
 *   "nnviz-redraw"       one measure per heatmap redraw (decode + colour LUT + putImageData)
 *   "nnviz-interactive"  one measure, from navigation start to the first drawn card
 *
 * Example:
 *   const t = redrawStart(); decode(); draw(); redrawEnd(t);
 *   performance.getEntriesByName("nnviz-redraw").at(-1).duration  // ms
 */

export const REDRAW = "nnviz-redraw";
export const INTERACTIVE = "nnviz-interactive";

let interactiveDone = false;
let seq = 0;

/** Marks the start of a redraw; pass the returned name to redrawEnd. */
export function redrawStart(): string | null {
  if (typeof performance === "undefined" || !performance.mark) return null;
  const name = `${REDRAW}-start-${seq++}`;
  performance.mark(name);
  return name;
}

/** Measures "nnviz-redraw" from `start`; the first call also measures "nnviz-interactive". */
export function redrawEnd(start: string | null): void {
  if (start === null) return;
  try {
    performance.measure(REDRAW, start);
    performance.clearMarks(start);
    if (!interactiveDone) {
      interactiveDone = true;
      performance.measure(INTERACTIVE);
    }
  } catch {
    // a cleared mark or an old browser: timing is best effort
  }
}
