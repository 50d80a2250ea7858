/**
 * WebSocket resource bounds of the peer face (draft req-ws-limits): frames
 * over the envelope limit close the link, a link that stops answering pings
 * is terminated, one link has a bounded number of envelopes in the pipeline,
 * and links are capped in total, per source address and per verified peer.
 */
import t from 'tap';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import WebSocket from 'ws';
import { peerFace, defaultWsLimits, type EnvelopeSink, type WsLimits } from '../../src/node/peer-face.js';
import { LINK_PATH, SUBPROTOCOL } from '../../src/node/peer-link.js';

/** "hold.<jti>" waits until released; "ok.<peer>.<jti>" is accepted from <peer>. */
class HoldingSink implements EnvelopeSink {
  received = 0;
  #held: (() => void)[] = [];
  async receive(compact: string): Promise<{ jti: string; peer?: string; receipt: string }> {
    this.received++;
    const [kind, a, b] = compact.split('.');
    if (kind === 'hold') await new Promise<void>((r) => this.#held.push(r));
    return kind === 'ok' ? { jti: b!, peer: a!, receipt: `R.${b!}` } : { jti: a!, receipt: `R.${a!}` };
  }
  release(): void { for (const r of this.#held.splice(0)) r(); }
}

const MAX = 2048;

async function start(ws: Partial<WsLimits>): Promise<{ app: FastifyInstance; url: string; sink: HoldingSink }> {
  const app = Fastify({ logger: false });
  await app.register(websocket, { options: { maxPayload: MAX, handleProtocols: (p: Set<string>) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) } });
  const sink = new HoldingSink();
  await app.register(peerFace, { sink, maxBytes: MAX, ws });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { app, url: `ws://127.0.0.1:${port}${LINK_PATH}`, sink };
}

const connect = (url: string, opts: WebSocket.ClientOptions = {}): Promise<WebSocket> => new Promise((resolve, reject) => {
  const ws = new WebSocket(url, SUBPROTOCOL, opts);
  ws.once('open', () => resolve(ws));
  ws.once('error', reject);
});
const closed = (ws: WebSocket): Promise<number> => new Promise((r) => {
  if (ws.readyState === WebSocket.CLOSED) r(-1); else ws.once('close', (code) => r(code));
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// covers: req-ws-limits
t.test('defaults are the draft\'s', async (t) => {
  t.same({ ...defaultWsLimits }, { pingIntervalMs: 30_000, inFlight: 64, connections: 4096, connectionsPerSource: 256, connectionsPerPeer: 4 });
});

// covers: req-ws-limits
t.test('a frame larger than the envelope limit closes the link (1009)', async (t) => {
  const { app, url } = await start({});
  t.teardown(() => app.close());
  const ws = await connect(url);
  ws.send('x'.repeat(MAX + 1));
  t.equal(await closed(ws), 1009);
});

// covers: req-ws-limits
t.test('a link that does not answer pings is terminated; one that does stays', async (t) => {
  const { app, url } = await start({ pingIntervalMs: 100 });
  t.teardown(() => app.close());
  const mute = await connect(url, { autoPong: false });
  const live = await connect(url);
  const code = await closed(mute);
  t.equal(code, 1006, 'terminated without a close frame');
  t.equal(live.readyState, WebSocket.OPEN, 'the answering link stays open');
  live.close();
});

// covers: req-ws-limits
t.test('at most inFlight envelopes of one link are in the pipeline; the rest wait, in order', async (t) => {
  const { app, url, sink } = await start({ inFlight: 4 });
  t.teardown(() => app.close());
  const ws = await connect(url);
  const answers: string[] = [];
  ws.on('message', (d) => answers.push(JSON.parse(String(d)).jti));
  for (let i = 0; i < 50; i++) ws.send(`hold.j${i}`);
  await sleep(200);
  t.equal(sink.received, 4, 'four in the pipeline, the other 46 not read into it');
  for (let k = 0; k < 20 && answers.length < 50; k++) { sink.release(); await sleep(20); }
  t.equal(answers.length, 50, 'every envelope answered once released');
  t.same(answers.slice(0, 4), ['j0', 'j1', 'j2', 'j3']);
  ws.close();
});

// covers: req-ws-limits
t.test('links are capped in total and per source address (1013) and per verified peer (oldest closed, 1008)', async (t) => {
  const a = await start({ connections: 3 });
  t.teardown(() => a.app.close());
  const three = await Promise.all([connect(a.url), connect(a.url), connect(a.url)]);
  t.equal(await closed(await connect(a.url)), 1013, 'the fourth link in total is refused');
  three[0]!.close();
  await closed(three[0]!);
  await sleep(50);
  const again = await connect(a.url);
  t.equal(again.readyState, WebSocket.OPEN, 'a slot freed by a close is reused');
  for (const w of [...three, again]) w.close();

  const b = await start({ connectionsPerSource: 2 });
  t.teardown(() => b.app.close());
  const two = await Promise.all([connect(b.url), connect(b.url)]);
  t.equal(await closed(await connect(b.url)), 1013, 'the third link from 127.0.0.1 is refused');
  for (const w of two) w.close();

  const c = await start({ connectionsPerPeer: 2 });
  t.teardown(() => c.app.close());
  const links = await Promise.all([connect(c.url), connect(c.url), connect(c.url)]);
  const receipt = (ws: WebSocket, text: string) => new Promise((r) => { ws.once('message', r); ws.send(text); });
  await receipt(links[0]!, 'ok.alice.j1');
  await receipt(links[1]!, 'ok.alice.j2');
  await receipt(links[2]!, 'ok.bob.j3');
  t.equal(links[0]!.readyState, WebSocket.OPEN, 'two links of alice, one of bob: all open');
  const fourth = await connect(c.url);
  const oldest = closed(links[0]!);
  await receipt(fourth, 'ok.alice.j4');
  t.equal(await oldest, 1008, 'a third link of alice closes her oldest');
  t.equal(links[2]!.readyState, WebSocket.OPEN, 'bob is not affected');
  for (const w of [...links, fourth]) w.close();
});
