/**
 * The tab: header (multi-run selector, the one run the overview and structure view
 * list, tag filter), the findings, structure, model overview and weight-space path panels, then one section per layer with its update-trajectory charts and one
 * heatmap card per tensor and selected run. Cards and charts load lazily through an
 * IntersectionObserver. Reloads update everything in place, keeping the selected runs,
 * filter, steps, modes, zoom, open panels and scroll position.
 *
 * Example: await new App(document.body).start();
 */
import { fetchFindings, fetchFindingsJson, fetchRunCount, fetchTags } from "../data/api";
import { type CardState, type ViewState, formatHash, onHashChange, readHash, writeHash } from "../data/hashstate";
import { onDataReloaded } from "../data/ipc";
import type { Finding, OverviewRow, TagProblem, TagsResponse } from "../data/types";
import { layerFilter, layerStatuses } from "../model/blocks";
import { type FindingsResult, START_SCAN, parseFindings, pickStartRun } from "../model/findings";
import { architectureGroups, networkOrder } from "../model/order";
import { clear, el, setOptions, setText } from "../ui/dom";
import { revealStable } from "../ui/scroll";
import { Tooltip } from "../ui/tooltip";
import { injectChartStyle } from "../ui/uplot";
import { FindingsPanel } from "./findingspanel";
import { GraphPanel } from "./graph";
import { OverviewPanel } from "./overview";
import { ProjectionPanel } from "./projection";
import { RunSelector } from "./runselect";
import { Sections } from "./sections";
import { StructurePanel } from "./structure";

/** Typing in the filter applies it after this pause. */
const FILTER_DEBOUNCE_MS = 180;

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

/**
 * The runs to keep selected after the run list changed: the still existing ones in list
 * order, else the first run.
 *
 * Example: keepRuns(["a", "b", "c"], ["c", "x"]) -> ["c"]; keepRuns(["a", "b"], ["x"]) -> ["a"].
 */
export function keepRuns(runs: readonly string[], selected: readonly string[]): string[] {
  const kept = runs.filter((r) => selected.includes(r));
  return kept.length ? kept : runs.slice(0, 1);
}

export class App {
  private tags: TagsResponse = { runs: {} };
  private runs: string[] = [];
  private readonly sections: Sections;
  private readonly runSelect: RunSelector;
  private readonly filter: HTMLInputElement;
  /** The run whose tensors the overview and the structure view list (one of the selected). */
  private readonly detailSelect: HTMLSelectElement;
  private readonly detailLabel: HTMLLabelElement;
  private detailRun: string | null = null;
  private readonly status: HTMLSpanElement;
  private readonly main: HTMLDivElement;
  private readonly header: HTMLDivElement;
  private readonly message: HTMLDivElement;
  private readonly problems: HTMLDivElement;
  private readonly list: HTMLDivElement;
  private readonly overview: OverviewPanel;
  private readonly findings: FindingsPanel;
  private readonly structure: StructurePanel;
  /** The network diagram of the overview's run (its model graph record). */
  private readonly graph: GraphPanel;
  private readonly projection: ProjectionPanel;
  private reloading: Promise<void> | null = null;
  /** Runs from the URL, used on the first load. */
  private urlRuns: string[] = [];
  /** Card states from the URL for cards not created yet, by card key. */
  private readonly pendingCards = new Map<string, CardState>();
  /** Tensors from the URL whose rows share one colour scale, until their rows exist. */
  private pendingShared = new Set<string>();
  /** Says why the filter was cleared (a finding or overview row pointed outside it). */
  private readonly filterNote: HTMLSpanElement;
  private saveTimer: number | null = null;
  private heardHost = false;
  /** The user clicked, typed or wheeled in the tab (the first view then stays as it is). */
  private userActed = false;
  private resizeTimer: number | null = null;
  /** The selected runs' findings and the overview's rows, for the layers' status (large models). */
  private readonly findingsOf = new Map<string, Finding[]>();
  private overviewRows: OverviewRow[] = [];
  /** The first `tags` answer has arrived. */
  private loaded = false;

