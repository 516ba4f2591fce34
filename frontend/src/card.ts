/**
 * One card per tensor: title, shape, mode select, step slider, heatmap, colour bar.
 * Fetches lazily: only when visible (the app's IntersectionObserver calls setVisible).
 *
 * Example:
 *   const card = new Card(run, tag, info, {tooltip, maxWidth: () => 640});
 *   container.appendChild(card.root); observer.observe(card.root);
 */
import { decodeHeatmap, fetchHeatmapBuffer } from "./api";
import { ColorBar } from "./colorbar";
import { symmetricMax } from "./colormap";
import { RANGE_MODES, type RangeMode, type RangeStore, chooseRange, rangeOf } from "./colorrange";
import { safeFilename } from "./csv";
import { describeCell } from "./describe";
import { download, el, setOptions, setText } from "./dom";
import { formatShape, formatShort } from "./format";
import { HeatmapView, ZOOM_HELP, cellSize } from "./heatmap";
import { drawFigure } from "./figure";
import { pooledShape } from "./grid";
import { redrawEnd, redrawStart } from "./perf";
import { themeVar } from "./theme";
import type { Tooltip } from "./tooltip";
import type { DiffMode, Heatmap, TagInfo } from "./types";

export interface CardEnv {
  tooltip: Tooltip;
  /** Widest the heatmap may be, in CSS pixels. */
  maxWidth: () => number;
  /** The server's exact colour ranges, for the "fixed", "layer" and "runs" range modes. */
  ranges: RangeStore;
  /** The tensors (tags) of this card's layer in its run, itself included. */
  layerTags: () => { tag: string; steps: number }[];
  /** The selected runs holding this card's tensor, with its step counts there. */
  runTags: () => { run: string; steps: number }[];
  /** The user changed the mode or step (the app keeps them in the URL). */
  changed: () => void;
}

/** Milliseconds between steps while playing. */
export const PLAY_MS = 300;

/**
 * The step index after `k` of `n` steps while playing: the next one, back to 0 after the last.
 *
 * Example: nextStepIndex(2, 3) === 0; nextStepIndex(0, 3) === 1; nextStepIndex(0, 0) === 0.
 */
export function nextStepIndex(k: number, n: number): number {
  return n <= 0 ? 0 : (k + 1) % n;
}

const MODES: [DiffMode, string][] = [
  ["none", "weights"],
  ["prev", "change since previous step"],
  ["first", "change since first step"],
];

/** The step to show after the step list changed: keep `want` if still logged, else the nearest earlier, else the first. */
export function pickStep(steps: readonly number[], want: number | null): number | null {
  if (!steps.length) return null;
  if (want === null) return steps[steps.length - 1];
  if (steps.includes(want)) return want;
  let best: number | null = null;
  for (const s of steps) if (s <= want && (best === null || s > best)) best = s;
  return best ?? steps[0];
}

/**
 * The step to show after a reload brought `steps` (was `oldSteps`): a card showing the
 * latest step follows the latest (training goes on, the newest weights show); any other
 * step is kept (pickStep).
 *
 * Example: stepAfterReload([0, 1, 2], [0, 1, 2, 3], 2) === 3; stepAfterReload([0, 1, 2], [0, 1, 2, 3], 1) === 1.
 */
export function stepAfterReload(oldSteps: readonly number[], steps: readonly number[], shown: number | null): number | null {
  const atLatest = shown !== null && oldSteps.length > 0 && shown === oldSteps[oldSteps.length - 1];
  return pickStep(steps, atLatest ? null : shown);
}

export class Card {
  readonly root: HTMLDivElement;
  private info: TagInfo;
  private step: number | null;
  private mode: DiffMode = "none";
  private visible = false;
  private stale = true;
  private seq = 0;
  private abort: AbortController | null = null;
  private data: Heatmap | null = null;
  private hover: { i: number; j: number; x: number; y: number } | null = null;
  private rangeMode: RangeMode = "step";
  private playing = false;
  private playTimer: number | null = null;

  private readonly sub: HTMLDivElement;
  private readonly slider: HTMLInputElement;
  private readonly stepLabel: HTMLSpanElement;
  private readonly linkNote: HTMLSpanElement;
  private readonly modeSelect: HTMLSelectElement;
  private readonly rangeSelect: HTMLSelectElement;
  private readonly playButton: HTMLButtonElement;
  private readonly runLabel: HTMLSpanElement;
  private readonly rangeNote: HTMLDivElement;
  private readonly plot: HTMLDivElement;
  private readonly view: HeatmapView;
  private readonly bar: ColorBar;
  private readonly stats: HTMLDivElement;
  private readonly error: HTMLDivElement;

