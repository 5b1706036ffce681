// Routing topologies end to end, with the least-privilege ServiceAccount: delegate VirtualServices in another
// namespace, gateway-bound VirtualServices that also serve the mesh, one VirtualService for several hosts, several
// Services per Deployment, a host with no VirtualService (ours is made, shared, and deleted with the last env), and
// two envs before the same routes in byte order. Every open is closed and the user's objects are proven unchanged.
import { describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import {
  actor, deployment, destinationRule, envName, expectRestored, install, ok, routeNames, service, userObjects, virtualService, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

const headerMatch = (env: string) => ({ 'x-override': { regex: `(?:.*,)?[ \\t]*${env}[ \\t]*(?:,.*)?` } });
const baggageMatch = (env: string) => ({ baggage: { regex: `(?:.*,)?[ \\t]*override[ \\t]*=[ \\t]*${env}[ \\t]*(?:;[^,]*)?(?:,.*)?` } });
const response = (env: string) => ({ response: { set: { 'x-dynamic-env': env } } });

describe.skipIf(skip)('routing topologies', () => {
  it('a delegate VirtualService in another namespace gets the env routes (with the mesh block, and without headers where the route has none, so the root\'s apply); the root keeps its delegate route', async () => {
    const app = await cluster.namespace('root');
    const dlg = await cluster.namespace('delegate');
    const reviews = `reviews.${app}.svc.cluster.local`;
    await install(cluster, [
      deployment(app, 'reviews-v1', { labels: { app: 'reviews', version: 'v1' } }),
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
    const who = await actor(cluster, [app, dlg]);
    const before = await userObjects(cluster, [app, dlg]);
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

    ok(await who.close(env));
    await expectRestored(cluster, [app, dlg], before, [`${app}/reviews`, `${dlg}/reviews-api`]);
  });

  it('gateway-bound VirtualServices: with mesh, the mesh block lists no gateways and selects the env label; gateway-only blocks and VirtualServices get no sourceLabels', async () => {
    const ns = await cluster.namespace('gateway');
    const gw = `${ns}/bookinfo-gateway`;
    await install(cluster, [
      deployment(ns, 'productpage-v1', { labels: { app: 'productpage', version: 'v1' } }),
      service(ns, 'productpage', { app: 'productpage' }),
      destinationRule(ns, 'productpage', 'productpage', ['v1']),
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
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
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

    ok(await who.close(env));
    await expectRestored(cluster, [ns], before, [`${ns}/productpage`, `${ns}/edge`]);
  });

  it('one VirtualService for several hosts, several Services per Deployment, a host with no VirtualService, two envs in byte order', async () => {
    const ns = await cluster.namespace('shared');
    const fqdn = (s: string) => `${s}.${ns}.svc.cluster.local`;
    await install(cluster, [
      deployment(ns, 'details-v1', { labels: { app: 'details', version: 'v1' } }),
      // Its selector leaves the version out, so it also selects the clone's pods: the user's Deployment must still
      // come out of open and close unchanged.
      deployment(ns, 'ratings-v1', { labels: { app: 'ratings', version: 'v1' }, selector: { app: 'ratings' } }),
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
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const base = envName();
    const [a, b] = [`${base}-a`, `${base}-b`];
    const own = `dynamic-env-ratings-grpc`;

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

    // Closing a keeps b's routes and our VirtualService (b still uses it).
    const ca = ok(await who.close(a));
    expect(ca.json.removed.virtualServices).toEqual([]);
    expect(await routeNames(cluster, ns, 'backends')).toEqual(['details', `dynamic-env/${b}/ratings`, 'ratings']);
    expect(await routeNames(cluster, ns, own)).toEqual([`dynamic-env/${b}/baseline`, 'baseline']);
    expect(ok(await who.status(b)).json.state).toBe('ready');

    // Closing the last env deletes our VirtualService.
    const cb = ok(await who.close(b));
    expect(cb.json.removed.virtualServices).toEqual([{ name: own, namespace: ns }]);
    expect(await cluster.getOrNull('VirtualService', ns, own)).toBeNull();
    await expectRestored(cluster, [ns], before, [`${ns}/backends`]);
  });

  it('routing knobs: a custom header (any case), baggage off, a custom version label', async () => {
    const ns = await cluster.namespace('knobs');
    await install(cluster, [
      deployment(ns, 'cart-stable', { labels: { app: 'cart', track: 'stable' } }),
      service(ns, 'cart', { app: 'cart' }),
      { ...destinationRule(ns, 'cart', 'cart', []), spec: { host: 'cart', subsets: [{ name: 'stable', labels: { track: 'stable' } }] } },
      virtualService(ns, 'cart', { hosts: ['cart'], http: [{ name: 'default', route: [{ destination: { host: 'cart', subset: 'stable' } }] }] }),
    ]);
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
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
    ok(await who.close(env));
    await expectRestored(cluster, [ns], before, [`${ns}/cart`]);
  });
});
