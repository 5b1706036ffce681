// planOpen / planClose against small cluster snapshots.

import { describe, expect, test } from 'vitest';
import { parseConfigText } from '../../src/config/file.js';
import { resolveEnvSpec } from '../../src/config/spec.js';
import { demoConfigText, demoSnapshot } from '../../src/demo/bookinfo.js';
import { deployment, destinationRule, envSpec, service, snapshot, virtualService, workload } from '../../src/demo/builders.js';
import { DynamicEnvError } from '../../src/errors.js';
import { planClose } from '../../src/plan/close.js';
import { BASELINE_SUBSET } from '../../src/plan/names.js';
import { planOpen } from '../../src/plan/open.js';
import { MAX_VIRTUAL_SERVICE_BYTES, objectBytes } from '../../src/plan/vs-size.js';
import type { EnvSpec, KubeObject, OpenPlan, Snapshot, VirtualService } from '../../src/plan/types.js';
import { envsOf, withEnvRoutes, withoutEnvRoutes } from '../../src/plan/virtual-service.js';
import { openEnv } from '../../src/commands/open.js';
import type { KubeClient } from '../../src/kube/client.js';
import type { ResourceType } from '../../src/kube/resources.js';
import { hostRuleView } from '../../src/plan/destination-rule-scope.js';
import { buildClone } from '../../src/plan/deployment.js';
import { thrownError } from './fixtures/errors.js';

const NS = 'bookinfo';
const REVIEWS = 'reviews.bookinfo.svc.cluster.local';

function demoSpec(overrides: Parameters<typeof resolveEnvSpec>[1] = {}): EnvSpec {
  return resolveEnvSpec(parseConfigText(demoConfigText, 'demo.yaml'), { now: '2026-02-01T00:00:00Z', ...overrides });
}

const problemsOf = thrownError;

/** What the cluster looks like after the plan is applied (clones, DRs, edited and created VirtualServices). */
function apply(snap: Snapshot, plan: OpenPlan): Snapshot {
  const key = (o: { metadata: { name: string; namespace?: string } }): string => `${o.metadata.namespace}/${o.metadata.name}`;
  const replace = <T extends { metadata: { name: string; namespace?: string } }>(list: T[], next: T[]): T[] => [
    ...list.filter((o) => !next.some((n) => key(n) === key(o))),
    ...next,
  ];
  const edited = snap.virtualServices.map((vs) => {
    const edit = plan.routeEdits.find((e) => e.name === vs.metadata.name && e.namespace === vs.metadata.namespace);
    return edit ? withEnvRoutes(vs, edit, plan.routing) : vs;
  });
  return {
    deployments: replace(snap.deployments, plan.clones),
    services: snap.services,
    destinationRules: replace(snap.destinationRules, plan.destinationRules),
    virtualServices: [...edited, ...plan.createVirtualServices],
  };
}

/** Close: remove routes, drop our VirtualServices left without env routes, DRs and clones. */
function close(snap: Snapshot, env: string): Snapshot {
  const plan = planClose(snap, env);
  const has = (refs: { name: string; namespace: string }[], o: { metadata: { name: string; namespace?: string } }): boolean =>
    refs.some((r) => r.name === o.metadata.name && r.namespace === o.metadata.namespace);
  const vss = snap.virtualServices
    .map((vs) => (has(plan.routeEdits, vs) ? withoutEnvRoutes(vs, env) : vs))
    .filter((vs) => !(vs.metadata.labels?.['dynamic-env.io/role'] === 'routing' && envsOf(vs).length === 0));
  return {
    deployments: snap.deployments.filter((d) => !has(plan.clones, d)),
    services: snap.services,
    destinationRules: snap.destinationRules.filter((d) => !has(plan.destinationRules, d)),
    virtualServices: vss,
  };
}

/** reviews v1 (+ optional v2) with a Service, and the given VirtualServices / DestinationRules. */
function reviewsCluster(o: { vss?: VirtualService[]; v2?: boolean; drs?: Snapshot['destinationRules'] } = {}): Snapshot {
  return snapshot({
    deployments: [
      deployment('reviews-v1', { namespace: NS, labels: { app: 'reviews', version: 'v1' } }),
      ...(o.v2 ? [deployment('reviews-v2', { namespace: NS, labels: { app: 'reviews', version: 'v2' } })] : []),
    ],
    services: [service('reviews', { app: 'reviews' }, NS)],
    destinationRules: o.drs ?? [destinationRule('reviews', 'reviews', { v1: { version: 'v1' }, v2: { version: 'v2' } }, { namespace: NS })],
    virtualServices: o.vss ?? [],
  });
}

const reviewsSpec = (name = 'pr-42', routing: Partial<EnvSpec['routing']> = {}): EnvSpec =>
  envSpec(name, { services: [workload(NS, 'reviews-v1', { containers: [{ image: 'ghcr.io/acme/reviews:pr' }] })], routing });

