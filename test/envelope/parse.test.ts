import t from 'tap';
import { ProtocolError } from '../../src/errors.js';
import {
  isBase64url, decodeBase64url, encodeBase64url, parseCompact, parseJsonObject, findDuplicateName, JsonError,
  parseHeader, checkAlg, checkTyp, kindOfTyp, typOf, isEnvelopeKind, isStatementKind, isAlg, EMBEDDED,
} from '../../src/envelope/index.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return e instanceof ProtocolError ? e.code : `other:${(e as Error).message}`;
  }
};
const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');

t.test('base64url', async (t) => {
  t.ok(isBase64url('AAAA'));
  t.ok(isBase64url('AA'));
  t.ok(isBase64url('AAA'));
  t.notOk(isBase64url(''));
  t.notOk(isBase64url('A'), 'length 1 mod 4');
  t.notOk(isBase64url('AB'), 'non-zero trailing bits (2 chars)');
  t.notOk(isBase64url('AAB'), 'non-zero trailing bits (3 chars)');
  t.notOk(isBase64url('AA=='), 'padding');
  t.notOk(isBase64url('A+/A'), 'standard alphabet');
  t.notOk(isBase64url('AA AA'));
  t.equal(encodeBase64url('hi'), 'aGk');
  t.equal(decodeBase64url('aGk').toString(), 'hi');
  t.equal(code(() => decodeBase64url('a')), 'malformed');
});

t.test('compact syntax', async (t) => {
  t.equal(code(() => parseCompact(42)), 'malformed');
  t.equal(code(() => parseCompact('a.b')), 'malformed');
  t.equal(code(() => parseCompact('abc')), 'malformed');
  t.equal(code(() => parseCompact('aGk.aGk.aGk.aGk')), 'malformed');
  t.equal(code(() => parseCompact('.aGk.aGk')), 'malformed');
  t.equal(code(() => parseCompact('aGk..aGk')), 'malformed');
  const p = parseCompact('aGk.aGk.aGk');
  t.equal(p.header.toString(), 'hi');
  t.equal(p.signingInput.toString(), 'aGk.aGk');
});

t.test('duplicate-safe JSON', async (t) => {
  t.same(parseJsonObject(enc('{"a":1,"b":{"a":2}}')), { a: 1, b: { a: 2 } });
  t.throws(() => parseJsonObject(enc('{"a":1,"a":2}')), JsonError);
  t.throws(() => parseJsonObject(enc('{"a":1,"\\u0061":2}')), /duplicate/);
  t.throws(() => parseJsonObject(enc('{"x":[{"a":1,"a":1}]}')), /duplicate/);
  t.throws(() => parseJsonObject(enc('[1]')), /not a JSON object/);
  t.throws(() => parseJsonObject(enc('null')), /not a JSON object/);
  t.throws(() => parseJsonObject(enc('"s"')), /not a JSON object/);
  t.throws(() => parseJsonObject(enc('{"a":1')), /not JSON/);
  t.throws(() => parseJsonObject(Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), /not UTF-8/);
  t.throws(() => parseJsonObject(Uint8Array.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), /not JSON/, 'BOM refused');
  // Not duplicates: same name in sibling objects, values equal to names, names in arrays.
  t.equal(findDuplicateName('{"a":"a","b":["a","a"],"c":{"a":{"a":1}},"d":[{"a":1},{"a":2}]}'), undefined);
  // Escaped quotes and backslashes inside strings do not confuse the scanner.
  t.equal(findDuplicateName('{"a\\"":1,"b":"x\\\\","a\\u0022":2}'), 'a"');
  t.equal(findDuplicateName('{"k":"v\\\\\\"","k2":1,"k":3}'), 'k');
  t.equal(findDuplicateName('{"a":{},"b":[],"a":0}'), 'a');
  t.equal(findDuplicateName('{"__proto__":1,"__proto__":2}'), '__proto__');
  const o = parseJsonObject(enc('{"__proto__":{"x":1}}'));
  t.equal(Object.getPrototypeOf(o), Object.prototype, 'no prototype pollution');
  t.ok(Object.hasOwn(o, '__proto__'));
});

// covers: req-header-allow-list req-alg
t.test('protected header', async (t) => {
  const h = (o: unknown): Uint8Array => enc(typeof o === 'string' ? o : JSON.stringify(o));
  t.same(parseHeader(h({ alg: 'ES256', typ: 'x', kid: 'k' })), { alg: 'ES256', typ: 'x', kid: 'k' });
  t.equal(code(() => parseHeader(h('nope'))), 'header_invalid');
  t.equal(code(() => parseHeader(h({ alg: 'ES256', typ: 'x' }))), 'header_invalid');
  t.equal(code(() => parseHeader(h({ alg: 'ES256', typ: 'x', kid: 'k', crit: ['b64'] }))), 'header_invalid');
  t.equal(code(() => parseHeader(h({ alg: 'ES256', typ: 1, kid: 'k' }))), 'header_invalid');
  t.equal(code(() => parseHeader(h({ alg: null, typ: 'x', kid: 'k' }))), 'header_invalid');
  t.equal(code(() => parseHeader(h('{"alg":"ES256","typ":"x","kid":"k","\\u0061lg":"none"}'))), 'header_invalid');
  t.equal(checkAlg('ES256'), 'ES256');
  t.equal(checkAlg('Ed25519'), 'Ed25519');
  for (const a of ['EdDSA', 'none', 'HS256', 'RS256', 'ES384', 'es256', '']) t.equal(code(() => checkAlg(a)), 'alg_unsupported', a);
});

// covers: req-typ
t.test('kinds and typ', async (t) => {
  t.equal(typOf('report'), 'rollback-report+jwt');
  t.equal(kindOfTyp('rollback-ack+jwt'), 'ack');
  t.equal(kindOfTyp('toString'), undefined, 'prototype-free');
  t.equal(kindOfTyp('__proto__'), undefined);
  t.ok(isEnvelopeKind('cancel'));
  t.notOk(isEnvelopeKind('ack'));
  t.notOk(isEnvelopeKind(3));
  t.ok(isStatementKind('followup'));
  t.notOk(isStatementKind('report'));
  t.ok(isAlg('Ed25519'));
  t.notOk(isAlg('EdDSA'));
  t.equal(EMBEDDED.report?.member, 'acks');
  t.equal(EMBEDDED.dependency, undefined);
  t.equal(checkTyp('rollback-report+jwt', 'envelope'), 'report');
  t.equal(code(() => checkTyp('rollback-ack+jwt', 'envelope')), 'typ_mismatch');
  t.equal(checkTyp('rollback-ack+jwt', 'ack'), 'ack');
  t.equal(code(() => checkTyp('rollback-ack+jwt', 'report')), 'typ_mismatch');
  t.equal(checkTyp('rollback-followup+jwt', ['record', 'followup']), 'followup');
  t.equal(code(() => checkTyp('rollback-ack+jwt', ['record', 'followup'])), 'typ_mismatch');
  t.equal(code(() => checkTyp('JWT', 'envelope')), 'typ_mismatch');
});
