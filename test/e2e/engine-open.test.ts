// The engine end to end on a bookinfo-like topology, run as users run it: the CLI (dist/cli.js) with a
// least-privilege ServiceAccount bound to deploy/rbac.yaml. Asserted from outside: the cluster through the admin
// client, and the identity's writes through the API server's audit log.
import { beforeAll, describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import {
  baselineInvariantFailures, envPodCases, envPodIps, expectNoFailures, meshView, requestMatrix, restoredFailures, routingFailures,
  type Caller, type MeshView, type RequestCase,
} from '../harness/routing.js';
import {
  actor, bookinfo, cli, deployment, envName, expectRestored, install, ok, routeNames, service, userObjects, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

describe.skipIf(skip)('open and close on bookinfo, as the least-privilege ServiceAccount', () => {
  const env = envName();
  let ns: string;
  let who: Awaited<ReturnType<typeof actor>>;
  let before: Map<string, any>;
  let config: (reviewsImage: string) => string;
  const fqdn = (svc: string) => `${svc}.${ns}.svc.cluster.local`;
  let openedAt: string;
  let callers: Caller[];
  let meshBefore: MeshView;
  const owner = (commit: string) => ['--repo', 'acme/bookinfo', '--pr', '42', '--commit', commit];

  beforeAll(async () => {
    ns = await cluster.namespace('bookinfo');
    await install(cluster, bookinfo(ns));
    who = await actor(cluster, [ns]);
    before = await userObjects(cluster, [ns]);
    callers = [
      { label: 'productpage', proxy: { namespace: ns, labels: { app: 'productpage', version: 'v1' } } },
      { label: 'a sidecar in another namespace', proxy: { namespace: await cluster.namespace('caller'), labels: { app: 'client' } } },
    ];
    meshBefore = await meshView(cluster, [ns], callers);
    config = (reviewsImage) => writeConfig(cluster, {
      env,
      services: [
        {
          namespace: ns, deployment: 'reviews-v3', replicas: 2,
          containers: [{ name: 'reviews', image: reviewsImage, env: [{ name: 'LOG_DIR', value: '/var/log/pr' }, { name: 'FEATURE_X', value: 'on' }] }],
        },
        { namespace: ns, deployment: 'ratings-v1', image: 'ghcr.io/acme/ratings:pr' },
      ],
      workers: [{ namespace: ns, deployment: 'review-indexer', image: 'ghcr.io/acme/review-indexer:pr' }],
    });
  });

  it('--dry-run lists the changes and writes nothing, not even the Lease', async () => {
    const r = ok(await who.open(config('ghcr.io/acme/reviews:pr-1'), ...owner('c0ffee1'), '--dry-run'));
    const changes = r.json.changes.map((c: any) => `${c.action} ${c.kind} ${c.namespace}/${c.name}`);
    expect(changes).toEqual([
      `create Deployment ${ns}/ratings-v1-${env}`,
      `create Deployment ${ns}/review-indexer-${env}`,
      `create Deployment ${ns}/reviews-v3-${env}`,
      `create DestinationRule ${ns}/dynamic-env-${env}-ratings`,
      `create DestinationRule ${ns}/dynamic-env-${env}-reviews`,
      `update VirtualService ${ns}/ratings`,
      `update VirtualService ${ns}/reviews`,
    ]);
    expect(who.writes({ leases: true })).toEqual([]);
    expect(await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`)).toEqual([]);
  });

  it('opens: clones, DestinationRules, then routes; exactly those writes', async () => {
    const r = ok(await who.open(config('ghcr.io/acme/reviews:pr-1'), ...owner('c0ffee1')));
    expect(r.json.state).toBe('ready');
    expect([...who.writes()].sort()).toEqual([
      `create deployments ${ns}/ratings-v1-${env} 201`,
      `create deployments ${ns}/review-indexer-${env} 201`,
      `create deployments ${ns}/reviews-v3-${env} 201`,
      `create destinationrules ${ns}/dynamic-env-${env}-ratings 201`,
      `create destinationrules ${ns}/dynamic-env-${env}-reviews 201`,
      `update virtualservices ${ns}/ratings 200`,
      `update virtualservices ${ns}/reviews 200`,
    ]);
    // Order of writes: every clone and DR before the first VirtualService write (make before break).
    const order = who.writes().map((w) => w.split(' ')[1]);
    expect(order.lastIndexOf('deployments')).toBeLessThan(order.indexOf('virtualservices'));
    expect(order.lastIndexOf('destinationrules')).toBeLessThan(order.indexOf('virtualservices'));
    // The Lease was taken and given back.
    expect(who.writes({ leases: true }).filter((w) => w.includes('leases'))).toEqual(expect.arrayContaining([
      `create leases ${ns}/dynamic-env-${env} 201`, `delete leases ${ns}/dynamic-env-${env} 200`,
    ]));
    expect(await cluster.getOrNull('Lease', ns, `dynamic-env-${env}`)).toBeNull();
  });

  it('routes as istiod generates them: env requests reach the clones, everything else the weighted and header-matched baseline', async () => {
    const reviewsPod: Caller = { label: 'the env\'s reviews pod', proxy: { namespace: ns, labels: { app: 'reviews', version: env, 'dynamic-env.io/env': env } } };
    const after = await meshView(cluster, [ns], [...callers, reviewsPod]);
    // The jason route keeps its own header: with the env header too, jason reaches the env; alone, still v2.
    const jason: RequestCase[] = [
      { label: 'jason', headers: { 'end-user': 'jason' }, expect: 'baseline' },
      { label: 'jason with the env header', headers: { 'end-user': 'jason', 'x-override': env }, expect: 'env' },
    ];
    const check = async (svc: string, deployment: string) => {
      const target = { request: { authority: fqdn(svc), port: 9080 }, envPodIps: await envPodIps(cluster, ns, env, deployment) };
      return [
        ...routingFailures(meshBefore, after, callers, target, [...requestMatrix(env), ...jason], env),
        ...routingFailures(new Map([[reviewsPod.label, meshBefore.get('productpage')!]]), after, [reviewsPod], target, envPodCases, env),
      ];
    };
    expectNoFailures([
      ...await check('reviews', 'reviews-v3'),
      ...await check('ratings', 'ratings-v1'),
      ...callers.flatMap((c) => baselineInvariantFailures(c.label, meshBefore.get(c.label)!, after.get(c.label)!)),
    ]);
  });

  it('the clone: PR image on the named container, env overrides, replicas, labels, GitOps metadata stripped', async () => {
    const original = await cluster.get('Deployment', ns, 'reviews-v3');
    const clone = await cluster.get('Deployment', ns, `reviews-v3-${env}`);
    expect(clone.spec.replicas).toBe(2);
    expect(clone.status.readyReplicas).toBe(2);
    expect(clone.metadata.labels).toEqual({
      app: 'reviews', version: env, 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/env': env, 'dynamic-env.io/role': 'service',
      'dynamic-env.io/repo': 'acme.bookinfo', 'dynamic-env.io/pr': '42',
    });
    expect(clone.metadata.annotations).toMatchObject({
      'dynamic-env.io/source': `${ns}/reviews-v3`, 'dynamic-env.io/commit': 'c0ffee1', 'dynamic-env.io/repo': 'acme/bookinfo',
    });
    expect(clone.metadata.annotations['meta.helm.sh/release-name']).toBeUndefined();
    expect(clone.spec.selector.matchLabels).toEqual({ app: 'reviews', version: env });
    expect(clone.spec.template.metadata.labels).toEqual({ app: 'reviews', version: env, 'dynamic-env.io/env': env });
    const [c] = clone.spec.template.spec.containers;
    expect(c.image).toBe('ghcr.io/acme/reviews:pr-1');
    expect(c.env).toEqual([{ name: 'LOG_DIR', value: '/var/log/pr' }, { name: 'FEATURE_X', value: 'on' }]);
    // Everything else of the pod template is the original's.
    const strip = (t: any) => ({ ...t.spec, containers: t.spec.containers.map(({ image: _i, env: _e, ...rest }: any) => rest) });
    expect(strip(clone.spec.template)).toEqual(strip(original.spec.template));
    expect(clone.spec.template.spec.serviceAccountName).toBe('bookinfo-reviews');

    const worker = await cluster.get('Deployment', ns, `review-indexer-${env}`);
    expect(worker.metadata.labels['dynamic-env.io/role']).toBe('worker');
    expect(worker.spec.template.spec.containers[0].image).toBe('ghcr.io/acme/review-indexer:pr');
  });

  it('DestinationRules: one per (env, host), the env subset carries the user DR\'s traffic policy; the user DR is untouched', async () => {
    const dr = await cluster.get('DestinationRule', ns, `dynamic-env-${env}-reviews`);
    expect(dr.spec).toEqual({
      host: fqdn('reviews'),
      subsets: [{ name: env, labels: { version: env }, trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } }],
    });
    expect(dr.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/env': env });
    const ratings = await cluster.get('DestinationRule', ns, `dynamic-env-${env}-ratings`);
    expect(ratings.spec.subsets).toEqual([{ name: env, labels: { version: env } }]);
    // Workers get none.
    expect((await cluster.list('DestinationRule', ns, `dynamic-env.io/env=${env}`)).map((d: any) => d.metadata.name).sort())
      .toEqual([`dynamic-env-${env}-ratings`, `dynamic-env-${env}-reviews`]);
  });

  it('routes: a copy before every route to the host; weighted route -> one destination on the env subset; fields copied', async () => {
    expect(await routeNames(cluster, ns, 'reviews')).toEqual([`dynamic-env/${env}/jason`, 'jason', `dynamic-env/${env}/default`, 'default']);
    expect(await routeNames(cluster, ns, 'ratings')).toEqual([`dynamic-env/${env}/default`, 'default']);
    const reviews = await cluster.get('VirtualService', ns, 'reviews');
    const [jasonCopy, jason, defaultCopy, dflt] = reviews.spec.http;
    expect(jason).toEqual(before.get(`VirtualService ${ns}/reviews`).spec.http[0]);
    expect(dflt).toEqual(before.get(`VirtualService ${ns}/reviews`).spec.http[1]);
    const header = { 'x-override': { regex: `(?:.*,)?[ \\t]*${env}[ \\t]*(?:,.*)?` } };
    expect(defaultCopy).toEqual({
      name: `dynamic-env/${env}/default`,
      match: [
        { headers: header },
        { headers: { baggage: { regex: `(?:.*,)?[ \\t]*override[ \\t]*=[ \\t]*${env}[ \\t]*(?:;[^,]*)?(?:,.*)?` } } },
        { sourceLabels: { version: env, 'dynamic-env.io/env': env } },
      ],
      route: [{ destination: { host: 'reviews', subset: env } }],
      timeout: '10s',
      retries: { attempts: 2, perTryTimeout: '3s' },
      headers: { response: { set: { 'x-dynamic-env': env } } },
    });
    // The user's own match block is kept in every copy.
    expect(jasonCopy.match).toEqual([
      { headers: { 'end-user': { exact: 'jason' }, ...header } },
      { headers: { 'end-user': { exact: 'jason' }, baggage: defaultCopy.match[1].headers.baggage } },
      { headers: { 'end-user': { exact: 'jason' } }, sourceLabels: { version: env, 'dynamic-env.io/env': env } },
    ]);
    expect(jasonCopy.route).toEqual([{ destination: { host: 'reviews', subset: env } }]);
    // VirtualServices of hosts the env does not touch are not written.
    for (const name of ['productpage', 'details']) {
      const vs = await cluster.get('VirtualService', ns, name);
      expect(vs.metadata.resourceVersion).toBe(before.get(`VirtualService ${ns}/${name}`).metadata.resourceVersion);
    }
  });

  it('status --output json: the contract fields, from the cluster alone', async () => {
    const r = ok(await who.status(env));
    const dr = (svc: string) => [{ name: `dynamic-env-${env}-${svc}`, namespace: ns }];
    expect(r.json).toEqual({
      env, header: 'x-override', headerValue: env, baggage: `override=${env}`, state: 'ready', lockNamespace: ns,
      services: [
        {
          role: 'service', namespace: ns, deployment: 'ratings-v1', clone: `ratings-v1-${env}`, images: ['ghcr.io/acme/ratings:pr'],
          replicas: { ready: 1, desired: 1 }, state: 'ready', reason: null, hosts: [fqdn('ratings')], url: `http://${fqdn('ratings')}:9080/`,
          destinationRules: dr('ratings'), virtualServices: [{ name: 'ratings', namespace: ns }],
        },
        {
          role: 'service', namespace: ns, deployment: 'reviews-v3', clone: `reviews-v3-${env}`, images: ['ghcr.io/acme/reviews:pr-1'],
          replicas: { ready: 2, desired: 2 }, state: 'ready', reason: null, hosts: [fqdn('reviews')], url: `http://${fqdn('reviews')}:9080/`,
          destinationRules: dr('reviews'), virtualServices: [{ name: 'reviews', namespace: ns }],
        },
      ],
      workers: [
        {
          role: 'worker', namespace: ns, deployment: 'review-indexer', clone: `review-indexer-${env}`, images: ['ghcr.io/acme/review-indexer:pr'],
          replicas: { ready: 1, desired: 1 }, state: 'ready', reason: null, hosts: [], destinationRules: [], virtualServices: [],
        },
      ],
    });
  });

  it('list finds the env', async () => {
    const r = ok(await who.list());
    const mine = r.json.find((e: any) => e.env === env);
    // Where its Lease lives, as its clones record it (the actor's --lock-namespace).
    expect(mine).toMatchObject({ env, repo: 'acme/bookinfo', pr: 42, services: 2, workers: 1, state: 'ready', routes: 3, lockNamespace: ns });
    expect(Date.parse(mine.openedAt)).toBeGreaterThan(Date.now() - 120_000);
    openedAt = (await cluster.get('Deployment', ns, `reviews-v3-${env}`)).metadata.annotations['dynamic-env.io/opened-at'];
    expect(openedAt).toBe(mine.openedAt);
  });

  it('open again with the same config writes nothing but the Lease', async () => {
    const n = who.writes().length;
    ok(await who.open(config('ghcr.io/acme/reviews:pr-1'), ...owner('c0ffee1')));
    expect(who.writes().slice(n)).toEqual([]);
  });

  it('open again with a new image updates the clone in place: opened-at kept, routes not duplicated', async () => {
    const n = who.writes().length;
    const vsBefore = await cluster.get('VirtualService', ns, 'reviews');
    const r = ok(await who.open(config('ghcr.io/acme/reviews:pr-2'), ...owner('c0ffee2')));
    expect(r.json.services.find((s: any) => s.deployment === 'reviews-v3')).toMatchObject({ images: ['ghcr.io/acme/reviews:pr-2'], state: 'ready' });
    // The new commit is recorded on every clone; only reviews' pod template changed, so only it rolls out.
    expect(who.writes().slice(n).sort()).toEqual([`ratings-v1-${env}`, `review-indexer-${env}`, `reviews-v3-${env}`]
      .map((name) => `update deployments ${ns}/${name} 200`));
    const ratings = await cluster.get('Deployment', ns, `ratings-v1-${env}`);
    expect(ratings.metadata.annotations['dynamic-env.io/commit']).toBe('c0ffee2');
    expect(await cluster.list('ReplicaSet', ns, `app=ratings,version=${env}`)).toHaveLength(1);
    expect(await cluster.list('ReplicaSet', ns, `app=reviews,version=${env}`)).toHaveLength(2);
    const clone = await cluster.get('Deployment', ns, `reviews-v3-${env}`);
    expect(clone.spec.template.spec.containers[0].image).toBe('ghcr.io/acme/reviews:pr-2');
    expect(clone.metadata.annotations['dynamic-env.io/opened-at']).toBe(openedAt);
    expect(clone.metadata.annotations['dynamic-env.io/commit']).toBe('c0ffee2');
    expect(clone.status.updatedReplicas).toBe(2);
    const vsAfter = await cluster.get('VirtualService', ns, 'reviews');
    expect(vsAfter.metadata.resourceVersion).toBe(vsBefore.metadata.resourceVersion);
    expect(await routeNames(cluster, ns, 'reviews')).toEqual([`dynamic-env/${env}/jason`, 'jason', `dynamic-env/${env}/default`, 'default']);
  });

  it('close --dry-run says what it would remove and writes nothing, not even the Lease', async () => {
    const n = who.writes({ leases: true }).length;
    const r = ok(await who.close(env, '--dry-run'));
    expect(r.json.state).toBe('ready');
    expect(r.json.removed.routes).toBe(3);
    expect(r.json.removed.clones).toHaveLength(3);
    expect(who.writes({ leases: true }).slice(n)).toEqual([]);
  });

  it('close removes every trace: user objects byte-identical to before', async () => {
    const n = who.writes().length;
    const r = ok(await who.close(env));
    expect(r.json.state).toBe('closed');
    expect(r.json.removed).toEqual({
      clones: [`ratings-v1-${env}`, `review-indexer-${env}`, `reviews-v3-${env}`].map((name) => ({ name, namespace: ns })),
      destinationRules: [`dynamic-env-${env}-ratings`, `dynamic-env-${env}-reviews`].map((name) => ({ name, namespace: ns })),
      virtualServices: [],
      routes: 3,
    });
    // Routes first. No pins here, so no second route write, and the DestinationRules go with the clones (docs/DESIGN.md
    // "Order of writes"); engine-pinning checks the order with pins.
    const order = who.writes().slice(n).map((w) => w.split(' ')[1]);
    expect(order.filter((k) => k === 'virtualservices')).toHaveLength(2); // reviews and ratings, once each
    expect(order.lastIndexOf('virtualservices')).toBeLessThan(order.indexOf('deployments'));
    expect(order.lastIndexOf('virtualservices')).toBeLessThan(order.indexOf('destinationrules'));
    await expectRestored(cluster, [ns], before, [`${ns}/reviews`, `${ns}/ratings`]);
    expectNoFailures(restoredFailures(meshBefore, await meshView(cluster, [ns], callers)));
  });

  it('close twice: exit 0, state absent, nothing written but the Lease', async () => {
    const n = who.writes().length;
    const r = ok(await who.close(env));
    expect(r.json.state).toBe('absent');
    expect(who.writes().slice(n)).toEqual([]);
    const status = await who.status(env);
    expect(status.code).toBe(1);
    expect(status.json.state).toBe('absent');
  });
});

