// The harness's scenario wrapper (interop-tests/harness/scenario.ts): a scenario
// marked todo (a known bug of the implementation under test) still runs its body;
// the assertions that carry `bug` count as todo; the report says todo, pass or fail.
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'marp-report-'));
process.env['MARP_REPORT_DIR'] = dir;
const { scenario } = await import('../../interop-tests/harness/scenario.js');
const entries = (): { scenario: string; result: string; notes?: string }[] => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')).entries;

t.test('a todo scenario runs its body and is reported as todo', async (t) => {
  let ran = false;
  await scenario(t, import.meta.url, () => undefined, { id: 'known-bug', title: 'known bug', sections: ['req-x'], todo: 'the bug' }, async (st, bug) => {
    ran = true;
    st.equal(1, 2, 'the assertion that shows the bug', bug);
    st.equal(1, 1, 'an assertion that holds');
  });
  t.ok(ran, 'body ran');
  const e = entries().find((x) => x.scenario === 'known-bug');
  t.equal(e?.result, 'todo');
  t.match(e?.notes, /known bug: the bug/);
});

t.test('a scenario without todo gets no bug marker and is reported as pass', async (t) => {
  await scenario(t, import.meta.url, () => undefined, { id: 'plain', title: 'plain', sections: ['req-x'] }, async (st, bug) => {
    st.same(bug, {}, 'no todo marker');
  });
  t.equal(entries().find((x) => x.scenario === 'plain')?.result, 'pass');
});
