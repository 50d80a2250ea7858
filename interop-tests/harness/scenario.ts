/**
 * A scenario is a tap subtest that records its result, duration and the
 * draft anchors it checks in the conformance report. Node output is shown
 * when a scenario fails.
 *
 * With meta.todo (a known bug of the implementation under test) the body still
 * runs: the assertions that show the bug pass `bug` as their extra argument, so
 * tap counts them as todo (a subtest marked todo would not run at all and hide
 * the evidence). Any other failing assertion still fails the scenario.
 */
import { relative } from 'node:path';
import type { Test } from 'tap';
import { fileURLToPath } from 'node:url';
import { ROOT } from './adapter.js';
import type { Mesh } from './mesh.js';
import { record } from './report.js';

export interface ScenarioMeta {
  /** Stable id (report key). */
  id: string;
  title: string;
  /** Draft anchors (section or requirement ids) the scenario checks. */
  sections: string[];
  /** Known implementation bug: run, mark the assertions that show it, report "todo". */
  todo?: string;
  notes?: string;
}

type T = Test;

export function scenario(t: T, fileUrl: string, mesh: () => Mesh | undefined, meta: ScenarioMeta,
  fn: (t: T, bug: { todo?: string }) => Promise<void>): Promise<unknown> {
  const file = relative(ROOT, fileURLToPath(fileUrl));
  const bug = meta.todo ? { todo: meta.todo } : {};
  return t.test(meta.title, async (st) => {
    const t0 = Date.now();
    try {
      await fn(st, bug);
    } catch (err) {
      st.fail(`scenario threw: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    }
    const m = mesh();
    const passed = st.passing();
    if (!passed && m) {
      for (const n of Object.values(m.nodes)) st.comment(`--- ${n.id} (last lines)\n${n.proc.tail.slice(-15).join('\n')}`);
    }
    record({
      file, scenario: meta.id, title: meta.title,
      result: !passed ? 'fail' : meta.todo ? 'todo' : 'pass',
      durationMs: Date.now() - t0, sections: meta.sections,
      implementation: m?.adapter.name ?? 'unknown', transport: m?.transport ?? 'http', network: 'loopback',
      ...(meta.notes || meta.todo ? { notes: [meta.notes, meta.todo && `known bug: ${meta.todo}`].filter(Boolean).join('; ') } : {}),
      at: new Date().toISOString(),
    });
    // Leave the mesh clean for the next scenario.
    m?.healAll();
  });
}
