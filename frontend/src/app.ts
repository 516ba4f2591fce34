/**
 * The tab: header (run selector, tag filter), one card per tag of the selected run
 * grouped by layer, lazy drawing via IntersectionObserver, and reload handling that keeps
 * the user's run, filter, steps, modes and scroll position (cards are updated in place).
 *
 * Example: await new App(document.body).start();
 */
import { fetchTags } from "./api";
import { Card } from "./card";
import { clear, el, setOptions, setText } from "./dom";
import { onDataReloaded } from "./ipc";
import { Tooltip } from "./tooltip";
import type { TagInfo, TagProblem, TagsResponse } from "./types";
import { MAX_WIDTH } from "./heatmap";

/** Poll interval when TensorBoard's reload message is not (yet) heard. */
const POLL_MS = 30_000;

/**
 * Compiles the tag filter like TensorBoard does: a case-insensitive regex; an empty
 * filter matches everything; an invalid one yields null.
 *
 * Example: compileFilter("kernel$")!.test("dense/kernel") === true; compileFilter("(") === null.
 */
export function compileFilter(text: string): RegExp | null {
  try {
    return new RegExp(text, "i");
  } catch {
    return null;
  }
}

/** True when `info` describes a drawable heatmap (kind "heatmap" with grid and layout). */
export function isHeatmap(info: TagInfo | null | undefined): info is TagInfo {
  return !!info && info.kind === "heatmap" && Array.isArray(info.grid) && !!info.layout && Array.isArray(info.steps);
}

/**
 * Readable lines for the server's unreadable-tag reports.
 *
 * Example: problemLines([{run: "a", tag: "x", message: "bad"}]) -> ["a / x: bad"].
 */
export function problemLines(problems: readonly TagProblem[] | undefined): string[] {
  return (problems ?? []).map((p) => {
    if (p === null || typeof p !== "object") return String(p);
    const where = [p.run, p.tag].filter((x) => typeof x === "string" && x).join(" / ");
    const msg = typeof p.message === "string" ? p.message : JSON.stringify(p);
    return where ? `${where}: ${msg}` : msg;
  });
}

export class App {
  private tags: TagsResponse = { runs: {} };
  private run: string | null = null;
  private cards = new Map<string, Card>();
  private groups = new Map<string, HTMLElement>();
  private readonly observer: IntersectionObserver;
  private readonly tooltip: Tooltip;
  private readonly runSelect: HTMLSelectElement;
  private readonly runLabel: HTMLLabelElement;
  private readonly filter: HTMLInputElement;
  private readonly status: HTMLSpanElement;
  private readonly main: HTMLDivElement;
  private readonly message: HTMLDivElement;
  private readonly problems: HTMLDivElement;
  private readonly list: HTMLDivElement;
  private reloading: Promise<void> | null = null;
  private heardHost = false;

