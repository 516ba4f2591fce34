/**
 * The zoom / pan transform of a heatmap canvas. Pure, no DOM.
 *
 * A view maps content coordinates (CSS pixels of the unzoomed w x h heatmap box) to
 * screen coordinates (CSS pixels inside the canvas): screen = content * scale + t.
 * Views are clamped so the content always covers the box (scale >= 1, no empty margin).
 *
 * Example (a 200 x 100 box):
 *   let v = IDENTITY;
 *   v = zoomAt(v, 2, 50, 50, 200, 100);     // {scale: 2, tx: -50, ty: -50}: point (50, 50) stays put
 *   cellAt(v, 50, 50, 200, 100, 10, 20)    // the cell that was under (50, 50) before zooming
 *   v = panBy(v, 500, 0, 200, 100);         // clamped: tx = 0
 */

export interface View {
  readonly scale: number;
  readonly tx: number;
  readonly ty: number;
}

export const IDENTITY: View = Object.freeze({ scale: 1, tx: 0, ty: 0 });

/** Largest zoom factor by default (a 256-wide grid at 640 px then shows ~4 cells per 40 px). */
export const MAX_SCALE = 64;

/**
 * Clamps scale to [1, maxScale] and the offsets so the scaled content covers the
 * w x h box. Example: clampView({scale: 2, tx: 10, ty: -500}, 100, 100) -> {scale: 2, tx: 0, ty: -100}.
 */
export function clampView(v: View, w: number, h: number, maxScale = MAX_SCALE): View {
  const scale = Math.min(maxScale, Math.max(1, Number.isFinite(v.scale) ? v.scale : 1));
  const clamp = (t: number, size: number) => {
    const lo = size - size * scale;
    if (!Number.isFinite(t)) return 0;
    return t > 0 ? 0 : t < lo ? lo : t;
  };
  return { scale, tx: clamp(v.tx, w), ty: clamp(v.ty, h) };
}

/**
 * Multiplies the zoom by `factor` keeping screen point (px, py) over the same content
 * point (until clamping). Example: zoomAt(IDENTITY, 2, 0, 0, 100, 100) -> {scale: 2, tx: 0, ty: 0}.
 */
export function zoomAt(v: View, factor: number, px: number, py: number, w: number, h: number, maxScale = MAX_SCALE): View {
  const scale = Math.min(maxScale, Math.max(1, v.scale * factor));
  const k = scale / v.scale;
  return clampView({ scale, tx: px - (px - v.tx) * k, ty: py - (py - v.ty) * k }, w, h, maxScale);
}

/** Moves the content by (dx, dy) screen pixels, clamped. */
export function panBy(v: View, dx: number, dy: number, w: number, h: number, maxScale = MAX_SCALE): View {
  return clampView({ scale: v.scale, tx: v.tx + dx, ty: v.ty + dy }, w, h, maxScale);
}

/** The content point under screen point (x, y). */
export function toContent(v: View, x: number, y: number): [number, number] {
  return [(x - v.tx) / v.scale, (y - v.ty) / v.scale];
}

/**
 * The stored cell (row i, column j) under screen point (x, y) of a rows x cols heatmap
 * drawn unzoomed into a w x h box, or null outside it.
 *
 * Example: cellAt(IDENTITY, 15, 5, 100, 10, 1, 10) -> {i: 0, j: 1}.
 */
export function cellAt(
  v: View,
  x: number,
  y: number,
  w: number,
  h: number,
  rows: number,
  cols: number,
): { i: number; j: number } | null {
  if (!(w > 0) || !(h > 0) || rows <= 0 || cols <= 0) return null;
  if (x < 0 || y < 0 || x >= w || y >= h) return null;
  const [cx, cy] = toContent(v, x, y);
  const j = Math.floor((cx / w) * cols);
  const i = Math.floor((cy / h) * rows);
  if (i < 0 || j < 0 || i >= rows || j >= cols) return null;
  return { i, j };
}

/**
 * Zoom factor of one wheel event: smooth for trackpads, ~1.2x per mouse notch.
 * deltaMode 1 (lines) and 2 (pages) are scaled to pixels first.
 *
 * Example: wheelFactor(-100, 0) ≈ 1.22 (zoom in); wheelFactor(100, 0) ≈ 0.82.
 */
export function wheelFactor(deltaY: number, deltaMode = 0): number {
  const px = deltaMode === 1 ? deltaY * 16 : deltaMode === 2 ? deltaY * 400 : deltaY;
  const clamped = Math.max(-300, Math.min(300, px));
  return Math.exp(-clamped * 0.002);
}

/**
 * Whether a wheel event over a heatmap zooms it (and is kept from scrolling the page).
 * Like map widgets: only with Ctrl/⌘ held (a trackpad pinch arrives as Ctrl + wheel) or
 * after a click into the heatmap; a plain wheel scrolls the page past the heatmaps, so a
 * user scrolling down a stack of cards never gets stuck zooming.
 *
 * Example: wheelZooms({ctrlKey: false, metaKey: false}, false) === false;
 *          wheelZooms({ctrlKey: true, metaKey: false}, false) === true.
 */
export function wheelZooms(ev: { ctrlKey: boolean; metaKey: boolean }, active: boolean): boolean {
  return active || ev.ctrlKey || ev.metaKey;
}
