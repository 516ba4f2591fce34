/**
 * The run selector of the header: one checkbox per run, like TensorBoard's run list, with
 * the colour each selected run has in every chart and path. Ticking a second run is how
 * runs are compared, so the list says so; a plain `<select multiple>` hid that behind
 * Ctrl-click. One run always stays ticked (an empty tab explains nothing): the last ticked
 * run's checkbox is disabled, with a title and a note saying why. Names go into the DOM
 * as text.
 *
 * Example:
 *   const rs = new RunSelector((runs) => app.select(runs));
 *   header.appendChild(rs.root); rs.update(["a", "b", "c"], ["a"]);
 */
import { clear, el } from "./dom";
import { runColor } from "./series";

export class RunSelector {
  readonly root: HTMLDivElement;
  private readonly list: HTMLDivElement;
  private readonly note: HTMLSpanElement;
  private runs: string[] = [];
  private selected: string[] = [];

  constructor(private readonly onChange: (runs: string[]) => void) {
    this.note = el("span", { className: "nv-help", text: "· at least one run stays selected", attrs: { "data-testid": "run-keep-note" } });
    this.note.hidden = true;
    this.list = el("div", { className: "nv-run-list", attrs: { "data-testid": "run-select", role: "group", "aria-label": "runs" } });
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
      this.list.appendChild(el("label", { className: "nv-run-item", title: last ? box.title : run }, box, sw, el("span", { className: "nv-run-name", text: run })));
    }
    this.note.hidden = !(this.selected.length === 1 && runs.length > 1);
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
