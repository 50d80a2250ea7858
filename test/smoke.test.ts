import t from 'tap';
import { PROTOCOL_VERSION } from '../src/version.js';

t.test('protocol version', async (t) => {
  t.equal(PROTOCOL_VERSION, 1);
});
