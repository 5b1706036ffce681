// The action's inputs: one zod schema, read through a `getInput(name)` callback (core.getInput in the action, a
// map in tests). Every problem names its input (`input "timeout": ...`) and all of them are reported at once as a
// usage error (exit 2). Unset inputs arrive as "" (that is what @actions/core gives for an input without a value),
// so "" means "not given" everywhere except `baggage-key`, where the brief defines "" as "turned off" — action.yml
// must therefore declare the baggage key's default value.

import * as z from 'zod';
import { usageError } from '../errors.js';
import { DNS_LABEL_RE, DNS_SUBDOMAIN_RE, TOKEN_RE } from './names.js';
import { MAX_ENV_NAME, shortHash } from '../plan/names.js';
import { imageTemplateProblem, parseImageLines, type ImageLine } from './images.js';

export const COMMANDS = ['auto', 'open', 'close', 'sweep', 'status'] as const;
export type Command = (typeof COMMANDS)[number];

export const INPUT_NAMES = [
  'command',
  'config',
  'namespace',
  'deployment',
  'container',
  'image',
  'env-name',
  'header',
  'baggage-key',
  'kubeconfig',
  'context',
  'github-token',
  'wait',
  'timeout',
  'comment',
  'github-deployment',
  'environment-url',
  'label',
  'skip-drafts',
  'ttl',
  'ttl-from',
  'images',
  'dry-run',
  'lock-namespace',
  'lock-hold',
] as const;
export type InputName = (typeof INPUT_NAMES)[number];

/** The one-service shorthand (`namespace` + `deployment` + `image`, optional `container`) instead of a config file. */
export interface ShorthandInputs {
  namespace: string;
  deployment: string;
  container?: string;
  image: string;
}

export interface ActionInputs {
  command: Command;
  /** Path of the config file. */
  config?: string;
  shorthand?: ShorthandInputs;
  /**
   * Env name template with `{pr}` and `{repo}` (see expandEnvName). Default (applied by the event decision):
   * `pr-{pr}`.
   */
  envName?: string;
  /** Routing header, lower-cased. Absent: the config file's or the built-in default. */
  header?: string;
  /** W3C baggage key; null turns baggage matching off ("" or "false"). */
  baggageKey: string | null;
  kubeconfig?: string;
  context?: string;
  /** Secret: never log or render it. */
  githubToken?: string;
  wait: boolean;
  timeoutSeconds: number;
  comment: boolean;
  githubDeployment: boolean;
  /** URL template with `{env}` and `{pr}`. */
  environmentUrl?: string;
  /** Gate label: when set, only PRs carrying it get an env. */
  label?: string;
  skipDrafts: boolean;
  /** Sweep: envs older than this are closed even if their PR is still open. Absent: no age limit. */
  ttlSeconds?: number;
  /** Sweep: the age counts from the env's first open, or from its last update (the default). */
  ttlFrom: TtlFrom;
  /** `[namespace/]deployment[/container]=image` lines: override or add services' images. */
  images?: ImageLine[];
  dryRun: boolean;
  lockNamespace: string;
  /** How long an open with a wait keeps the env's Lease into its rollout (ms). Absent: the engine's default. */
  lockHoldMs?: number;
}

export const TTL_FROM = ['updated', 'opened'] as const;
export type TtlFrom = (typeof TTL_FROM)[number];

export const DEFAULT_TIMEOUT_SECONDS = 300;
export const DEFAULT_LOCK_NAMESPACE = 'default';

// ---------------------------------------------------------------------------------------------------------------
// Field parsers


const optional = z.string().transform((v) => (v === '' ? undefined : v));

/** YAML 1.2 core schema booleans, as @actions/core getBooleanInput accepts them. */
function bool(defaultValue: boolean) {
  return z.string().transform((v, ctx) => {
    if (v === '') return defaultValue;
    if (['true', 'True', 'TRUE'].includes(v)) return true;
    if (['false', 'False', 'FALSE'].includes(v)) return false;
    ctx.addIssue({ code: 'custom', message: `must be true or false (YAML 1.2 core: true|True|TRUE|false|False|FALSE), got "${v}"` });
    return z.NEVER;
  });
}

const UNIT_SECONDS: Record<string, number> = { d: 86_400, h: 3_600, m: 60, s: 1 };

