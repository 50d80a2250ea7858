import { loadConfig } from '../node/config.js';
import { RollbackNode } from '../node/node.js';
import { options, type Command } from './main.js';

export const nodeCommand: Command = {
  summary: 'run a node from a config file',
  usage: [
    'usage: marp node --config FILE',
    '  FILE is YAML or JSON (see README "Configuration"). SIGHUP reloads peers, keys and revocations;',
    '  SIGTERM/SIGINT stop gracefully (everything accepted is already durable).',
  ].join('\n'),
  async run(argv) {
    const { values } = options(argv, { config: { type: 'string' } });
    const file = values['config'] as string | undefined;
    if (!file) throw new Error('--config FILE is required');
    const config = loadConfig(file);
    const crashAt = process.env['MARP_TEST_CRASH_AT'];
    const node = await RollbackNode.start(config, crashAt ? { crashPoint: crashPoint(crashAt) } : {});
    node.log.info({ peer: node.peerUrl, agent: node.agentUrl }, 'node ready');
    process.on('SIGHUP', () => {
      try {
        const next = loadConfig(file);
        node.reloadTrust(next.peers, next.revoked);
        node.log.info('trust reloaded');
      } catch (err) {
        node.log.error({ err }, 'reload refused; previous trust kept');
      }
    });
    await new Promise<void>((resolve) => {
      const stop = (): void => { void node.stop().then(resolve); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    return 0;
  },
};

/**
 * Test-only crash points (MARP_TEST_CRASH_AT=name[:n]): SIGKILL ourselves the
 * n-th time the node passes the named durable step.
 */
function crashPoint(spec: string): (name: string) => void {
  const [target, nth] = spec.split(':');
  let left = Number(nth ?? '1');
  return (name) => {
    if (name === target && --left === 0) process.kill(process.pid, 'SIGKILL');
  };
}
