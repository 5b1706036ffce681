// Drift: people edit what open edited (issue 10, items 5 and 6). Close cleans up from the state of the objects, not
// from route adjacency: a hand-written route between the env's copy and the pinned route, or the copy deleted by
// hand, leaves no route pinned to a `dynamic-env-baseline` subset nobody defines (a 503 for all baseline traffic),
// and our own VirtualService goes when no env needs it. `status` says `degraded`, with the reason, when what makes
// the env work is broken. Orphans left by hand are reported by `list` and `status`, and removed by `sweep`.
import { describe, expect, it } from 'vitest';
import { editObject, request, useCluster, waitFor } from '../harness/cluster.js';
import { describeOutcome, routeRequest } from '../harness/oracle/route-oracle.js';
import {
  endpointsOf, envPodIps, expectNoFailures, meshView, missingClusterFailures, requestMatrix, restoredFailures, routingFailures,
  type Caller, type MeshView,
} from '../harness/routing.js';
import {
  MANAGED, actor, cli, deployment, destinationRule, envName, expectRestored, install, ok, service, userObjects, virtualService, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

const BASELINE = 'dynamic-env-baseline';
const ALL = { name: 'all', route: [{ destination: { host: 'web' } }] };
const HAND = { name: 'hand', match: [{ uri: { prefix: '/hand' } }], route: [{ destination: { host: 'other' } }] };

/** Reads an object as the admin, changes it, and writes it back (a hand edit: `kubectl edit`). */
async function editByHand(kind: string, ns: string, name: string, change: (o: any) => void): Promise<void> {
  await editObject(cluster.admin, kind, ns, name, (o) => { change(o); return o; });
}

/**
 * Waits until every Service of `ns` has the IPs of its ready Pods in its EndpointSlices, so the mesh view taken as
 * "before" is not read while the EndpointSlice controller still catches up with a Pod that just became ready.
 */
async function endpointsSettled(ns: string): Promise<void> {
  await waitFor(`EndpointSlices of ${ns} settled`, 30_000, async () => {
    const slices = (await request(cluster.admin, 'GET', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`)).items;
    for (const svc of await cluster.list('Service', ns)) {
      const selector = Object.entries(svc.spec.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
      const pods = (await cluster.list('Pod', ns, selector))
        .filter((p: any) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))
        .map((p: any) => p.status.podIP).sort();
      const listed = slices.filter((sl: any) => sl.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name)
        .flatMap((sl: any) => (sl.endpoints ?? []).filter((e: any) => e.conditions?.ready !== false).flatMap((e: any) => e.addresses)).sort();
      if (pods.length === 0 || JSON.stringify(pods) !== JSON.stringify(listed)) return false;
    }
    return true;
  });
}

const sidecar = (ns: string): Caller => ({ label: 'sidecar in the namespace', proxy: { namespace: ns, labels: { app: 'client' } } });

/** Pinned topology: web-v1 behind Service web, a VirtualService with a subset-less route to web; Service other. */
async function pinnedTopology(prefix: string) {
  const ns = await cluster.namespace(prefix);
  const fqdn = `web.${ns}.svc.cluster.local`;
  await install(cluster, [
    deployment(ns, 'web-v1', { labels: { app: 'web', version: 'v1' } }),
    service(ns, 'web', { app: 'web' }),
    deployment(ns, 'other-v1', { labels: { app: 'other', version: 'v1' } }),
    service(ns, 'other', { app: 'other' }),
    virtualService(ns, 'web', { hosts: ['web'], http: [ALL] }),
  ]);
  await endpointsSettled(ns);
  const who = await actor(cluster, [ns]);
  const before = await userObjects(cluster, [ns]);
  const callers = [sidecar(ns)];
  const meshBefore = await meshView(cluster, [ns], callers);
  const config = (env: string) => writeConfig(cluster, {
    env, routing: { pinUnsubsetRoutes: true }, services: [{ namespace: ns, deployment: 'web-v1', image: `ghcr.io/acme/web:${env}` }],
  });
  const openPinned = async (env: string) => {
    ok(await who.open(config(env)));
    const vs = await cluster.get('VirtualService', ns, 'web');
    expect(vs.spec.http).toEqual([
      expect.objectContaining({ name: `dynamic-env/${env}/all`, route: [{ destination: { host: 'web', subset: env } }] }),
      { name: 'all', route: [{ destination: { host: 'web', subset: BASELINE } }] },
    ]);
  };
  return { ns, fqdn, who, before, callers, meshBefore, openPinned };
}

/** Baseline requests (no header) reach the same pods through the same route as before the open; no route names a missing cluster. */
function baselineFailures(meshBefore: MeshView, now: MeshView, callers: Caller[], fqdn: string): string[] {
  const noHeader = requestMatrix('pr-none').filter((c) => c.expect === 'baseline');
  return [
    ...routingFailures(meshBefore, now, callers, { request: { authority: fqdn, port: 9080 }, envPodIps: [] }, noHeader, 'pr-none'),
    ...callers.flatMap((c) => missingClusterFailures(c.label, now.get(c.label)!)),
  ];
}

const podIps = async (ns: string, selector: string): Promise<string[]> =>
  (await cluster.list('Pod', ns, selector)).map((p: any) => p.status?.podIP).filter(Boolean).sort();

/** Every subset named anywhere in a VirtualService's routes and mirrors. */
const subsetsOf = (vs: any): string[] => (vs.spec.http ?? []).flatMap((r: any) => [
  ...(r.route ?? []).map((d: any) => d.destination.subset), r.mirror?.subset, ...(r.mirrors ?? []).map((m: any) => m.destination?.subset),
]).filter(Boolean);

const managedLeft = async (ns: string) => ({
  deployments: (await cluster.list('Deployment', ns, MANAGED)).map((o: any) => o.metadata.name),
  destinationRules: (await cluster.list('DestinationRule', ns, MANAGED)).map((o: any) => o.metadata.name),
  virtualServices: (await cluster.list('VirtualService', ns, MANAGED)).map((o: any) => o.metadata.name),
});

describe.skipIf(skip)('drift: close cleans up from the state of the objects', () => {
  it('a route inserted by hand between the env\'s copy and the pinned route: close un-pins, the hand route stays, baseline traffic reaches the baseline pod', async () => {
    const t = await pinnedTopology('drhand');
    const env = envName();
    await t.openPinned(env);
    await editByHand('VirtualService', t.ns, 'web', (vs) => vs.spec.http.splice(1, 0, HAND));
    expect((await cluster.get('VirtualService', t.ns, 'web')).spec.http.map((r: any) => r.name)).toEqual([`dynamic-env/${env}/all`, 'hand', 'all']);

    ok(await t.who.close(env));
    const vs = await cluster.get('VirtualService', t.ns, 'web');
    expect(vs.spec.http).toEqual([HAND, ALL]);
    expect(subsetsOf(vs)).toEqual([]);
    expect(await managedLeft(t.ns)).toEqual({ deployments: [], destinationRules: [], virtualServices: [] });

    const now = await meshView(cluster, [t.ns], t.callers);
    expectNoFailures(baselineFailures(t.meshBefore, now, t.callers, t.fqdn));
    const label = t.callers[0]!.label;
    const root = routeRequest(now.get(label)!, { authority: t.fqdn, port: 9080, headers: {} });
    expect(root.route, describeOutcome(root)).toBe('all');
    expect(endpointsOf(root).map((e) => e.replace(/:\d+$/, '')), describeOutcome(root)).toEqual(await podIps(t.ns, 'app=web,version=v1'));
    const hand = routeRequest(now.get(label)!, { authority: t.fqdn, port: 9080, path: '/hand/x', headers: {} });
    expect(hand.route, describeOutcome(hand)).toBe('hand');
    expect(hand.clusters.every((c) => c.exists && c.name.endsWith(`|other.${t.ns}.svc.cluster.local`)), describeOutcome(hand)).toBe(true);
  });

  it('the env\'s route copy deleted by hand: close un-pins, the VirtualService is the user\'s again', async () => {
    const t = await pinnedTopology('drcopy');
    const env = envName();
    await t.openPinned(env);
    await editByHand('VirtualService', t.ns, 'web', (vs) => { vs.spec.http = vs.spec.http.filter((r: any) => r.name === 'all'); });
    expect((await cluster.get('VirtualService', t.ns, 'web')).spec.http).toEqual([{ ...ALL, route: [{ destination: { host: 'web', subset: BASELINE } }] }]);

    ok(await t.who.close(env));
    expect((await cluster.get('VirtualService', t.ns, 'web')).spec.http).toEqual([ALL]);
    expectNoFailures(restoredFailures(t.meshBefore, await meshView(cluster, [t.ns], t.callers)));
    await expectRestored(cluster, [t.ns], t.before, [`${t.ns}/web`]);
  });

  it('a host without a VirtualService: the env route deleted from ours by hand makes status degraded; close deletes our VirtualService', async () => {
    const ns = await cluster.namespace('drown');
    await install(cluster, [deployment(ns, 'web-v1', { labels: { app: 'web', version: 'v1' } }), service(ns, 'web', { app: 'web' })]);
    await endpointsSettled(ns);
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const callers = [sidecar(ns)];
    const meshBefore = await meshView(cluster, [ns], callers);
    const env = envName();
    ok(await who.open(writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' }] })));
    expect((await cluster.get('VirtualService', ns, 'dynamic-env-web')).spec.http.map((r: any) => r.name)).toEqual([`dynamic-env/${env}/baseline`, 'baseline']);
    const ready = await who.status(env);
    expect(ready.code, ready.stdout).toBe(0);
    expect(ready.json.state).toBe('ready');
    expect(ready.json.services.map((s: any) => [s.state, s.reason])).toEqual([['ready', null]]);

    await editByHand('VirtualService', ns, 'dynamic-env-web', (vs) => { vs.spec.http = vs.spec.http.filter((r: any) => r.name === 'baseline'); });
    const degraded = await who.status(env);
    expect(degraded.code).toBe(1);
    expect(degraded.json.state).toBe('degraded');
    expect(degraded.json.services).toHaveLength(1);
    expect(degraded.json.services[0].state).toBe('degraded');
    expect(degraded.json.services[0].reason).toContain(`VirtualService ${ns}/dynamic-env-web: the env's copy of route "baseline" ("dynamic-env/${env}/baseline") is missing`);

    ok(await who.close(env));
    expect(await cluster.getOrNull('VirtualService', ns, 'dynamic-env-web')).toBeNull();
    expectNoFailures(restoredFailures(meshBefore, await meshView(cluster, [ns], callers)));
    await expectRestored(cluster, [ns], before);
  });
});

describe.skipIf(skip)('drift: status tells the truth', () => {
  it('degraded, with the reason, when the env DestinationRule is deleted, the clone scaled to 0, or the user\'s VirtualService re-applied', async () => {
    const t = await pinnedTopology('drstat');
    const statusOf = async (env: string) => {
      const r = await t.who.status(env);
      expect(r.json, r.stderr).toBeDefined();
      return r;
    };
    const expectReady = async (env: string) => {
      const r = await statusOf(env);
      expect(r.code, r.stdout).toBe(0);
      expect(r.json.state).toBe('ready');
      expect(r.json.services.map((s: any) => [s.state, s.reason])).toEqual([['ready', null]]);
      // The routing works: the env header reaches the clone, baseline requests the baseline pod.
      const now = await meshView(cluster, [t.ns], t.callers);
      expectNoFailures(routingFailures(t.meshBefore, now, t.callers, { request: { authority: t.fqdn, port: 9080 }, envPodIps: await envPodIps(cluster, t.ns, env) },
        requestMatrix(env), env));
      return r.json;
    };
    const expectDegraded = async (env: string, ...reasons: string[]) => {
      let r: any;
      // A scale to 0 reaches the Deployment's status a moment later; status reads the state it sees.
      await waitFor(`status of ${env} degraded`, 20_000, async () => (r = await statusOf(env)).json.state === 'degraded');
      expect(r.code).toBe(1);
      expect(r.json.services).toHaveLength(1);
      expect(r.json.services[0].state).toBe('degraded');
      for (const reason of reasons) expect(r.json.services[0].reason).toContain(reason);
      return r.json;
    };

    // 1. The env's DestinationRule deleted.
    const e1 = envName();
    await t.openPinned(e1);
    await expectReady(e1);
    await cluster.delete('DestinationRule', t.ns, `dynamic-env-${e1}-web`);
    await expectDegraded(e1, `no DestinationRule of the env for ${t.fqdn}`);
    ok(await t.who.close(e1));
    expect((await cluster.get('VirtualService', t.ns, 'web')).spec.http).toEqual([ALL]);

    // 2. The clone scaled to 0.
    const e2 = envName();
    await t.openPinned(e2);
    const ready = await expectReady(e2);
    await editByHand('Deployment', t.ns, ready.services[0].clone, (d) => { d.spec.replicas = 0; });
    const scaled = await expectDegraded(e2, 'the clone is scaled to 0 replicas');
    expect(scaled.services[0].replicas.desired).toBe(0);
    ok(await t.who.close(e2));
    expect((await cluster.get('VirtualService', t.ns, 'web')).spec.http).toEqual([ALL]);

    // 3. The user's VirtualService re-applied with its original spec: env routes and pins wiped.
    const e3 = envName();
    await t.openPinned(e3);
    await expectReady(e3);
    await cluster.apply(virtualService(t.ns, 'web', { hosts: ['web'], http: [ALL] }));
    expect((await cluster.get('VirtualService', t.ns, 'web')).spec.http).toEqual([ALL]);
    await expectDegraded(e3,
      `VirtualService ${t.ns}/web route "all" to ${t.fqdn} is not pinned to "${BASELINE}"`,
      `VirtualService ${t.ns}/web: the env's copy of route "all" ("dynamic-env/${e3}/all") is missing`);
    ok(await t.who.close(e3));

    expect((await cluster.get('VirtualService', t.ns, 'web')).spec.http).toEqual([ALL]);
    expect(await managedLeft(t.ns)).toEqual({ deployments: [], destinationRules: [], virtualServices: [] });
    expectNoFailures(restoredFailures(t.meshBefore, await meshView(cluster, [t.ns], t.callers)));
  });
});

describe.skipIf(skip)('drift: orphans left by hand', () => {
  it('list and status warn about them, sweep removes them and keeps the kept env; user routes as before', async () => {
    const ns = await cluster.namespace('drorph');
    await install(cluster, [
      deployment(ns, 'web-v1', { labels: { app: 'web', version: 'v1' } }),
      service(ns, 'web', { app: 'web' }),
      deployment(ns, 'api-v1', { labels: { app: 'api', version: 'v1' } }),
      service(ns, 'api', { app: 'api' }),
      deployment(ns, 'shop-v1', { labels: { app: 'shop', version: 'v1' } }),
      service(ns, 'shop', { app: 'shop' }),
      destinationRule(ns, 'shop', 'shop', ['v1']),
      virtualService(ns, 'shop', { hosts: ['shop'], http: [{ name: 'default', route: [{ destination: { host: 'shop', subset: 'v1' } }] }] }),
      virtualService(ns, 'web', { hosts: ['web'], http: [ALL] }),
    ]);
    const who = await actor(cluster, [ns]);
    const callers = [sidecar(ns)];
    const webFqdn = `web.${ns}.svc.cluster.local`;
    const apiFqdn = `api.${ns}.svc.cluster.local`;
    const userBefore = await userObjects(cluster, [ns]);
    // An env that stays open (on shop), so status has an env to report on and sweep one to keep.
    const kept = envName('keep');
    ok(await who.open(writeConfig(cluster, { env: kept, services: [{ namespace: ns, deployment: 'shop-v1', image: 'ghcr.io/acme/shop:pr' }] })));
    const shopRoutes = (await cluster.get('VirtualService', ns, 'shop')).spec.http;

    // Orphans: the user's route to web pinned to a subset no DestinationRule defines; a VirtualService labelled as
    // ours for api with no env route and no rule defining its baseline subset.
    await editByHand('VirtualService', ns, 'web', (vs) => { vs.spec.http[0].route[0].destination.subset = BASELINE; });
    await cluster.apply({
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService',
      metadata: { name: 'dynamic-env-api', namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/role': 'routing' } },
      spec: { hosts: ['api'], http: [{ name: 'baseline', route: [{ destination: { host: 'api', subset: BASELINE } }] }] },
    });
    // Both break baseline traffic today (a missing cluster): the oracle sees it, so the checks after sweep can fail.
    const broken = await meshView(cluster, [ns], callers);
    expect(missingClusterFailures(callers[0]!.label, broken.get(callers[0]!.label)!).length).toBeGreaterThanOrEqual(2);

    const pinMessage = `VirtualService ${ns}/web route "all" is pinned to "${BASELINE}" of ${webFqdn}, which no DestinationRule defines`;
    const ownMessage = `VirtualService ${ns}/dynamic-env-api is dynamic-env's own, but no env routes through it any more`;
    const listed = ok(await who.list());
    const orphanLines = listed.stderr.split('\n').filter((l) => l.startsWith('orphan: ') && l.includes(ns));
    expect(orphanLines).toHaveLength(2);
    expect(orphanLines.some((l) => l.includes(pinMessage))).toBe(true);
    expect(orphanLines.some((l) => l.includes(ownMessage))).toBe(true);
    expect(listed.json.map((e: any) => e.env)).toContain(kept);
    const listedText = ok(await cli(['list', '--kubeconfig', who.kubeconfig, '--lock-namespace', ns]));
    expect(listedText.stdout).toContain('Orphans (dynamic-env sweep removes them):');
    expect(listedText.stdout).toContain(pinMessage);
    expect(listedText.stdout).toContain(ownMessage);

    const status = await who.status(kept);
    expect(status.json.state, status.stdout).toBe('ready');
    expect(status.json.warnings).toEqual(expect.arrayContaining([expect.stringContaining(pinMessage), expect.stringContaining(ownMessage)]));

    // Every env listed is kept (other tests' envs live in namespaces this identity cannot write): only orphans go.
    const keep = listed.json.map((e: any) => e.env);
    const swept = ok(await cli(['sweep', '--keep', keep.join(','), '--kubeconfig', who.kubeconfig, '--lock-namespace', ns, '--output', 'json', '--drain', '0s']));
    expect(swept.json).toContainEqual({ env: kept, closed: false, reason: 'kept' });
    expect(swept.json.filter((r: any) => r.closed || r.error)).toEqual([]);
    expect(swept.stderr).toContain(`fixing: ${pinMessage}`);
    expect(swept.stderr).toContain(`fixing: ${ownMessage}`);
    expect((await cluster.get('VirtualService', ns, 'web')).spec.http).toEqual([ALL]);
    expect(await cluster.getOrNull('VirtualService', ns, 'dynamic-env-api')).toBeNull();
    // The kept env is untouched.
    expect((await cluster.get('VirtualService', ns, 'shop')).spec.http).toEqual(shopRoutes);
    expect((await who.status(kept)).json).toMatchObject({ state: 'ready' });
    expect((await who.status(kept)).json.warnings ?? []).toEqual([]);
    expect(ok(await who.list()).stderr.split('\n').filter((l) => l.startsWith('orphan: ') && l.includes(ns))).toEqual([]);

    // Baseline traffic to web and api reaches their pods, through the user's route and Istio's default one.
    const now = await meshView(cluster, [ns], callers);
    const label = callers[0]!.label;
    expectNoFailures(missingClusterFailures(label, now.get(label)!));
    for (const [app, fqdn, route] of [['web', webFqdn, 'all'], ['api', apiFqdn, 'default']] as const) {
      const o = routeRequest(now.get(label)!, { authority: fqdn, port: 9080, headers: {} });
      expect(o.route, describeOutcome(o)).toBe(route);
      expect(o.clusters.map((c) => [c.exists, c.subset]), describeOutcome(o)).toEqual([[true, null]]);
      expect(endpointsOf(o).map((e) => e.replace(/:\d+$/, '')), describeOutcome(o)).toEqual(await podIps(ns, `app=${app},version=v1`));
    }

    ok(await who.close(kept));
    await expectRestored(cluster, [ns], userBefore, [`${ns}/shop`, `${ns}/web`]);
  });
});
