import { join } from 'node:path';
import { keygen } from '../envelope/index.js';
import { options, type Command } from './main.js';

export const keygenCommand: Command = {
  summary: 'write a private JWK and a public JWKS',
  usage: [
    'usage: marp keygen --id AGENT [--out DIR] [--alg ES256|Ed25519] [--kid KID] [--force]',
    '  writes DIR/AGENT.private.jwk (mode 0600) and DIR/AGENT.jwks.json (give this one to peers)',
  ].join('\n'),
  async run(argv) {
    const { values } = options(argv, {
      id: { type: 'string' }, out: { type: 'string', default: '.' }, alg: { type: 'string', default: 'ES256' },
      kid: { type: 'string' }, force: { type: 'boolean', default: false },
    });
    const id = values['id'] as string | undefined;
    if (!id || !/^[A-Za-z0-9._~:@+-]{1,128}$/.test(id)) throw new Error('--id: an agent id (letters, digits, ._~:@+-) is required');
    const alg = values['alg'] as string;
    if (alg !== 'ES256' && alg !== 'Ed25519') throw new Error('--alg: must be ES256 or Ed25519');
    const out = values['out'] as string;
    const privatePath = join(out, `${id}.private.jwk`);
    const publicPath = join(out, `${id}.jwks.json`);
    const { privateJwk } = await keygen({
      alg, privatePath, publicPath, force: values['force'] === true,
      ...(values['kid'] ? { kid: values['kid'] as string } : {}),
    });
    process.stdout.write(`kid ${privateJwk.kid}\nprivate ${privatePath}\npublic ${publicPath}\n`);
    return 0;
  },
};
