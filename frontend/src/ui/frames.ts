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
