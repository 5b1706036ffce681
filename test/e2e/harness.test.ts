// Smoke tests that prove the harness is the real thing: schema validation by the API server, a scheduler and a
// kubelet (kwok) that make Deployments Available, RBAC that refuses, and an audit log that records writes.
import { describe, expect, it } from 'vitest';
import { ApiError, request, useCluster, waitFor, kindPath } from '../harness/cluster.js';
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

const cluster = useCluster();

describe('test control plane', () => {
  it('runs on Node 24, as GitHub runners run the action', () => {
    expect(process.versions.node).toMatch(/^24\./);
  });

  it.skipIf(!!cluster.info.skipped)('rejects a VirtualService with a wrong field type with the schema message', async () => {
    const ns = await cluster.namespace('schema');
    const err = await cluster.apply({
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'bad', namespace: ns },
      spec: { hosts: 'reviews', http: [{ route: [{ destination: { host: 'reviews' } }] }] },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(422);
    expect(err.message).toMatch(/spec\.hosts: Invalid value: "string": spec\.hosts in body must be of type array/);
    // And the CRD's CEL rules run too: an http route timeout below 1ms is refused with the rule's message.
    const cel = await cluster.apply({
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'bad-timeout', namespace: ns },
      spec: { hosts: ['reviews'], http: [{ timeout: '0.5ms', route: [{ destination: { host: 'reviews' } }] }] },
    }).catch((e) => e);
    expect(cel).toBeInstanceOf(ApiError);
    expect(cel.message).toMatch(/spec\.http\[0\]\.timeout: Invalid value: "string": must be a valid duration greater than 1ms/);
  });

  it.skipIf(!!cluster.info.skipped)('makes a Deployment with 2 replicas Available, its Pods Ready, through the scheduler and kwok', async () => {
    const ns = await cluster.namespace('rollout');
    await cluster.apply({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns },
      spec: {
        replicas: 2, selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
      },
    });
    await waitFor('web Available', 60_000, async () => {
      const d = await cluster.get('Deployment', ns, 'web');
      return d.status?.availableReplicas === 2 && d.status.conditions?.some((c: any) => c.type === 'Available' && c.status === 'True');
    });
    const pods = await cluster.list('Pod', ns, 'app=web');
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.spec.nodeName).toMatch(/^kwok-node-/);
      expect(pod.status.conditions.find((c: any) => c.type === 'Ready')?.status).toBe('True');
    }
  });

  it.skipIf(!!cluster.info.skipped)('enforces RBAC: the ServiceAccount kubeconfig may not list Secrets', async () => {
    const kubeconfig = cluster.info.serviceAccountKubeconfig;
    if (!kubeconfig) throw new Error('the harness must provide a ServiceAccount kubeconfig');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const token = kc.getCurrentUser()!.token!;
    const sa = { server: cluster.info.server, ca: cluster.info.ca, token };
    const denied = await request(sa, 'GET', '/api/v1/namespaces/default/secrets').catch((e) => e);
    expect(denied).toBeInstanceOf(ApiError);
    expect(denied.status).toBe(403);
    expect(denied.message).toMatch(/cannot list resource "secrets"/);
    // The same identity can read what deploy/rbac.yaml grants.
    const vs = await request(sa, 'GET', '/apis/networking.istio.io/v1/virtualservices');
    expect(Array.isArray(vs.items)).toBe(true);
  });

  it.skipIf(!cluster.hasAuditLog)('records in the audit log the writes a test made and no others', async () => {
    const ns = await cluster.namespace('audit');
    const me = await cluster.identity([ns]);
    const kc = new KubeConfig();
    kc.loadFromFile(me.kubeconfig);
    const ep = { server: cluster.info.server, ca: cluster.info.ca, token: kc.getCurrentUser()!.token! };
    const cm = (name: string) => ({
      apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: ns },
      spec: { host: `${name}.${ns}.svc.cluster.local` },
    });
    await request(ep, 'POST', kindPath('DestinationRule', ns), cm('one'));
    await request(ep, 'POST', kindPath('DestinationRule', ns), cm('two'));
    await request(ep, 'DELETE', kindPath('DestinationRule', ns, 'one'));
    await request(ep, 'GET', kindPath('DestinationRule', ns));
    const writes = cluster.writes(me.username).map((e) => `${e.verb} ${e.objectRef?.resource}/${e.objectRef?.name ?? ''} ${e.responseStatus?.code}`);
    expect(writes).toEqual(['create destinationrules/one 201', 'create destinationrules/two 201', 'delete destinationrules/one 200']);
    const reads = cluster.audit({ username: me.username }).filter((e) => e.verb === 'list');
    expect(reads).toHaveLength(1);
    expect(readFileSync(cluster.info.auditLog!, 'utf8').length).toBeGreaterThan(0);
  });
});

describe('fault proxy', () => {
  it.skipIf(!cluster.hasAuditLog)('injects the configured faults and passes everything else through', async () => {
    const { startFaultProxy } = await import('../harness/fault-proxy.js');
    const proxy = await startFaultProxy({
      target: cluster.info.server, ca: cluster.info.ca, cert: cluster.info.servingCert!, key: cluster.info.servingKey!, seed: 7,
    });
    try {
      const ep = { server: proxy.url, ca: cluster.info.ca, token: cluster.info.adminToken };
      await expect(request(ep, 'GET', '/api/v1/namespaces/default')).resolves.toMatchObject({ kind: 'Namespace' });
      proxy.configure({ rate: 1, kinds: ['409'] });
      const conflict = await request(ep, 'GET', '/api/v1/namespaces/default').catch((e) => e);
      expect(conflict.status).toBe(409);
      expect(conflict.body).toMatchObject({ kind: 'Status', reason: 'Conflict' });
      proxy.configure({ rate: 1, kinds: ['cut'] });
      await expect(request(ep, 'GET', '/api/v1/namespaces')).rejects.toThrow();
      proxy.configure({ rate: 0.5, kinds: ['500', '503'] });
      const results = await Promise.allSettled(Array.from({ length: 40 }, () => request(ep, 'GET', '/api/v1/namespaces/default')));
      const failed = results.filter((r) => r.status === 'rejected').length;
      expect(failed).toBeGreaterThan(5);
      expect(failed).toBeLessThan(35);
      expect(proxy.stats().faults['500'] + proxy.stats().faults['503']).toBe(failed);
    } finally {
      await proxy.stop();
    }
  });
});
