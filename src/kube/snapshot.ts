// Reads what the planner needs in as few calls as possible: one list per kind per namespace for what is
// namespaced by the config, one cluster-wide list for what may live anywhere (VirtualServices, DestinationRules),
// and one label-selected list for the env's own clones wherever they are.
import { ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, cloneName, envsNamingClone } from '../plan/names.js';
import type { Deployment, DestinationRule, Service, Snapshot, VirtualService } from '../plan/types.js';
import { explainApiError, type KubeClient } from './client.js';
import { DEPLOYMENT, DESTINATION_RULE, SERVICE, VIRTUAL_SERVICE } from './resources.js';
import { readSidecarEvidence } from './sidecars.js';

export const envSelector = (env: string): string => `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${ENV_LABEL}=${env}`;
export const managedSelector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

/**
 * For open/plan: the config's namespaces, plus the env's objects anywhere, plus whatever holds the name each of
 * `workloads` would give its clone, so the plan refuses a collision before any write. Another env's clone can hold
 * it (`web` in env `v2-pr-1` and `web-v2` in env `pr-1` both map to `web-v2-pr-1`): the env's clones are listed
 * together with those of every env that could name one of them the same (`envsNamingClone`), one request however
 * many workloads, and of those only the clones holding a planned name are kept.
 */
export async function readOpenSnapshot(
  client: KubeClient,
  namespaces: string[],
  env: string,
  workloads: { namespace: string; deployment: string }[] = [],
): Promise<Snapshot> {
  const names = workloads.map((w) => ({ namespace: w.namespace, name: cloneName(w.deployment, env) }));
  const planned = new Set(names.map((c) => `${c.namespace}/${c.name}`));
  const envs = [...new Set([env, ...names.flatMap((c) => envsNamingClone(c.name))])].sort();
  try {
    const [deployments, services, clones, destinationRules, virtualServices, sidecars] = await Promise.all([
      // Other envs' clones are of no use to this plan and grow with the number of envs; this env's come below.
      Promise.all(namespaces.map((ns) => client.list<Deployment>(DEPLOYMENT, ns, `${MANAGED_BY_LABEL}!=${MANAGED_BY_VALUE}`))),
      Promise.all(namespaces.map((ns) => client.list<Service>(SERVICE, ns))),
      client.list<Deployment>(DEPLOYMENT, undefined, `${managedSelector},${ENV_LABEL} in (${envs.join(',')})`),
      client.list<DestinationRule>(DESTINATION_RULE),
      client.list<VirtualService>(VIRTUAL_SERVICE),
      readSidecarEvidence(client, namespaces),
    ]);
    const held = clones.items.filter((d) => d.metadata.labels?.[ENV_LABEL] === env || planned.has(`${d.metadata.namespace}/${d.metadata.name}`));
    return {
      deployments: [...deployments.flatMap((l) => l.items), ...held],
      services: services.flatMap((l) => l.items),
      destinationRules: destinationRules.items,
      virtualServices: virtualServices.items,
      ...(sidecars ? { sidecars } : {}),
    };
  } catch (e) {
    throw explainApiError(e, 'reading the cluster');
  }
}

/**
 * For close and status: the env's snapshot (as readEnvSnapshot) and every DestinationRule of the cluster (what close
 * un-pins by, what status finds orphans with), the env's own picked from those by label.
 */
export async function readCloseSnapshot(client: KubeClient, env: string): Promise<{ snapshot: Snapshot; rules: DestinationRule[] }> {
  try {
    const [deployments, routing] = await Promise.all([
      client.list<Deployment>(DEPLOYMENT, undefined, envSelector(env)).then((r) => r.items),
      readCloseRouting(client),
    ]);
    return closeSnapshotOf(env, deployments, routing);
  } catch (e) {
    throw explainApiError(e, 'reading the cluster');
  }
}

export interface CloseRouting {
  rules: DestinationRule[];
  virtualServices: VirtualService[];
}

/** What close reads besides the env's clones: every DestinationRule (what it un-pins by) and VirtualService. */
export async function readCloseRouting(client: KubeClient): Promise<CloseRouting> {
  try {
    const [rules, virtualServices] = await Promise.all([
      client.list<DestinationRule>(DESTINATION_RULE).then((r) => r.items),
      client.list<VirtualService>(VIRTUAL_SERVICE).then((r) => r.items),
    ]);
    return { rules, virtualServices };
  } catch (e) {
    throw explainApiError(e, 'reading the cluster');
  }
}

/** Close's snapshot from the env's clones and what readCloseRouting read; the env's own rules picked by label. */
export function closeSnapshotOf(env: string, deployments: Deployment[], { rules, virtualServices }: CloseRouting): { snapshot: Snapshot; rules: DestinationRule[] } {
  const own = rules.filter((d) => d.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && d.metadata.labels?.[ENV_LABEL] === env);
  return { snapshot: { deployments, services: [], destinationRules: own, virtualServices }, rules };
}

/** What heal reads besides the env's clones: the env's DestinationRules and every VirtualService. */
export async function readEnvRouting(client: KubeClient, env: string): Promise<Pick<Snapshot, 'destinationRules' | 'virtualServices'>> {
  try {
    const [destinationRules, virtualServices] = await Promise.all([
      client.list<DestinationRule>(DESTINATION_RULE, undefined, envSelector(env)),
      client.list<VirtualService>(VIRTUAL_SERVICE),
    ]);
    return { destinationRules: destinationRules.items, virtualServices: virtualServices.items };
  } catch (e) {
    throw explainApiError(e, 'reading the cluster');
  }
}

/**
 * For close/status: only what carries the env's labels, plus every VirtualService (routes are found by name), unless
 * `routes` is false (what the env records about its owner is all that is asked). `cached`: as the API server's watch
 * cache holds them (KubeClient.listCached), for a look that a consistent read under the Lease repeats.
 */
export async function readEnvSnapshot(client: KubeClient, env: string, { routes = true, cached = false } = {}): Promise<Snapshot> {
  const list = cached ? client.listCached.bind(client) : client.list.bind(client);
  try {
    const [deployments, destinationRules, virtualServices] = await Promise.all([
      list<Deployment>(DEPLOYMENT, undefined, envSelector(env)),
      list<DestinationRule>(DESTINATION_RULE, undefined, envSelector(env)),
      routes ? list<VirtualService>(VIRTUAL_SERVICE) : { items: [] },
    ]);
    return { deployments: deployments.items, services: [], destinationRules: destinationRules.items, virtualServices: virtualServices.items };
  } catch (e) {
    throw explainApiError(e, 'reading the cluster');
  }
}
