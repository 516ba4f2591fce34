/**
 * Latest-only requests: a panel that refetches on every change (a run picked, a step
 * moved, a reload) must show the answer to its newest request, never a slower, older
 * one. `Latest.run` starts a task as the newest call, aborts the previous call's signal
 * (a fetch given that signal is cancelled), and resolves to `undefined` when a later
 * `run` or a `cancel` superseded it, whatever the task did; the newest call resolves to
 * the task's value or rejects with its error. Tasks resolve to anything but `undefined`
 * (the type says so), so `undefined` always means "superseded: show nothing".
 *
 * Example:
 *   private readonly latest = latestOnly();
 *   const rows = await this.latest.run((signal) => fetchOverview(run, signal));
 *   if (rows === undefined) return; // a newer update is on its way
 *   this.show(rows);
 *
 *   dispose(): void { this.latest.cancel(); }
 */
export class Latest {
  private ctrl = new AbortController();

  /**
   * The newest call's signal, aborted once a later `run` or `cancel` supersedes it: work
   * that follows a call (a redraw once colour ranges arrive) checks it before acting.
   */
  get signal(): AbortSignal {
    return this.ctrl.signal;
  }

  /** Runs `task` as the newest call (superseding the one in flight); undefined when superseded itself. */
  async run<T extends {} | null>(task: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    this.cancel();
    const signal = this.ctrl.signal;
    try {
      const value = await task(signal);
      return signal.aborted ? undefined : value;
    } catch (e) {
      if (signal.aborted) return undefined;
      throw e;
    }
  }

  /** Supersedes the call in flight (nothing to show any more, or the owner is being removed). */
  cancel(): void {
    this.ctrl.abort();
    this.ctrl = new AbortController();
  }
}

/** A new latest-only slot (one per thing that refetches: a card, a panel, a chart). */
export function latestOnly(): Latest {
  return new Latest();
}
