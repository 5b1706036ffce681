// VirtualService edits as pure functions (docs/DESIGN.md "Routing"). The commands apply them to a fresh read of
// the object on every write attempt, so each one is a function of (object, env, routing) alone and idempotent.
//
// Invariants kept by every function here:
// - only `spec.http` changes; the input object is never mutated;
// - an env's routes are named `dynamic-env/<env>/<origin>` and sit directly before the user route they copy, in
//   one contiguous block per user route, sorted by env name;
// - a user route is pinned (destination subset `dynamic-env-baseline`) iff an env route sits directly before it
//   (our own VirtualServices excepted: their default route is always on the baseline subset).

import { deepCopy, isManaged } from './deployment.js';
import { hostCovers, normalizeHost, serviceFqdn } from './hosts.js';
import { baggageRegex, headerRegex } from './match.js';
import { problemsError } from './problems.js';
import {
  BASELINE_SUBSET,
  ENV_LABEL,
  ISTIO_API_VERSION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  RESPONSE_ENV_HEADER,
  ROLE_LABEL,
  ROLE_ROUTING,
  isRouteOf,
  ownVirtualServiceName,
  parseRouteName,
  routeName,
} from './names.js';
import type {
  Destination,
  EnvRouting,
  HTTPMatchRequest,
  HTTPRoute,
  HTTPRouteDestination,
  Labels,
  PlanProblem,
  RouteEdit,
  VirtualService,
} from './types.js';

export const MESH_GATEWAY = 'mesh';
/** Name of the default route in our own VirtualServices. */
export const OWN_DEFAULT_ROUTE = 'baseline';

const isEnvRoute = (route: HTTPRoute): boolean => parseRouteName(route.name) !== null;

export const vsRef = (vs: VirtualService): string => `VirtualService ${vs.metadata.namespace ?? ''}/${vs.metadata.name}`;

/** How a route is named in messages: its name, or `#<index in spec.http>`. */
export const routeRef = (vs: VirtualService, route: HTTPRoute, index: number): string =>
  `${vsRef(vs)} route "${route.name ?? `#${index}`}"`;

/** istiod treats an empty `gateways` list like an absent one (`len(gateways) == 0`). */
const listsGateways = (gateways: string[] | undefined): gateways is string[] =>
  Array.isArray(gateways) && gateways.length > 0;

/** Whether sidecar traffic uses this VirtualService (own `gateways` absent, empty, or including `mesh`). */
export function vsMeshApplies(vs: VirtualService): boolean {
  const gateways = vs.spec.gateways;
  return !listsGateways(gateways) || gateways.includes(MESH_GATEWAY);
}

/**
 * Whether a match block of the route lists `gateways`. For a root route with a `delegate` this matters: istiod's
 * mergeHTTPMatchRequest gives a delegate block without `gateways` the root block's, and a block with `gateways`
 * has its `sourceLabels` ignored (sourceMatchHTTP), so a sourceLabels block in the delegate would match everyone.
 */
export function matchListsGateways(route: HTTPRoute): boolean {
  return (route.match ?? []).some((m) => listsGateways(m.gateways));
}

/**
 * Whether every namespace's sidecars see this VirtualService. An absent (or empty) `exportTo` means the mesh's
 * `defaultVirtualServiceExportTo`, which we assume is "*": istiod's default when the mesh config leaves it unset.
 */
export function exportedEverywhere(vs: VirtualService): boolean {
  const exportTo = vs.spec.exportTo;
  return !exportTo || exportTo.length === 0 || exportTo.includes('*');
}

/**
 * One problem per VirtualService that serves mesh traffic for env hosts but is not exported to every namespace.
 * Sidecars elsewhere do not see it and use the default route to all of the host's pods, the env's clones
 * included, and nothing we write can change that. Gateway-only VirtualServices are fine: a gateway proxy that does
 * not see one has no route for the host at all (istiod builds gateway routes only from visible VirtualServices),
 * and a delegate's exportTo only decides which root namespaces may use it (the root's exportTo applies to both).
 */
