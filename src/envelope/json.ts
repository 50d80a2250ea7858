/**
 * Duplicate-safe JSON parsing (RFC 7515 §5.2 step 4 / RFC 8725 §3.12: reject
 * duplicate member names; RFC 8259 §4 leaves them undefined). JSON.parse keeps
 * the last duplicate silently, so the text is parsed by JSON.parse (grammar)
 * and then scanned for duplicates, comparing names after unescaping
 * ("\u0061" is "a"). UTF-8 is decoded fatally: no silent U+FFFD.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class JsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonError';
  }
}

/** Parse UTF-8 JSON text that must be an object with no duplicate names at any depth. */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new JsonError('not UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new JsonError('not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new JsonError('not a JSON object');
  const dup = findDuplicateName(text);
  if (dup !== undefined) throw new JsonError(`duplicate member name ${JSON.stringify(dup)}`);
  return value as Record<string, unknown>;
}

/**
 * Scan grammatically valid JSON text; return the first member name that
 * repeats within one object (after unescaping), or undefined.
 */
export function findDuplicateName(text: string): string | undefined {
  // One entry per open container: a Set of names for objects, null for arrays.
  const stack: (Set<string> | null)[] = [];
  let prev = ''; // last structural character seen
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      for (;;) {
        j = text.indexOf('"', j);
        let k = j - 1;
        while (text.charCodeAt(k) === 0x5c /* \ */) k--;
        if ((j - 1 - k) % 2 === 0) break;
        j++;
      }
      const top = stack[stack.length - 1];
      if (top && (prev === '{' || prev === ',')) {
        const raw = text.slice(i, j + 1);
        const name = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.has(name)) return name;
        top.add(name);
      }
      prev = '"';
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      prev = '{';
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      prev = '[';
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      prev = ']';
    } else if (c === 0x2c /* , */) {
      prev = ',';
    } else if (c === 0x3a /* : */) {
      prev = ':';
    }
  }
  return undefined;
}
