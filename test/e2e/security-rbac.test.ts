// deploy/rbac.yaml is the least privilege the product needs (the other e2e files run open/close/sweep as identities
// bound to exactly it). Here the same identity tries what it must never do. Every probe is a server-side dry run,
// so a wrongly granted permission fails the test (201/200) without changing the cluster.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiError, kindPath, request, useCluster } from '../harness/cluster.js';
import type { Endpoint } from '../harness/http.js';
import { deployment, virtualService } from './fixtures/engine.js';
import { configFor, createMesh, envObjects, isEmpty, runCli } from '../harness/mesh.js';

const cluster = useCluster();

describe('least privilege: what deploy/rbac.yaml does not grant is refused', () => {
  let home: string;
  let other: string;
  let me: Endpoint;
  let username: string;

  beforeAll(async () => {
    home = await cluster.namespace('sec-home');
    other = await cluster.namespace('sec-other');
    await cluster.apply(deployment(other, 'web-v1', { labels: { app: 'web', version: 'v1' } }));
    await cluster.apply(virtualService(other, 'web', { hosts: ['web'], http: [{ name: 'default', route: [{ destination: { host: 'web' } }] }] }));
    const id = await cluster.identity([home]);
    username = id.username;
    const kc = new KubeConfig();
    kc.loadFromFile(id.kubeconfig);
    me = { server: cluster.info.server, ca: cluster.info.ca, token: kc.getCurrentUser()!.token! };
  });

  const dry = (path: string) => `${path}${path.includes('?') ? '&' : '?'}dryRun=All`;
  const status = async (method: string, path: string, body?: unknown): Promise<number> => {
    try {
      await request(me, method, method === 'GET' ? path : dry(path), body);
      return 200;
    } catch (e) {
      if (e instanceof ApiError) return e.status;
      throw e;
    }
  };

  type Probe = [what: string, method: string, path: string, body?: unknown];
  const expectRefused = async (probes: Probe[]) => {
    const got = await Promise.all(probes.map(async ([what, method, path, body]) => `${what}: ${await status(method, path, body)}`));
    expect(got).toEqual(probes.map(([what]) => `${what}: 403`));
  };

  it('may write the kinds it needs in its own namespace (the positive control)', async () => {
    expect(await status('POST', kindPath('Deployment', home), deployment(home, 'probe', { labels: { app: 'probe', version: 'v1' } }))).toBe(200);
    expect(await status('POST', kindPath('VirtualService', home), virtualService(home, 'probe', { hosts: ['probe'], http: [{ route: [{ destination: { host: 'probe' } }] }] }))).toBe(200);
    expect(await status('GET', kindPath('VirtualService', other))).toBe(200);
    expect(await status('GET', kindPath('Deployment', other))).toBe(200);
  });

  it('Secrets, ConfigMaps, Pods and RBAC in its own namespace: refused', async () => {
    const probes: Probe[] = [
      ['list Secrets', 'GET', kindPath('Secret', home)],
      ['get a Secret', 'GET', kindPath('Secret', home, 'anything')],
      ['create a Secret', 'POST', kindPath('Secret', home), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' }, stringData: { a: 'b' } }],
      ['list ConfigMaps', 'GET', kindPath('ConfigMap', home)],
      ['create a Pod', 'POST', kindPath('Pod', home), { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'x', image: 'x' }] } }],
      ['exec into a Pod', 'POST', `${kindPath('Pod', home, 'x')}/exec?command=sh`],
      ['bind itself a Role', 'POST', kindPath('RoleBinding', home), {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'x' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: home }],
      }],
      ['patch a Deployment (it only ever replaces with a resourceVersion)', 'PATCH', kindPath('Deployment', home, 'web-v1')],
      ['edit Services', 'POST', kindPath('Service', home), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ port: 80 }] } }],
    ];
    await expectRefused(probes);
  });

  it('writes in a namespace without its RoleBinding: refused', async () => {
    const web = await cluster.get('Deployment', other, 'web-v1');
    const vs = await cluster.get('VirtualService', other, 'web');
    const probes: Probe[] = [
      ['create a Deployment', 'POST', kindPath('Deployment', other), deployment(other, 'web-pr-1', { labels: { app: 'web', version: 'pr-1' } })],
      ['update the user Deployment', 'PUT', kindPath('Deployment', other, 'web-v1'), web],
      ['delete the user Deployment', 'DELETE', kindPath('Deployment', other, 'web-v1')],
      ['update the user VirtualService', 'PUT', kindPath('VirtualService', other, 'web'), vs],
      ['create a DestinationRule', 'POST', kindPath('DestinationRule', other), {
        apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'x', namespace: other }, spec: { host: 'web' },
      }],
      ['take a Lease', 'POST', kindPath('Lease', other), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'x', namespace: other } }],
    ];
    await expectRefused(probes);
  });

  it('anything cluster-scoped: refused', async () => {
    const probes: Probe[] = [
      ['create a Namespace', 'POST', kindPath('Namespace'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sec-x' } }],
      ['delete its own Namespace', 'DELETE', kindPath('Namespace', undefined, home)],
      ['create a ClusterRole', 'POST', kindPath('ClusterRole'), { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'x' }, rules: [] }],
      ['bind itself cluster-admin', 'POST', kindPath('ClusterRoleBinding'), {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'x' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: home }],
      }],
      ['list Nodes', 'GET', kindPath('Node')],
      ['list Secrets cluster-wide', 'GET', '/api/v1/secrets'],
      ['create a CRD', 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
        apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'xs.example.com' },
        spec: { group: 'example.com', names: { plural: 'xs', kind: 'X' }, scope: 'Namespaced', versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }] },
      }],
    ];
    await expectRefused(probes);
    // The audit log agrees: the only writes it let through were the positive control's, in its own namespace.
    const allowed = cluster.writes(username).filter((e) => (e.responseStatus?.code ?? 0) < 400);
    expect(allowed.map((e) => `${e.verb} ${e.objectRef?.resource} ${e.objectRef?.namespace}`).sort())
      .toEqual([`create deployments ${home}`, `create virtualservices ${home}`]);
  });
});

