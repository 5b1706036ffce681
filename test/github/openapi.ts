// GitHub's official REST description (@octokit/openapi, OpenAPI 3.0) for the fake: a router from method + path
// template to operation, a compact validator for the JSON Schema subset the description uses, and a synthesizer
// that builds the smallest instance of a schema (every required field) so the fake's answers are valid by
// construction and only the fields a handler cares about are written by hand.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export type Schema = Record<string, unknown>;

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}

export interface Operation {
  operationId: string;
  method: string;
  template: string;
  parameters: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses: Record<string, unknown>;
}

export interface Description {
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, Record<string, unknown>>;
}

let cached: Description | undefined;

/** The api.github.com description, parsed once per process. */
export function loadDescription(): Description {
  if (!cached) {
    const require = createRequire(import.meta.url);
    const file = require.resolve('@octokit/openapi/generated/api.github.com.json');
    cached = JSON.parse(readFileSync(file, 'utf8')) as Description;
  }
  return cached;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

export class OpenApi {
  readonly doc: Description;
  private readonly routes: { method: string; regex: RegExp; names: string[]; op: Operation; key: string }[] = [];
  private readonly byId = new Map<string, Operation>();

  constructor(doc: Description = loadDescription()) {
    this.doc = doc;
    for (const [template, item] of Object.entries(doc.paths)) {
      const shared = ((item.parameters as unknown[]) ?? []).map((p) => this.resolve(p) as unknown as Parameter);
      for (const method of METHODS) {
        const raw = item[method] as Record<string, unknown> | undefined;
        if (!raw) continue;
        const own = ((raw.parameters as unknown[]) ?? []).map((p) => this.resolve(p) as unknown as Parameter);
        const parameters = [...shared.filter((s) => !own.some((o) => o.name === s.name && o.in === s.in)), ...own];
        const op: Operation = {
          operationId: String(raw.operationId),
          method: method.toUpperCase(),
          template,
          parameters,
          requestBody: raw.requestBody ? (this.resolve(raw.requestBody) as Operation['requestBody']) : undefined,
          responses: (raw.responses as Record<string, unknown>) ?? {},
        };
        const names: string[] = [];
        // Specificity key: literal segments sort before parameters at the first place they differ.
        let key = '';
        const pattern = template
          .split('/')
          .map((segment) => {
            key += segment.includes('{') ? 'B' : 'A';
            // Literal chunks escaped, each `{name}` a capture (`{base}...{head}` has two in one segment).
            return segment
              .split(/(\{[^}]+\})/)
              .map((chunk) => {
                const m = /^\{(.+)\}$/.exec(chunk);
                if (!m) return chunk.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
                names.push(m[1]!);
                const p = parameters.find((x) => x.name === m[1] && x.in === 'path');
                return p && (p.schema as Schema | undefined)?.['x-multi-segment'] === true ? '(.+)' : '([^/]+?)';
              })
              .join('');
          })
          .join('/');
        this.routes.push({ method: op.method, regex: new RegExp(`^${pattern}$`), names, op, key });
        this.byId.set(op.operationId, op);
      }
    }
    this.routes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  operation(operationId: string): Operation {
    const op = this.byId.get(operationId);
    if (!op) throw new Error(`no operation ${operationId} in the description`);
    return op;
  }

  /** The operation for a request, with decoded path parameters; `pathKnown` tells a wrong method from a wrong path. */
  match(method: string, pathname: string): { op: Operation; params: Record<string, string> } | { op: null; pathKnown: boolean } {
    let pathKnown = false;
    for (const r of this.routes) {
      const m = r.regex.exec(pathname);
      if (!m) continue;
      pathKnown = true;
      if (r.method !== method) continue;
      const params: Record<string, string> = {};
      r.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1]!)));
      return { op: r.op, params };
    }
    return { op: null, pathKnown };
  }

  /** Follows `$ref`s (`#/components/...`) until a non-reference object. */
  resolve(node: unknown): Schema {
    let current = node as Schema;
    for (let hops = 0; current && typeof current.$ref === 'string'; hops++) {
      if (hops > 50) throw new Error(`$ref loop at ${String(current.$ref)}`);
      const ref = current.$ref as string;
      if (!ref.startsWith('#/')) throw new Error(`external $ref ${ref}`);
      let target: unknown = this.doc;
      for (const part of ref.slice(2).split('/')) {
        target = (target as Record<string, unknown>)[part.replaceAll('~1', '/').replaceAll('~0', '~')];
      }
      if (target === undefined) throw new Error(`unresolved $ref ${ref}`);
      current = target as Schema;
    }
    return current;
  }

  schema(name: string): Schema {
    return this.resolve({ $ref: `#/components/schemas/${name}` });
  }

  /** The JSON schema of an operation's response for a status, or undefined when the status is not documented. */
  responseSchema(op: Operation, status: number): { documented: boolean; schema?: Schema } {
    const raw = op.responses[String(status)] ?? op.responses[`${String(status)[0]}XX`] ?? op.responses.default;
    if (!raw) return { documented: false };
    const response = this.resolve(raw) as { content?: Record<string, { schema?: Schema }> };
    const content = response.content?.['application/json'] ?? Object.values(response.content ?? {})[0];
    return { documented: true, schema: content?.schema };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Validation

  /**
   * Validates `value` against `schema`; returns one message per problem (empty when valid). `strict` reports
   * properties the schema does not declare (unless it allows them with `additionalProperties`): GitHub ignores
   * unknown fields silently, which is exactly how a misspelt field goes unnoticed.
   */
  validate(schema: unknown, value: unknown, path = '$', strict = true): string[] {
    const errors: string[] = [];
    this.check(schema, value, path, strict, errors);
    return errors;
  }

  private check(node: unknown, value: unknown, path: string, strict: boolean, errors: string[]): void {
    if (node === undefined || node === true) return;
    const s = this.resolve(node);
    if (value === null) {
      if (s.nullable === true || (Array.isArray(s.enum) && s.enum.includes(null))) return;
      const composite = ['allOf', 'oneOf', 'anyOf'].some((k) => Array.isArray(s[k]));
      if (!composite) {
        if (s.type !== undefined) errors.push(`${path}: is null, expected ${String(s.type)}`);
        return;
      }
    }
    if (value !== null && typeof s.type === 'string' && !hasType(value, s.type)) {
      errors.push(`${path}: expected ${s.type}, got ${describe(value)}`);
      return;
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => e === value)) {
      errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
    }
    if (typeof value === 'string') this.checkString(s, value, path, errors);
    if (typeof value === 'number') {
      if (typeof s.minimum === 'number' && value < s.minimum) errors.push(`${path}: ${value} < minimum ${s.minimum}`);
      if (typeof s.maximum === 'number' && value > s.maximum) errors.push(`${path}: ${value} > maximum ${s.maximum}`);
    }
    if (Array.isArray(value)) {
      if (typeof s.minItems === 'number' && value.length < s.minItems) errors.push(`${path}: fewer than ${s.minItems} items`);
      if (typeof s.maxItems === 'number' && value.length > s.maxItems) errors.push(`${path}: more than ${s.maxItems} items`);
      if (s.items !== undefined) value.forEach((item, i) => this.check(s.items, item, `${path}[${i}]`, strict, errors));
    }
    if (isObject(value)) this.checkObject(s, value, path, strict, errors);

    if (Array.isArray(s.allOf)) {
      // Properties may be spread over the branches: check each without strictness, then strictness over the union.
      for (const branch of s.allOf) this.check(branch, value, path, false, errors);
      if (strict && isObject(value) && !allowsExtra(this, s)) {
        const declared = new Set(s.allOf.flatMap((b) => Object.keys((this.resolve(b).properties as Schema) ?? {})));
        Object.keys((s.properties as Schema) ?? {}).forEach((k) => declared.add(k));
        for (const k of Object.keys(value)) if (!declared.has(k)) errors.push(`${path}.${k}: not in the description`);
      }
    }
    for (const key of ['oneOf', 'anyOf'] as const) {
      const branches = s[key];
      if (!Array.isArray(branches)) continue;
      const discriminator = s.discriminator as { propertyName: string; mapping?: Record<string, string> } | undefined;
      const tag = isObject(value) && discriminator ? value[discriminator.propertyName] : undefined;
      if (typeof tag === 'string' && discriminator?.mapping?.[tag]) {
        this.check({ $ref: discriminator.mapping[tag] }, value, path, strict, errors);
        continue;
      }
      // oneOf is checked as "at least one": the description's oneOf branches overlap (a private user is also a
      // valid public user), so "exactly one" would reject what GitHub itself sends.
      let best: string[] | undefined;
      for (const branch of branches) {
        const branchErrors = this.validate(branch, value, path, strict);
        if (branchErrors.length === 0) {
          best = undefined;
          break;
        }
        if (!best || branchErrors.length < best.length) best = branchErrors;
      }
      if (best) errors.push(`${path}: matches none of the ${branches.length} ${key} alternatives (closest: ${best.slice(0, 3).join('; ')})`);
    }
  }

  private checkString(s: Schema, value: string, path: string, errors: string[]): void {
    if (typeof s.minLength === 'number' && [...value].length < s.minLength) errors.push(`${path}: shorter than ${s.minLength}`);
    if (typeof s.maxLength === 'number' && [...value].length > s.maxLength) errors.push(`${path}: longer than ${s.maxLength}`);
    if (typeof s.pattern === 'string') {
      let re: RegExp | undefined;
      try {
        re = new RegExp(s.pattern, 'u');
      } catch {
        re = undefined; // a pattern JS cannot compile is not checked
      }
      if (re && !re.test(value)) errors.push(`${path}: does not match ${s.pattern}`);
    }
    const format = s.format;
    if (format === 'date-time' && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
      errors.push(`${path}: "${value}" is not a date-time`);
    } else if (format === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(value)) {
      errors.push(`${path}: "${value}" is not a date`);
    } else if (format === 'uri' && value !== '' && !URL.canParse(value)) {
      // "" is accepted: GitHub itself answers "" for unset URLs (e.g. a deployment status's target_url).
      errors.push(`${path}: "${value}" is not a URI`);
    } else if (format === 'email' && !/^[^@\s]+@[^@\s]+$/.test(value)) {
      errors.push(`${path}: "${value}" is not an email address`);
    }
  }

  private checkObject(s: Schema, value: Record<string, unknown>, path: string, strict: boolean, errors: string[]): void {
    const properties = (s.properties as Record<string, unknown> | undefined) ?? {};
    for (const name of (s.required as string[] | undefined) ?? []) {
      if (!(name in value)) errors.push(`${path}.${name}: required`);
    }
    for (const [k, v] of Object.entries(value)) {
      if (k in properties) {
        this.check(properties[k], v, `${path}.${k}`, strict, errors);
      } else if (s.additionalProperties === false) {
        errors.push(`${path}.${k}: not allowed (additionalProperties: false)`);
      } else if (isObject(s.additionalProperties)) {
        this.check(s.additionalProperties, v, `${path}.${k}`, strict, errors);
      } else if (strict && s.properties !== undefined && s.additionalProperties === undefined && !Array.isArray(s.allOf)) {
        errors.push(`${path}.${k}: not in the description`);
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Synthesis

  /** The smallest valid instance of a schema: every required property, nulls where allowed, first alternatives. */
  synthesize(node: unknown, depth = 0): unknown {
    if (depth > 40) throw new Error('schema too deep to synthesize');
    const s = this.resolve(node);
    if (s.nullable === true) return null;
    if (Array.isArray(s.enum)) return s.enum[0];
    if (Array.isArray(s.allOf)) {
      return Object.assign({}, ...s.allOf.map((b) => this.synthesize(b, depth + 1) as object));
    }
    for (const key of ['oneOf', 'anyOf'] as const) {
      if (Array.isArray(s[key])) return this.synthesize((s[key] as unknown[])[0], depth + 1);
    }
    switch (s.type) {
      case 'string':
        return s.format === 'date-time'
          ? '2020-01-01T00:00:00Z'
          : s.format === 'date'
            ? '2020-01-01'
            : s.format === 'uri'
              ? 'https://github.test/'
              : s.format === 'email'
                ? 'octocat@github.test'
                : 'x'.repeat(typeof s.minLength === 'number' ? s.minLength : 0);
      case 'integer':
      case 'number':
        return typeof s.minimum === 'number' ? s.minimum : 0;
      case 'boolean':
        return false;
      case 'array':
        return Array.from({ length: typeof s.minItems === 'number' ? s.minItems : 0 }, () => this.synthesize(s.items, depth + 1));
      default: {
        const out: Record<string, unknown> = {};
        const properties = (s.properties as Record<string, unknown> | undefined) ?? {};
        for (const name of (s.required as string[] | undefined) ?? []) out[name] = this.synthesize(properties[name] ?? {}, depth + 1);
        return out;
      }
    }
  }

  /** synthesize() of a named component schema with `overrides` deep-merged over it. */
  build<T = Record<string, unknown>>(schemaName: string, overrides: Record<string, unknown>): T {
    return deepMerge(this.synthesize(this.schema(schemaName)), overrides) as T;
  }
}

function allowsExtra(api: OpenApi, s: Schema): boolean {
  return s.additionalProperties !== undefined && s.additionalProperties !== false
    ? true
    : (s.allOf as unknown[]).some((b) => {
        const r = api.resolve(b);
        return r.additionalProperties !== undefined && r.additionalProperties !== false;
      });
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isObject(value);
    default:
      return true;
  }
}

function describe(value: unknown): string {
  return Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value === 'number' && Number.isInteger(value) ? 'integer' : typeof value;
}

/** Objects merge key by key; anything else (arrays included) in `over` replaces. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k], v) : v;
  return out;
}
