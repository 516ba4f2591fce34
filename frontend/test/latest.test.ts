import assert from "node:assert/strict";
import { test } from "node:test";
import { latestOnly } from "../src/data/latest";

/** A promise resolved or rejected from outside, and the signal its task was given. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test("only the newest call gets its answer, whichever answer comes first", async () => {
  const latest = latestOnly();
  const slow = deferred<string>();
  const fast = deferred<string>();
  const first = latest.run(() => slow.promise);
  const second = latest.run(() => fast.promise);
  fast.resolve("new");
  slow.resolve("old"); // the older answer arrives last: still dropped
  assert.equal(await second, "new");
  assert.equal(await first, undefined);
  // and the other way round: an older answer arriving first is dropped too
  const a = deferred<number>();
  const b = deferred<number>();
  const older = latest.run(() => a.promise);
  const newer = latest.run(() => b.promise);
  a.resolve(1);
  assert.equal(await older, undefined);
  b.resolve(2);
  assert.equal(await newer, 2);
});

test("a new call aborts the signal of the one before (a fetch given it is cancelled)", async () => {
  const latest = latestOnly();
  const signals: AbortSignal[] = [];
  const hang = (signal: AbortSignal) =>
    new Promise<string>((_, reject) => {
      signals.push(signal);
      signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    });
  const first = latest.run(hang);
  assert.equal(signals[0].aborted, false);
  const second = latest.run(async (signal) => {
    signals.push(signal);
    return "ok";
  });
  assert.equal(signals[0].aborted, true);
  assert.equal(await first, undefined, "the AbortError of a superseded call is swallowed");
  assert.equal(await second, "ok");
  assert.equal(signals[1].aborted, false);
  assert.equal(latest.signal, signals[1], "`signal` is the newest call's");
});

test("the newest call's errors reach the caller; a superseded call's do not", async () => {
  const latest = latestOnly();
  await assert.rejects(
    latest.run(async () => {
      throw new Error("500: boom");
    }),
    /500: boom/,
  );
  const failing = deferred<string>();
  const old = latest.run(() => failing.promise);
  const next = latest.run(async () => "fine");
  failing.reject(new Error("late failure"));
  assert.equal(await old, undefined);
  assert.equal(await next, "fine");
  // a task that throws before awaiting anything is still an error of the newest call
  await assert.rejects(
    latest.run(() => {
      throw new Error("sync");
    }),
    /sync/,
  );
});

test("cancel supersedes the call in flight and aborts its signal; null is an answer", async () => {
  const latest = latestOnly();
  const pending = deferred<number[]>();
  const before = latest.signal;
  const call = latest.run(() => pending.promise);
  const during = latest.signal;
  assert.notEqual(during, before);
  assert.equal(before.aborted, true);
  latest.cancel();
  assert.equal(during.aborted, true);
  assert.equal(latest.signal.aborted, false);
  pending.resolve([1, 2]);
  assert.equal(await call, undefined);
  assert.equal(await latest.run(async () => null), null);
});
