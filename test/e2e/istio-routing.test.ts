// Where requests go, according to the configuration istiod generates for posed proxies (callers in the Service's
// namespace and in others, gateways, the env's own pods), for the topologies in which istiod once turned accepted
// objects into wrong routes. Each case: the request matrix before and after open, the baseline invariants, and
// every proxy's configuration identical again after close.
import { describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import { describeOutcome, routeRequest, type XdsSnapshot } from '../harness/oracle/route-oracle.js';
import { watchProxy } from '../harness/proxy.js';
import {
  baselineInvariantFailures, envPodCases, envPodIps, expectNoFailures, meshView, missingClusterFailures, requestMatrix,
  restoredFailures, routingFailures, type Caller, type MeshView, type RouteTarget,
} from '../harness/routing.js';
import {
  ISTIO, actor, deployment, destinationRule, envName, expectRestored, install, ok, service, userObjects, virtualService, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

const gateway = (ns: string, name: string, selector: Record<string, string>, port = 8080): any => ({
  apiVersion: ISTIO, kind: 'Gateway', metadata: { name, namespace: ns },
  spec: { selector, servers: [{ port: { number: port, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] },
});

interface Topology {
  env: string;
  /** Namespaces the env may write in (the identity's RoleBindings); the first holds the Service. */
  namespaces: string[];
  objects: any[];
  callers: Caller[];
  service: { ns: string; deployment: string; host: string };
  /** VirtualServices the env edits (`ns/name`); default: every VirtualService in `objects`. */
  edited?: string[];
  /** Extra checks on the views (before open, after open). */
  extra?: (before: MeshView, after: MeshView, env: string) => string[];
}

/** Opens an env over the topology and checks routing through istiod's configuration, then closes it. */
async function checkTopology(t: Topology): Promise<void> {
  await install(cluster, t.objects);
  const who = await actor(cluster, t.namespaces);
  const users = await userObjects(cluster, t.namespaces);
  const env = t.env;
  const before = await meshView(cluster, t.namespaces, t.callers);
  ok(await who.open(writeConfig(cluster, { env, services: [{ namespace: t.service.ns, deployment: t.service.deployment, image: 'ghcr.io/acme/app:pr' }] })));

  const envPod: Caller = { label: 'the env\'s own pod', proxy: { namespace: t.service.ns, labels: envPodLabels(t, env) } };
  const after = await meshView(cluster, t.namespaces, [...t.callers, envPod]);
  const ips = await envPodIps(cluster, t.service.ns, env);
  expect(ips.length).toBeGreaterThan(0);
  const target: RouteTarget = { request: { authority: t.service.host, port: 9080 }, envPodIps: ips };
  const sidecars = t.callers.filter((c) => (c.proxy.kind ?? 'sidecar') === 'sidecar');
  expectNoFailures([
    ...routingFailures(before, after, t.callers, target, requestMatrix(env), env),
    // The env's pods call the env's versions without a header (sourceLabels); compare with a caller in its namespace.
    ...routingFailures(withLabel(before, sidecars[0]!.label, envPod.label), after, [envPod], target, envPodCases, env),
    ...t.callers.flatMap((c) => baselineInvariantFailures(c.label, before.get(c.label)!, after.get(c.label)!)),
    ...missingClusterFailures(envPod.label, after.get(envPod.label)!),
    ...(t.extra?.(before, after, env) ?? []),
  ]);

  ok(await who.close(env));
  const restored = await meshView(cluster, t.namespaces, t.callers);
  expectNoFailures(restoredFailures(before, restored));
  await expectRestored(cluster, t.namespaces, users, editedVirtualServices(t));
}

const envPodLabels = (t: Topology, env: string): Record<string, string> => {
  const d = t.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === t.service.deployment);
  return { ...d.spec.template.metadata.labels, version: env, 'dynamic-env.io/env': env };
};

const withLabel = (view: MeshView, from: string, to: string): MeshView => new Map([[to, view.get(from)!]]);

const editedVirtualServices = (t: Topology): string[] => t.edited ??
  t.objects.filter((o) => o.kind === 'VirtualService').map((o) => `${o.metadata.namespace}/${o.metadata.name}`);

/** reviews-v1 behind Service reviews with subset v1; callers in its namespace and in another. */
function reviewsApp(app: string): any[] {
  return [
    deployment(app, 'reviews-v1', { labels: { app: 'reviews', version: 'v1' } }),
    service(app, 'reviews', { app: 'reviews' }),
  ];
}

/** A fresh namespace for reviews, one for callers, an env name, and the reviews Service as the routed service. */
async function reviewsSetting(prefix: string) {
  const app = await cluster.namespace(prefix);
  const other = await cluster.namespace('caller');
  const host = `reviews.${app}.svc.cluster.local`;
  return { app, other, env: envName(), host, service: { ns: app, deployment: 'reviews-v1', host } };
}

const sidecar = (label: string, namespace: string): Caller => ({ label, proxy: { namespace, labels: { app: 'client', version: 'v1' } } });

describe.skipIf(skip)('routing as istiod generates it', () => {
  it('a VirtualService bound to a gateway and mesh: sidecars and the gateway keep the baseline without the header; a gateway pod labelled like the env is not captured', async () => {
    const { app, other, env, service } = await reviewsSetting('gwmesh');
    const edge = { authority: 'reviews.example.com', port: 8080 };
    await checkTopology({
      env,
      namespaces: [app],
      service,
      objects: [
        ...reviewsApp(app),
        destinationRule(app, 'reviews', 'reviews', ['v1']),
        gateway(app, 'public-gw', { istio: 'ingress-test', app: `gw-${app}` }),
        virtualService(app, 'reviews', {
          hosts: ['reviews', 'reviews.example.com'], gateways: ['public-gw', 'mesh'],
          http: [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }],
        }),
      ],
      callers: [
        sidecar('sidecar in the Service\'s namespace', app),
        sidecar('sidecar in another namespace', other),
        { label: 'gateway', proxy: { kind: 'router', namespace: app, labels: { istio: 'ingress-test', app: `gw-${app}` } }, request: edge },
        { label: 'gateway pod labelled version=<env>', proxy: { kind: 'router', namespace: app, labels: { istio: 'ingress-test', app: `gw-${app}`, version: env } }, request: edge },
      ],
    });
  });

  it('a user DestinationRule exported to a list of namespaces keeps its subsets and policy while an env is open', async () => {
    const { app, other, env, service } = await reviewsSetting('drexp');
    await checkTopology({
      env,
      namespaces: [app],
      service,
      objects: [
        ...reviewsApp(app),
        destinationRule(app, 'reviews', 'reviews', ['v1'], {
          exportTo: ['.', other],
          trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 7 } } },
        }),
        virtualService(app, 'reviews', { hosts: ['reviews'], http: [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }),
      ],
      callers: [sidecar('sidecar in the Service\'s namespace', app), sidecar('sidecar in the exported-to namespace', other)],
    });
  });

  it('a user DestinationRule for the host in a caller\'s namespace: callers there reach the env and keep their own policy', async () => {
    const { app, other, env, host, service } = await reviewsSetting('drcaller');
    await checkTopology({
      env,
      namespaces: [app, other],
      service,
      objects: [
        ...reviewsApp(app),
        destinationRule(app, 'reviews', 'reviews', ['v1']),
        destinationRule(other, 'reviews-from-caller', host, ['v1'], {
          trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 3 } } },
        }),
        virtualService(app, 'reviews', { hosts: ['reviews'], http: [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }),
      ],
      callers: [sidecar('sidecar in the Service\'s namespace', app), sidecar('sidecar in the namespace with its own rule', other)],
      extra: (_before, after, e) => {
        // The env's cluster seen from the caller's namespace carries that namespace's policy.
        const cluster = after.get('sidecar in the namespace with its own rule')!.clusters.find((c: any) => c.name === `outbound|9080|${e}|${host}`);
        return cluster?.circuit_breakers?.thresholds?.[0]?.max_pending_requests === 3
          ? [] : [`the env's cluster in the caller's namespace lacks the caller's rule's policy: ${JSON.stringify(cluster?.circuit_breakers)}`];
      },
    });
  });

  it('a caller\'s namespace where the identity may not write its DestinationRule: open refuses before any write, naming the object and the RoleBinding', async () => {
    const { app, other, env, host } = await reviewsSetting('drnorbac');
    await install(cluster, [
      ...reviewsApp(app),
      destinationRule(app, 'reviews', 'reviews', ['v1']),
      destinationRule(other, 'reviews-from-caller', host, ['v1']),
      virtualService(app, 'reviews', { hosts: ['reviews'], http: [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }),
    ]);
    const callers = [sidecar('sidecar in the namespace with its own rule', other), sidecar('sidecar in the Service\'s namespace', app)];
    const who = await actor(cluster, [app]); // no RoleBinding in `other`
    const before = await meshView(cluster, [app, other], callers);
    const r = await who.open(writeConfig(cluster, { env, services: [{ namespace: app, deployment: 'reviews-v1', image: 'ghcr.io/acme/app:pr' }] }));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`DestinationRule ${other}/`);
    expect(r.stderr).toMatch(/RoleBinding/);
    expect(who.writes({ leases: true })).toEqual([]);
    expectNoFailures(restoredFailures(before, await meshView(cluster, [app, other], callers)));
  });

  it('a mesh-wide wildcard DestinationRule in the root namespace keeps applying to the baseline while an env is open', async () => {
    const { app, other, env, service } = await reviewsSetting('drwild');
    const wildcard = destinationRule('istio-system', `wildcard-${app}`, `*.${app}.svc.cluster.local`, [], {
      trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 5 } }, outlierDetection: { consecutive5xxErrors: 4 } },
    });
    try {
      await checkTopology({
        env,
        namespaces: [app],
        service,
        // No VirtualService and no DestinationRule of the user's for reviews: dynamic-env makes its own of both.
        objects: [...reviewsApp(app), wildcard],
        callers: [sidecar('sidecar in the Service\'s namespace', app), sidecar('sidecar in another namespace', other)],
      });
    } finally {
      await cluster.delete('DestinationRule', 'istio-system', `wildcard-${app}`);
    }
  });

  it('a wildcard DestinationRule in the Service\'s namespace keeps applying to the baseline while an env is open', async () => {
    const { app, other, env, service } = await reviewsSetting('drwildns');
    await checkTopology({
      env,
      namespaces: [app],
      service,
      objects: [
        ...reviewsApp(app),
        destinationRule(app, 'all-in-namespace', `*.${app}.svc.cluster.local`, [], {
          trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 9 } } },
        }),
      ],
      callers: [sidecar('sidecar in the Service\'s namespace', app), sidecar('sidecar in another namespace', other)],
    });
  });

  it('delegate VirtualServices: env requests get the root route\'s header operations, like baseline requests', async () => {
    const app = await cluster.namespace('dlgroot');
    const dlg = await cluster.namespace('dlg');
    const env = envName();
    const host = `reviews.${app}.svc.cluster.local`;
    const callerLabel = 'sidecar in the Service\'s namespace';
    await checkTopology({
      env,
      namespaces: [app, dlg],
      service: { ns: app, deployment: 'reviews-v1', host },
      objects: [
        ...reviewsApp(app),
        destinationRule(app, 'reviews', 'reviews', ['v1']),
        virtualService(app, 'reviews', {
          hosts: ['reviews'],
          http: [{
            name: 'api', match: [{ uri: { prefix: '/' } }], delegate: { name: 'reviews-api', namespace: dlg },
            headers: { request: { set: { 'x-root': 'yes' } } },
          }],
        }),
        virtualService(dlg, 'reviews-api', { http: [{ name: 'v1', route: [{ destination: { host, subset: 'v1' } }] }] }),
      ],
      callers: [sidecar(callerLabel, app)],
      edited: [`${dlg}/reviews-api`],
      extra: (_before, after, e) => {
        const snap = after.get(callerLabel)!;
        const base = matchedRoute(snap, { authority: host, port: 9080 }, {});
        const envRoute = matchedRoute(snap, { authority: host, port: 9080 }, { 'x-override': e });
        const ops = (r: any) => JSON.stringify(r?.request_headers_to_add ?? []);
        return ops(base) === ops(envRoute) && ops(base).includes('x-root')
          ? [] : [`request header operations differ: baseline ${ops(base)}, env ${ops(envRoute)}`];
      },
    });
  });

  it('a VirtualService exported only to its own namespace: open refuses before any write (other namespaces would reach the PR without the header)', async () => {
    const { app, other, env } = await reviewsSetting('vsexp');
    await install(cluster, [
      ...reviewsApp(app),
      destinationRule(app, 'reviews', 'reviews', ['v1']),
      virtualService(app, 'reviews', {
        hosts: ['reviews'], exportTo: ['.'],
        http: [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }],
      }),
    ]);
    const callers = [sidecar('sidecar in another namespace', other), sidecar('sidecar in the Service\'s namespace', app)];
    const who = await actor(cluster, [app]);
    const before = await meshView(cluster, [app], callers);
    const r = await who.open(writeConfig(cluster, { env, services: [{ namespace: app, deployment: 'reviews-v1', image: 'ghcr.io/acme/app:pr' }] }));
    if (r.code === 0) {
      // What a user of the old behaviour got: show where baseline requests from other namespaces went.
      const after = await meshView(cluster, [app], callers);
      const target = { request: { authority: `reviews.${app}.svc.cluster.local`, port: 9080 }, envPodIps: await envPodIps(cluster, app, env) };
      expectNoFailures(routingFailures(before, after, callers, target, requestMatrix(env), env));
    }
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`VirtualService ${app}/reviews`);
    expect(r.stderr).toMatch(/exportTo/);
    expect(who.writes({ leases: true })).toEqual([]);
    expectNoFailures(restoredFailures(before, await meshView(cluster, [app], callers)));
  });
});

