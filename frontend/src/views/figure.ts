/**
 * The PNG a card exports: a title (run and tensor), a line saying what is shown (step,
 * mode, colour range), the heatmap as drawn (zoom included) with its axis labels (what
 * the rows, columns and tiles are), the colour bar with its tick labels, and the legend
 * of the NaN / ±Inf colours when the heatmap holds any, so a saved picture reads on its own. Layout is pure (`figureLayout`);
 * `drawFigure` paints it on a new canvas in the current theme's colours.
 *
 * Example:
 *   const c = drawFigure({title: "train · dense/kernel", subtitle: "step 90 · weights · colour ±0.31",
 *                         heatmap: view.canvas, m: 0.31, fg: "#212121", bg: "#fff"});
 *   c.toBlob((b) => download(b!, "x.png"));
 */
import type { DiffMode } from "../data/types";
import { barTicks } from "../model/barticks";
import { type ColormapName, cssColor, isMagnitude, rangeText } from "../model/colormap";
import { safeFilename } from "../model/csv";
import type { HeatAxes } from "../model/heataxes";
import { download } from "../ui/dom";
import { themeVar } from "../ui/theme";
import { type SpecialItem, lutStrip } from "./colorbar";

/** Sizes in CSS pixels (the canvas is scaled by the device pixel ratio). */
export const PAD = 12;
export const TITLE_PX = 14;
export const LINE_PX = 12;
export const BAR_H = 12;
export const TICK_PX = 11;
export const MIN_BAR_W = 240;
/** Room for the axis labels: the column label's line above, the row label's column left of the heatmap. */
export const AXIS_PX = 16;
/** The NaN / ±Inf legend's line under the colour bar's ticks (when there is one). */
export const LEGEND_PX = 16;

export interface FigureLayout {
  width: number;
  height: number;
  titleY: number;
  subtitleY: number;
  heat: { x: number; y: number; w: number; h: number };
  /** Baseline-free top of the column label, and the centre x of the row label (with axes). */
  colLabelY: number;
  rowLabelX: number;
  bar: { x: number; y: number; w: number; h: number };
  ticksY: number;
  /** Top of the NaN / ±Inf legend's line (with `legend`; else the picture ends above it). */
  legendY: number;
}

/**
 * Where each part goes for a heatmap of heatW x heatH CSS pixels: the picture is at
 * least as wide as the colour bar, and always larger than the heatmap alone. With
 * `axes`, room for the column label above the heatmap and the row label left of it; with
 * `legend`, a line for the NaN / ±Inf legend under the ticks.
 *
 * Example: figureLayout(128, 64) -> {width: 264, height: 164, heat: {x: 12, y: 52, ...}, ...};
 *   figureLayout(128, 64, true) -> {width: 280, height: 180, heat: {x: 28, y: 68, ...}, ...};
 *   figureLayout(128, 64, false, true).height === 180
 */
export function figureLayout(heatW: number, heatH: number, axes = false, legend = false): FigureLayout {
  const left = axes ? AXIS_PX : 0;
  const barW = Math.max(MIN_BAR_W, Math.min(heatW, 400));
  const width = Math.max(heatW, barW) + 2 * PAD + left;
  const titleY = PAD;
  const subtitleY = titleY + TITLE_PX + 6;
  const colLabelY = subtitleY + LINE_PX + 8;
  const heatY = colLabelY + (axes ? AXIS_PX : 0);
  const barY = heatY + heatH + 10;
  const ticksY = barY + BAR_H + 3;
  const legendY = ticksY + TICK_PX + 5;
  return {
    width,
    height: (legend ? legendY + LEGEND_PX - 5 : ticksY + TICK_PX) + PAD,
    titleY,
    subtitleY,
    heat: { x: PAD + left, y: heatY, w: heatW, h: heatH },
    colLabelY,
    rowLabelX: PAD + left / 2,
    bar: { x: PAD + left, y: barY, w: barW, h: BAR_H },
    ticksY,
    legendY,
  };
}

export interface FigureSpec {
  title: string;
  subtitle: string;
  /** The card's heatmap canvas (device pixels; its CSS size is read from its style). */
  heatmap: HTMLCanvasElement;
  /** Colour range half-width: the bar spans [-m, m] ([0, m] for a magnitude map). */
  m: number;
  /** The heatmap's colour map (default: diverging). */
  cmap?: ColormapName;
  fg: string;
  bg: string;
  /** What the rows, columns and tiles are (model/heataxes.ts); none: no axis labels. */
  axes?: HeatAxes | null;
  /** The NaN / ±Inf legend (colorbar.ts specialItems); none or empty: no legend line. */
  legend?: SpecialItem[];
}

