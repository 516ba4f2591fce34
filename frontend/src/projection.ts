/**
 * The weight-space path: each selected run's parameter vector (summed CountSketches of
 * its tensors, or one tensor) projected on the first two principal components, drawn as
 * a line per run (run colour) with points coloured by step order (viridis, dark = first
 * step, yellow = last). Hover shows run and step. Axis labels carry the explained
 * variance; a high PC1 share gets the random-walk caveat.
 *
 * Example: const p = new ProjectionPanel(); body.appendChild(p.root); p.update(["a", "b"], ["dense/kernel"]);
 */
import { interpolateViridis } from "d3-scale-chromatic";
import { fetchProjection } from "./api";
import { el, setOptions, setText } from "./dom";
import { formatShort } from "./format";
import { type PlotScale, nearestPoint, niceTicks, orderColors, pathExtent, pcLabel, plotScale, showRandomWalkNote } from "./pathplot";
import { runColor } from "./series";
import type { Projection } from "./types";

const WHOLE = "";
const HEIGHT = 360;
const MARGIN = { left: 56, right: 16, top: 12, bottom: 40 };

export class ProjectionPanel {
  readonly root: HTMLDetailsElement;
  private readonly select: HTMLSelectElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly readout: HTMLDivElement;
  private readonly note: HTMLDivElement;
  private readonly error: HTMLDivElement;
  private readonly legend: HTMLDivElement;
  private runs: string[] = [];
  private tag = WHOLE;
  private data: Projection | null = null;
  private scale: PlotScale | null = null;
  private pixels: [number, number, number, number][] = [];
  private order: string[] = [];
  private seq = 0;
  private abort: AbortController | null = null;
  private key = "";

  constructor() {
    this.select = el("select", { attrs: { "data-testid": "projection-select", "aria-label": "tensor of the weight-space path" } });
    this.select.addEventListener("change", () => {
      this.tag = this.select.value;
      void this.load();
    });
    this.canvas = el("canvas", { className: "nv-projection", attrs: { "data-testid": "projection" } });
    this.canvas.addEventListener("mousemove", (ev) => this.onHover(ev));
    this.canvas.addEventListener("mouseleave", () => this.showReadout(null));
    this.readout = el("div", { className: "nv-readout", attrs: { "data-testid": "projection-readout" } });
    this.note = el("div", { className: "nv-note-text", attrs: { "data-testid": "projection-note" } });
    this.note.hidden = true;
    this.error = el("div", { className: "nv-error", attrs: { "data-testid": "projection-error", role: "alert" } });
    this.error.hidden = true;
    this.legend = el("div", { className: "nv-legend" });
    this.root = el(
      "details",
      { className: "nv-panel", attrs: { "data-testid": "projection-panel" } },
      el("summary", { text: "Weight-space path (PCA of sketched parameters)" }),
      el("div", { className: "nv-controls" }, el("label", {}, el("span", { text: "Parameters " }), this.select), this.legend),
      this.error,
      this.canvas,
      this.readout,
      this.note,
    );
    this.root.open = true;
    this.showReadout(null);
    this.root.addEventListener("toggle", () => {
      if (this.root.open) this.draw();
    });
  }

  /** Selected runs and the tensors they have trajectories for; refetches when either changed or `force`. */
  update(runs: string[], tensors: string[], force = false): void {
    const options: [string, string][] = [[WHOLE, "whole model (all tensors)"], ...tensors.map((t): [string, string] => [t, t])];
    if (this.tag !== WHOLE && !tensors.includes(this.tag)) this.tag = WHOLE;
    setOptions(this.select, options, this.tag);
    this.runs = runs;
    const key = JSON.stringify([runs, this.tag]);
    if (force || key !== this.key) void this.load();
  }

  resize(): void {
    this.draw();
  }

  private async load(): Promise<void> {
    const seq = ++this.seq;
    this.abort?.abort();
    this.key = JSON.stringify([this.runs, this.tag]);
    if (!this.runs.length) return;
    const ctrl = new AbortController();
    this.abort = ctrl;
    this.root.setAttribute("data-loading", "true");
    try {
      const data = await fetchProjection(this.runs, this.tag || null, ctrl.signal);
      if (seq !== this.seq) return;
      this.data = data;
      this.showError(null);
      this.draw();
    } catch (e) {
      if (seq !== this.seq || (e instanceof DOMException && e.name === "AbortError")) return;
      this.data = null;
      this.draw();
      const msg = e instanceof Error ? e.message : String(e);
      this.showError(
        /404/.test(msg)
          ? `${msg}\nThe weight-space path needs trajectory points (with sketches) of at least 3 steps: log with trajectories enabled.`
          : msg,
      );
    } finally {
      if (seq === this.seq) this.root.removeAttribute("data-loading");
    }
  }

  private showError(msg: string | null): void {
    this.error.hidden = msg === null;
    setText(this.error, msg ?? "");
  }

