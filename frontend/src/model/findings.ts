/**
 * What the Findings panel (views/findingspanel.ts) and the run list make of the server's
 * findings (`GET findings?run=`): severity ranks and order, the run the tab opens on,
 * headline and per-run counts, "from step N" texts and the Scalars tab's address of a loss
 * finding. Pure: no DOM, no fetching (pickStartRun is handed its fetch).
 *
 * Example:
 *   startRun(["a", "b"], [[], [{severity: "warning"}]]) === "b"
 *   totals(0, 1, 0) === "1 warning in the selected runs"
 */
import type { Finding } from "../data/types";

export const SEVERITY_ORDER = ["error", "warning", "info"];

/**
 * How much a run's findings have to say: 0 with an error, 1 with a warning (and no
 * error), 2 with only infos, 3 with none (or when they could not be loaded: undefined).
 *
 * Example: findingsRank([{severity: "info"}, {severity: "warning"}]) === 1; findingsRank([]) === 3.
 */
export function findingsRank(list: readonly Pick<Finding, "severity">[] | undefined): number {
  if (!list || !list.length) return 3;
  if (list.some((f) => f.severity === "error")) return 0;
  return list.some((f) => f.severity === "warning") ? 1 : 2;
}

/** The worst severity among `list` ("error", "warning", "info"), null for none. */
export function worstSeverity(list: readonly Pick<Finding, "severity">[] | undefined): string | null {
  return SEVERITY_ORDER[findingsRank(list)] ?? null;
}

/** The glyph beside a severity, in the findings and the run list (text presentation, not emoji). */
export const SEVERITY_GLYPH: Readonly<Record<string, string>> = { error: "\u2716\uFE0E", warning: "\u26A0\uFE0E", info: "\u2139\uFE0E" };

/**
 * The run the tab opens on when the address names none: the first of `runs` whose
 * findings hold an error, else a warning, else an info, else the first run.
 * `findings[k]` are the findings of `runs[k]` (undefined: not loaded).
 *
 * Example: startRun(["a", "b", "c"], [[], [{severity: "warning"}], [{severity: "error"}]]) === "c";
 *   startRun(["a", "b"], [[], [{severity: "info"}]]) === "b"; startRun(["a", "b"], [[], []]) === "a".
 */
export function startRun(runs: readonly string[], findings: readonly (readonly Pick<Finding, "severity">[] | undefined)[]): string | null {
  let best: string | null = runs[0] ?? null;
  let rank = 3;
  runs.forEach((run, k) => {
    const r = findingsRank(findings[k]);
    if (r < rank) [best, rank] = [run, r];
  });
  return best;
}

/**
 * Indices of `lists` (the findings of runs in name order; undefined: not loaded), most
 * severe first: runs with errors, then warnings, then infos, then none, then the ones
 * not loaded; in the given order within a level.
 *
 * Example: severityOrder([[], [{severity: "info"}], [{severity: "error"}]]) -> [2, 1, 0]
 */
export function severityOrder(lists: readonly (readonly Pick<Finding, "severity">[] | undefined)[]): number[] {
  const rank = (k: number) => (lists[k] === undefined ? 4 : findingsRank(lists[k]));
  return lists.map((_, k) => k).sort((a, b) => rank(a) - rank(b) || a - b);
}

/** Runs whose findings `pickStartRun` looks at, at most, and how many it asks for at once. */
export const START_SCAN = 24;
const START_BATCH = 4;

/**
 * Fetches the findings of `runs` in order, a few at a time, until a run with an error
 * turns up (or START_SCAN runs were asked), and returns `startRun` of them with the
 * findings fetched (so the Findings panel need not ask again).
 */
export async function pickStartRun(
  runs: readonly string[],
  fetch: (run: string) => Promise<Finding[]>,
): Promise<{ run: string | null; fetched: Map<string, Finding[]> }> {
  const fetched = new Map<string, Finding[]>();
  const scan = runs.slice(0, START_SCAN);
  for (let k = 0; k < scan.length; k += START_BATCH) {
    const batch = scan.slice(k, k + START_BATCH);
    const results = await Promise.allSettled(batch.map((r) => fetch(r)));
    results.forEach((res, j) => {
      if (res.status === "fulfilled") fetched.set(batch[j], res.value);
    });
    if (batch.some((r) => findingsRank(fetched.get(r)) === 0)) break; // nothing outranks an error
  }
  return { run: startRun(scan, scan.map((r) => fetched.get(r))) ?? runs[0] ?? null, fetched };
}

