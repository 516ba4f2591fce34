/**
 * The heatmap controls of a card: what to show (weights or a change), the colour range
 * mode and the PNG export button. Holds no data: the card reads the choices and is told
 * when the user changes one.
 *
 * Example:
 *   const hc = new HeatmapControls({mode: (m) => card.setMode(m), range: (r) => card.redraw(), save: () => card.savePng()});
 *   controls.append(hc.mode, hc.range, hc.save);
 */
import type { DiffMode } from "../data/types";
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
  readonly save: HTMLButtonElement;

  constructor(on: { mode: (m: DiffMode) => void; range: (r: RangeMode) => void; save: () => void }) {
    this.mode = el("select", { attrs: { "data-testid": "mode", "aria-label": "mode" } });
    setOptions(this.mode, MODES, "none");
    this.mode.addEventListener("change", () => on.mode(this.mode.value as DiffMode));
    this.range = el("select", { attrs: { "data-testid": "range-mode", "aria-label": "colour range" } });
    setOptions(this.range, RANGE_MODES, "step");
    this.range.addEventListener("change", () => on.range(this.range.value as RangeMode));
    this.save = el("button", {
      className: "nv-button",
      text: "PNG",
      title: "Save the heatmap as shown, with its title and colour bar, as a PNG file",
      attrs: { type: "button", "data-testid": "save-png", "aria-label": "save as PNG" },
    });
    this.save.addEventListener("click", () => on.save());
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
