/**
 * Helpers for the contract tests: read the Internet-Draft's XML, the JSON
 * Schemas and the CDDL, and normalise CDDL rules and JSON Schema definitions
 * into one small descriptor language so that the two can be compared.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseCddl } from 'cddl';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const draftPath = join(root, 'draft', 'draft-marp-agent-rollback-00.xml');
export const schemaDir = join(root, 'schemas');
export const draftXml = readFileSync(draftPath, 'utf8');

export const KINDS = [
  'dependency', 'failure', 'request', 'report', 'cancel', 'outcome',
  'ack', 'cancellation', 'record', 'followup', 'receipt',
] as const;
export type Kind = (typeof KINDS)[number];

// ---------------------------------------------------------------- draft XML

function attrs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([A-Za-z_:][-A-Za-z0-9_:.]*)="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

export interface Block { attrs: Record<string, string>; text: string }

/** Every <sourcecode> element with CDATA content. */
export function sourcecodes(xml: string = draftXml): Block[] {
  const out: Block[] = [];
  for (const m of xml.matchAll(/<sourcecode(\s[^>]*)?>\s*<!\[CDATA\[([\s\S]*?)\]\]>\s*<\/sourcecode>/g)) {
    out.push({ attrs: attrs(m[1] ?? ''), text: m[2]! });
  }
  return out;
}

export const cddlBlocks = (): Block[] => sourcecodes().filter((b) => b.attrs.type === 'cddl');

/** RFC 8792 single-backslash unfolding ("\" at line end joins the next line, minus its leading whitespace). */
export function unfold8792(text: string): string {
  const lines = text.replace(/^\n/, '').split('\n');
  if (!/^=+ NOTE: '\\' line wrapping per RFC 8792 =+$/.test(lines[0] ?? '')) return lines.join('\n');
  if (lines[1] !== '') throw new Error('RFC 8792 header must be followed by an empty line');
  const body = lines.slice(2);
  const out: string[] = [];
  let acc: string | null = null;
  for (const line of body) {
    const piece: string = acc === null ? line : line.replace(/^\s+/, '');
    const joined: string = (acc ?? '') + piece;
    if (joined.endsWith('\\')) acc = joined.slice(0, -1);
    else { out.push(joined); acc = null; }
  }
  if (acc !== null) out.push(acc);
  return out.join('\n');
}

export interface Example { anchor: string; kind: string; payload: unknown }

/** Examples: <sourcecode type="json" anchor="example-<kind>[-suffix]">. */
export function examples(): Example[] {
  const out: Example[] = [];
  const start = draftXml.indexOf('<section anchor="app-examples">');
  if (start < 0) throw new Error('Examples appendix not found');
  for (const b of sourcecodes(draftXml.slice(start))) {
    const a = b.attrs.anchor ?? '';
    if (b.attrs.type !== 'json' || !a.startsWith('example-')) continue;
    const rest = a.slice('example-'.length);
    const kind = [...KINDS].sort((x, y) => y.length - x.length).find((k) => rest === k || rest.startsWith(k + '-')) ?? rest;
    out.push({ anchor: a, kind, payload: JSON.parse(unfold8792(b.text)) });
  }
  return out;
}

const stripTags = (s: string) =>
  s.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();