describe('planOpen: bookinfo', () => {
  test('clones, DestinationRule with the user policy on subsets, route edits, report data', () => {
    const snap = demoSnapshot();
    const plan = planOpen(snap, demoSpec({ owner: { repo: 'acme/bookinfo', pr: 42, commit: 'c0ffee' } }));
    expect(plan.env).toBe('pr-42');
    expect(plan.clones.map((c) => c.metadata.name)).toEqual(['review-indexer-pr-42', 'reviews-v3-pr-42']);
    expect(plan.destinationRules).toHaveLength(1);
    const dr = plan.destinationRules[0]!;
    expect(dr.metadata).toEqual({
      name: 'dynamic-env-pr-42-reviews',
      namespace: NS,
      labels: {
        'app.kubernetes.io/managed-by': 'dynamic-env',
        'dynamic-env.io/env': 'pr-42',
        'dynamic-env.io/repo': 'acme.bookinfo',
        'dynamic-env.io/pr': '42',
      },
    });
    expect(dr.spec).toEqual({
      host: REVIEWS,
      subsets: [{ name: 'pr-42', labels: { version: 'pr-42' }, trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } }],
    });
    expect(plan.routeEdits).toEqual([{ name: 'reviews', namespace: NS, meshApplies: true }]);
    expect(plan.createVirtualServices).toEqual([]);
    expect(plan.routing.hosts).toEqual([REVIEWS]);
    expect(plan.workloads).toEqual([
      {
        role: 'service',
        namespace: NS,
        deployment: 'reviews-v3',
        clone: 'reviews-v3-pr-42',
        images: ['ghcr.io/acme/reviews:pr-42'],
        replicas: 1,
        hosts: [REVIEWS],
        url: `http://${REVIEWS}:9080/`,
        destinationRules: [{ name: 'dynamic-env-pr-42-reviews', namespace: NS }],
        virtualServices: [{ name: 'reviews', namespace: NS }],
      },
      {
        role: 'worker',
        namespace: NS,
        deployment: 'review-indexer',
        clone: 'review-indexer-pr-42',
        images: ['ghcr.io/acme/review-indexer:pr-42'],
        replicas: 1,
        hosts: [],
        destinationRules: [],
        virtualServices: [],
      },
    ]);
    expect(plan.warnings).toEqual([]);
  });

  test('is deterministic: shuffled snapshot lists give the same plan', () => {
    const a = demoSnapshot();
    const b = demoSnapshot();
    for (const k of ['deployments', 'services', 'destinationRules', 'virtualServices'] as const) (b[k] as unknown[]).reverse();
    expect(planOpen(b, demoSpec())).toEqual(planOpen(a, demoSpec()));
  });

  test('open then close gives back the user objects deep-equal', () => {
    const snap = demoSnapshot();
    const original = structuredClone(snap);
    const opened = apply(snap, planOpen(snap, demoSpec()));
    expect(opened).not.toEqual(original);
    expect(planClose(opened, 'pr-42')).toEqual({
      env: 'pr-42',
      routeEdits: [{ name: 'reviews', namespace: NS }],
      destinationRules: [{ name: 'dynamic-env-pr-42-reviews', namespace: NS }],
      clones: [
        { name: 'review-indexer-pr-42', namespace: NS },
        { name: 'reviews-v3-pr-42', namespace: NS },
      ],
    });
    const closed = close(opened, 'pr-42');
    const sort = (s: Snapshot): Snapshot => JSON.parse(JSON.stringify(s, null, 0)) as Snapshot;
    expect(sort(closed).virtualServices.sort((x, y) => x.metadata.name.localeCompare(y.metadata.name))).toEqual(
      sort(original).virtualServices.sort((x, y) => x.metadata.name.localeCompare(y.metadata.name)),
    );
    expect(closed.deployments).toHaveLength(original.deployments.length);
    expect(closed.destinationRules).toEqual(original.destinationRules);
    expect(snap).toEqual(original); // planning never mutated the snapshot
  });

  test('re-plan with a new image updates in place and keeps opened-at', () => {
    const snap = demoSnapshot();
    const first = planOpen(snap, demoSpec({ now: '2026-02-01T00:00:00Z' }));
    const opened = apply(snap, first);
    const second = planOpen(
      opened,
      demoSpec({ now: '2026-02-02T00:00:00Z', deployment: { namespace: NS, deployment: 'reviews-v3', image: 'ghcr.io/acme/reviews:pr-42-b' } }),
    );
    const clone = second.clones.find((c) => c.metadata.name === 'reviews-v3-pr-42')!;
    expect(clone.metadata.annotations!['dynamic-env.io/opened-at']).toBe('2026-02-01T00:00:00Z');
    expect(clone.spec.template.spec.containers[0]!.image).toBe('ghcr.io/acme/reviews:pr-42-b');
    // Same routes: re-applying the edit to the already edited VirtualService changes nothing.
    const vs = opened.virtualServices.find((v) => v.metadata.name === 'reviews')!;
    expect(withEnvRoutes(vs, second.routeEdits[0]!, second.routing)).toEqual(vs);
    // Nothing new: the same plan, so a re-run writes nothing.
    expect(planOpen(opened, demoSpec({ now: '2026-02-03T00:00:00Z' }))).toEqual(planOpen(opened, demoSpec({ now: '2026-02-01T00:00:00Z' })));
  });
});

