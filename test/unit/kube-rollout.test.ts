// A ReplicaFailure that was there before a wait began may be stale (its cause fixed since): assessRollout gives it
// a grace period, and open marks such a clone so the ReplicaSet controller retries at once.
import { describe, expect, test } from 'vitest';
import { assessRollout } from '../../src/kube/rollout.js';
import { podsCaughtUp, waitForEndpoints } from '../../src/kube/endpoints.js';
import type { KubeClient } from '../../src/kube/client.js';
import { RETRY_ANNOTATION, planWithAnnotations } from '../../src/commands/open.js';
import { deployment, destinationRule, envSpec, service, snapshot, virtualService, workload } from '../../src/demo/builders.js';
import type { Deployment, Pod } from '../../src/plan/types.js';

const failing = (at: string, ready = 0): Deployment => {
  const d = deployment('api-pr-1', { labels: { app: 'api', version: 'pr-1' }, replicas: 1 });
  d.metadata.generation = 1;
  d.status = {
    observedGeneration: 1, replicas: ready, readyReplicas: ready, availableReplicas: ready, updatedReplicas: ready,
    conditions: [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'serviceaccount "x" not found', lastTransitionTime: at }],
  };
  return d;
};

describe('assessRollout and stale ReplicaFailure', () => {
  const t = Date.parse('2026-03-01T10:00:00Z');
  test('without a grace, ReplicaFailure is final', () => {
    expect(assessRollout(failing('2026-03-01T09:59:00Z'), [], [])).toMatchObject({ state: 'failed', reason: 'FailedCreate: serviceaccount "x" not found' });
  });
  test('a failure from before the wait is not final during the grace: progressing, saying why', () => {
    expect(assessRollout(failing('2026-03-01T09:59:00Z'), [], [], undefined, t)).toEqual({
      state: 'progressing', reason: '0/1 ready (retrying after FailedCreate: serviceaccount "x" not found)', ready: 0, desired: 1,
    });
  });
  test('a failure that appeared during the wait is final at once', () => {
    expect(assessRollout(failing('2026-03-01T10:00:05Z'), [], [], undefined, t).state).toBe('failed');
  });
  test('a stale condition on a rolled-out clone does not hide that it is ready', () => {
    expect(assessRollout(failing('2026-03-01T09:59:00Z', 1), [], [], undefined, t).state).toBe('ready');
  });
  test('timing out during the grace reports the failure', () => {
    expect(assessRollout(failing('2026-03-01T09:59:00Z'), [], [], 5, t)).toMatchObject({ state: 'failed', reason: 'timed out after 5s: FailedCreate: serviceaccount "x" not found' });
  });
  test('timing out with some pods ready is failed, not degraded: the env is not routed to a clone short of Available', () => {
    const d = failing('2026-03-01T09:59:00Z', 1);
    d.spec.replicas = 2;
    d.status!.conditions = [];
    expect(assessRollout(d, [], [], 5)).toEqual({ state: 'failed', reason: 'timed out after 5s: 1/2 ready', ready: 1, desired: 2 });
  });
});

describe('assessRollout diagnoses from events alone', () => {
  test('a FailedScheduling event before the Pod shows its condition says unschedulable, as the condition would', () => {
    const d = deployment('api-pr-1', { labels: { app: 'api', version: 'pr-1' }, replicas: 1 });
    d.status = { observedGeneration: d.metadata.generation, replicas: 1, updatedReplicas: 1 };
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-pr-1-x', namespace: 'default', labels: { app: 'api', version: 'pr-1' } }, status: {} };
    const event = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' }, type: 'Warning', reason: 'FailedScheduling',
      message: '0/1 nodes are available: 1 node(s) didn\'t match Pod\'s node affinity/selector.', involvedObject: { kind: 'Pod', namespace: 'default', name: 'api-pr-1-x' } };
    expect(assessRollout(d, [pod as never], [event as never])).toMatchObject({
      state: 'failed', reason: "pod api-pr-1-x: unschedulable: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
    });
  });
});