  constructor(
    readonly run: string,
    readonly tag: string,
    info: TagInfo,
    private readonly env: CardEnv,
  ) {
    this.info = info;
    this.step = pickStep(info.steps, null);
    this.sub = el("div", { className: "nv-card-sub" });
    this.modeSelect = el("select", { attrs: { "data-testid": "mode", "aria-label": "mode" } });
    setOptions(this.modeSelect, MODES, "none");
    this.modeSelect.addEventListener("change", () => {
      this.stopPlaying();
      this.mode = this.modeSelect.value as DiffMode;
      this.invalidate();
      this.env.changed();
    });
    this.rangeSelect = el("select", { attrs: { "data-testid": "range-mode", "aria-label": "colour range" } });
    setOptions(this.rangeSelect, RANGE_MODES, this.rangeMode);
    this.rangeSelect.addEventListener("change", () => {
      this.stopPlaying();
      this.rangeMode = this.rangeSelect.value as RangeMode;
      this.render();
    });
    this.slider = el("input", { attrs: { type: "range", min: "0", step: "1", "data-testid": "step-slider", "aria-label": "step" } });
    this.slider.addEventListener("input", () => {
      this.stopPlaying();
      this.showIndex(Number(this.slider.value));
      this.env.changed();
    });
    this.linkNote = el("span", { className: "nv-help", text: "step linked across runs", attrs: { "data-testid": "step-linked" } });
    this.linkNote.hidden = true;
    this.stepLabel = el("span", { className: "nv-step-label", attrs: { "data-testid": "step-label" } });
    this.playButton = el("button", {
      className: "nv-button nv-play",
      text: "▶",
      title: "Play through the steps (stops on any input)",
      attrs: { type: "button", "data-testid": "play", "aria-label": "play", "aria-pressed": "false" },
    });
    this.playButton.addEventListener("click", () => (this.playing ? this.stopPlaying() : this.startPlaying()));
    const saveButton = el("button", {
      className: "nv-button",
      text: "PNG",
      title: "Save the heatmap as shown, with its title and colour bar, as a PNG file",
      attrs: { type: "button", "data-testid": "save-png", "aria-label": "save as PNG" },
    });
    saveButton.addEventListener("click", () => this.savePng());
    const controls = el(
      "div",
      { className: "nv-controls" },
      this.modeSelect,
      this.rangeSelect,
      saveButton,
      el("label", { className: "nv-step" }, this.playButton, el("span", { text: "step" }), this.slider, this.stepLabel),
      this.linkNote,
    );
    this.error = el("div", { className: "nv-error", attrs: { "data-testid": "card-error", role: "alert" } });
    this.error.hidden = true;
    this.plot = el("div", { className: "nv-plot" });
    this.view = new HeatmapView(
      this.plot,
      (cell, ev) => this.onHover(cell, ev),
      () => this.root.setAttribute("data-zoom", this.canvasZoom()),
    );
    this.stats = el("div", { className: "nv-stats", attrs: { "data-testid": "stats" } });
    this.rangeNote = el("div", { className: "nv-stats", attrs: { "data-testid": "range-note" } });
    this.runLabel = el("span", { className: "nv-run-chip", text: run, attrs: { "data-testid": "card-run" } });
    this.runLabel.hidden = true;
    const barHost = el("div");
    this.bar = new ColorBar(barHost);
    barHost.hidden = true;
    this.root = el(
      "div",
      { className: "nv-card", attrs: { "data-testid": "card", "data-tag": tag, "data-run": run } },
      el("div", { className: "nv-card-title", title: tag }, this.runLabel, document.createTextNode(tag)),
      this.sub,
      controls,
      this.error,
      this.plot,
      el("div", { className: "nv-help", text: ZOOM_HELP, attrs: { "data-testid": "zoom-help" } }),
      this.stats,
      barHost,
      this.rangeNote,
    );
    this.reserveSpace();
    this.applyInfo();
  }

  /** The logged heatmap steps. */
  get steps(): readonly number[] {
    return this.info.steps;
  }

  /** The step shown (null before any is logged). */
  get shownStep(): number | null {
    return this.step;
  }

