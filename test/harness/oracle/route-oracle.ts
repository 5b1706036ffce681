// The route oracle: where Envoy would send a request, given the configuration istiod served a proxy (an XdsSnapshot
// from the xDS probe). Listener by port, filter chain for plaintext HTTP, route configuration, virtual host by
// authority, first matching route, then its cluster(s) and their endpoints, following Envoy's documented semantics.
// Anything that would make the answer a guess (a match condition or action the oracle does not evaluate) throws
// OracleConfigError instead of being skipped.

import { clusterOutcome } from './clusters.js';
import { httpEntry, type HttpEntry } from './listener.js';
import { routeMatches, type MatchRequest } from './route-match.js';
import { asciiLower } from './string-match.js';
import {
  OracleConfigError,
  type ClusterOutcome,
  type FilterChainJson,
  type ListenerJson,
  type MissingCluster,
  type OracleRequest,
  type RouteActionJson,
  type RouteConfigurationJson,
  type RouteJson,
  type RouteOutcome,
  type VirtualHostJson,
  type XdsSnapshot,
} from './types.js';
import { authorityAfterHcm, findVirtualHost } from './virtual-host.js';

export * from './types.js';

export function routeRequest(snapshot: XdsSnapshot, req: OracleRequest): RouteOutcome {
  const entry = httpEntry(snapshot, req);
  if (!entry.ok) return { ...noRoute('no_listener', entry.listener, entry.routeConfig), detail: entry.detail };
  const { listener, routeConfigName, routeConfig: rc } = entry.entry;
  const request = matchRequest(req, entry.entry);
  const vh = findVirtualHost(rc, hostForVirtualHost(rc, request));
  if (!vh) return noRoute('no_virtual_host', listener, routeConfigName);
  const where = `route configuration ${routeConfigName}, virtual host ${vh.name}`;
  refuseUnevaluatedVirtualHost(vh, where);
  const ignorePathParameters = rc.ignore_path_parameters_in_path_matching === true;
  const routes = vh.routes ?? [];
  const index = routes.findIndex((r, i) => routeMatches(r.match ?? {}, request, { ignorePathParameters }, `${where}, route ${routeLabel(r, i)}`));
  const base = { listener, routeConfig: routeConfigName, virtualHost: vh.name ?? '' };
  if (index < 0) return { ...noRoute('no_route', listener, routeConfigName), virtualHost: base.virtualHost };
  const route = routes[index]!;
  return { ...base, route: routeLabel(route, index), ...actionOutcome(snapshot, route, request, `${where}, route ${routeLabel(route, index)}`) };
}

const routeLabel = (r: RouteJson, index: number): string => r.name || `#${index}`;

function noRoute(kind: RouteOutcome['kind'], listener: string | null, routeConfig: string | null): RouteOutcome {
  return { kind, listener, routeConfig, virtualHost: null, route: null, clusters: [] };
}

/** MatchRequest plus each header's separate values, for what Envoy reads as a header's first value. */
type RoutedRequest = MatchRequest & { raw: Map<string, string[]> };

/** The request as the router sees it: the HCM's :authority rewrites applied, pseudo-headers added. */
function matchRequest(req: OracleRequest, entry: HttpEntry): RoutedRequest {
  const raw = requestHeaders(req.headers ?? {});
  const path = req.path ?? '/';
  const method = req.method ?? 'GET';
  const authority = authorityAfterHcm(req.authority, entry.hcm, req.port);
  const headers = new Map<string, string>([...raw].map(([k, v]) => [k, v.join(',')]));
  for (const [k, v] of [[':authority', authority], [':path', path], [':method', method], [':scheme', 'http']] as const) {
    headers.set(k, v);
    raw.set(k, [v]);
  }
  return { headers, path, method, raw };
}

/** Lower-cased names; the values of a repeated header (an array, or names differing in case) kept in order. */
function requestHeaders(given: Record<string, string | string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, value] of Object.entries(given)) {
    const key = asciiLower(name);
    if (key.startsWith(':') || key === 'host') throw new TypeError(`header ${name}: pass the authority, path and method as fields of the request`);
    const values = Array.isArray(value) ? value : [value];
    if (values.length > 0) out.set(key, [...(out.get(key) ?? []), ...values]);
  }
  return out;
}

/** vhost_header picks another header's first value for the domain lookup; by default it is :authority. */
function hostForVirtualHost(rc: RouteConfigurationJson, request: RoutedRequest): string | undefined {
  const name = rc.vhost_header ? asciiLower(rc.vhost_header) : ':authority';
  return request.raw.get(name)?.[0];
}

function refuseUnevaluatedVirtualHost(vh: VirtualHostJson, where: string): void {
  if (vh.matcher !== undefined) throw new OracleConfigError(`${where}: virtual host uses a matcher tree, which the oracle does not evaluate`);
  // A plaintext request to a virtual host requiring TLS gets a redirect to https; not modelled.
  if ((vh.require_tls ?? 'NONE') !== 'NONE') throw new OracleConfigError(`${where}: require_tls ${vh.require_tls} is not evaluated`);
}

type ActionOutcome = Pick<RouteOutcome, 'kind' | 'clusters' | 'status'>;

