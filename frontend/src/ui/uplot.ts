/**
 * uPlot in the tab: its stylesheet (bundled as text, injected once: the CSP allows
 * inline styles) and axes in the tab's theme, shared by the line charts (views/chart.ts),
 * the spectrum plot (views/spectral.ts) and the path plots (views/pathview.ts).
 *
 * Example:
 *   injectChartStyle(document);
 *   new uPlot({axes: [themedAxis({label: "step", labelSize: 18}), themedAxis({size: 56})], ...}, data, host);
 *   onThemeChange(() => plot.redraw(false, false));
 */
import type uPlot from "uplot";
import uplotCss from "uplot/dist/uPlot.min.css";
import { injectStyleOnce } from "./dom";
import { themeVar } from "./theme";

/** Injects uPlot's stylesheet once (the bundle is one JS file; the CSP allows inline styles). */
export function injectChartStyle(doc: Document = document): void {
  injectStyleOnce(doc, "nnviz-uplot-style", uplotCss);
}

/**
 * A uPlot axis in the tab's theme: colours are functions, which uPlot calls on every
 * draw, so a redraw after a theme change picks up the new colours.
 */
export function themedAxis(extra: Partial<uPlot.Axis> = {}): uPlot.Axis {
  const gridColor = () => themeVar("--nv-grid", "#e0e0e0");
  return {
    stroke: () => themeVar("--nv-axis", "#616161"),
    grid: { stroke: gridColor, width: 1 },
    ticks: { stroke: gridColor, width: 1 },
    font: "11px Roboto, system-ui, sans-serif",
    ...extra,
  };
}
