/**
 * Scrolling a target to the top of the tab, below the sticky header, and keeping it
 * there while lazily loaded content above it (charts, heatmaps of other cards) grows.
 * A plain scrollIntoView lands short: content above the target keeps loading after the
 * scroll, and the sticky runs bar covers the target's title.
 *
 * The position math is pure (`scrollTarget`); `revealStable` re-aims after each layout
 * change for a short while and stops at once when the user scrolls, clicks or types.
 *
 * Example: revealStable(card.root, () => header.getBoundingClientRect().bottom);
 */

/** Gap kept between the header and the revealed target, in CSS pixels. */
export const REVEAL_GAP = 8;

/** How long layout changes are followed after the scroll, in milliseconds. */
const FOLLOW_MS = 2500;

/**
 * The window scroll position that puts a target whose top is `targetTop` (viewport
 * coordinates, at scroll position `scrollY`) just below a header ending at `headerBottom`.
 *
 * Example: scrollTarget(1040, 500, 48) === 1484; scrollTarget(10, 0, 48) === 0.
 */
export function scrollTarget(targetTop: number, scrollY: number, headerBottom: number, gap = REVEAL_GAP): number {
  return Math.max(0, Math.round(scrollY + targetTop - headerBottom - gap));
}

let cancelPrevious: (() => void) | null = null;

/**
 * True when the page scrolled while the target kept its place in the document: someone
 * else (the user's scrollbar, a script) moved the page, so following must stop. Content
 * growing above the target moves it in the document (and scroll anchoring may move the
 * page with it): that is what following corrects.
 *
 * Example: foreignScroll({scrollY: 500, docTop: 1200}, {scrollY: 900, docTop: 1200}) === true;
 *          foreignScroll({scrollY: 500, docTop: 1200}, {scrollY: 500, docTop: 1500}) === false.
 */
export function foreignScroll(before: { scrollY: number; docTop: number }, now: { scrollY: number; docTop: number }): boolean {
  return Math.abs(now.scrollY - before.scrollY) > 1 && Math.abs(now.docTop - before.docTop) < 1;
}

/**
 * Scrolls `target` below the header now, then follows layout changes for FOLLOW_MS
 * (every animation frame; cheap: one getBoundingClientRect) unless the page is moved by
 * anyone else: user input, or a scroll that did not come from content growing.
 */
export function revealStable(target: HTMLElement, headerBottom: () => number): void {
  cancelPrevious?.();
  const win = target.ownerDocument.defaultView ?? window;
  const where = () => ({ scrollY: win.scrollY, docTop: target.getBoundingClientRect().top + win.scrollY });
  let last = where();
  const aim = () => {
    const want = scrollTarget(target.getBoundingClientRect().top, win.scrollY, headerBottom());
    if (Math.abs(win.scrollY - want) > 1) win.scrollTo({ top: want, behavior: "instant" as ScrollBehavior });
    last = where();
  };
  const end = Date.now() + FOLLOW_MS;
  let frame = 0;
  const stop = () => {
    win.cancelAnimationFrame(frame);
    for (const t of USER_INPUT) win.removeEventListener(t, stop, true);
    if (cancelPrevious === stop) cancelPrevious = null;
  };
  const tick = () => {
    if (!target.isConnected || Date.now() > end || foreignScroll(last, where())) return stop();
    aim();
    frame = win.requestAnimationFrame(tick);
  };
  for (const t of USER_INPUT) win.addEventListener(t, stop, { capture: true, passive: true });
  cancelPrevious = stop;
  aim();
  frame = win.requestAnimationFrame(tick);
}

/** Events that mean the user is moving the page themselves. */
const USER_INPUT = ["wheel", "touchstart", "keydown", "mousedown"] as const;
