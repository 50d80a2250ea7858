// (c) The draft's error table equals src/errors.ts (codes, order, HTTP
// status, meaning, sender action), and the error formats match.
import t from 'tap';
import { errorCodes, errors, isErrorCode, problem, ProtocolError } from '../../src/errors.js';
import { draftXml, sourcecodes, tableRows } from './draft-helpers.js';

const rows = tableRows('tab-errors');

t.test('error table == src/errors.ts', async (t) => {
  t.same(rows.map((r) => r[0]), [...errorCodes], 'codes, in registry order');
  for (const [code, status, meaning, action] of rows) {
    if (!isErrorCode(code)) { t.fail(`unknown code ${code}`); continue; }
    t.equal(Number(status), errors[code].status, `${code}: HTTP status`);
    t.equal(meaning, errors[code].meaning, `${code}: meaning`);
    t.equal(action, errors[code].action, `${code}: sender action`);
  }
});

t.test('every code is explained where the intake order or procedures use it', async (t) => {
  const body = draftXml.replace(/<table anchor="tab-errors">[\s\S]*?<\/table>/, '');
  for (const code of errorCodes) t.ok(body.includes(`"${code}"`), `${code} is used in the prose`);
});

t.test('problem details example and WebSocket frames', async (t) => {
  const ex = sourcecodes().find((b) => b.attrs.anchor === 'example-problem');
  t.ok(ex, 'problem example present');
  const body = JSON.parse(ex!.text);
  const p = problem(new ProtocolError('no_dependency', body.detail));
  t.same(body, p, 'the draft example is what problem() produces');
  t.match(draftXml, /urn:ietf:params:rollback:error:/, 'URN prefix documented');
  t.match(draftXml, /\{"type": "receipt", "jti": J\}/, 'receipt frame documented');
  t.match(draftXml, /\{"type": "error", "jti": J, "code": C, "detail": D\}/, 'error frame documented');
});

t.test('src/errors.ts behaviour', async (t) => {
  t.ok(Object.isFrozen(errors));
  t.equal(Object.getPrototypeOf(errors), null, 'prototype-free lookup');
  t.notOk(isErrorCode('toString'));
  t.notOk(isErrorCode('__proto__'));
  t.notOk(isErrorCode(42));
  t.ok(isErrorCode('internal'));
  const e = new ProtocolError('replayed');
  t.equal(e.name, 'ProtocolError');
  t.equal(e.code, 'replayed');
  t.equal(e.status, 409);
  t.equal(e.message, errors.replayed.meaning, 'default message is the meaning');
  const cause = new Error('io');
  const e2 = new ProtocolError('internal', 'disk', { cause });
  t.equal(e2.cause, cause);
  t.ok(e2 instanceof Error);
  t.same(problem(e2), { type: 'urn:ietf:params:rollback:error:internal', title: 'internal error', status: 500, code: 'internal', detail: 'disk' });
  for (const c of errorCodes) {
    const d = errors[c];
    t.ok(['fix', 'retry', 'drop'].includes(d.action), `${c} action`);
    t.ok(d.status >= 400 && d.status < 600, `${c} status`);
    if (d.status === 429 || d.status === 503) t.equal(d.action, 'retry', `${c}: 429/503 are retried`);
  }
});