export function exportToProblems(vss: VirtualService[], envHosts: string[], clusterDomain: string): PlanProblem[] {
  const problems: PlanProblem[] = [];
  for (const vs of vss) {
    if (exportedEverywhere(vs) || !vsMeshApplies(vs)) continue;
    const vsHosts = (vs.spec.hosts ?? []).map((h) => normalizeHost(h, vsNamespace(vs), clusterDomain));
    const covered = envHosts.filter((fqdn) => vsHosts.some((h) => hostCovers(h, fqdn))).sort(byteOrder);
    if (covered.length === 0) continue;
    problems.push({
      kind: 'cluster',
      subject: vsRef(vs),
      message:
        `routes mesh traffic for ${covered.join(', ')} but has exportTo ${JSON.stringify(vs.spec.exportTo)}, so ` +
        `sidecars in the namespaces it is not exported to do not see it and send requests to all of its pods, ` +
        `the env's clones included`,
      fix:
        `export it to every namespace (exportTo: ["*"], or remove exportTo), or route ` +
        `${covered.length === 1 ? 'that host' : 'those hosts'} through a VirtualService exported everywhere`,
    });
  }
  return problems;
}

/** Our own VirtualService for a host that had none. */
export function isOwnVirtualService(vs: VirtualService): boolean {
  return isManaged(vs.metadata.labels) && vs.metadata.labels?.[ROLE_LABEL] === ROLE_ROUTING;
}

/** The env names that have routes in this VirtualService, sorted. */
export function envsOf(vs: VirtualService): string[] {
  const envs = new Set<string>();
  for (const route of vs.spec.http ?? []) {
    const parsed = parseRouteName(route.name);
    if (parsed) envs.add(parsed.env);
  }
  return [...envs].sort(byteOrder);
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Our VirtualService for a Service that no VirtualService routes: one default route to the baseline subset. Env
 * routes are added to it like to any other VirtualService.
 */
export function ownVirtualService(service: string, namespace: string, clusterDomain: string): VirtualService {
  const host = serviceFqdn(service, namespace, clusterDomain);
  return {
    apiVersion: ISTIO_API_VERSION,
    kind: 'VirtualService',
    metadata: {
      name: ownVirtualServiceName(service),
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [ROLE_LABEL]: ROLE_ROUTING },
    },
    spec: {
      hosts: [host],
      http: [{ name: OWN_DEFAULT_ROUTE, route: [{ destination: { host, subset: BASELINE_SUBSET } }] }],
    },
  };
}

/** Where a VirtualService sits, for normalising the short hosts it names. */
function vsNamespace(vs: VirtualService, fallback = 'default'): string {
  return vs.metadata.namespace ?? fallback;
}

/** The destinations of a route whose host, normalised relative to `namespace`, is one of `hosts`. */
export function envDestinations(
  route: HTTPRoute,
  hosts: ReadonlySet<string>,
  namespace: string,
  clusterDomain: string,
): HTTPRouteDestination[] {
  return (route.route ?? []).filter((d) => hosts.has(normalizeHost(d.destination.host, namespace, clusterDomain)));
}

/**
 * Every mirror destination of a route: Istio's HTTPRoute `mirror` (a Destination) and each `mirrors[].destination`
 * (HTTPMirrorPolicy: `{destination, percentage}`). The objects themselves, so a caller working on a copy can pin them.
 */
export function mirrorDestinations(route: HTTPRoute): Destination[] {
  const out: Destination[] = [];
  const mirror = route.mirror as Destination | undefined;
  if (mirror && typeof mirror === 'object' && typeof mirror.host === 'string') out.push(mirror);
  if (Array.isArray(route.mirrors)) {
    for (const m of route.mirrors as { destination?: Destination }[]) {
      if (m?.destination && typeof m.destination.host === 'string') out.push(m.destination);
    }
  }
  return out;
}

/** The mirror destinations of a route whose host, normalised relative to `namespace`, is one of `hosts`. */
export function envMirrors(route: HTTPRoute, hosts: ReadonlySet<string>, namespace: string, clusterDomain: string): Destination[] {
  return mirrorDestinations(route).filter((d) => hosts.has(normalizeHost(d.host, namespace, clusterDomain)));
}

/**
 * A user route (not an env route) of a VirtualService that sends traffic to at least one env host, or mirrors
 * traffic to one (docs/DESIGN.md "Routing": mirror destinations are treated like route destinations).
 */