/**
 * The panel's headline: errors and warnings (the problems) counted apart, then infos (the
 * word the rows use; "notes" are what could not be judged).
 *
 * Example: totals(1, 2, 1) === "1 error, 2 warnings and 1 info in the selected runs";
 *   totals(0, 1, 0) === "1 warning in the selected runs";
 *   totals(0, 0, 1) === "no problems in the selected runs, 1 info".
 */
export function totals(errors: number, warnings: number, infos: number): string {
  const n = (k: number, word: string) => `${k} ${word}${k === 1 ? "" : "s"}`;
  if (!errors && !warnings) return "no problems in the selected runs" + (infos ? `, ${n(infos, "info")}` : "");
  const parts = [[errors, "error"], [warnings, "warning"], [infos, "info"]].filter(([k]) => k).map(([k, w]) => n(k as number, w as string));
  const last = parts.pop() as string;
  return (parts.length ? `${parts.join(", ")} and ${last}` : last) + " in the selected runs";
}

/**
 * One line per run for the panel's summary.
 *
 * Example: summarize([{severity: "error"}, {severity: "warning"}, {severity: "warning"}])
 *   === "1 error, 2 warnings"; summarize([]) === "no problems found".
 */
export function summarize(findings: readonly Pick<Finding, "severity">[]): string {
  if (!findings.length) return "no problems found";
  const parts: string[] = [];
  for (const sev of SEVERITY_ORDER) {
    const n = findings.filter((f) => f.severity === sev).length;
    if (n) parts.push(`${n} ${sev}${n > 1 ? "s" : ""}`);
  }
  const other = findings.filter((f) => !SEVERITY_ORDER.includes(f.severity)).length;
  if (other) parts.push(`${other} other`);
  return parts.join(", ");
}

/**
 * When a finding starts: "from epoch N" for loss findings (`evidence.step_unit` "epoch"),
 * "from step N" otherwise, "" without a step.
 *
 * Example: whenText({step: 3, evidence: {step_unit: "epoch"}}) === "from epoch 3".
 */
export function whenText(f: Pick<Finding, "step" | "evidence">): string {
  if (f.step === null || f.step === undefined) return "";
  const unit = f.evidence && f.evidence.step_unit === "epoch" ? "epoch" : "step";
  return `from ${unit} ${f.step}`;
}

/** The run whose curves TensorBoard's Scalars tab shows for a loss finding, or null. */
export function scalarsRunOf(f: Pick<Finding, "evidence">): string | null {
  const r = f.evidence ? f.evidence.scalars_run : null;
  return typeof r === "string" && r ? r : null;
}

/**
 * The hash of TensorBoard's Scalars tab showing a loss finding's runs (the training run
 * and its validation sibling, by the runs selector's regex) and their loss tags.
 *
 * Example: scalarsHash({evidence: {scalars_run: "a/train", validation_run: "a/validation"}})
 *   === "scalars&regexInput=%5E(%3F%3Aa%2Ftrain%7Ca%2Fvalidation)%24&tagFilter=loss"
 */
export function scalarsHash(f: Pick<Finding, "evidence">): string {
  const runs = [f.evidence?.scalars_run, f.evidence?.validation_run].filter((r): r is string => typeof r === "string" && r !== "");
  if (!runs.length) return "scalars";
  const esc = (r: string) => r.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const regex = `^(?:${runs.map(esc).join("|")})$`;
  return `scalars&regexInput=${encodeURIComponent(regex)}&tagFilter=loss`;
}

/** A rule that could not run or judge a run (too few points, a missing signal). */
export interface FindingNote {
  rule: string;
  message: string;
}

/** What `GET findings?run=` says about a run: its findings and the rules that could not judge it. */
export interface FindingsResult {
  findings: Finding[];
  notes: FindingNote[];
}