describe('assessRollout and a push\'s old pods', () => {
  test('a terminating pod (an old pod the push replaced) that crash-loops on its way out is not the clone\'s trouble', () => {
    const d = deployment('api-pr-1', { labels: { app: 'api', version: 'pr-1' }, replicas: 1 });
    d.status = { observedGeneration: d.metadata.generation, replicas: 2, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 };
    const labels = { app: 'api', version: 'pr-1' };
    const crashing = (name: string, deletionTimestamp?: string) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels, ...(deletionTimestamp ? { deletionTimestamp } : {}) },
      status: { containerStatuses: [{ name: 'api', restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } } }] },
    });
    // Still rolling (the old pod not gone yet): progressing, not failed.
    expect(assessRollout(d, [crashing('api-pr-1-old', '2026-12-03T10:00:00Z') as never], [])).toMatchObject({ state: 'progressing' });
    // The same trouble on a pod that is not terminating is the clone's.
    expect(assessRollout(d, [crashing('api-pr-1-new') as never], [])).toMatchObject({ state: 'degraded', reason: 'pod api-pr-1-new: container api: CrashLoopBackOff: back-off' });
  });
});

describe('open marks a clone whose ReplicaSet could not create Pods', () => {
  const original = deployment('api', { labels: { app: 'api', version: 'v1' } });
  const base = {
    services: [service('api', { app: 'api' })],
    destinationRules: [destinationRule('api', 'api', { v1: { version: 'v1' } })],
    virtualServices: [virtualService('api', [{ name: 'default', route: [{ destination: { host: 'api', subset: 'v1' } }] }])],
  };
  const spec = envSpec('pr-1', { services: [workload('default', 'api')], now: '2026-03-01T10:00:00Z' });
  const existingClone = (conditions: NonNullable<Deployment['status']>['conditions'], annotations: Record<string, string> = {}) => {
    const clone = planWithAnnotations(snapshot({ ...base, deployments: [original] }), spec).clones[0]!;
    clone.metadata.annotations = { ...clone.metadata.annotations, ...annotations };
    clone.status = { conditions };
    return clone;
  };
  const annotationAfter = (clone: Deployment) =>
    planWithAnnotations(snapshot({ ...base, deployments: [original, clone] }), spec).clones[0]!.metadata.annotations?.[RETRY_ANNOTATION];

  test('not on a new clone', () => {
    expect(planWithAnnotations(snapshot({ ...base, deployments: [original] }), spec).clones[0]!.metadata.annotations?.[RETRY_ANNOTATION]).toBeUndefined();
  });
  test('with the run time while ReplicaFailure is true', () => {
    expect(annotationAfter(existingClone([{ type: 'ReplicaFailure', status: 'True' }]))).toBe('2026-03-01T10:00:00Z');
  });
  test('kept as it is once healthy, so a re-run writes nothing', () => {
    expect(annotationAfter(existingClone([{ type: 'Available', status: 'True' }], { [RETRY_ANNOTATION]: '2026-02-01T00:00:00Z' }))).toBe('2026-02-01T00:00:00Z');
    expect(annotationAfter(existingClone([{ type: 'Available', status: 'True' }]))).toBeUndefined();
  });
});

describe('podsCaughtUp: whether the Pods watch shows what the Deployments watch counts ready', () => {
  const clone = (readyReplicas: number): Deployment => {
    const d = deployment('api-pr-1', { labels: { app: 'api', version: 'pr-1' }, replicas: 2 });
    d.status = { readyReplicas };
    return d;
  };
  const pod = (name: string, ready: boolean, labels = { app: 'api', version: 'pr-1' }): Pod => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels },
    status: { podIP: `10.0.0.${name.length}`, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  } as Pod);
  test('every ready replica has a ready Pod with an IP: caught up', () => {
    expect(podsCaughtUp([clone(2)], [pod('a', true), pod('bb', true)])).toBe(true);
  });
  test('a Pod whose Ready change has not arrived yet: not caught up (open reads the Pods again)', () => {
    expect(podsCaughtUp([clone(2)], [pod('a', true), pod('bb', false)])).toBe(false);
  });
  test('ready Pods of another Deployment do not count', () => {
    expect(podsCaughtUp([clone(1)], [pod('a', true, { app: 'web', version: 'pr-1' })])).toBe(false);
  });
});

