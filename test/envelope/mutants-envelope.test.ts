// Envelope parsing edges found by mutation testing (interop-tests/report/mutation.md).
import t from 'tap';
import { findDuplicateName, parseJsonObject } from '../../src/envelope/index.js';

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