  /**
   * Linked to its row's shared step control (runs side by side): the card's own slider
   * and play button hide; the label keeps saying which step this run shows.
   */
  setLinked(on: boolean): void {
    if (on) this.stopPlaying();
    this.slider.hidden = on;
    this.playButton.hidden = on;
    this.linkNote.hidden = !on;
    this.root.toggleAttribute("data-linked", on);
  }

  /** Sets the colour range mode (the row's "same colours for all runs" does this). */
  setRangeMode(mode: RangeMode): void {
    if (mode === this.rangeMode) return;
    this.rangeMode = mode;
    this.rangeSelect.value = mode;
    this.render();
  }

  /** Shows `step`, or the nearest earlier logged one (the shared step control's move). */
  showStep(step: number | null): void {
    const next = pickStep(this.info.steps, step);
    if (next === this.step) return;
    this.step = next;
    this.applyInfo();
    this.invalidate();
  }

  /** Mode and step for the URL, or null when both are the defaults (weights, latest step). */
  viewState(): { mode: DiffMode; step: number | null } | null {
    const steps = this.info.steps;
    const step = this.step === steps[steps.length - 1] ? null : this.step;
    return this.mode === "none" && step === null ? null : { mode: this.mode, step };
  }

  /** Restores a mode and step from the URL (a step no longer logged becomes the nearest earlier one). */
  restore(mode: string, step: number | null): void {
    if (MODES.some(([m]) => m === mode)) {
      this.mode = mode as DiffMode;
      this.modeSelect.value = mode;
    }
    this.step = pickStep(this.info.steps, step);
    this.applyInfo();
    this.invalidate();
  }

  /** Shows the run name in the title, marked with the run's chart colour (several runs selected). */
  showRun(show: boolean, color = ""): void {
    this.runLabel.hidden = !show;
    this.runLabel.style.setProperty("--nv-run", color || "transparent");
  }

  /** Flashes the card (the app has scrolled to it: overview row and finding clicks). */
  flash(): void {
    this.root.classList.remove("nv-flash");
    void this.root.offsetWidth; // restart the animation
    this.root.classList.add("nv-flash");
  }

  /** The (run, tensor, steps) whose exact ranges share this card's colour scale. */
  private rangeSources(): { run: string; tag: string; steps: number }[] {
    const own = { run: this.run, tag: this.tag, steps: this.info.steps.length };
    if (this.rangeMode === "layer") {
      const layer = this.env.layerTags().map((t) => ({ run: this.run, ...t }));
      return layer.some((t) => t.tag === this.tag) ? layer : [...layer, own];
    }
    if (this.rangeMode === "runs") {
      const runs = this.env.runTags().map((r) => ({ tag: this.tag, ...r }));
      return runs.some((r) => r.run === this.run) ? runs : [...runs, own];
    }
    return this.rangeMode === "fixed" ? [own] : [];
  }

  private canvasZoom(): string {
    return String(Math.round(this.view.view.scale * 100) / 100);
  }

  private showIndex(k: number): void {
    this.step = this.info.steps[k] ?? this.step;
    this.slider.value = String(k);
    this.updateStepLabel();
    this.invalidate();
  }

  private startPlaying(): void {
    if (this.info.steps.length < 2) return;
    this.playing = true;
    this.playButton.textContent = "❚❚";
    this.playButton.setAttribute("aria-pressed", "true");
    this.playButton.setAttribute("aria-label", "pause");
    this.root.setAttribute("data-playing", "true");
    this.scheduleNext();
  }

  /** Stops playback (any user input on the card does this). */
  stopPlaying(): void {
    if (this.playTimer !== null) window.clearTimeout(this.playTimer);
    this.playTimer = null;
    if (!this.playing) return;
    this.playing = false;
    this.playButton.textContent = "▶";
    this.playButton.setAttribute("aria-pressed", "false");
    this.playButton.setAttribute("aria-label", "play");
    this.root.removeAttribute("data-playing");
  }

  /** Advances one step PLAY_MS after the previous one was shown (never queues requests). */
  private scheduleNext(): void {
    if (!this.playing || this.playTimer !== null) return;
    this.playTimer = window.setTimeout(() => {
      this.playTimer = null;
      if (!this.playing) return;
      const k = this.step === null ? -1 : this.info.steps.indexOf(this.step);
      this.showIndex(nextStepIndex(k, this.info.steps.length));
      if (!this.visible) this.scheduleNext(); // off screen: nothing loads, keep the clock going
    }, PLAY_MS);
  }

