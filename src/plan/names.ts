// The single source of every name, label and annotation dynamic-env writes (docs/DESIGN.md "Objects we own").
// Pure: hashing is the only computation beyond string work.

import { createHash } from 'node:crypto';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'dynamic-env';
export const ENV_LABEL = 'dynamic-env.io/env';
export const ROLE_LABEL = 'dynamic-env.io/role';
export const REPO_LABEL = 'dynamic-env.io/repo';
export const PR_LABEL = 'dynamic-env.io/pr';
/**
 * On each DestinationRule of an env whose close is under way (src/plan/close.ts liveRulesOf): the rule no longer
 * backs a pin for other closes, even before the env's clones are gone. Its value is when the close began.
 */
export const CLOSING_ANNOTATION = 'dynamic-env.io/closing';
/** On the DestinationRule of an env whose open asks other opens to write its routes (src/plan/route-requests.ts). */
export const ROUTE_REQUEST_LABEL = 'dynamic-env.io/route-request';
/** The request itself, JSON (RouteRequest), beside that label. */
export const ROUTE_REQUEST_ANNOTATION = 'dynamic-env.io/route-request';
/** Every label and annotation key we own starts with this (plus MANAGED_BY_LABEL). */
export const KEY_PREFIX = 'dynamic-env.io/';

export const SOURCE_ANNOTATION = 'dynamic-env.io/source';
export const COMMIT_ANNOTATION = 'dynamic-env.io/commit';
export const OPENED_AT_ANNOTATION = 'dynamic-env.io/opened-at';
/** When an open last changed the clone (a push); sweep's `ttl-from: updated` counts from it. */
export const UPDATED_AT_ANNOTATION = 'dynamic-env.io/updated-at';
export const REPO_ANNOTATION = 'dynamic-env.io/repo';

export type Role = 'service' | 'worker' | 'routing';
export const ROLE_SERVICE: Role = 'service';
export const ROLE_WORKER: Role = 'worker';
export const ROLE_ROUTING: Role = 'routing';

/** Subset of the original (non-PR) pods, used by pinned routes and by our own VirtualServices. */
export const BASELINE_SUBSET = 'dynamic-env-baseline';
/** Response header set on every env route, so a caller can see which env answered. */
export const RESPONSE_ENV_HEADER = 'x-dynamic-env';
/** Route names: `dynamic-env/<env>/<origin>`. */
export const ROUTE_PREFIX = 'dynamic-env/';
export const ISTIO_API_VERSION = 'networking.istio.io/v1';

/** Kubernetes limits. */
export const MAX_LABEL_VALUE = 63;
export const MAX_DNS_LABEL = 63;
export const MAX_DNS_SUBDOMAIN = 253;
/** Env names are DNS labels no longer than this, so clone names keep room for the Deployment's name. */
export const MAX_ENV_NAME = 40;

const HASH_LENGTH = 8;

/** A short, stable hash (hex) of the given parts; parts are joined with NUL so ("a-b","c") != ("a","b-c"). */
export function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, HASH_LENGTH);
}

const trimToAlnumEnd = (s: string): string => s.replace(/[^A-Za-z0-9]+$/, '');

/**
 * `<prefix>-<suffix>` if it fits in `max`, else `<prefix cut short>-<hash of both>-<suffix>`. The hash covers the
 * full inputs, so two different inputs never shorten to the same name.
 */
function joinShortened(prefix: string, suffix: string, max: number): string {
  const plain = `${prefix}-${suffix}`;
  if (plain.length <= max) return plain;
  const hash = shortHash(prefix, suffix);
  const room = max - suffix.length - hash.length - 2;
  const head = room > 0 ? trimToAlnumEnd(prefix.slice(0, room)) : '';
  return head ? `${head}-${hash}-${suffix}` : `${hash}-${suffix}`.slice(0, max);
}

/** Name of the clone of `deployment` in `env`: `<deployment>-<env>`, hash-shortened to 63 characters. */
export function cloneName(deployment: string, env: string): string {
  return joinShortened(deployment, env, MAX_DNS_LABEL);
}