describe('permission checks before the first write, with a Role limited by resourceNames', () => {
  // open asks one access review per (verb, resource, namespace); where that is refused it asks per name, because
  // a Role may allow updating only some VirtualServices. A refusal is then named, and nothing is written.
  const role = (ns: string, vsNames: string[]) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'narrow', namespace: ns },
    rules: [
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['create', 'update', 'delete'] },
      { apiGroups: ['networking.istio.io'], resources: ['destinationrules'], verbs: ['create', 'update', 'delete'] },
      { apiGroups: ['networking.istio.io'], resources: ['virtualservices'], verbs: ['update'], resourceNames: vsNames },
    ],
  });

  for (const [vsNames, outcome] of [[['mesh'], 'opens'], [['someone-else'], 'is refused']] as const) {
    it(`update allowed on VirtualServices ${JSON.stringify(vsNames)} only: open ${outcome}`, async () => {
      const app = await cluster.namespace('narrow');
      await createMesh(cluster.admin, app, { shared: ['reviews'] });
      const id = await cluster.identity([await cluster.namespace('narrow-lock')]);
      const [, home, sa] = /^system:serviceaccount:([^:]+):(.+)$/.exec(id.username)!;
      await cluster.apply(role(app, [...vsNames]));
      await cluster.apply({
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'narrow', namespace: app },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'narrow' },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: home }],
      });
      const file = join(cluster.tmp, `${app}.yaml`);
      writeFileSync(file, configFor(app, ['reviews']));
      const r = await runCli(['open', '--env', 'pr-1', '--config', file, '--no-wait', '--lock-namespace', home!], { kubeconfig: id.kubeconfig });
      const inApp = cluster.writes(id.username).filter((e) => e.objectRef?.namespace === app);
      if (outcome === 'opens') {
        expect(r.code, r.stderr).toBe(0);
        expect(inApp.map((e) => `${e.verb} ${e.objectRef?.resource}`).sort()).toEqual(['create deployments', 'create destinationrules', 'update virtualservices']);
      } else {
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`VirtualService ${app}/mesh: this identity may not update it \\(forbidden\\); grant it with deploy/rbac\\.yaml`));
        expect(inApp).toEqual([]);
        expect(isEmpty(await envObjects(cluster.admin, [app, home!], 'pr-1'))).toBe(true);
      }
    });
  }
});