export interface EnvTarget {
  /** Index in `spec.http` as given. */
  index: number;
  route: HTTPRoute;
  destinations: HTTPRouteDestination[];
  /** Its mirror destinations (`mirror`, `mirrors[].destination`) on env hosts. */
  mirrors: Destination[];
}

/**
 * The user routes of `spec.http` that route or mirror to one of `hosts` (normalised), with the matching
 * destinations. A root route handing off to a delegate is never one (it has no destinations of its own; a mirror
 * of it is checked by unsubsetRouteProblems).
 */
export function routesToHosts(vs: VirtualService, hosts: Iterable<string>, clusterDomain: string): EnvTarget[] {
  const set = new Set(hosts);
  const ns = vsNamespace(vs);
  const out: EnvTarget[] = [];
  (vs.spec.http ?? []).forEach((route, index) => {
    if (isEnvRoute(route) || route.delegate) return;
    const destinations = envDestinations(route, set, ns, clusterDomain);
    const mirrors = envMirrors(route, set, ns, clusterDomain);
    if (destinations.length > 0 || mirrors.length > 0) out.push({ index, route, destinations, mirrors });
  });
  return out;
}

/** Warnings for tcp/tls routes to env hosts: only http routes are edited, so those stay on the baseline. */
export function nonHttpWarnings(vs: VirtualService, hosts: Iterable<string>, clusterDomain: string): string[] {
  const set = new Set(hosts);
  const ns = vsNamespace(vs);
  const warnings: string[] = [];
  for (const kind of ['tcp', 'tls'] as const) {
    const routes = vs.spec[kind];
    if (!Array.isArray(routes)) continue;
    routes.forEach((r: unknown, index: number) => {
      const dests = ((r as { route?: HTTPRouteDestination[] }).route ?? []).map((d) =>
        normalizeHost(d.destination?.host ?? '', ns, clusterDomain),
      );
      const hit = dests.find((h) => set.has(h));
      if (hit) {
        warnings.push(
          `${vsRef(vs)} ${kind} route #${index} sends traffic to ${hit}; only http routes are switched by the ` +
            `env header, so ${kind} traffic keeps going to the baseline (or, without a subset, to all pods)`,
        );
      }
    });
  }
  return warnings;
}

/**
 * Problems with routes and mirrors to env hosts that have no subset (none when `pinUnsubsetRoutes` is set, except
 * for a mirror on a root route that hands off to a delegate: such a route gets no env copy, so it cannot be pinned).
 */
export function unsubsetRouteProblems(vs: VirtualService, routing: EnvRouting): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const pin = routing.routing.pinUnsubsetRoutes;
  const pinFix =
    `, or set routing.pinUnsubsetRoutes: true to let dynamic-env pin it to the "${BASELINE_SUBSET}" subset while ` +
    `envs are open`;
  const hosts = new Set(routing.hosts);
  const ns = vsNamespace(vs);
  (vs.spec.http ?? []).forEach((route, index) => {
    if (isEnvRoute(route) || !route.delegate) return;
    const bare = envMirrors(route, hosts, ns, routing.clusterDomain).filter((d) => !d.subset);
    if (bare.length === 0) return;
    problems.push({
      kind: 'cluster',
      subject: routeRef(vs, route, index),
      message:
        `mirrors traffic to ${bare.map((d) => d.host).join(', ')} without a subset, so baseline requests would ` +
        `also be mirrored onto the env's pods (a route with a delegate cannot be pinned)`,
      fix: `add a subset to the mirror's destination (one selecting the current version)`,
    });
  });
  if (pin) return problems;
  for (const { index, route, destinations, mirrors } of routesToHosts(vs, routing.hosts, routing.clusterDomain)) {
    const bare = destinations.filter((d) => !d.destination.subset);
    const bareMirrors = mirrors.filter((d) => !d.subset);
    if (bare.length > 0) {
      problems.push({
        kind: 'cluster',
        subject: routeRef(vs, route, index),
        message:
          `sends traffic to ${bare.map((d) => d.destination.host).join(', ')} without a subset, so baseline ` +
          `requests would also reach the env's pods`,
        fix: `add a subset to the route's destination (one selecting the current version)${pinFix}`,
      });
    }
    if (bareMirrors.length > 0) {
      problems.push({
        kind: 'cluster',
        subject: routeRef(vs, route, index),
        message:
          `mirrors traffic to ${bareMirrors.map((d) => d.host).join(', ')} without a subset, so baseline ` +
          `requests would also be mirrored onto the env's pods`,
        fix: `add a subset to the mirror's destination (one selecting the current version)${pinFix}`,
      });
    }
  }
  return problems;
}

