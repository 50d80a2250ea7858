#!/usr/bin/env node
/**
 * marp: the command-line tool of the reference node.
 *   keygen   write a private JWK and a public JWKS
 *   node     run a node from a config file
 *   export   write a recovery bundle for one rollback set
 *   verify   check a node's log or a bundle offline
 *   demo     run a local mesh of four nodes through a coordinated rollback
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../node/config.js';

export interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<Command>> = Object.assign(Object.create(null), {
  keygen: async () => (await import('./keygen.js')).keygenCommand,
  node: async () => (await import('./node.js')).nodeCommand,
  export: async () => (await import('./export.js')).exportCommand,
  verify: async () => (await import('./verify.js')).verifyCommand,
  demo: async () => (await import('../demo/run.js')).demoCommand,
});

export const summaries: Record<string, string> = {
  keygen: 'write a private JWK and a public JWKS',
  node: 'run a node from a config file',
  export: 'write a recovery bundle (record, follow-ups, acknowledgements, keys)',
  verify: 'check a node log or a recovery bundle offline',
  demo: 'run four nodes and agents through a coordinated rollback',
};

function usage(): string {
  return [
    'usage: marp <command> [options]',
    '',
    ...Object.entries(summaries).map(([n, s]) => `  ${n.padEnd(8)} ${s}`),
    '',
    'marp <command> --help shows the options of a command.',
  ].join('\n');
}

/** Parse options strictly; unknown options are errors that name the option. */
export function options<T extends Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>>(
  argv: string[], spec: T,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  return parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' }, ...spec }, allowPositionals: true, strict: true }) as never;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`marp: unknown command '${name}'\n${usage()}\n`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    const e = err as Error & { code?: string; field?: string };
    if (err instanceof ConfigError) process.stderr.write(`marp ${name}: bad config: ${e.message}\n`);
    else if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') process.stderr.write(`marp ${name}: ${e.message}\n${cmd.usage}\n`);
    else process.stderr.write(`marp ${name}: ${e.message}\n`);
    return e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 2 : 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/marp')) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`marp: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
