// Open does not hold the Lease through its rollout wait (issue 10, item 3): the clones record which open wrote them
// (dynamic-env.io/open-id), and under the Lease again the open checks that they are still its own before routing.

import { describe, expect, test } from 'vitest';
import { deployment, destinationRule, envSpec, service, snapshot, virtualService, workload } from '../../src/demo/builders.js';
import { DynamicEnvError } from '../../src/errors.js';
import { OPEN_ID_ANNOTATION, checkStillOurs, planWithAnnotations } from '../../src/commands/open.js';
import type { KubeClient } from '../../src/kube/client.js';
import type { ResourceType } from '../../src/kube/resources.js';
import type { Deployment, KubeObject } from '../../src/plan/types.js';

const NS = 'bookinfo';
const snap = () => snapshot({
  deployments: [deployment('reviews-v1', { namespace: NS, labels: { app: 'reviews', version: 'v1' } })],
  services: [service('reviews', { app: 'reviews' }, NS)],
  destinationRules: [destinationRule('reviews', 'reviews', { v1: { version: 'v1' } }, { namespace: NS })],
  virtualServices: [virtualService('reviews', [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS })],
});
const spec = (image = 'ghcr.io/acme/reviews:pr') => envSpec('pr-42', { services: [workload(NS, 'reviews-v1', { containers: [{ image }] })] });

/** Lists by kind; deletes recorded. */
function fake(objects: Record<string, KubeObject[]>) {
  const deleted: string[] = [];
  const client = {
    list: async (type: ResourceType) => ({ items: objects[type.kind] ?? [] }),
    delete: async (type: ResourceType, ns: string, name: string) => {
      deleted.push(`${type.kind} ${ns}/${name}`);
      return true;
    },
  } as unknown as KubeClient;
  return { client, deleted };
}

async function refusal(p: Promise<unknown>): Promise<DynamicEnvError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(DynamicEnvError);
  return e as DynamicEnvError;
}

describe('open id', () => {
  test('every clone records it; the same plan gives the same id (a re-run writes nothing), another image another id', () => {
    const a = planWithAnnotations(snap(), spec());
    const id = a.clones[0]!.metadata.annotations![OPEN_ID_ANNOTATION];
    expect(id).toMatch(/^[0-9a-f]{8}$/);
    expect(planWithAnnotations(snap(), spec()).clones[0]!.metadata.annotations![OPEN_ID_ANNOTATION]).toBe(id);
    expect(planWithAnnotations(snap(), spec('ghcr.io/acme/reviews:pr2')).clones[0]!.metadata.annotations![OPEN_ID_ANNOTATION]).not.toBe(id);
  });
});

describe('checkStillOurs, under the Lease after the rollout wait', () => {
  const plan = () => planWithAnnotations(snap(), spec());

  test('the clones are this open\'s: go on, nothing removed', async () => {
    const p = plan();
    const { client, deleted } = fake({ Deployment: p.clones as unknown as KubeObject[] });
    await checkStillOurs(client, p, () => {});
    expect(deleted).toEqual([]);
  });

  test('another open rewrote the clones: stop without routing, remove nothing', async () => {
    const p = plan();
    const newer = planWithAnnotations(snap(), spec('ghcr.io/acme/reviews:pr2')).clones as Deployment[];
    const { client, deleted } = fake({ Deployment: newer as unknown as KubeObject[] });
    const e = await refusal(checkStillOurs(client, p, () => {}));
    expect(e.message).toMatch(/another open of the env changed clone bookinfo\/reviews-v1-pr-42 while this open waited for its rollout/);
    expect(deleted).toEqual([]);
  });

  test('a close ran (clones gone): stop, saying so; the env\'s leftover DestinationRules go when nothing else of it is left', async () => {
    const p = plan();
    const { client, deleted } = fake({ Deployment: [], DestinationRule: p.destinationRules as unknown as KubeObject[], VirtualService: [] });
    const e = await refusal(checkStillOurs(client, p, () => {}));
    expect(e.message).toMatch(/env pr-42 was closed while this open waited for its rollout/);
    expect(deleted).toEqual([`DestinationRule ${NS}/dynamic-env-pr-42-reviews`]);
  });
});