function withHeaderMatch(m: HTTPMatchRequest, header: string, regex: string): HTTPMatchRequest {
  const copy = deepCopy(m);
  return { ...copy, headers: { ...(copy.headers ?? {}), [header]: { regex } } };
}

/**
 * Pod labels that only the env's own clones carry (src/plan/deployment.ts puts both on the clone's pod template):
 * the version label alone could also be on a gateway pod, which a block without `gateways` is checked against too.
 */
function envSourceLabels(routing: EnvRouting): Labels {
  return { [routing.routing.versionLabel]: routing.env, [ENV_LABEL]: routing.env };
}

/**
 * M for calls from the env's clones. istiod (sourceMatchHTTP) checks a block's `gateways` when it lists any and
 * only otherwise its `sourceLabels` and `sourceNamespace`, so this block must list no gateways; M's own
 * sourceLabels and sourceNamespace are dropped with M's gateways, as istiod ignored them for M.
 */
function sourceLabelBlock(m: HTTPMatchRequest, routing: EnvRouting): HTTPMatchRequest {
  const { gateways, sourceLabels, sourceNamespace, ...rest } = deepCopy(m);
  if (listsGateways(gateways)) return { ...rest, sourceLabels: envSourceLabels(routing) };
  return {
    ...rest,
    ...(sourceNamespace !== undefined ? { sourceNamespace } : {}),
    sourceLabels: { ...(sourceLabels ?? {}), ...envSourceLabels(routing) },
  };
}

/** The match blocks of an env's copy of a route, in DESIGN.md order, for every original match block. */
function envMatches(route: HTTPRoute, routing: EnvRouting, meshApplies: boolean): HTTPMatchRequest[] {
  const { env } = routing;
  const { header, baggageKey } = routing.routing;
  const originals: HTTPMatchRequest[] = route.match && route.match.length > 0 ? route.match : [{}];
  const blocks: HTTPMatchRequest[] = [];
  for (const m of originals) {
    blocks.push(withHeaderMatch(m, header, headerRegex(env)));
    if (baggageKey !== null) blocks.push(withHeaderMatch(m, 'baggage', baggageRegex(baggageKey, env)));
    if (meshApplies && (!listsGateways(m.gateways) || m.gateways.includes(MESH_GATEWAY))) {
      blocks.push(sourceLabelBlock(m, routing));
    }
  }
  return blocks;
}

/** The route's header operations with the env's response header added. */
function withEnvResponseHeader(headers: HTTPRoute['headers'], env: string): NonNullable<HTTPRoute['headers']> {
  return {
    ...(headers ?? {}),
    response: {
      ...(headers?.response ?? {}),
      set: { ...(headers?.response?.set ?? {}), [RESPONSE_ENV_HEADER]: env },
    },
  };
}

const MIRROR_PERCENT_FIELDS = ['mirrorPercentage', 'mirrorPercent', 'mirror_percent'] as const;

/**
 * The route fields without mirrors to env hosts: an env's requests are never mirrored onto a host the env changes
 * (its baseline pods would process the PR's requests a second time: duplicate writes). Mirrors elsewhere stay.
 */
function withoutEnvMirrors(rest: Record<string, unknown>, isEnvHost: (d: Destination) => boolean): Record<string, unknown> {
  const out = { ...rest };
  const mirror = out.mirror as Destination | undefined;
  if (mirror && typeof mirror === 'object' && typeof mirror.host === 'string' && isEnvHost(mirror)) {
    delete out.mirror;
    for (const f of MIRROR_PERCENT_FIELDS) delete out[f];
  }
  if (Array.isArray(out.mirrors)) {
    const kept = (out.mirrors as { destination?: Destination }[]).filter((m) => !(m?.destination && isEnvHost(m.destination)));
    if (kept.length > 0) out.mirrors = kept;
    else delete out.mirrors;
  }
  return out;
}

