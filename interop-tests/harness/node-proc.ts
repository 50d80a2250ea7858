/**
 * One node process of the implementation under test, started by its
 * adapter's command with the config file the harness wrote; stopped with
 * SIGTERM, killed with SIGKILL (README "Adapter contract").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Adapter } from './adapter.js';

export class NodeProc {
  readonly id: string;
  readonly #adapter: Adapter;
  readonly #configPath: string;
  readonly #env: Record<string, string>;
  child: ChildProcess | undefined;
  /** Last lines of stdout/stderr, for diagnostics when a scenario fails. */
  readonly tail: string[] = [];
  onLine?: (line: Record<string, unknown>) => void;

  constructor(id: string, adapter: Adapter, configPath: string, env: Record<string, string> = {}) {
    this.id = id;
    this.#adapter = adapter;
    this.#configPath = configPath;
    this.#env = env;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(env: Record<string, string> = {}): void {
    const [cmd, ...args] = this.#adapter.command.map((a) => (a === '{config}' ? this.#configPath : a));
    const child = spawn(cmd!, args, {
      cwd: this.#adapter.cwd, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.#adapter.env, ...this.#env, ...env },
    });
    const keep = (l: string): void => {
      this.tail.push(l);
      if (this.tail.length > 200) this.tail.shift();
    };
    createInterface({ input: child.stdout! }).on('line', (l) => {
      keep(l);
      if (this.onLine) { try { this.onLine(JSON.parse(l)); } catch { /* not a JSON log line */ } }
    });
    createInterface({ input: child.stderr! }).on('line', keep);
    this.child = child;
  }

  #signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const c = this.child;
    if (!c || !this.running) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
      c.once('exit', () => { clearTimeout(timer); resolve(); });
      c.kill(sig);
    });
  }

  /** Graceful stop (SIGTERM; SIGKILL after 5 s). */
  stop(): Promise<void> { return this.#signal('SIGTERM', 5000); }

  /** Crash (SIGKILL). */
  kill(): Promise<void> { return this.#signal('SIGKILL', 5000); }

  exited(): Promise<{ code: number | null; signal: string | null }> {
    const c = this.child!;
    if (!this.running) return Promise.resolve({ code: c.exitCode, signal: c.signalCode });
    return new Promise((r) => c.once('exit', (code, signal) => r({ code, signal })));
  }
}
