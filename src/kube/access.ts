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
 * that grants it. A review that cannot be asked (an API server without the endpoint, a transient failure) does
 * not block: the write itself would then report the refusal.
 */
export async function checkWrites(client: KubeClient, intents: WriteIntent[]): Promise<void> {
  const unique = new Map<string, WriteIntent>();
  for (const i of intents) unique.set(`${i.verb} ${i.type.apiVersion} ${i.type.plural} ${i.namespace}/${i.name}`, i);
  const denied = await Promise.all([...unique.values()].map(async (i) => {
    const group = i.type.apiVersion.includes('/') ? i.type.apiVersion.split('/')[0]! : '';
    try {
      const review = await client.create<AccessReview>(ACCESS_REVIEW, {
        apiVersion: ACCESS_REVIEW.apiVersion,
        kind: ACCESS_REVIEW.kind,
        metadata: {} as KubeObject['metadata'],
        spec: { resourceAttributes: { verb: i.verb, group, resource: i.type.plural, namespace: i.namespace, name: i.name } },
      });
      return review.status?.allowed === true ? null : i;
    } catch {
      return null;
    }
  }));
  const lines = denied
    .filter((i): i is WriteIntent => i !== null)
    .map((i) => `${i.type.kind} ${i.namespace}/${i.name}: this identity may not ${i.verb} it (forbidden); grant it with ` +
      `deploy/rbac.yaml (a RoleBinding to dynamic-env-write in namespace ${i.namespace})`)
    .sort();
  if (lines.length > 0) throw clusterError(lines);
}