/**
 * The env's copy of a user route; `destination` is the first destination of the route on an env host (null when
 * the route only mirrors to an env host: the copy then keeps the route's destinations). Mirrors to env hosts are
 * dropped from the copy. In a delegate, istiod's mergeHTTPRoute fills only the fields a delegate route leaves
 * unset from the root route, so the copy sets `headers` only where the original does: otherwise it would drop the
 * root's header operations.
 */
function envRoute(
  route: HTTPRoute,
  destination: HTTPRouteDestination | null,
  routing: EnvRouting,
  meshApplies: boolean,
  inDelegate: boolean,
  isEnvHost: (d: Destination) => boolean,
): HTTPRoute {
  const { env } = routing;
  const { name, match: _match, route: original, headers, ...rest } = deepCopy(route);
  let routeTo: HTTPRouteDestination[] | undefined = original;
  let origin = name ?? original?.[0]?.destination.host ?? 'route';
  if (destination) {
    const { weight: _weight, ...dest } = deepCopy(destination);
    routeTo = [{ ...dest, destination: { ...dest.destination, subset: env } }];
    origin = name ?? destination.destination.host;
  }
  const keepsRootHeaders = inDelegate && headers == null;
  return {
    name: routeName(env, origin),
    match: envMatches(route, routing, meshApplies),
    ...(routeTo !== undefined ? { route: routeTo } : {}),
    ...withoutEnvMirrors(rest, isEnvHost),
    ...(keepsRootHeaders ? {} : { headers: withEnvResponseHeader(headers, env) }),
  };
}

const envOfRoute = (route: HTTPRoute): string => parseRouteName(route.name)?.env ?? '';

function sortBlock(block: HTTPRoute[]): HTTPRoute[] {
  // Array.prototype.sort is stable: same-env routes (never written by us) keep their order.
  return [...block].sort((a, b) => byteOrder(envOfRoute(a), envOfRoute(b)));
}

/**
 * Removes `env`'s routes from `http`. Returns the remaining routes and the user routes that lost an env route
 * from the block directly before them (candidates for un-pinning).
 */
function removeEnv(http: HTTPRoute[], env: string): { kept: HTTPRoute[]; lost: Set<HTTPRoute>; removed: number } {
  const kept: HTTPRoute[] = [];
  const lost = new Set<HTTPRoute>();
  let removed = 0;
  let blockLost = false;
  for (const route of http) {
    if (isRouteOf(route.name, env)) {
      removed++;
      blockLost = true;
      continue;
    }
    kept.push(route);
    if (!isEnvRoute(route)) {
      if (blockLost) lost.add(route);
      blockLost = false;
    }
  }
  return { kept, lost, removed };
}

/**
 * `http` with every route in `candidates` that has no env route directly before it un-pinned (its destinations and
 * its mirror destinations): those routes are copies, every other route is `http`'s own.
 */
function unpinOrphans(http: HTTPRoute[], candidates: Set<HTTPRoute>): HTTPRoute[] {
  const pinned = (route: HTTPRoute) => [...(route.route ?? []).map((r) => r.destination), ...mirrorDestinations(route)]
    .filter((d) => d.subset === BASELINE_SUBSET);
  return http.map((route, i) => {
    if (!candidates.has(route)) return route;
    const before = i > 0 ? http[i - 1] : undefined;
    if ((before && isEnvRoute(before)) || pinned(route).length === 0) return route;
    const copy = deepCopy(route);
    for (const d of pinned(copy)) delete d.subset;
    return copy;
  });
}

/**
 * A shallow copy of `vs` with `http` as its routes. The edits below build new route lists and copy only the routes
 * they change, so a VirtualService of hundreds of envs' routes is not copied whole for each edit (nor compared
 * whole afterwards: unchanged routes are the same objects). Nothing changes a route in place: every edit of a
 * VirtualService works on copies.
 */
export const withRoutes = (vs: VirtualService, http: HTTPRoute[] | undefined): VirtualService => ({
  ...vs,
  metadata: deepCopy(vs.metadata),
  spec: { ...vs.spec, ...(http ? { http } : {}) },
});

