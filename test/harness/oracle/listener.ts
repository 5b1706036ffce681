// From a destination port to the HTTP connection manager and route configuration a plaintext HTTP request uses.
// Deliberately small: the listener bound to the wildcard address on that port, then Envoy's filter chain match
// for a connection that carries no TLS, no SNI and whose destination IP is not one any chain names.

import type {
  CidrRangeJson,
  FilterChainJson,
  FilterChainMatchJson,
  FilterJson,
  HttpConnectionManagerJson,
  ListenerJson,
  OracleRequest,
  RouteConfigurationJson,
  XdsSnapshot,
} from './types.js';

const HCM_NAME = 'envoy.filters.network.http_connection_manager';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const WILDCARD_ADDRESSES = ['0.0.0.0', '::'];
/** What Envoy's http_inspector reports for plaintext HTTP/1.1 and prior-knowledge HTTP/2. */
const PLAINTEXT_HTTP_ALPNS = ['http/1.1', 'h2c'];

export interface HttpEntry {
  listener: string;
  hcm: HttpConnectionManagerJson;
  /** The configuration's name (an inline one without a name is labelled after its listener). */
  routeConfigName: string;
  routeConfig: RouteConfigurationJson;
}

/** Either the way in, or why there is none (with as much of the way as was found). */
export type HttpEntryResult = { ok: true; entry: HttpEntry } | { ok: false; listener: string | null; routeConfig: string | null; detail: string };

export function httpEntry(snapshot: XdsSnapshot, req: OracleRequest): HttpEntryResult {
  const picked = pickListener(snapshot.listeners as ListenerJson[], req);
  if (typeof picked === 'string') return { ok: false, listener: null, routeConfig: null, detail: picked };
  const name = picked.name ?? '';
  const fail = (detail: string, routeConfig: string | null = null): HttpEntryResult => ({ ok: false, listener: name, routeConfig, detail });
  if (picked.filter_chain_matcher !== undefined) return fail(`listener ${name} selects filter chains with filter_chain_matcher, which the oracle does not evaluate`);
  const chain = pickFilterChain(picked, req.port);
  if (!chain) return fail(`listener ${name} has no filter chain for a plaintext HTTP connection`);
  const hcm = hcmOf(chain);
  if (!hcm) return fail(`filter chain ${chainLabel(chain)} of listener ${name} is not HTTP (${filterNames(chain)})`);
  return routeConfigOf(snapshot, name, hcm, fail);
}

function routeConfigOf(
  snapshot: XdsSnapshot,
  listener: string,
  hcm: HttpConnectionManagerJson,
  fail: (detail: string, routeConfig?: string | null) => HttpEntryResult,
): HttpEntryResult {
  if (hcm.route_config) {
    const routeConfigName = hcm.route_config.name || `inline@${listener}`;
    return { ok: true, entry: { listener, hcm, routeConfigName, routeConfig: hcm.route_config } };
  }
  const rdsName = hcm.rds?.route_config_name;
  if (rdsName === undefined) return fail(`the HTTP connection manager of listener ${listener} has neither rds nor route_config (scoped_routes is not evaluated)`);
  const rc = (snapshot.routes as RouteConfigurationJson[]).find((r) => r.name === rdsName);
  if (!rc) return fail(`route configuration ${rdsName} (RDS) is not in the snapshot`, rdsName);
  return { ok: true, entry: { listener, hcm, routeConfigName: rdsName, routeConfig: rc } };
}

/** Returns the listener, or why none was picked. */
function pickListener(listeners: ListenerJson[], req: OracleRequest): ListenerJson | string {
  if (req.listener !== undefined) {
    return listeners.find((l) => l.name === req.listener) ?? `no listener named ${req.listener}`;
  }
  const onPort = listeners.filter((l) => l.address?.socket_address?.port_value === req.port);
  for (const wildcard of WILDCARD_ADDRESSES) {
    const l = onPort.find((x) => x.address?.socket_address?.address === wildcard);
    if (l) return l;
  }
  // Which of several IP-bound listeners a connection reaches depends on its destination IP, which the request lacks.
  if (onPort.length > 0) return `no wildcard listener on port ${req.port} (bound to one IP: ${onPort.map((l) => l.name).join(', ')}; pass \`listener\` to pick one)`;
  return `no listener on port ${req.port}`;
}

/**
 * Envoy's filter chain match narrows level by level and never backtracks: at each criterion the chains naming the
 * connection's value win over the chains leaving it empty, and chains naming another value drop out.
 */
function pickFilterChain(listener: ListenerJson, port: number): FilterChainJson | undefined {
  let chains = listener.filter_chains ?? [];
  const fcm = (c: FilterChainJson): FilterChainMatchJson => c.filter_chain_match ?? {};
  chains = narrow(chains, (c) => fcm(c).destination_port, (p) => p === port);
  chains = chains.filter((c) => coversAnyDestination(fcm(c).prefix_ranges));
  chains = chains.filter((c) => isEmpty(fcm(c).server_names));
  chains = narrow(chains, (c) => fcm(c).transport_protocol || undefined, (t) => t === 'raw_buffer');
  chains = narrow(chains, (c) => (isEmpty(fcm(c).application_protocols) ? undefined : fcm(c).application_protocols), (alpns) =>
    alpns.some((a) => PLAINTEXT_HTTP_ALPNS.includes(a)),
  );
  chains = chains.filter((c) => hasNoSourceCondition(fcm(c)));
  return chains[0] ?? listener.default_filter_chain;
}

/** One level of the match: chains whose criterion fits, else those without the criterion. */
function narrow<T>(chains: FilterChainJson[], criterion: (c: FilterChainJson) => T | undefined, fits: (v: T) => boolean): FilterChainJson[] {
  const specific = chains.filter((c) => {
    const v = criterion(c);
    return v !== undefined && fits(v);
  });
  return specific.length > 0 ? specific : chains.filter((c) => criterion(c) === undefined);
}

/** The source of the connection (the posed workload) is not modelled, so chains conditioned on it are not taken. */
function hasNoSourceCondition(m: FilterChainMatchJson): boolean {
  return isEmpty(m.direct_source_prefix_ranges) && isEmpty(m.source_prefix_ranges) && isEmpty(m.source_ports) && (m.source_type ?? 'ANY') === 'ANY';
}

const isEmpty = (a: unknown[] | undefined): boolean => a === undefined || a.length === 0;

/** Envoy files a chain without prefix_ranges under 0.0.0.0/0 and ::/0, so a /0 range is no condition either. */
function coversAnyDestination(ranges: CidrRangeJson[] | undefined): boolean {
  return isEmpty(ranges) || ranges!.some((r) => (r.prefix_len ?? 0) === 0);
}

function hcmOf(chain: FilterChainJson): HttpConnectionManagerJson | undefined {
  const f = (chain.filters ?? []).find((x: FilterJson) => x.name === HCM_NAME || x.typed_config?.['@type'] === HCM_TYPE);
  return f?.typed_config;
}

const chainLabel = (c: FilterChainJson): string => c.name || JSON.stringify(c.filter_chain_match ?? {});

function filterNames(chain: FilterChainJson): string {
  return (chain.filters ?? []).map((f) => (f.typed_config?.cluster ? `${f.name} to ${f.typed_config.cluster}` : f.name)).join(', ') || 'no filters';
}
