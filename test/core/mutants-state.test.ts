// Checkpoints and dependencies at one node, edge by edge; found by mutation testing
// (interop-tests/report/mutation.md).
import t from 'tap';
import { Execution, Dependencies } from '../../src/core/index.js';

// covers: req-hints-verbatim req-irreversible
t.test('what a rollback undoes: the worst class from the target on, and only the hints of non-reversible work, in seq order', async (t) => {
  const e = new Execution('x');
  const cp = (seq: number, reversibility: 'reversible' | 'compensable' | 'irreversible', hints: unknown[]) =>
    e.add({ id: `x-k${seq}`, seq, digest: 'sha-256:' + String(seq).repeat(64).slice(0, 64), reversibility, hints });
  const k1 = cp(1, 'reversible', [{ note: 'reversible work needs no hint' }]);
  cp(2, 'compensable', [{ undo: 'refund' }]);
  const k3 = cp(3, 'reversible', [{ note: 'also ignored' }]);
  cp(4, 'irreversible', [{ undo: 'apologise' }, { undo: 'call' }]);
  t.same(e.undo(k1), { worst: 'irreversible', hints: [{ undo: 'refund' }, { undo: 'apologise' }, { undo: 'call' }] });
  t.same(e.undo(k3), { worst: 'irreversible', hints: [{ undo: 'apologise' }, { undo: 'call' }] });
  const r = new Execution('r');
  const only = r.add({ id: 'r-k1', seq: 1, digest: 'sha-256:' + '1'.repeat(64), reversibility: 'reversible', hints: [{ note: 'x' }] });
  t.same(r.undo(only), { worst: 'reversible', hints: [] });
});

// covers: req-idempotent
t.test('dependencies are idempotent by their whole tuple: tuples that differ only in where one field ends are distinct', async (t) => {
  const d = new Dependencies();
  const c = { consumer: 'ab', consumerCheckpoint: 'c', consumerSeq: 1, producerAgent: 'P', producerExecution: 'p', producerCheckpoint: 'p-k1', producerSeq: 1 };
  t.equal(d.addConsumption(c), true);
  t.equal(d.addConsumption({ ...c }), false, 'the same tuple again');
  t.equal(d.addConsumption({ ...c, consumer: 'a', consumerCheckpoint: 'bc' }), true, 'another consumer and checkpoint');
  const dep = { producerExecution: 'p', producerCheckpoint: 'p-k1', producerSeq: 1, consumerAgent: 'Ab', consumerExecution: 'c', consumerCheckpoint: 'k', consumerSeq: 1, consumerDigest: 'sha-256:' + '1'.repeat(64) };
  t.equal(d.addDependent(dep), true);
  t.equal(d.addDependent({ ...dep }), false, 'the same registration again');
  const other = { ...dep, consumerAgent: 'A', consumerExecution: 'bc', consumerDigest: 'sha-256:' + '2'.repeat(64) };
  d.checkDependent(other);
  t.equal(d.addDependent(other), true, 'another agent and execution');
  t.equal(d.digestOf('Ab', 'c', 'k'), dep.consumerDigest);
  t.equal(d.digestOf('A', 'bc', 'k'), other.consumerDigest);
});
