// The :authority the router sees, and the virtual host it picks (RouteMatcher::findVirtualHost in Envoy's
// source/common/router/config_impl.cc; VirtualHost.domains in the API docs).

import { parseInt64 } from './header-match.js';
import { asciiLower } from './string-match.js';
import { OracleConfigError, type HttpConnectionManagerJson, type RouteConfigurationJson, type VirtualHostJson } from './types.js';

/** Http::HeaderUtility::getPortStart: the last ":" unless it sits inside an IPv6 literal's brackets. */
export function portStart(host: string): number {
  const colon = host.lastIndexOf(':');
  if (colon < 0) return -1;
  const bracket = host.lastIndexOf(']');
  return bracket < 0 || bracket < colon ? colon : -1;
}

/**
 * The HTTP connection manager rewrites :authority before routing and before header matchers see it:
 * strip_trailing_host_dot, then strip_any_host_port or strip_matching_host_port (only a numeric port, and for the
 * latter only the listener's own port).
 */
export function authorityAfterHcm(authority: string, hcm: HttpConnectionManagerJson, listenerPort: number): string {
  let host = hcm.strip_trailing_host_dot === true ? withoutTrailingDot(authority) : authority;
  if (hcm.strip_any_host_port === true || hcm.strip_matching_host_port === true) {
    const i = portStart(host);
    const port = i < 0 ? undefined : parseInt64(host.slice(i + 1));
    const strip = port !== undefined && port >= 0n && (hcm.strip_any_host_port === true || port === BigInt(listenerPort));
    if (strip) host = host.slice(0, i);
  }
  return host;
}

function withoutTrailingDot(host: string): string {
  if (host.endsWith('.')) return host.slice(0, -1);
  const dot = host.lastIndexOf('.');
  return dot >= 0 && host[dot + 1] === ':' ? host.slice(0, dot) + host.slice(dot + 1) : host;
}

/**
 * Exact domains, then suffix wildcards (`*.foo.com`, longest first), then prefix wildcards (`foo.*`, longest first),
 * then `*`. The host keeps its port unless ignore_port_in_host_matching (which Istio sets) drops it; a domain that
 * carries a port therefore only matches an authority with that port when the flag is off. Wildcards never match
 * an empty part: `*.foo.com` does not match `.foo.com`.
 */
export function findVirtualHost(rc: RouteConfigurationJson, hostValue: string | undefined): VirtualHostJson | undefined {
  const table = domainTable(rc);
  if (table.exact.size === 0 && table.suffixes.length === 0 && table.prefixes.length === 0) return table.any;
  if (hostValue === undefined) return undefined;
  const i = rc.ignore_port_in_host_matching === true ? portStart(hostValue) : -1;
  const host = asciiLower(i < 0 ? hostValue : hostValue.slice(0, i));
  return (
    table.exact.get(host) ??
    longestWildcard(table.suffixes, host, (h, n) => h.slice(h.length - n)) ??
    longestWildcard(table.prefixes, host, (h, n) => h.slice(0, n)) ??
    table.any
  );
}

interface DomainTable {
  exact: Map<string, VirtualHostJson>;
  /** [the domain without its "*", virtual host], longest first. */
  suffixes: [string, VirtualHostJson][];
  prefixes: [string, VirtualHostJson][];
  any: VirtualHostJson | undefined;
}

function domainTable(rc: RouteConfigurationJson): DomainTable {
  const table: DomainTable = { exact: new Map(), suffixes: [], prefixes: [], any: undefined };
  const seen = new Set<string>();
  for (const vh of rc.virtual_hosts ?? []) {
    for (const raw of vh.domains ?? []) {
      const domain = asciiLower(raw);
      // Envoy refuses such a route configuration, so no answer about it would be Envoy's.
      if (seen.has(domain)) throw new OracleConfigError(`route configuration ${rc.name}: domain ${domain} appears twice`);
      seen.add(domain);
      addDomain(table, domain, vh);
    }
  }
  const longestFirst = (a: [string, VirtualHostJson], b: [string, VirtualHostJson]): number => b[0].length - a[0].length;
  table.suffixes.sort(longestFirst);
  table.prefixes.sort(longestFirst);
  return table;
}

function addDomain(table: DomainTable, domain: string, vh: VirtualHostJson): void {
  if (domain === '*') table.any = vh;
  else if (domain.startsWith('*')) table.suffixes.push([domain.slice(1), vh]);
  else if (domain.endsWith('*')) table.prefixes.push([domain.slice(0, -1), vh]);
  else table.exact.set(domain, vh);
}

function longestWildcard(
  wildcards: [string, VirtualHostJson][],
  host: string,
  part: (host: string, length: number) => string,
): VirtualHostJson | undefined {
  return wildcards.find(([w]) => w.length < host.length && part(host, w.length) === w)?.[1];
}
