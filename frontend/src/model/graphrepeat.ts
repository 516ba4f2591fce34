/**
 * Repeated blocks folded into one: a run of REPEAT_MIN or more sibling blocks of one type,
 * alike inside (the same layers by relative name, type, activation and parameter count),
 * named by consecutive indices (`layers/0` … `layers/11`, Keras' `conv4_block2` …
 * `conv4_block6`) and each feeding the next, gets a derived parent block `layers/0…11` of
 * type "12 × TransformerEncoderLayer". Closed, that block is one box; opened, its blocks.
 * A 12-block transformer then reads input → 12 × block → head on one screen.
 *
 * Example: withRepeatBlocks(encoder12).blocks[0] -> {name: "layers/0…11", type: "12 × TransformerEncoderLayer", parent: null, derived: true, repeat: 12}
 */
import type { GraphBlock, GraphNode, GraphRecord } from "./graph";

/** The fewest alike blocks in a row that fold (two or three read fine as they are). */
export const REPEAT_MIN = 4;

export function withRepeatBlocks(g: GraphRecord): GraphRecord {
  if (g.blocks.length < REPEAT_MIN) return g;
  const byName = new Map(g.blocks.map((b) => [b.name, b]));
  // Each block's nodes, its sub-blocks' included, in record order.
  const inside = new Map<string, GraphNode[]>(g.blocks.map((b) => [b.name, []]));
  for (const n of g.nodes) {
    const seen = new Set<string>();
    for (let p = n.parent; p !== null && byName.has(p) && !seen.has(p); p = byName.get(p)!.parent) {
      seen.add(p);
      inside.get(p)!.push(n);
    }
  }
  const relative = (name: string, block: string) => (name.startsWith(block) ? name.slice(block.length) : name);
  const signature = (b: GraphBlock) =>
    JSON.stringify([b.type, inside.get(b.name)!.map((n) => [relative(n.name, b.name), n.type, n.activation, n.params, n.function])]);
  const members = new Map([...inside].map(([b, ns]) => [b, new Set(ns.map((n) => n.name))]));
  const feeds = (a: string, b: string) => g.edges.some(([x, y]) => members.get(a)!.has(x) && members.get(b)!.has(y));
  const taken = new Set<string>([...g.nodes.map((n) => n.name), ...g.blocks.map((b) => b.name)]);
  const parentOf = new Map<string, string>();
  const added = new Map<string, GraphBlock>(); // first block of a run -> its repeat block
  const siblings = new Map<string | null, GraphBlock[]>();
  for (const b of g.blocks) siblings.set(b.parent, [...(siblings.get(b.parent) ?? []), b]);
  for (const [parent, list] of siblings) {
    let run: { block: GraphBlock; prefix: string; index: number }[] = [];
    const flush = () => {
      if (run.length >= REPEAT_MIN && inside.get(run[0].block.name)!.length) {
        const first = run[0];
        const name = `${first.prefix}${first.index}…${run[run.length - 1].index}`;
        if (!taken.has(name)) {
          taken.add(name);
          added.set(first.block.name, { name, type: `${run.length} × ${first.block.type}`, parent, derived: true, repeat: run.length });
          for (const r of run) parentOf.set(r.block.name, name);
        }
      }
      run = [];
    };
    for (const b of list) {
      const m = /^(.*?)(\d+)$/.exec(b.name);
      const last = run[run.length - 1];
      const fits = m && last && m[1] === last.prefix && Number(m[2]) === last.index + 1 && signature(b) === signature(last.block) && feeds(last.block.name, b.name);
      if (!fits) flush();
      if (m) run.push({ block: b, prefix: m[1], index: Number(m[2]) });
    }
    flush();
  }
  if (!added.size) return g;
  const blocks: GraphBlock[] = [];
  for (const b of g.blocks) {
    const rep = added.get(b.name);
    if (rep) blocks.push(rep);
    blocks.push(parentOf.has(b.name) ? { ...b, parent: parentOf.get(b.name)! } : b);
  }
  return { ...g, blocks };
}