describe('waitForEndpoints: the clone pods in their Services\' EndpointSlices before the routes', () => {
  const pod = (name: string, namespace: string, app: string, ip: string): Pod => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels: { app, version: 'pr-1', 'dynamic-env.io/env': 'pr-1' } },
    status: { podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
  } as Pod);
  const pods = [pod('web-1', 'shop', 'web', '10.0.0.1'), pod('api-1', 'shop', 'api', '10.0.0.2'), pod('db-1', 'data', 'db', '10.0.0.3')];
  const services = [service('web', { app: 'web' }, 'shop'), service('api', { app: 'api' }, 'shop'), service('db', { app: 'db' }, 'data')];
  const clone = (name: string, namespace: string, app: string) => {
    const d = deployment(name, { namespace, labels: { app, version: 'pr-1' }, replicas: 1 });
    d.status = { readyReplicas: 1 };
    return d;
  };
  const seen = { deployments: [clone('web-pr-1', 'shop', 'web'), clone('api-pr-1', 'shop', 'api'), clone('db-pr-1', 'data', 'db')], pods, events: [] };
  const slice = (namespace: string, service: string, ip: string) => ({ metadata: { name: `${service}-x`, namespace, labels: { 'kubernetes.io/service-name': service } }, endpoints: [{ addresses: [ip] }] });

  /** A client whose EndpointSlice lists show `ready` (polled ones growing), recording each list's namespace and selector. */
  const fake = (polls: ReturnType<typeof slice>[][]) => {
    const asked: string[] = [];
    let n = 0;
    const client = {
      list: async (_type: unknown, namespace: string, selector: string) => {
        asked.push(`${namespace}: ${selector}`);
        const shown = polls[Math.min(Math.floor(n++ / 2), polls.length - 1)]!;
        return { items: shown.filter((s) => s.metadata.namespace === namespace) };
      },
    } as unknown as KubeClient;
    return { client, asked };
  };

  test('one list per namespace for all its Services, then only for those still missing their pods', async () => {
    const { client, asked } = fake([
      [slice('shop', 'web', '10.0.0.1'), slice('data', 'db', '10.0.0.3')],
      [slice('shop', 'web', '10.0.0.1'), slice('shop', 'api', '10.0.0.2'), slice('data', 'db', '10.0.0.3')],
    ]);
    expect(await waitForEndpoints(client, 'pr-1', services, Date.now() + 5_000, seen)).toBe('');
    expect(asked.slice(0, 2).sort()).toEqual(['data: kubernetes.io/service-name in (db)', 'shop: kubernetes.io/service-name in (api,web)']);
    expect(asked.slice(2)).toEqual(['shop: kubernetes.io/service-name in (api)']);
  });

  test('a terminating pod (the old pod of a clone a push updated) is not waited for: the slices list it as not ready', async () => {
    const old = { ...pod('web-0', 'shop', 'web', '10.0.0.9'), metadata: { ...pod('web-0', 'shop', 'web', '10.0.0.9').metadata, deletionTimestamp: '2026-12-03T10:00:00Z' } } as Pod;
    const { client, asked } = fake([[slice('shop', 'web', '10.0.0.1'), slice('shop', 'api', '10.0.0.2'), slice('data', 'db', '10.0.0.3')]]);
    expect(await waitForEndpoints(client, 'pr-1', services, Date.now() + 2_000, { ...seen, pods: [...pods, old] })).toBe('');
    expect(asked).toHaveLength(2); // one look per namespace, nothing polled again
  });

  test('at the deadline: the Services still missing a pod, named', async () => {
    const { client } = fake([[slice('shop', 'web', '10.0.0.1')]]);
    expect(await waitForEndpoints(client, 'pr-1', services, Date.now() + 200, seen)).toBe('Service shop/api, Service data/db');
  });
});
