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

/** One entry of the NaN / +Inf / -Inf legend: what and how many, in which colour. */
export interface SpecialItem {
  key: "nan" | "posinf" | "neginf";
  label: string;
  count: number;
  rgba: readonly number[];
}

/**
 * The legend entries of the non-finite values a heatmap holds (none when all are finite),
 * in their colours under `cmap`: the card's legend and its PNG export draw the same.
 *
 * Example: specialItems({nan_count: 3, posinf_count: 0, neginf_count: 1, ...})
 *   -> [{key: "nan", label: "NaN", count: 3, rgba: magenta}, {key: "neginf", label: "−Inf", count: 1, ...}]
 */
export function specialItems(header: HeatmapHeader, cmap: ColormapName = "diverging"): SpecialItem[] {
  const special = specialColors(cmap);
  const items: SpecialItem[] = [
    { key: "nan", label: "NaN", count: header.nan_count ?? 0, rgba: special.nan },
    { key: "posinf", label: "+Inf", count: header.posinf_count ?? 0, rgba: special.posinf },
    { key: "neginf", label: "−Inf", count: header.neginf_count ?? 0, rgba: special.neginf },
  ];
  return items.filter((item) => item.count > 0);
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
    for (const { key, label, count, rgba } of specialItems(header, cmap)) {
      const sw = el("span", { className: "nv-swatch" });
      sw.style.background = cssColor(rgba as [number, number, number, number]);
      const item = el("span", { attrs: { "data-testid": `legend-${key}` } }, sw);
      item.appendChild(document.createTextNode(`${label} × ${count}`));
      this.legend.appendChild(item);
    }
    this.legend.hidden = !this.legend.firstChild;
  }
}
