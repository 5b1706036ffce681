// The config file (`dynamic-env.yaml`) as zod 4 schemas. Strict everywhere: an unknown key is an error naming its
// path. `schema/dynamic-env.schema.json` is generated from `configFileSchema` (`npm run schema`).

import * as z from 'zod';
import { BASELINE_SUBSET, KEY_PREFIX, MANAGED_BY_LABEL, MAX_ENV_NAME } from '../plan/names.js';
import { DEFAULTS } from './defaults.js';
import { parseDuration } from './inputs.js';
import { imageTemplateProblem } from './images.js';
import { DNS_LABEL_RE, DNS_SUBDOMAIN_RE, TOKEN_RE } from './names.js';

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes / HTTP name rules

/** Qualified name: optional DNS-subdomain prefix and `/`, then a name of [A-Za-z0-9._-], alphanumeric at both ends. */
const LABEL_KEY_RE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Kubernetes' classic env var name rule (C identifier plus `.` and `-`). */
const ENV_VAR_NAME_RE = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

export const MAX_REPLICAS = 50;
export const MAX_TIMEOUT_SECONDS = 24 * 3600;

const quoted = (v: string): string => JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);

function dnsLabel(what: string, max = 63) {
  return z
    .string()
    .max(max, { error: (i) => `${what} must be at most ${max} characters, got ${String(i.input).length}`, abort: true })
    .regex(DNS_LABEL_RE, {
      error: (i) => `${what} must be a lowercase DNS label (a-z, 0-9 and "-", starting and ending alphanumeric), got ${quoted(String(i.input))}`,
    });
}

function dnsSubdomain(what: string) {
  return z
    .string()
    .max(253, { error: `${what} must be at most 253 characters`, abort: true })
    .regex(DNS_SUBDOMAIN_RE, {
      error: (i) => `${what} must be a lowercase DNS subdomain (a-z, 0-9, "-" and ".", alphanumeric at both ends), got ${quoted(String(i.input))}`,
    });
}

