/**
 * The heatmap controls of a card: what to show (weights or a change), the colour range
 * mode, the colour map, and the PNG and animated GIF export buttons. Holds no data: the
 * card reads the choices and is told when the user changes one.
 *
 * Example:
 *   const hc = new HeatmapControls({mode: (m) => card.setMode(m), range: (r) => card.redraw(),
 *                                   cmap: (c) => card.setColormap(c), save: () => card.savePng(), gif: () => card.saveGif()});
 *   controls.append(hc.mode, hc.range, hc.cmap, hc.save, hc.gif);
 */
import type { DiffMode } from "../data/types";
import { COLORMAPS, type ColormapName } from "../model/colormap";
import { RANGE_MODES, type RangeMode } from "../model/colorrange";
import { el, setOptions } from "../ui/dom";

/** The heatmap modes and their labels (also the PNG's subtitle). */
export const MODES: [DiffMode, string][] = [
  ["none", "weights"],
  ["prev", "change since previous step"],
  ["first", "change since first step"],
];

/** True when `mode` names one of MODES (a URL may hold anything). */
export function isMode(mode: string): mode is DiffMode {
  return MODES.some(([m]) => m === mode);
}

export class HeatmapControls {
  readonly mode: HTMLSelectElement;
  readonly range: HTMLSelectElement;
  readonly cmap: HTMLSelectElement;
  readonly save: HTMLButtonElement;
  readonly gif: HTMLButtonElement;

  constructor(on: {
    mode: (m: DiffMode) => void;
    range: (r: RangeMode) => void;
    cmap: (c: ColormapName) => void;
    save: () => void;
    gif: () => void;
  }) {
    this.mode = el("select", { attrs: { "data-testid": "mode", "aria-label": "mode" } });
    setOptions(this.mode, MODES, "none");
    this.mode.addEventListener("change", () => on.mode(this.mode.value as DiffMode));
    this.range = el("select", { attrs: { "data-testid": "range-mode", "aria-label": "colour range" } });
    setOptions(this.range, RANGE_MODES, "step");
    this.range.addEventListener("change", () => on.range(this.range.value as RangeMode));
    this.cmap = el("select", {
      title: "Colour map: signed values centred at 0, or the magnitude |x| in viridis",
      attrs: { "data-testid": "colormap", "aria-label": "colour map" },
    });
    setOptions(this.cmap, COLORMAPS, "diverging");
    this.cmap.addEventListener("change", () => on.cmap(this.cmap.value as ColormapName));
    this.save = el("button", {
      className: "nv-button",
      text: "PNG",
      title: "Save the heatmap as shown, with its title and colour bar, as a PNG file",
      attrs: { type: "button", "data-testid": "save-png", "aria-label": "save as PNG" },
    });
    this.save.addEventListener("click", () => on.save());
    this.gif = el("button", {
      className: "nv-button",
      text: "GIF",
      title: "Save the heatmap over all its logged steps as an animated GIF, with the step and colour bar in each frame",
      attrs: { type: "button", "data-testid": "save-gif", "aria-label": "save as animated GIF" },
    });
    this.gif.addEventListener("click", () => on.gif());
  }

  /** The label of the chosen mode ("weights", ...). */
  get modeLabel(): string {
    return MODES.find(([m]) => m === this.mode.value)?.[1] ?? this.mode.value;
  }

  /** The label of the chosen colour range mode. */
  get rangeLabel(): string {
    return this.range.selectedOptions[0]?.text ?? "";
  }
}
