/**
 * Loader for the JSON Schemas of the message kinds (schemas/<kind>.schema.json,
 * $id urn:marp:schema:<kind>, shared $defs in common.schema.json), compiled
 * once with ajv's 2020-12 dialect in strict mode.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ProtocolError } from '../errors.js';
import { ENVELOPE_KINDS, STATEMENT_KINDS, type Kind } from './kinds.js';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void;

const ALL_KINDS: readonly Kind[] = [...ENVELOPE_KINDS, ...STATEMENT_KINDS];

/** Find the repository's schemas/ directory above this module (src/ or dist/src/). */
export function defaultSchemaDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'schemas');
    if (existsSync(join(candidate, 'common.schema.json'))) return candidate;
    dir = resolve(dir, '..');
  }
  throw new Error('schemas/ directory not found');
}

export class Schemas {
  readonly #validators: Map<Kind, ValidateFunction>;

  constructor(dir: string = defaultSchemaDir()) {
    const ajv = new Ajv2020({ strict: true, allErrors: false });
    addFormats(ajv);
    const read = (name: string): object => JSON.parse(readFileSync(join(dir, name), 'utf8')) as object;
    ajv.addSchema(read('common.schema.json'));
    this.#validators = new Map();
    for (const kind of ALL_KINDS) {
      this.#validators.set(kind, ajv.compile(read(`${kind}.schema.json`)));
    }
  }

  /** Throws schema_invalid if `payload` does not match the schema of `kind`. */
  validate(kind: Kind, payload: unknown): void {
    const v = this.#validators.get(kind)!;
    if (!v(payload)) {
      const e = v.errors![0]!;
      throw new ProtocolError('schema_invalid', `${kind}${e.instancePath || ''}: ${e.message ?? 'invalid'}`.slice(0, 256));
    }
    // CDDL .size counts UTF-8 octets; JSON Schema maxLength counts characters.
    const p = payload as { detail?: unknown; reason?: unknown; cause?: { detail?: unknown }; policy?: { decided_by?: unknown } };
    checkOctets(kind, 'detail', p.detail, 1024);
    checkOctets(kind, 'cause.detail', p.cause?.detail, 1024);
    checkOctets(kind, 'reason', p.reason, 64);
    checkOctets(kind, 'policy.decided_by', p.policy?.decided_by, 255);
    // The optional evidence members (draft "Optional Evidence Profiles").
    const e = payload as { restored?: { attestation?: unknown }; witness?: { service?: unknown; receipt?: unknown }[] };
    checkOctets(kind, 'restored.attestation', e.restored?.attestation, 8192);
    for (const w of e.witness ?? []) {
      checkOctets(kind, 'witness.service', w.service, 255);
      checkOctets(kind, 'witness.receipt', w.receipt, 16384);
    }
  }
}

function checkOctets(kind: Kind, name: string, value: unknown, max: number): void {
  // A string of n UTF-16 units has at most 3n octets: only long ones are measured.
  if (typeof value === 'string' && value.length * 3 > max && Buffer.byteLength(value, 'utf8') > max) {
    throw new ProtocolError('schema_invalid', `${kind}: ${name} longer than ${max} octets`);
  }
}

let shared: Schemas | undefined;

/** The schemas compiled once per process from the default directory. */
export function defaultSchemas(): Schemas {
  shared ??= new Schemas();
  return shared;
}
