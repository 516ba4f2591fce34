/**
 * One card per tensor and run: title, shape, heatmap controls (cardcontrols.ts), step
 * control (steps.ts), heatmap, colour bar and stats; PNG and animated GIF (cardgif.ts) export. Fetches lazily: only when visible
 * (the sections' IntersectionObserver calls setVisible). Side by side with other runs,
 * its row (tensorrow.ts) may drive its step and mode.
 *
 * Example:
 *   const card = new Card(run, tag, info, {tooltip, maxWidth: () => 640, ranges, ...});
 *   container.appendChild(card.root); observer.observe(card.root);
 */
import { decodeHeatmap, fetchHeatmapBuffer } from "../data/api";
import { latestOnly } from "../data/latest";
import type { RangeStore } from "../data/ranges";
import type { DiffMode, TagInfo } from "../data/types";
import { type ColormapName, isColormap, symmetricMax } from "../model/colormap";
import { type RangeMode, rangeSources, resolveRange } from "../model/colorrange";
import { activationHeading, isActivationTag } from "../model/activations";
import { lastFiniteBefore } from "../model/broken";
import { tensorSubtitle } from "../model/describe";
import { heatAxes } from "../model/heataxes";
import type { View } from "../model/viewport";
import { el, setText } from "../ui/dom";
import { redrawEnd, redrawStart } from "../ui/perf";
import type { Tooltip } from "../ui/tooltip";
import { CardBody } from "./cardbody";
import { specialItems } from "./colorbar";
import { saveAnimation } from "./cardgif";
import { HeatmapControls, isMode } from "./cardcontrols";
import { saveFigure } from "./figure";
import { StepControl, pickStep, stepAfterReload } from "./steps";

/**
 * The mark over a heatmap whose step is all NaN/Inf: from which logged heatmap on, and
 * which earlier step is drawn instead.
 *
 * Example: nanMark({step: 10, nanFrom: 20})
 *   === "✖ NaN/Inf: every value is NaN or ±Inf in the heatmaps from step 20; showing step 10, the last with finite values"
 */
export function nanMark(back: { step: number | null; nanFrom: number }): string {
  const head = `\u2716\uFE0E NaN/Inf: every value is NaN or \u00b1Inf in the heatmaps from step ${back.nanFrom}`;
  return back.step === null ? `${head}, the first logged` : `${head}; showing step ${back.step}, the last with finite values`;
}

/**
 * The note under a pooled heatmap's subtitle (null when not pooled): the budget pooled it,
 * and the loggers' `full_resolution` option logs a tensor unpooled.
 *
 * Example: pooledNote({pool: [24, 24], ...}) === "Pooled to fit the heatmap budget: name this tensor in full_resolution= (Keras callback, watch, Writer) to log it unpooled"
 */
export function pooledNote(info: Pick<TagInfo, "pool">): string | null {
  const pool = info.pool ?? [1, 1];
  if (pool[0] <= 1 && pool[1] <= 1) return null;
  return "Pooled to fit the heatmap budget: name this tensor in full_resolution= (Keras callback, watch, Writer) to log it unpooled";
}

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

export class Card {
  readonly root: HTMLDivElement;
  /** Set by the card's row while runs side by side share the mode: called on the user's mode change. */
  onModePicked: ((mode: DiffMode) => void) | null = null;
  private info: TagInfo;
  private step: number | null;
  private mode: DiffMode = "none";
  private cmap: ColormapName = "diverging";
  private visible = false;
  private stale = true;
  /** The heatmap request: a newer one (or dispose) supersedes it, and the colour-range redraw it awaits. */
  private readonly latest = latestOnly();
  private rangeMode: RangeMode = "step";
  private keptView: View | null = null;