  private draw(): void {
    const c = this.canvas;
    const w = Math.max(320, Math.min(900, (window.innerWidth || 900) - 80));
    const h = HEIGHT;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    this.pixels = [];
    this.scale = null;
    const data = this.data;
    const runs = data ? this.runs.filter((r) => data.runs[r]) : [];
    this.legend.replaceChildren(
      ...runs.map((r, k) => {
        const sw = el("span", { className: "nv-swatch" });
        sw.style.background = runColor(k);
        return el("span", {}, sw, document.createTextNode(r));
      }),
    );
    const ratio = data?.explained_variance_ratio ?? [];
    this.note.hidden = !showRandomWalkNote(ratio);
    if (!this.note.hidden) {
      setText(
        this.note,
        `PC1 explains ${(ratio[0] * 100).toFixed(1)}% of the variance. A random walk also looks this structured ` +
          "in PCA (a smooth, curved path with most variance on PC1): read the shape with care " +
          "(Antognini & Sohl-Dickstein 2018, \"PCA of high dimensional random walks with comparison to neural network training\").",
      );
    }
    c.setAttribute("data-pc1", ratio[0] !== undefined ? String(ratio[0]) : "");
    c.setAttribute("data-runs", String(runs.length));
    const muted = getComputedStyle(document.documentElement).getPropertyValue("--nv-muted").trim() || "#616161";
    const gridColor = getComputedStyle(document.documentElement).getPropertyValue("--nv-border").trim() || "#e0e0e0";
    ctx.font = "11px Roboto, system-ui, sans-serif";
    const series = runs.map((r) => data!.runs[r]);
    const ext = pathExtent(series);
    if (!data || !ext) {
      ctx.fillStyle = muted;
      ctx.textAlign = "center";
      ctx.fillText(data ? "No finite path coordinates to plot." : "", w / 2, h / 2);
      c.setAttribute("data-points", "0");
      return;
    }
    const sc = plotScale(ext, w, h, MARGIN);
    this.scale = sc;
    // Axes and grid.
    ctx.strokeStyle = gridColor;
    ctx.fillStyle = muted;
    ctx.lineWidth = 1;
    const xt = niceTicks(sc.shown.x0, sc.shown.x1, 6);
    const yt = niceTicks(sc.shown.y0, sc.shown.y1, 5);
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of xt) {
      const [px] = sc.toPx(t, 0);
      ctx.beginPath();
      ctx.moveTo(Math.round(px) + 0.5, MARGIN.top);
      ctx.lineTo(Math.round(px) + 0.5, h - MARGIN.bottom);
      ctx.stroke();
      ctx.fillText(formatShort(t), px, h - MARGIN.bottom + 4);
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of yt) {
      const [, py] = sc.toPx(0, t);
      ctx.beginPath();
      ctx.moveTo(MARGIN.left, Math.round(py) + 0.5);
      ctx.lineTo(w - MARGIN.right, Math.round(py) + 0.5);
      ctx.stroke();
      ctx.fillText(formatShort(t), MARGIN.left - 4, py);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    ctx.fillText(pcLabel(0, ratio), MARGIN.left + (w - MARGIN.left - MARGIN.right) / 2, h - 2);
    ctx.save();
    ctx.translate(12, MARGIN.top + (h - MARGIN.top - MARGIN.bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText(pcLabel(1, ratio), 0, 0);
    ctx.restore();
    c.setAttribute("data-xlabel", pcLabel(0, ratio));
    c.setAttribute("data-ylabel", pcLabel(1, ratio));
    // Paths, then points on top.
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top, w - MARGIN.left - MARGIN.right, h - MARGIN.top - MARGIN.bottom);
    ctx.clip();
    series.forEach((s, k) => {
      ctx.strokeStyle = runColor(k);
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < s.step.length; i++) {
        const x = s.x[i];
        const y = s.y[i];
        if (x === null || y === null) {
          pen = false;
          continue;
        }
        const [px, py] = sc.toPx(x, y);
        if (pen) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        pen = true;
        this.pixels.push([k, i, px, py]);
      }
      ctx.stroke();
    });
    series.forEach((s, k) => {
      const colors = orderColors(s.step.length, interpolateViridis);
      for (let i = 0; i < s.step.length; i++) {
        const x = s.x[i];
        const y = s.y[i];
        if (x === null || y === null) continue;
        const [px, py] = sc.toPx(x, y);
        ctx.beginPath();
        ctx.arc(px, py, i === 0 || i === s.step.length - 1 ? 4.5 : 3, 0, 2 * Math.PI);
        ctx.fillStyle = colors[i];
        ctx.fill();
        ctx.strokeStyle = runColor(k);
        ctx.lineWidth = 1;
        ctx.stroke();
      }
    });
    ctx.restore();
    this.order = runs;
    c.setAttribute("data-points", String(this.pixels.length));
  }

  private onHover(ev: MouseEvent): void {
    if (!this.scale || !this.data) return this.showReadout(null);
    const rect = this.canvas.getBoundingClientRect();
    const hit = nearestPoint(this.pixels, ev.clientX - rect.left, ev.clientY - rect.top, 12);
    if (!hit) return this.showReadout(null);
    const run = this.order[hit.series];
    const s = this.data.runs[run];
    const n = s.step.length;
    this.showReadout(`${run} · step ${s.step[hit.index]} (${hit.index + 1} of ${n}) · PC1 ${formatShort(s.x[hit.index] ?? NaN)}, PC2 ${formatShort(s.y[hit.index] ?? NaN)}`, run, s.step[hit.index]);
  }

  private showReadout(text: string | null, run?: string, step?: number): void {
    setText(this.readout, text ?? "Hover a point for its run and step. Colour: first step (dark) → last step (yellow).");
    if (run !== undefined) {
      this.readout.setAttribute("data-run", run);
      this.readout.setAttribute("data-step", String(step));
    } else {
      this.readout.removeAttribute("data-run");
      this.readout.removeAttribute("data-step");
    }
  }
}