/** The Envoy route a request matches, as istiod generated it. */
function matchedRoute(snap: XdsSnapshot, at: { authority: string; port: number }, headers: Record<string, string>): any {
  const o = routeRequest(snap, { ...at, headers });
  const rc = snap.routes.find((r: any) => r.name === o.routeConfig);
  const vh = rc?.virtual_hosts?.find((v: any) => v.name === o.virtualHost);
  return (vh?.routes ?? []).find((r: any, i: number) => (r.name ?? `#${i}`) === o.route);
}

describe.skipIf(skip)('make before break, followed push by push', () => {
  it('while an env opens and closes, no state a proxy holds routes the host to a missing or empty cluster', async () => {
    const app = await cluster.namespace('mbb');
    const env = envName();
    const host = `reviews.${app}.svc.cluster.local`;
    await install(cluster, [
      ...reviewsApp(app),
      destinationRule(app, 'reviews', 'reviews', ['v1']),
      virtualService(app, 'reviews', { hosts: ['reviews'], http: [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] }),
    ]);
    const who = await actor(cluster, [app]);
    await meshView(cluster, [app], []);
    const watch = await watchProxy(cluster.info, { namespace: app, labels: { app: 'client' } });
    try {
      ok(await who.open(writeConfig(cluster, { env, services: [{ namespace: app, deployment: 'reviews-v1', image: 'ghcr.io/acme/app:pr' }] }), '--drain', '3s'));
      await meshView(cluster, [app], []);
      const opened = watch.states.length;
      ok(await who.close(env, '--drain', '3s'));
      await meshView(cluster, [app], []);
      const failures = watch.states.flatMap((s, i) => brokenRoutes(s, host).map((b) => `state ${i} (${i < opened ? 'open' : 'close'}, after ${s.type.split('.').pop()}): ${b}`));
      // The env was routed at some point, so the watch saw the change happen.
      expect(watch.states.some((s) => s.clusters.some((c: any) => c.name === `outbound|9080|${env}|${host}`))).toBe(true);
      expectNoFailures(failures);
    } finally {
      await watch.stop();
    }
  });
});