/**
 * Every env whose clone could be named `name`: a clone's name ends in `-<env>`, shortened or not (`joinShortened`
 * keeps the whole env, at most MAX_ENV_NAME), so these are its suffixes after a hyphen that are valid label values.
 * `web` in env `v2-pr-1` and `web-v2` in env `pr-1` both make `web-v2-pr-1`: its envs are `v2-pr-1`, `pr-1` and `1`.
 */
export function envsNamingClone(name: string): string[] {
  const envs: string[] = [];
  for (let i = name.indexOf('-'); i >= 0; i = name.indexOf('-', i + 1)) {
    const env = name.slice(i + 1);
    if (isValidLabelValue(env)) envs.push(env);
  }
  return envs;
}

/** Our DestinationRule for (env, Service): `dynamic-env-<env>-<service>`, hash-shortened to 253. */
export function destinationRuleName(env: string, service: string): string {
  return joinShortened(`dynamic-env-${env}`, service, MAX_DNS_SUBDOMAIN);
}

/**
 * Our DestinationRule for (env, Service) in a namespace other than the Service's (a caller's, or the root
 * namespace): `dynamic-env-<env>-<service>.<service namespace>`, hash-shortened to 253. The Service's namespace is
 * part of it because one namespace may hold copies for same-named Services of several namespaces; the dot keeps it
 * apart from the names `destinationRuleName` gives (Service names have none).
 */
export function destinationRuleCopyName(env: string, service: string, serviceNamespace: string): string {
  return joinShortened(`dynamic-env-${env}`, `${service}.${serviceNamespace}`, MAX_DNS_SUBDOMAIN);
}

const OWN_VIRTUAL_SERVICE_PREFIX = 'dynamic-env-';

/** Our VirtualService for a host that has none: `dynamic-env-<service>`, shared by all envs. */
export function ownVirtualServiceName(service: string): string {
  return `${OWN_VIRTUAL_SERVICE_PREFIX}${service}`;
}

/** The Service our VirtualService named `name` routes (`ownVirtualServiceName`'s inverse), or null. */
export function parseOwnVirtualServiceName(name: string): string | null {
  return name.startsWith(OWN_VIRTUAL_SERVICE_PREFIX) && name.length > OWN_VIRTUAL_SERVICE_PREFIX.length
    ? name.slice(OWN_VIRTUAL_SERVICE_PREFIX.length) : null;
}

/** Lease that serialises open/close of one env. */
export function leaseName(env: string): string {
  return `dynamic-env-${env}`;
}

/** Name of an env's copy of a route: `dynamic-env/<env>/<original route name or host>`. */
export function routeName(env: string, origin: string): string {
  return `${ROUTE_PREFIX}${env}/${origin}`;
}

/** The env and origin of a route name we wrote, or null. Exact on the env: `pr-4` never matches `pr-42`. */
export function parseRouteName(name: string | undefined | null): { env: string; origin: string } | null {
  if (!name || !name.startsWith(ROUTE_PREFIX)) return null;
  const parts = name.split('/');
  if (parts.length < 3) return null;
  const env = parts[1]!;
  if (!env) return null;
  return { env, origin: parts.slice(2).join('/') };
}

/** True when `name` is a route of `env`. */
export function isRouteOf(name: string | undefined | null, env: string): boolean {
  return parseRouteName(name)?.env === env;
}

const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * A label-safe form of any string: `/` becomes `.` (`owner/repo` -> `owner.repo`). Anything that still is not a
 * valid label value (other characters, too long) is cleaned up, cut, and suffixed with a hash of the original, so
 * it stays readable and distinct.
 */
export function labelSafe(value: string): string {
  const dotted = value.replace(/\//g, '.');
  if (isValidLabelValue(dotted)) return dotted;
  const cleaned = trimToAlnumEnd(dotted.replace(/[^-A-Za-z0-9_.]/g, '-').replace(/^[^A-Za-z0-9]+/, ''));
  const head = trimToAlnumEnd(cleaned.slice(0, MAX_LABEL_VALUE - HASH_LENGTH - 1));
  return head ? `${head}-${shortHash(value)}` : shortHash(value);
}

export function isValidLabelValue(v: string): boolean {
  return v.length <= MAX_LABEL_VALUE && LABEL_VALUE_RE.test(v);
}
