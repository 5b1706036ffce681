// Reads the pods' side of sidecar injection for src/plan/sidecars.ts: at most one pod per question, by the label
// Istio's injector adds, so even a big cluster costs one tiny request (plus one per namespace where sidecars exist), in parallel with the rest.
import { INJECTED_POD_SELECTOR, type SidecarEvidence } from '../plan/sidecars.js';
import type { Pod } from '../plan/types.js';
import { isForbidden, type KubeClient } from './client.js';
import { POD } from './resources.js';

const anyInjectedPod = async (client: KubeClient, namespace?: string): Promise<boolean> =>
  (await client.list<Pod>(POD, namespace, INJECTED_POD_SELECTOR, undefined, 1)).items.length > 0;

/**
 * Undefined when this identity may not list pods (a role narrower than deploy/rbac.yaml): a warning is no reason to
 * fail. The namespaces are asked only in a cluster with a sidecar somewhere (without one there is nothing to compare
 * with), so a cluster without sidecars pays one request and an open stays within its request budget (issue 9).
 */
export async function readSidecarEvidence(client: KubeClient, namespaces: string[]): Promise<SidecarEvidence | undefined> {
  try {
    if (!(await anyInjectedPod(client))) return { clusterHasSidecars: false, namespacesWithSidecars: [] };
    const perNamespace = await Promise.all(namespaces.map(async (ns) => [ns, await anyInjectedPod(client, ns)] as const));
    return { clusterHasSidecars: true, namespacesWithSidecars: perNamespace.filter(([, has]) => has).map(([ns]) => ns) };
  } catch (e) {
    if (isForbidden(e)) return undefined;
    throw e;
  }
}
