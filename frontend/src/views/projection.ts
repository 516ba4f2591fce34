/**
 * The weight-space path panel: each selected run's parameter vector (summed
 * CountSketches of its tensors, or one tensor) projected on the first two principal
 * components (drawing in pathview.ts). Axes "joint" (default): one PCA over all
 * selected runs in one plot, so distances compare across runs. Axes "per run": one
 * small plot per run, each from its own `projection?run=<run>` call, so a run that
 * barely moves is not squashed to a dot by one that moves 1000x more; each says its path
 * length under its title (and how many times shorter than the longest it is), since
 * the plots' sizes no longer compare. Every plot labels its axes with explained
 * variance; a high PC1 share gets the random-walk caveat.
 *
 * Example: const p = new ProjectionPanel(); body.appendChild(p.root); p.update(["a", "b"], ["dense/kernel"]);
 */
import { fetchProjection } from "../data/api";
import { latestOnly } from "../data/latest";
import { formatShort } from "../model/format";
import { scaleLines, showRandomWalkNote } from "../model/pathplot";
import { runColor } from "../model/series";
import { el, setOptions, setText } from "../ui/dom";
import { onThemeChange } from "../ui/theme";
import { PathPlot } from "./pathview";

const WHOLE = "";
const HEIGHT = 360;
const SMALL_HEIGHT = 280;

export type AxesMode = "joint" | "per-run";

/**
 * Width of each of `n` side-by-side plots in `avail` CSS pixels (with `gap` between):
 * as wide as fits, at most `max`, at least `min` (then they wrap).
 *
 * Example: smallPlotWidth(3, 1300) === 420; smallPlotWidth(3, 900) === 292; smallPlotWidth(5, 600) === 240.
 */
export function smallPlotWidth(n: number, avail: number, gap = 12, min = 240, max = 420): number {
  const each = Math.floor((avail - gap * Math.max(0, n - 1)) / Math.max(1, n));
  return Math.max(min, Math.min(max, each));
}

/**
 * The random-walk caveat for plots with their PC1 shares, or null when none needs it.
 *
 * Example: randomWalkNote([["", 0.9]]) starts "PC1 explains 90.0% of the variance.";
 *          randomWalkNote([["a", 0.95], ["b", 0.5]]) starts "PC1 explains 95.0% (a) of the variance.".
 */
export function randomWalkNote(shares: readonly [label: string, pc1: number | undefined][]): string | null {
  const high = shares.filter(([, r]) => showRandomWalkNote(r === undefined ? [] : [r]));
  if (!high.length) return null;
  const parts = high.map(([label, r]) => `${((r as number) * 100).toFixed(1)}%${label ? ` (${label})` : ""}`);
  return (
    `PC1 explains ${parts.join(", ")} of the variance. A random walk also looks this structured ` +
    "in PCA (a smooth, curved path with most variance on PC1): read the shape with care " +
    '(Antognini & Sohl-Dickstein 2018, "PCA of high dimensional random walks with comparison to neural network training").'
  );
}

const HINT = "Hover a point for its run and step.";
const JOINT_TITLE = "One PCA over all selected runs, one plot: distances compare across runs";

export class ProjectionPanel {
  readonly root: HTMLDetailsElement;
  private readonly select: HTMLSelectElement;
  private readonly axesButtons: Record<AxesMode, HTMLButtonElement>;
  private readonly plotsBox: HTMLDivElement;
  private readonly readout: HTMLDivElement;
  private readonly note: HTMLDivElement;
  private readonly scaleNote: HTMLDivElement;
  private readonly legend: HTMLDivElement;
  private plots: PathPlot[] = [];
  private runs: string[] = [];
  private tag = WHOLE;
  private mode: AxesMode = "joint";
  /** Called after the user picked the axes. */
  onModeChange: (() => void) | null = null;
  /** The selected runs have different architectures (see update). */
  private mixed = false;
  private readonly archNote: HTMLDivElement;
  private readonly latest = latestOnly();
  private key = "";