describe('planOpen: routing shapes', () => {
  test('weighted route: the copy goes to the env subset without weight', () => {
    const vs = virtualService('reviews', [
      { name: 'split', route: [
        { destination: { host: 'reviews', subset: 'v1' }, weight: 50 },
        { destination: { host: 'reviews', subset: 'v2' }, weight: 50 },
      ] },
    ], { namespace: NS });
    const snap = reviewsCluster({ vss: [vs], v2: true });
    const plan = planOpen(snap, reviewsSpec());
    const out = withEnvRoutes(vs, plan.routeEdits[0]!, plan.routing);
    expect(out.spec.http![0]!.route).toEqual([{ destination: { host: 'reviews', subset: 'pr-42' } }]);
    expect(out.spec.http![1]).toEqual(vs.spec.http![0]);
  });

  test('delegate VirtualServices: only those referenced by a root are edited; meshApplies comes from the root', () => {
    const delegateRoute = [{ name: 'd', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }];
    const snap = reviewsCluster({
      vss: [
        virtualService('front', [{ match: [{ uri: { prefix: '/reviews' } }], delegate: { name: 'reviews-delegate' } }], { namespace: NS, hosts: ['front'] }),
        virtualService('edge', [{ delegate: { name: 'edge-delegate', namespace: NS } }], { namespace: 'istio-system', hosts: ['*'], gateways: ['ingress'] }),
        virtualService('reviews-delegate', delegateRoute, { namespace: NS, hosts: null }),
        virtualService('edge-delegate', delegateRoute, { namespace: NS, hosts: null }),
        virtualService('unused-delegate', delegateRoute, { namespace: NS, hosts: null }),
        virtualService('reviews', [{ name: 'r', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS }),
      ],
    });
    const plan = planOpen(snap, reviewsSpec());
    expect(plan.routeEdits).toEqual([
      { name: 'edge-delegate', namespace: NS, meshApplies: false },
      { name: 'reviews', namespace: NS, meshApplies: true },
      { name: 'reviews-delegate', namespace: NS, meshApplies: true },
    ]);
    const edge = withEnvRoutes(snap.virtualServices[3]!, plan.routeEdits[0]!, plan.routing);
    expect(edge.spec.http![0]!.match!.some((m) => m.sourceLabels)).toBe(false);
  });

  test('delegates: no sourceLabels block when a referencing root route lists gateways in a match block', () => {
    // istiod's mergeHTTPMatchRequest gives a delegate block without gateways the root block's gateways, and a block
    // with gateways has its sourceLabels ignored (sourceMatchHTTP): the merged block would match every caller.
    const delegateRoute = [{ name: 'd', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }];
    const snap = reviewsCluster({
      vss: [
        virtualService('front', [
          { match: [{ uri: { prefix: '/a' } }], delegate: { name: 'plain' } },
          { match: [{ uri: { prefix: '/b' } }, { uri: { prefix: '/c' }, gateways: ['mesh'] }], delegate: { name: 'gated' } },
        ], { namespace: NS, hosts: ['front'] }),
        virtualService('edge', [{ match: [{ gateways: ['ingress'] }], delegate: { name: 'plain', namespace: NS } }], {
          namespace: 'istio-system', hosts: ['*'], gateways: ['ingress'],
        }),
        virtualService('plain', delegateRoute, { namespace: NS, hosts: null }),
        virtualService('gated', delegateRoute, { namespace: NS, hosts: null }),
        virtualService('reviews', [{ name: 'r', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS }),
      ],
    });
    const plan = planOpen(snap, reviewsSpec());
    expect(plan.routeEdits).toEqual([
      { name: 'gated', namespace: NS, meshApplies: false },
      { name: 'plain', namespace: NS, meshApplies: false },
      { name: 'reviews', namespace: NS, meshApplies: true },
    ]);
    for (const edit of plan.routeEdits.slice(0, 2)) {
      const vs = snap.virtualServices.find((v) => v.metadata.name === edit.name)!;
      expect(withEnvRoutes(vs, edit, plan.routing).spec.http![0]!.match!.some((m) => m.sourceLabels)).toBe(false);
    }
  });

  describe('exportTo', () => {
    const route = [{ name: 'r', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }];

    test('a mesh VirtualService for an env host not exported to "*" is refused before any write, naming VS, host, exportTo and fix', () => {
      const snap = reviewsCluster({ vss: [virtualService('reviews', route, { namespace: NS, extra: { exportTo: ['.'] } })] });
      const e = problemsOf(() => planOpen(snap, reviewsSpec()));
      expect(e.kind).toBe('cluster');
      expect(e.problems).toHaveLength(1);
      expect(e.problems[0]).toContain('VirtualService bookinfo/reviews');
      expect(e.problems[0]).toContain(REVIEWS);
      expect(e.problems[0]).toContain('["."]');
      expect(e.problems[0]).toContain('exportTo');
    });

    test('exported to "*" (or the mesh default): planned as before', () => {
      for (const extra of [{ exportTo: ['*'] }, {}]) {
        const snap = reviewsCluster({ vss: [virtualService('reviews', route, { namespace: NS, extra })] });
        expect(planOpen(snap, reviewsSpec()).routeEdits).toEqual([{ name: 'reviews', namespace: NS, meshApplies: true }]);
      }
    });

    test('gateway-only VirtualServices and delegates may be exported narrowly (gateways do not fall back to all pods)', () => {
      const snap = reviewsCluster({
        vss: [
          virtualService('public', [{ name: 'p', route: [{ destination: { host: REVIEWS, subset: 'v1' } }] }], {
            namespace: 'edge', hosts: ['reviews.example.com'], gateways: ['edge/gw'], extra: { exportTo: ['.'] },
          }),
          virtualService('reviews', [{ name: 'r', delegate: { name: 'reviews-delegate' } }], { namespace: NS }),
          virtualService('reviews-delegate', route, { namespace: NS, hosts: null, extra: { exportTo: ['.'] } }),
        ],
      });
      expect(planOpen(snap, reviewsSpec()).routeEdits.map((e) => e.name)).toEqual(['reviews-delegate', 'public']);
    });
  });

  test('gateway-bound VirtualService: with mesh it covers the host; gateway-only does not, so ours is created too', () => {
    const route = [{ name: 'r', route: [{ destination: { host: 'reviews.bookinfo.svc.cluster.local', subset: 'v1' } }] }];
    const withMesh = reviewsCluster({
      vss: [virtualService('public', route, { namespace: 'edge', hosts: ['reviews.example.com', 'reviews.bookinfo.svc.cluster.local'], gateways: ['edge/gw', 'mesh'] })],
    });
    const a = planOpen(withMesh, reviewsSpec());
    expect(a.routeEdits).toEqual([{ name: 'public', namespace: 'edge', meshApplies: true }]);
    expect(a.createVirtualServices).toEqual([]);
    const m = withEnvRoutes(withMesh.virtualServices[0]!, a.routeEdits[0]!, a.routing).spec.http![0]!.match!;
    expect(m[2]).toEqual({ sourceLabels: { version: 'pr-42', 'dynamic-env.io/env': 'pr-42' } });

    const gatewayOnly = reviewsCluster({ vss: [virtualService('public', route, { namespace: 'edge', hosts: ['reviews.example.com'], gateways: ['edge/gw'] })] });
    const b = planOpen(gatewayOnly, reviewsSpec());
    expect(b.routeEdits).toEqual([{ name: 'public', namespace: 'edge', meshApplies: false }]);
    expect(b.createVirtualServices.map((v) => `${v.metadata.namespace}/${v.metadata.name}`)).toEqual([`${NS}/dynamic-env-reviews`]);
    expect(b.workloads[0]!.virtualServices).toEqual([
      { name: 'dynamic-env-reviews', namespace: NS },
      { name: 'public', namespace: 'edge' },
    ]);
  });

  test('one VirtualService for several hosts: one edit, a copy before each route', () => {
    const vs = virtualService('front', [
      { name: 'reviews', match: [{ uri: { prefix: '/r' } }], route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      { name: 'ratings', match: [{ uri: { prefix: '/s' } }], route: [{ destination: { host: 'ratings', subset: 'v1' } }] },
      { name: 'other', route: [{ destination: { host: 'details', subset: 'v1' } }] },
    ], { namespace: NS, hosts: ['reviews', 'ratings'] });
    const snap = snapshot({
      deployments: [
        deployment('reviews-v1', { namespace: NS, labels: { app: 'reviews', version: 'v1' } }),
        deployment('ratings-v1', { namespace: NS, labels: { app: 'ratings', version: 'v1' } }),
      ],
      services: [service('reviews', { app: 'reviews' }, NS), service('ratings', { app: 'ratings' }, NS)],
      virtualServices: [vs],
    });
    const spec = envSpec('pr-1', { services: [workload(NS, 'reviews-v1'), workload(NS, 'ratings-v1')] });
    const plan = planOpen(snap, spec);
    expect(plan.routeEdits).toEqual([{ name: 'front', namespace: NS, meshApplies: true }]);
    expect(plan.routing.hosts).toEqual(['ratings.bookinfo.svc.cluster.local', REVIEWS]);
    expect(plan.destinationRules.map((d) => d.metadata.name)).toEqual(['dynamic-env-pr-1-ratings', 'dynamic-env-pr-1-reviews']);
    const out = withEnvRoutes(vs, plan.routeEdits[0]!, plan.routing);
    expect(out.spec.http!.map((r) => r.name)).toEqual(['dynamic-env/pr-1/reviews', 'reviews', 'dynamic-env/pr-1/ratings', 'ratings', 'other']);
  });

  test('several Services select one Deployment: every one is a host; a Service selecting by version only warns', () => {
    const snap = snapshot({
      deployments: [deployment('reviews-v1', { namespace: NS, labels: { app: 'reviews', version: 'v1' } })],
      services: [
        service('reviews', { app: 'reviews' }, NS),
        service('reviews-internal', { app: 'reviews' }, NS),
        service('reviews-v1', { app: 'reviews', version: 'v1' }, NS),
      ],
    });
    const plan = planOpen(snap, reviewsSpec());
    expect(plan.routing.hosts).toEqual(['reviews-internal.bookinfo.svc.cluster.local', REVIEWS]); // byte order
    expect(plan.destinationRules.map((d) => d.metadata.name)).toEqual(['dynamic-env-pr-42-reviews', 'dynamic-env-pr-42-reviews-internal']);
    expect(plan.createVirtualServices.map((v) => v.metadata.name)).toEqual(['dynamic-env-reviews', 'dynamic-env-reviews-internal']);
    expect(plan.warnings).toHaveLength(1);
    expect(plan.warnings[0]).toContain('Service bookinfo/reviews-v1');
  });

  test('host without a VirtualService: ours is created with the env routes, and the DR gets the baseline subset', () => {
    const snap = reviewsCluster({ drs: [] });
    const plan = planOpen(snap, reviewsSpec());
    expect(plan.routeEdits).toEqual([]);
    expect(plan.createVirtualServices).toHaveLength(1);
    const own = plan.createVirtualServices[0]!;
    expect(own.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/role': 'routing' });
    expect(own.spec.http!.map((r) => r.name)).toEqual(['dynamic-env/pr-42/baseline', 'baseline']);
    expect(plan.destinationRules[0]!.spec.subsets).toEqual([
      { name: 'pr-42', labels: { version: 'pr-42' } },
      { name: BASELINE_SUBSET, labels: { version: 'v1' } },
    ]);
    // A second env finds our VirtualService and edits it like any other.
    const opened = apply(snap, plan);
    const second = planOpen(opened, reviewsSpec('pr-7'));
    expect(second.createVirtualServices).toEqual([]);
    expect(second.routeEdits).toEqual([{ name: 'dynamic-env-reviews', namespace: NS, meshApplies: true }]);
    expect(second.destinationRules[0]!.spec.subsets!.map((s) => s.name)).toEqual(['pr-7', BASELINE_SUBSET]);
    // Closing both removes ours and leaves the cluster as it was.
    const both = apply(opened, second);
    expect(close(close(both, 'pr-42'), 'pr-7')).toEqual(snap);
  });

  test('baseline backends with different versions cannot share a baseline subset', () => {
    const e = problemsOf(() => planOpen(reviewsCluster({ v2: true, drs: [] }), reviewsSpec()));
    expect(e.kind).toBe('cluster');
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toContain('Service bookinfo/reviews');
    expect(e.problems[0]).toContain('reviews-v1: v1, reviews-v2: v2');
  });

  test('workers get a clone and no routes; a Service selecting a worker warns', () => {
    const snap = snapshot({
      deployments: [deployment('mailer', { namespace: NS, labels: { app: 'mailer' } })],
      services: [service('mailer-metrics', { app: 'mailer' }, NS)],
    });
    const plan = planOpen(snap, envSpec('pr-42', { workers: [workload(NS, 'mailer')] }));
    expect(plan.clones.map((c) => c.metadata.labels!['dynamic-env.io/role'])).toEqual(['worker']);
    expect(plan.destinationRules).toEqual([]);
    expect(plan.routeEdits).toEqual([]);
    expect(plan.createVirtualServices).toEqual([]);
    expect(plan.routing.hosts).toEqual([]);
    expect(plan.warnings).toEqual([expect.stringContaining('Service mailer-metrics selects its clone')]);
  });

  test('multi-container: only the named container changes', () => {
    const snap = snapshot({
      deployments: [
        deployment('api', {
          namespace: NS,
          labels: { app: 'api', version: 'v1' },
          containers: [
            { name: 'api', image: 'api:1' },
            { name: 'proxy', image: 'proxy:1' },
          ],
        }),
      ],
      services: [service('api', { app: 'api' }, NS)],
    });
    const plan = planOpen(snap, envSpec('pr-42', { services: [workload(NS, 'api', { containers: [{ name: 'proxy', image: 'proxy:2' }] })] }));
    expect(plan.workloads[0]!.images).toEqual(['api:1', 'proxy:2']);
  });
});

describe('planOpen: subsets keep baseline traffic off the PR pods', () => {
  const bare = virtualService('reviews', [{ name: 'all', route: [{ destination: { host: 'reviews' } }] }], { namespace: NS });

  test('a route without a subset is refused; pinned with the opt-in (DR gets the baseline subset); unpinned on close', () => {
    const snap = reviewsCluster({ vss: [bare] });
    const e = problemsOf(() => planOpen(snap, reviewsSpec()));
    expect(e.problems).toEqual([expect.stringContaining('VirtualService bookinfo/reviews route "all"')]);

    const plan = planOpen(snap, reviewsSpec('pr-42', { pinUnsubsetRoutes: true }));
    expect(plan.destinationRules[0]!.spec.subsets!.map((s) => s.name)).toEqual(['pr-42', BASELINE_SUBSET]);
    const opened = apply(snap, plan);
    expect(opened.virtualServices[0]!.spec.http![1]!.route![0]!.destination.subset).toBe(BASELINE_SUBSET);
    // Another env without the opt-in accepts the already pinned route, and needs the baseline subset too.
    const second = planOpen(opened, reviewsSpec('pr-7'));
    expect(second.destinationRules[0]!.spec.subsets!.map((s) => s.name)).toEqual(['pr-7', BASELINE_SUBSET]);
    const both = apply(opened, second);
    expect(close(close(both, 'pr-7'), 'pr-42').virtualServices).toEqual([bare]);
  });

  test('a mirror to the env host without a subset is refused; pinned with the opt-in (DR gets the baseline subset); unpinned on close', () => {
    const mirrored = virtualService('reviews', [
      { name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }], mirrors: [{ destination: { host: 'reviews' }, percentage: { value: 50 } }] },
    ], { namespace: NS });
    const snap = reviewsCluster({ vss: [mirrored] });
    const e = problemsOf(() => planOpen(snap, reviewsSpec()));
    expect(e.problems).toEqual([expect.stringContaining('VirtualService bookinfo/reviews route "all": mirrors traffic to reviews without a subset')]);

    const plan = planOpen(snap, reviewsSpec('pr-42', { pinUnsubsetRoutes: true }));
    expect(plan.destinationRules[0]!.spec.subsets!.map((s) => s.name)).toEqual(['pr-42', BASELINE_SUBSET]);
    const opened = apply(snap, plan);
    const [copy, user] = opened.virtualServices[0]!.spec.http!;
    expect(user!.mirrors).toEqual([{ destination: { host: 'reviews', subset: BASELINE_SUBSET }, percentage: { value: 50 } }]);
    expect(copy!.mirrors).toBeUndefined();
    const second = planOpen(opened, reviewsSpec('pr-7'));
    expect(second.destinationRules[0]!.spec.subsets!.map((s) => s.name)).toEqual(['pr-7', BASELINE_SUBSET]);
    expect(close(close(apply(opened, second), 'pr-7'), 'pr-42').virtualServices).toEqual([mirrored]);
  });

  test('a mirror to a user subset that also selects the clone pods is refused like a route to it', () => {
    const vs = virtualService('reviews', [
      { name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }], mirror: { host: 'reviews', subset: 'any' } },
    ], { namespace: NS });
    const drs = [destinationRule('reviews', 'reviews', { v1: { version: 'v1' }, any: { app: 'reviews' } }, { namespace: NS })];
    const e = problemsOf(() => planOpen(reviewsCluster({ vss: [vs], drs }), reviewsSpec()));
    expect(e.problems).toEqual([expect.stringContaining('DestinationRule bookinfo/reviews subset "any": its labels {app: reviews} also select env pr-42\'s pods')]);
  });

  test('a user subset whose labels also select the clone pods is refused, naming DR and subset', () => {
    const vs = virtualService('reviews', [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'stable' } }] }], { namespace: NS });
    const snap = reviewsCluster({
      vss: [vs],
      drs: [destinationRule('reviews-dr', 'reviews.bookinfo.svc.cluster.local', { stable: { app: 'reviews' } }, { namespace: 'mesh-config' })],
    });
    const e = problemsOf(() => planOpen(snap, reviewsSpec()));
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toContain('DestinationRule mesh-config/reviews-dr subset "stable"');
    expect(e.problems[0]).toContain('version');
  });

  test("each namespace's user DR lends its top-level policy to our subsets there (not the oldest anywhere); ours has none at top level", () => {
    const vs = virtualService('reviews', [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS });
    const snap = reviewsCluster({
      vss: [vs],
      drs: [
        destinationRule('newer', 'reviews', { v1: { version: 'v1' } }, { namespace: NS, trafficPolicy: { loadBalancer: { simple: 'RANDOM' } }, creationTimestamp: '2026-01-02T00:00:00Z' }),
        destinationRule('older', 'reviews.bookinfo.svc.cluster.local', {}, { namespace: 'other', trafficPolicy: { connectionPool: { tcp: { maxConnections: 5 } } }, creationTimestamp: '2026-01-01T00:00:00Z' }),
      ],
    });
    const drs = planOpen(snap, reviewsSpec()).destinationRules;
    expect(drs.map((d) => [d.metadata.namespace, d.metadata.name])).toEqual([[NS, 'dynamic-env-pr-42-reviews'], ['other', 'dynamic-env-pr-42-reviews.bookinfo']]);
    for (const dr of drs) expect(dr.spec).not.toHaveProperty('trafficPolicy');
    expect(drs[0]!.spec.subsets![0]!.trafficPolicy).toEqual({ loadBalancer: { simple: 'RANDOM' } });
    expect(drs[1]!.spec.subsets![0]!.trafficPolicy).toEqual({ connectionPool: { tcp: { maxConnections: 5 } } });
  });
});

