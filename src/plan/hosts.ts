// Host names: Services as FQDNs, VirtualService hosts normalised the way DESIGN.md "Routing" describes, and
// which Services select which pods.

import type { Labels, Service } from './types.js';

/** `<svc>.<ns>.svc.<clusterDomain>` */
export function serviceFqdn(name: string, namespace: string, clusterDomain: string): string {
  return `${name}.${namespace}.svc.${clusterDomain}`.toLowerCase();
}

/**
 * A destination or VirtualService host, relative to the VirtualService's namespace, as an FQDN:
 * `svc`, `svc.ns`, `svc.ns.svc` and `svc.ns.svc.<clusterDomain>` all become `svc.ns.svc.<clusterDomain>`.
 * Anything else (external hosts, wildcards, IPs, other domains) is returned as is (lower case).
 */
export function normalizeHost(host: string, vsNamespace: string, clusterDomain: string): string {
  const h = host.trim().toLowerCase().replace(/\.$/, '');
  if (h.includes('*') || h === '') return h;
  const parts = h.split('.');
  if (parts.length === 1) return serviceFqdn(parts[0]!, vsNamespace, clusterDomain);
  if (parts.length === 2) return serviceFqdn(parts[0]!, parts[1]!, clusterDomain);
  if (parts.length === 3 && parts[2] === 'svc') return serviceFqdn(parts[0]!, parts[1]!, clusterDomain);
  return h;
}

/** Whether a (normalised) VirtualService host, possibly a wildcard (`*`, `*.ns.svc.cluster.local`), covers `fqdn`. */
export function hostCovers(vsHost: string, fqdn: string): boolean {
  if (vsHost === '*') return true;
  if (vsHost.startsWith('*.')) return fqdn.endsWith(vsHost.slice(1));
  return vsHost === fqdn;
}

/**
 * A URL that reaches the Service at `fqdn` from inside the mesh, for the curl example: its HTTP port (by Istio's
 * protocol selection: appProtocol, then a port name of `http`, `http-*`, `http2`, `grpc`…; else the first port),
 * left out when it is 80.
 */
export function serviceUrl(fqdn: string, service: Service): string {
  const ports = service.spec.ports ?? [];
  const protocol = (p: (typeof ports)[number]) => String(p.appProtocol ?? p.name ?? '').toLowerCase().split('-')[0] ?? '';
  const port = ports.find((p) => ['http', 'http2', 'grpc', 'grpc-web'].includes(protocol(p)))
    ?? ports.find((p) => protocol(p) === 'https')
    ?? ports[0];
  const scheme = port && protocol(port) === 'https' ? 'https' : 'http';
  const suffix = !port || port.port === (scheme === 'https' ? 443 : 80) ? '' : `:${port.port}`;
  return `${scheme}://${fqdn}${suffix}/`;
}

/** Whether the label selector (equality only) selects pods with these labels. An empty selector selects nothing. */
export function selectorMatches(selector: Labels | undefined, labels: Labels | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  if (entries.length === 0) return false;
  return entries.every(([k, v]) => labels?.[k] === v);
}

/** Whether subset labels (ANDed with the Service selector) select pods with these labels; `{}` selects all. */
export function subsetSelects(subsetLabels: Labels | undefined, podLabels: Labels | undefined): boolean {
  return Object.entries(subsetLabels ?? {}).every(([k, v]) => podLabels?.[k] === v);
}

/** The Services (any namespace given; callers pass one namespace's) whose selector selects these pod labels. */
export function servicesSelecting(podLabels: Labels | undefined, services: Service[]): Service[] {
  return services.filter((s) => selectorMatches(s.spec?.selector, podLabels));
}