/** Why `key` is not a valid label/annotation key, or null. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix.length > 253) return `the prefix before "/" must be at most 253 characters`;
  if (name.length > 63) return `the name after the prefix must be at most 63 characters`;
  if (!LABEL_KEY_RE.test(key)) {
    return `must be [prefix/]name: an optional DNS-subdomain prefix, then up to 63 of A-Z, a-z, 0-9, "-", "_", "." (alphanumeric at both ends), got ${quoted(key)}`;
  }
  return null;
}

function labelKey(what: string) {
  return z
    .string()
    .regex(LABEL_KEY_RE, { error: (i) => `${what} ${labelKeyProblem(String(i.input)) ?? 'is invalid'}`, abort: true })
    .superRefine((key, ctx) => {
      const problem = labelKeyProblem(key);
      if (problem) ctx.addIssue({ code: 'custom', message: `${what} ${problem}` });
    });
}

const labelValue = z
  .string()
  .max(63, { error: (i) => `label value must be at most 63 characters, got ${String(i.input).length}`, abort: true })
  .regex(LABEL_VALUE_RE, {
    error: (i) => `label value must be empty or A-Z, a-z, 0-9, "-", "_", "." (alphanumeric at both ends), got ${quoted(String(i.input))}`,
  });

const image = z
  .string()
  .min(1, { error: 'image must not be empty; give a reference like registry.example.com/team/app:tag', abort: true })
  .max(4096, { error: 'image must be at most 4096 characters', abort: true })
  .superRefine((v, ctx) => {
    const problem = imageTemplateProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: `image ${problem}` });
  })
  .meta({
    description:
      'Container image reference: [registry[:port]/]repository[:tag][@digest]. Placeholders filled in per run: {sha} (the PR head commit), {short-sha} (its first 7 characters), {pr}, {env}, {branch} (the head branch as a tag).',
    examples: ['ghcr.io/acme/reviews:{sha}'],
  });

export const envNameSchema = z
  .string()
  .max(MAX_ENV_NAME, {
    error: (i) => `env name must be at most ${MAX_ENV_NAME} characters (clone names add it to the Deployment's name), got ${String(i.input).length}`,
    abort: true,
  })
  .regex(DNS_LABEL_RE, {
    error: (i) => `env name must be a lowercase DNS label (a-z, 0-9 and "-", e.g. pr-42), got ${quoted(String(i.input))}`,
  })
  .refine((v) => v !== BASELINE_SUBSET, { error: `env name "${BASELINE_SUBSET}" is reserved for the baseline subset; choose another` })
  .meta({ description: 'Name of the env (RFC 1123 label, at most 40 characters). Usually pr-<number>.', examples: ['pr-42'] });

export const headerSchema = z
  .string()
  .superRefine((v, ctx) => {
    if (v.startsWith(':')) {
      ctx.addIssue({ code: 'custom', message: `header ${quoted(v)} is an HTTP/2 pseudo-header; use an ordinary header name like x-override` });
    } else if (!TOKEN_RE.test(v)) {
      ctx.addIssue({ code: 'custom', message: `header must be an HTTP header name (letters, digits and "-", e.g. x-override), got ${quoted(v)}` });
    } else if (v.toLowerCase() === 'baggage') {
      ctx.addIssue({ code: 'custom', message: 'header must not be "baggage": baggage is matched through routing.baggageKey' });
    }
  })
  .transform((v) => v.toLowerCase())
  .meta({ description: 'Request header that selects an env (case-insensitive; stored lower case). Default: x-override.', examples: ['x-override'] });

export const baggageKeySchema = z
  .union([
    z.string().regex(TOKEN_RE, {
      error: (i) => `baggageKey must be a W3C baggage key (an HTTP token like "override"), got ${quoted(String(i.input))}`,
    }),
    z.literal(false),
  ], { error: 'baggageKey must be a W3C baggage key (an HTTP token like "override"), or false to turn baggage matching off' })
  .meta({ description: 'W3C baggage member key that selects an env (`baggage: <key>=<env>`), or false to turn baggage matching off.' });

const reservedLabelKey = (key: string): boolean => key.startsWith(KEY_PREFIX) || key === MANAGED_BY_LABEL;

export const versionLabelSchema = labelKey('versionLabel').refine((k) => !reservedLabelKey(k), {
  error: `versionLabel must not be one of dynamic-env's own labels (${KEY_PREFIX}*, ${MANAGED_BY_LABEL})`,
});

/** A duration in seconds: `300s`, `5m`, `1h`, `1h30m`, or a number of seconds. */
export const timeoutSchema = z
  .union([z.string(), z.number()], { error: 'timeout must be a duration like 300s, 5m, 1h, or a number of seconds' })
  .superRefine((v, ctx) => {
    const seconds = timeoutSeconds(v);
    if (typeof seconds === 'string') ctx.addIssue({ code: 'custom', message: `timeout ${seconds}` });
    else if (seconds > MAX_TIMEOUT_SECONDS) ctx.addIssue({ code: 'custom', message: `timeout must be at most 24h, got ${v}` });
  })
  .meta({ description: 'How long to wait for clones to become ready: "300s", "5m", "1h", or seconds.', examples: ['5m'] });

/** Seconds of a timeout value, or a message saying what is wrong. */
export function timeoutSeconds(v: string | number): number | string {
  if (typeof v === 'number') {
    return Number.isInteger(v) && v > 0 ? v : `must be a whole number of seconds greater than zero, got ${v}`;
  }
  return parseDuration(v.trim(), 'hms');
}

// ---------------------------------------------------------------------------------------------------------------
// Workloads

const envVarSchema = z.strictObject({
  name: z.string().regex(ENV_VAR_NAME_RE, {
    error: (i) => `env var name must be letters, digits, "_", "-" or "." and not start with a digit, got ${quoted(String(i.input))}`,
  }),
  value: z.string().superRefine((v, ctx) => {
    if (CONTROL_RE.test(v)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'env var value must be a single line without control characters; for multi-line values, put them in a ' +
          'ConfigMap or Secret referenced by the original Deployment',
      });
    }
  }),
});

