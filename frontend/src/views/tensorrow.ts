/**
 * One tensor's heatmap cards across the selected runs, side by side, with one shared
 * step control and one shared heatmap mode: linked by default (moving the step moves
 * every run's card to that step, or the nearest earlier step a run logged; choosing
 * "change since previous step" on one card shows it on all), unlinkable so each card
 * has its own slider and mode again. A row of one card is just that card.
 *
 * Example:
 *   const row = new TensorRow("dense/kernel", () => app.saveView());
 *   row.setCards([cardA, cardB]); group.appendChild(row.root);
 */
import type { DiffMode } from "../data/types";
import { el } from "../ui/dom";
import type { Card } from "./card";
import { StepControl, pickStep } from "./steps";

/** The sorted union of several step lists. Example: unionSteps([[0, 10], [10, 20]]) -> [0, 10, 20]. */
export function unionSteps(lists: readonly (readonly number[])[]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

/** A row's state while it is released (far off screen). */
export interface RowState {
  linked: boolean;
  shared: boolean;
  step: number | null;
}

export class TensorRow {
  readonly root: HTMLDivElement;
  private readonly bar: HTMLDivElement;
  private readonly box: HTMLDivElement;
  private readonly control: StepControl;
  private readonly link: HTMLInputElement;
  private readonly shared: HTMLInputElement;
  /** Cards that got the row's colour-range choice (later user choices on a card stand). */
  private readonly ranged = new WeakSet<Card>();
  private cards: Card[] = [];
  private steps: number[] = [];
  private step: number | null = null;

  constructor(
    readonly tag: string,
    private readonly changed: () => void,
  ) {
    this.control = new StepControl(
      {
        label: "step of every run",
        playTitle: "Play every run through the steps together",
        ids: { slider: "row-step-slider", label: "row-step-label", play: "row-play" },
      },
      (step) => {
        this.moveTo(step);
        this.control.shown();
        if (!this.control.isPlaying) this.changed();
      },
    );
    this.link = el("input", { attrs: { type: "checkbox", "data-testid": "row-link" } });
    this.link.checked = true;
    this.link.addEventListener("change", () => {
      this.control.stop();
      this.applyLink();
      if (this.link.checked) {
        this.moveTo(this.step);
        this.setMode(this.cards[0]?.shownMode ?? "none");
      }
    });
    // Side by side, colours compare across runs only on one scale, but a run of
    // small weights beside one that blew up is then drawn blank: each card keeps
    // its own scale until the user asks for one scale.
    this.shared = el("input", { attrs: { type: "checkbox", "data-testid": "row-shared-range" } });
    this.shared.checked = false;
    this.shared.addEventListener("change", () => {
      this.applyShared();
      this.changed();
    });
    this.bar = el(
      "div",
      { className: "nv-row-bar nv-controls", attrs: { "data-testid": "row-controls" } },
      el("span", { className: "nv-row-title", text: tag }),
      this.control.root,
      el(
        "label",
        { className: "nv-row-link", title: "One step and one heatmap mode for every run of this tensor; untick to set them per run" },
        this.link,
        el("span", { text: "link step and mode" }),
      ),
      el(
        "label",
        { className: "nv-row-link", title: "One colour scale: the largest |x| over every step of every run shown" },
        this.shared,
        el("span", { text: "same colours for all runs" }),
      ),
    );
    this.box = el("div", { className: "nv-row-cards" });
    this.root = el("div", { className: "nv-row", attrs: { "data-testid": "tensor-row", "data-tag": tag } }, this.bar, this.box);
  }

  /** The cards of this tensor, one per selected run that logged it, in run order. */
  setCards(cards: Card[]): void {
    for (const c of this.cards) if (!cards.includes(c)) c.onModePicked = null;
    this.cards = cards;
    for (const c of cards) this.box.appendChild(c.root); // (re)appending keeps run order
    const old = this.steps;
    this.steps = unionSteps(cards.map((c) => c.logged));
    const atLatest = this.step === null || (old.length > 0 && this.step === old[old.length - 1]);
    // A first row step: a card's step restored from the URL wins, else the latest.
    const moved = cards.find((c) => c.shownStep !== null && c.shownStep !== c.logged[c.logged.length - 1]);
    const start = this.step ?? moved?.shownStep ?? Math.max(...cards.map((c) => c.shownStep ?? -Infinity));
    this.step = pickStep(this.steps, atLatest && this.step !== null ? null : Number.isFinite(start) ? start : null);
    this.bar.hidden = cards.length < 2;
    this.root.classList.toggle("nv-row-multi", cards.length > 1);
    this.applyLink();
    if (cards.length > 1) {
      for (const c of cards) {
        if (this.ranged.has(c)) continue;
        this.ranged.add(c);
        if (this.shared.checked) c.setRangeMode("runs");
      }
    }
    if (this.linked()) {
      this.moveTo(this.step);
      // A card's mode other than weights (the user's or the URL's) wins, as for the step.
      this.setMode(cards.find((c) => c.shownMode !== "none")?.shownMode ?? "none");
    }
  }

  /** What a released row keeps (link, one colour scale, step) to come back the same. */
  snapshot(): RowState {
    return { linked: this.link.checked, shared: this.shared.checked, step: this.step };
  }

  /** Restores a snapshot, before the row's first setCards. */
  restoreSnapshot(s: RowState): void {
    this.link.checked = s.linked;
    this.shared.checked = s.shared;
    this.step = s.step;
  }

  /** "same colours for all runs" (kept in the page address). */
  get sharedColours(): boolean {
    return this.shared.checked;
  }

  setSharedColours(on: boolean): void {
    if (on === this.shared.checked) return;
    this.shared.checked = on;
    this.applyShared();
  }

  private applyShared(): void {
    for (const c of this.cards) c.setRangeMode(this.shared.checked ? "runs" : "step");
  }

  /** After the cards' states were restored (an address change): the linked row takes their step and mode. */
  follow(): void {
    if (!this.linked()) return;
    const moved = this.cards.find((c) => c.shownStep !== null && c.shownStep !== c.logged[c.logged.length - 1]);
    this.moveTo(pickStep(this.steps, moved?.shownStep ?? null));
    this.setMode(this.cards.find((c) => c.shownMode !== "none")?.shownMode ?? "none");
  }

  /** True while the shared controls drive the cards (two or more runs, linked). */
  private linked(): boolean {
    return this.cards.length > 1 && this.link.checked;
  }

  private applyLink(): void {
    const on = this.linked();
    for (const c of this.cards) {
      c.setLinked(on);
      c.onModePicked = on ? (mode) => this.setMode(mode) : null;
    }
    this.control.root.toggleAttribute("data-disabled", !on);
    if (!on) this.control.stop();
    this.control.set(on ? this.steps : [], this.step);
  }

  /** Shows `mode` on every card of the row (linked: one card's mode change does this). */
  private setMode(mode: DiffMode): void {
    this.root.setAttribute("data-mode", mode);
    for (const c of this.cards) c.setMode(mode);
  }

  private moveTo(step: number | null): void {
    this.step = step;
    this.control.set(this.linked() ? this.steps : [], step);
    this.root.setAttribute("data-step", step === null ? "" : String(step));
    if (this.linked()) for (const c of this.cards) c.showStep(step);
  }

  stop(): void {
    this.control.stop();
  }
}
