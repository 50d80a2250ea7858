/**
 * Worked example of the draft (appendix "Worked Example"), captured from the
 * reference implementation rather than written by hand.
 *
 *   node --import tsx scripts/gen-example.ts            capture + write + insert
 *   node --import tsx scripts/gen-example.ts --insert   re-render from draft/example/*.json
 *
 * Capture: the four-node cascade of src/demo/run.ts (real `marp node`
 * processes over HTTP, fresh ES256 keys). After the run the nodes are stopped
 * and each node's log is read: every accepted envelope is logged with its
 * verified payload and the compact form of each statement it carried
 * (src/node/node.ts), and every record the node signed is logged in compact
 * form. Writes draft/example/{keys,envelopes,statements}.json, then replaces
 * the text between the BEGIN/END markers of the draft's appendix with the
 * rendering of those files. test/contract/worked-example.test.ts checks the
 * files against the schemas and signatures, and the draft against render().
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const exampleDir = join(root, 'draft', 'example');
export const draftFile = join(root, 'draft', 'draft-marp-agent-rollback-00.xml');
export const BEGIN = '<!-- BEGIN GENERATED WORKED EXAMPLE (scripts/gen-example.ts) -->';
export const END = '<!-- END GENERATED WORKED EXAMPLE -->';

export interface CapturedEnvelope {
  /** Position in the run, ordered by the receiver's clock. */
  step: number;
  receiver: string;
  kind: string;
  /** Receiver's clock (ms) when it accepted the envelope. */
  t: number;
  payload: Record<string, unknown>;
  /** Labels of the statements it carried (see statements.json). */
  statements: string[];
}
export interface CapturedStatement {
  label: string;
  kind: string;
  signer: string;
  compact: string;
  payload: Record<string, unknown>;
}
export interface Capture {
  keys: Record<string, { keys: Record<string, unknown>[] }>;
  envelopes: CapturedEnvelope[];
  statements: CapturedStatement[];
}

const b64json = (s: string): Record<string, unknown> => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
export const decodeCompact = (c: string): { header: Record<string, unknown>; payload: Record<string, unknown> } => {
  const [h, p] = c.split('.');
  return { header: b64json(h!), payload: b64json(p!) };
};
export const kindOfTyp = (typ: unknown): string => String(typ).replace(/^rollback-/, '').replace(/\+jwt$/, '');

// ------------------------------------------------------------------ capture

async function capture(): Promise<Capture> {
  const { startMesh, runScenario, AGENTS } = await import('../src/demo/run.js');
  const { openLog, verifyLog } = await import('../src/store/index.js');
  const mesh = await startMesh({ transport: 'http' });
  const logPath = (n: string) => join(mesh.dir, `${n}-data`, 'log');
  try {
    const { agents } = await runScenario(mesh);
    // Let the outcome reach every member: wait until no log grows for 1.5 s.
    let last = '';
    let stableSince = Date.now();
    const end = Date.now() + 20_000;
    while (Date.now() - stableSince < 1500) {
      if (Date.now() > end) throw new Error('logs still growing after 20 s');
      const now = (await Promise.all(AGENTS.map((n) => verifyLog(logPath(n))))).map((v) => v.entries).join(',');
      if (now !== last) { last = now; stableSince = Date.now(); }
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const n of AGENTS) agents[n].client.close();
    await mesh.stop();

    const raw: { receiver: string; t: number; kind: string; payload: Record<string, unknown>; statements: { compact: string; payload: Record<string, unknown> }[] }[] = [];
    const records: string[] = [];
    for (const n of AGENTS) {
      const log = await openLog(logPath(n));
      for (const e of log.entries) {
        const b = e.body as { t: number; input?: Record<string, any>; record?: string };
        if (b.record !== undefined) records.push(b.record);
        if (b.input?.['type'] === 'envelope') {
          raw.push({ receiver: n, t: b.t, kind: b.input['kind'], payload: b.input['payload'], statements: b.input['statements'] ?? [] });
        }
      }
      await log.close();
    }
    raw.sort((a, b) => a.t - b.t || a.receiver.localeCompare(b.receiver));

    // Statements, labelled in order of first appearance: ACK-<signer>[-n], RECORD-<signer>[-n].
    const statements: CapturedStatement[] = [];
    const byCompact = new Map<string, string>();
    const add = (compact: string): string => {
      const known = byCompact.get(compact);
      if (known) return known;
      const { header, payload } = decodeCompact(compact);
      const kind = kindOfTyp(header['typ']);
      const signer = String(payload['iss']);
      const base = `${kind.toUpperCase()}-${signer.toUpperCase()}`;
      const n = statements.filter((s) => s.label === base || s.label.startsWith(`${base}-`)).length;
      const label = n === 0 ? base : `${base}-${n + 1}`;
      statements.push({ label, kind, signer, compact, payload });
      byCompact.set(compact, label);
      // Statements embedded in a record (its members' acks) come first.
      for (const m of (payload['members'] as { ack?: string }[] | undefined) ?? []) if (m.ack) add(m.ack);
      return label;
    };
    const envelopes: CapturedEnvelope[] = raw.map((r, i) => ({
      step: i + 1, receiver: r.receiver, kind: r.kind, t: r.t, payload: r.payload,
      statements: r.statements.map((s) => add(s.compact)),
    }));
    for (const r of records) add(r);
    return { keys: mesh.keys as Capture['keys'], envelopes, statements };
  } finally {
    await mesh.stop();
    rmSync(mesh.dir, { recursive: true, force: true });
  }
}

export function readCapture(dir = exampleDir): Capture {
  const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
  return { keys: read('keys.json'), envelopes: read('envelopes.json'), statements: read('statements.json') };
}

