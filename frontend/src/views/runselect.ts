/**
 * The run selector of the header: one checkbox per run, like TensorBoard's run list, with
 * the colour each selected run has in every chart and path. Ticking a second run is how
 * runs are compared, so the list says so; a plain `<select multiple>` hid that behind
 * Ctrl-click. One run always stays ticked (an empty tab explains nothing): the last ticked
 * run's checkbox is disabled, with a title and a note saying why. Beside each run whose
 * findings are known, the glyph and colour of its worst finding (the Findings panel's), so
 * the runs with problems stand out without scrolling. Names go into the DOM as text.
 *
 * Example:
 *   const rs = new RunSelector((runs) => app.select(runs));
 *   header.appendChild(rs.root); rs.update(["a", "b", "c"], ["a"]);
 */
import type { Finding } from "../data/types";
import { SEVERITY_GLYPH, flattenFindings, summarize, worstSeverity } from "../model/findings";
import { runColor } from "../model/series";
import { clear, el } from "../ui/dom";

export class RunSelector {
  readonly root: HTMLDivElement;
  private readonly list: HTMLDivElement;
  private readonly note: HTMLSpanElement;
  private runs: string[] = [];
  private selected: string[] = [];
  /** Findings known per run (null: could not be loaded), for the severity markers. */
  private readonly findings = new Map<string, Finding[] | null>();

  constructor(private readonly onChange: (runs: string[]) => void) {
    this.note = el("span", { className: "nv-help", text: "· at least one run stays selected", attrs: { "data-testid": "run-keep-note" } });
    this.note.hidden = true;
    this.list = el("div", { className: "nv-run-list", attrs: { "data-testid": "run-select", "data-start": "pending", role: "group", "aria-label": "runs" } });
    this.root = el(
      "div",
      { className: "nv-runs" },
      el("div", { className: "nv-runs-head" }, el("span", { text: "Runs" }), el("span", { className: "nv-help", text: "tick several to compare" }), this.note),
      this.list,
    );
  }

  /** All runs (in display order) and the selected ones; the colours follow the selection order. */
  update(runs: readonly string[], selected: readonly string[]): void {
    this.runs = [...runs];
    this.selected = runs.filter((r) => selected.includes(r));
    clear(this.list);
    for (const run of runs) {
      const box = el("input", { attrs: { type: "checkbox", "data-testid": "run-option", value: run } });
      box.checked = this.selected.includes(run);
      const last = box.checked && this.selected.length === 1;
      box.disabled = last;
      if (last) box.title = "At least one run stays selected: tick another run first, then untick this one";
      box.addEventListener("change", () => this.toggle(run, box));
      const k = this.selected.indexOf(run);
      const sw = el("span", { className: "nv-swatch" });
      if (k >= 0) sw.style.background = runColor(k);
      const item = el("label", { className: "nv-run-item", title: last ? box.title : run }, box, sw, el("span", { className: "nv-run-name", text: run }));
      const mark = this.marker(run);
      if (mark) item.appendChild(mark);
      this.list.appendChild(item);
    }
    this.note.hidden = !(this.selected.length === 1 && runs.length > 1);
  }

  /** Records the findings of `run` (null: not loadable) and redraws its marker. */
  setFindings(run: string, list: Finding[] | null): void {
    this.findings.set(run, list);
    const item = [...this.list.querySelectorAll<HTMLInputElement>("[data-testid=run-option]")].find((b) => b.value === run)?.parentElement;
    if (!item) return;
    item.querySelector("[data-testid=run-severity]")?.remove();
    const mark = this.marker(run);
    if (mark) item.appendChild(mark);
  }

  /** Marks the tab's opening choice of run as made. */
  settle(): void {
    this.list.dataset.start = "settled";
  }

  /** Whether the findings of `run` are known (loaded or failed). */
  hasFindings(run: string): boolean {
    return this.findings.has(run);
  }

  /** The marker of `run`'s worst finding, or null (none, or not known). */
  private marker(run: string): HTMLElement | null {
    const found = this.findings.get(run);
    const list = found ? flattenFindings(found) : null;
    const worst = list ? worstSeverity(list) : null;
    if (!list || !worst) return null;
    return el("span", {
      className: `nv-sev nv-run-sev nv-sev-${worst}`,
      text: SEVERITY_GLYPH[worst],
      title: `${run}: ${summarize(list)}`,
      attrs: { "data-testid": "run-severity", "data-severity": worst, "aria-label": summarize(list) },
    });
  }

  private toggle(run: string, box: HTMLInputElement): void {
    const next = box.checked ? [...this.selected, run] : this.selected.filter((r) => r !== run);
    if (!next.length) {
      box.checked = true; // the last ticked run is disabled; this guards the keyboard too
      return;
    }
    this.update(this.runs, next);
    this.onChange(this.selected);
  }
}
