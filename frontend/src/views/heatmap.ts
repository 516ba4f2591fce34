/**
 * Draws a decoded heatmap on a canvas (one ImageData pixel per cell, scaled up without
 * smoothing, device pixel ratio aware), with wheel zoom around the pointer, drag to pan
 * and double-click to reset (the transform math is in model/viewport.ts), conv tile borders,
 * gate separators and labels, and reports the hovered cell under the current zoom.
 *
 * Example:
 *   const view = new HeatmapView(container, (cell, ev) => ...);
 *   view.draw(hm, info, m);          // keeps the zoom while the size stays the same
 *   view.draw(hm, info, m, 640, "viridis");  // |x| on [0, m]
 *   view.setView(IDENTITY);          // reset zoom
 */
import type { Heatmap, TagInfo } from "../data/types";
import { type ColormapName, colorize } from "../model/colormap";
import { tileStep } from "../model/grid";
import { IDENTITY, type View, cellAt as viewCellAt, clampView, panBy, wheelFactor, wheelZooms, zoomAt } from "../model/viewport";

/** How to zoom and pan: the card's help line and the canvas tooltip. */
export const ZOOM_HELP = "Zoom: Ctrl/⌘ + wheel, pinch, or click then wheel · drag: pan · double-click: reset";

/** Largest heatmap box in CSS pixels, and the cell size limits. */
export const MAX_WIDTH = 640;
export const MAX_HEIGHT = 480;
const MAX_CELL = 16;
const MIN_VECTOR_HEIGHT = 20;

/**
 * CSS pixel size of one cell for a rows x cols heatmap in a maxW x maxH box: square
 * integer cells when they are at least 2 px, otherwise each axis fills its side.
 * Single-row heatmaps (vectors) get taller cells.
 *
 * Example: cellSize(64, 64) -> [7, 7]; cellSize(1, 64) -> [10, 20].
 */
export function cellSize(rows: number, cols: number, maxW = MAX_WIDTH, maxH = MAX_HEIGHT): [number, number] {
  const fit = (avail: number, n: number) => {
    const s = Math.min(MAX_CELL, avail / Math.max(1, n));
    return s >= 1 ? Math.floor(s) : s;
  };
  let w = fit(maxW, cols);
  let h = fit(maxH, rows);
  if (rows === 1) return [w, Math.max(w, MIN_VECTOR_HEIGHT)];
  const sq = Math.min(w, h);
  if (sq >= 2) w = h = sq;
  return [w, h];
}

export type HoverHandler = (cell: { i: number; j: number } | null, ev: MouseEvent) => void;

/** Gate blocks of a kernel in stored columns: [name, first column, end column). */
export function gateSpans(info: Pick<TagInfo, "gates" | "grid" | "pool">, cols: number): [string, number, number][] {
  const gates = info.gates ?? [];
  if (gates.length < 2 || !info.grid || info.grid[1] % gates.length !== 0) return [];
  const per = info.grid[1] / gates.length / Math.max(1, (info.pool ?? [1, 1])[1]);
  return gates.map((g, k) => [g, k * per, Math.min(cols, (k + 1) * per)]);
}

export class HeatmapView {
  readonly canvas: HTMLCanvasElement;
  private readonly offscreen: HTMLCanvasElement;
  private readonly gateBar: HTMLDivElement;
  private img: ImageData | null = null;
  private rows = 0;
  private cols = 0;
  private cssW = 0;
  private cssH = 0;
  private info: TagInfo | null = null;
  private tileColor: string | null = null;
  private viewState: View = IDENTITY;
  /** Clicked into: a plain wheel zooms until the pointer leaves (see wheelZooms). */
  private active = false;
  private readonly hint: HTMLDivElement;
  private hintTimer: number | null = null;
  private drag: { x: number; y: number; id: number; moved: boolean } | null = null;

