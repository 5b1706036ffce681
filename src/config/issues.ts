// Turning zod issues into one line each: `<path like services[0].containers[1].image>: <message>`.

import type * as z from 'zod';

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** `services[0].containers[1].image`; keys that are not identifiers are quoted: `labels["app.kubernetes.io/name"]`. */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (IDENT.test(String(p))) out += out === '' ? String(p) : `.${String(p)}`;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      // Two neighbours swapped (`opne`, `imgae`) is one typo, not two.
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest allowed key, if it is a plausible typo of `key`. */
export function suggestKey(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** The object keys a schema allows at `path` (through optional/default/pipe/array/record), or []. */
export function allowedKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  // zod 4 keeps every schema's definition in `_zod.def`; this walks it without depending on classic-only APIs.
  type Def = { type: string; shape?: Record<string, unknown>; innerType?: unknown; in?: unknown; element?: unknown; valueType?: unknown; options?: unknown[] };
  const def = (s: unknown): Def | undefined => (s as { _zod?: { def?: Def } } | undefined)?._zod?.def;
  const wrappers = new Set(['optional', 'default', 'nullable', 'prefault', 'readonly', 'catch', 'nonoptional']);
  const unwrap = (s: unknown, depth = 0): unknown => {
    const d = def(s);
    if (!d || depth > 20) return s;
    if (d.innerType !== undefined && wrappers.has(d.type)) return unwrap(d.innerType, depth + 1);
    if (d.type === 'pipe') return unwrap(d.in, depth + 1);
    if (d.type === 'union') {
      for (const option of d.options ?? []) {
        const u = unwrap(option, depth + 1);
        if (def(u)?.type === 'object') return u;
      }
    }
    return s;
  };
  let current: unknown = unwrap(schema);
  for (const segment of path) {
    const d = def(current);
    if (!d) return [];
    if (d.type === 'object' && typeof segment === 'string') current = d.shape?.[segment];
    else if (d.type === 'array') current = d.element;
    else if (d.type === 'record') current = d.valueType;
    else return [];
    current = unwrap(current);
  }
  const d = def(current);
  return d?.type === 'object' ? Object.keys(d.shape ?? {}) : [];
}

/** A per-parse error map: plain-language messages for wrong types and missing keys. */
export const errorMap = (issue: { code?: string; expected?: string; input?: unknown }): string | undefined => {
  if (issue.code !== 'invalid_type') return undefined;
  const expected = issue.expected === 'int' ? 'a whole number' : issue.expected === 'object' || issue.expected === 'record' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`;
  const input = issue.input;
  if (input === undefined) return `is required (${expected})`;
  const got = input === null ? 'null' : Array.isArray(input) ? 'a list' : typeof input === 'object' ? 'a mapping' : `${typeof input} ${JSON.stringify(input)}`;
  const hint = issue.expected === 'string' && (typeof input === 'number' || typeof input === 'boolean') ? '; quote it' : '';
  return `must be ${expected}, got ${got}${hint}`;
};

/** One line per issue (unknown keys: one line per key, with the allowed keys and a likely correction). */
export function issueLines(schema: z.ZodType, issues: readonly z.core.$ZodIssue[], prefix = ''): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        const suggestion = suggestKey(key, allowed);
        const hint = suggestion ? `did you mean "${suggestion}"? ` : '';
        const list = allowed.length > 0 ? `allowed keys here: ${allowed.join(', ')}` : 'remove it';
        lines.push(`${formatPath([...issue.path, key], prefix) || key}: unknown key; ${hint}${list}`);
      }
      continue;
    }
    const at = formatPath(issue.path, prefix) || '(top level)';
    if (issue.code === 'invalid_key') {
      // A map key failed its own schema: report the key's messages, at the key.
      const key = issue.path[issue.path.length - 1];
      for (const inner of issue.issues) lines.push(`${at}: ${typeof key === 'string' ? 'key: ' : ''}${inner.message}`);
      continue;
    }
    lines.push(`${at}: ${withoutRepeatedKey(issue.path.length ? issue.path : [prefix], issue.message)}`);
  }
  return lines;
}

/**
 * `timeout: must be ...`, not `timeout: timeout must be ...`: schema messages name their field so they read alone,
 * and the path in front names it already. (`env: env name must ...` keeps its words: they say more than the key.)
 */
export function withoutRepeatedKey(path: readonly PropertyKey[], message: string): string {
  const key = path[path.length - 1];
  if (typeof key !== 'string') return message;
  return new RegExp(`^${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (?=must |is |should )`).test(message) ? message.slice(key.length + 1) : message;
}
