/**
 * The colour bar under a heatmap (LUT gradient + tick values over [-m, m]) and the legend
 * of NaN / +Inf / -Inf colours, shown only when those values are present.
 *
 * Example: const bar = new ColorBar(parent); bar.update(0.31, header);
 */
import type { HeatmapHeader } from "../data/types";
import { barTicks } from "../model/barticks";
import { NAN_RGBA, NEGINF_RGBA, POSINF_RGBA, cssColor, divergingLut } from "../model/colormap";
import { clear, el } from "../ui/dom";

/** The colour map as a canvas one pixel high, one pixel per LUT entry (stretched by whoever draws it). */
export function lutStrip(): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  const lut = divergingLut();
  const n = lut.length / 4;
  canvas.width = n;
  canvas.height = 1;
  const ctx = canvas.getContext("2d");
  if (ctx) {
    const img = ctx.createImageData(n, 1);
    img.data.set(lut);
    ctx.putImageData(img, 0, 0);
  }
  return canvas;
}

/** The bar's width in CSS pixels (ui/style.ts sizes .nv-colorbar to it). */
export const BAR_WIDTH = 240;

export class ColorBar {
  readonly root: HTMLDivElement;
  private readonly ticks: HTMLDivElement;
  private readonly legend: HTMLDivElement;

  constructor(parent: HTMLElement) {
    const canvas = lutStrip();
    canvas.setAttribute("data-testid", "colorbar");
    this.ticks = el("div", { className: "nv-ticks" });
    this.legend = el("div", { className: "nv-legend", attrs: { "data-testid": "legend" } });
    this.root = el("div", { className: "nv-colorbar" }, canvas, this.ticks);
    parent.appendChild(this.root);
    parent.appendChild(this.legend);
  }

  update(m: number, header: HeatmapHeader): void {
    clear(this.ticks);
    for (const t of barTicks(m, BAR_WIDTH)) {
      const span = el("span", { text: t.label, attrs: { "data-testid": "colorbar-tick" } });
      span.style.left = `${t.x}px`;
      this.ticks.appendChild(span);
    }
    clear(this.legend);
    const items: [string, number, readonly number[]][] = [
      ["NaN", header.nan_count ?? 0, NAN_RGBA],
      ["+Inf", header.posinf_count ?? 0, POSINF_RGBA],
      ["−Inf", header.neginf_count ?? 0, NEGINF_RGBA],
    ];
    for (const [label, count, rgba] of items) {
      if (!count) continue;
      const sw = el("span", { className: "nv-swatch" });
      sw.style.background = cssColor(rgba as [number, number, number, number]);
      const item = el("span", { attrs: { "data-testid": `legend-${label === "−Inf" ? "neginf" : label === "+Inf" ? "posinf" : "nan"}` } }, sw);
      item.appendChild(document.createTextNode(`${label} × ${count}`));
      this.legend.appendChild(item);
    }
    this.legend.hidden = !this.legend.firstChild;
  }
}
