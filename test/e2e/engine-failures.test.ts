// What the engine does when it cannot or must not go on: refused plans write nothing (proven by the audit log),
// a failing clone is reported with its reason quickly and gets no routes, RBAC refusals name the object and
// deploy/rbac.yaml, half-open envs close cleanly, and the exit codes say which kind of failure it was.
import { describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import {
  actor, cli, deployment, destinationRule, envName, expectRestored, install, ok, routeNames, service, userObjects,
  virtualService, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

/** One routed service `web-v1` (Service, DR with subset v1, mesh VirtualService) in a fresh namespace. */
async function webApp(prefix: string, extra: any[] = []) {
  const ns = await cluster.namespace(prefix);
  await install(cluster, [
    deployment(ns, 'web-v1', { labels: { app: 'web', version: 'v1' } }),
    service(ns, 'web', { app: 'web' }),
    destinationRule(ns, 'web', 'web', ['v1']),
    virtualService(ns, 'web', { hosts: ['web'], http: [{ name: 'default', route: [{ destination: { host: 'web', subset: 'v1' } }] }] }),
    ...extra.map((f) => f(ns)),
  ]);
  return ns;
}

describe.skipIf(skip)('refused before the first write', () => {
  it('a missing Deployment and a missing container: exit 1 naming both, and zero writes by the identity (not even the Lease)', async () => {
    const ns = await webApp('missing');
    const who = await actor(cluster, [ns]);
    const env = envName();
    const config = writeConfig(cluster, {
      env,
      services: [
        { namespace: ns, deployment: 'nope', image: 'ghcr.io/acme/nope:pr' },
        { namespace: ns, deployment: 'web-v1', containers: [{ name: 'sidecar', image: 'ghcr.io/acme/web:pr' }] },
      ],
    });
    const r = await who.open(config);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Deployment ${ns}/nope: not found`);
    expect(r.stderr).toContain(`Deployment ${ns}/web-v1 container "sidecar": no such container; the pod's containers are: web`);
    expect(who.writes({ leases: true })).toEqual([]);
    expect(await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`)).toEqual([]);
  });

  it('cluster facts the plan cannot work with: every problem in one run, exit 1, zero writes', async () => {
    const env = envName();
    const ns = await webApp('facts', [
      // A user Deployment that has the name the clone would get.
      (n: string) => deployment(n, `web-v1-${env}`, { labels: { app: 'other', version: 'v9' }, replicas: 0 }),
      // A user subset with no version label also selects the clone's pods.
      (n: string) => deployment(n, 'api-v1', { labels: { app: 'api', version: 'v1' } }),
      (n: string) => service(n, 'api', { app: 'api' }),
      (n: string) => ({ ...destinationRule(n, 'api', 'api', []), spec: { host: 'api', subsets: [{ name: 'all', labels: { app: 'api' } }] } }),
      (n: string) => virtualService(n, 'api', { hosts: ['api'], http: [{ name: 'main', route: [{ destination: { host: 'api', subset: 'all' } }] }] }),
      // A Deployment no Service selects cannot be routed.
      (n: string) => deployment(n, 'loner-v1', { labels: { app: 'loner', version: 'v1' } }),
    ]);
    const who = await actor(cluster, [ns]);
    const r = await who.open(writeConfig(cluster, {
      env,
      services: ['web-v1', 'api-v1', 'loner-v1'].map((deployment) => ({ namespace: ns, deployment, image: 'ghcr.io/acme/x:pr' })),
    }));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dynamic-env open: 3 problems:/);
    expect(r.stderr).toContain(`Deployment ${ns}/web-v1-${env}: already exists and is not env ${env}'s clone of web-v1`);
    expect(r.stderr).toContain(`DestinationRule ${ns}/api subset "all": its labels {app: api} also select env ${env}'s pods`);
    expect(r.stderr).toContain(`Deployment ${ns}/loner-v1: no Service in namespace ${ns} selects its pods`);
    expect(who.writes({ leases: true })).toEqual([]);
  });

  it('exit code 2 for bad usage or config, with zero writes', async () => {
    const ns = await webApp('usage');
    const who = await actor(cluster, [ns]);
    const env = envName();
    const badKey = await who.open(writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'web-v1', image: 'x:1', replicas: 0 }], colour: 'blue' }));
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toMatch(/colour/);
    expect(badKey.stderr).toMatch(/services\[0\]\.replicas: must be at least 1/);
    const noEnv = await cli(['close', '--kubeconfig', who.kubeconfig]);
    expect(noEnv.code).toBe(2);
    expect(noEnv.stderr).toMatch(/--env is required/);
    const badOutput = await cli(['status', '--env', env, '--output', 'xml', '--kubeconfig', who.kubeconfig]);
    expect(badOutput.code).toBe(2);
    const reserved = await cli(['open', '--env', 'dynamic-env-baseline', '--namespace', ns, '--deployment', 'web-v1', '--image', 'x:1', '--kubeconfig', who.kubeconfig]);
    expect(reserved.code).toBe(2);
    expect(reserved.stderr).toMatch(/reserved/);
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    const badKubeconfig = await cli(['status', '--env', env, '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(badKubeconfig.code).toBe(2);
    expect(badKubeconfig.stderr).toMatch(/kubeconfig \/nonexistent\/kubeconfig/);
    expect(who.writes({ leases: true })).toEqual([]);
  });
});

describe.skipIf(skip)('least privilege', () => {
  const denial = (kind: string, ns: string, name: string, verb: string) =>
    `${kind} ${ns}/${name}: this identity may not ${verb} it (forbidden); grant it with deploy/rbac.yaml (a RoleBinding to dynamic-env-write in namespace ${ns})`;

  it('open in a namespace without a RoleBinding: exit 1 naming each object and deploy/rbac.yaml; nothing written anywhere', async () => {
    const allowed = await webApp('allowed');
    const denied = await webApp('denied');
    const who = await actor(cluster, [allowed]);
    const before = await userObjects(cluster, [allowed, denied]);
    const env = envName();
    const config = writeConfig(cluster, {
      env,
      services: [
        { namespace: allowed, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' },
        { namespace: denied, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' },
      ],
    });
    const r = await who.open(config);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe([
      'dynamic-env open: 3 problems:',
      `  - ${denial('Deployment', denied, `web-v1-${env}`, 'create')}`,
      `  - ${denial('DestinationRule', denied, `dynamic-env-${env}-web`, 'create')}`,
      `  - ${denial('VirtualService', denied, 'web', 'update')}`,
      '',
    ].join('\n'));
    // Asked before writing, so not even a refused write or the Lease: the namespace it may write to is untouched too.
    expect(who.writes({ leases: true })).toEqual([]);
    expect(cluster.audit({ username: who.username }).filter((e) => e.objectRef?.resource === 'selfsubjectaccessreviews').length).toBeGreaterThan(0);
    await expectRestored(cluster, [allowed, denied], before);
  });

  it('a VirtualService in another namespace it may not write: refused before the clones are made', async () => {
    const app = await cluster.namespace('app');
    const edge = await cluster.namespace('edge');
    await install(cluster, [
      deployment(app, 'web-v1', { labels: { app: 'web', version: 'v1' } }),
      service(app, 'web', { app: 'web' }),
      destinationRule(app, 'web', 'web', ['v1']),
      virtualService(edge, 'web-routes', { hosts: [`web.${app}.svc.cluster.local`], http: [{ name: 'web', route: [{ destination: { host: `web.${app}.svc.cluster.local`, subset: 'v1' } }] }] }),
    ]);
    const who = await actor(cluster, [app]);
    const env = envName();
    const r = await who.open(writeConfig(cluster, { env, services: [{ namespace: app, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' }] }));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`dynamic-env open: ${denial('VirtualService', edge, 'web-routes', 'update')}\n`);
    expect(who.writes({ leases: true })).toEqual([]);
  });

  it('close with an identity that may not write everywhere the env is: exit 1, nothing removed; the right identity closes it', async () => {
    const one = await webApp('one');
    const two = await webApp('two');
    const full = await actor(cluster, [one, two]);
    const narrow = await actor(cluster, [one]);
    const before = await userObjects(cluster, [one, two]);
    const env = envName();
    ok(await full.open(writeConfig(cluster, {
      env, services: [one, two].map((namespace) => ({ namespace, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' })),
    })));
    const r = await narrow.close(env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe([
      'dynamic-env close: 3 problems:',
      `  - ${denial('Deployment', two, `web-v1-${env}`, 'delete')}`,
      `  - ${denial('DestinationRule', two, `dynamic-env-${env}-web`, 'delete')}`,
      `  - ${denial('VirtualService', two, 'web', 'update')}`,
      '',
    ].join('\n'));
    expect(narrow.writes()).toEqual([]);
    for (const ns of [one, two]) {
      expect(await routeNames(cluster, ns, 'web')).toEqual([`dynamic-env/${env}/default`, 'default']);
      expect(await cluster.getOrNull('Deployment', ns, `web-v1-${env}`)).not.toBeNull();
    }
    ok(await full.close(env));
    await expectRestored(cluster, [one, two], before, [`${one}/web`, `${two}/web`]);
  });
});

describe.skipIf(skip)('rollout failures are reported with their reason, quickly, and get no routes', () => {
  // The originals are scaled to zero (as many idle originals are); the clone runs one replica and cannot start.
  const failing = (why: 'unschedulable' | 'no-service-account') => (ns: string) => deployment(ns, 'api-v1', {
    labels: { app: 'api', version: 'v1' },
    replicas: 0,
    ...(why === 'unschedulable' ? { podSpec: { nodeSelector: { disktype: 'ssd' } } } : { serviceAccount: 'api-runner' }),
  });
  const apiObjects = (ns: string) => [
    service(ns, 'api', { app: 'api' }),
    destinationRule(ns, 'api', 'api', ['v1']),
    virtualService(ns, 'api', { hosts: ['api'], http: [{ name: 'default', route: [{ destination: { host: 'api', subset: 'v1' } }] }] }),
  ];

  for (const [why, reason] of [['unschedulable', /unschedulable/i], ['no-service-account', /FailedCreate.*serviceaccount "api-runner" not found/i]] as const) {
    it(`${why}: state failed with the reason well before the timeout, no routes; close removes the half-open env`, async () => {
      const ns = await cluster.namespace(why.slice(0, 10));
      await install(cluster, [failing(why)(ns), ...apiObjects(ns)]);
      const who = await actor(cluster, [ns]);
      const before = await userObjects(cluster, [ns]);
      const env = envName();
      const config = writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'api-v1', image: 'ghcr.io/acme/api:pr' }] });
      const r = await cli(['open', '--config', config, '--kubeconfig', who.kubeconfig, '--lock-namespace', ns, '--timeout', '120s', '--output', 'json']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.ms).toBeLessThan(30_000);
      expect(r.json.state).toBe('failed');
      expect(r.json.services[0]).toMatchObject({ clone: `api-v1-${env}`, state: 'failed', replicas: { ready: 0, desired: 1 } });
      expect(r.json.services[0].reason).toMatch(reason);
      // The clone and its DestinationRule were written, the VirtualService was not.
      expect(who.writes().sort()).toEqual([`create deployments ${ns}/api-v1-${env} 201`, `create destinationrules ${ns}/dynamic-env-${env}-api 201`]);
      expect(await routeNames(cluster, ns, 'api')).toEqual(['default']);

      const status = await who.status(env);
      expect(status.code).toBe(1);
      expect(status.json).toMatchObject({ env, state: 'failed', services: [{ state: 'failed', virtualServices: [] }] });
      expect(status.json.services[0].reason).toMatch(reason);
      const listed = ok(await who.list()).json.find((e: any) => e.env === env);
      expect(listed).toMatchObject({ services: 1, routes: 0 });

      // Close of the half-open env (clone + DR, no routes).
      const closed = ok(await who.close(env));
      expect(closed.json.removed).toMatchObject({ clones: [{ name: `api-v1-${env}`, namespace: ns }], routes: 0, virtualServices: [] });
      await expectRestored(cluster, [ns], before);
    });
  }
});

describe.skipIf(skip)('a failed open converges once the cause is fixed', () => {
  it('missing ServiceAccount: created, open re-run -> ready and routed without waiting out the controller\'s back-off', async () => {
    const ns = await cluster.namespace('fixed');
    await install(cluster, [
      deployment(ns, 'api-v1', { labels: { app: 'api', version: 'v1' }, replicas: 0, serviceAccount: 'api-runner' }),
      service(ns, 'api', { app: 'api' }),
      destinationRule(ns, 'api', 'api', ['v1']),
      virtualService(ns, 'api', { hosts: ['api'], http: [{ name: 'default', route: [{ destination: { host: 'api', subset: 'v1' } }] }] }),
    ]);
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const env = envName();
    const config = writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'api-v1', image: 'ghcr.io/acme/api:pr' }] });
    const failed = await who.open(config);
    expect(failed.code).toBe(1);
    expect(failed.json.services[0].reason).toMatch(/serviceaccount "api-runner" not found/);
    // Let the ReplicaSet controller's back-off grow past a few seconds, then fix the cause.
    await new Promise((r) => setTimeout(r, 6_000));
    await cluster.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api-runner', namespace: ns } });
    const stale = await cluster.get('Deployment', ns, `api-v1-${env}`);
    expect(stale.status.conditions.find((c: any) => c.type === 'ReplicaFailure')?.status).toBe('True');
    // The Deployment still says ReplicaFailure until the ReplicaSet controller retries (after its back-off); the
    // re-run does not take that for the answer: it marks the clone so the controller retries now, and waits.
    const n = who.writes().length;
    const r = ok(await who.open(config));
    expect(r.json.state).toBe('ready');
    expect(r.ms).toBeLessThan(15_000);
    expect(who.writes().slice(n)).toEqual([`update deployments ${ns}/api-v1-${env} 200`, `update virtualservices ${ns}/api 200`]);
    const clone = await cluster.get('Deployment', ns, `api-v1-${env}`);
    expect(clone.metadata.annotations['dynamic-env.io/retried-at']).toBeDefined();
    expect(clone.status.conditions.find((c: any) => c.type === 'ReplicaFailure')).toBeUndefined();
    expect(await routeNames(cluster, ns, 'api')).toEqual([`dynamic-env/${env}/default`, 'default']);
    // Healthy now: another run writes nothing.
    const m = who.writes().length;
    ok(await who.open(config));
    expect(who.writes().slice(m)).toEqual([]);
    ok(await who.close(env));
    await cluster.delete('ServiceAccount', ns, 'api-runner');
    await expectRestored(cluster, [ns], before, [`${ns}/api`]);
  });
});

describe.skipIf(skip)('half-open envs close cleanly', () => {
  it('routes left without clones or DestinationRules: list still finds the env, close takes the routes out', async () => {
    const ns = await webApp('orphan');
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const env = envName();
    ok(await who.open(writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' }] })));
    expect(await routeNames(cluster, ns, 'web')).toEqual([`dynamic-env/${env}/default`, 'default']);
    // Someone (or a crashed close) removed the clone and the DestinationRule, leaving the route.
    await cluster.delete('Deployment', ns, `web-v1-${env}`);
    await cluster.delete('DestinationRule', ns, `dynamic-env-${env}-web`);
    const listed = ok(await who.list()).json.find((e: any) => e.env === env);
    expect(listed).toMatchObject({ env, services: 0, state: 'absent', routes: 1 });
    const r = ok(await who.close(env));
    expect(r.json.state).toBe('closed');
    expect(r.json.removed).toMatchObject({ clones: [], destinationRules: [], routes: 1 });
    await expectRestored(cluster, [ns], before, [`${ns}/web`]);
    expect(ok(await who.list()).json.find((e: any) => e.env === env)).toBeUndefined();
  });
});