/**
 * A duration: plain seconds (`300`) or units in descending order (`5m`, `300s`, `1h30m`, `7d` where allowed).
 * Returns seconds, or an error message.
 */
export function parseDuration(value: string, units: string): number | string {
  const example = units.includes('d') ? '300, 300s, 5m, 1h30m, 7d' : '300, 300s, 5m, 1h30m';
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    return n > 0 ? n : `must be greater than zero, got "${value}"`;
  }
  const parts = [...value.matchAll(/(\d+)([a-z])/g)];
  const order = 'dhms';
  let total = 0;
  let last = -1;
  let consumed = '';
  for (const [whole, digits, unit] of parts) {
    const at = order.indexOf(unit!);
    if (!units.includes(unit!) || at <= last) return `must be a duration like ${example}, got "${value}"`;
    last = at;
    consumed += whole;
    total += Number(digits) * UNIT_SECONDS[unit!]!;
  }
  if (consumed !== value || parts.length === 0) return `must be a duration like ${example}, got "${value}"`;
  return total > 0 ? total : `must be greater than zero, got "${value}"`;
}

/**
 * A pause (`--drain`, `--lock-hold`, the `lock-hold` input): 0, or a duration in seconds or minutes up to 10m. In
 * milliseconds, or what is wrong with it.
 */
export function parsePauseMs(raw: string): number | string {
  if (/^0+[sm]?$/.test(raw)) return 0;
  const parsed = parseDuration(raw, 'ms');
  if (typeof parsed === 'string') return parsed;
  if (parsed > 600) return `must be at most 10m, got "${raw}"`;
  return parsed * 1000;
}

/** Seconds as the largest units that divide them, largest first: 604800 -> `7d`, 5400 -> `1h30m`, 90 -> `1m30s`. */
export function formatDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  let rest = Math.round(seconds);
  let out = '';
  for (const unit of ['d', 'h', 'm', 's']) {
    const size = UNIT_SECONDS[unit]!;
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}

function duration(units: string) {
  return z.string().transform((v, ctx) => {
    if (v === '') return undefined;
    const parsed = parseDuration(v, units);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  });
}

function matching(re: RegExp, what: string, max: number) {
  return optional.superRefine((v, ctx) => {
    if (v === undefined) return;
    if (v.length > max) ctx.addIssue({ code: 'custom', message: `must be at most ${max} characters, got ${v.length}` });
    else if (!re.test(v)) ctx.addIssue({ code: 'custom', message: `must be ${what}, got "${v}"` });
  });
}

/** Substitutes `{env}` / `{pr}`; other placeholders are left for the caller to report. */
export function expandTemplate(template: string, values: { env?: string; pr?: number | string }): string {
  return template.replace(/\{(env|pr)\}/g, (whole, key: 'env' | 'pr') => {
    const v = values[key];
    return v === undefined ? whole : String(v);
  });
}

/** The room `{repo}` needs at least: its hash-shortened form. */
const MIN_REPO_ROOM = 8;

/**
 * An env name from its template: `{pr}` is the PR number, `{repo}` the repository's name (`owner/name` without the
 * owner), lower-cased with every run of other characters than a-z and 0-9 as one "-". When the name would be longer
 * than the env name limit (MAX_ENV_NAME, 40), `{repo}` is cut and suffixed with a hash of the full `owner/name`, so
 * the result is deterministic and two repositories never shorten to the same name. A repository name with no
 * letter or digit becomes its hash.
 */
export function expandEnvName(template: string, values: { pr?: number; repo?: string }): string {
  const withPr = expandTemplate(template, { pr: values.pr });
  const count = withPr.split('{repo}').length - 1;
  if (count === 0 || values.repo === undefined) return withPr;
  const name = values.repo.split('/').pop() ?? values.repo;
  const safe = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  const room = Math.floor((MAX_ENV_NAME - (withPr.length - count * '{repo}'.length)) / count);
  const hash = shortHash(values.repo.toLowerCase());
  let repo = safe;
  if (!safe) repo = hash.slice(0, Math.max(room, 1));
  else if (safe.length > room) {
    const head = safe.slice(0, Math.max(room - hash.length - 1, 0)).replace(/-+$/, '');
    repo = head ? `${head}-${hash}` : hash.slice(0, Math.max(room, 1));
  }
  return withPr.replaceAll('{repo}', repo);
}