const containerSchema = z
  .strictObject({
    name: dnsLabel('container name')
      .optional()
      .meta({ description: 'Container to change; may be left out when the pod has a single container.' }),
    image: image.optional(),
    env: z.array(envVarSchema).optional().meta({ description: 'Env vars: same name replaces the original (including valueFrom), new names are appended.' }),
    command: z.array(z.string()).optional().meta({ description: "Replaces the container's command." }),
    args: z.array(z.string()).optional().meta({ description: "Replaces the container's args." }),
  })
  .superRefine((c, ctx) => {
    if (c.image === undefined && c.env === undefined && c.command === undefined && c.args === undefined) {
      ctx.addIssue({ code: 'custom', message: 'container override changes nothing; set image, env, command or args' });
    }
  });

export const workloadSchema = z
  .strictObject({
    namespace: dnsLabel('namespace').meta({ description: 'Namespace of the Deployment.' }),
    deployment: dnsSubdomain('deployment').meta({ description: 'Name of the original Deployment.' }),
    replicas: z
      .number({ error: 'replicas must be a whole number from 1 to 50' })
      .int({ error: 'replicas must be a whole number from 1 to 50' })
      .min(1, { error: 'replicas must be at least 1' })
      .max(MAX_REPLICAS, { error: `replicas must be at most ${MAX_REPLICAS}` })
      .default(DEFAULTS.replicas),
    labels: z
      .record(labelKey('label key'), labelValue)
      .default({})
      .meta({ description: "Extra pod labels for the clone. Must not set the version label or dynamic-env's own labels." }),
    image: image.optional().meta({ description: 'Shorthand for containers: [{image}] (the only container). Not together with containers.' }),
    containers: z.array(containerSchema).optional().meta({ description: 'Per-container overrides.' }),
  })
  .superRefine(
    (w, ctx) => {
      // Runs even when fields failed (so every problem is reported at once): `w` may be partly raw input, or not
      // a mapping at all (`- ~` in the list), which the type check has already reported.
      if (!w || typeof w !== 'object') return;
      if (w.image !== undefined && w.containers !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['image'],
          message: 'set either image (shorthand for the only container) or containers, not both; move the image into containers',
        });
      }
      const seen = new Map<string, number>();
      (Array.isArray(w.containers) ? w.containers : []).forEach((c, i) => {
        if (!c || typeof c !== 'object') return;
        const name = typeof c.name === 'string' ? c.name : '';
        const first = seen.get(name);
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['containers', i, ...(c.name !== undefined ? ['name'] : [])],
            message:
              c.name !== undefined
                ? `container "${c.name}" is listed twice (also at containers[${first}]); merge the two entries`
                : `more than one container override without a name (also at containers[${first}]); name the containers`,
          });
        } else seen.set(name, i);
      });
    },
    { when: () => true },
  );

// ---------------------------------------------------------------------------------------------------------------
// The file

export const routingSchema = z.strictObject({
  header: headerSchema.default(DEFAULTS.routing.header),
  baggageKey: baggageKeySchema.default(DEFAULTS.routing.baggageKey),
  versionLabel: versionLabelSchema
    .default(DEFAULTS.routing.versionLabel)
    .meta({ description: 'Pod label that tells versions apart; subsets select on it.' }),
  pinUnsubsetRoutes: z
    .boolean({ error: 'pinUnsubsetRoutes must be true or false' })
    .default(DEFAULTS.routing.pinUnsubsetRoutes)
    .meta({
      description:
        'Pin routes to an env host that have no subset to the dynamic-env-baseline subset while envs are open (otherwise such routes are refused).',
    }),
  allowPinningGitOpsManaged: z
    .boolean({ error: 'allowPinningGitOpsManaged must be true or false' })
    .default(DEFAULTS.routing.allowPinningGitOpsManaged)
    .meta({
      description:
        'Allow pinUnsubsetRoutes on VirtualServices that Argo CD, Flux, Helm or kubectl apply re-apply from a manifest (a sync removes the pins: baseline traffic reaches the PR\'s pods until `dynamic-env sweep --heal` runs). Otherwise pinning on them is refused.',
    }),
});