function actionOutcome(snapshot: XdsSnapshot, route: RouteJson, req: RoutedRequest, where: string): ActionOutcome {
  if (route.route) return { kind: 'cluster', clusters: routeClusters(snapshot, route.route, req, where) };
  if (route.direct_response) return { kind: 'direct_response', clusters: [], status: route.direct_response.status ?? 0 };
  if (route.redirect) return { kind: 'redirect', clusters: [], status: redirectStatus(route.redirect.response_code) };
  throw new OracleConfigError(`${where}: route action ${actionNames(route)} is not evaluated`);
}

const actionNames = (r: RouteJson): string => Object.keys(r).filter((k) => !['name', 'match', 'metadata', 'decorator'].includes(k)).join(', ') || 'none';

function routeClusters(snapshot: XdsSnapshot, action: RouteActionJson, req: RoutedRequest, where: string): ClusterOutcome[] {
  if (action.cluster !== undefined) return [clusterOutcome(snapshot, action.cluster, 100)];
  // Envoy takes the header's first value; a missing header names no cluster, which the router answers with 503.
  if (action.cluster_header !== undefined) return [clusterOutcome(snapshot, firstValue(req, action.cluster_header), 100)];
  const weighted = action.weighted_clusters?.clusters;
  if (weighted) {
    return weighted.map((w) => clusterOutcome(snapshot, w.name ?? firstValue(req, w.cluster_header ?? ''), w.weight ?? 0));
  }
  throw new OracleConfigError(`${where}: the route action names its cluster in a way the oracle does not evaluate`);
}

function firstValue(req: RoutedRequest, header: string): string {
  return req.raw.get(asciiLower(header))?.[0] ?? '';
}

/** RedirectAction.response_code; protojson omits the default, MOVED_PERMANENTLY. */
function redirectStatus(code: string | undefined): number {
  const codes: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };
  return codes[code ?? 'MOVED_PERMANENTLY'] ?? 301;
}

/** One readable line for assertion messages. */
export function describeOutcome(o: RouteOutcome): string {
  const via = [
    o.listener && `listener ${o.listener}`,
    o.routeConfig && `route config ${o.routeConfig}`,
    o.virtualHost !== null && `virtual host ${o.virtualHost}`,
    o.route && `route ${o.route}`,
  ].filter(Boolean).join(' > ');
  switch (o.kind) {
    case 'cluster':
      return `${o.clusters.map((c) => describeCluster(c, o.clusters.length > 1)).join(' + ')} via ${via}`;
    case 'direct_response':
      return `direct response ${o.status} via ${via}`;
    case 'redirect':
      return `redirect ${o.status} via ${via}`;
    case 'no_route':
      return `no route matches, in ${via}`;
    case 'no_virtual_host':
      return `no virtual host matches the authority, in ${via}`;
    case 'no_listener':
      return `no HTTP listener: ${o.detail ?? 'unknown'}${via ? ` (${via})` : ''}`;
  }
}

function describeCluster(c: ClusterOutcome, weighted: boolean): string {
  const weight = weighted ? ` weight ${c.weight}` : '';
  if (!c.exists) return `cluster ${c.name || '(none)'}${weight} (MISSING)`;
  const unhealthy = c.unhealthyEndpoints.length > 0 ? `, unhealthy [${c.unhealthyEndpoints.join(', ')}]` : '';
  const endpoints = c.loadAssignment ? `endpoints [${c.endpoints.join(', ')}]${unhealthy}` : 'no load assignment';
  return `cluster ${c.name}${weight} (${c.type}, ${endpoints})`;
}

/**
 * Every cluster a route of the snapshot names (cluster, weighted clusters, request mirrors), in RDS route
 * configurations and in listeners' inline ones, that is not a cluster of the snapshot. cluster_header routes name
 * no cluster until a request arrives, so they are not checked.
 */
export function missingClusters(snapshot: XdsSnapshot): MissingCluster[] {
  const known = new Set((snapshot.clusters as { name?: string }[]).map((c) => c.name));
  const missing: MissingCluster[] = [];
  for (const [rcName, rc] of routeConfigurations(snapshot)) {
    for (const vh of rc.virtual_hosts ?? []) {
      (vh.routes ?? []).forEach((r, i) => {
        for (const cluster of namedClusters(r.route)) {
          if (!known.has(cluster)) missing.push({ routeConfig: rcName, virtualHost: vh.name ?? '', route: routeLabel(r, i), cluster });
        }
      });
    }
  }
  return missing;
}

function namedClusters(action: RouteActionJson | undefined): string[] {
  if (!action) return [];
  const weighted = (action.weighted_clusters?.clusters ?? []).flatMap((w) => (w.name ? [w.name] : []));
  const mirrors = (action.request_mirror_policies ?? []).flatMap((m) => (m.cluster ? [m.cluster] : []));
  return [...(action.cluster !== undefined ? [action.cluster] : []), ...weighted, ...mirrors];
}

function routeConfigurations(snapshot: XdsSnapshot): [string, RouteConfigurationJson][] {
  const rds = (snapshot.routes as RouteConfigurationJson[]).map((rc): [string, RouteConfigurationJson] => [rc.name ?? '', rc]);
  const inline = (snapshot.listeners as ListenerJson[]).flatMap((l) =>
    allChains(l).flatMap((c) => (c.filters ?? []).flatMap((f) => {
      const rc = f.typed_config?.route_config;
      return rc ? [[rc.name || `inline@${l.name}`, rc] as [string, RouteConfigurationJson]] : [];
    })),
  );
  return [...rds, ...inline];
}

const allChains = (l: ListenerJson): FilterChainJson[] => [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])];
