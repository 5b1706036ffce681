// Limits and edges of route editing (issue 10, items 7 and 8), against the real control plane and istiod:
// - a VirtualService that this open would take over the size limit is refused before any write, naming it, its
//   size, the envs on it and the fixes; `sweep --heal` does not write routes back into one that no longer fits them;
// - a mirror to a changed host without a subset is refused like an unsubset route, or pinned to the baseline with
//   routing.pinUnsubsetRoutes: then, on istiod's configuration, the baseline route's request mirror never names a
//   cluster with the clone's pods, the env copy mirrors nothing onto the changed host, and close restores all.
import { describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import { routeRequest, type XdsSnapshot } from '../harness/oracle/route-oracle.js';
import {
  baselineInvariantFailures, envPodIps, expectNoFailures, meshView, missingClusterFailures, requestMatrix, restoredFailures,
  routingFailures, type Caller, type RouteTarget,
} from '../harness/routing.js';
import { withEnvRoutes } from '../../src/plan/virtual-service.js';
import { MAX_VIRTUAL_SERVICE_BYTES, objectBytes } from '../../src/plan/vs-size.js';
import {
  actor, cli, deployment, destinationRule, envName, expectRestored, install, ok, service, userObjects, virtualService, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

const sidecar = (label: string, namespace: string): Caller => ({ label, proxy: { namespace, labels: { app: 'client', version: 'v1' } } });

/** reviews-v1 behind Service reviews, with a DestinationRule (subset v1), in a fresh namespace; a caller namespace. */
async function reviewsSetting(prefix: string) {
  const app = await cluster.namespace(prefix);
  const other = await cluster.namespace('caller');
  const host = `reviews.${app}.svc.cluster.local`;
  const objects = [
    deployment(app, 'reviews-v1', { labels: { app: 'reviews', version: 'v1' } }),
    service(app, 'reviews', { app: 'reviews' }),
    destinationRule(app, 'reviews', 'reviews', ['v1']),
  ];
  return { app, other, host, env: envName(), objects };
}

const openConfig = (app: string, env: string, routing: Record<string, unknown> = {}) =>
  writeConfig(cluster, { env, routing, services: [{ namespace: app, deployment: 'reviews-v1', image: 'ghcr.io/acme/reviews:pr' }] });

/** The RDS route a request took (from the oracle's outcome), as istiod served it. */
function routeTaken(s: XdsSnapshot, o: { routeConfig: string | null; virtualHost: string | null; route: string | null }): any {
  const rc = s.routes.find((r: any) => r.name === o.routeConfig);
  const vh = (rc?.virtual_hosts ?? []).find((v: any) => v.name === o.virtualHost);
  return (vh?.routes ?? []).find((r: any, i: number) => (r.name ?? `#${i}`) === o.route);
}

/** "ip:port" of every endpoint of a cluster in the snapshot's EDS. */
function clusterEndpoints(s: XdsSnapshot, name: string): string[] {
  const cla = s.endpoints.find((e: any) => e.cluster_name === name);
  return (cla?.endpoints ?? []).flatMap((l: any) => l.lb_endpoints ?? []).map((e: any) => {
    const a = e.endpoint?.address?.socket_address ?? {};
    return `${a.address}:${a.port_value}`;
  });
}

/**
 * For a request `headers` from each caller: the clusters of the taken route's `request_mirror_policies`, and
 * failures when one of them has an endpoint on one of `forbiddenIps` (or, with `none`, when any is there at all).
 */
function mirrorFailures(view: Map<string, XdsSnapshot>, callers: Caller[], host: string, headers: Record<string, string>,
  o: { forbiddenIps?: string[]; none?: boolean; expectSome?: boolean }): string[] {
  const failures: string[] = [];
  for (const c of callers) {
    const s = view.get(c.label)!;
    const outcome = routeRequest(s, { authority: host, port: 9080, headers });
    const route = routeTaken(s, outcome);
    if (!route) { failures.push(`${c.label}: no route taken for ${JSON.stringify(headers)}`); continue; }
    const mirrors: string[] = (route.route?.request_mirror_policies ?? []).map((m: any) => m.cluster);
    if (o.none && mirrors.length > 0) failures.push(`${c.label}: route ${outcome.route} mirrors to ${mirrors.join(', ')}`);
    if (o.expectSome && mirrors.length === 0) failures.push(`${c.label}: route ${outcome.route} mirrors nothing`);
    for (const m of mirrors) {
      const eps = clusterEndpoints(s, m);
      if (o.expectSome && eps.length === 0) failures.push(`${c.label}: route ${outcome.route} mirrors to ${m}, which has no endpoints`);
      const hit = eps.filter((ep) => (o.forbiddenIps ?? []).some((ip) => ep.startsWith(`${ip}:`)));
      if (hit.length > 0) failures.push(`${c.label}: route ${outcome.route} mirrors to ${m}, whose endpoints include the clone's ${hit.join(', ')}`);
    }
  }
  return failures;
}

describe.skipIf(skip)('mirrors to a changed host', () => {
  const mirroredVs = (app: string) => virtualService(app, 'reviews', {
    hosts: ['reviews'],
    http: [{
      name: 'all',
      route: [{ destination: { host: 'reviews', subset: 'v1' } }],
      mirrors: [{ destination: { host: 'reviews' }, percentage: { value: 100 } }],
    }],
  });

  it('a mirror without a subset to the changed host is refused before any write: exit 1 naming the route and the fix; istiod unchanged', async () => {
    const { app, other, env, objects } = await reviewsSetting('mirref');
    await install(cluster, [...objects, mirroredVs(app)]);
    const callers = [sidecar('sidecar in the Service\'s namespace', app), sidecar('sidecar in another namespace', other)];
    const before = await meshView(cluster, [app], callers);
    const who = await actor(cluster, [app]);
    const r = await who.open(openConfig(app, env));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`VirtualService ${app}/reviews route "all": mirrors traffic to reviews without a subset, so baseline requests would also be mirrored onto the env's pods`);
    expect(r.stderr).toContain('add a subset to the mirror\'s destination');
    expect(r.stderr).toContain('routing.pinUnsubsetRoutes: true');
    expect(who.writes({ leases: true })).toEqual([]);
    expect(await cluster.list('Deployment', app, `dynamic-env.io/env=${env}`)).toEqual([]);
    expectNoFailures(restoredFailures(before, await meshView(cluster, [app], callers)));
  });

  it('pinned with routing.pinUnsubsetRoutes: baseline requests are mirrored to baseline pods only, env requests are not mirrored onto the changed host; close restores istiod\'s configuration', async () => {
    const { app, other, env, host, objects } = await reviewsSetting('mirpin');
    await install(cluster, [...objects, mirroredVs(app)]);
    const callers = [sidecar('sidecar in the Service\'s namespace', app), sidecar('sidecar in another namespace', other)];
    const users = await userObjects(cluster, [app]);
    const before = await meshView(cluster, [app], callers);
    // Before the open the mirror goes to every reviews pod (no subset): it has endpoints.
    expectNoFailures(mirrorFailures(before, callers, host, {}, { expectSome: true }));

    const who = await actor(cluster, [app]);
    ok(await who.open(openConfig(app, env, { pinUnsubsetRoutes: true })));
    const after = await meshView(cluster, [app], callers);
    const ips = await envPodIps(cluster, app, env);
    expect(ips.length).toBeGreaterThan(0);
    const target: RouteTarget = { request: { authority: host, port: 9080 }, envPodIps: ips };
    expectNoFailures([
      ...routingFailures(before, after, callers, target, requestMatrix(env), env),
      ...callers.flatMap((c) => baselineInvariantFailures(c.label, before.get(c.label)!, after.get(c.label)!)),
      ...callers.flatMap((c) => missingClusterFailures(c.label, after.get(c.label)!)),
      // The baseline route still mirrors (to the baseline subset), never onto the clone's pods.
      ...mirrorFailures(after, callers, host, {}, { forbiddenIps: ips, expectSome: true }),
      // The env copy mirrors nothing onto reviews: the PR's requests are not duplicated onto baseline pods.
      ...mirrorFailures(after, callers, host, { 'x-override': env }, { none: true }),
    ]);
    const vs = await cluster.get('VirtualService', app, 'reviews');
    expect(vs.spec.http.map((r: any) => r.name)).toEqual([`dynamic-env/${env}/all`, 'all']);
    expect(vs.spec.http[1].mirrors).toEqual([{ destination: { host: 'reviews', subset: 'dynamic-env-baseline' }, percentage: { value: 100 } }]);

    ok(await who.close(env));
    expectNoFailures(restoredFailures(before, await meshView(cluster, [app], callers)));
    await expectRestored(cluster, [app], users, [`${app}/reviews`]);
  });
});

const userRoute = { name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] };
/** Another env's copy of the route, long (a long path prefix), written as admin: what many open envs leave behind. */
const fill = (i: number, pad: number) => {
  const other = `pr-fill-${String(i).padStart(2, '0')}`;
  return {
    name: `dynamic-env/${other}/all`,
    match: [{ headers: { 'x-override': { exact: other } }, uri: { prefix: `/${'a'.repeat(pad)}` } }],
    route: [{ destination: { host: 'reviews', subset: other } }],
  };
};