describe.skipIf(skip)('several containers', () => {
  it('overrides only the named container; the others stay as they are', async () => {
    const ns = await cluster.namespace('multi');
    const env = envName();
    await install(cluster, [
      deployment(ns, 'api-v1', {
        labels: { app: 'api', version: 'v1' },
        containers: [
          { name: 'api', image: 'example.com/api:1.0.0', env: [{ name: 'MODE', value: 'prod' }, { name: 'SECRET', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] },
          { name: 'log-shipper', image: 'example.com/shipper:2.0.0', args: ['--level=info'] },
          { name: 'proxy', image: 'example.com/proxy:3.0.0' },
        ],
      }),
      service(ns, 'api', { app: 'api' }),
      { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'api', namespace: ns }, spec: { host: 'api', subsets: [{ name: 'v1', labels: { version: 'v1' } }] } },
      { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'api', namespace: ns }, spec: { hosts: ['api'], http: [{ route: [{ destination: { host: 'api', subset: 'v1' } }] }] } },
    ]);
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const config = writeConfig(cluster, {
      env,
      services: [{
        namespace: ns, deployment: 'api-v1',
        containers: [
          { name: 'api', image: 'ghcr.io/acme/api:pr', env: [{ name: 'SECRET', value: 'plain' }] },
          { name: 'log-shipper', args: ['--level=debug'] },
        ],
      }],
    });
    const r = ok(await who.open(config));
    expect(r.json.services[0].images).toEqual(['ghcr.io/acme/api:pr', 'example.com/shipper:2.0.0', 'example.com/proxy:3.0.0']);
    const clone = await cluster.get('Deployment', ns, `api-v1-${env}`);
    const [api, shipper, proxy] = clone.spec.template.spec.containers;
    expect(api.image).toBe('ghcr.io/acme/api:pr');
    // Same name replaces the whole entry: no valueFrom left next to the value.
    expect(api.env).toEqual([{ name: 'MODE', value: 'prod' }, { name: 'SECRET', value: 'plain' }]);
    expect(shipper.image).toBe('example.com/shipper:2.0.0');
    expect(shipper.args).toEqual(['--level=debug']);
    const originalProxy = before.get(`Deployment ${ns}/api-v1`).spec.template.spec.containers[2];
    expect(proxy).toEqual(originalProxy);
    // A route without a name gets the host as its origin.
    expect(await routeNames(cluster, ns, 'api')).toEqual([`dynamic-env/${env}/api`, '']);
    ok(await who.close(env));
    await expectRestored(cluster, [ns], before, [`${ns}/api`]);

    // The one-Deployment shorthand, without a config file: --container picks the container to change.
    const env2 = envName();
    const short = ok(await cli([
      'open', '--env', env2, '--namespace', ns, '--deployment', 'api-v1', '--container', 'log-shipper', '--image', 'ghcr.io/acme/shipper:pr',
      '--kubeconfig', who.kubeconfig, '--lock-namespace', ns, '--output', 'json',
    ]));
    expect(short.json.services[0].images).toEqual(['example.com/api:1.0.0', 'ghcr.io/acme/shipper:pr', 'example.com/proxy:3.0.0']);
    expect(await routeNames(cluster, ns, 'api')).toEqual([`dynamic-env/${env2}/api`, '']);
    ok(await who.close(env2));
    await expectRestored(cluster, [ns], before, [`${ns}/api`]);
  });
});

