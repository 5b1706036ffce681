// What a route's cluster is in the snapshot: whether it exists, and the endpoints Envoy would balance over.

import type { ClusterJson, ClusterLoadAssignmentJson, ClusterOutcome, LbEndpointJson, XdsSnapshot } from './types.js';

/** Health states Envoy's load balancer keeps traffic off (EDS health_status). */
const UNHEALTHY = new Set(['UNHEALTHY', 'DRAINING', 'TIMEOUT']);

export function clusterOutcome(snapshot: XdsSnapshot, name: string, weight: number): ClusterOutcome {
  const cluster = (snapshot.clusters as ClusterJson[]).find((c) => c.name === name);
  const assignment = cluster ? loadAssignmentOf(snapshot, cluster) : undefined;
  const lbEndpoints = (assignment?.endpoints ?? []).flatMap((locality) => locality.lb_endpoints ?? []);
  return {
    name,
    weight,
    exists: cluster !== undefined,
    endpoints: addresses(lbEndpoints),
    unhealthyEndpoints: addresses(lbEndpoints.filter((e) => UNHEALTHY.has(e.health_status ?? ''))),
    loadAssignment: assignment !== undefined,
    type: cluster ? discoveryType(cluster) : null,
    ...istioNameParts(name),
  };
}

/** protojson omits the default enum value, so a cluster without `type` (and without `cluster_type`) is STATIC. */
function discoveryType(c: ClusterJson): string {
  if (c.cluster_type !== undefined) return c.cluster_type.name ?? 'CUSTOM';
  return c.type ?? 'STATIC';
}

/** EDS: the assignment named by eds_cluster_config.service_name, or by the cluster's name; otherwise the inline one. */
function loadAssignmentOf(snapshot: XdsSnapshot, c: ClusterJson): ClusterLoadAssignmentJson | undefined {
  if (discoveryType(c) !== 'EDS') return c.load_assignment;
  const serviceName = c.eds_cluster_config?.service_name || c.name;
  return (snapshot.endpoints as ClusterLoadAssignmentJson[]).find((a) => a.cluster_name === serviceName);
}

/**
 * "ip:port" (no brackets for IPv6, so callers can cut the port at the last ":"), sorted. An address of another kind
 * (an internal listener, a pipe) is kept as its JSON rather than dropped, so an assertion on endpoints sees it.
 */
function addresses(endpoints: LbEndpointJson[]): string[] {
  return endpoints.map((e) => addressOf(e)).sort();
}

function addressOf(e: LbEndpointJson): string {
  const a = e.endpoint?.address;
  const s = a?.socket_address;
  return s?.address !== undefined ? `${s.address}:${s.port_value ?? 0}` : JSON.stringify(a ?? null);
}

/** Istio names clusters "direction|port|subset|host". */
export function istioNameParts(name: string): { subset: string | null; host: string | null } {
  const parts = name.split('|');
  if (parts.length !== 4) return { subset: null, host: null };
  return { subset: parts[2] || null, host: parts[3] || null };
}
