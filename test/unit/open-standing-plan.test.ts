// Under the Lease, open re-reads only the env's clones: the same as validation saw -> validation's read and plan
// stand (no second full read); changed, or validation caught another run halfway (the env's DestinationRules without
// clones) -> it reads and plans again. Against an in-memory cluster that counts reads.
import { describe, expect, test } from 'vitest';
import { deployment, destinationRule, envSpec, service, snapshot, virtualService, workload } from '../../src/demo/builders.js';
import { openEnv } from '../../src/commands/open.js';
import { ApiStatusError, type KubeClient } from '../../src/kube/client.js';
import type { ResourceType } from '../../src/kube/resources.js';
import type { KubeObject } from '../../src/plan/types.js';

const NS = 'bookinfo';
const ENV = 'pr-42';

/** A cluster of objects by kind; writes bump resourceVersions; `onCreate` runs before a create of that kind. */
function cluster(objects: KubeObject[], onCreate: Record<string, () => void> = {}) {
  let rv = 100;
  const store = new Map<string, KubeObject>();
  const key = (kind: string, ns: string | undefined, name: string) => `${kind} ${ns ?? ''}/${name}`;
  const put = (o: KubeObject) => {
    const copy = structuredClone({ ...o, metadata: { ...o.metadata, resourceVersion: String(++rv) } });
    store.set(key(o.kind, o.metadata.namespace, o.metadata.name), copy);
    return structuredClone(copy);
  };
  for (const o of objects) put(o);
  const selects = (o: KubeObject, selector = '') => selector.split(',').filter(Boolean).every((term) => {
    const [k, v] = term.split(/!?=/) as [string, string];
    return (o.metadata.labels?.[k] === v) !== term.includes('!=');
  });
  const lists: string[] = [];
  const client = {
    list: async (type: ResourceType, namespace?: string, labelSelector?: string) => {
      lists.push(`${type.kind}${labelSelector ? ` ${labelSelector}` : ''}`);
      return {
        items: [...store.values()].filter((o) => o.kind === type.kind && (!namespace || o.metadata.namespace === namespace) && selects(o, labelSelector)).map((o) => structuredClone(o)),
        resourceVersion: String(rv),
      };
    },
    get: async (type: ResourceType, ns: string | undefined, name: string) => structuredClone(store.get(key(type.kind, ns, name)) ?? null),
    create: async (type: ResourceType, o: KubeObject) => {
      if (type.kind === 'SelfSubjectRulesReview') return { ...o, status: { resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] } };
      onCreate[type.kind]?.();
      if (store.has(key(type.kind, o.metadata.namespace, o.metadata.name))) throw new ApiStatusError(409, 'AlreadyExists', '', 'POST', '');
      return put({ ...o, kind: type.kind });
    },
    replace: async (type: ResourceType, o: KubeObject) => {
      const cur = store.get(key(type.kind, o.metadata.namespace, o.metadata.name));
      if (!cur) throw new ApiStatusError(404, 'NotFound', '', 'PUT', '');
      if (cur.metadata.resourceVersion !== o.metadata.resourceVersion) throw new ApiStatusError(409, 'Conflict', '', 'PUT', '');
      return put({ ...o, kind: type.kind });
    },
    delete: async (type: ResourceType, ns: string, name: string) => store.delete(key(type.kind, ns, name)),
  };
  const has = (kind: string, name: string) => store.has(key(kind, NS, name));
  const remove = (kind: string, name: string) => store.delete(key(kind, NS, name));
  return { client: client as unknown as KubeClient, lists, has, remove };
}

const user = [
  deployment('reviews-v1', { namespace: NS, labels: { app: 'reviews', version: 'v1' } }),
  service('reviews', { app: 'reviews' }, NS),
  destinationRule('reviews', 'reviews', { v1: { version: 'v1' } }, { namespace: NS }),
  virtualService('reviews', [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS }),
] as unknown as KubeObject[];
const spec = envSpec(ENV, { services: [workload(NS, 'reviews-v1', { containers: [{ image: 'ghcr.io/acme/reviews:pr' }] })] });
const open = (client: KubeClient) => openEnv({ client, spec, run: { lockNamespace: NS, wait: false, timeoutSeconds: 1 }, drainMs: 0 });
const rule = `dynamic-env-${ENV}-reviews`;
const snapshotReads = (lists: string[]) => lists.filter((l) => l === 'VirtualService').length;

describe('open under the Lease', () => {
  test('a new env: the clones read under the Lease are the same (none), the cluster is read once', async () => {
    const c = cluster(user);
    await open(c.client);
    expect(snapshotReads(c.lists)).toBe(1);
    expect(c.has('Deployment', `reviews-v1-${ENV}`) && c.has('DestinationRule', rule)).toBe(true);
  });

  test('another run gave the env a clone meanwhile: read and planned again', async () => {
    const other = deployment(`other-${ENV}`, { namespace: NS, metaLabels: { 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/env': ENV } });
    const c = cluster(user, { Lease: () => void c.client.create({ apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true }, other as unknown as KubeObject) });
    await open(c.client);
    expect(snapshotReads(c.lists)).toBe(2);
  });

  test('validation caught a close halfway (rules without clones), which then removed the rules: read again, the rules written', async () => {
    // What a close leaves between deleting the clones and deleting the DestinationRules.
    const c0 = cluster(user);
    await open(c0.client);
    const halfClosed = cluster([...user, ...(await c0.client.list({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', plural: 'destinationrules', namespaced: true })).items.filter((d) => d.metadata.name === rule)],
      { Lease: () => void halfClosed.remove('DestinationRule', rule) });
    await open(halfClosed.client);
    expect(snapshotReads(halfClosed.lists)).toBe(2);
    expect(halfClosed.has('DestinationRule', rule)).toBe(true);
  });
});
