/**
 * The colour bar under a heatmap (LUT gradient + tick values over [-m, m], or [0, m] for
 * a magnitude map) and the legend of NaN / +Inf / -Inf colours, shown only when those
 * values are present.
 *
 * Example: const bar = new ColorBar(parent); bar.update(0.31, header, "viridis");
 */
import type { HeatmapHeader } from "../data/types";
import { barTicks } from "../model/barticks";
import { type ColormapName, cssColor, isMagnitude, lutOf, specialColors } from "../model/colormap";
import { clear, el } from "../ui/dom";

/** The colour map as a canvas one pixel high, one pixel per LUT entry (stretched by whoever draws it). */
export function lutStrip(cmap: ColormapName = "diverging"): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  const lut = lutOf(cmap);
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
  private strip: HTMLCanvasElement;
  private cmap: ColormapName = "diverging";
  private readonly ticks: HTMLDivElement;
  private readonly legend: HTMLDivElement;

  constructor(parent: HTMLElement) {
    this.strip = this.makeStrip();
    this.ticks = el("div", { className: "nv-ticks" });
    this.legend = el("div", { className: "nv-legend", attrs: { "data-testid": "legend" } });
    this.root = el("div", { className: "nv-colorbar" }, this.strip, this.ticks);
    parent.appendChild(this.root);
    parent.appendChild(this.legend);
  }

  private makeStrip(): HTMLCanvasElement {
    const canvas = lutStrip(this.cmap);
    canvas.setAttribute("data-testid", "colorbar");
    canvas.setAttribute("data-colormap", this.cmap);
    return canvas;
  }

  update(m: number, header: HeatmapHeader, cmap: ColormapName = "diverging"): void {
    if (cmap !== this.cmap) {
      this.cmap = cmap;
      const next = this.makeStrip();
      this.strip.replaceWith(next);
      this.strip = next;
    }
    clear(this.ticks);
    for (const t of barTicks(m, BAR_WIDTH, isMagnitude(cmap))) {
      const span = el("span", { text: t.label, attrs: { "data-testid": "colorbar-tick" } });
      span.style.left = `${t.x}px`;
      this.ticks.appendChild(span);
    }
    clear(this.legend);
    const special = specialColors(cmap);
    const items: [string, number, readonly number[]][] = [
      ["NaN", header.nan_count ?? 0, special.nan],
      ["+Inf", header.posinf_count ?? 0, special.posinf],
      ["−Inf", header.neginf_count ?? 0, special.neginf],
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