function writeCapture(c: Capture, dir = exampleDir): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'keys.json'), `${JSON.stringify(c.keys, null, 2)}\n`);
  writeFileSync(join(dir, 'envelopes.json'), `${JSON.stringify(c.envelopes, null, 2)}\n`);
  writeFileSync(join(dir, 'statements.json'), `${JSON.stringify(c.statements, null, 2)}\n`);
}

// ------------------------------------------------------------------ render

const HDR = "=============== NOTE: '\\' line wrapping per RFC 8792 ================";
const WIDTH = 69;

/** RFC 8792 single-backslash folding; no continuation line starts with a space. */
export function fold(text: string): string {
  let folded = false;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    let rest = line;
    while (rest.length > WIDTH) {
      let cut = WIDTH - 1;
      while (cut > 1 && (rest[cut] === ' ' || rest[cut - 1] === '\\')) cut--;
      out.push(`${rest.slice(0, cut)}\\`);
      rest = rest.slice(cut);
      folded = true;
    }
    out.push(rest);
  }
  return folded ? `${HDR}\n\n${out.join('\n')}` : out.join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const code = (anchor: string, text: string, type = 'json') =>
  `        <sourcecode type="${type}" anchor="${anchor}"><![CDATA[\n${fold(text)}\n]]></sourcecode>`;
const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-');

/** The appendix body between the markers (XML). */
export function render(c: Capture): string {
  const label = new Map(c.statements.map((s) => [s.compact, s.label]));
  // In displayed envelopes and records, embedded statements are replaced by their labels.
  const abridge = (p: Record<string, unknown>): Record<string, unknown> => {
    const o: Record<string, unknown> = { ...p };
    if (Array.isArray(o['acks'])) o['acks'] = (o['acks'] as string[]).map((a) => `<${label.get(a) ?? '?'}>`);
    for (const k of ['record', 'authority']) if (typeof o[k] === 'string' && label.has(o[k] as string)) o[k] = `<${label.get(o[k] as string)}>`;
    if (Array.isArray(o['members'])) {
      o['members'] = (o['members'] as Record<string, unknown>[]).map((m) => (typeof m['ack'] === 'string' ? { ...m, ack: `<${label.get(m['ack'] as string) ?? '?'}>` } : m));
    }
    return o;
  };
  const parts: string[] = [];
  const kinds = [...new Set(c.envelopes.map((e) => e.kind))];
  parts.push(`      <t>Keys: each node signs with its own ES256 key.  The public keys,
      as each node's peers hold them:</t>`);
  parts.push(code('wx-keys', JSON.stringify(c.keys, null, 2)));
  parts.push(`      <t>The run produced ${c.envelopes.length} envelopes of the kinds
      ${kinds.map((k) => `"${k}"`).join(', ')} and ${c.statements.length} statements.
      They are listed below in the order in which their receivers accepted
      them.  Each envelope is shown as its decoded payload; a statement that
      it carries is shown as its label in angle brackets, and the statement
      itself follows in <xref target="wx-statements"/>.</t>`);
  for (const e of c.envelopes) {
    const p = e.payload;
    parts.push(`      <t>Step ${e.step}: "${esc(String(p['iss']))}" to "${esc(e.receiver)}", a${/^[aeiou]/.test(e.kind) ? 'n' : ''} ${e.kind} envelope${e.statements.length ? ` carrying ${e.statements.join(', ')}` : ''}:</t>`);
    parts.push(code(`wx-step-${e.step}`, JSON.stringify(abridge(p), null, 2)));
  }
  parts.push(`      <section anchor="wx-statements">
        <name>Statements of the Worked Example</name>
        <t>Each statement is shown as its decoded payload; embedded
        statements again by label.  The recovery record is also shown in
        compact serialisation, which embeds every acknowledgement in
        compact serialisation; with the keys above, a reader can verify
        all signatures of the example from this text alone.</t>`);
  for (const s of c.statements) {
    parts.push(`        <t>${s.label}, a${/^[aeiou]/.test(s.kind) ? 'n' : ''} ${s.kind} statement signed by "${esc(s.signer)}":</t>`);
    parts.push(code(`wx-${slug(s.label)}`, JSON.stringify(abridge(s.payload), null, 2)));
  }
  for (const s of c.statements.filter((x) => x.kind === 'record')) {
    parts.push(`        <t>${s.label} in compact serialisation:</t>`);
    parts.push(code(`wx-${slug(s.label)}-compact`, s.compact, 'jws'));
  }
  parts.push('      </section>');
  return parts.join('\n');
}

export function insert(xml: string, body: string): string {
  const a = xml.indexOf(BEGIN);
  const b = xml.indexOf(END);
  if (a < 0 || b < a) throw new Error('worked-example markers not found in the draft');
  return `${xml.slice(0, a + BEGIN.length)}\n${body}\n      ${xml.slice(b)}`;
}

/** The text the draft holds between the markers. */
export function extract(xml: string): string {
  const a = xml.indexOf(BEGIN);
  const b = xml.indexOf(END);
  if (a < 0 || b < a) throw new Error('worked-example markers not found in the draft');
  return xml.slice(a + BEGIN.length + 1, b).replace(/\n {6}$/, '');
}

async function main(): Promise<void> {
  if (!process.argv.includes('--insert')) writeCapture(await capture());
  const c = readCapture();
  writeFileSync(draftFile, insert(readFileSync(draftFile, 'utf8'), render(c)));
  process.stdout.write(`worked example: ${c.envelopes.length} envelopes, ${c.statements.length} statements inserted into ${draftFile}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(() => process.exit(0), (err) => { process.stderr.write(`${err?.stack ?? err}\n`); process.exit(1); });
}