const envName = optional.superRefine((v, ctx) => {
  if (v === undefined) return;
  const unknown = [...v.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).filter((k) => k !== 'pr' && k !== 'repo');
  if (unknown.length > 0) {
    ctx.addIssue({ code: 'custom', message: `only the placeholders {pr} and {repo} are allowed, got {${unknown[0]}}` });
    return;
  }
  // An env name is a DNS label of at most MAX_ENV_NAME once expanded; leave room for a 7-digit PR number, and for
  // {repo} at least its hash-shortened form.
  const count = v.split('{repo}').length - 1;
  const fixed = expandTemplate(v, { pr: 1234567 }).replaceAll('{repo}', '');
  if (count > 0 && Math.floor((MAX_ENV_NAME - fixed.length) / count) < MIN_REPO_ROOM) {
    ctx.addIssue({
      code: 'custom',
      message: `leaves {repo} fewer than ${MIN_REPO_ROOM} characters of the ${MAX_ENV_NAME} an env name may have (with a 7-digit PR number); shorten the rest, e.g. "{repo}-pr-{pr}", got "${v}"`,
    });
    return;
  }
  const sample = expandEnvName(v, { pr: 1234567, repo: 'acme/a' });
  if (!DNS_LABEL_RE.test(sample) || sample.length > MAX_ENV_NAME) {
    ctx.addIssue({
      code: 'custom',
      message: `must be a lowercase DNS label of at most ${MAX_ENV_NAME} characters (a-z, 0-9, "-"; {pr} and {repo} allowed), got "${v}"`,
    });
  }
});

const header = optional.transform((v, ctx) => {
  if (v === undefined) return undefined;
  if (!TOKEN_RE.test(v)) {
    ctx.addIssue({ code: 'custom', message: `must be an HTTP header name (letters, digits, "-"…), got "${v}"` });
    return z.NEVER;
  }
  const lower = v.toLowerCase();
  if (lower === 'baggage') {
    ctx.addIssue({ code: 'custom', message: 'must not be "baggage": baggage is matched separately (see baggage-key)' });
    return z.NEVER;
  }
  return lower;
});

const baggageKey = z.string().transform((v, ctx) => {
  if (v === '' || v === 'false') return null;
  if (!TOKEN_RE.test(v)) {
    ctx.addIssue({ code: 'custom', message: `must be a W3C baggage key (an HTTP token) or "false", got "${v}"` });
    return z.NEVER;
  }
  return v;
});

const environmentUrl = optional.superRefine((v, ctx) => {
  if (v === undefined) return;
  const unknown = [...v.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).filter((k) => k !== 'env' && k !== 'pr');
  if (unknown.length > 0) {
    ctx.addIssue({ code: 'custom', message: `only the placeholders {env} and {pr} are allowed, got {${unknown[0]}}` });
    return;
  }
  let url: URL | undefined;
  try {
    url = new URL(expandTemplate(v, { env: 'pr-1', pr: 1 }));
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    ctx.addIssue({ code: 'custom', message: `must be an http(s) URL template like https://{env}.preview.example.com/, got "${v}"` });
  }
});

const command = z.string().transform((v, ctx) => {
  if (v === '') return 'auto' as const;
  if ((COMMANDS as readonly string[]).includes(v)) return v as Command;
  ctx.addIssue({ code: 'custom', message: `must be one of ${COMMANDS.join(', ')}, got "${v}"` });
  return z.NEVER;
});

const label = optional.superRefine((v, ctx) => {
  if (v !== undefined && [...v].length > 50) ctx.addIssue({ code: 'custom', message: 'must be at most 50 characters (GitHub label names)' });
});

const path = optional.superRefine((v, ctx) => {
  if (v !== undefined && v.includes('\0')) ctx.addIssue({ code: 'custom', message: 'must be a file path' });
});