  private savePng(): void {
    const c = this.view.canvas;
    if (!c.width || !c.height || !this.data) return;
    const name = safeFilename([this.run, this.tag, `step${this.step ?? ""}`, this.mode === "none" ? "" : `diff-${this.mode}`], "png");
    const mode = MODES.find(([m]) => m === this.mode)?.[1] ?? this.mode;
    const m = Number(this.root.getAttribute("data-range")) || 0;
    const zoom = this.view.view.scale > 1 ? ` · zoomed ${this.canvasZoom()}×` : "";
    const figure = drawFigure({
      title: `${this.run} · ${this.tag}`,
      subtitle: `step ${this.data.header.step} · ${mode} · colour ±${formatShort(m)} (${this.rangeSelect.selectedOptions[0]?.text ?? ""})${zoom}`,
      heatmap: c,
      m,
      fg: themeVar("--nv-fg", "#212121"),
      bg: themeVar("--nv-bg", "#fff"),
    });
    figure.toBlob((blob) => {
      if (blob) download(blob, name);
    }, "image/png");
  }

  /**
   * New metadata after a reload: keeps the mode, and the step if still logged (the latest
   * step follows the latest, see stepAfterReload), and redraws.
   */
  update(info: TagInfo): void {
    this.step = stepAfterReload(this.info.steps, info.steps, this.step);
    this.info = info;
    this.applyInfo();
    this.invalidate();
  }

  /** Called by the app's IntersectionObserver. */
  setVisible(v: boolean): void {
    this.visible = v;
    if (v && this.stale) void this.load();
  }

  /** Marks data out of date; reloads now if visible. */
  invalidate(): void {
    this.stale = true;
    if (this.visible) void this.load();
  }

  private applyInfo(): void {
    const info = this.info;
    const parts = [`shape ${formatShape(info.shape)}`, info.dtype];
    const pool = info.pool ?? [1, 1];
    if (pool[0] > 1 || pool[1] > 1) {
      const [pr, pc] = pooledShape(info.grid, pool);
      parts.push(`grid ${info.grid[0]}×${info.grid[1]} pooled ${pool[0]}×${pool[1]} → ${pr}×${pc}`);
    }
    if (info.gates && info.gates.length) parts.push(`gates ${info.gates.join(" ")}`);
    if (info.description) parts.push(info.description);
    setText(this.sub, parts.filter(Boolean).join(" · "));
    const n = info.steps.length;
    this.slider.max = String(Math.max(0, n - 1));
    this.slider.disabled = n <= 1;
    const k = this.step === null ? 0 : Math.max(0, info.steps.indexOf(this.step));
    this.slider.value = String(k);
    this.updateStepLabel();
  }

  private updateStepLabel(): void {
    setText(this.stepLabel, this.step === null ? "no steps" : String(this.step));
  }

  /** Sizes the empty canvas area so off-screen cards keep their place before loading. */
  private reserveSpace(): void {
    const pool = this.info.pool ?? [1, 1];
    const [r, c] = pooledShape(this.info.grid ?? [1, 1], pool);
    const [cw, ch] = cellSize(r, c, this.env.maxWidth());
    this.plot.style.minHeight = `${Math.round(ch * r)}px`;
    this.plot.style.minWidth = `${Math.round(cw * c)}px`;
  }

  private async load(): Promise<void> {
    if (this.step === null) {
      this.showError("This tag has no logged steps yet.");
      this.stale = false;
      return;
    }
    this.stale = false;
    if (this.mode === "prev" && this.step === this.info.steps[0]) {
      // Nothing to compare with: say so instead of requesting a 400 from the server.
      this.seq++;
      this.abort?.abort();
      this.data = null;
      this.view.clear();
      (this.bar.root.parentElement as HTMLElement).hidden = true;
      setText(this.stats, "");
      this.showError(`Step ${this.step} is the first logged step: there is no previous step to compare with.`, true);
      this.root.setAttribute("data-step", String(this.step));
      this.root.setAttribute("data-mode", this.mode);
      this.scheduleNext();
      return;
    }
    const seq = ++this.seq;
    this.abort?.abort();
    const ctrl = new AbortController();
    this.abort = ctrl;
    this.plot.classList.add("nv-loading");
    this.root.setAttribute("data-loading", "true");
    try {
      const buf = await fetchHeatmapBuffer(this.run, this.tag, this.step, this.mode, ctrl.signal);
      if (seq !== this.seq) return;
      const t = redrawStart();
      this.data = decodeHeatmap(buf);
      this.render();
      redrawEnd(t);
      this.showError(null);
    } catch (e) {
      if (seq !== this.seq || (e instanceof DOMException && e.name === "AbortError")) return;
      this.showError(e instanceof Error ? e.message : String(e));
    } finally {
      if (seq === this.seq) {
        this.plot.classList.remove("nv-loading");
        this.root.removeAttribute("data-loading");
        this.root.setAttribute("data-step", String(this.step));
        this.root.setAttribute("data-mode", this.mode);
        this.scheduleNext();
      }
    }
  }

