/**
 * The last finite ratio and the step NaN started, of tensors whose latest statistics are
 * NaN (model/broken.ts), from their trajectories: fetched at most four at a time and
 * cached by run, tensor and latest step (the structure view and the overview share them).
 *
 * Example: const b = await brokenOf("nan_run", "layer1.0.conv1/weight", 3); b?.nanStep === 2
 */
import { fetchTrajectory } from "../data/api";
import { type Broken, lastFinite } from "../model/broken";

const cache = new Map<string, Promise<Broken | null>>();
let running = 0;
const waiting: (() => void)[] = [];

async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= 4) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** The broken tensor's last finite ratio and NaN step (null: its trajectory could not be read). */
export function brokenOf(run: string, tag: string, step: number | null): Promise<Broken | null> {
  const key = JSON.stringify([run, tag, step]);
  let hit = cache.get(key);
  if (!hit) {
    hit = slot(() => fetchTrajectory(run, tag))
      .then((tr) => lastFinite(tr.step ?? [], tr.update_ratio_per_step ?? [], tr.norm ?? []))
      .catch(() => null);
    cache.set(key, hit);
  }
  return hit;
}
