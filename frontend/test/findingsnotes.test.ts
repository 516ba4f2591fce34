import assert from "node:assert/strict";
import { test } from "node:test";
import type { Finding } from "../src/data/types";
import { FINDINGS_CAP, capFindings, consequencesText, flattenFindings, noteText, parseFindings, runSummary } from "../src/model/findings";

const f = (severity: string, kind = "k"): Finding => ({ kind, severity, layer: null, tensors: [], step: null, message: "m", evidence: null });

test("parseFindings reads today's list and the object with notes", () => {
  const list = [f("warning"), f("info")];
  assert.deepEqual(parseFindings(list), { findings: list, notes: [] });
  assert.deepEqual(parseFindings({ findings: list, notes: [{ rule: "loss_plateau", message: "too few points" }, { kind: "dead_units", message: "no activations" }] }), {
    findings: list,
    notes: [
      { rule: "loss_plateau", message: "too few points" },
      { rule: "dead_units", message: "no activations" },
    ],
  });
  assert.deepEqual(parseFindings({ findings: [], notes: ["bare text"] }).notes, [{ rule: "", message: "bare text" }]);
});

test("parseFindings leaves malformed parts out, never throws", () => {
  assert.deepEqual(parseFindings(null), { findings: [], notes: [] });
  assert.deepEqual(parseFindings("x"), { findings: [], notes: [] });
  assert.deepEqual(parseFindings({ findings: "no", notes: {} }), { findings: [], notes: [] });
  assert.deepEqual(parseFindings([null, 3, { kind: 1 }, f("error")]).findings, [f("error")]);
  assert.deepEqual(parseFindings({ findings: [f("info")], notes: [null, { rule: "r" }, { message: "ok" }] }).notes, [{ rule: "", message: "ok" }]);
});

test("a cause keeps its consequences, checked like findings, at any depth", () => {
  const dead = { ...f("warning", "dead_units"), caused_by: "lr_too_high", consequences: [null, f("info", "loss_plateau")] };
  const cause = { ...f("warning", "lr_too_high"), consequences: [dead, { kind: 2 }] };
  const parsed = parseFindings({ findings: [cause], notes: [] }).findings;
  assert.deepEqual(parsed[0].consequences?.map((c) => c.kind), ["dead_units"]);
  assert.deepEqual(parsed[0].consequences?.[0].consequences, [f("info", "loss_plateau")]);
  assert.equal(parseFindings([{ ...f("info"), consequences: "x" }]).findings[0].consequences, undefined);
  assert.equal(consequencesText([dead, f("info", "loss_plateau"), f("info", "loss_plateau")]), "3 consequences of this: dead units, loss plateau");
  assert.equal(consequencesText([dead]), "1 consequence of this: dead units");
  // Counts, run markers and diagram marks read every finding, each cause before what it explains.
  assert.deepEqual(flattenFindings([...parsed, f("info", "late")]).map((g) => g.kind), ["lr_too_high", "dead_units", "loss_plateau", "late"]);
});

test("a run with notes and no findings is never 'no problems found'", () => {
  assert.equal(runSummary([], []), "no problems found");
  assert.equal(runSummary([], [{ rule: "r", message: "m" }]), "no problems found in what could be judged");
  assert.equal(runSummary([f("warning")], [{ rule: "r", message: "m" }]), "1 warning");
  assert.equal(noteText({ rule: "loss_plateau", message: "fewer than 5 epochs" }), "Not judged: loss plateau: fewer than 5 epochs");
  assert.equal(noteText({ rule: "", message: "no loss" }), "Not judged: no loss");
});

test("capFindings keeps every error and the first others up to the cap", () => {
  const few = Array.from({ length: FINDINGS_CAP }, () => f("warning"));
  assert.deepEqual(capFindings(few).hidden, []);
  assert.deepEqual(capFindings([...few, f("info")]).hidden, [], "one more is shown, not hidden behind a button");
  const many = [f("error"), ...Array.from({ length: 12 }, () => f("warning"))];
  const c = capFindings(many, 5);
  assert.deepEqual(c.shown, [0, 1, 2, 3, 4]);
  assert.deepEqual(c.hidden, [5, 6, 7, 8, 9, 10, 11, 12]);
  const errors = Array.from({ length: 7 }, () => f("error"));
  const e = capFindings([...errors, f("warning"), f("warning"), f("info")], 5);
  assert.deepEqual(e.shown, [0, 1, 2, 3, 4, 5, 6], "errors show beyond the cap");
  assert.deepEqual(e.hidden, [7, 8, 9]);
});
