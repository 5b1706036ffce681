// Routing topologies end to end, with the least-privilege ServiceAccount: delegate VirtualServices in another
// namespace, gateway-bound VirtualServices that also serve the mesh, one VirtualService for several hosts, several
// Services per Deployment, a host with no VirtualService (ours is made, shared, and deleted with the last env), and
// two envs before the same routes in byte order. Every open is closed and the user's objects are proven unchanged.
// Besides the objects' shape, every topology is checked where it matters: the request matrix through the route
// oracle on the configuration istiod generates for posed callers (sidecars in the Service's namespace and in another,
// the gateway, the env's own pods), the baseline invariants after each open, and every caller's configuration
// identical to before the first open after the last close (test/harness/routing.ts).
import { describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import {
  baselineInvariantFailures, envPodCases, expectNoFailures, meshView, missingClusterFailures, requestMatrix, restoredFailures,
  routingFailures, type Caller, type MeshView, type RequestCase,
} from '../harness/routing.js';
import {
  ISTIO, actor, deployment, destinationRule, envName, expectRestored, install, ok, routeNames, service, userObjects, virtualService, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

const headerMatch = (env: string) => ({ 'x-override': { regex: `(?:.*,)?[ \\t]*${env}[ \\t]*(?:,.*)?` } });
const baggageMatch = (env: string) => ({ baggage: { regex: `(?:.*,)?[ \\t]*override[ \\t]*=[ \\t]*${env}[ \\t]*(?:;[^,]*)?(?:,.*)?` } });
const response = (env: string) => ({ response: { set: { 'x-dynamic-env': env } } });

// ---------------------------------------------------------------------------------------------------------------
// Routing through istiod's configuration

const sidecar = (label: string, namespace: string): Caller => ({ label, proxy: { namespace, labels: { app: 'client', version: 'v1' } } });

/** A sidecar with the given pod labels (one of an env's clones, or a look-alike). */
const pod = (label: string, namespace: string, labels: Record<string, string>): Caller => ({ label, proxy: { namespace, labels } });

/** A clone's pod labels, stated independently of the product: the original's, version label and env label = env. */
const cloneLabels = (original: Record<string, string>, env: string, versionLabel = 'version'): Record<string, string> =>
  ({ ...original, [versionLabel]: env, 'dynamic-env.io/env': env });

/** Pod IPs of env's clone of one app (an env may clone several Deployments into one namespace). */
async function clonePodIps(ns: string, env: string, app: string): Promise<string[]> {
  const pods = await cluster.list('Pod', ns, `dynamic-env.io/env=${env},app=${app}`);
  const ips = pods.map((p: any) => p.status?.podIP).filter(Boolean).sort();
  expect(ips.length, `pods of ${env}'s clone of ${app} in ${ns}`).toBeGreaterThan(0);
  return ips;
}

interface Target {
  /** The Service's host, on port 9080 (a caller with its own `request`, a gateway, keeps its authority and port). */
  host: string;
  /** Paths requested; default `/`. */
  paths?: string[];
  /** Pod IPs of the env's clone behind the host (unused when every case is `baseline`). */
  ips: string[];
}

/** routingFailures for every path of the target and every caller, each failure prefixed with authority and path. */
function routed(before: MeshView, after: MeshView, callers: Caller[], t: Target, cases: RequestCase[], env: string): string[] {
  return (t.paths ?? ['/']).flatMap((path) => callers.flatMap((c) => {
    const caller = c.request ? { ...c, request: { ...c.request, path } } : c;
    const target = { request: { authority: t.host, port: 9080, path }, envPodIps: t.ips };
    return routingFailures(before, after, [caller], target, cases, env).map((f) => `${c.request?.authority ?? t.host} ${path}: ${f}`);
  }));
}

/**
 * The same for one of the env's pods (or a look-alike), which did not exist before the open: its requests are
 * compared with what a sidecar in its namespace reached then.
 */
function routedFrom(p: Caller, sameNamespace: Caller, before: MeshView, after: MeshView, t: Target, cases: RequestCase[], env: string): string[] {
  return routed(new Map([[p.label, before.get(sameNamespace.label)!]]), after, [p], t, cases, env);
}

/** Cases that must all keep the baseline (a host the env does not cover, a Service left alone). */
const allBaseline = (cases: RequestCase[]): RequestCase[] => cases.map((c) => ({ ...c, expect: 'baseline' as const }));

/** No header, from a pod that must not be taken for the env's. */
const lookAlikeCases: RequestCase[] = allBaseline(envPodCases).map((c) => ({ ...c, label: 'no header, from a pod that is not the env\'s' }));

const invariants = (before: MeshView, after: MeshView, callers: Caller[]): string[] =>
  callers.flatMap((c) => baselineInvariantFailures(c.label, before.get(c.label)!, after.get(c.label)!));

const missing = (after: MeshView, callers: Caller[]): string[] => callers.flatMap((c) => missingClusterFailures(c.label, after.get(c.label)!));

describe.skipIf(skip)('routing topologies', () => {
  it('a delegate VirtualService in another namespace gets the env routes (with the mesh block, and without headers where the route has none, so the root\'s apply); the root keeps its delegate route', async () => {
    const app = await cluster.namespace('root');
    const dlg = await cluster.namespace('delegate');
    const other = await cluster.namespace('caller');
    const reviews = `reviews.${app}.svc.cluster.local`;
    const original = { app: 'reviews', version: 'v1' };
    await install(cluster, [
      deployment(app, 'reviews-v1', { labels: original }),
      service(app, 'reviews', { app: 'reviews' }),
      destinationRule(app, 'reviews', 'reviews', ['v1']),
      virtualService(app, 'reviews', {
        hosts: ['reviews'],
        http: [
          { name: 'api', match: [{ uri: { prefix: '/reviews' } }], delegate: { name: 'reviews-api', namespace: dlg } },
          { name: 'rest', route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
        ],
      }),
      virtualService(dlg, 'reviews-api', {
        http: [{ name: 'v1', match: [{ uri: { prefix: '/reviews/v1' } }], route: [{ destination: { host: reviews, subset: 'v1' } }] }],
      }),
    ]);
    const inNs = sidecar('sidecar in the Service\'s namespace', app);
    const callers = [inNs, sidecar('sidecar in another namespace', other)];
    const who = await actor(cluster, [app, dlg]);
    const before = await userObjects(cluster, [app, dlg]);
    const mesh = await meshView(cluster, [app, dlg], callers);
    const env = envName();
    const r = ok(await who.open(writeConfig(cluster, { env, services: [{ namespace: app, deployment: 'reviews-v1', image: 'ghcr.io/acme/reviews:pr' }] })));
    expect(r.json.services[0].virtualServices).toEqual([{ name: 'reviews', namespace: app }, { name: 'reviews-api', namespace: dlg }]
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)));

    expect(await routeNames(cluster, app, 'reviews')).toEqual(['api', `dynamic-env/${env}/rest`, 'rest']);
    const delegate = await cluster.get('VirtualService', dlg, 'reviews-api');
    expect(delegate.spec.http[0]).toEqual({
      name: `dynamic-env/${env}/v1`,
      match: [
        { uri: { prefix: '/reviews/v1' }, headers: headerMatch(env) },
        { uri: { prefix: '/reviews/v1' }, headers: baggageMatch(env) },
        { uri: { prefix: '/reviews/v1' }, sourceLabels: { version: env, 'dynamic-env.io/env': env } },
      ],
      route: [{ destination: { host: reviews, subset: env } }],
    });
    expect(delegate.spec.hosts).toBeUndefined();
    expect(delegate.spec.http[1]).toEqual(before.get(`VirtualService ${dlg}/reviews-api`).spec.http[0]);

    // Through the delegate (/reviews/v1), past it under the root route's prefix (/reviews/v2), and the root's own route.
    const envPod = pod('the env\'s own pod', app, cloneLabels(original, env));
    const after = await meshView(cluster, [app, dlg], [...callers, envPod]);
    const target: Target = { host: reviews, paths: ['/reviews/v1', '/reviews/v2', '/'], ips: await clonePodIps(app, env, 'reviews') };
    expectNoFailures([
      ...routed(mesh, after, callers, target, requestMatrix(env), env),
      ...routedFrom(envPod, inNs, mesh, after, target, envPodCases, env),
      ...invariants(mesh, after, callers),
      ...missing(after, [envPod]),
    ]);

    ok(await who.close(env));
    expectNoFailures(restoredFailures(mesh, await meshView(cluster, [app, dlg], callers)));
    await expectRestored(cluster, [app, dlg], before, [`${app}/reviews`, `${dlg}/reviews-api`]);
  });

  it('gateway-bound VirtualServices: with mesh, the mesh block lists no gateways and selects the env label; gateway-only blocks and VirtualServices get no sourceLabels', async () => {
    const ns = await cluster.namespace('gateway');
    const other = await cluster.namespace('caller');
    const gw = `${ns}/bookinfo-gateway`;
    const selector = { istio: `ingress-${ns}` };
    const host = `productpage.${ns}.svc.cluster.local`;
    const original = { app: 'productpage', version: 'v1' };
    await install(cluster, [
      deployment(ns, 'productpage-v1', { labels: original }),
      service(ns, 'productpage', { app: 'productpage' }),
      destinationRule(ns, 'productpage', 'productpage', ['v1']),
      {
        apiVersion: ISTIO, kind: 'Gateway', metadata: { name: 'bookinfo-gateway', namespace: ns },
        spec: { selector, servers: [{ port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] },
      },
      virtualService(ns, 'productpage', {
        hosts: ['productpage', 'bookinfo.example.com'],
        gateways: [gw, 'mesh'],
        http: [
          {
            name: 'ui',
            match: [{ uri: { prefix: '/productpage' } }, { uri: { prefix: '/static' }, gateways: [gw] }],
            route: [{ destination: { host: 'productpage', subset: 'v1', port: { number: 9080 } } }],
            rewrite: { uri: '/' },
          },
          { name: 'default', route: [{ destination: { host: 'productpage', subset: 'v1' } }] },
        ],
      }),
      virtualService(ns, 'edge', {
        hosts: ['*'], gateways: ['bookinfo-gateway'],
        http: [{ name: 'edge', match: [{ uri: { prefix: '/' } }], route: [{ destination: { host: 'productpage', subset: 'v1' } }] }],
      }),
    ]);
    const inNs = sidecar('sidecar in the Service\'s namespace', ns);
    const callers: Caller[] = [
      inNs,
      sidecar('sidecar in another namespace', other),
      // bookinfo.example.com: productpage's routes (mesh and gateway blocks); any other host: edge's.
      { label: 'gateway', proxy: { kind: 'router', namespace: ns, labels: selector }, request: { authority: 'bookinfo.example.com', port: 8080 } },
      { label: 'gateway, another host', proxy: { kind: 'router', namespace: ns, labels: selector }, request: { authority: 'shop.example.com', port: 8080 } },
    ];
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const mesh = await meshView(cluster, [ns], callers);
    const env = envName();
    ok(await who.open(writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'productpage-v1', image: 'ghcr.io/acme/productpage:pr' }] })));

    const pp = await cluster.get('VirtualService', ns, 'productpage');
    expect(pp.spec.http.map((r: any) => r.name)).toEqual([`dynamic-env/${env}/ui`, 'ui', `dynamic-env/${env}/default`, 'default']);
    expect(pp.spec.http[0]).toEqual({
      name: `dynamic-env/${env}/ui`,
      match: [
        { uri: { prefix: '/productpage' }, headers: headerMatch(env) },
        { uri: { prefix: '/productpage' }, headers: baggageMatch(env) },
        { uri: { prefix: '/productpage' }, sourceLabels: { version: env, 'dynamic-env.io/env': env } },
        { uri: { prefix: '/static' }, gateways: [gw], headers: headerMatch(env) },
        { uri: { prefix: '/static' }, gateways: [gw], headers: baggageMatch(env) },
      ],
      route: [{ destination: { host: 'productpage', subset: env, port: { number: 9080 } } }],
      rewrite: { uri: '/' },
      headers: response(env),
    });
    expect(pp.spec.http[2].match).toEqual([
      { headers: headerMatch(env) }, { headers: baggageMatch(env) }, { sourceLabels: { version: env, 'dynamic-env.io/env': env } },
    ]);
    const edge = await cluster.get('VirtualService', ns, 'edge');
    expect(edge.spec.http[0].name).toBe(`dynamic-env/${env}/edge`);
    expect(edge.spec.http[0].match).toEqual([
      { uri: { prefix: '/' }, headers: headerMatch(env) }, { uri: { prefix: '/' }, headers: baggageMatch(env) },
    ]);
    // No VirtualService of ours: the mesh one covers the host.
    expect(await cluster.list('VirtualService', ns, 'dynamic-env.io/role=routing')).toEqual([]);

    // /productpage: the mesh-and-gateway block; /static: the gateway-only block (sidecars fall through to default).
    const envPod = pod('the env\'s own pod', ns, cloneLabels(original, env));
    const after = await meshView(cluster, [ns], [...callers, envPod]);
    const target: Target = { host, paths: ['/productpage', '/static', '/'], ips: await clonePodIps(ns, env, 'productpage') };
    expectNoFailures([
      ...routed(mesh, after, callers, target, requestMatrix(env), env),
      ...routedFrom(envPod, inNs, mesh, after, target, envPodCases, env),
      ...invariants(mesh, after, callers),
      ...missing(after, [envPod]),
    ]);

    ok(await who.close(env));
    expectNoFailures(restoredFailures(mesh, await meshView(cluster, [ns], callers)));
    await expectRestored(cluster, [ns], before, [`${ns}/productpage`, `${ns}/edge`]);
  });

  it('one VirtualService for several hosts, several Services per Deployment, a host with no VirtualService, two envs in byte order', async () => {
    const ns = await cluster.namespace('shared');
    const other = await cluster.namespace('caller');
    const fqdn = (s: string) => `${s}.${ns}.svc.cluster.local`;
    const ratingsLabels = { app: 'ratings', version: 'v1' };
    await install(cluster, [
      deployment(ns, 'details-v1', { labels: { app: 'details', version: 'v1' } }),
      // Its selector leaves the version out, so it also selects the clone's pods: the user's Deployment must still
      // come out of open and close unchanged.
      deployment(ns, 'ratings-v1', { labels: ratingsLabels, selector: { app: 'ratings' } }),
      service(ns, 'details', { app: 'details' }),
      service(ns, 'ratings', { app: 'ratings' }),
      // A second Service in front of ratings, with no VirtualService: dynamic-env makes its own.
      service(ns, 'ratings-grpc', { app: 'ratings' }),
      // A Service that selects the version: it cannot reach the clone, so it is left alone (with a warning).
      service(ns, 'ratings-v1-only', { app: 'ratings', version: 'v1' }),
      destinationRule(ns, 'details', 'details', ['v1']),
      destinationRule(ns, 'ratings', 'ratings', ['v1']),
      virtualService(ns, 'backends', {
        hosts: ['details', 'ratings'],
        http: [
          { name: 'details', match: [{ authority: { prefix: 'details' } }], route: [{ destination: { host: 'details', subset: 'v1' } }] },
          { name: 'ratings', match: [{ authority: { prefix: 'ratings' } }], route: [{ destination: { host: 'ratings', subset: 'v1' } }] },
        ],
      }),
    ]);
    const inNs = sidecar('sidecar in the Services\' namespace', ns);
    const callers = [inNs, sidecar('sidecar in another namespace', other)];
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const mesh = await meshView(cluster, [ns], callers);
    const base = envName();
    const [a, b] = [`${base}-a`, `${base}-b`];
    const own = `dynamic-env-ratings-grpc`;
    // Both Services in front of ratings route to the clone; details only for a; ratings-v1-only never.
    const ratingsHosts = [fqdn('ratings'), fqdn('ratings-grpc')];
    const [details, v1Only] = [fqdn('details'), fqdn('ratings-v1-only')];

    // b first (ratings only), then a (details and ratings): a's routes still come first.
    const rb = ok(await who.open(writeConfig(cluster, { env: b, services: [{ namespace: ns, deployment: 'ratings-v1', image: 'ghcr.io/acme/ratings:b' }] })));
    expect(rb.json.warnings).toEqual([expect.stringContaining(`Service ${ns}/ratings-v1-only selects ratings-v1's pods but not the clone's`)]);
    expect(await routeNames(cluster, ns, 'backends')).toEqual(['details', `dynamic-env/${b}/ratings`, 'ratings']);
    const ours = await cluster.get('VirtualService', ns, own);
    expect(ours.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/role': 'routing' });
    expect(ours.spec.hosts).toEqual([fqdn('ratings-grpc')]);
    expect(ours.spec.http.map((r: any) => r.name)).toEqual([`dynamic-env/${b}/baseline`, 'baseline']);
    expect(ours.spec.http[1]).toEqual({ name: 'baseline', route: [{ destination: { host: fqdn('ratings-grpc'), subset: 'dynamic-env-baseline' } }] });
    expect(ours.spec.http[0].route).toEqual([{ destination: { host: fqdn('ratings-grpc'), subset: b } }]);
    // The host with our VirtualService needs the baseline subset; the host with the user's subsets does not.
    expect((await cluster.get('DestinationRule', ns, `dynamic-env-${b}-ratings-grpc`)).spec).toEqual({
      host: fqdn('ratings-grpc'),
      subsets: [{ name: b, labels: { version: b } }, { name: 'dynamic-env-baseline', labels: { version: 'v1' } }],
    });
    expect((await cluster.get('DestinationRule', ns, `dynamic-env-${b}-ratings`)).spec.subsets).toEqual([{ name: b, labels: { version: b } }]);
    expect(await cluster.getOrNull('DestinationRule', ns, `dynamic-env-${b}-ratings-v1-only`)).toBeNull();

    // Only b open: a request naming a (not open) keeps the baseline.
    const podB = pod(`${b}'s ratings pod`, ns, cloneLabels(ratingsLabels, b));
    const afterB = await meshView(cluster, [ns], [...callers, podB]);
    const ratingsB = await clonePodIps(ns, b, 'ratings');
    expectNoFailures([
      ...ratingsHosts.flatMap((host) => routed(mesh, afterB, callers, { host, ips: ratingsB }, requestMatrix(b, { other: a }), b)),
      ...[details, v1Only].flatMap((host) => routed(mesh, afterB, callers, { host, ips: [] }, allBaseline(requestMatrix(b, { other: a })), b)),
      ...ratingsHosts.flatMap((host) => routedFrom(podB, inNs, mesh, afterB, { host, ips: ratingsB }, envPodCases, b)),
      ...[details, v1Only].flatMap((host) => routedFrom(podB, inNs, mesh, afterB, { host, ips: [] }, allBaseline(envPodCases), b)),
      ...invariants(mesh, afterB, callers),
      ...missing(afterB, [podB]),
    ]);

    const ra = ok(await who.open(writeConfig(cluster, {
      env: a,
      services: [
        { namespace: ns, deployment: 'details-v1', image: 'ghcr.io/acme/details:a' },
        { namespace: ns, deployment: 'ratings-v1', image: 'ghcr.io/acme/ratings:a' },
      ],
    })));
    expect(await routeNames(cluster, ns, 'backends')).toEqual([
      `dynamic-env/${a}/details`, 'details', `dynamic-env/${a}/ratings`, `dynamic-env/${b}/ratings`, 'ratings',
    ]);
    expect(await routeNames(cluster, ns, own)).toEqual([`dynamic-env/${a}/baseline`, `dynamic-env/${b}/baseline`, 'baseline']);
    const ratingsA = ra.json.services.find((s: any) => s.deployment === 'ratings-v1');
    expect(ratingsA).toMatchObject({
      // Byte order of the hosts ("-" sorts before "."), and the DestinationRules in the same order.
      hosts: [fqdn('ratings-grpc'), fqdn('ratings')],
      destinationRules: [{ name: `dynamic-env-${a}-ratings-grpc`, namespace: ns }, { name: `dynamic-env-${a}-ratings`, namespace: ns }],
      virtualServices: [{ name: 'backends', namespace: ns }, { name: own, namespace: ns }],
    });
    const status = ok(await who.status(a));
    expect(status.json.services.find((s: any) => s.deployment === 'ratings-v1')).toMatchObject({
      hosts: ratingsA.hosts, destinationRules: ratingsA.destinationRules, virtualServices: ratingsA.virtualServices,
    });

    // Both open on the ratings hosts: each env's own requests reach it; a request naming both reaches a, first in
    // byte order (DESIGN "Routing"); the matrices name a third env, not open, as "another env". On details only a is
    // open, so a request naming b keeps the baseline there.
    const podA = pod(`${a}'s ratings pod`, ns, cloneLabels(ratingsLabels, a));
    const afterAB = await meshView(cluster, [ns], [...callers, podA, podB]);
    const [ratingsA2, detailsA] = [await clonePodIps(ns, a, 'ratings'), await clonePodIps(ns, a, 'details')];
    const bothEnvs: RequestCase[] = [
      { label: 'both envs, a first', headers: { 'x-override': `${a}, ${b}` }, expect: 'env' },
      { label: 'both envs, b first', headers: { 'x-override': `${b},${a}` }, expect: 'env' },
      { label: 'both envs, the header repeated', headers: { 'x-override': [b, a] }, expect: 'env' },
      { label: 'both envs in baggage', headers: { baggage: `override=${b}, override=${a}` }, expect: 'env' },
      { label: 'b in the header, a in baggage', headers: { 'x-override': b, baggage: `override=${a}` }, expect: 'env' },
    ];
    expectNoFailures([
      ...ratingsHosts.flatMap((host) => [
        ...routed(mesh, afterAB, callers, { host, ips: ratingsA2 }, [...requestMatrix(a), ...bothEnvs], a),
        ...routed(mesh, afterAB, callers, { host, ips: ratingsB }, requestMatrix(b), b),
        ...routedFrom(podA, inNs, mesh, afterAB, { host, ips: ratingsA2 }, envPodCases, a),
        ...routedFrom(podB, inNs, mesh, afterAB, { host, ips: ratingsB }, envPodCases, b),
      ]),
      ...routed(mesh, afterAB, callers, { host: details, ips: detailsA }, requestMatrix(a, { other: b }), a),
      ...routedFrom(podA, inNs, mesh, afterAB, { host: details, ips: detailsA }, envPodCases, a),
      ...routedFrom(podB, inNs, mesh, afterAB, { host: details, ips: [] }, allBaseline(envPodCases), b),
      ...routed(mesh, afterAB, callers, { host: v1Only, ips: [] }, allBaseline([...requestMatrix(a, { other: b }), ...bothEnvs]), a),
      ...[podA, podB].flatMap((p) => routedFrom(p, inNs, mesh, afterAB, { host: v1Only, ips: [] }, allBaseline(envPodCases), a)),
      ...invariants(mesh, afterAB, callers),
      ...missing(afterAB, [podA, podB]),
    ]);

    // Closing a keeps b's routes and our VirtualService (b still uses it).
    const ca = ok(await who.close(a));
    expect(ca.json.removed.virtualServices).toEqual([]);
    expect(await routeNames(cluster, ns, 'backends')).toEqual(['details', `dynamic-env/${b}/ratings`, 'ratings']);
    expect(await routeNames(cluster, ns, own)).toEqual([`dynamic-env/${b}/baseline`, 'baseline']);
    expect(ok(await who.status(b)).json.state).toBe('ready');

    // b routes as before a opened (a, closed, is "another env" again), and every caller, b's pod included, has the
    // configuration it had then.
    const afterCloseA = await meshView(cluster, [ns], [...callers, podB]);
    expectNoFailures([
      ...ratingsHosts.flatMap((host) => routed(mesh, afterCloseA, callers, { host, ips: ratingsB }, requestMatrix(b, { other: a }), b)),
      ...[details, v1Only].flatMap((host) => routed(mesh, afterCloseA, callers, { host, ips: [] }, allBaseline(requestMatrix(b, { other: a })), b)),
      ...ratingsHosts.flatMap((host) => routedFrom(podB, inNs, mesh, afterCloseA, { host, ips: ratingsB }, envPodCases, b)),
      ...invariants(mesh, afterCloseA, callers),
      ...missing(afterCloseA, [podB]),
      ...restoredFailures(afterB, afterCloseA),
    ]);

    // Closing the last env deletes our VirtualService.
    const cb = ok(await who.close(b));
    expect(cb.json.removed.virtualServices).toEqual([{ name: own, namespace: ns }]);
    expect(await cluster.getOrNull('VirtualService', ns, own)).toBeNull();
    expectNoFailures(restoredFailures(mesh, await meshView(cluster, [ns], callers)));
    await expectRestored(cluster, [ns], before, [`${ns}/backends`]);
  });

  it('routing knobs: a custom header (any case), baggage off, a custom version label', async () => {
    const ns = await cluster.namespace('knobs');
    const other = await cluster.namespace('caller');
    const original = { app: 'cart', track: 'stable' };
    await install(cluster, [
      deployment(ns, 'cart-stable', { labels: original }),
      service(ns, 'cart', { app: 'cart' }),
      { ...destinationRule(ns, 'cart', 'cart', []), spec: { host: 'cart', subsets: [{ name: 'stable', labels: { track: 'stable' } }] } },
      virtualService(ns, 'cart', { hosts: ['cart'], http: [{ name: 'default', route: [{ destination: { host: 'cart', subset: 'stable' } }] }] }),
    ]);
    const inNs = sidecar('sidecar in the Service\'s namespace', ns);
    const callers = [inNs, sidecar('sidecar in another namespace', other)];
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const mesh = await meshView(cluster, [ns], callers);
    const env = envName();
    const r = ok(await who.open(writeConfig(cluster, {
      env, routing: { header: 'X-Preview-Env', baggageKey: false, versionLabel: 'track' },
      services: [{ namespace: ns, deployment: 'cart-stable', image: 'ghcr.io/acme/cart:pr' }],
    })));
    expect(r.json).toMatchObject({ header: 'x-preview-env', headerValue: env, baggage: null, state: 'ready' });
    const vs = await cluster.get('VirtualService', ns, 'cart');
    expect(vs.spec.http[0].match).toEqual([
      { headers: { 'x-preview-env': { regex: `(?:.*,)?[ \\t]*${env}[ \\t]*(?:,.*)?` } } },
      { sourceLabels: { track: env, 'dynamic-env.io/env': env } },
    ]);
    expect((await cluster.get('DestinationRule', ns, `dynamic-env-${env}-cart`)).spec.subsets).toEqual([{ name: env, labels: { track: env } }]);
    const clone = await cluster.get('Deployment', ns, `cart-stable-${env}`);
    expect(clone.spec.template.metadata.labels).toEqual({ app: 'cart', track: env, 'dynamic-env.io/env': env });
    // status knows the header and baggage setting from the cluster alone.
    expect(ok(await who.status(env)).json).toMatchObject({ header: 'x-preview-env', headerValue: env, baggage: null, state: 'ready' });

    // The env's pods carry track=<env>; a pod with the default version label set to the env is not one of them.
    const envPod = pod('the env\'s own pod', ns, cloneLabels(original, env, 'track'));
    const versionPod = pod('a pod labelled version=<env>', ns, { ...original, version: env, 'dynamic-env.io/env': env });
    const after = await meshView(cluster, [ns], [...callers, envPod, versionPod]);
    const target: Target = { host: `cart.${ns}.svc.cluster.local`, ips: await clonePodIps(ns, env, 'cart') };
    const knobCases: RequestCase[] = [
      ...requestMatrix(env, { header: 'x-preview-env', baggageKey: null }),
      { label: 'the header name as configured, in capitals', headers: { 'X-Preview-Env': env }, expect: 'env' },
      { label: 'the default header, not the configured one', headers: { 'x-override': env }, expect: 'baseline' },
      { label: 'baggage, turned off', headers: { baggage: `override=${env}` }, expect: 'baseline' },
    ];
    expectNoFailures([
      ...routed(mesh, after, callers, target, knobCases, env),
      ...routedFrom(envPod, inNs, mesh, after, target, envPodCases, env),
      ...routedFrom(versionPod, inNs, mesh, after, target, lookAlikeCases, env),
      ...invariants(mesh, after, callers),
      ...missing(after, [envPod, versionPod]),
    ]);

    ok(await who.close(env));
    expectNoFailures(restoredFailures(mesh, await meshView(cluster, [ns], callers)));
    await expectRestored(cluster, [ns], before, [`${ns}/cart`]);
  });
});