  private readonly sub: HTMLDivElement;
  private readonly pooled: HTMLDivElement;
  /** Activation heatmaps (`<layer>/activations`): what the rows and columns are, at which step. */
  private readonly actLabel: HTMLDivElement;
  private readonly controls: HeatmapControls;
  private readonly steps: StepControl;
  private readonly linkNote: HTMLSpanElement;
  private readonly runLabel: HTMLSpanElement;
  private readonly body: CardBody;

  constructor(
    readonly run: string,
    readonly tag: string,
    info: TagInfo,
    private readonly env: CardEnv,
  ) {
    this.info = info;
    this.step = pickStep(info.steps, null);
    this.sub = el("div", { className: "nv-card-sub" });
    this.pooled = el("div", { className: "nv-help", attrs: { "data-testid": "pooled-note" } });
    this.actLabel = el("div", { className: "nv-act-label", attrs: { "data-testid": "activation-label" } });
    this.actLabel.hidden = !isActivationTag(tag);
    this.controls = new HeatmapControls({
      mode: (mode) => {
        this.setMode(mode);
        this.onModePicked?.(mode);
        this.env.changed();
      },
      range: (mode) => {
        this.steps.stop();
        this.rangeMode = mode;
        this.render();
      },
      cmap: (cmap) => {
        this.setColormap(cmap);
        this.env.changed();
      },
      save: () => this.savePng(),
      gif: () => void this.saveGif(),
    });
    this.steps = new StepControl(
      {
        label: "step",
        playTitle: "Play through the steps (stops on any input)",         ids: { slider: "step-slider", label: "step-label", play: "play" },
        onPlaying: (on) => this.root.toggleAttribute("data-playing", on),
      },
      (step) => {
        this.step = step;
        this.invalidate();
        if (!this.visible) this.steps.shown(); // off screen nothing loads: keep the clock going
        if (!this.steps.isPlaying) this.env.changed();
      },
    );
    this.linkNote = el("span", { className: "nv-help", text: "step and mode linked across runs", attrs: { "data-testid": "step-linked" } });
    this.linkNote.hidden = true;
    const c = this.controls;
    const controls = el("div", { className: "nv-controls" }, c.mode, c.range, c.cmap, c.save, c.gif, this.steps.root, this.linkNote);
    this.body = new CardBody(env.tooltip, () => this.root.setAttribute("data-zoom", String(this.body.zoom)));
    this.runLabel = el("span", { className: "nv-run-chip", text: run, attrs: { "data-testid": "card-run" } });
    this.runLabel.hidden = true;
    this.root = el(
      "div",
      { className: "nv-card", attrs: { "data-testid": "card", "data-tag": tag, "data-run": run } },
      el("div", { className: "nv-card-title", title: tag }, this.runLabel, document.createTextNode(tag)),
      this.actLabel,
      this.sub,
      this.pooled,
      controls,
      this.body.root,
    );
    this.body.reserve(info, env.maxWidth());
    this.applyInfo();
  }

  /** The logged heatmap steps. */
  get logged(): readonly number[] {
    return this.info.steps;
  }

  /** The step shown (null before any is logged). */
  get shownStep(): number | null {
    return this.step;
  }

  /** The colour range mode chosen. */
  get rangeChoice(): RangeMode {
    return this.rangeMode;
  }

  /** The heatmap's zoom / pan (null before the first draw). */
  get zoomView(): View | null {
    return this.body.heatmap ? this.body.view : null;
  }

  /** Zoom / pan to apply once the heatmap is drawn (a released card coming back as it was). */
  keepView(v: View | null): void {
    this.keptView = v && v.scale > 1 ? v : null;
  }

  /** The heatmap mode shown. */
  get shownMode(): DiffMode {
    return this.mode;
  }

  /**
   * Linked to its row's shared controls (runs side by side): the card's own slider and
   * play button hide; the label keeps saying which step this run shows.
   */
  setLinked(on: boolean): void {
    this.steps.setHidden(on);
    this.linkNote.hidden = !on;
    this.root.toggleAttribute("data-linked", on);
  }

