/**
 * Draws a decoded heatmap on a canvas (one ImageData pixel per cell, scaled up without
 * smoothing, device pixel ratio aware) and reports the hovered cell.
 *
 * Example:
 *   const view = new HeatmapView(container, (cell, ev) => ...);
 *   view.draw(hm, info, m);
 */
import { colorize } from "./colormap";
import { tileSize } from "./grid";
import type { Heatmap, TagInfo } from "./types";

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

export class HeatmapView {
  readonly canvas: HTMLCanvasElement;
  private readonly offscreen: HTMLCanvasElement;
  private rows = 0;
  private cols = 0;

  constructor(parent: HTMLElement, onHover: HoverHandler) {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "nv-heatmap";
    this.canvas.setAttribute("data-testid", "heatmap");
    this.canvas.width = 0;
    this.canvas.height = 0;
    this.offscreen = document.createElement("canvas");
    parent.appendChild(this.canvas);
    this.canvas.addEventListener("mousemove", (ev) => onHover(this.cellAt(ev), ev));
    this.canvas.addEventListener("mouseleave", (ev) => onHover(null, ev));
  }

  /** The stored cell under a mouse event, or null outside. */
  cellAt(ev: MouseEvent): { i: number; j: number } | null {
    if (!this.rows || !this.cols) return null;
    const rect = this.canvas.getBoundingClientRect();
    if (rect.width <= 0 || rect.height <= 0) return null;
    const j = Math.floor(((ev.clientX - rect.left) / rect.width) * this.cols);
    const i = Math.floor(((ev.clientY - rect.top) / rect.height) * this.rows);
    if (i < 0 || j < 0 || i >= this.rows || j >= this.cols) return null;
    return { i, j };
  }

  /** Empties the canvas (no data to show). */
  clear(): void {
    this.rows = this.cols = 0;
    this.canvas.width = this.canvas.height = 0;
    this.canvas.style.width = this.canvas.style.height = "0px";
  }

  /** Draws plane 0 of `hm` with symmetric range [-m, m]. */
  draw(hm: Heatmap, info: TagInfo, m: number, maxW = MAX_WIDTH): void {
    const { rows, cols } = hm;
    this.rows = rows;
    this.cols = cols;
    const off = this.offscreen;
    off.width = Math.max(1, cols);
    off.height = Math.max(1, rows);
    const octx = off.getContext("2d");
    if (!octx) return;
    if (rows > 0 && cols > 0) {
      const img = octx.createImageData(cols, rows);
      colorize(hm.planes[0], m, img.data);
      octx.putImageData(img, 0, 0);
    }
    const [cw, ch] = cellSize(rows, cols, maxW);
    const cssW = Math.max(1, Math.round(cw * cols));
    const cssH = Math.max(1, Math.round(ch * rows));
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    c.width = Math.round(cssW * dpr);
    c.height = Math.round(cssH * dpr);
    c.style.width = `${cssW}px`;
    c.style.height = `${cssH}px`;
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.drawImage(off, 0, 0, c.width, c.height);
    this.drawTiles(ctx, info, rows, cols, c.width / Math.max(1, cols), c.height / Math.max(1, rows), dpr);
  }

  /** Thin borders between conv tiles (and gate blocks) when they are big enough to see. */
  private drawTiles(
    ctx: CanvasRenderingContext2D,
    info: TagInfo,
    rows: number,
    cols: number,
    cellW: number,
    cellH: number,
    dpr: number,
  ): void {
    const pool = info.pool ?? [1, 1];
    let [th, tw] = info.layout ? tileSize(info.shape, info.layout) : [1, 1];
    const gates = info.gates?.length ?? 0;
    let gateW = 0;
    if (gates > 1 && info.grid[1] % gates === 0) gateW = info.grid[1] / gates;
    const minPx = 6 * dpr;
    const lines: [number, number, number, number][] = [];
    const stepR = th / pool[0];
    if (th > 1 && stepR * cellH >= minPx) {
      for (let y = stepR; y < rows - 1e-9; y += stepR) lines.push([0, y * cellH, cols * cellW, y * cellH]);
    }
    const stepC = tw / pool[1];
    if (tw > 1 && stepC * cellW >= minPx) {
      for (let x = stepC; x < cols - 1e-9; x += stepC) lines.push([x * cellW, 0, x * cellW, rows * cellH]);
    }
    const gateLines: [number, number, number, number][] = [];
    if (gateW) {
      const stepG = gateW / pool[1];
      for (let x = stepG; x < cols - 1e-9; x += stepG) gateLines.push([x * cellW, 0, x * cellW, rows * cellH]);
    }
    if (!lines.length && !gateLines.length) return;
    const tile = getComputedStyle(this.canvas).getPropertyValue("--nv-tile").trim() || "rgba(0,0,0,.35)";
    const stroke = (ls: [number, number, number, number][], width: number) => {
      ctx.beginPath();
      for (const [x0, y0, x1, y1] of ls) {
        const sx = Math.round(x0) + 0.5;
        const sy = Math.round(y0) + 0.5;
        ctx.moveTo(x0 === x1 ? sx : x0, y0 === y1 ? sy : y0);
        ctx.lineTo(x0 === x1 ? sx : x1, y0 === y1 ? sy : y1);
      }
      ctx.lineWidth = width;
      ctx.stroke();
    };
    ctx.strokeStyle = tile;
    stroke(lines, Math.max(1, Math.round(dpr)));
    stroke(gateLines, Math.max(2, Math.round(2 * dpr)));
  }
}
