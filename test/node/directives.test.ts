import t from 'tap';
import { DirectiveQueue, type QueuedDirective } from '../../src/node/directives.js';

const d = (n: number, extra: Record<string, unknown> = {}) => ({ set: { initiator: 'alice', id: `s${n}` }, execution: 'e', action: 'restore', ...extra });

t.test('directives are numbered from 1 in the order pushed', async (t) => {
  const q = new DirectiveQueue();
  t.equal(q.length, 0);
  t.same(q.since(0), []);
  const a = q.push(d(1));
  const b = q.push(d(2));
  t.same(a, { ...d(1), seq: 1 });
  t.same(b, { ...d(2), seq: 2 });
  t.equal(q.length, 2);
  t.same(q.since(0).map((x) => x.seq), [1, 2]);
});

t.test('an identical directive emitted again is not queued twice', async (t) => {
  const q = new DirectiveQueue();
  const heard: QueuedDirective[] = [];
  q.subscribe((x) => heard.push(x));
  q.push(d(1));
  t.equal(q.push(d(1)), undefined, 'duplicate ignored');
  t.equal(q.push({ ...d(1) }), undefined, 'an equal copy is the same directive');
  t.equal(q.length, 1);
  t.equal(heard.length, 1, 'listeners not told twice');
  const c = q.push(d(1, { action: 'compensate' }));
  t.equal(c?.seq, 2, 'a directive that differs is new');
});

t.test('the same directives pushed in the same order get the same numbers (rebuild)', async (t) => {
  const mk = () => { const q = new DirectiveQueue(); [1, 2, 1, 3].forEach((n) => q.push(d(n))); return q; };
  t.same(mk().since(0), mk().since(0));
  t.same(mk().since(0).map((x) => [x.seq, (x['set'] as { id: string }).id]), [[1, 's1'], [2, 's2'], [3, 's3']]);
});

t.test('since(after) returns the directives with seq > after, in order', async (t) => {
  const q = new DirectiveQueue();
  for (let i = 1; i <= 5; i++) q.push(d(i));
  t.same(q.since(0).map((x) => x.seq), [1, 2, 3, 4, 5]);
  t.same(q.since(2).map((x) => x.seq), [3, 4, 5]);
  t.same(q.since(5), []);
  t.same(q.since(99), []);
  t.same(q.since(-3).map((x) => x.seq), [1, 2, 3, 4, 5], 'negative after is the beginning');
  const copy = q.since(0);
  copy.pop();
  t.equal(q.length, 5, 'since returns a copy');
});

t.test('subscribe / unsubscribe', async (t) => {
  const q = new DirectiveQueue();
  const one: number[] = [];
  const two: number[] = [];
  const off1 = q.subscribe((x) => one.push(x.seq));
  q.subscribe((x) => two.push(x.seq));
  q.push(d(1));
  off1();
  q.push(d(2));
  t.same(one, [1], 'unsubscribed listener hears nothing more');
  t.same(two, [1, 2]);
  t.same(q.since(0).map((x) => x.seq), [1, 2], 'a directive is queued before listeners hear of it');
  let seenInside: number | undefined;
  q.subscribe(() => { seenInside = q.length; });
  q.push(d(3));
  t.equal(seenInside, 3);
  off1(); // a second unsubscribe is harmless
});
