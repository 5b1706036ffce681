// Permission checks before the first write. The API server answers, for this identity, whether each planned write
// is allowed (SelfSubjectAccessReview, which every authenticated user may ask), so a missing RoleBinding is
// reported before anything is written instead of leaving an env half open (clones written, routes refused).
import { clusterError } from '../errors.js';
import type { KubeObject } from '../plan/types.js';
import type { KubeClient } from './client.js';
import type { ResourceType } from './resources.js';

const ACCESS_REVIEW: ResourceType = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', plural: 'selfsubjectaccessreviews', namespaced: false };

export interface WriteIntent {
  verb: 'create' | 'update' | 'delete';
  type: ResourceType;
  namespace: string;
  name: string;
}

interface AccessReview extends KubeObject {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

/**
 * Throws one cluster error naming every write the API server says this identity may not make, and the RoleBinding
 * that grants it. One review per (verb, resource, namespace) answers for every name in it; only where that is
 * refused (a Role limited by resourceNames may still allow some names) is each name asked about. A review that
 * cannot be asked (an API server without the endpoint, a transient failure) does not block: the write itself
 * would then report the refusal.
 */
export async function checkWrites(client: KubeClient, intents: WriteIntent[]): Promise<void> {
  const groups = new Map<string, WriteIntent[]>();
  for (const i of intents) {
    const key = `${i.verb} ${i.type.apiVersion} ${i.type.plural} ${i.namespace}`;
    const group = groups.get(key) ?? [];
    if (!group.some((g) => g.name === i.name)) group.push(i);
    groups.set(key, group);
  }
  const denied = (await Promise.all([...groups.values()].map(async (group) => {
    if (await allowed(client, group[0]!)) return [];
    const each = await Promise.all(group.map(async (i) => ((await allowed(client, group[0]!, i.name)) ? null : i)));
    return each.filter((i): i is WriteIntent => i !== null);
  }))).flat();
  const lines = denied
    .map((i) => `${i.type.kind} ${i.namespace}/${i.name}: this identity may not ${i.verb} it (forbidden); grant it with ` +
      `deploy/rbac.yaml (a RoleBinding to dynamic-env-write in namespace ${i.namespace})`)
    .sort();
  if (lines.length > 0) throw clusterError(lines);
}

/** Whether the API server lets this identity make the write, for one name or (no name) for any. */
async function allowed(client: KubeClient, i: WriteIntent, name?: string): Promise<boolean> {
  const group = i.type.apiVersion.includes('/') ? i.type.apiVersion.split('/')[0]! : '';
  try {
    const review = await client.create<AccessReview>(ACCESS_REVIEW, {
      apiVersion: ACCESS_REVIEW.apiVersion,
      kind: ACCESS_REVIEW.kind,
      metadata: {} as KubeObject['metadata'],
      spec: { resourceAttributes: { verb: i.verb, group, resource: i.type.plural, namespace: i.namespace, ...(name ? { name } : {}) } },
    });
    return review.status?.allowed === true;
  } catch {
    return true;
  }
}