/**
 * The VirtualService with `routing.env`'s routes: first the env's existing routes are removed, then a copy is
 * inserted before every http route with a destination on one of `routing.hosts`, in the block of env copies
 * before that route, sorted by env name. Routes to an env host without a subset are refused (clusterError naming
 * each one and the fix) or, with `routing.pinUnsubsetRoutes`, pinned to the baseline subset. Pure and idempotent.
 */
export function withEnvRoutes(vs: VirtualService, edit: RouteEdit, routing: EnvRouting): VirtualService {
  const http = vs.spec.http;
  if (!http || http.length === 0) return withRoutes(vs, http);

  const problems = unsubsetRouteProblems(vs, routing);
  if (problems.length > 0) throw problemsError(problems);

  const hosts = new Set(routing.hosts);
  const ns = vsNamespace(vs, edit.namespace);
  const inDelegate = !vs.spec.hosts || vs.spec.hosts.length === 0;
  const meshApplies = inDelegate ? edit.meshApplies : vsMeshApplies(vs);
  const isEnvHost = (d: Destination): boolean => hosts.has(normalizeHost(d.host, ns, routing.clusterDomain));

  const { kept, lost } = removeEnv(http, routing.env);
  const result: HTTPRoute[] = [];
  let block: HTTPRoute[] = [];
  for (const original of kept) {
    if (isEnvRoute(original)) {
      block.push(original);
      continue;
    }
    let route = original;
    const destinations = original.delegate ? [] : envDestinations(original, hosts, ns, routing.clusterDomain);
    const mirrors = original.delegate ? [] : envMirrors(original, hosts, ns, routing.clusterDomain);
    if (destinations.length > 0 || mirrors.length > 0) {
      // The user route is pinned (a copy when it changes, standing for it in `lost` too); the env's copy of it gets
      // the env subset on its first env destination whatever the pin, and drops the mirrors to env hosts.
      route = pinnedToBaseline(original, hosts, ns, routing.clusterDomain);
      if (route !== original && lost.has(original)) lost.add(route);
      block.push(envRoute(original, destinations[0] ?? null, routing, meshApplies, inDelegate, isEnvHost));
      block = sortBlock(block);
    }
    result.push(...block, route);
    block = [];
  }
  result.push(...block);

  return withRoutes(vs, isOwnVirtualService(vs) ? result : unpinOrphans(result, lost));
}

/**
 * The VirtualService with every user route and mirror destination on an env host that has no subset pinned to the
 * baseline subset, and nothing else changed: what open writes before the env's pods exist, so that baseline traffic
 * never reaches them. Pure and idempotent.
 */
export function withBaselinePins(vs: VirtualService, edit: RouteEdit, routing: EnvRouting): VirtualService {
  const hosts = new Set(routing.hosts);
  const ns = vsNamespace(vs, edit.namespace);
  return withRoutes(vs, vs.spec.http?.map((route) =>
    (isEnvRoute(route) || route.delegate ? route : pinnedToBaseline(route, hosts, ns, routing.clusterDomain))));
}

/**
 * `route` with every destination and mirror destination on an env host that has no subset pinned to the baseline
 * subset: a copy when there is one, else `route` itself.
 */
function pinnedToBaseline(route: HTTPRoute, hosts: ReadonlySet<string>, ns: string, clusterDomain: string): HTTPRoute {
  const bare = (r: HTTPRoute) => [...envDestinations(r, hosts, ns, clusterDomain).map((d) => d.destination), ...envMirrors(r, hosts, ns, clusterDomain)]
    .filter((d) => !d.subset);
  if (bare(route).length === 0) return route;
  const copy = deepCopy(route);
  for (const d of bare(copy)) d.subset = BASELINE_SUBSET;
  return copy;
}

/**
 * The VirtualService without `env`'s routes; every route pinned to the baseline subset that no longer has an env
 * route directly before it is un-pinned. Removing an env that has no routes returns an equal object.
 */
export function withoutEnvRoutes(vs: VirtualService, env: string): VirtualService {
  const http = vs.spec.http;
  if (!http) return withRoutes(vs, http);
  const { kept, lost, removed } = removeEnv(http, env);
  if (removed === 0) return withRoutes(vs, http);
  return withRoutes(vs, isOwnVirtualService(vs) ? kept : unpinOrphans(kept, lost));
}
