/**
 * Key generation for `marp keygen`: a private JWK (file mode 0600) and the
 * matching public JWKS to hand to peers. kid defaults to the RFC 7638 JWK
 * thumbprint; alg is ES256 (default) or Ed25519 (RFC 9864).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { isAlg, type Alg } from './kinds.js';
import { createSigner, type PrivateJwk, type Signer } from './sync-signer.js';

export interface KeygenOptions {
  alg?: Alg;
  kid?: string;
  /** Write the private JWK here (refuses to overwrite unless `force`). */
  privatePath?: string;
  /** Write the public JWKS here. */
  publicPath?: string;
  force?: boolean;
}

export interface KeyPairFiles {
  privateJwk: PrivateJwk;
  publicJwks: { keys: JWK[] };
}

export async function keygen(opts: KeygenOptions = {}): Promise<KeyPairFiles> {
  const alg = opts.alg ?? 'ES256';
  if (!isAlg(alg)) throw new TypeError('alg must be ES256 or Ed25519');
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const priv = await exportJWK(privateKey);
  const kid = opts.kid ?? (await calculateJwkThumbprint(priv, 'sha256'));
  const privateJwk = { ...priv, kid, alg, use: 'sig' } as PrivateJwk;
  const { d: _d, ...pub } = privateJwk;
  const publicJwks = { keys: [pub as JWK] };
  const flag = opts.force ? 'w' : 'wx';
  if (opts.privatePath !== undefined) {
    writeFileSync(opts.privatePath, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600, flag });
  }
  if (opts.publicPath !== undefined) {
    writeFileSync(opts.publicPath, `${JSON.stringify(publicJwks, null, 2)}\n`, { flag });
  }
  return { privateJwk, publicJwks };
}

/** Read a private JWK file written by keygen and build a synchronous signer for `iss`. */
export function loadSigner(iss: string, privatePath: string): Signer {
  return createSigner(iss, JSON.parse(readFileSync(privatePath, 'utf8')) as PrivateJwk);
}

/** Read a public JWKS file. */
export function loadJwks(path: string): { keys: JWK[] } {
  return JSON.parse(readFileSync(path, 'utf8')) as { keys: JWK[] };
}
