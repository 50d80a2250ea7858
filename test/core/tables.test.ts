import t from 'tap';
import { ProtocolError } from '../../src/errors.js';
import {
  memberStates, memberEvents, memberTransitions, memberNext, memberTransition,
  setStates, setEvents, setTransitions, setNext, setTransition,
} from '../../src/core/index.js';

// covers: req-illegal-transition
t.test('member table: every state x event is the listed transition or illegal_transition', async (t) => {
  let legal = 0;
  let illegal = 0;
  for (const s of memberStates) {
    for (const e of memberEvents) {
      const allowed = memberNext(s, e);
      if (allowed.length === 0) {
        illegal++;
        t.throws(() => memberTransition(s, e), { code: 'illegal_transition' }, `${s} x ${e}`);
        continue;
      }
      for (const n of allowed) {
        legal++;
        t.equal(memberTransition(s, e, n), n, `${s} x ${e} -> ${n}`);
      }
      t.equal(memberTransition(s, e), allowed[0]);
      // a target not listed is refused too
      for (const n of memberStates.filter((x) => !allowed.includes(x))) {
        t.throws(() => memberTransition(s, e, n), ProtocolError);
      }
    }
  }
  t.ok(legal > 20 && illegal > 40, `${legal} legal, ${illegal} illegal`);
});

t.test('member table matches contract §5 for the listed edges', async (t) => {
  t.same(memberNext('held', 'confirm'), ['waiting', 'rolling_back']);
  t.same(memberNext('held', 'decline'), ['reported']);
  t.same(memberNext('held', 'cancel'), ['reported']);
  t.same(memberNext('waiting', 'cancel'), ['reported']);
  t.same(memberNext('rolling_back', 'result'), ['collecting', 'reported']);
  t.same(memberNext('collecting', 'deadline'), ['reported']);
  t.same(memberNext('reported', 'lease_end'), ['expired']);
  t.same(memberNext('expired', 'outcome'), ['closed']);
  t.same(memberNext('closed', 'cancel'), []);
  for (const s of ['waiting', 'rolling_back', 'collecting', 'reported', 'expired', 'closed'] as const) {
    t.ok(memberNext(s, 'earlier_target').includes('rolling_back'), `${s} earlier target`);
  }
});

// covers: req-illegal-transition
t.test('set table: every state x event', async (t) => {
  for (const s of setStates) {
    for (const e of setEvents) {
      const allowed = setNext(s, e);
      if (allowed.length === 0) t.throws(() => setTransition(s, e), { code: 'illegal_transition' }, `${s} x ${e}`);
      else for (const n of allowed) t.equal(setTransition(s, e, n), n);
      if (allowed.length > 0) t.throws(() => setTransition(s, e, 'new'), { code: 'illegal_transition' });
    }
  }
  t.same(setNext('recorded', 'cancel'), []);
  t.same(setNext('recorded', 'late_final'), ['recorded']);
  t.same(setNext('proposed', 'confirm'), ['open']);
  t.same(setNext('open', 'cancel'), ['cancelling']);
});

t.test('tables are prototype-free and frozen', async (t) => {
  t.equal(Object.getPrototypeOf(memberTransitions), null);
  t.equal(Object.getPrototypeOf(memberTransitions.held), null);
  t.equal(Object.getPrototypeOf(setTransitions), null);
  t.ok(Object.isFrozen(memberTransitions) && Object.isFrozen(setTransitions.open));
  t.same(memberNext('toString' as never, 'request'), []);
  t.same(memberNext('held', '__proto__' as never), []);
  t.same(setNext('constructor' as never, 'cancel'), []);
});
