/**
 * A card's heatmap over its logged steps as an animated GIF (gifenc): one frame per
 * step, each the card's PNG figure (title, "step N", the heatmap, the colour bar with
 * its ticks) on one colour range shared by all frames, so colours compare across steps.
 *
 * Example:
 *   await saveAnimation({run, tag, info, mode: "none", modeLabel: "weights", cmap: "viridis", maxWidth: 640});
 *   // downloads <run>-<tag>-steps0-90.gif
 */
import { GIFEncoder, applyPalette, quantize } from "gifenc";
import { decodeHeatmap, fetchHeatmapBuffer } from "../data/api";
import type { DiffMode, Heatmap, TagInfo } from "../data/types";
import { animationSteps, sharedRange } from "../model/animation";
import { type ColormapName, colorize, rangeText } from "../model/colormap";
import { safeFilename } from "../model/csv";
import { heatAxes } from "../model/heataxes";
import { download } from "../ui/dom";
import { themeVar } from "../ui/theme";
import { drawFigure } from "./figure";
import { MAX_WIDTH, cellSize } from "./heatmap";

/** Time each frame stays, in milliseconds. */
export const FRAME_MS = 500;

export interface AnimationSpec {
  run: string;
  tag: string;
  info: TagInfo;
  mode: DiffMode;
  modeLabel: string;
  cmap: ColormapName;
  /** Widest the heatmap may be, in CSS pixels (as in the card). */
  maxWidth?: number;
  signal?: AbortSignal;
}

/** The heatmap of one frame on its own canvas: one pixel per cell, its CSS size as the card would draw it. */
function heatCanvas(hm: Heatmap, m: number, cmap: ColormapName, maxWidth: number): HTMLCanvasElement {
  const c = document.createElement("canvas");
  c.width = Math.max(1, hm.cols);
  c.height = Math.max(1, hm.rows);
  const ctx = c.getContext("2d");
  if (ctx && hm.rows > 0 && hm.cols > 0) {
    const img = ctx.createImageData(hm.cols, hm.rows);
    colorize(hm.planes[0], m, img.data, cmap);
    ctx.putImageData(img, 0, 0);
  }
  const [cw, ch] = cellSize(hm.rows, hm.cols, maxWidth);
  c.style.width = `${Math.max(1, Math.round(cw * hm.cols))}px`;
  c.style.height = `${Math.max(1, Math.round(ch * hm.rows))}px`;
  return c;
}

/** Encodes the animation; returns the GIF's bytes and its frames' steps. */
export async function encodeAnimation(spec: AnimationSpec): Promise<{ bytes: Uint8Array<ArrayBuffer>; steps: number[] }> {
  const steps = animationSteps(spec.info.steps, spec.mode);
  if (!steps.length) throw new Error(`${spec.tag} has no logged heatmap step to animate in this mode`);
  const frames: Heatmap[] = [];
  for (const step of steps) frames.push(decodeHeatmap(await fetchHeatmapBuffer(spec.run, spec.tag, step, spec.mode, spec.signal)));
  const m = sharedRange(frames.map((f) => f.header));
  const fg = themeVar("--nv-fg", "#212121");
  const bg = themeVar("--nv-bg", "#fff");
  const axes = heatAxes(spec.info);
  const gif = GIFEncoder();
  let size: [number, number] | null = null;
  for (const hm of frames) {
    const figure = drawFigure(
      {
        title: `${spec.run} · ${spec.tag}`,
        subtitle: `step ${hm.header.step} · ${spec.modeLabel} · colour ${rangeText(m, spec.cmap)} (fixed over ${frames.length} steps)`,
        heatmap: heatCanvas(hm, m, spec.cmap, spec.maxWidth ?? MAX_WIDTH),
        axes,
        m,
        cmap: spec.cmap,
        fg,
        bg,
      },
      1,
    );
    // Every frame the size of the first (a tensor's grid does not change between steps).
    size ??= [figure.width, figure.height];
    const ctx = figure.getContext("2d");
    if (!ctx) throw new Error("this browser cannot draw on a canvas");
    const rgba = ctx.getImageData(0, 0, size[0], size[1]).data;
    const palette = quantize(rgba, 256);
    gif.writeFrame(applyPalette(rgba, palette), size[0], size[1], { palette, delay: FRAME_MS });
  }
  gif.finish();
  return { bytes: gif.bytes(), steps };
}

/** Encodes the animation and downloads it as `<run>-<tag>-steps<first>-<last>[-diff-<mode>].gif`. */
export async function saveAnimation(spec: AnimationSpec): Promise<void> {
  const { bytes, steps } = await encodeAnimation(spec);
  const name = safeFilename(
    [spec.run, spec.tag, `steps${steps[0]}-${steps[steps.length - 1]}`, spec.mode === "none" ? "" : `diff-${spec.mode}`],
    "gif",
  );
  download(new Blob([bytes], { type: "image/gif" }), name);
}