  constructor(body: HTMLElement) {
    injectChartStyle(body.ownerDocument);
    this.runSelect = new RunSelector((runs) => this.selectRuns(runs));
    for (const type of ["pointerdown", "keydown", "wheel", "touchstart"]) {
      window.addEventListener(type, () => (this.userActed = true), { capture: true, passive: true });
    }
    this.detailSelect = el("select", { attrs: { "data-testid": "detail-run", "aria-label": "run listed in the overview and structure view" } });
    this.detailSelect.addEventListener("change", () => {
      this.detailRun = this.detailSelect.value;
      void this.overview.update(this.detailRun);
      this.structure.show(this.detailRun);
      void this.graph.update(this.detailRun);
      this.saveView();
    });
    this.detailLabel = el(
      "label",
      { className: "nv-detail-run", title: "The run whose tensors and layers the model overview and the model structure list" },
      el("span", { text: "Overview and layers of" }),
      this.detailSelect,
    );
    this.detailLabel.hidden = true; // until the runs are known
    this.filter = el("input", {
      className: "nv-filter",
      attrs: { type: "search", placeholder: "Filter tags (regular expression)", "data-testid": "tag-filter", "aria-label": "tag filter" },
    });
    // Debounced: on a large model every keystroke would re-filter hundreds of sections.
    let filterTimer: number | null = null;
    this.filter.addEventListener("input", () => {
      this.showFilterNote(null);
      if (filterTimer !== null) window.clearTimeout(filterTimer);
      filterTimer = window.setTimeout(() => {
        filterTimer = null;
        this.applyFilter();
        this.revealFirstMatch();
        this.saveView();
      }, FILTER_DEBOUNCE_MS);
    });
    this.filterNote = el("span", { className: "nv-filter-note", attrs: { "data-testid": "filter-note", role: "status" } });
    this.filterNote.hidden = true;
    this.status = el("span", { className: "nv-status", attrs: { "data-testid": "status" } });
    this.message = el("div", { className: "nv-message", attrs: { "data-testid": "message" } });
    this.message.hidden = true;
    this.problems = el("div", { className: "nv-problems", attrs: { "data-testid": "problems", role: "status" } });
    this.problems.hidden = true;
    this.list = el("div", { attrs: { "data-testid": "cards" } });
    this.overview = new OverviewPanel(
      (run, tag) => this.reveal(run, tag),
      (run) => this.tags.runs[run] ?? {},
      (rows) => {
        this.overviewRows = rows;
        this.updateStatus();
      },
    );
    this.projection = new ProjectionPanel();
    this.projection.onModeChange = () => this.saveView();
    // A finding is about the layer's updates: land on its charts, not its heatmaps.
    this.findings = new FindingsPanel(
      (run, tag) => this.reveal(run, tag, "charts"),
      (run, list) => {
        this.runSelect.setFindings(run, list);
        if (list) this.findingsOf.set(run, list);
        else this.findingsOf.delete(run);
        this.updateStatus();
      },
    );
    // A structure row is a layer: land on its section's heading.
    this.structure = new StructurePanel(
      (run) => this.tags.runs[run] ?? {},
      (run, tag) => this.reveal(run, tag, "layer"),
    );
    // A diagram node is a layer: land on its section's heading, as a structure row does.
    this.graph = new GraphPanel(
      (run) => this.tags.runs[run] ?? {},
      (run, tag) => this.reveal(run, tag, "layer"),
    );
    this.findings.root.hidden = true;
    this.structure.root.hidden = true;
    this.overview.root.hidden = true;
    this.projection.root.hidden = true;
    this.main = el("div", { className: "nv-main" }, this.problems, this.message, this.findings.root, this.structure.root, this.graph.root, this.overview.root, this.projection.root, this.list);
    clear(body);
    this.header = el("div", { className: "nv-header" }, this.runSelect.root, this.detailLabel, el("span", { className: "nv-filter-box" }, this.filter, this.filterNote), this.status);
    body.appendChild(this.header);
    body.appendChild(this.main);
    this.sections = new Sections(this.list, new Tooltip(body), () => this.saveView());
    this.sections.rowMade = (row) => {
      if (this.pendingShared.delete(row.tag)) row.setSharedColours(true);
    };
    window.addEventListener("resize", () => {
      if (this.resizeTimer !== null) window.clearTimeout(this.resizeTimer);
      this.resizeTimer = window.setTimeout(() => {
        this.resizeTimer = null;
        this.sections.resize();
        this.projection.resize();
        this.structure.resize();
      }, 150);
    });
  }