  constructor(
    parent: HTMLElement,
    private readonly onHover: HoverHandler,
    private readonly onViewChange: (v: View) => void = () => {},
  ) {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "nv-heatmap";
    this.canvas.setAttribute("data-testid", "heatmap");
    this.canvas.setAttribute("data-zoom", "1");
    this.canvas.setAttribute("data-view", JSON.stringify(IDENTITY));
    this.canvas.title = ZOOM_HELP;
    this.canvas.width = 0;
    this.canvas.height = 0;
    this.offscreen = document.createElement("canvas");
    this.gateBar = document.createElement("div");
    this.gateBar.className = "nv-gates";
    this.gateBar.hidden = true;
    this.hint = document.createElement("div");
    this.hint.className = "nv-zoom-hint";
    this.hint.setAttribute("data-testid", "zoom-hint");
    this.hint.textContent = "Ctrl/⌘ + wheel to zoom, or click the heatmap first";
    this.hint.hidden = true;
    parent.appendChild(this.canvas);
    parent.appendChild(this.hint);
    parent.appendChild(this.gateBar);
    const c = this.canvas;
    c.addEventListener("mousemove", (ev) => onHover(this.cellAt(ev), ev));
    c.addEventListener("mouseleave", (ev) => {
      this.setActive(false);
      onHover(null, ev);
    });
    c.addEventListener("wheel", (ev) => this.onWheel(ev), { passive: false });
    c.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      this.setActive(true);
      if (this.viewState.scale <= 1) return;
      this.drag = { x: ev.clientX, y: ev.clientY, id: ev.pointerId, moved: false };
      c.setPointerCapture?.(ev.pointerId);
      c.classList.add("nv-dragging");
    });
    c.addEventListener("pointermove", (ev) => {
      const d = this.drag;
      if (!d || d.id !== ev.pointerId) return;
      const [sx, sy] = this.cssPerClient();
      const dx = (ev.clientX - d.x) * sx;
      const dy = (ev.clientY - d.y) * sy;
      d.x = ev.clientX;
      d.y = ev.clientY;
      d.moved = true;
      this.setView(panBy(this.viewState, dx, dy, this.cssW, this.cssH));
      onHover(this.cellAt(ev), ev);
    });
    const end = (ev: PointerEvent) => {
      if (!this.drag || this.drag.id !== ev.pointerId) return;
      this.drag = null;
      c.classList.remove("nv-dragging");
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("dblclick", (ev) => {
      this.setView(IDENTITY);
      onHover(this.cellAt(ev), ev);
    });
  }

  /** The current zoom / pan (kept across redraws of the same size, e.g. steps and reloads). */
  get view(): View {
    return this.viewState;
  }

  /** Sets zoom / pan (clamped) and repaints. */
  setView(v: View): void {
    const next = clampView(v, this.cssW, this.cssH);
    const same = next.scale === this.viewState.scale && next.tx === this.viewState.tx && next.ty === this.viewState.ty;
    this.viewState = next;
    this.canvas.setAttribute("data-zoom", String(Math.round(next.scale * 100) / 100));
    this.canvas.setAttribute("data-view", JSON.stringify(next));
    this.canvas.classList.toggle("nv-zoomed", next.scale > 1);
    if (!same) {
      this.paint();
      this.onViewChange(next);
    }
  }

  /** Clicked into (plain wheel zooms) or left (plain wheel scrolls the page again). */
  private setActive(on: boolean): void {
    this.active = on;
    this.canvas.classList.toggle("nv-active", on);
    this.canvas.setAttribute("data-active", String(on));
    if (on) this.showHint(false);
  }

  private showHint(show: boolean): void {
    if (this.hintTimer !== null) window.clearTimeout(this.hintTimer);
    this.hintTimer = null;
    this.hint.hidden = !show;
    if (show) this.hintTimer = window.setTimeout(() => this.showHint(false), 1500);
  }

  private onWheel(ev: WheelEvent): void {
    if (!this.rows || !this.cols || ev.deltaY === 0) return;
    if (!wheelZooms(ev, this.active)) {
      // The page scrolls; say how to zoom instead.
      this.showHint(true);
      return;
    }
    // With Ctrl held the browser would zoom the whole page: always take the event.
    ev.preventDefault();
    const factor = wheelFactor(ev.deltaY, ev.deltaMode);
    const [x, y] = this.localPoint(ev);
    this.setView(zoomAt(this.viewState, factor, x, y, this.cssW, this.cssH));
    this.onHover(this.cellAt(ev), ev);
  }

  /** CSS pixels of the heatmap box per client pixel (1 unless the page is CSS-scaled). */
  private cssPerClient(): [number, number] {
    const rect = this.canvas.getBoundingClientRect();
    return [rect.width > 0 ? this.cssW / rect.width : 1, rect.height > 0 ? this.cssH / rect.height : 1];
  }

  /** A mouse event's position in the heatmap box's CSS pixels. */
  private localPoint(ev: MouseEvent): [number, number] {
    const rect = this.canvas.getBoundingClientRect();
    const [sx, sy] = this.cssPerClient();
    return [(ev.clientX - rect.left) * sx, (ev.clientY - rect.top) * sy];
  }

  /** The stored cell under a mouse event (zoom and pan taken into account), or null outside. */
  cellAt(ev: MouseEvent): { i: number; j: number } | null {
    if (!this.rows || !this.cols) return null;
    const [x, y] = this.localPoint(ev);
    return viewCellAt(this.viewState, x, y, this.cssW, this.cssH, this.rows, this.cols);
  }

  /** Empties the canvas (no data to show). */
  clear(): void {
    this.rows = this.cols = 0;
    this.canvas.width = this.canvas.height = 0;
    this.canvas.style.width = this.canvas.style.height = "0px";
    this.gateBar.hidden = true;
  }

  /**
   * Draws plane 0 of `hm` with symmetric range [-m, m] (`cmap` viridis: |x| on [0, m]): colours into a reused ImageData
   * (no per-pixel allocation), then paints it under the current zoom. The zoom is kept
   * when the heatmap keeps its size.
   */
  draw(hm: Heatmap, info: TagInfo, m: number, maxW = MAX_WIDTH, cmap: ColormapName = "diverging"): void {
    const { rows, cols } = hm;
    this.info = info;
    const off = this.offscreen;
    if (off.width !== Math.max(1, cols) || off.height !== Math.max(1, rows)) {
      off.width = Math.max(1, cols);
      off.height = Math.max(1, rows);
      this.img = null;
    }
    const octx = off.getContext("2d");
    if (!octx) return;
    if (rows > 0 && cols > 0) {
      if (!this.img || this.img.width !== cols || this.img.height !== rows) this.img = octx.createImageData(cols, rows);
      colorize(hm.planes[0], m, this.img.data, cmap);
      octx.putImageData(this.img, 0, 0);
    }
    const [cw, ch] = cellSize(rows, cols, maxW);
    const cssW = Math.max(1, Math.round(cw * cols));
    const cssH = Math.max(1, Math.round(ch * rows));
    if (cssW !== this.cssW || cssH !== this.cssH || rows !== this.rows || cols !== this.cols) {
      this.viewState = IDENTITY;
      this.canvas.setAttribute("data-zoom", "1");
      this.canvas.setAttribute("data-view", JSON.stringify(IDENTITY));
      this.canvas.classList.remove("nv-zoomed");
    }
    this.rows = rows;
    this.cols = cols;
    this.cssW = cssW;
    this.cssH = cssH;
    this.paint();
  }

  /** Paints the coloured offscreen image under the current view, then tile and gate lines. */
  private paint(): void {
    const { rows, cols, cssW, cssH } = this;
    if (!rows || !cols || !this.info) return;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    const w = Math.round(cssW * dpr);
    const h = Math.round(cssH * dpr);
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const sw = `${cssW}px`;
    const sh = `${cssH}px`;
    if (c.style.width !== sw) c.style.width = sw;
    if (c.style.height !== sh) c.style.height = sh;
    const ctx = c.getContext("2d");
    if (!ctx) return;
    const v = this.viewState;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.imageSmoothingEnabled = false;
    ctx.setTransform(dpr * v.scale, 0, 0, dpr * v.scale, dpr * v.tx, dpr * v.ty);
    ctx.drawImage(this.offscreen, 0, 0, cssW, cssH);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    this.drawTiles(ctx, this.info, dpr);
    this.placeGateLabels();
  }

  /** Thin borders between conv tiles and thicker ones between gate blocks, under zoom. */
  private drawTiles(ctx: CanvasRenderingContext2D, info: TagInfo, dpr: number): void {
    const { rows, cols, cssW, cssH } = this;
    const v = this.viewState;
    // Stored cells per tile border: 1 when pooled by whole tiles (model/grid.ts tileStep).
    const [stepR, stepC] = info.layout ? tileStep(info.shape, info.layout, info.pool) : [0, 0];
    // Canvas pixels per stored cell, zoom included.
    const cellW = (cssW / cols) * v.scale * dpr;
    const cellH = (cssH / rows) * v.scale * dpr;
    const x0 = v.tx * dpr;
    const y0 = v.ty * dpr;
    const W = cssW * dpr;
    const H = cssH * dpr;
    const minPx = 6 * dpr;
    const vLines: number[] = [];
    const hLines: number[] = [];
    if (stepR > 0 && stepR * cellH >= minPx) {
      for (let y = stepR; y < rows - 1e-9; y += stepR) hLines.push(y0 + y * cellH);
    }
    if (stepC > 0 && stepC * cellW >= minPx) {
      for (let x = stepC; x < cols - 1e-9; x += stepC) vLines.push(x0 + x * cellW);
    }
    const gateLines = gateSpans(info, cols)
      .slice(1)
      .map(([, start]) => x0 + start * cellW);
    if (!vLines.length && !hLines.length && !gateLines.length) return;
    if (this.tileColor === null) {
      this.tileColor = getComputedStyle(this.canvas).getPropertyValue("--nv-tile").trim() || "rgba(0,0,0,.35)";
    }
    const stroke = (xs: number[], ys: number[], width: number) => {
      ctx.beginPath();
      for (const x of xs) {
        if (x < 0 || x > W) continue;
        const sx = Math.round(x) + 0.5;
        ctx.moveTo(sx, 0);
        ctx.lineTo(sx, H);
      }
      for (const y of ys) {
        if (y < 0 || y > H) continue;
        const sy = Math.round(y) + 0.5;
        ctx.moveTo(0, sy);
        ctx.lineTo(W, sy);
      }
      ctx.lineWidth = width;
      ctx.stroke();
    };
    ctx.strokeStyle = this.tileColor;
    stroke(vLines, hLines, Math.max(1, Math.round(dpr)));
    stroke(gateLines, [], Math.max(2, Math.round(2 * dpr)));
  }

  /** Gate names (i, f, c, o) centred over their column blocks, following zoom and pan. */
  private placeGateLabels(): void {
    const info = this.info;
    const spans = info ? gateSpans(info, this.cols) : [];
    const bar = this.gateBar;
    if (!spans.length) {
      bar.hidden = true;
      return;
    }
    bar.hidden = false;
    bar.style.width = `${this.cssW}px`;
    while (bar.children.length > spans.length) bar.lastChild!.remove();
    while (bar.children.length < spans.length) {
      const s = document.createElement("span");
      s.setAttribute("data-testid", "gate-label");
      bar.appendChild(s);
    }
    const v = this.viewState;
    const cw = this.cssW / this.cols;
    spans.forEach(([name, a, b], k) => {
      const span = bar.children[k] as HTMLElement;
      if (span.textContent !== name) span.textContent = name;
      const left = Math.max(0, a * cw * v.scale + v.tx);
      const right = Math.min(this.cssW, b * cw * v.scale + v.tx);
      span.hidden = right - left < 8;
      span.style.left = `${(left + right) / 2}px`;
    });
  }
}
