/**
 * The single floating tooltip of the tab (one element for all cards, so tests find
 * exactly one `[data-testid=tooltip]`).
 *
 * Children carry test hooks: tooltip-value, tooltip-row, tooltip-col (integers),
 * tooltip-index, tooltip-block, tooltip-absmax.
 */
import type { CellDescription } from "../model/describe";
import { clear, el } from "./dom";

export class Tooltip {
  readonly root: HTMLDivElement;

  constructor(parent: HTMLElement) {
    this.root = el("div", { className: "nv-tooltip", attrs: { "data-testid": "tooltip", role: "tooltip" } });
    this.root.hidden = true;
    parent.appendChild(this.root);
  }

  /** Shows `d` near viewport point (x, y). */
  show(d: CellDescription, x: number, y: number): void {
    const r = this.root;
    clear(r);
    const line = (key: string, value: string, testid: string) =>
      el("div", {}, el("span", { className: "nv-tip-k", text: `${key} ` }), el("span", { className: "nv-tip-v", text: value, attrs: { "data-testid": testid } }));
    r.appendChild(line(d.valueLabel, d.value, "tooltip-value"));
    if (d.absmax !== null) r.appendChild(line("absmax", d.absmax, "tooltip-absmax"));
    r.appendChild(
      el(
        "div",
        {},
        el("span", { className: "nv-tip-k", text: "row " }),
        el("span", { className: "nv-tip-v", text: String(d.row), attrs: { "data-testid": "tooltip-row" } }),
        el("span", { className: "nv-tip-k", text: ", col " }),
        el("span", { className: "nv-tip-v", text: String(d.col), attrs: { "data-testid": "tooltip-col" } }),
      ),
    );
    if (d.block !== null) r.appendChild(line("block", d.block, "tooltip-block"));
    if (d.index !== null) r.appendChild(line("index", d.index, "tooltip-index"));
    r.hidden = false;
    // Keep inside the viewport: flip to the left / top of the pointer near the edges.
    const pad = 12;
    const w = r.offsetWidth;
    const h = r.offsetHeight;
    let left = x + pad;
    let top = y + pad;
    if (left + w > window.innerWidth - 4) left = Math.max(4, x - pad - w);
    if (top + h > window.innerHeight - 4) top = Math.max(4, y - pad - h);
    r.style.left = `${left}px`;
    r.style.top = `${top}px`;
  }

  hide(): void {
    this.root.hidden = true;
  }
}