const schema = z
  .object({
    command,
    config: path,
    namespace: matching(DNS_LABEL_RE, 'a Kubernetes namespace name (lowercase DNS label)', 63),
    deployment: matching(DNS_SUBDOMAIN_RE, 'a Kubernetes Deployment name (lowercase DNS subdomain)', 253),
    container: matching(DNS_LABEL_RE, 'a container name (lowercase DNS label)', 63),
    image: optional.superRefine((v, ctx) => {
      const problem = v === undefined ? null : imageTemplateProblem(v);
      if (problem) ctx.addIssue({ code: 'custom', message: `image ${problem}` });
    }),
    'env-name': envName,
    header,
    'baggage-key': baggageKey,
    kubeconfig: path,
    context: optional,
    'github-token': optional,
    wait: bool(true),
    timeout: duration('hms'),
    comment: bool(true),
    'github-deployment': bool(false),
    'environment-url': environmentUrl,
    label,
    'skip-drafts': bool(false),
    ttl: duration('dhms'),
    'ttl-from': z.string().transform((v, ctx) => {
      if (v === '') return 'updated' as const;
      if ((TTL_FROM as readonly string[]).includes(v)) return v as TtlFrom;
      ctx.addIssue({ code: 'custom', message: `must be updated (the age counts from the last open that changed the env) or opened (from its first open), got "${v}"` });
      return z.NEVER;
    }),
    images: optional,
    'dry-run': bool(false),
    'lock-namespace': matching(DNS_LABEL_RE, 'a Kubernetes namespace name (lowercase DNS label)', 63),
    'lock-hold': z.string().transform((v, ctx) => {
      if (v === '') return undefined;
      const ms = parsePauseMs(v);
      if (typeof ms === 'string') {
        ctx.addIssue({ code: 'custom', message: ms });
        return z.NEVER;
      }
      return ms;
    }),
  })
  .strict()
  .superRefine((v, ctx) => {
    // All-or-none: the shorthand names one Deployment (namespace + deployment + image; container optional).
    const given = (['namespace', 'container', 'image'] as const).filter((k) => v[k] !== undefined);
    if (v.deployment !== undefined) {
      for (const k of ['namespace', 'image'] as const) {
        if (v[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: `is required when "deployment" is set` });
      }
    } else {
      for (const k of given) {
        ctx.addIssue({ code: 'custom', path: [k], message: `needs "deployment" (the shorthand is namespace + deployment + image)` });
      }
    }
  });

/**
 * Reads and validates every input. `getInput` returns "" for an input that was not given (like core.getInput).
 * Throws a usage error listing every problem, each naming its input.
 */
export function readInputs(getInput: (name: InputName) => string): ActionInputs {
  const raw = Object.fromEntries(INPUT_NAMES.map((name) => [name, (getInput(name) ?? '').trim()]));
  const parsed = schema.safeParse(raw);
  const images = parseImageLines(raw.images ?? '', (n) => `input "images" line ${n}`);
  if (!parsed.success || images.problems.length > 0) {
    // Messages never echo the token: its schema has no checks that could fail.
    const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `input "${String(issue.path[0] ?? '?')}": ${issue.message}`);
    throw usageError([...problems, ...images.problems]);
  }
  const v = parsed.data;
  const inputs: ActionInputs = {
    command: v.command,
    baggageKey: v['baggage-key'],
    wait: v.wait,
    timeoutSeconds: v.timeout ?? DEFAULT_TIMEOUT_SECONDS,
    comment: v.comment,
    githubDeployment: v['github-deployment'],
    skipDrafts: v['skip-drafts'],
    dryRun: v['dry-run'],
    ttlFrom: v['ttl-from'],
    lockNamespace: v['lock-namespace'] ?? DEFAULT_LOCK_NAMESPACE,
  };
  if (v['lock-hold'] !== undefined) inputs.lockHoldMs = v['lock-hold'];
  if (v.config !== undefined) inputs.config = v.config;
  if (v.deployment !== undefined && v.namespace !== undefined && v.image !== undefined) {
    inputs.shorthand = { namespace: v.namespace, deployment: v.deployment, image: v.image };
    if (v.container !== undefined) inputs.shorthand.container = v.container;
  }
  if (v['env-name'] !== undefined) inputs.envName = v['env-name'];
  if (v.header !== undefined) inputs.header = v.header;
  if (v.kubeconfig !== undefined) inputs.kubeconfig = v.kubeconfig;
  if (v.context !== undefined) inputs.context = v.context;
  if (v['github-token'] !== undefined) inputs.githubToken = v['github-token'];
  if (v['environment-url'] !== undefined) inputs.environmentUrl = v['environment-url'];
  if (v.label !== undefined) inputs.label = v.label;
  if (v.ttl !== undefined) inputs.ttlSeconds = v.ttl;
  if (images.lines.length > 0) inputs.images = images.lines;
  return inputs;
}
