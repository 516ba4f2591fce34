/**
 * Spreading work over animation frames, so that drawing dozens of charts does not stall
 * scrolling. Hidden pages get no animation frames: a timeout stands in.
 *
 * Example: for (const c of charts) { await nextFrame(); c.draw(); }
 */
export function nextFrame(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof requestAnimationFrame !== "function" || (typeof document !== "undefined" && document.hidden)) {
      setTimeout(resolve, 0);
      return;
    }
    const t = setTimeout(resolve, 100);
    requestAnimationFrame(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * Resolves in the page's idle time (requestIdleCallback), at the latest after `timeout`
 * ms: for work that may wait a little, like drawing a chart while the page scrolls.
 * Without idle callbacks (or in a hidden page) it waits for the next frame.
 *
 * Example: for (const c of charts) { await idleTime(); c.draw(); }
 */
export function idleTime(timeout = 200): Promise<void> {
  if (typeof requestIdleCallback !== "function" || (typeof document !== "undefined" && document.hidden)) return nextFrame();
  return new Promise((resolve) => requestIdleCallback(() => resolve(), { timeout }));
}
