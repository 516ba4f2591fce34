/**
 * The model overview panel (collapsible, top of the tab): every tensor of the run picked
 * in the header (the same run the structure view lists) with
 * layer, shape, parameter count (and the total), the latest |dW|/|W| per optimizer step
 * (the findings' number; flagged against the healthy band with a glyph and word each for
 * large, tiny and stopped), latest norm and a NaN/Inf flag. Clicking a row scrolls to the
 * tensor's card. Rows follow network order. (No link to TensorBoard's Graphs tab: Keras 3
 * writes no op graph, so it shows "Malformed GraphDef".)
 *
 * Example:
 *   const ov = new OverviewPanel((run, tag) => app.reveal(run, tag));
 *   body.appendChild(ov.root); await ov.update("train");
 */
import { fetchOverview } from "../data/api";
import { latestOnly } from "../data/latest";
import type { OverviewRow, TagInfo } from "../data/types";
import { formatCount, formatShape, formatShort } from "../model/format";
import { brokenOfRow, brokenText } from "../model/broken";
import { byNetworkOrder } from "../model/order";
import { HEALTH, type Health, healthText, perStepNote, ratioHealth } from "../model/series";
import { clear, el, setText } from "../ui/dom";

/** The glyph-and-word chip of a status (never colour alone: see series.HEALTH). */
export function healthChip(health: Health): HTMLSpanElement {
  const h = HEALTH[health];
  return el("span", { className: `nv-health-word nv-health-${health}`, text: `${h.glyph} ${h.word}`, attrs: { "data-health": health } });
}

/** Sum of the rows' parameter counts. Example: totalParameters([{parameters: 2}, {parameters: 3}]) === 5. */
export function totalParameters(rows: readonly Pick<OverviewRow, "parameters">[]): number {
  return rows.reduce((n, r) => n + (Number.isFinite(r.parameters) ? r.parameters : 0), 0);
}

/** Rows a large model's overview lists before "Show all". */
const OVERVIEW_ROWS = 60;

export class OverviewPanel {
  readonly root: HTMLDetailsElement;
  private readonly table: HTMLTableElement;
  private readonly body: HTMLTableSectionElement;
  private readonly foot: HTMLTableSectionElement;
  private readonly message: HTMLDivElement;
  private run: string | null = null;
  private readonly latest = latestOnly();
  /** The rows shown last, the filter narrowing them (large models), and whether every row was asked for. */
  private rows: OverviewRow[] = [];
  private filter: RegExp | null | undefined = undefined;
  private all = false;
  private readonly more: HTMLButtonElement;

  constructor(
    private readonly onPick: (run: string, tag: string) => void,
    /** A run's tags, for network order. */
    private readonly tagsOf: (run: string) => Record<string, TagInfo>,
    /** The rows of a run arrived (the app sums up each layer's status from them). */
    private readonly onRows: (rows: OverviewRow[]) => void = () => undefined,
  ) {
    this.more = el("button", { className: "nv-button nv-small", attrs: { type: "button", "data-testid": "overview-more" } });
    this.more.hidden = true;
    this.more.addEventListener("click", () => {
      this.all = true;
      this.render();
    });
    const head = el("thead", {}, el("tr", {}, ...["Layer", "Tensor", "Shape", "Parameters", "|dW|/|W| per step", "|W|", "NaN/Inf", "Step"].map((t) => el("th", { text: t }))));
    this.body = el("tbody");
    this.foot = el("tfoot");
    this.table = el("table", { className: "nv-table", attrs: { "data-testid": "overview-table" } }, head, this.body, this.foot);
    this.message = el("div", { className: "nv-note-text", attrs: { "data-testid": "overview-message" } });
    this.message.hidden = true;
    this.root = el(
      "details",
      { className: "nv-panel", attrs: { "data-testid": "overview" } },
      el("summary", { text: "Model overview" }),
      this.message,
      el("div", { className: "nv-table-wrap" }, this.table),
      this.more,
    );
    this.root.open = true;
  }

  /** Shows the tensors of `run` (null: none selected). */
  async update(run: string | null): Promise<void> {
    this.run = run;
    await this.load();
  }

  private async load(): Promise<void> {
    const run = this.run;
    if (run === null) {
      this.latest.cancel();
      this.show([], null);
      return;
    }
    try {
      const rows = await this.latest.run(async () => byNetworkOrder(await fetchOverview(run), (r) => r.name, [this.tagsOf(run)]));
      if (rows === undefined) return;
      this.show(rows, run);
      this.onRows(rows);
    } catch (e) {
      this.show([], run, e instanceof Error ? e.message : String(e));
    }
  }