  /** First load, and hook up reloads (TensorBoard's message; polling until it is heard). */
  async start(): Promise<void> {
    const saved = readHash();
    this.urlRuns = saved.runs;
    this.filter.value = saved.filter;
    this.detailRun = saved.detail ?? null;
    this.sections.setOpenBlock(saved.block ?? null);
    this.projection.setMode(saved.axes ?? "joint");
    this.pendingShared = new Set(saved.shared ?? []);
    for (const c of saved.cards) this.pendingCards.set(JSON.stringify([c.run, c.tag]), c);
    onHashChange((state) => this.applyState(state));
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

  /** Shows `runs` (a subset of the logged runs; the selector's change, kept in the address unless `save` is false). */
  selectRuns(runs: readonly string[], save = true): void {
    this.runs = keepRuns(Object.keys(this.tags.runs).sort(), runs);
    this.runSelect.update(Object.keys(this.tags.runs).sort(), this.runs);
    this.rebuild();
    this.updatePanels();
    this.updateProjection(false);
    if (save) this.saveView();
  }

  /**
   * The first view when the address names no run: `runs[0]` is shown at once (the
   * findings of a large model take seconds on a server's first request, and nothing
   * should wait for them), then the first run with a warning, else with an info finding
   * (model/findings.ts' startRun) replaces it, unless the user has acted meanwhile (clicked,
   * typed, scrolled with the wheel, or changed the address). Not written to the address:
   * the choice is the tab's, not the user's.
   */
  private async openOnFindings(runs: readonly string[]): Promise<void> {
    const first = runs[0];
    const answers = new Map<string, FindingsResult>();
    const picked = await pickStartRun(runs, async (run) => {
      const r = parseFindings(await fetchFindingsJson(run));
      answers.set(run, r);
      return r.findings;
    });
    for (const [run, list] of picked.fetched) this.runSelect.setFindings(run, list);
    void this.markRuns(runs);
    const still = this.runs.length === 1 && this.runs[0] === first;
    if (!picked.run || picked.run === first || this.userActed || !still || !this.tags.runs[picked.run]) return;
    this.findings.prime(answers);
    this.selectRuns([picked.run], false);
  }

  /**
   * Fetches the findings of the first START_SCAN of `runs` whose findings the run list
   * does not know yet, two at a time, for its severity markers (the selected runs' come
   * with the Findings panel).
   */
  private async markRuns(runs: readonly string[]): Promise<void> {
    const todo = runs.slice(0, START_SCAN).filter((r) => !this.runSelect.hasFindings(r) && !this.runs.includes(r));
    for (let k = 0; k < todo.length; k += 2) {
      const batch = todo.slice(k, k + 2).filter((r) => !this.runSelect.hasFindings(r));
      const results = await Promise.allSettled(batch.map((r) => fetchFindings(r)));
      results.forEach((res, j) => this.runSelect.setFindings(batch[j], res.status === "fulfilled" ? res.value : null));
    }
  }

  /** Keeps the overview and structure run among the selected runs, and updates the panels. */
  private updatePanels(): void {
    if (this.detailRun === null || !this.runs.includes(this.detailRun)) this.detailRun = this.runs[0] ?? null;
    setOptions(this.detailSelect, this.runs.map((r) => [r, r]), this.detailRun ?? "");
    this.detailLabel.hidden = this.runs.length < 2;
    void this.overview.update(this.detailRun);
    void this.findings.update(this.runs);
    void this.structure.update(this.runs, this.detailRun);
    void this.graph.update(this.detailRun);
  }

  /** Writes runs, filter and the cards' modes and steps into the URL (batched: sliders fire often). */
  private saveView(): void {
    if (this.saveTimer !== null) return;
    this.saveTimer = window.setTimeout(() => {
      this.saveTimer = null;
      const cards: CardState[] = [...this.pendingCards.values()];
      for (const card of this.sections.allCards()) {
        const v = card.viewState();
        if (v) cards.push({ run: card.run, tag: card.tag, ...v });
      }
      writeHash(this.viewState(cards));
    }, 200);
  }

  /** The view as kept in the address (cards given: the batched save collects them). */
  private viewState(cards: CardState[]): ViewState {
    const shared = new Set([...this.pendingShared, ...this.sections.sharedTags()]);
    return {
      runs: this.runs,
      filter: this.filter.value,
      cards,
      detail: this.runs.length > 1 && this.detailRun !== this.runs[0] ? this.detailRun : null,
      axes: this.projection.chosenMode,
      shared: [...shared],
      block: this.sections.isLarge ? this.sections.openBlock : null,
    };
  }

  /**
   * Shows the view of an address the user changed by hand or with Back / Forward.
   * Hash changes that are not about this tab (TensorBoard's other tabs) are ignored.
   */
  private applyState(state: ViewState): void {
    const cards = [...this.sections.allCards()].flatMap((c) => {
      const v = c.viewState();
      return v ? [{ run: c.run, tag: c.tag, ...v }] : [];
    });
    if (formatHash("", state) === formatHash("", this.viewState(cards))) return;
    this.userActed = true;
    const all = Object.keys(this.tags.runs).sort();
    if (!all.length) return;
    this.filter.value = state.filter;
    this.showFilterNote(null);
    this.projection.setMode(state.axes ?? "joint");
    this.detailRun = state.detail ?? null;
    this.sections.setOpenBlock(state.block ?? null);
    this.pendingShared = new Set(state.shared ?? []);
    const byKey = new Map(state.cards.map((c) => [JSON.stringify([c.run, c.tag]), c]));
    this.pendingCards.clear();
    for (const card of this.sections.allCards()) {
      const key = JSON.stringify([card.run, card.tag]);
      const c = byKey.get(key);
      card.restore(c?.mode ?? "none", c?.step ?? null, c?.cmap);
      byKey.delete(key);
    }
    for (const [key, c] of byKey) this.pendingCards.set(key, c);
    this.sections.forgetRowSteps();
    this.runs = keepRuns(all, state.runs.length ? state.runs : this.runs);
    this.runSelect.update(all, this.runs);
    this.rebuild();
    for (const row of this.sections.allRows()) {
      row.setSharedColours(this.pendingShared.has(row.tag));
      row.follow();
    }
    this.updatePanels();
    this.updateProjection(false);
  }

  private showFilterNote(text: string | null): void {
    this.filterNote.hidden = text === null;
    setText(this.filterNote, text ?? "");
  }

  /**
   * Scrolls to the card of `tag` in `run` (or its charts when it has no heatmap); with
   * `to` "charts", to the update charts of its layer; with "layer", to its layer's
   * section. A filter that hides `tag` is cleared, and a note beside the filter box says so.
   */
  reveal(run: string, tag: string, to: "card" | "charts" | "layer" = "card"): void {
    const re = compileFilter(this.filter.value);
    const layer = tag.slice(0, Math.max(0, tag.lastIndexOf("/")));
    if (this.sections.isLarge && layer) {
      // A large model: every panel narrows to the layer picked.
      const want = layerFilter(layer);
      if (this.filter.value !== want) {
        this.filter.value = want;
        this.showFilterNote(`filter set to layer ${layer}: clear it to see every layer`);
        this.applyFilter();
        this.saveView();
      }
    } else if (!re || !re.test(tag)) {
      const layer = tag.slice(0, Math.max(0, tag.lastIndexOf("/"))) || tag;
      this.showFilterNote(`filter ${JSON.stringify(this.filter.value)} cleared to show ${to === "card" ? tag : layer}`);
      this.filter.value = "";
      this.applyFilter();
      this.saveView();
    }
    const target = (to !== "card" && this.sections.layerTarget(tag, to)) || this.sections.target(run, tag);
    if (!target) return;
    revealStable(target.el, () => this.header.getBoundingClientRect().bottom);
    target.card?.flash();
  }

  private async doReload(): Promise<void> {
    const stopWaiting = this.loaded ? null : this.showWaiting();
    try {
      this.tags = await fetchTags();
    } catch (e) {
      stopWaiting?.();
      this.showMessage("Could not load nnviz data", [
        e instanceof Error ? e.message : String(e),
        "Check that TensorBoard is still running, then press TensorBoard's reload button.",
      ]);
      setText(this.status, "");
      return;
    }
    stopWaiting?.();
    this.loaded = true;
    this.message.hidden = true;
    this.showProblems(problemLines(this.tags.errors));
    const runs = Object.keys(this.tags.runs).sort();
    if (!runs.length) {
      this.runs = [];
      this.runSelect.root.hidden = true;
      this.overview.root.hidden = true;
      this.findings.root.hidden = true;
      this.structure.root.hidden = true;
      this.projection.root.hidden = true;
      void this.graph.update(null);
      this.sections.clearAll();
      this.showEmpty();
      return;
    }
    // No run chosen (none in the address): the first run now, then the one whose findings have something to say.
    const opening = runs.length > 1 && !this.runs.length && !runs.some((r) => this.urlRuns.includes(r));
    if (opening) void this.openOnFindings(runs).finally(() => this.runSelect.settle());
    else this.runSelect.settle();
    this.runs = keepRuns(runs, this.urlRuns.length ? this.urlRuns : this.runs);
    this.urlRuns = [];
    this.runSelect.update(runs, this.runs);
    this.runSelect.root.hidden = runs.length < 2;
    this.overview.root.hidden = false;
    this.findings.root.hidden = false;
    this.structure.root.hidden = false;
    this.rebuild();
    this.updatePanels();
    this.updateProjection(true);
    // The run list's severity markers (openOnFindings asks for them once it has chosen).
    if (!opening && runs.length > 1) void this.markRuns(runs);
  }

  /** Shows the weight-space path when any selected run has trajectories (per-run axes across architectures). */
  private updateProjection(force: boolean): void {
    const any = this.runs.some((r) => Object.values(this.tags.runs[r] ?? {}).some((i) => i.has_trajectory));
    this.projection.root.hidden = !any;
    if (any) this.projection.update(this.runs, this.trajectoryTensors(), force, architectureGroups(this.tags.runs, this.runs));
  }

  /** Tensors with trajectories in every selected run (the weight-space path needs all). */
  private trajectoryTensors(): string[] {
    const per = this.runs.map((r) => this.tags.runs[r] ?? {});
    if (!per.length) return [];
    return networkOrder(per[0]).filter((t) => per.every((tags) => tags[t]?.has_trajectory));
  }

  /** Brings the layer sections in line with the selected runs. */
  private rebuild(): void {
    this.sections.rebuild(this.tags.runs, this.runs, this.pendingCards);
    for (const row of this.sections.allRows()) {
      if (!this.pendingShared.delete(row.tag)) continue;
      row.setSharedColours(true);
    }
    this.applyFilter();
  }

  /**
   * Until TensorBoard answers the first `tags` request (many seconds on a fresh TensorBoard
   * with large runs): a message naming what the tab waits for, with the seconds waited;
   * returns the function that takes it down.
   */
  private showWaiting(): () => void {
    const started = Date.now();
    let runs: number | null = null;
    let done = false;
    const paint = () => {
      if (done) return;
      const secs = Math.round((Date.now() - started) / 1000);
      const what = runs === null ? "the logged runs" : `${runs} run${runs === 1 ? "" : "s"}`;
      this.showMessage(`Loading tensors of ${what}…`, [
        `Waiting for TensorBoard to list the nnviz tensors of ${what} (GET tags)${secs >= 1 ? `: ${secs} s` : ""}.`,
        "A TensorBoard that has just started reads every event file first: large runs take a while. The tab fills in by itself.",
      ]);
      this.message.setAttribute("data-loading", "tags");
      setText(this.status, "loading…");
    };
    void fetchRunCount().then((n) => {
      runs = n;
      paint();
    });
    paint();
    const timer = window.setInterval(paint, 1000);
    return () => {
      done = true;
      window.clearInterval(timer);
      this.message.removeAttribute("data-loading");
    };
  }

  /** Large models: every layer's status (findings, updates, NaN) on the block headers. */
  private updateStatus(): void {
    const lists = this.runs.map((r) => this.findingsOf.get(r) ?? []);
    this.sections.setStatus(layerStatuses(lists, this.overviewRows));
  }

  /** Large models: typing a filter scrolls to its first matching layer. */
  private revealFirstMatch(): void {
    if (!this.sections.isLarge || !this.filter.value) return;
    const first = this.sections.firstShown();
    if (first) revealStable(first, () => this.header.getBoundingClientRect().bottom);
  }

  private applyFilter(): void {
    const re = compileFilter(this.filter.value);
    this.filter.classList.toggle("nv-invalid", re === null);
    const { shown, total, groupsShown, tensors } = this.sections.applyFilter(re);
    // Large models: the panels narrow with the layer sections.
    const narrow = this.sections.isLarge && this.filter.value !== "" ? re : undefined;
    this.findings.setFilter(narrow);
    this.structure.setFilter(narrow);
    this.overview.setFilter(narrow);
    setText(
      this.status,
      total ? (shown === total ? `${total} heatmap${total > 1 ? "s" : ""}` : `${shown} of ${total} heatmaps`) : tensors ? `${tensors} tensors` : "",
    );
    if (!this.sections.size) {
      this.showMessage("Nothing logged in the selected runs", [
        "The selected runs have no nnviz tensors yet. Pick another run, or log weights and press TensorBoard's reload button.",
      ]);
    } else if (re === null) {
      this.showMessage("Invalid regular expression", [`The tag filter ${JSON.stringify(this.filter.value)} is not a valid regular expression. Fix or clear it.`]);
    } else if (!groupsShown) {
      this.showMessage("No matching tags", [`No tag matches ${JSON.stringify(this.filter.value)}. Clear the filter to see all tensors.`]);
    } else this.message.hidden = true;
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