/** Rows of the <table anchor="..."> body, cells as plain text. */
export function tableRows(anchor: string): string[][] {
  const m = draftXml.match(new RegExp(`<table anchor="${anchor}">([\\s\\S]*?)</table>`));
  if (!m) throw new Error(`table ${anchor} not found`);
  const body = m[1]!.match(/<tbody>([\s\S]*?)<\/tbody>/)?.[1] ?? '';
  return [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((r) => [...r[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => stripTags(c[1]!)));
}

// ---------------------------------------------------------------- descriptors

export type Desc =
  | { kind: 'any' }
  | { kind: 'null' }
  | { kind: 'ref'; name: string }
  | { kind: 'literal'; value: number | boolean }
  | { kind: 'enum'; values: string[] }
  | { kind: 'string'; regexp?: string; minSize?: number; maxSize?: number }
  | { kind: 'int'; min: number; max: number | null }
  | { kind: 'array'; min: number; items: Desc }
  | { kind: 'object'; fields: Record<string, { optional: boolean; type: Desc }> }
  | { kind: 'map-any' }
  | { kind: 'choice'; options: Desc[] };

const canon = (d: Desc) => JSON.stringify(d);

/** Flatten nested choices; merge string enums; sort options. `enumOf` resolves refs that are pure enums. */
function choice(options: Desc[], enumOf: (name: string) => string[] | null): Desc {
  const flat: Desc[] = [];
  const push = (o: Desc) => {
    if (o.kind === 'choice') o.options.forEach(push);
    else if (o.kind === 'ref' && enumOf(o.name)) flat.push({ kind: 'enum', values: enumOf(o.name)! });
    else flat.push(o);
  };
  options.forEach(push);
  const strings = flat.filter((o): o is Extract<Desc, { kind: 'enum' }> => o.kind === 'enum').flatMap((o) => o.values);
  const others = flat.filter((o) => o.kind !== 'enum');
  const all: Desc[] = [...others];
  if (strings.length) all.push({ kind: 'enum', values: [...new Set(strings)].sort() });
  if (all.length === 1) return all[0]!;
  return { kind: 'choice', options: all.sort((a, b) => canon(a).localeCompare(canon(b))) };
}

// ---------------------------------------------------------------- CDDL side

/* eslint-disable @typescript-eslint/no-explicit-any */
type Ast = any;

export interface CddlModel { rules: Map<string, Ast>; includes: Set<string>; text: string }

/** Parse CDDL text with the `cddl` package (it reads files, so go through a temp file). */
export function parseCddlText(text: string): Ast[] {
  const dir = mkdtempSync(join(tmpdir(), 'cddl-'));
  try {
    const f = join(dir, 'draft.cddl');
    writeFileSync(f, text);
    return parseCddl(f);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function cddlModel(text: string): CddlModel {
  const ast = parseCddlText(text);
  const rules = new Map<string, Ast>();
  const includes = new Set<string>();
  for (const a of ast) {
    if (rules.has(a.Name)) throw new Error(`CDDL rule ${a.Name} defined twice`);
    rules.set(a.Name, a);
  }
  for (const a of ast) {
    if (a.Type !== 'group') continue;
    for (const p of a.Properties.flat()) {
      if (p.Name === '') for (const t of [p.Type].flat()) if (t?.Type === 'group' && typeof t.Value === 'string') includes.add(t.Value);
    }
  }
  return { rules, includes, text };
}

const unescapeCddlText = (raw: string): string => JSON.parse(`"${raw}"`) as string;

function lit(v: Ast): number {
  if (typeof v === 'number') return v;
  if (v && v.Type === 'literal' && typeof v.Value === 'number') return v.Value;
  throw new Error(`unsupported CDDL bound ${JSON.stringify(v)}`);
}

export function cddlDesc(model: CddlModel, name: string): Desc {
  const enumOf = (n: string): string[] | null => {
    const r = model.rules.get(n);
    if (!r || r.Type !== 'variable') return null;
    const d = cddlDesc(model, n);
    return d.kind === 'enum' ? d.values : null;
  };
  const type1 = (t: Ast): Desc => {
    if (typeof t === 'string') {
      switch (t) {
        case 'tstr': case 'text': return { kind: 'string' };
        case 'uint': return { kind: 'int', min: 0, max: null };
        case 'any': return { kind: 'any' };
        case 'null': case 'nil': return { kind: 'null' };
        default: throw new Error(`unsupported CDDL type ${t}`);
      }
    }
    if (t.Type === 'literal') return typeof t.Value === 'string' ? { kind: 'enum', values: [t.Value] } : { kind: 'literal', value: t.Value };
    if (t.Type === 'range') return { kind: 'int', min: lit(t.Value.Min), max: lit(t.Value.Max) - (t.Value.Inclusive ? 0 : 1) };
    if (t.Type === 'group' && typeof t.Value === 'string') return { kind: 'ref', name: t.Value };
    if (t.Type === 'group' && Array.isArray(t.Properties)) return mapDesc(t);
    if (t.Type === 'array') {
      if (t.Values.length !== 1) throw new Error('only homogeneous arrays are supported');
      const v = t.Values[0];
      return { kind: 'array', min: v.Occurrence.n, items: types(v.Type) };
    }
    if (t.Type === 'tstr' && t.Operator?.Type === 'regexp') return { kind: 'string', regexp: t.Operator.Value.Value }; // the parser has already unescaped the text string
    if (t.Type === 'tstr' && t.Operator?.Type === 'size') {
      const v = t.Operator.Value;
      if (v.Type === 'range') return { kind: 'string', minSize: lit(v.Value.Min), maxSize: lit(v.Value.Max) };
      return { kind: 'string', minSize: lit(v), maxSize: lit(v) };
    }
    if (t.Type === 'uint' && t.Operator?.Type === 'le') return { kind: 'int', min: 0, max: lit(t.Operator.Value) };
    throw new Error(`unsupported CDDL construct ${JSON.stringify(t)}`);
  };
  const types = (ts: Ast): Desc => {
    const arr = [ts].flat();
    return arr.length === 1 ? type1(arr[0]) : choice(arr.map(type1), enumOf);
  };
  const mapDesc = (g: Ast): Desc => {
    const props = g.Properties.flat();
    if (props.length === 1 && props[0].Name === 'tstr' && !Number.isFinite(props[0].Occurrence.m)) {
      const v = types(props[0].Type);
      if (v.kind !== 'any') throw new Error('only { * tstr => any } maps are supported');
      return { kind: 'map-any' };
    }
    const fields: Record<string, { optional: boolean; type: Desc }> = {};
    for (const p of props) {
      if (p.Name === '') {
        const inc = [p.Type].flat()[0];
        const d = cddlDesc(model, inc.Value);
        if (d.kind !== 'object') throw new Error(`included group ${inc.Value} is not a group of members`);
        for (const [k, v] of Object.entries(d.fields)) {
          if (k in fields) throw new Error(`member ${k} defined twice`);
          fields[k] = v;
        }
        continue;
      }
      if (p.Name in fields) throw new Error(`member ${p.Name} defined twice`);
      const { n, m } = p.Occurrence;
      if (m !== 1 || (n !== 0 && n !== 1)) throw new Error(`member ${p.Name}: unsupported occurrence`);
      fields[p.Name] = { optional: n === 0, type: types(p.Type) };
    }
    return { kind: 'object', fields };
  };
  const r = model.rules.get(name);
  if (!r) throw new Error(`no CDDL rule ${name}`);
  if (r.Type === 'group') return mapDesc(r);
  if (r.Type === 'variable') {
    if (r.Operator) throw new Error(`rule ${name}: top-level operator not supported`);
    return types(r.PropertyType);
  }
  throw new Error(`rule ${name}: unsupported assignment ${r.Type}`);
}

/** Regexps by plain string extraction from the CDDL text, independent of the parser. */
export function cddlRegexps(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^([a-z][a-z0-9-]*)\s*=\s*tstr\s+\.regexp\s+"((?:[^"\\]|\\.)*)"/gm)) out.set(m[1]!, unescapeCddlText(m[2]!));
  return out;
}

// ---------------------------------------------------------------- JSON Schema side

export type Json = any;

export function loadSchemas(): { common: Json; kinds: Record<Kind, Json>; index: Json } {
  const read = (f: string) => JSON.parse(readFileSync(join(schemaDir, f), 'utf8'));
  const kinds = Object.fromEntries(KINDS.map((k) => [k, read(`${k}.schema.json`)])) as Record<Kind, Json>;
  return { common: read('common.schema.json'), kinds, index: read('index.json') };
}

const IGNORED = new Set(['$schema', '$id', 'title', 'description', '$comment', 'allOf', 'if', 'then', 'else']);

export function schemaDesc(s: Json, enumOf: (name: string) => string[] | null): Desc {
  if (s === true || (typeof s === 'object' && s !== null && Object.keys(s).every((k) => IGNORED.has(k)) && !('$defs' in s) && !('allOf' in s))) {
    return { kind: 'any' };
  }
  const keys = Object.keys(s).filter((k) => !IGNORED.has(k));
  const only = (...allowed: string[]) => {
    const extra = keys.filter((k) => !allowed.includes(k));
    if (extra.length) throw new Error(`unsupported schema keywords ${extra.join(', ')} in ${JSON.stringify(s)}`);
  };
  if ('$ref' in s) {
    only('$ref');
    const m = /#\/\$defs\/([^/]+)$/.exec(s.$ref);
    if (!m) throw new Error(`unsupported $ref ${s.$ref}`);
    return { kind: 'ref', name: m[1]! };
  }
  if ('const' in s) { only('const'); return typeof s.const === 'string' ? { kind: 'enum', values: [s.const] } : { kind: 'literal', value: s.const }; }
  if ('anyOf' in s) { only('anyOf'); return choice(s.anyOf.map((x: Json) => schemaDesc(x, enumOf)), enumOf); }
  if ('enum' in s) { only('enum', 'type'); return { kind: 'enum', values: [...s.enum].sort() }; }
  switch (s.type) {
    case 'null': only('type'); return { kind: 'null' };
    case 'string': {
      only('type', 'pattern', 'minLength', 'maxLength');
      const d: Desc = { kind: 'string' };
      if ('pattern' in s) {
        const p: string = s.pattern;
        if (!p.startsWith('^') || !p.endsWith('$')) throw new Error(`pattern not anchored: ${p}`);
        d.regexp = p.slice(1, -1);
      }
      if ('minLength' in s || 'maxLength' in s) { d.minSize = s.minLength ?? 0; d.maxSize = s.maxLength; }
      return d;
    }
    case 'integer': only('type', 'minimum', 'maximum'); return { kind: 'int', min: s.minimum ?? Number.NEGATIVE_INFINITY, max: s.maximum ?? null };
    case 'array': only('type', 'items', 'minItems'); return { kind: 'array', min: s.minItems ?? 0, items: schemaDesc(s.items, enumOf) };
    case 'object': {
      if (!('properties' in s)) {
        only('type');
        return { kind: 'map-any' };
      }
      only('type', 'properties', 'required', 'additionalProperties');
      if (s.additionalProperties !== false) throw new Error('object without additionalProperties: false');
      const req = new Set<string>(s.required ?? []);
      for (const r of req) if (!(r in s.properties)) throw new Error(`required ${r} not in properties`);
      const fields: Record<string, { optional: boolean; type: Desc }> = {};
      for (const [k, v] of Object.entries(s.properties)) fields[k] = { optional: !req.has(k), type: schemaDesc(v, enumOf) };
      return { kind: 'object', fields };
    }
    default: throw new Error(`unsupported schema ${JSON.stringify(s)}`);
  }
}

/** Normalised descriptor of a $def in common.schema.json or of a kind schema. */
export function schemaDescByName(schemas: ReturnType<typeof loadSchemas>, name: string): Desc {
  const enumOf = (n: string): string[] | null => {
    const def = schemas.common.$defs[n];
    if (def === undefined) return null;
    const d = schemaDesc(def, enumOf);
    return d.kind === 'enum' ? d.values : null;
  };
  const s = (KINDS as readonly string[]).includes(name) ? schemas.kinds[name as Kind] : schemas.common.$defs[name];
  if (s === undefined) throw new Error(`no schema for ${name}`);
  return schemaDesc(s, enumOf);
}

/** Same enum-flattening for the CDDL side at the top of a variable rule. */
export function cddlDescByName(model: CddlModel, name: string): Desc {
  return cddlDesc(model, name);
}
