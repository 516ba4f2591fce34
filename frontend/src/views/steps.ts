/**
 * Moving through logged steps: which step to show after the step list changed, and the
 * step control (play button, slider, step label) that a card and a row of cards across
 * runs both use. Playback advances one step PLAY_MS after the owner says the previous
 * step is shown (`shown()`), so a slow load never queues requests.
 *
 * Example:
 *   const sc = new StepControl({label: "step", ids: STEP_IDS}, (step) => card.show(step));
 *   sc.set([0, 10, 20], 20); box.appendChild(sc.root);
 *   pickStep([0, 10, 20], 15) === 10
 */
import { el, setText } from "../ui/dom";

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
 * The step to show after a reload brought `steps` (was `oldSteps`): a view showing the
 * latest step follows the latest (training goes on, the newest weights show); any other
 * step is kept (pickStep).
 *
 * Example: stepAfterReload([0, 1, 2], [0, 1, 2, 3], 2) === 3; stepAfterReload([0, 1, 2], [0, 1, 2, 3], 1) === 1.
 */
export function stepAfterReload(oldSteps: readonly number[], steps: readonly number[], shown: number | null): number | null {
  const atLatest = shown !== null && oldSteps.length > 0 && shown === oldSteps[oldSteps.length - 1];
  return pickStep(steps, atLatest ? null : shown);
}

/** The test ids and texts of one step control. */
export interface StepControlSpec {
  /** Text before the slider ("step", "step of every run"). */
  label: string;
  playTitle: string;
  ids: { slider: string; label: string; play: string };
  /** Told when playback starts or stops (a card marks itself data-playing). */
  onPlaying?: (on: boolean) => void;
}

export class StepControl {
  readonly root: HTMLLabelElement;
  private readonly slider: HTMLInputElement;
  private readonly label: HTMLSpanElement;
  private readonly play: HTMLButtonElement;
  private steps: readonly number[] = [];
  private step: number | null = null;
  private timer: number | null = null;
  private playing = false;
  private readonly onPlaying?: (on: boolean) => void;

  /** `onStep` is called for every user move and every playback step. */
  constructor(
    spec: StepControlSpec,
    private readonly onStep: (step: number | null) => void,
  ) {
    this.onPlaying = spec.onPlaying;
    this.slider = el("input", { attrs: { type: "range", min: "0", step: "1", "data-testid": spec.ids.slider, "aria-label": spec.label } });
    this.slider.addEventListener("input", () => {
      this.stop();
      this.pick(Number(this.slider.value));
    });
    this.label = el("span", { className: "nv-step-label", attrs: { "data-testid": spec.ids.label } });
    this.play = el("button", {
      className: "nv-button nv-play",
      text: "▶",
      title: spec.playTitle,
      attrs: { type: "button", "data-testid": spec.ids.play, "aria-label": "play", "aria-pressed": "false" },
    });
    this.play.addEventListener("click", () => (this.playing ? this.stop() : this.start()));
    this.root = el("label", { className: "nv-step" }, this.play, el("span", { text: spec.label }), this.slider, this.label);
  }

  /** True while playing. */
  get isPlaying(): boolean {
    return this.playing;
  }

  /** The logged steps and the one shown (no callback). */
  set(steps: readonly number[], step: number | null): void {
    this.steps = steps;
    this.step = step;
    const n = steps.length;
    this.slider.max = String(Math.max(0, n - 1));
    this.slider.disabled = n <= 1;
    this.play.disabled = n <= 1;
    this.slider.value = String(step === null ? 0 : Math.max(0, steps.indexOf(step)));
    setText(this.label, step === null ? "no steps" : String(step));
  }

  /** Hides the slider and play button (a card driven by its row), keeping the label. */
  setHidden(hidden: boolean): void {
    if (hidden) this.stop();
    this.slider.hidden = hidden;
    this.play.hidden = hidden;
  }

  /** Starts playback (no-op with fewer than two steps). */
  start(): void {
    if (this.steps.length < 2 || this.playing) return;
    this.playing = true;
    this.showPlaying();
    this.shown();
  }

  /** Stops playback (any user input does this). */
  stop(): void {
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
    if (!this.playing) return;
    this.playing = false;
    this.showPlaying();
  }

  /** The owner has shown the current step: while playing, the next one follows PLAY_MS later. */
  shown(): void {
    if (!this.playing || this.timer !== null) return;
    this.timer = window.setTimeout(() => {
      this.timer = null;
      if (!this.playing) return;
      const k = this.step === null ? -1 : this.steps.indexOf(this.step);
      this.pick(nextStepIndex(k, this.steps.length));
    }, PLAY_MS);
  }

  private pick(k: number): void {
    this.set(this.steps, this.steps[k] ?? this.step);
    this.onStep(this.step);
  }

  private showPlaying(): void {
    const on = this.playing;
    this.play.textContent = on ? "❚❚" : "▶";
    this.play.setAttribute("aria-pressed", String(on));
    this.play.setAttribute("aria-label", on ? "pause" : "play");
    this.root.toggleAttribute("data-playing", on);
    this.onPlaying?.(on);
  }
}