  constructor() {
    this.select = el("select", { attrs: { "data-testid": "projection-select", "aria-label": "tensor of the weight-space path" } });
    this.select.addEventListener("change", () => {
      this.tag = this.select.value;
      void this.load();
    });
    const button = (mode: AxesMode, text: string, title: string) => {
      const b = el("button", { text, title, attrs: { type: "button", "data-testid": `projection-axes-${mode}`, "aria-pressed": "false" } });
      b.addEventListener("click", () => {
        this.setMode(mode);
        this.onModeChange?.();
      });
      return b;
    };
    this.axesButtons = {
      joint: button("joint", "joint", JOINT_TITLE),
      "per-run": button("per-run", "per run", "One PCA and one plot per run: each run's path fills its own plot"),
    };
    const axes = el(
      "span",
      { className: "nv-seg", attrs: { role: "group", "aria-label": "axes", "data-testid": "projection-axes" } },
      this.axesButtons.joint,
      this.axesButtons["per-run"],
    );
    this.plotsBox = el("div", { className: "nv-paths", attrs: { "data-testid": "projection-plots" } });
    this.readout = el("div", { className: "nv-readout", attrs: { "data-testid": "projection-readout" } });
    this.note = el("div", { className: "nv-note-text", attrs: { "data-testid": "projection-note" } });
    this.note.hidden = true;
    this.archNote = el("div", { className: "nv-note-text nv-arch-note", attrs: { "data-testid": "projection-arch-note" } });
    this.archNote.hidden = true;
    this.scaleNote = el("div", { className: "nv-note-text", attrs: { "data-testid": "projection-scale-note" } });
    this.scaleNote.hidden = true;
    this.legend = el("div", { className: "nv-legend" });
    const caption = el(
      "div",
      { className: "nv-readout", attrs: { "data-testid": "projection-caption" } },
      el("span", { className: "nv-marker nv-marker-start" }),
      document.createTextNode("ring = first step, "),
      el("span", { className: "nv-marker nv-marker-end" }),
      document.createTextNode("filled dot = last step (run colour); small points in between coloured by step order, dark → yellow."),
    );
    this.root = el(
      "details",
      { className: "nv-panel", attrs: { "data-testid": "projection-panel" } },
      el("summary", { text: "Weight-space path (PCA of sketched parameters)" }),
      el(
        "div",
        { className: "nv-controls" },
        el("label", {}, el("span", { text: "Parameters " }), this.select),
        el("label", {}, el("span", { text: "Axes " }), axes),
        this.legend,
      ),
      this.archNote,
      this.plotsBox,
      this.scaleNote,
      caption,
      this.readout,
      this.note,
    );
    this.root.open = true;
    this.showReadout(null);
    this.showMode();
    this.root.addEventListener("toggle", () => {
      if (this.root.open) this.draw();
    });
    onThemeChange(() => {
      if (this.root.open) this.draw();
    });
  }

  /**
   * Selected runs, the tensors they all have trajectories for, and the runs grouped by
   * architecture; refetches when any changed or `force`. Runs of different architectures
   * get per-run axes only: one PCA over unrelated parameters would mix them silently.
   */
  update(runs: string[], tensors: string[], force = false, architectures: string[][] = [runs]): void {
    const mixed = architectures.length > 1;
    this.mixed = mixed;
    this.axesButtons.joint.disabled = mixed;
    this.axesButtons.joint.title = mixed ? "The selected runs have different architectures: one PCA would mix unrelated parameters" : JOINT_TITLE;
    this.archNote.hidden = !mixed;
    setText(
      this.archNote,
      mixed
        ? `${architectures.map((g) => g.join(", ")).join(" | ")}: these runs log different tensors (different architectures), ` +
            "so one joint PCA would mix unrelated parameters; each run is projected on its own axes. Select runs of one model to compare them in joint axes."
        : "",
    );
    const options: [string, string][] = [[WHOLE, "whole model (all tensors)"], ...tensors.map((t): [string, string] => [t, t])];
    if (this.tag !== WHOLE && !tensors.includes(this.tag)) this.tag = WHOLE;
    setOptions(this.select, options, this.tag);
    this.runs = runs;
    const key = JSON.stringify([runs, this.tag, this.axes()]);
    if (force || key !== this.key) void this.load();
  }

  /** The user's choice of axes (kept in the page address). */
  get chosenMode(): AxesMode {
    return this.mode;
  }

  /** Switches between one joint plot and one plot per run (kept across reloads). */
  setMode(mode: AxesMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    this.showMode();
    void this.load();
  }

  resize(): void {
    this.draw();
  }