describe.skipIf(skip)('make before break with pinned routes', () => {
  it('while an env opens and closes over a route without a subset, no state sends a baseline request to a clone pod or a missing cluster', async () => {
    const app = await cluster.namespace('mbbpin');
    const env = envName();
    const host = `web.${app}.svc.cluster.local`;
    await install(cluster, [
      deployment(app, 'web-v1', { labels: { app: 'web', version: 'v1' } }),
      service(app, 'web', { app: 'web' }),
      virtualService(app, 'web', { hosts: ['web'], http: [{ name: 'all', route: [{ destination: { host: 'web' } }] }] }),
    ]);
    const who = await actor(cluster, [app]);
    await meshView(cluster, [app], []);
    const watch = await watchProxy(cluster.info, { namespace: app, labels: { app: 'client' } });
    try {
      ok(await who.open(writeConfig(cluster, {
        env, routing: { pinUnsubsetRoutes: true }, services: [{ namespace: app, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' }],
      }), '--drain', '3s'));
      await meshView(cluster, [app], []);
      const clonePods = new Set(await envPodIps(cluster, app, env));
      expect(clonePods.size).toBeGreaterThan(0);
      const opened = watch.states.length;
      ok(await who.close(env, '--drain', '3s'));
      await meshView(cluster, [app], []);
      const phase = (i: number) => (i < opened ? 'open' : 'close');
      const failures = watch.states.flatMap((s, i) => {
        const o = routeRequest(s, { authority: host, port: 9080 });
        const leaked = o.clusters.flatMap((c) => c.endpoints).filter((e) => clonePods.has(e.replace(/:\d+$/, '')));
        return [
          ...brokenRoutes(s, host).map((b) => `state ${i} (${phase(i)}): ${b}`),
          ...(leaked.length > 0 ? [`state ${i} (${phase(i)}, after ${s.type.split('.').pop()}): a baseline request reaches clone pod(s) ${leaked.join(', ')} via ${describeOutcome(o)}`] : []),
        ];
      });
      expectNoFailures(failures);
    } finally {
      await watch.stop();
    }
  });
});

/** Routes for `host` whose cluster is missing or has no endpoints in this state. */
function brokenRoutes(s: XdsSnapshot, host: string): string[] {
  const out: string[] = [];
  for (const rc of s.routes) {
    for (const vh of rc.virtual_hosts ?? []) {
      for (const r of vh.routes ?? []) {
        const names: string[] = r.route?.cluster ? [r.route.cluster] : (r.route?.weighted_clusters?.clusters ?? []).map((c: any) => c.name);
        for (const name of names.filter((n) => n.endsWith(`|${host}`))) {
          const c = s.clusters.find((x: any) => x.name === name);
          const eds = c?.eds_cluster_config?.service_name ?? name;
          const eps = s.endpoints.find((e: any) => e.cluster_name === eds)?.endpoints?.flatMap((l: any) => l.lb_endpoints ?? []) ?? [];
          if (!c) out.push(`route ${r.name ?? '(unnamed)'} names missing cluster ${name}`);
          else if (eps.length === 0) out.push(`route ${r.name ?? '(unnamed)'} names cluster ${name} with no endpoints`);
        }
      }
    }
  }
  return out;
}