describe.skipIf(skip)('update in place: a service dropped from the config', () => {
  it('its clone, DestinationRule and routes go on the next open; the rest stays', async () => {
    const ns = await cluster.namespace('drop');
    await install(cluster, bookinfo(ns));
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const env = envName();
    const both = writeConfig(cluster, {
      env,
      services: [
        { namespace: ns, deployment: 'reviews-v2', image: 'ghcr.io/acme/reviews:pr' },
        { namespace: ns, deployment: 'details-v1', image: 'ghcr.io/acme/details:pr' },
      ],
    });
    ok(await who.open(both));
    expect(await routeNames(cluster, ns, 'details')).toEqual([`dynamic-env/${env}/default`, 'default']);
    const reviewsVs = await cluster.get('VirtualService', ns, 'reviews');

    const n = who.writes().length;
    const one = writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'reviews-v2', image: 'ghcr.io/acme/reviews:pr' }] });
    const r = ok(await who.open(one));
    expect(r.json.services.map((s: any) => s.deployment)).toEqual(['reviews-v2']);
    // Routes first, then the DestinationRule, then the clone; reviews is not touched.
    expect(who.writes().slice(n)).toEqual([
      `update virtualservices ${ns}/details 200`,
      `delete destinationrules ${ns}/dynamic-env-${env}-details 200`,
      `delete deployments ${ns}/details-v1-${env} 200`,
    ]);
    expect(await routeNames(cluster, ns, 'details')).toEqual(['default']);
    expect((await cluster.get('VirtualService', ns, 'reviews')).metadata.resourceVersion).toBe(reviewsVs.metadata.resourceVersion);
    expect((await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`)).map((d: any) => d.metadata.name)).toEqual([`reviews-v2-${env}`]);
    expect(ok(await who.status(env)).json.services.map((s: any) => s.deployment)).toEqual(['reviews-v2']);

    ok(await who.close(env));
    await expectRestored(cluster, [ns], before, [`${ns}/reviews`, `${ns}/details`]);
  });
});
