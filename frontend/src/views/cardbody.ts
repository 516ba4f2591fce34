/**
 * The body of a heatmap card: error or notice line, the heatmap (zoom, pan, hover
 * tooltip) with its axis labels (what the rows, columns and tiles are: model/heataxes.ts),
 * the zoom help, the step's stats, the colour bar and the colour range note.
 * Draws what it is given; the card decides what to fetch and which range to use.
 *
 * Example:
 *   const body = new CardBody(tooltip, () => card.zoomChanged());
 *   cardRoot.appendChild(body.root);
 *   body.draw(heatmap, info, 0.3, "range over all 12 steps", 640);
 */
import type { Heatmap, HeatmapHeader, TagInfo } from "../data/types";
import { type ColormapName, rangeText } from "../model/colormap";
import { describeCell } from "../model/describe";
import { formatShort } from "../model/format";
import { pooledShape } from "../model/grid";
import type { View } from "../model/viewport";
import { heatAxes } from "../model/heataxes";
import { el, setText } from "../ui/dom";
import type { Tooltip } from "../ui/tooltip";
import { ColorBar } from "./colorbar";
import { HeatmapView, ZOOM_HELP, cellSize, gateSpans } from "./heatmap";

/**
 * The stats line under a heatmap: step, the change's base, min / max, time. A pooled
 * heatmap draws block means, so its min / max are said to be of block means, and with
 * `absmax` (the largest |x| of its absmax plane: the true extreme) that too.
 *
 * Example: statsLine({step: 30, diff: "prev", base_step: 20, min: -1, max: 2, wall_time: 0, ...})
 *   === "step 30 · Δ vs step 20 · min -1  max 2"
 *   statsLine({step: 0, diff: "none", min: -1, max: 2, wall_time: 0, ...}, true, 5)
 *   === "step 0 · block means: min -1  max 2 · max |x| 5"
 */
export function statsLine(h: HeatmapHeader, pooled = false, absmax: number | null = null): string {
  const parts = [`step ${h.step}`];
  if (h.diff && h.diff !== "none") parts.push(h.base_step !== null && h.base_step !== undefined ? `Δ vs step ${h.base_step}` : "Δ");
  const of = pooled ? "block means: " : "";
  parts.push(h.min === null || h.max === null ? "no finite values" : `${of}min ${formatShort(h.min)}  max ${formatShort(h.max)}`);
  if (pooled && absmax !== null) parts.push(`max |x| ${formatShort(absmax)}`);
  if (h.wall_time) parts.push(new Date(h.wall_time * 1000).toLocaleString());
  return parts.join(" · ");
}

/**
 * The largest finite |x| of a pooled heatmap's absmax plane (the true extreme of the
 * tensor, which block means hide), or null: unpooled, a change (the difference of two
 * absmax planes is no max |x|), or no finite value.
 */
export function absmaxOf(hm: Pick<Heatmap, "header" | "planes">): number | null {
  if (hm.header.diff && hm.header.diff !== "none") return null;
  const k = (hm.header.planes ?? []).indexOf("absmax");
  const plane = k >= 0 ? hm.planes[k] : undefined;
  if (!plane) return null;
  let m = -1;
  for (const v of plane) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m < 0 ? null : m;
}

/** Width in CSS pixels the vertical row label takes beside the heatmap (label and gap). */
export const ROW_AXIS_W = 16;

let measurer: CanvasRenderingContext2D | null = null;

/** Width in CSS pixels of `text` in the axis labels' font (11 px; no layout needed). */
function labelWidth(text: string): number {
  measurer ??= document.createElement("canvas").getContext("2d");
  if (!measurer) return text.length * 6.5;
  measurer.font = "11px Roboto, system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
  return measurer.measureText(text).width;
}

export class CardBody {
  readonly root: HTMLDivElement;
  private readonly error: HTMLDivElement;
  private readonly plot: HTMLDivElement;
  private readonly rowAxis: HTMLDivElement;
  private readonly colAxis: HTMLDivElement;
  private readonly tileAxis: HTMLDivElement;
  private readonly figure: HTMLDivElement;
  private readonly view_: HeatmapView;
  private readonly stats: HTMLDivElement;
  private readonly barHost: HTMLDivElement;
  private readonly bar: ColorBar;
  private readonly rangeNote: HTMLDivElement;
  private data: Heatmap | null = null;
  private info: TagInfo | null = null;
  private hover: { i: number; j: number; x: number; y: number } | null = null;

  constructor(
    private readonly tooltip: Tooltip,
    onZoom: () => void,
  ) {
    this.error = el("div", { className: "nv-error", attrs: { "data-testid": "card-error", role: "alert" } });
    this.error.hidden = true;
    this.plot = el("div", { className: "nv-plot" });
    this.view_ = new HeatmapView(this.plot, (cell, ev) => this.onHover(cell, ev), onZoom);
    this.colAxis = el("div", { className: "nv-axis nv-axis-cols", attrs: { "data-testid": "axis-cols" } });
    this.rowAxis = el("div", { className: "nv-axis nv-axis-rows", attrs: { "data-testid": "axis-rows" } });
    this.tileAxis = el("div", { className: "nv-axis nv-axis-tiles", attrs: { "data-testid": "axis-tiles" } });
    this.colAxis.hidden = this.rowAxis.hidden = this.tileAxis.hidden = true;
    this.figure = el("div", { className: "nv-heat-fig", attrs: { "data-testid": "heatmap-figure" } }, this.colAxis, this.rowAxis, this.plot);
    this.stats = el("div", { className: "nv-stats", attrs: { "data-testid": "stats" } });
    this.rangeNote = el("div", { className: "nv-stats", attrs: { "data-testid": "range-note" } });
    this.barHost = el("div");
    this.bar = new ColorBar(this.barHost);
    this.barHost.hidden = true;
    this.root = el(
      "div",
      { className: "nv-card-body" },
      this.error,
      this.figure,
      this.tileAxis,
      el("div", { className: "nv-help", text: ZOOM_HELP, attrs: { "data-testid": "zoom-help" } }),
      this.stats,
      this.barHost,
      this.rangeNote,
    );
  }

