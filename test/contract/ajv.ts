// Compile the schemas exactly as the brief requires: Ajv 2020-12, strict mode, ajv-formats.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { schemaDir } from './draft-helpers.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const Ajv2020: any = (Ajv2020Module as any).default ?? Ajv2020Module;
const addFormats: any = (addFormatsModule as any).default ?? addFormatsModule;

export function strictAjv(): any {
  const ajv = new Ajv2020({ strict: true, allErrors: false });
  addFormats(ajv);
  for (const f of readdirSync(schemaDir).filter((n) => n.endsWith('.schema.json')).sort()) {
    ajv.addSchema(JSON.parse(readFileSync(join(schemaDir, f), 'utf8')));
  }
  return ajv;
}