  constructor(body: HTMLElement) {
    this.runSelect = el("select", { attrs: { "data-testid": "run-select", "aria-label": "run" } });
    this.runSelect.addEventListener("change", () => {
      this.run = this.runSelect.value;
      this.rebuild();
    });
    this.runLabel = el("label", {}, el("span", { text: "Run" }), this.runSelect);
    this.filter = el("input", {
      className: "nv-filter",
      attrs: { type: "search", placeholder: "Filter tags (regular expression)", "data-testid": "tag-filter", "aria-label": "tag filter" },
    });
    this.filter.addEventListener("input", () => this.applyFilter());
    this.status = el("span", { className: "nv-status", attrs: { "data-testid": "status" } });
    this.message = el("div", { className: "nv-message", attrs: { "data-testid": "message" } });
    this.message.hidden = true;
    this.problems = el("div", { className: "nv-problems", attrs: { "data-testid": "problems", role: "status" } });
    this.problems.hidden = true;
    this.list = el("div", { attrs: { "data-testid": "cards" } });
    this.main = el("div", { className: "nv-main" }, this.problems, this.message, this.list);
    clear(body);
    body.appendChild(el("div", { className: "nv-header" }, this.runLabel, this.filter, this.status));
    body.appendChild(this.main);
    this.tooltip = new Tooltip(body);
    this.observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const card = this.cardOf(e.target);
          card?.setVisible(e.isIntersecting);
        }
      },
      { rootMargin: "200px 0px" },
    );
  }

  /** First load, and hook up reloads (TensorBoard's message; polling until it is heard). */
  async start(): Promise<void> {
    onDataReloaded(() => {
      this.heardHost = true;
      void this.reload();
    });
    window.setInterval(() => {
      if (!this.heardHost && !document.hidden) void this.reload();
    }, POLL_MS);
    await this.reload();
  }

  /** Refetches tags and updates the page in place. Concurrent calls share one request. */
  reload(): Promise<void> {
    if (!this.reloading) {
      this.reloading = this.doReload().finally(() => {
        this.reloading = null;
      });
    }
    return this.reloading;
  }

  private async doReload(): Promise<void> {
    try {
      this.tags = await fetchTags();
    } catch (e) {
      this.showMessage("Could not load nnviz data", [e instanceof Error ? e.message : String(e)]);
      setText(this.status, "");
      return;
    }
    this.showProblems(problemLines(this.tags.errors));
    const runs = Object.keys(this.tags.runs).sort();
    if (!runs.length) {
      this.run = null;
      this.runLabel.hidden = true;
      this.clearCards();
      this.showEmpty();
      return;
    }
    if (this.run === null || !runs.includes(this.run)) this.run = runs[0];
    setOptions(this.runSelect, runs.map((r) => [r, r]), this.run);
    this.runLabel.hidden = runs.length < 2;
    this.rebuild();
  }

  private cardOf(target: Element): Card | undefined {
    const key = (target as HTMLElement).dataset.key;
    return key === undefined ? undefined : this.cards.get(key);
  }

  private clearCards(): void {
    for (const c of this.cards.values()) {
      this.observer.unobserve(c.root);
      c.dispose();
    }
    this.cards.clear();
    this.groups.clear();
    clear(this.list);
  }

  /** Brings the cards in line with the selected run's tags, reusing existing cards. */
  private rebuild(): void {
    const run = this.run;
    const tags = run === null ? {} : (this.tags.runs[run] ?? {});
    // Trajectory-only tensors get charts later; only heatmaps have cards for now.
    const names = Object.keys(tags).filter((t) => isHeatmap(tags[t]));
    const wanted = new Set(names.map((t) => JSON.stringify([run, t])));
    for (const [key, card] of this.cards) {
      if (!wanted.has(key)) {
        this.observer.unobserve(card.root);
        card.dispose();
        card.root.remove();
        this.cards.delete(key);
      }
    }
    // Group by layer in the server's order (the model's layer order when the writer
    // keeps it), which reads better than alphabetical.
    const byGroup = new Map<string, string[]>();
    for (const t of names) {
      const g = tags[t].group ?? "";
      if (!byGroup.has(g)) byGroup.set(g, []);
      byGroup.get(g)!.push(t);
    }
    const groupOrder = [...byGroup.keys()];
    for (const [g, sec] of this.groups) {
      if (!byGroup.has(g)) {
        sec.remove();
        this.groups.delete(g);
      }
    }
    for (const g of groupOrder) {
      let sec = this.groups.get(g);
      if (!sec) {
        sec = el(
          "section",
          { className: "nv-group", attrs: { "data-testid": "group", "data-group": g } },
          el("div", { className: "nv-group-title", text: g || "(ungrouped)" }),
          el("div", { className: "nv-cards" }),
        );
        this.groups.set(g, sec);
      }
      this.list.appendChild(sec); // (re)appending keeps the server's order
      const cardsBox = sec.lastElementChild as HTMLElement;
      for (const t of byGroup.get(g)!) {
        const key = JSON.stringify([run, t]);
        let card = this.cards.get(key);
        if (card) {
          card.update(tags[t]);
        } else {
          card = new Card(run as string, t, tags[t], { tooltip: this.tooltip, maxWidth: () => this.maxWidth() });
          card.root.dataset.key = key;
          this.cards.set(key, card);
          this.observer.observe(card.root);
        }
        cardsBox.appendChild(card.root);
      }
    }
    this.applyFilter();
  }

  private maxWidth(): number {
    return Math.max(120, Math.min(MAX_WIDTH, (window.innerWidth || MAX_WIDTH) - 90));
  }

  private applyFilter(): void {
    const re = compileFilter(this.filter.value);
    this.filter.classList.toggle("nv-invalid", re === null);
    let shown = 0;
    for (const card of this.cards.values()) {
      const show = re !== null && re.test(card.tag);
      card.root.hidden = !show;
      if (show) shown++;
    }
    for (const sec of this.groups.values()) {
      const box = sec.lastElementChild as HTMLElement;
      sec.hidden = ![...box.children].some((c) => !(c as HTMLElement).hidden);
    }
    const total = this.cards.size;
    setText(this.status, total ? (shown === total ? `${total} tensors` : `${shown} of ${total} tensors`) : "");
    if (!total) this.showMessage("No heatmaps in this run", ["The selected run has no nnviz weight heatmaps yet."]);
    else if (re === null) this.showMessage("Invalid regular expression", [`The tag filter ${JSON.stringify(this.filter.value)} is not a valid regular expression.`]);
    else if (!shown) this.showMessage("No matching tags", [`No tag matches ${JSON.stringify(this.filter.value)}.`]);
    else this.message.hidden = true;
  }

  private showProblems(lines: string[]): void {
    clear(this.problems);
    this.problems.hidden = !lines.length;
    if (!lines.length) return;
    this.problems.appendChild(el("div", { text: `${lines.length} tensor${lines.length > 1 ? "s" : ""} could not be read:` }));
    for (const l of lines.slice(0, 20)) this.problems.appendChild(el("div", { text: l }));
    if (lines.length > 20) this.problems.appendChild(el("div", { text: `… and ${lines.length - 20} more` }));
  }

  private showMessage(title: string, lines: string[], code?: string): void {
    clear(this.message);
    this.message.appendChild(el("h2", { text: title }));
    for (const l of lines) this.message.appendChild(el("p", { text: l }));
    if (code) this.message.appendChild(el("pre", {}, el("code", { text: code })));
    this.message.hidden = false;
  }

  private showEmpty(): void {
    setText(this.status, "");
    this.showMessage(
      "No nnviz data was found",
      [
        "Log weights from your training loop with tb_nnviz.Writer(logdir).log_weights(step, {...}), " +
          "or add the Keras callback NNVizCallback to model.fit. Then reload TensorBoard.",
      ],
      [
        "import tb_nnviz",
        "writer = tb_nnviz.Writer(logdir)",
        'writer.log_weights(step, {"dense/kernel": kernel, "dense/bias": bias})',
        "",
        "# or, with Keras:",
        "from tb_nnviz.keras import NNVizCallback",
        "model.fit(x, y, callbacks=[NNVizCallback(logdir)])",
      ].join("\n"),
    );
  }
}
