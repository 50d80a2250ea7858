/**
 * A deliberately misbehaving peer: a fake node that speaks the wire protocol
 * (HTTP binding) with a real key of the mesh, in place of a node process.
 * It answers every envelope with a receipt signed with its key (draft
 * "req-receipt-sign"; `unsignedReceipts` answers without the statement, which
 * real senders retransmit), records what it received, and
 * sends honest or dishonest envelopes on request. The node under test has to
 * detect every dishonest one (draft: "Report Consistency", "Restored-Digest
 * Verification", "Cancellation", "Member Processing").
 */
import { createServer, type Server } from 'node:http';
import { createSigner, sealReceipt, sealStatement, type EnvelopeKind, type PrivateJwk } from '../../src/envelope/index.js';
import { decodeCompact, until, type Mesh } from '../harness/index.js';
import { ENVELOPE_PATH, envelope, post, signer, statement, type Answer } from './helpers.js';

export interface Received { kind: string; payload: Record<string, any>; compact: string }
type SetRef = { initiator: string; id: string };
type Cp = { checkpoint: string; seq: number; digest: string };

export class MisbehavingPeer {
  readonly id: string;
  readonly received: Received[] = [];
  readonly #mesh: Mesh;
  #server: Server | undefined;

  readonly #unsigned: boolean;

  constructor(mesh: Mesh, id: string, opts: { unsignedReceipts?: boolean } = {}) {
    this.#mesh = mesh;
    this.id = id;
    this.#unsigned = opts.unsignedReceipts ?? false;
  }

  /** Replace the real node: kill its process and listen on its peer port. */
  async start(): Promise<void> {
    await this.#mesh.kill(this.id);
    const port = Number(new URL(this.#mesh.node(this.id).peerUrl).port);
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const compact = Buffer.concat(chunks).toString('latin1');
        if (req.method !== 'POST' || req.url !== ENVELOPE_PATH) { res.writeHead(404).end(); return; }
        try {
          const { header, payload } = decodeCompact(compact);
          this.received.push({ kind: String(header['typ']).replace(/^rollback-|\+jwt$/g, ''), payload, compact });
          const receipt = this.#unsigned ? {} : { receipt: sealReceipt(signer(this.#mesh, this.id), payload['iss'], payload['jti'], { status: 'accepted' }) };
          res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ jti: payload['jti'], ...receipt }));
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve, reject) => { this.#server!.once('error', reject); this.#server!.listen(port, '127.0.0.1', () => resolve()); });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  send(to: string, kind: EnvelopeKind, body: object): Promise<Answer> {
    return post(this.#mesh, to, envelope(this.#mesh, this.id, to, kind, body));
  }

  waitFor(kind: string, pred: (p: Record<string, any>) => boolean = () => true, ms = 15_000): Promise<Received> {
    return until(() => this.received.find((r) => r.kind === kind && pred(r.payload)), ms, `${this.id} receives a ${kind}`, 50);
  }

  // ---- honest behaviour ------------------------------------------------

  /** Register that execution `exec` (at checkpoint `own`) consumed `producer`'s output as of `cp`. */
  registerDependency(producer: string, cp: { execution: string; checkpoint: string; seq: number }, exec: string, own: Cp): Promise<Answer> {
    return this.send(producer, 'dependency', {
      consumer: { execution: exec, checkpoint: own.checkpoint, seq: own.seq, digest: own.digest },
      producer: { execution: cp.execution, checkpoint: cp.checkpoint, seq: cp.seq },
    });
  }

  ack(req: Record<string, any>, over: object = {}, signer = this.id): string {
    return statement(this.#mesh, signer, 'ack', {
      set: req['set'], member: req['member'], parent: { agent: req['iss'], execution: req['producer'].execution },
      status: 'rolled_back', target: this.#target!, restored: { ...this.#target!, digest: this.#digest! }, ...over,
    });
  }

  #target: { checkpoint: string; seq: number } | undefined;
  #digest: string | undefined;
  /** The checkpoint this peer's member rolls back to (and its declared digest). */
  target(cp: Cp): void {
    this.#target = { checkpoint: cp.checkpoint, seq: cp.seq };
    this.#digest = cp.digest;
  }

  honestReport(req: Record<string, any>): Promise<Answer> {
    return this.send(req['iss'], 'report', { set: req['set'], member: req['member'], acks: [this.ack(req)] });
  }

  // ---- misbehaviour ----------------------------------------------------

  /**
   * Its own ack plus an acknowledgement it made up for a node of its subtree,
   * signed with its own key: claiming the victim as issuer, or as itself.
   */
  forgedSubtreeAck(req: Record<string, any>, victim: string, victimExec: string, claimVictim = true): Promise<Answer> {
    const body = {
      set: req['set'], member: victimExec, parent: { agent: this.id, execution: req['member'] },
      status: 'rolled_back', target: { checkpoint: 'v1', seq: 1 }, restored: { checkpoint: 'v1', seq: 1, digest: this.#digest! },
    };
    const own = createSigner(claimVictim ? victim : this.id, this.#mesh.keys[this.id]!.privateJwk as unknown as PrivateJwk);
    const fake = sealStatement(own, 'ack', body);
    return this.send(req['iss'], 'report', { set: req['set'], member: req['member'], acks: [this.ack(req), fake] });
  }

  /** Its own ack plus a genuine acknowledgement of another node, lifted from another set. */
  liftedAck(req: Record<string, any>, genuine: string): Promise<Answer> {
    return this.send(req['iss'], 'report', { set: req['set'], member: req['member'], acks: [this.ack(req), genuine] });
  }

  /** rolled_back with a restored digest that is not the one it registered for the checkpoint. */
  lyingDigest(req: Record<string, any>): Promise<Answer> {
    return this.send(req['iss'], 'report', {
      set: req['set'], member: req['member'],
      acks: [this.ack(req, { restored: { ...this.#target!, digest: `sha-256:${'e'.repeat(64)}` } })],
    });
  }

  /** A rollback request for a member that never consumed anything of this peer. */
  outOfConeRequest(to: string, member: string, ownExec: string): Promise<Answer> {
    return this.send(to, 'request', {
      set: { initiator: this.id, id: 'out-of-cone' }, cause: { agent: this.id, execution: ownExec, class: 'eval_failure', at: Math.floor(Date.now() / 1000) },
      member, producer: { execution: ownExec, checkpoint: this.#target!.checkpoint, seq: this.#target!.seq }, hops: 4, budget: 5000,
    });
  }

  /** A cancel of someone else's set, with an authority it signed itself. */
  cancelAsNonInitiator(to: string, set: SetRef, member: string): Promise<Answer> {
    return this.send(to, 'cancel', { set, member, authority: statement(this.#mesh, this.id, 'cancellation', { set }) });
  }

  /** A report for a set in which the receiver never asked it. */
  reportUnasked(to: string, set: SetRef, member: string, parentExec: string): Promise<Answer> {
    const req = { set, member, iss: to, producer: { execution: parentExec } };
    return this.send(to, 'report', { set, member, acks: [this.ack(req)] });
  }
}
