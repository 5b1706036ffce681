// ensureObject when an env's object is found at its name although the snapshot had none there (created since the
// cluster was read): it is replaced only if it is the same env's. The API is a stub answering create with 409
// AlreadyExists and the read with what holds the name.
import { describe, expect, test } from 'vitest';
import { deployment } from '../../src/demo/builders.js';
import { ensureObject } from '../../src/kube/apply.js';
import { ApiStatusError, type KubeClient } from '../../src/kube/client.js';
import { DEPLOYMENT } from '../../src/kube/resources.js';
import { ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/plan/names.js';
import type { Deployment } from '../../src/plan/types.js';

const clone = (env: string, labels: Record<string, string> = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [ENV_LABEL]: env }): Deployment =>
  ({ ...deployment('web-v2-pr-1', { namespace: 'shop', labels }), metadata: { name: 'web-v2-pr-1', namespace: 'shop', labels, resourceVersion: '7' } });

function holding(existing: Deployment) {
  const writes: string[] = [];
  const client = {
    create: async () => {
      writes.push('create');
      throw new ApiStatusError(409, 'AlreadyExists', 'deployments.apps "web-v2-pr-1" already exists', 'POST', '/apis/apps/v1/namespaces/shop/deployments');
    },
    get: async () => structuredClone(existing),
    replace: async (_t: unknown, o: Deployment) => {
      writes.push('replace');
      return o;
    },
  } as unknown as KubeClient;
  return { client, writes };
}

describe('ensureObject on a name taken since the snapshot', () => {
  test("another env's clone is left as it is: a cluster error naming it, no replace", async () => {
    const { client, writes } = holding(clone('v2-pr-1'));
    await expect(ensureObject(client, DEPLOYMENT, clone('pr-1'), null)).rejects.toThrow(
      "Deployment shop/web-v2-pr-1 was made by env v2-pr-1 after env pr-1's open read the cluster, and was left as it is");
    expect(writes).toEqual(['create']);
  });

  test("a user's Deployment (not made by dynamic-env) is left as it is", async () => {
    const { client, writes } = holding(clone('pr-1', { app: 'web' }));
    await expect(ensureObject(client, DEPLOYMENT, clone('pr-1'), null)).rejects.toThrow('was made by someone other than dynamic-env after');
    expect(writes).toEqual(['create']);
  });

  test("the same env's clone (another run of the env made it) is brought to what this run wants", async () => {
    const { client, writes } = holding(clone('pr-1'));
    const desired = clone('pr-1');
    desired.spec!.replicas = 3;
    expect((await ensureObject(client, DEPLOYMENT, desired, null)).outcome).toBe('updated');
    expect(writes).toEqual(['create', 'replace']);
  });
});