export const gitopsSchema = z.strictObject({
  stripLabels: z
    .array(labelKey('label key'))
    .optional()
    .meta({ description: "Labels removed from the clone Deployment's own metadata (replaces the default list). Never from the pod template." }),
  stripAnnotations: z
    .array(labelKey('annotation key'))
    .optional()
    .meta({ description: "Annotations removed from the clone Deployment's own metadata (replaces the default list)." }),
});

export const configFileSchema = z
  .strictObject({
    env: envNameSchema.optional(),
    lockNamespace: dnsLabel('lockNamespace').optional().meta({ description: "Namespace of the env's Lease (default: default)." }),
    clusterDomain: dnsSubdomain('clusterDomain').optional().meta({ description: 'Cluster DNS domain (default: cluster.local).' }),
    istioRootNamespace: dnsLabel('istioRootNamespace')
      .optional()
      .meta({ description: "Istio's root namespace (MeshConfig rootNamespace), whose DestinationRules apply mesh-wide (default: istio-system)." }),
    routing: routingSchema.optional(),
    wait: z.boolean({ error: 'wait must be true or false' }).optional().meta({ description: 'Wait for the clones to be ready (default: true).' }),
    timeout: timeoutSchema.optional(),
    services: z.array(workloadSchema).default([]).meta({ description: 'Deployments to clone and route by header.' }),
    workers: z.array(workloadSchema).default([]).meta({ description: 'Deployments to clone and never route (queue consumers, cron-like workers).' }),
    gitops: gitopsSchema.optional(),
  })
  .superRefine(
    (c, ctx) => {
      // Runs even when fields failed (so every problem is reported at once): `c` may be partly raw input.
      const list = (kind: 'services' | 'workers'): unknown[] => (Array.isArray(c[kind]) ? c[kind] : []);
      if (list('services').length === 0 && list('workers').length === 0 && !ctx.issues.some((i) => i.path?.[0] === 'services' || i.path?.[0] === 'workers')) {
        ctx.addIssue({ code: 'custom', path: ['services'], message: 'list at least one Deployment under services or workers' });
      }
      const rawVersion = c.routing?.versionLabel;
      const versionLabel = typeof rawVersion === 'string' ? rawVersion : DEFAULTS.routing.versionLabel;
      const seen = new Map<string, string>();
      for (const kind of ['services', 'workers'] as const) {
        list(kind).forEach((item, i) => {
          if (!item || typeof item !== 'object') return;
          const w = item as { namespace?: unknown; deployment?: unknown; labels?: unknown };
          if (typeof w.namespace === 'string' && typeof w.deployment === 'string') {
            const id = `${w.namespace}/${w.deployment}`;
            const first = seen.get(id);
            if (first) {
              ctx.addIssue({ code: 'custom', path: [kind, i], message: `Deployment ${id} is listed twice (also at ${first}); keep one entry` });
            } else seen.set(id, `${kind}[${i}]`);
          }
          const labels = w.labels && typeof w.labels === 'object' ? Object.keys(w.labels) : [];
          for (const key of labels) {
            if (key === versionLabel) {
              ctx.addIssue({
                code: 'custom',
                path: [kind, i, 'labels', key],
                message: `must not set the version label "${versionLabel}": dynamic-env sets it to the env name`,
              });
            } else if (reservedLabelKey(key)) {
              ctx.addIssue({
                code: 'custom',
                path: [kind, i, 'labels', key],
                message: `must not set dynamic-env's own labels (${KEY_PREFIX}*, ${MANAGED_BY_LABEL})`,
              });
            }
          }
        });
      }
    },
    { when: () => true },
  )
  .meta({ title: 'dynamic-env config', description: 'Config file of dynamic-env: per-PR environments in a shared Kubernetes + Istio mesh.' });

export type ConfigFile = z.output<typeof configFileSchema>;
export type ConfigFileInput = z.input<typeof configFileSchema>;
export type WorkloadConfig = z.output<typeof workloadSchema>;
export type RoutingConfig = z.output<typeof routingSchema>;

/** The JSON Schema for editors (`schema/dynamic-env.schema.json`). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configFileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: 'https://github.com/dynamic-env/dynamic-env/schema/dynamic-env.schema.json',
    ...schema,
  };
}