  /** The heatmap drawn last (null before the first or after clear). */
  get heatmap(): Heatmap | null {
    return this.data;
  }

  /** The heatmap canvas (the PNG export copies it). */
  get canvas(): HTMLCanvasElement {
    return this.view_.canvas;
  }

  /** The exact zoom / pan (kept while a card is released far off screen). */
  get view(): View {
    return this.view_.view;
  }

  /** Sets zoom / pan (a released card coming back). */
  setView(v: View): void {
    this.view_.setView(v);
  }

  /** The zoom factor, rounded for the data-zoom hook. */
  get zoom(): number {
    return Math.round(this.view_.view.scale * 100) / 100;
  }

  /**
   * The axis labels of `info`'s heatmap, `rows` x `cols` stored cells; returns the width
   * the heatmap itself may take. A row label longer than the heatmap is tall says it in short.
   */
  private setAxes(info: TagInfo, maxWidth: number, rows: number, cols: number): number {
    const axes = heatAxes(info);
    const put = (e: HTMLElement, text: string | null | undefined) => {
      setText(e, text ?? "");
      e.hidden = !text;
      e.title = axes?.title ?? "";
    };
    const width = axes?.rows ? maxWidth - ROW_AXIS_W : maxWidth;
    let rowText = axes?.rows ? `${axes.rows} →` : null;
    if (rowText && axes?.rowsShort) {
      const height = cellSize(rows, cols, width)[1] * rows;
      if (labelWidth(rowText) > height - 4) rowText = `${axes.rowsShort} →`;
    }
    put(this.colAxis, axes ? `${axes.cols} →` : null);
    put(this.rowAxis, rowText);
    put(this.tileAxis, axes?.tiles);
    // Gate names run under the heatmap, in its box: the row label stays beside the heatmap itself.
    this.figure.classList.toggle("nv-gated", gateSpans(info, cols).length > 0);
    return width;
  }

  /** Sizes the empty canvas area so off-screen cards keep their place before loading. */
  reserve(info: TagInfo, maxWidth: number): void {
    const [r, c] = pooledShape(info.grid ?? [1, 1], info.pool ?? [1, 1]);
    maxWidth = this.setAxes(info, maxWidth, r, c);
    const [cw, ch] = cellSize(r, c, maxWidth);
    this.plot.style.minHeight = `${Math.round(ch * r)}px`;
    this.plot.style.minWidth = `${Math.round(cw * c)}px`;
  }

  setLoading(on: boolean): void {
    this.plot.classList.toggle("nv-loading", on);
  }

  /** Draws `hm` on [-m, m] (a magnitude `cmap`: |x| on [0, m]) with the range's `note` ("" for none). */
  draw(hm: Heatmap, info: TagInfo, m: number, note: string, maxWidth: number, cmap: ColormapName = "diverging"): void {
    this.data = hm;
    this.info = info;
    this.view_.draw(hm, info, m, this.setAxes(info, maxWidth, hm.rows, hm.cols), cmap);
    setText(this.rangeNote, note ? `colour ${rangeText(m, cmap)}: ${note}` : "");
    this.rangeNote.hidden = !note;
    this.plot.style.minHeight = "";
    this.plot.style.minWidth = "";
    this.bar.update(m, hm.header, cmap);
    this.barHost.hidden = false;
    const pool = info.pool ?? [1, 1];
    const pooled = pool[0] > 1 || pool[1] > 1;
    setText(this.stats, statsLine(hm.header, pooled, pooled ? absmaxOf(hm) : null));
    this.stats.title = pooled ? `Pooled ${pool[0]}×${pool[1]}: the heatmap draws each block's mean; min and max are of those means, max |x| is the largest |x| in the tensor` : "";
    if (this.hover) this.showTooltip(this.hover.i, this.hover.j, this.hover.x, this.hover.y);
  }

  /** Empties the heatmap (nothing to show at this step and mode). */
  clear(): void {
    this.data = null;
    this.view_.clear();
    this.barHost.hidden = true;
    setText(this.stats, "");
  }

  /** Shows a request error (or, with `note`, a neutral notice) above the heatmap; null hides it. */
  showError(msg: string | null, note = false): void {
    this.error.hidden = msg === null;
    this.error.classList.toggle("nv-note", note);
    setText(this.error, msg ?? "");
  }

  private onHover(cell: { i: number; j: number } | null, ev: MouseEvent): void {
    if (!cell || !this.data) {
      this.hover = null;
      this.tooltip.hide();
      return;
    }
    this.hover = { ...cell, x: ev.clientX, y: ev.clientY };
    this.showTooltip(cell.i, cell.j, ev.clientX, ev.clientY);
  }

  private showTooltip(i: number, j: number, x: number, y: number): void {
    const hm = this.data;
    if (!hm || !this.info || i >= hm.rows || j >= hm.cols) return this.tooltip.hide();
    this.tooltip.show(describeCell(this.info, hm, i, j), x, y);
  }
}