/**
 * The findings route's answer in either shape: a list of findings (older servers) or
 * `{"findings": [...], "notes": [{"rule" | "kind": ..., "message": ...}]}`; malformed
 * parts are left out.
 *
 * Example: parseFindings([f]) -> {findings: [f], notes: []};
 *   parseFindings({findings: [f], notes: [{kind: "loss", message: "too few points"}]})
 *   -> {findings: [f], notes: [{rule: "loss", message: "too few points"}]}
 */
export function parseFindings(j: unknown): FindingsResult {
  const isObj = (x: unknown): x is Record<string, unknown> => !!x && typeof x === "object" && !Array.isArray(x);
  const list = Array.isArray(j) ? j : isObj(j) && Array.isArray(j.findings) ? j.findings : [];
  // A cause keeps its consequences (nested the same way, each checked like a finding).
  const valid = (xs: unknown[]): Finding[] =>
    xs
      .filter((f): f is Finding => isObj(f) && typeof f.kind === "string" && typeof f.message === "string")
      .map(({ consequences, ...f }) => (Array.isArray(consequences) ? { ...f, consequences: valid(consequences) } : f));
  const findings = valid(list);
  const rawNotes = isObj(j) && Array.isArray(j.notes) ? j.notes : [];
  const notes: FindingNote[] = [];
  for (const n of rawNotes) {
    if (typeof n === "string") notes.push({ rule: "", message: n });
    else if (isObj(n) && typeof n.message === "string") {
      const rule = typeof n.rule === "string" ? n.rule : typeof n.kind === "string" ? n.kind : "";
      notes.push({ rule, message: n.message });
    }
  }
  return { findings, notes };
}

/**
 * A run's line in the panel: like `summarize`, but a run with notes and no findings was
 * not fully judged, so it never reads "no problems found".
 *
 * Example: runSummary([], [{rule: "loss", message: "…"}]) === "no problems found in what could be judged".
 */
export function runSummary(findings: readonly Pick<Finding, "severity">[], notes: readonly FindingNote[]): string {
  if (!findings.length && notes.length) return "no problems found in what could be judged";
  return summarize(findings);
}

/**
 * Every finding of a list, each cause followed by its consequences (at any depth): what
 * the counts, the run markers and the diagram's marks read.
 *
 * Example: flattenFindings([{kind: "a", consequences: [{kind: "b"}]}, {kind: "c"}]).map((f) => f.kind) -> ["a", "b", "c"]
 */
export function flattenFindings<T extends { consequences?: T[] }>(list: readonly T[]): T[] {
  return list.flatMap((f) => [f, ...flattenFindings(f.consequences ?? [])]);
}

/**
 * The line that opens a cause's consequences.
 *
 * Example: consequencesText([{kind: "dead_units"}, {kind: "loss_plateau"}]) ===
 *   "2 consequences of this: dead units, loss plateau".
 */
export function consequencesText(list: readonly Pick<Finding, "kind">[]): string {
  const kinds = [...new Set(list.map((f) => f.kind.replace(/_/g, " ")))].join(", ");
  return `${list.length} consequence${list.length === 1 ? "" : "s"} of this: ${kinds}`;
}

/** A note's text: "Not judged: <rule>: <message>". */
export function noteText(n: FindingNote): string {
  return `Not judged: ${n.rule ? `${n.rule.replace(/_/g, " ")}: ` : ""}${n.message}`;
}

/** Findings a run shows before "Show all" (errors always show). */
export const FINDINGS_CAP = 8;

/**
 * Which findings of a run (most severe first) show before "Show all": every error, then
 * the others in order up to `cap` in all; the indices of the rest are `hidden`.
 *
 * Example: capFindings(12 warnings, 8) -> {shown: [0..7], hidden: [8..11]}.
 */
export function capFindings(list: readonly Pick<Finding, "severity">[], cap = FINDINGS_CAP): { shown: number[]; hidden: number[] } {
  const errors = list.filter((f) => f.severity === "error").length;
  let room = Math.max(0, cap - errors);
  const shown: number[] = [];
  const hidden: number[] = [];
  list.forEach((f, k) => {
    if (f.severity === "error") shown.push(k);
    else if (room > 0) {
      shown.push(k);
      room--;
    } else hidden.push(k);
  });
  // A "Show all" for a single finding is silly: show it.
  if (hidden.length === 1) shown.push(hidden.pop()!);
  return { shown: shown.sort((a, b) => a - b), hidden };
}