  /**
   * Narrows the rows to tensors matching `re` (large models; undefined: no narrowing, null:
   * an invalid filter). Without a filter a large model lists its first OVERVIEW_ROWS rows
   * and a button for the rest (every row costs DOM).
   */
  setFilter(re: RegExp | null | undefined): void {
    if (re === this.filter) return;
    this.filter = re;
    this.render();
  }

  private show(rows: OverviewRow[], run: string | null, error?: string): void {
    this.rows = rows;
    this.run = run;
    this.error = error;
    this.render();
  }

  private error: string | undefined;

  private render(): void {
    const { run, error } = this;
    const all = this.rows;
    const re = this.filter;
    const narrowed = re === undefined ? all : re === null ? [] : all.filter((r) => re.test(r.name));
    const cap = this.all || narrowed.length <= OVERVIEW_ROWS + 20 ? narrowed.length : OVERVIEW_ROWS;
    const rows = narrowed.slice(0, cap);
    this.more.hidden = cap >= narrowed.length;
    setText(this.more, `Show all ${narrowed.length} tensors (${narrowed.length - cap} more)`);
    clear(this.body);
    clear(this.foot);
    this.table.hidden = !rows.length;
    this.table.setAttribute("data-run", run ?? "");
    if (error) this.showMessage(`Could not load the overview of run ${JSON.stringify(run)}: ${error}`);
    else if (run !== null && !all.length) this.showMessage(`Run ${JSON.stringify(run)} has no tensors logged by nnviz yet.`);
    else if (run !== null && !rows.length) this.showMessage("No tensor of this run matches the filter.");
    else this.showMessage(null);
    for (const r of rows) {
      // Vectors (biases, norms' scales) have small norms, so their ratios sit above the
      // 1e-3 band in healthy training: only "stopped" is flagged for them.
      const value = r.update_ratio_per_step ?? null;
      const raw = ratioHealth(value);
      const health = r.shape.length <= 1 && raw !== "stopped" ? null : raw;
      const ratio = el("td", {
        className: "nv-num",
        text: value === null ? "–" : formatShort(value),
        title: perStepNote(r.update_steps),
        attrs: { "data-testid": "overview-ratio", "data-value": value === null ? "" : String(value) },
      });
      if (health && health !== "ok") {
        ratio.classList.add(`nv-health-${health}`);
        ratio.setAttribute("data-health", health);
        ratio.title = `${healthText(health)}\n${perStepNote(r.update_steps)}`;
        ratio.appendChild(healthChip(health));
      }
      const b = brokenOfRow(r);
      if (value === null && b) {
        // NaN weights: the last finite ratio and the step NaN started (served), instead of "–".
        setText(ratio, brokenText(b));
        ratio.classList.add("nv-bad");
        ratio.setAttribute("data-health", "nan");
        if (b.value !== null) ratio.setAttribute("data-value", String(b.value));
        ratio.title = `NaN/Inf weights from step ${b.nanStep}: the last finite |dW|/|W| per step`;
      }
      const bad = (r.nonfinite ?? 0) > 0;
      const flag = el("td", { className: bad ? "nv-bad" : "", text: r.nonfinite === null ? "–" : bad ? `⚠ ${formatCount(r.nonfinite)}` : "none" });
      const tr = el(
        "tr",
        { attrs: { "data-testid": "overview-row", "data-tag": r.name, tabindex: "0" }, title: `Scroll to ${r.name}` },
        el("td", { text: r.layer || "(none)" }),
        el("td", { text: r.name }),
        el("td", { text: formatShape(r.shape) }),
        el("td", { className: "nv-num", text: formatCount(r.parameters) }),
        ratio,
        el("td", { className: "nv-num", text: r.norm === null ? "–" : formatShort(r.norm) }),
        flag,
        el("td", { className: "nv-num", text: r.step === null ? "–" : String(r.step) }),
      );
      if (bad) tr.classList.add("nv-row-bad");
      const pick = () => this.onPick(run as string, r.name);
      tr.addEventListener("click", pick);
      tr.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          pick();
        }
      });
      this.body.appendChild(tr);
    }
    if (rows.length) {
      const part = rows.length < all.length ? ` (${rows.length} of ${all.length} shown)` : "";
      this.foot.appendChild(
        el(
          "tr",
          {},
          el("td", { text: "Total" }),
          el("td", { text: `${all.length} tensor${all.length > 1 ? "s" : ""}${part}` }),
          el("td"),
          el("td", { className: "nv-num", text: formatCount(totalParameters(all)), attrs: { "data-testid": "overview-total" } }),
          el("td"),
          el("td"),
          el("td"),
          el("td"),
        ),
      );
    }
  }

  private showMessage(text: string | null): void {
    this.message.hidden = text === null;
    setText(this.message, text ?? "");
  }
}
