/**
 * One tensor's heatmap cards across the selected runs, side by side, with one shared
 * step control: linked by default (moving it moves every run's card to that step, or
 * the nearest earlier step a run logged), unlinkable so each card has its own slider
 * again. A row of one card is just that card.
 *
 * Example:
 *   const row = new TensorRow("dense/kernel", () => app.saveView());
 *   row.setCards([cardA, cardB]); group.appendChild(row.root);
 */
import { type Card, PLAY_MS, nextStepIndex, pickStep } from "./card";
import { el, setText } from "./dom";

/** The sorted union of several step lists. Example: unionSteps([[0, 10], [10, 20]]) -> [0, 10, 20]. */
export function unionSteps(lists: readonly (readonly number[])[]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

export class TensorRow {
  readonly root: HTMLDivElement;
  private readonly bar: HTMLDivElement;
  private readonly box: HTMLDivElement;
  private readonly slider: HTMLInputElement;
  private readonly label: HTMLSpanElement;
  private readonly link: HTMLInputElement;
  private readonly shared: HTMLInputElement;
  /** Cards that got the row's colour-range choice (later user choices on a card stand). */
  private readonly ranged = new WeakSet<Card>();
  private readonly play: HTMLButtonElement;
  private cards: Card[] = [];
  private steps: number[] = [];
  private step: number | null = null;
  private timer: number | null = null;

  constructor(
    readonly tag: string,
    private readonly changed: () => void,
  ) {
    this.slider = el("input", { attrs: { type: "range", min: "0", step: "1", "data-testid": "row-step-slider", "aria-label": "step of every run" } });
    this.slider.addEventListener("input", () => {
      this.stop();
      this.moveTo(this.steps[Number(this.slider.value)] ?? null);
      this.changed();
    });
    this.label = el("span", { className: "nv-step-label", attrs: { "data-testid": "row-step-label" } });
    this.play = el("button", {
      className: "nv-button nv-play",
      text: "▶",
      title: "Play every run through the steps together",
      attrs: { type: "button", "data-testid": "row-play", "aria-label": "play" },
    });
    this.play.addEventListener("click", () => (this.timer === null ? this.start() : this.stop()));
    this.link = el("input", { attrs: { type: "checkbox", "data-testid": "row-link" } });
    this.link.checked = true;
    this.link.addEventListener("change", () => {
      this.stop();
      this.applyLink();
      if (this.link.checked) this.moveTo(this.step);
    });
    // Side by side, colours compare across runs only on one scale, but a run of
    // small weights beside one that blew up is then drawn blank: each card keeps
    // its own scale until the user asks for one scale.
    this.shared = el("input", { attrs: { type: "checkbox", "data-testid": "row-shared-range" } });
    this.shared.checked = false;
    this.shared.addEventListener("change", () => {
      for (const c of this.cards) c.setRangeMode(this.shared.checked ? "runs" : "step");
    });
    this.bar = el(
      "div",
      { className: "nv-row-bar nv-controls", attrs: { "data-testid": "row-controls" } },
      el("span", { className: "nv-row-title", text: tag }),
      el("label", { className: "nv-step" }, this.play, el("span", { text: "step of every run" }), this.slider, this.label),
      el("label", { className: "nv-row-link" }, this.link, el("span", { text: "link steps" })),
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
    this.cards = cards;
    for (const c of cards) this.box.appendChild(c.root); // (re)appending keeps run order
    const old = this.steps;
    this.steps = unionSteps(cards.map((c) => c.steps));
    const atLatest = this.step === null || (old.length > 0 && this.step === old[old.length - 1]);
    // A first row step: a card's step restored from the URL wins, else the latest.
    const moved = cards.find((c) => c.shownStep !== null && c.shownStep !== c.steps[c.steps.length - 1]);
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
    if (this.linked()) this.moveTo(this.step);
  }

  /** True while the shared control drives the cards (two or more runs, linked). */
  private linked(): boolean {
    return this.cards.length > 1 && this.link.checked;
  }

  private applyLink(): void {
    const on = this.linked();
    for (const c of this.cards) c.setLinked(on);
    this.slider.disabled = !on || this.steps.length < 2;
    this.play.disabled = this.slider.disabled;
  }

  private moveTo(step: number | null): void {
    this.step = step;
    const k = step === null ? 0 : Math.max(0, this.steps.indexOf(step));
    this.slider.max = String(Math.max(0, this.steps.length - 1));
    this.slider.value = String(k);
    setText(this.label, step === null ? "no steps" : String(step));
    this.root.setAttribute("data-step", step === null ? "" : String(step));
    if (this.linked()) for (const c of this.cards) c.showStep(step);
  }

  private start(): void {
    if (!this.linked() || this.steps.length < 2) return;
    this.play.textContent = "❚❚";
    this.play.setAttribute("aria-label", "pause");
    const tick = () => {
      const k = this.step === null ? -1 : this.steps.indexOf(this.step);
      this.moveTo(this.steps[nextStepIndex(k, this.steps.length)]);
      this.timer = window.setTimeout(tick, PLAY_MS);
    };
    this.timer = window.setTimeout(tick, PLAY_MS);
  }

  stop(): void {
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
    this.play.textContent = "▶";
    this.play.setAttribute("aria-label", "play");
  }
}
