// A clone Available is not yet a clone istiod can route to: its pods reach the env subset's cluster only once the
// EndpointSlice controller has listed them in their Services' EndpointSlices, which istiod watches. Routes written
// before that send the env's requests to a cluster with no endpoints (503) for as long as the controller takes, so
// open waits for the slices to list every ready clone pod before it writes routes.
import { servicesSelecting } from '../plan/hosts.js';
import type { Deployment, KubeObject, Pod, Service } from '../plan/types.js';
import { explainApiError, isForbidden, sleep, type KubeClient } from './client.js';
import { ENDPOINT_SLICE } from './resources.js';
import { keyOf, readEnvPods, selects, type Observed } from './rollout.js';

interface EndpointSlice extends KubeObject {
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
}

const POLL_MS = 50;

/**
 * A ready pod's IP. A terminating pod (an old pod of a clone a push updated) is none: it stays Ready while it stops,
 * but the EndpointSlice controller lists it as not ready, and the ReplicaSet no longer counts it.
 */
const readyIp = (p: Pod): string | undefined =>
  !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
    ? (p.status?.podIP as string | undefined) : undefined;

/**
 * Whether `pods` (from another watch than the Deployments') show every ready replica of each clone: a Deployment
 * counted Available may be seen before its Pods' Ready changes are.
 */
export function podsCaughtUp(clones: Deployment[], pods: Pod[]): boolean {
  return clones.every((d) => pods.filter((p) => selects(d.spec.selector.matchLabels, p.metadata.labels) && readyIp(p)).length >= (d.status?.readyReplicas ?? 0));
}

/** `namespace/service` → the IPs of the env's ready pods that Service selects. */
function expectedEndpoints(pods: Pod[], services: Service[]): Map<string, { service: Service; ips: string[] }> {
  const wanted = new Map<string, { service: Service; ips: string[] }>();
  for (const p of pods) {
    const ip = readyIp(p);
    if (!ip) continue;
    const here = services.filter((s) => s.metadata.namespace === p.metadata.namespace);
    for (const s of servicesSelecting(p.metadata.labels, here)) {
      const key = keyOf(s);
      const entry = wanted.get(key) ?? { service: s, ips: [] };
      entry.ips.push(ip);
      wanted.set(key, entry);
    }
  }
  return wanted;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/**
 * `namespace/service` → the ready addresses its EndpointSlices list: one list per namespace, whatever the number of
 * Services (the slices carry their Service's name as a label).
 */
async function readyAddresses(client: KubeClient, services: Service[]): Promise<Map<string, Set<string>>> {
  const byNamespace = new Map<string, string[]>();
  for (const s of services) byNamespace.set(s.metadata.namespace ?? '', [...(byNamespace.get(s.metadata.namespace ?? '') ?? []), s.metadata.name]);
  const out = new Map<string, Set<string>>();
  await Promise.all([...byNamespace].map(async ([namespace, names]) => {
    const slices = await client.list<EndpointSlice>(ENDPOINT_SLICE, namespace, `${SERVICE_NAME_LABEL} in (${[...new Set(names)].sort().join(',')})`);
    for (const slice of slices.items) {
      const key = `${namespace}/${slice.metadata.labels?.[SERVICE_NAME_LABEL] ?? ''}`;
      const ready = out.get(key) ?? new Set<string>();
      for (const e of slice.endpoints ?? []) if (e.conditions?.ready !== false) for (const a of e.addresses) ready.add(a);
      out.set(key, ready);
    }
  }));
  return out;
}

/**
 * Waits until each Service selecting the env's ready pods lists them as ready endpoints, or the deadline passes.
 * Returns what is still missing at the end ('' when nothing): the caller logs it and routes anyway, since the clone
 * is Available. An identity that may not read EndpointSlices (a role older than deploy/rbac.yaml) skips the wait.
 * `seen`: the env as the rollout wait last saw it; its Pods serve when they show every ready replica (else they are
 * read).
 */
export async function waitForEndpoints(client: KubeClient, env: string, services: Service[], deadline: number, seen?: Observed): Promise<string> {
  try {
    const pods = seen && podsCaughtUp(seen.deployments, seen.pods) ? seen.pods
      : await readEnvPods(client, env);
    let pending = [...expectedEndpoints(pods, services).values()];
    for (;;) {
      const listed = await readyAddresses(client, pending.map((p) => p.service));
      pending = pending.filter((p) => !p.ips.every((ip) => listed.get(keyOf(p.service))?.has(ip)));
      if (pending.length === 0) return '';
      if (Date.now() + POLL_MS >= deadline) {
        return pending.map((p) => `Service ${p.service.metadata.namespace}/${p.service.metadata.name}`).join(', ');
      }
      await sleep(POLL_MS);
    }
  } catch (e) {
    if (isForbidden(e)) return '';
    throw explainApiError(e, `reading the endpoints of env ${env}`);
  }
}
