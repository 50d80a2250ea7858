// Envelope parsing edges found by mutation testing (interop-tests/report/mutation.md).
import t from 'tap';
import { generateKeyPairSync, sign } from 'node:crypto';
import { findDuplicateName, parseJsonObject, verifySignature } from '../../src/envelope/index.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

// covers: req-header-allow-list req-intake-order
t.test('duplicate member names are found whatever the names\' lengths and the whitespace between members', async (t) => {
  for (const name of ['a', 'ab', 'abc', 'abcd', 'kid', 'typ', 'alg', 'set']) {
    t.equal(findDuplicateName(`{"${name}":1,"${name}":2}`), name, `${name}, no whitespace`);
    t.equal(findDuplicateName(`{"x":0,"${name}":1,"${name}":2}`), name, `${name}, after another member`);
    t.equal(findDuplicateName(`{ "${name}" : 1 , "${name}" : 2 }`), name, `${name}, spaces around the members`);
    t.equal(findDuplicateName(`{\n\t"${name}":1,\r\n "${name}":2}`), name, `${name}, newlines and tabs`);
    t.throws(() => parseJsonObject(enc(`{ "${name}": 1, "${name}": 2 }`)), /duplicate/);
  }
  t.equal(findDuplicateName('{ "ab" : "ab" , "cd" : [ "ab" , "ab" ] , "ef" : { "ab" : 1 } }'), undefined, 'values and nested names are not duplicates');
});

// covers: req-alg req-statement-verify
t.test('verifySignature: a valid ES256 (SHA-256, IEEE P1363) or Ed25519 signature verifies; one byte off does not', async (t) => {
  const data = Buffer.from('header.payload');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const es = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
  t.equal(await verifySignature('ES256', data, ec.publicKey, es), true);
  t.equal(await verifySignature('ES256', Buffer.from('header.payloaD'), ec.publicKey, es), false);
  const ed = generateKeyPairSync('ed25519');
  const eds = sign(null, data, ed.privateKey);
  t.equal(await verifySignature('Ed25519', data, ed.publicKey, eds), true);
  t.equal(await verifySignature('Ed25519', data, ed.publicKey, Buffer.concat([eds.subarray(0, 63), Buffer.from([eds[63]! ^ 1])])), false);
});
