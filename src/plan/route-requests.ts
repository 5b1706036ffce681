// Route requests: how concurrent opens on one VirtualService share their writes (docs/DESIGN.md "Concurrent opens
// on one VirtualService"). An open that loses a round on a VirtualService (409) records on its own DestinationRule
// what it is about to write (its route edits and routing); whoever writes that VirtualService next writes the
// recorded env's routes too, so N opens need a few accepted writes instead of N. Pure: the commands read and write.
//
// Safe because a request exists only while its env's open holds the env's Lease and is itself writing those routes
// (the open withdraws it before releasing; a close withdraws one a crashed open left before removing any route),
// and a writer reads the requests after the VirtualService it writes, with that read's resourceVersion: a close
// that removed an env's routes after that read makes the write fail with 409, and one before it had withdrawn the
// request first.
import { isDeepStrictEqual } from 'node:util';
import { ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, ROUTE_REQUEST_ANNOTATION, ROUTE_REQUEST_LABEL } from './names.js';
import type { DestinationRule, EnvRouting, RouteEdit, VirtualService } from './types.js';
import { withEnvRoutes } from './virtual-service.js';
import { MAX_VIRTUAL_SERVICE_BYTES, objectBytes } from './vs-size.js';

export { ROUTE_REQUEST_ANNOTATION, ROUTE_REQUEST_LABEL };
export const routeRequestSelector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${ROUTE_REQUEST_LABEL}`;

export interface RouteRequest {
  /** The VirtualServices the env's open is writing its routes into, as it plans them. */
  edits: RouteEdit[];
  routing: EnvRouting;
}

const sameRef = (a: { namespace: string; name: string }, b: { namespace?: string; name: string }) =>
  a.namespace === (b.namespace ?? '') && a.name === b.name;

/** The DestinationRule carrying `request` (label and annotation), otherwise as it is. */
export function withRouteRequest(rule: DestinationRule, request: RouteRequest): DestinationRule {
  return {
    ...rule,
    metadata: {
      ...rule.metadata,
      labels: { ...(rule.metadata.labels ?? {}), [ROUTE_REQUEST_LABEL]: 'true' },
      annotations: { ...(rule.metadata.annotations ?? {}), [ROUTE_REQUEST_ANNOTATION]: JSON.stringify(request) },
    },
  };
}

export const hasRouteRequest = (rule: DestinationRule): boolean =>
  rule.metadata.labels?.[ROUTE_REQUEST_LABEL] !== undefined || rule.metadata.annotations?.[ROUTE_REQUEST_ANNOTATION] !== undefined;

/** The DestinationRule without a route request. */
export function withoutRouteRequest(rule: DestinationRule): DestinationRule {
  const { [ROUTE_REQUEST_LABEL]: _l, ...labels } = rule.metadata.labels ?? {};
  const { [ROUTE_REQUEST_ANNOTATION]: _a, ...annotations } = rule.metadata.annotations ?? {};
  return { ...rule, metadata: { ...rule.metadata, labels, annotations } };
}

/**
 * The requests the rules carry, but `env`'s own. A request counts only for VirtualServices in its rule's namespace
 * (whoever may write the env's DestinationRule there may write those too, as deploy/rbac.yaml grants both: a
 * request never carries a write into a namespace its author could not make); one that does not parse, or whose env
 * is not the rule's, is ignored: it can only be left out, never mis-applied.
 */
export function routeRequestsOf(rules: DestinationRule[], env: string): RouteRequest[] {
  const out: RouteRequest[] = [];
  for (const rule of rules) {
    const owner = rule.metadata.labels?.[ENV_LABEL];
    const text = rule.metadata.annotations?.[ROUTE_REQUEST_ANNOTATION];
    if (!owner || owner === env || !text || rule.metadata.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) continue;
    let request: RouteRequest;
    try {
      request = JSON.parse(text) as RouteRequest;
    } catch {
      continue;
    }
    if (request?.routing?.env !== owner || !Array.isArray(request.edits) || !Array.isArray(request.routing.hosts)) continue;
    const edits = request.edits.filter((e) => e?.namespace === rule.metadata.namespace && typeof e.name === 'string');
    if (edits.length > 0) out.push({ edits, routing: request.routing });
  }
  return out.sort((a, b) => (a.routing.env < b.routing.env ? -1 : a.routing.env > b.routing.env ? 1 : 0));
}

/**
 * What `env`'s open records on its DestinationRules to have its routes written by others: for each namespace with
 * both a VirtualService it edits and a DestinationRule of its own, the first such rule and the edits there.
 */
export function routeRequestCarriers(rules: DestinationRule[], edits: RouteEdit[], routing: EnvRouting): { rule: DestinationRule; request: RouteRequest }[] {
  const out: { rule: DestinationRule; request: RouteRequest }[] = [];
  for (const ns of [...new Set(edits.map((e) => e.namespace))].sort()) {
    const rule = rules.filter((r) => r.metadata.namespace === ns).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))[0];
    if (rule) out.push({ rule, request: { edits: edits.filter((e) => e.namespace === ns), routing } });
  }
  return out;
}

/**
 * `vs` with the routes of every request that edits it. A request the VirtualService no longer fits (its edit
 * refused: a route without a subset, say; or the object would pass the size an open may write) is left out: its
 * own open writes it, or reports why not. Someone else's routes never make the writer's own write fail.
 */
export function withRequestedRoutes(vs: VirtualService, requests: RouteRequest[]): VirtualService {
  // Sized once when all fit (the usual case: sizing is a serialisation of the whole object); one by one, leaving out
  // each that does not, only when together they pass the size.
  const all = applyRequests(vs, requests, false);
  return all !== vs && objectBytes(all) > MAX_VIRTUAL_SERVICE_BYTES ? applyRequests(vs, requests, true) : all;
}

function applyRequests(vs: VirtualService, requests: RouteRequest[], sizeEach: boolean): VirtualService {
  let out = vs;
  for (const request of requests) {
    const edit = request.edits.find((e) => sameRef(e, vs.metadata));
    if (!edit) continue;
    let next: VirtualService;
    try {
      next = withEnvRoutes(out, edit, request.routing);
    } catch {
      continue;
    }
    if (sizeEach && next.spec.http?.length !== out.spec.http?.length && objectBytes(next) > MAX_VIRTUAL_SERVICE_BYTES) continue;
    out = next;
  }
  return out;
}

/**
 * Which env is to write `vs` next, as `env` sees it after reading `vs` and then the requests (`requests`, the others',
 * sorted by env): the first env by name whose routes `vs` still lacks and can take, `env` itself included. Every
 * open that lost a round and recorded its request would otherwise write at once, and all but one of those writes
 * would fail again (409); the one expected writes every pending request's routes, the others read again and find
 * theirs. Only an ordering for efficiency: an open that waits too long writes its routes itself.
 */
export function expectedWriter(vs: VirtualService, requests: RouteRequest[], env: string): string {
  for (const request of requests) {
    if (request.routing.env >= env) break;
    if (!isDeepStrictEqual(withRequestedRoutes(vs, [request]).spec, vs.spec)) return request.routing.env;
  }
  return env;
}