describe.skipIf(skip)('size of the shared VirtualService', () => {
  it('an open that would take a VirtualService over 1 MiB is refused before any write, naming it, its size, the envs on it and the fixes', async () => {
    const { app, env, host, objects } = await reviewsSetting('vssize');
    // Gateway-only, so no sidecar of the shared istiod builds routes from this big object; it still gets env routes.
    const gw = `${app}/edge`;
    const fills = 40;
    const vsWith = (lastPad: number) => virtualService(app, 'reviews-edge', {
      hosts: ['reviews.example.com'], gateways: [gw],
      http: [...Array.from({ length: fills - 1 }, (_, i) => fill(i, 25_000)), fill(fills - 1, lastPad), userRoute],
    });
    await install(cluster, [...objects, vsWith(1_000)]);
    // Top the last copy up so the VirtualService as stored sits just under the limit and this env's copy crosses it.
    const measured = objectBytes(await cluster.get('VirtualService', app, 'reviews-edge'));
    await cluster.apply(vsWith(1_000 + (MAX_VIRTUAL_SERVICE_BYTES - 200) - measured));
    const stored = await cluster.get('VirtualService', app, 'reviews-edge');
    const routing = {
      env, hosts: [host], clusterDomain: 'cluster.local',
      routing: { header: 'x-override', baggageKey: 'override', versionLabel: 'version', pinUnsubsetRoutes: false },
    };
    expect(objectBytes(stored)).toBeLessThanOrEqual(MAX_VIRTUAL_SERVICE_BYTES);
    expect(objectBytes(withEnvRoutes(stored, { name: 'reviews-edge', namespace: app, meshApplies: false }, routing))).toBeGreaterThan(MAX_VIRTUAL_SERVICE_BYTES);

    const who = await actor(cluster, [app]);
    const r = await who.open(openConfig(app, env));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`VirtualService ${app}/reviews-edge: would be \\d+ bytes \\([\\d.]+ KiB\\) with env ${env}'s routes, above the 1024\\.0 KiB dynamic-env allows`));
    const others = Array.from({ length: fills }, (_, i) => `pr-fill-${String(i).padStart(2, '0')}`);
    expect(r.stderr).toContain(`${fills} other envs have routes in it: ${others.join(', ')}`);
    expect(r.stderr).toMatch(/close stale envs .*split the VirtualService.*fewer routes/);
    expect(r.stderr).not.toMatch(/converges/);
    // Refused before the first write: not even the Lease, no clone, the VirtualService untouched.
    expect(who.writes({ leases: true })).toEqual([]);
    expect(await cluster.list('Deployment', app, `dynamic-env.io/env=${env}`)).toEqual([]);
    expect((await cluster.get('VirtualService', app, 'reviews-edge')).metadata.resourceVersion).toBe(stored.metadata.resourceVersion);
  });

  it('sweep --heal does not write the routes back into a VirtualService that no longer fits them: exit 1 naming it, nothing written', async () => {
    const { app, env, objects } = await reviewsSetting('vsheal');
    const gw = `${app}/edge`;
    const small = virtualService(app, 'reviews-edge', { hosts: ['reviews.example.com'], gateways: [gw], http: [userRoute] });
    await install(cluster, [...objects, small]);
    const who = await actor(cluster, [app]);
    ok(await who.open(openConfig(app, env)));
    expect((await cluster.get('VirtualService', app, 'reviews-edge')).spec.http.map((r: any) => r.name)).toEqual([`dynamic-env/${env}/all`, 'all']);

    // A sync replaces the spec with a manifest that has grown (other envs' copies, as in the test above) to just
    // under the limit: the env's routes are gone, and putting them back would cross it.
    const fills = 40;
    const big = (lastPad: number) => virtualService(app, 'reviews-edge', {
      hosts: ['reviews.example.com'], gateways: [gw],
      http: [...Array.from({ length: fills - 1 }, (_, i) => fill(i, 25_000)), fill(fills - 1, lastPad), userRoute],
    });
    await cluster.apply(big(1_000));
    const measured = objectBytes(await cluster.get('VirtualService', app, 'reviews-edge'));
    await cluster.apply(big(1_000 + (MAX_VIRTUAL_SERVICE_BYTES - 200) - measured));
    const synced = await cluster.get('VirtualService', app, 'reviews-edge');
    expect(synced.spec.http.some((r: any) => r.name?.startsWith(`dynamic-env/${env}/`))).toBe(false);

    const writes = who.writes().length;
    const heal = await cli(['sweep', '--heal', '--env', env, '--kubeconfig', who.kubeconfig, '--lock-namespace', app, '--output', 'json']);
    expect(heal.code, heal.stderr).toBe(1);
    const result = JSON.parse(heal.stdout).healed.find((r: any) => r.env === env);
    expect(result).toMatchObject({ healed: [], reason: 'routes not restored: the VirtualService would be too big' });
    expect(result.error).toMatch(new RegExp(`VirtualService ${app}/reviews-edge: would be \\d+ bytes \\([\\d.]+ KiB\\) with env ${env}'s routes, above the 1024\\.0 KiB dynamic-env allows`));
    // Nothing written but the Lease taken and given back; the VirtualService is as the sync left it.
    expect(who.writes().slice(writes)).toEqual([]);
    expect((await cluster.get('VirtualService', app, 'reviews-edge')).metadata.resourceVersion).toBe(synced.metadata.resourceVersion);

    ok(await who.close(env));
  });
});