export function drawFigure(spec: FigureSpec, dpr = window.devicePixelRatio || 1): HTMLCanvasElement {
  const src = spec.heatmap;
  const heatW = parseFloat(src.style.width) || src.width / dpr;
  const heatH = parseFloat(src.style.height) || src.height / dpr;
  const axes = spec.axes ?? null;
  const legend = spec.legend ?? [];
  const L = figureLayout(heatW, heatH, axes !== null, legend.length > 0);
  const c = document.createElement("canvas");
  c.width = Math.round(L.width * dpr);
  c.height = Math.round(L.height * dpr);
  const ctx = c.getContext("2d");
  if (!ctx) return c;
  ctx.scale(dpr, dpr);
  ctx.fillStyle = spec.bg;
  ctx.fillRect(0, 0, L.width, L.height);
  ctx.fillStyle = spec.fg;
  ctx.textBaseline = "top";
  ctx.font = `500 ${TITLE_PX}px Roboto, system-ui, sans-serif`;
  ctx.fillText(spec.title, PAD, L.titleY, L.width - 2 * PAD);
  ctx.font = `${LINE_PX}px Roboto, system-ui, sans-serif`;
  ctx.fillText(spec.subtitle, PAD, L.subtitleY, L.width - 2 * PAD);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(src, L.heat.x, L.heat.y, L.heat.w, L.heat.h);
  if (axes) {
    ctx.font = `${TICK_PX}px Roboto, system-ui, sans-serif`;
    const cols = `${axes.cols} →` + (axes.tiles ? ` · ${axes.tiles}` : "");
    // Centred over the heatmap, as in the card, when it fits there.
    const cw = ctx.measureText(cols).width;
    ctx.fillText(cols, cw <= L.heat.w ? L.heat.x + (L.heat.w - cw) / 2 : L.heat.x, L.colLabelY, L.width - L.heat.x - PAD);
    if (axes.rows) {
      // Read top to bottom, as in the card (the arrow points down).
      ctx.save();
      ctx.translate(L.rowLabelX, L.heat.y);
      ctx.rotate(Math.PI / 2);
      ctx.textBaseline = "middle";
      const text = `${axes.rows} →`;
      // Centred along the heatmap when it is long enough, else from its top.
      const w = ctx.measureText(text).width;
      ctx.fillText(text, w < L.heat.h ? (L.heat.h - w) / 2 : 0, 0);
      ctx.restore();
    }
  }
  // The colour bar: the heatmap's own lookup table, stretched.
  ctx.imageSmoothingEnabled = true;
  const cmap = spec.cmap ?? "diverging";
  ctx.drawImage(lutStrip(cmap), L.bar.x, L.bar.y, L.bar.w, L.bar.h);
  ctx.font = `${TICK_PX}px Roboto, system-ui, sans-serif`;
  ctx.textAlign = "center";
  for (const t of barTicks(spec.m, L.bar.w, isMagnitude(cmap))) ctx.fillText(t.label, L.bar.x + t.x, L.ticksY);
  // The NaN / ±Inf legend: a swatch in each colour, then "NaN × 12", left to right.
  ctx.textAlign = "left";
  let x = L.bar.x;
  for (const item of legend) {
    ctx.fillStyle = cssColor(item.rgba as [number, number, number, number]);
    ctx.fillRect(x, L.legendY + 1, TICK_PX - 2, TICK_PX - 2);
    ctx.strokeStyle = spec.fg;
    ctx.strokeRect(x + 0.5, L.legendY + 1.5, TICK_PX - 3, TICK_PX - 3);
    ctx.fillStyle = spec.fg;
    const text = `${item.label} × ${item.count}`;
    ctx.fillText(text, x + TICK_PX + 2, L.legendY);
    x += TICK_PX + 2 + ctx.measureText(text).width + 12;
  }
  return c;
}

/** What a card's PNG export shows (see `saveFigure`). */
export interface CardFigure {
  run: string;
  tag: string;
  /** The step drawn (from the heatmap's header). */
  step: number;
  mode: DiffMode;
  modeLabel: string;
  /** Colour range half-width and the range mode's label. */
  m: number;
  rangeLabel: string;
  cmap: ColormapName;
  /** Zoom of the drawn heatmap (1: not zoomed). */
  zoom: number;
  heatmap: HTMLCanvasElement;
  axes?: HeatAxes | null;
  /** The NaN / ±Inf legend of the heatmap drawn (colorbar.ts specialItems). */
  legend?: SpecialItem[];
}

/** Downloads a card's heatmap as a PNG that reads on its own: title, subtitle, heatmap, colour bar. */
export function saveFigure(f: CardFigure): void {
  const name = safeFilename([f.run, f.tag, `step${f.step}`, f.mode === "none" ? "" : `diff-${f.mode}`], "png");
  const zoom = f.zoom > 1 ? ` · zoomed ${Math.round(f.zoom * 100) / 100}×` : "";
  const figure = drawFigure({
    title: `${f.run} · ${f.tag}`,
    subtitle: `step ${f.step} · ${f.modeLabel} · colour ${rangeText(f.m, f.cmap)} (${f.rangeLabel})${zoom}`,
    heatmap: f.heatmap,
    axes: f.axes,
    legend: f.legend,
    m: f.m,
    cmap: f.cmap,
    fg: themeVar("--nv-fg", "#212121"),
    bg: themeVar("--nv-bg", "#fff"),
  });
  figure.toBlob((blob) => {
    if (blob) download(blob, name);
  }, "image/png");
}
