// resolveWorkloads, planOpen's first phase: it returns what it found (workloads, hosts, every problem and warning)
// and never throws, so one round shows the user every problem of the config and the cluster together.
import { describe, expect, test } from 'vitest';
import { deployment, envSpec, service, snapshot, workload } from '../../src/demo/builders.js';
import { resolveWorkloads } from '../../src/plan/workloads.js';

const NS = 'shop';
const web = deployment('web-v1', { namespace: NS, labels: { app: 'web', version: 'v1' } });
const api = deployment('api-v1', { namespace: NS, labels: { app: 'api', version: 'v1' } });

describe('resolveWorkloads', () => {
  test('a service\'s hosts are the Services selecting both its original\'s pods and its clone\'s; a worker gets none', () => {
    const r = resolveWorkloads(
      snapshot({ deployments: [web, api], services: [service('web', { app: 'web' }, NS), service('web-v1', { app: 'web', version: 'v1' }, NS)] }),
      envSpec('pr-7', { services: [workload(NS, 'web-v1')], workers: [workload(NS, 'api-v1')] }),
    );
    expect(r.problems).toEqual([]);
    expect(r.workloads.map((w) => [w.role, w.spec.deployment, w.clone?.metadata.name, w.hosts])).toEqual([
      ['service', 'web-v1', 'web-v1-pr-7', ['web.shop.svc.cluster.local']],
      ['worker', 'api-v1', 'api-v1-pr-7', []],
    ]);
    expect([...r.hosts.keys()]).toEqual(['web.shop.svc.cluster.local']);
    // The Service that names the version selects the original only: said, not refused.
    expect(r.warnings).toEqual([expect.stringContaining('Service shop/web-v1 selects web-v1\'s pods but not the clone\'s')]);
  });

  test('every problem is returned, in config order, and the workloads without one are still resolved', () => {
    const taken = deployment('api-v1-pr-7', { namespace: NS, labels: { app: 'other' } });
    const r = resolveWorkloads(
      snapshot({ deployments: [web, api, taken], services: [service('web', { app: 'web' }, NS)] }),
      envSpec('pr-7', { services: [workload(NS, 'gone'), workload(NS, 'api-v1'), workload(NS, 'web-v1')] }),
    );
    expect(r.problems.map((p) => `${p.subject}: ${p.message}`)).toEqual([
      'Deployment shop/gone: not found',
      'Deployment shop/api-v1-pr-7: already exists and is not env pr-7\'s clone of api-v1, so it cannot be used as the clone',
      'Deployment shop/api-v1: no Service in namespace shop selects its pods, so there is no host to route',
    ]);
    expect(r.workloads.find((w) => w.spec.deployment === 'web-v1')?.hosts).toEqual(['web.shop.svc.cluster.local']);
  });

  test('an env named like a version value pods carry is a problem, naming the Deployment', () => {
    const v2 = deployment('web-v2', { namespace: NS, labels: { app: 'web', version: 'v2' } });
    const r = resolveWorkloads(snapshot({ deployments: [web, v2], services: [service('web', { app: 'web' }, NS)] }),
      envSpec('v2', { services: [workload(NS, 'web-v1')] }));
    expect(r.problems.map((p) => p.subject)).toEqual(['Deployment shop/web-v2']);
  });
});