  /** The axes in effect: the chosen mode, or per run when the runs' architectures differ. */
  private axes(): AxesMode {
    return this.mixed ? "per-run" : this.mode;
  }

  private showMode(): void {
    const mode = this.axes();
    for (const [m, b] of Object.entries(this.axesButtons)) b.setAttribute("aria-pressed", String(m === mode));
    this.root.setAttribute("data-axes", mode);
  }

  private async load(): Promise<void> {
    this.key = JSON.stringify([this.runs, this.tag, this.axes()]);
    if (!this.runs.length) {
      this.latest.cancel();
      return;
    }
    this.root.setAttribute("data-loading", "true");
    const runs = this.runs;
    const mode = this.axes();
    this.showMode();
    const colored = runs.map((run, k) => ({ run, color: runColor(k) }));
    // Joint: one request for all runs. Per run: one request each, so each gets its own PCA.
    const groups = mode === "joint" ? [colored] : colored.map((r) => [r]);
    const tag = this.tag || null;
    const results = await this.latest.run((signal) => Promise.allSettled(groups.map((g) => fetchProjection(g.map((r) => r.run), tag, signal))));
    if (results === undefined) return;
    this.root.removeAttribute("data-loading");
    this.plots = groups.map((g, k) => {
      const plot =
        mode === "joint"
          ? new PathPlot("projection", (text, run, step) => this.showReadout(text, run, step))
          : new PathPlot("projection-run", (text, run, step) => this.showReadout(text, run, step), g[0]);
      const r = results[k];
      if (r.status === "fulfilled") {
        plot.setData(r.value, g);
      } else {
        const msg = r.reason instanceof Error ? r.reason.message : String(r.reason);
        plot.showError(
          /404/.test(msg) ? `${msg}\nThe weight-space path needs trajectory points (with sketches) of at least 3 steps: log with trajectories enabled.` : msg,
        );
      }
      return plot;
    });
    this.plotsBox.replaceChildren(...this.plots.map((p) => p.root));
    this.draw();
  }

  private draw(): void {
    const avail = Math.max(320, (window.innerWidth || 900) - 80);
    const runs = this.runs;
    const mode = this.axes();
    this.legend.replaceChildren(
      ...(mode === "joint" ? runs : []).map((r, k) => {
        const sw = el("span", { className: "nv-swatch" });
        sw.style.background = runColor(k);
        return el("span", {}, sw, document.createTextNode(r));
      }),
    );
    if (mode === "joint") {
      for (const p of this.plots) p.draw(Math.min(900, avail), HEIGHT);
    } else {
      const w = smallPlotWidth(this.plots.length, avail);
      for (const p of this.plots) p.draw(w, SMALL_HEIGHT);
    }
    const small = mode === "joint" ? this.plots.flatMap((p) => p.collapsed()) : [];
    const lengths = this.plots.map((p) => (mode === "joint" ? null : (p.lengths()[0] ?? null)));
    const lines = scaleLines(runs.slice(0, this.plots.length), lengths, formatShort);
    this.plots.forEach((p, k) => p.setScale(mode === "joint" ? null : lines[k], lengths[k]));
    this.scaleNote.hidden = !small.length && (mode === "joint" || this.plots.length < 2);
    setText(
      this.scaleNote,
      small.length
        ? `${small.join(", ")} span${small.length > 1 ? "" : "s"} less than 2% of this plot and show${small.length > 1 ? "" : "s"} as a dot: ` +
            "switch Axes to “per run” to see each path on its own scale."
        : mode !== "joint" && this.plots.length > 1
          ? "Per run: each plot is scaled to its own path, so equal sizes do not mean equal moves; the path lengths under the titles compare them."
          : "",
    );
    const shares = this.plots.map((p, k): [string, number | undefined] => [mode === "joint" ? "" : (runs[k] ?? ""), p.ratio[0]]);
    const note = randomWalkNote(shares);
    this.note.hidden = note === null;
    setText(this.note, note ?? "");
  }

  private showReadout(text: string | null, run?: string, step?: number): void {
    setText(this.readout, text ?? HINT);
    if (run !== undefined) {
      this.readout.setAttribute("data-run", run);
      this.readout.setAttribute("data-step", String(step));
    } else {
      this.readout.removeAttribute("data-run");
      this.readout.removeAttribute("data-step");
    }
  }
}