describe('planOpen: problems are collected, then thrown once', () => {
  test('missing deployment, missing container, ambiguous container, no Service, no version label', () => {
    const snap = snapshot({
      deployments: [
        deployment('two', { namespace: NS, labels: { app: 'two', version: 'v1' }, containers: [{ name: 'a', image: 'a:1' }, { name: 'b', image: 'b:1' }] }),
        deployment('lonely', { namespace: NS, labels: { app: 'lonely', version: 'v1' } }),
        deployment('unversioned', { namespace: NS, labels: { app: 'unversioned' } }),
      ],
      services: [service('two', { app: 'two' }, NS), service('unversioned', { app: 'unversioned' }, NS)],
    });
    const spec = envSpec('pr-42', {
      services: [
        workload(NS, 'ghost'),
        workload(NS, 'two', { containers: [{ name: 'c', image: 'c:1' }, { image: 'x:1' }] }),
        workload(NS, 'lonely'),
        workload(NS, 'unversioned'),
      ],
      workers: [workload('jobs', 'cron')],
    });
    const e = problemsOf(() => planOpen(snap, spec));
    expect(e.kind).toBe('cluster');
    expect(e.exitCode).toBe(1);
    expect(e.problems).toHaveLength(6);
    expect(e.problems[0]).toMatch(/^Deployment bookinfo\/ghost: not found/);
    expect(e.problems).toContainEqual(expect.stringMatching(/^Deployment bookinfo\/two container "c": no such container; the pod's containers are: a, b/));
    expect(e.problems).toContainEqual(expect.stringMatching(/^Deployment bookinfo\/two container override #2: .*a, b/));
    expect(e.problems).toContainEqual(expect.stringMatching(/^Deployment bookinfo\/lonely: no Service/));
    expect(e.problems).toContainEqual(expect.stringMatching(/^Deployment bookinfo\/unversioned: its pod template has no "version" label/));
    expect(e.problems).toContainEqual(expect.stringMatching(/^Deployment jobs\/cron: not found/));
  });

  test('an object at the clone name that is not this env clone is refused', () => {
    const snap = reviewsCluster({ vss: [virtualService('reviews', [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS })] });
    snap.deployments.push(deployment('reviews-v1-pr-42', { namespace: NS, labels: { app: 'other' } }));
    const e = problemsOf(() => planOpen(snap, reviewsSpec()));
    expect(e.problems).toEqual([expect.stringContaining('Deployment bookinfo/reviews-v1-pr-42: already exists')]);
  });
});

describe('planOpen: size of the shared VirtualService', () => {
  test('an open that would take the VirtualService over 1 MiB is refused, naming it, its size, the envs on it and the fixes', () => {
    // 31 routes with long matches (about 3 KiB per copy), so a dozen envs fill the VirtualService.
    const http = Array.from({ length: 31 }, (_, i) => ({
      name: `route-${i}`,
      match: [{ uri: { prefix: `/api/v1/section-${i}/${'x'.repeat(1_000)}` } }],
      route: [{ destination: { host: 'reviews', subset: 'v1' } }],
      timeout: '10s',
    }));
    const edit = { name: 'reviews', namespace: NS, meshApplies: true };
    const routing = (env: string) => ({ env, hosts: [REVIEWS], clusterDomain: 'cluster.local', routing: reviewsSpec(env).routing });
    let vs = virtualService('reviews', http, { namespace: NS });
    const envs: string[] = [];
    // Other envs' routes, until one more env (pr-42) would cross the limit.
    for (let i = 0; ; i++) {
      const next = withEnvRoutes(vs, edit, routing(`pr-${100 + i}`));
      if (objectBytes(withEnvRoutes(next, edit, routing('pr-42'))) > MAX_VIRTUAL_SERVICE_BYTES) break;
      vs = next;
      envs.push(`pr-${100 + i}`);
    }
    // One env fewer: it fits.
    expect(() => planOpen(reviewsCluster({ vss: [vs] }), reviewsSpec('pr-42'))).not.toThrow();
    const full = withEnvRoutes(vs, edit, routing('pr-99'));
    const e = problemsOf(() => planOpen(reviewsCluster({ vss: [full] }), reviewsSpec('pr-42')));
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toMatch(/^VirtualService bookinfo\/reviews: would be \d+ bytes \([\d.]+ KiB\) with env pr-42's routes, above the 1024\.0 KiB/);
    expect(e.problems[0]).toContain(`${envs.length + 1} other envs have routes in it: ${[...envs, 'pr-99'].sort().join(', ')}`);
    expect(e.problems[0]).toMatch(/close stale envs.*split the VirtualService.*fewer routes/);
    expect(e.kind).toBe('cluster');
  });
});

describe('planClose', () => {
  test('finds routes by name and objects by labels only; other envs untouched', () => {
    const vs = virtualService('reviews', [{ name: 'r', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS });
    let snap = reviewsCluster({ vss: [vs] });
    snap = apply(snap, planOpen(snap, reviewsSpec('pr-4')));
    snap = apply(snap, planOpen(snap, reviewsSpec('pr-42')));
    const plan = planClose(snap, 'pr-4');
    expect(plan.clones).toEqual([{ name: 'reviews-v1-pr-4', namespace: NS }]);
    expect(plan.destinationRules).toEqual([{ name: 'dynamic-env-pr-4-reviews', namespace: NS }]);
    expect(plan.routeEdits).toEqual([{ name: 'reviews', namespace: NS }]);
    const after = close(snap, 'pr-4');
    expect(envsOf(after.virtualServices[0]!)).toEqual(['pr-42']);
    expect(planClose(after, 'pr-4')).toEqual({ env: 'pr-4', routeEdits: [], destinationRules: [], clones: [] });
  });
});

describe("planOpen: our DestinationRules as istiod merges them with the user's", () => {
  const MESH = { clusterDomain: 'cluster.local', rootNamespace: 'istio-system' };
  const TLS = { tls: { mode: 'ISTIO_MUTUAL' } };
  const LIMITS = { connectionPool: { tcp: { maxConnections: 5 } }, outlierDetection: { consecutive5xxErrors: 3 } };
  const toV1 = virtualService('reviews', [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS });
  const v1v2 = { v1: { version: 'v1' }, v2: { version: 'v2' } };
  /** The rule a proxy in `namespace` uses for reviews, by the model of istiod. */
  const used = (snap: Snapshot, namespace: string) => hostRuleView(REVIEWS, snap.destinationRules, MESH).applied(NS, { namespace });
  const refs = (plan: OpenPlan) => plan.destinationRules.map((d) => `${d.metadata.namespace}/${d.metadata.name}`);

  test('a user DR with exportTo: ours takes the same exportTo, so istiod merges them and the user subsets and policy stay', () => {
    const user = destinationRule('reviews', 'reviews', v1v2, { namespace: NS, exportTo: ['.', 'frontend'], trafficPolicy: TLS });
    const snap = reviewsCluster({ vss: [toV1], drs: [user] });
    const plan = planOpen(snap, reviewsSpec());
    expect(refs(plan)).toEqual(['bookinfo/dynamic-env-pr-42-reviews']);
    expect(plan.destinationRules[0]!.spec.exportTo).toEqual(['.', 'frontend']);
    const opened = apply(snap, plan);
    for (const ns of [NS, 'frontend']) {
      expect(used(opened, ns)!.subsets.map((s) => s.name)).toEqual(['v1', 'v2', 'pr-42']);
      expect(used(opened, ns)!.trafficPolicy).toEqual(TLS);
    }
    expect(plan.warnings).toEqual([expect.stringMatching(/^env pr-42: proxies in namespace istio-system and in other namespaces use no DestinationRule/)]);
  });

  test('user DRs for the host in one namespace with different exportTo are refused', () => {
    const snap = reviewsCluster({
      vss: [toV1],
      drs: [
        destinationRule('reviews', 'reviews', v1v2, { namespace: NS, exportTo: ['.'] }),
        destinationRule('reviews-public', REVIEWS, {}, { namespace: NS, trafficPolicy: TLS }),
      ],
    });
    const e = problemsOf(() => planOpen(snap, reviewsSpec()));
    expect(e.problems).toEqual([
      expect.stringMatching(/^DestinationRules bookinfo\/reviews, bookinfo\/reviews-public: are all for reviews\.bookinfo\.svc\.cluster\.local in namespace bookinfo but their exportTo differ .*; give them the same exportTo/),
    ]);
  });

  test("a user DR in a caller's namespace: a copy there (its exportTo, its policy), in the report, found by close", () => {
    const snap = reviewsCluster({
      vss: [toV1],
      drs: [
        destinationRule('reviews', 'reviews', v1v2, { namespace: NS, trafficPolicy: TLS }),
        destinationRule('reviews-for-frontend', REVIEWS, { v1: { version: 'v1' } }, { namespace: 'frontend', exportTo: ['.'], trafficPolicy: LIMITS }),
      ],
    });
    const original = structuredClone(snap);
    const plan = planOpen(snap, reviewsSpec());
    expect(refs(plan)).toEqual(['bookinfo/dynamic-env-pr-42-reviews', 'frontend/dynamic-env-pr-42-reviews.bookinfo']);
    const copy = plan.destinationRules[1]!;
    expect(copy.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/env': 'pr-42' });
    expect(copy.spec).toEqual({ host: REVIEWS, exportTo: ['.'], subsets: [{ name: 'pr-42', labels: { version: 'pr-42' }, trafficPolicy: LIMITS }] });
    expect(plan.workloads[0]!.destinationRules).toEqual([
      { name: 'dynamic-env-pr-42-reviews', namespace: NS },
      { name: 'dynamic-env-pr-42-reviews.bookinfo', namespace: 'frontend' },
    ]);
    const opened = apply(snap, plan);
    expect(used(opened, 'frontend')!.subsets.map((s) => s.name)).toEqual(['v1', 'pr-42']);
    expect(used(opened, 'frontend')!.trafficPolicy).toEqual(LIMITS);
    expect(used(opened, NS)!.trafficPolicy).toEqual(TLS);
    expect(planClose(opened, 'pr-42').destinationRules).toEqual([
      { name: 'dynamic-env-pr-42-reviews', namespace: NS },
      { name: 'dynamic-env-pr-42-reviews.bookinfo', namespace: 'frontend' },
    ]);
    expect(close(opened, 'pr-42').destinationRules).toEqual(original.destinationRules);
  });

  test('a mesh-wide rule in the root namespace: ours carries its top-level policy, so every proxy keeps it for the baseline', () => {
    const bare = virtualService('reviews', [{ name: 'all', route: [{ destination: { host: 'reviews' } }] }], { namespace: NS });
    const snap = reviewsCluster({ vss: [bare], drs: [destinationRule('mesh-defaults', '*.local', {}, { namespace: 'istio-system', trafficPolicy: LIMITS })] });
    const plan = planOpen(snap, reviewsSpec('pr-42', { pinUnsubsetRoutes: true }));
    expect(refs(plan)).toEqual(['bookinfo/dynamic-env-pr-42-reviews']);
    expect(plan.destinationRules[0]!.spec).toEqual({
      host: REVIEWS,
      trafficPolicy: LIMITS,
      subsets: [
        { name: 'pr-42', labels: { version: 'pr-42' }, trafficPolicy: LIMITS },
        { name: BASELINE_SUBSET, labels: { version: 'v1' }, trafficPolicy: LIMITS },
      ],
    });
    const opened = apply(snap, plan);
    for (const ns of [NS, 'istio-system', 'elsewhere']) expect([ns, used(opened, ns)!.trafficPolicy]).toEqual([ns, LIMITS]);
  });

  test("a wildcard DR of the Service's namespace: its policy and the subsets routes name come along", () => {
    const wildcard = destinationRule('all', '*.bookinfo.svc.cluster.local', v1v2, { namespace: NS, trafficPolicy: TLS });
    const snap = reviewsCluster({ vss: [toV1], drs: [wildcard] });
    const plan = planOpen(snap, reviewsSpec());
    expect(plan.destinationRules[0]!.spec.trafficPolicy).toEqual(TLS);
    expect(plan.destinationRules[0]!.spec.subsets!.map((s) => s.name)).toEqual(['pr-42', 'v1', 'v2']);
    const opened = apply(snap, plan);
    expect(used(opened, 'elsewhere')!.subsets.find((s) => s.name === 'v1')).toEqual({ name: 'v1', labels: { version: 'v1' } });
    expect(plan.warnings).toEqual([]);
  });

  test("the permission check asks for the copies' namespaces: one without the RoleBinding is refused before any write", async () => {
    const snap = reviewsCluster({
      vss: [toV1],
      drs: [destinationRule('reviews', 'reviews', v1v2, { namespace: NS }), destinationRule('callers', REVIEWS, {}, { namespace: 'frontend' })],
    });
    const { client, writes } = fakeClient(snap, (namespace) => namespace === 'frontend');
    const e = await openEnv({ client, spec: reviewsSpec(), run: { lockNamespace: 'default', wait: false, timeoutSeconds: 1 } }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(DynamicEnvError);
    expect((e as DynamicEnvError).problems).toEqual([
      'DestinationRule frontend/dynamic-env-pr-42-reviews.bookinfo: this identity may not create it (forbidden); grant it with ' +
        'deploy/rbac.yaml (a RoleBinding to dynamic-env-write in namespace frontend)',
    ]);
    expect(writes).toEqual([]);
  });
});

describe('planOpen: an env named like a version value in use', () => {
  const toV1 = virtualService('reviews', [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS });

  test('an env named like a version value pods carry (--env v2 beside version: v2) is refused, naming their Deployment and the fix', () => {
    // No user subset is named v2 (that one is caught by the DestinationRule checks): only the pods carry it.
    const drs = [destinationRule('reviews', 'reviews', { v1: { version: 'v1' } }, { namespace: NS })];
    const snap = reviewsCluster({ vss: [toV1], v2: true, drs });
    const e = problemsOf(() => planOpen(snap, reviewsSpec('v2')));
    expect(e.exitCode).toBe(1);
    expect(e.problems).toEqual([
      'Deployment bookinfo/reviews-v2: its pods carry "version: v2", the label env v2 gives its own pods, so the ' +
        "env's subset (and its clones' selectors) would select them too and header-routed requests could reach them; " +
        'choose an env name that is not a "version" value in use (e.g. pr-<number>)',
    ]);
    // Another env name is fine on the same cluster.
    expect(planOpen(snap, reviewsSpec('pr-42')).clones).toHaveLength(1);
  });

  test('the check covers every namespace the env clones into (workers too), the configured version label, and no other namespace', () => {
    const snap = reviewsCluster({ vss: [toV1] });
    snap.deployments.push(
      deployment('cron', { namespace: 'jobs', labels: { app: 'cron' } }),
      deployment('cron-track', { namespace: 'jobs', labels: { app: 'cron', track: 'canary' } }),
      deployment('elsewhere', { namespace: 'other', labels: { app: 'x', track: 'canary' } }),
      deployment('versioned', { namespace: 'jobs', labels: { app: 'y', version: 'canary' } }),
    );
    const spec = envSpec('canary', {
      services: [workload(NS, 'reviews-v1')],
      workers: [workload('jobs', 'cron')],
      routing: { versionLabel: 'track' },
    });
    snap.deployments[0]!.spec.template.metadata!.labels!.track = 'v1';
    snap.destinationRules = [destinationRule('reviews', 'reviews', { v1: { track: 'v1' } }, { namespace: NS })];
    const e = problemsOf(() => planOpen(snap, spec));
    expect(e.problems).toEqual([expect.stringMatching(/^Deployment jobs\/cron-track: its pods carry "track: canary"/)]);
  });

  test("re-opening an env does not trip over its own clones, which carry the env's version value", () => {
    const snap = reviewsCluster({ vss: [toV1] });
    const opened = apply(snap, planOpen(snap, reviewsSpec('pr-42')));
    expect(opened.deployments.map((d) => d.spec.template.metadata!.labels!.version)).toContain('pr-42');
    expect(() => planOpen(opened, reviewsSpec('pr-42'))).not.toThrow();
  });

});

describe("planOpen: a clone name another env's clone already has", () => {
  /** `web` (in env v2-pr-1) and `web-v2` (in env pr-1) both give the clone name web-v2-pr-1. */
  function collision(): { snap: Snapshot; spec: EnvSpec } {
    const web = deployment('web', { namespace: NS, labels: { app: 'web', version: 'v1' } });
    const webV2 = deployment('web-v2', { namespace: NS, labels: { app: 'web', version: 'v2' } });
    const otherClone = buildClone(web, workload(NS, 'web'), envSpec('v2-pr-1'), 'service').clone;
    expect(otherClone.metadata.name).toBe('web-v2-pr-1');
    const snap = snapshot({
      deployments: [web, webV2, otherClone],
      services: [service('web', { app: 'web' }, NS)],
      destinationRules: [destinationRule('web', 'web', { v1: { version: 'v1' }, v2: { version: 'v2' } }, { namespace: NS })],
      virtualServices: [virtualService('web', [{ name: 'all', route: [{ destination: { host: 'web', subset: 'v1' } }] }], { namespace: NS })],
    });
    return { snap, spec: envSpec('pr-1', { services: [workload(NS, 'web-v2', { containers: [{ image: 'ghcr.io/acme/web:pr' }] })] }) };
  }
  const collisionProblem =
    "Deployment bookinfo/web-v2-pr-1: is env v2-pr-1's clone of bookinfo/web, and web-v2's clone in env pr-1 would get the " +
    'same name (clone names are <deployment>-<env>); choose another env name for this env, or close env v2-pr-1 ' +
    'first (dynamic-env close --env v2-pr-1)';

  test("a clone name another env's clone already has is refused, naming that env, its original and the fix", () => {
    const { snap, spec } = collision();
    expect(problemsOf(() => planOpen(snap, spec)).problems).toEqual([collisionProblem]);
  });

  test("open reads each planned clone name, so another env's clone (absent from the label-selected lists) is refused before any write", async () => {
    const { snap, spec } = collision();
    const { client, writes } = fakeClient(snap, () => false);
    const e = await openEnv({ client, spec, run: { lockNamespace: 'default', wait: false, timeoutSeconds: 1 } }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(DynamicEnvError);
    expect((e as DynamicEnvError).problems).toEqual([collisionProblem]);
    expect(writes).toEqual([]);
  });
});

/** A KubeClient serving `snap`, answering access reviews with `refused`, and recording (not making) writes. */
function fakeClient(snap: Snapshot, refused: (namespace: string, resource: string) => boolean): { client: KubeClient; writes: string[] } {
  const writes: string[] = [];
  const byKind: Record<string, KubeObject[]> = {
    Deployment: snap.deployments,
    Service: snap.services,
    DestinationRule: snap.destinationRules,
    VirtualService: snap.virtualServices,
  };
  const selects = (o: KubeObject, selector = ''): boolean =>
    selector.split(',').filter(Boolean).every((term) => {
      const [k, v] = term.split(/!?=/) as [string, string];
      return (o.metadata.labels?.[k] === v) !== term.includes('!=');
    });
  const write = (verb: string) => async (type: ResourceType, obj: KubeObject): Promise<never> => {
    writes.push(`${verb} ${type.kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`);
    throw new Error('no writes in this test');
  };
  const client = {
    list: async (type: ResourceType, namespace?: string, labelSelector?: string) => ({
      items: (byKind[type.kind] ?? []).filter((o) => !namespace || o.metadata.namespace === namespace).filter((o) => selects(o, labelSelector)),
      resourceVersion: '1',
    }),
    get: async (type: ResourceType, namespace: string | undefined, name: string) =>
      (byKind[type.kind] ?? []).find((o) => o.metadata.namespace === namespace && o.metadata.name === name) ?? null,
    create: async (type: ResourceType, obj: KubeObject) => {
      if (type.kind === 'SelfSubjectRulesReview') return { ...obj, status: { resourceRules: [], incomplete: true } };
      if (type.kind !== 'SelfSubjectAccessReview') return write('create')(type, obj);
      const { namespace, resource } = (obj as unknown as { spec: { resourceAttributes: { namespace: string; resource: string } } }).spec.resourceAttributes;
      return { ...obj, status: { allowed: !refused(namespace, resource) } };
    },
    replace: write('update'),
    delete: write('delete'),
  };
  return { client: client as unknown as KubeClient, writes };
}