  /** Shows `mode` (weights or a change); the user's choice, the URL or the row's link. */
  setMode(mode: DiffMode): void {
    this.steps.stop();
    this.controls.mode.value = mode;
    if (mode === this.mode) return;
    this.mode = mode;
    this.invalidate();
  }

  /** Colours the heatmap with `cmap` (signed diverging, or viridis for |x|). */
  setColormap(cmap: ColormapName): void {
    this.controls.cmap.value = cmap;
    if (cmap === this.cmap) return;
    this.cmap = cmap;
    this.render();
  }

  /** Sets the colour range mode (the row's "same colours for all runs" does this). */
  setRangeMode(mode: RangeMode): void {
    if (mode === this.rangeMode) return;
    this.rangeMode = mode;
    this.controls.range.value = mode;
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

  /**
   * Mode, step and colour map for the URL (the colour map only when not the default), or
   * null when all are the defaults (weights, latest step, diverging).
   */
  viewState(): { mode: DiffMode; step: number | null; cmap?: ColormapName } | null {
    const steps = this.info.steps;
    const step = this.step === steps[steps.length - 1] ? null : this.step;
    if (this.mode === "none" && step === null && this.cmap === "diverging") return null;
    return this.cmap === "diverging" ? { mode: this.mode, step } : { mode: this.mode, step, cmap: this.cmap };
  }

  /**
   * Restores a mode, step and colour map from the URL (a step no longer logged becomes the
   * nearest earlier one; an unknown mode or colour map is ignored).
   */
  restore(mode: string, step: number | null, cmap?: string): void {
    if (isMode(mode)) {
      this.mode = mode;
      this.controls.mode.value = mode;
    }
    const next = isColormap(cmap) ? cmap : "diverging";
    this.cmap = next;
    this.controls.cmap.value = next;
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

  /** Stops playback. */
  stopPlaying(): void {
    this.steps.stop();
  }

  private savePng(): void {
    const c = this.body.canvas;
    const hm = this.body.heatmap;
    if (!c.width || !c.height || !hm) return;
    saveFigure({
      run: this.run,
      tag: this.tag,
      step: hm.header.step,
      mode: this.mode,
      modeLabel: this.controls.modeLabel,
      m: Number(this.root.getAttribute("data-range")) || 0,
      rangeLabel: this.controls.rangeLabel,
      cmap: this.cmap,
      zoom: this.body.zoom,
      heatmap: c,
      axes: heatAxes(this.info),
      legend: specialItems(hm.header, this.cmap),
    });
  }

  /** Downloads the heatmap over all its logged steps as an animated GIF (the button is busy meanwhile). */
  private async saveGif(): Promise<void> {
    this.steps.stop();
    const button = this.controls.gif;
    button.disabled = true;
    button.textContent = "GIF…"; // fetching every step, then encoding: seconds on a large tensor
    this.root.setAttribute("data-exporting", "true");
    try {
      await saveAnimation({
        run: this.run,
        tag: this.tag,
        info: this.info,
        mode: this.mode,
        modeLabel: this.controls.modeLabel,
        cmap: this.cmap,
        maxWidth: this.env.maxWidth(),
      });
    } catch (e) {
      this.body.showError(`GIF export failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      button.disabled = false;
      button.textContent = "GIF";
      this.root.removeAttribute("data-exporting");
    }
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
    setText(this.sub, tensorSubtitle(this.info));
    const note = isActivationTag(this.tag) ? null : pooledNote(this.info);
    setText(this.pooled, note ?? "");
    this.pooled.hidden = note === null;
    this.paintActLabel();
    this.steps.set(this.info.steps, this.step);
  }

  /** The activation label at the step shown (samples down, units across). */
  private paintActLabel(): void {
    if (!this.actLabel.hidden) setText(this.actLabel, activationHeading(this.info.shape, this.step));
  }

  private async load(): Promise<void> {
    if (this.step === null) {
      this.body.showError("This tag has no logged steps yet.");
      this.stale = false;
      return;
    }
    this.stale = false;
    if (this.mode === "prev" && this.step === this.info.steps[0]) {
      // Nothing to compare with: say so instead of requesting a 400 from the server.
      this.latest.cancel();
      this.body.clear();
      this.body.showError(`Step ${this.step} is the first logged step: there is no previous step to compare with.`, true);
      this.root.setAttribute("data-step", String(this.step));
      this.root.setAttribute("data-mode", this.mode);
      this.steps.shown();
      return;
    }
    const step = this.step;
    const mode = this.mode;
    this.body.setLoading(true);
    this.root.setAttribute("data-loading", "true");
    try {
      const got = await this.latest.run(async (signal) => {
        const fetchStep = async (s: number, m: DiffMode) => decodeHeatmap(await fetchHeatmapBuffer(this.run, this.tag, s, m, signal));
        const hm = await fetchStep(step, mode);
        // All NaN/Inf (a diverged run): the last logged heatmap with finite values instead, marked.
        if (mode !== "none" || hm.header.min !== null || hm.header.max !== null) return { hm, back: null };
        const back = await lastFiniteBefore(this.info.steps, step, (s) => fetchStep(s, "none"), (h) => h.header.min !== null);
        return { hm: back?.found ?? hm, back };
      });
      if (got === undefined) return; // superseded: the newer request finishes the load
      const t = redrawStart();
      this.render(got.hm);
      redrawEnd(t);
      this.body.showError(got.back ? nanMark(got.back) : null);
      if (got.back) this.root.setAttribute("data-nan-from", String(got.back.nanFrom));
      else this.root.removeAttribute("data-nan-from");
      this.root.toggleAttribute("data-nan-shown", !!got.back && got.back.step !== null);
    } catch (e) {
      this.body.showError(e instanceof Error ? e.message : String(e));
    }
    this.body.setLoading(false);
    this.root.removeAttribute("data-loading");
    this.root.setAttribute("data-step", String(this.step));
    this.root.setAttribute("data-mode", this.mode);
    this.paintActLabel();
    this.steps.shown();
  }

  /** Draws `hm` (default: the heatmap shown) with the colour range of the range mode. */
  private render(hm = this.body.heatmap): void {
    if (!hm) return;
    const h = hm.header;
    const own = { run: this.run, tag: this.tag, steps: this.info.steps.length };
    const sources = rangeSources(this.rangeMode, own, this.env.layerTags, this.env.runTags);
    const ranges = this.env.ranges;
    const { m, note, missing } = resolveRange((s) => ranges.peek(s.run, s.tag, s.steps), this.rangeMode, this.mode, symmetricMax(h.min, h.max), sources);
    if (missing.length) {
      // Drawn with what is known now; recoloured once the exact ranges arrive, unless a
      // newer heatmap request (or dispose) came first.
      const signal = this.latest.signal;
      void ranges.loadAll(missing).then(() => {
        if (!signal.aborted) this.render();
      });
    }
    this.root.toggleAttribute("data-range-pending", missing.length > 0);
    this.body.draw(hm, this.info, m, note, this.env.maxWidth(), this.cmap);
    if (this.keptView) {
      this.body.setView(this.keptView);
      this.keptView = null;
    }
    this.root.setAttribute("data-range", String(m));
    this.root.setAttribute("data-range-mode", this.rangeMode);
    this.root.setAttribute("data-colormap", this.cmap);
    this.root.setAttribute("data-zoom", String(this.body.zoom));
  }

  /** Resizes the heatmap to the current width budget (runs added to its row, window resized). */
  relayout(): void {
    this.body.reserve(this.info, this.env.maxWidth());
    this.render();
  }

  /** Stops pending requests and playback (the card is being removed). */
  dispose(): void {
    this.latest.cancel();
    this.steps.stop();
  }
}
