// The size of a shared VirtualService (docs/DESIGN.md "Routing", "Size of a shared VirtualService"). Every env adds
// its copy of every route to its hosts, so the object grows linearly with the envs on it until etcd refuses the
// write ("etcdserver: request is too large", a 500 that is permanent for that object). Pure functions: the planner
// refuses an edit above the limit before any write, and the numbers tell users how many envs fit.

import type { PlanProblem, VirtualService } from './types.js';
import { envsOf, vsRef, withoutEnvRoutes } from './virtual-service.js';

/**
 * The largest VirtualService (its JSON as we write it) an open may produce: 1 MiB. etcd's default
 * `--max-request-bytes` is 1.5 MiB for the whole request (key, value and transaction overhead), and the stored
 * object is larger than what we send: the API server adds and rewrites `metadata.managedFields`, and other writers
 * (a GitOps tool, `kubectl apply`'s last-applied annotation, another env's open racing ours) add to the same
 * object. A third of etcd's default left for all of that keeps the next write of anyone else possible, and stays
 * far below the API server's own 3 MiB body limit (413).
 */
export const MAX_VIRTUAL_SERVICE_BYTES = 1024 * 1024;

/** etcd's default `--max-request-bytes`, for messages. */
export const ETCD_DEFAULT_REQUEST_BYTES = 1.5 * 1024 * 1024;

/** Bytes of an object's JSON as the client sends it (UTF-8). */
export function objectBytes(o: unknown): number {
  return Buffer.byteLength(JSON.stringify(o), 'utf8');
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

/**
 * How many envs fit in a VirtualService: each env adds `routes` route copies of about `bytesPerRouteCopy` bytes
 * each, on top of the `baseBytes` of the VirtualService without env routes. 0 when not even one fits.
 */
export function envsThatFit(
  routes: number,
  bytesPerRouteCopy: number,
  baseBytes = 0,
  limitBytes = MAX_VIRTUAL_SERVICE_BYTES,
): number {
  const perEnv = routes * bytesPerRouteCopy;
  if (perEnv <= 0) return Number.POSITIVE_INFINITY;
  return Math.max(0, Math.floor((limitBytes - baseBytes) / perEnv));
}

/** A VirtualService without any env's routes (the user's own routes, un-pinned). */
export function withoutAllEnvRoutes(vs: VirtualService): VirtualService {
  return envsOf(vs).reduce((acc, env) => withoutEnvRoutes(acc, env), vs);
}

/**
 * The problem when `edited` (the VirtualService as `env`'s open would write it) is above `limitBytes`: names the
 * VirtualService, its size, the envs on it, how many envs of this size fit, and the fixes.
 */
export function virtualServiceSizeProblems(
  edited: VirtualService,
  env: string,
  limitBytes = MAX_VIRTUAL_SERVICE_BYTES,
): PlanProblem[] {
  const size = objectBytes(edited);
  if (size <= limitBytes) return [];
  const base = objectBytes(withoutAllEnvRoutes(edited));
  const perEnv = size - objectBytes(withoutEnvRoutes(edited, env));
  const fit = perEnv > 0 ? Math.max(0, Math.floor((limitBytes - base) / perEnv)) : 0;
  const others = envsOf(edited).filter((e) => e !== env);
  return [
    {
      kind: 'cluster',
      subject: vsRef(edited),
      message:
        `would be ${size} bytes (${kib(size)}) with env ${env}'s routes, above the ${kib(limitBytes)} dynamic-env ` +
        `allows (etcd refuses requests over ${kib(ETCD_DEFAULT_REQUEST_BYTES)} by default, and the object must ` +
        `stay writable for others); each env adds about ${kib(perEnv)} here, so about ${fit} envs fit; ` +
        `${others.length} other env${others.length === 1 ? ' has' : 's have'} routes in it` +
        (others.length > 0 ? `: ${others.join(', ')}` : ''),
      fix:
        `close stale envs (dynamic-env close --env <name>, or a sweep), split the VirtualService (one per host, ` +
        `or delegate VirtualServices per path group), or route the changed hosts with fewer routes (every env ` +
        `copies each route to its hosts)`,
    },
  ];
}