  private render(): void {
    const hm = this.data;
    if (!hm) return;
    const h = hm.header;
    const stepM = symmetricMax(h.min, h.max);
    const sources = this.rangeSources();
    const known = sources.map((x) => this.env.ranges.peek(x.run, x.tag, x.steps));
    if (known.some((r) => r === undefined)) {
      // Draw with the step's own range now; recolour once the exact ranges arrive.
      const seq = this.seq;
      void Promise.all(sources.map((x) => this.env.ranges.load(x.run, x.tag, x.steps))).then(() => {
        if (seq === this.seq) this.render();
      });
    }
    const scope = {
      steps: sources.reduce((n, x) => n + x.steps, 0),
      tensors: new Set(sources.map((x) => x.tag)).size,
      runs: new Set(sources.map((x) => x.run)).size,
    };
    const exact = known.filter((r) => r !== undefined).map((r) => rangeOf(r, this.mode));
    const pending = known.length - exact.length;
    const chosen = chooseRange(this.rangeMode, stepM, exact, scope);
    const m = chosen.m;
    const note = pending ? `${chosen.note} (loading ${pending} range${pending > 1 ? "s" : ""}…)` : chosen.note;
    this.root.toggleAttribute("data-range-pending", pending > 0);
    this.view.draw(hm, this.info, m, this.env.maxWidth());
    this.root.setAttribute("data-range", String(m));
    this.root.setAttribute("data-range-mode", this.rangeMode);
    this.root.setAttribute("data-zoom", this.canvasZoom());
    setText(this.rangeNote, note ? `colour ±${formatShort(m)}: ${note}` : "");
    this.rangeNote.hidden = !note;
    this.plot.style.minHeight = "";
    this.plot.style.minWidth = "";
    this.bar.update(m, h);
    (this.bar.root.parentElement as HTMLElement).hidden = false;
    const parts = [`step ${h.step}`];
    if (h.diff && h.diff !== "none") parts.push(h.base_step !== null && h.base_step !== undefined ? `Δ vs step ${h.base_step}` : "Δ");
    parts.push(h.min === null || h.max === null ? "no finite values" : `min ${formatShort(h.min)}  max ${formatShort(h.max)}`);
    if (h.wall_time) parts.push(new Date(h.wall_time * 1000).toLocaleString());
    setText(this.stats, parts.join(" · "));
    if (this.hover) this.showTooltip(this.hover.i, this.hover.j, this.hover.x, this.hover.y);
  }

  /** Shows a request error (or, with `note`, a neutral notice) above the heatmap. */
  private showError(msg: string | null, note = false): void {
    this.error.hidden = msg === null;
    this.error.classList.toggle("nv-note", note);
    setText(this.error, msg ?? "");
  }

  private onHover(cell: { i: number; j: number } | null, ev: MouseEvent): void {
    if (!cell || !this.data) {
      this.hover = null;
      this.env.tooltip.hide();
      return;
    }
    this.hover = { ...cell, x: ev.clientX, y: ev.clientY };
    this.showTooltip(cell.i, cell.j, ev.clientX, ev.clientY);
  }

  private showTooltip(i: number, j: number, x: number, y: number): void {
    const hm = this.data;
    if (!hm || i >= hm.rows || j >= hm.cols) return this.env.tooltip.hide();
    this.env.tooltip.show(describeCell(this.info, hm, i, j), x, y);
  }

  /** Stops pending requests and playback (the card is being removed). */
  dispose(): void {
    this.seq++;
    this.abort?.abort();
    this.stopPlaying();
  }
}
