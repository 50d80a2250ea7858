/** `marp demo` end to end, in process: the README's main command. */
import t from 'tap';
import { demoCommand } from '../../src/demo/run.js';

t.test('marp demo runs the cascade over WebSocket links, prints it and exits 0', async (t) => {
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
  let code: number;
  try {
    code = await demoCommand.run(['--transport', 'ws']);
  } finally {
    process.stdout.write = write;
  }
  const text = out.join('');
  t.equal(code, 0, text);
  t.match(text, /starting four nodes \(transport ws\)/);
  t.match(text, /member report-1 +-> rolling_back/, 'each member state change is printed as it happens');
  t.match(text, /record verified: .* outcome complete/);
});
