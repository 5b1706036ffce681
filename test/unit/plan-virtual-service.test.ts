// withEnvRoutes / withoutEnvRoutes: the VirtualService edits, as pure functions.

import { describe, expect, test } from 'vitest';
import { virtualService } from '../../src/demo/builders.js';
import { DynamicEnvError } from '../../src/errors.js';
import { baggageRegex, headerRegex } from '../../src/plan/match.js';
import { BASELINE_SUBSET } from '../../src/plan/names.js';
import type { EnvRouting, HTTPMatchRequest as HTTPRouteMatch, HTTPRoute, PlanProblem, RouteEdit, VirtualService } from '../../src/plan/types.js';
import {
  envsOf,
  exportToProblems,
  matchListsGateways,
  isOwnVirtualService,
  nonHttpWarnings,
  ownVirtualService,
  withBaselinePins,
  withEnvRoutes,
  withoutEnvRoutes,
} from '../../src/plan/virtual-service.js';
import { MAX_VIRTUAL_SERVICE_BYTES, envsThatFit, objectBytes, virtualServiceSizeProblems, withoutAllEnvRoutes } from '../../src/plan/vs-size.js';
import { withoutRoutesOf } from '../../src/plan/close.js';
import { thrownError } from './fixtures/errors.js';

const REVIEWS = 'reviews.bookinfo.svc.cluster.local';
const RATINGS = 'ratings.bookinfo.svc.cluster.local';

function routing(env: string, o: Partial<EnvRouting['routing']> = {}, hosts = [REVIEWS]): EnvRouting {
  return {
    env,
    hosts,
    clusterDomain: 'cluster.local',
    routing: { header: 'x-override', baggageKey: 'override', versionLabel: 'version', pinUnsubsetRoutes: false, ...o },
  };
}

const edit = (vs: VirtualService, meshApplies = true): RouteEdit => ({
  name: vs.metadata.name,
  namespace: vs.metadata.namespace ?? '',
  meshApplies,
});

const reviewsVs = (http: HTTPRoute[], o: Parameters<typeof virtualService>[2] = {}): VirtualService =>
  virtualService('reviews', http, { namespace: 'bookinfo', ...o });

const names = (vs: VirtualService): (string | undefined)[] => (vs.spec.http ?? []).map((r) => r.name);
const open = (vs: VirtualService, env: string, o: Partial<EnvRouting['routing']> = {}, meshApplies = true): VirtualService =>
  withEnvRoutes(vs, edit(vs, meshApplies), routing(env, o));

describe('withEnvRoutes', () => {
  const base = reviewsVs([
    {
      name: 'jason',
      match: [{ headers: { 'end-user': { exact: 'jason' } } }],
      route: [{ destination: { host: 'reviews', subset: 'v2' } }],
    },
    { name: 'default', route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
  ]);

  test('puts a copy before every route to an env host, with header, baggage and sourceLabels blocks', () => {
    const out = open(base, 'pr-42');
    expect(names(out)).toEqual(['dynamic-env/pr-42/jason', 'jason', 'dynamic-env/pr-42/default', 'default']);
    const copy = out.spec.http![0]!;
    expect(copy.match).toEqual([
      { headers: { 'end-user': { exact: 'jason' }, 'x-override': { regex: headerRegex('pr-42') } } },
      { headers: { 'end-user': { exact: 'jason' }, baggage: { regex: baggageRegex('override', 'pr-42') } } },
      { headers: { 'end-user': { exact: 'jason' } }, sourceLabels: { version: 'pr-42', 'dynamic-env.io/env': 'pr-42' } },
    ]);
    expect(copy.route).toEqual([{ destination: { host: 'reviews', subset: 'pr-42' } }]);
    expect(copy.headers).toEqual({ response: { set: { 'x-dynamic-env': 'pr-42' } } });
    // A route without match gets one empty block per kind.
    expect(out.spec.http![2]!.match).toEqual([
      { headers: { 'x-override': { regex: headerRegex('pr-42') } } },
      { headers: { baggage: { regex: baggageRegex('override', 'pr-42') } } },
      { sourceLabels: { version: 'pr-42', 'dynamic-env.io/env': 'pr-42' } },
    ]);
    // The user's routes are untouched.
    expect(out.spec.http![1]).toEqual(base.spec.http![0]);
    expect(out.spec.http![3]).toEqual(base.spec.http![1]);
  });

  test('baggage matching off: no baggage block', () => {
    const out = open(base, 'pr-42', { baggageKey: null });
    expect(out.spec.http![2]!.match).toEqual([
      { headers: { 'x-override': { regex: headerRegex('pr-42') } } },
      { sourceLabels: { version: 'pr-42', 'dynamic-env.io/env': 'pr-42' } },
    ]);
  });

  test('one copy per original match block, blocks in DESIGN order', () => {
    const vs = reviewsVs([
      {
        name: 'api',
        match: [{ uri: { prefix: '/a' } }, { uri: { prefix: '/b' }, sourceLabels: { app: 'web' } }],
        route: [{ destination: { host: 'reviews', subset: 'v1' } }],
      },
    ]);
    const m = open(vs, 'pr-1').spec.http![0]!.match!;
    expect(m).toHaveLength(6);
    expect(m.map((b) => Object.keys(b.headers ?? {}).concat(Object.keys(b.sourceLabels ?? {})))).toEqual([
      ['x-override'],
      ['baggage'],
      ['version', 'dynamic-env.io/env'],
      ['x-override', 'app'],
      ['baggage', 'app'],
      ['app', 'version', 'dynamic-env.io/env'],
    ]);
    expect(m[5]).toEqual({ uri: { prefix: '/b' }, sourceLabels: { app: 'web', version: 'pr-1', 'dynamic-env.io/env': 'pr-1' } });
  });

  test('copies every other field, keeps port and destination headers, drops weight; weighted route gets the first env destination', () => {
    const vs = reviewsVs([
      {
        name: 'split',
        route: [
          { destination: { host: 'ratings', subset: 'v1' }, weight: 20 },
          { destination: { host: 'reviews.bookinfo.svc.cluster.local', subset: 'v1', port: { number: 9080 } }, weight: 70, headers: { request: { set: { a: 'b' } } } },
          { destination: { host: 'reviews', subset: 'v3' }, weight: 10 },
        ],
        timeout: '3s',
        retries: { attempts: 3 },
        rewrite: { uri: '/' },
        corsPolicy: { allowOrigins: [{ exact: 'https://x' }] },
        fault: { delay: { fixedDelay: '1s', percentage: { value: 1 } } },
        mirror: { host: 'shadow' },
        headers: { request: { set: { 'x-a': '1' } }, response: { set: { 'x-b': '2' }, remove: ['x-c'] } },
      },
    ]);
    const copy = open(vs, 'pr-42').spec.http![0]!;
    expect(copy.route).toEqual([
      { destination: { host: 'reviews.bookinfo.svc.cluster.local', subset: 'pr-42', port: { number: 9080 } }, headers: { request: { set: { a: 'b' } } } },
    ]);
    expect(copy).toMatchObject({
      timeout: '3s',
      retries: { attempts: 3 },
      rewrite: { uri: '/' },
      corsPolicy: { allowOrigins: [{ exact: 'https://x' }] },
      fault: { delay: { fixedDelay: '1s', percentage: { value: 1 } } },
      mirror: { host: 'shadow' },
      headers: { request: { set: { 'x-a': '1' } }, response: { set: { 'x-b': '2', 'x-dynamic-env': 'pr-42' }, remove: ['x-c'] } },
    });
  });

  test('unnamed routes are named after the destination host; redirect/directResponse/other hosts are left alone', () => {
    const vs = reviewsVs([
      { redirect: { uri: '/v2' }, match: [{ uri: { exact: '/old' } }] },
      { directResponse: { status: 503 } },
      { route: [{ destination: { host: 'ratings', subset: 'v1' } }] },
      { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
    ]);
    const out = open(vs, 'pr-42');
    expect(names(out)).toEqual([undefined, undefined, undefined, 'dynamic-env/pr-42/reviews', undefined]);
  });

  test('is idempotent and does not mutate its input', () => {
    const before = structuredClone(base);
    const once = open(base, 'pr-42');
    expect(base).toEqual(before);
    expect(open(once, 'pr-42')).toEqual(once);
  });

  test('two envs before one route: one block sorted by env name, whatever the order they open in', () => {
    const ab = open(open(base, 'pr-9'), 'pr-10');
    const ba = open(open(base, 'pr-10'), 'pr-9');
    expect(ab).toEqual(ba);
    expect(names(ab)).toEqual([
      'dynamic-env/pr-10/jason',
      'dynamic-env/pr-9/jason',
      'jason',
      'dynamic-env/pr-10/default',
      'dynamic-env/pr-9/default',
      'default',
    ]);
    // Re-applying one env keeps the other's routes and the order.
    expect(open(ab, 'pr-9')).toEqual(ab);
    // Removing one keeps the other.
    expect(withoutEnvRoutes(ab, 'pr-10')).toEqual(open(base, 'pr-9'));
    expect(envsOf(ab)).toEqual(['pr-10', 'pr-9']);
  });

  test('pr-4 and pr-42 are different envs', () => {
    const both = open(open(base, 'pr-42'), 'pr-4');
    expect(withoutEnvRoutes(both, 'pr-4')).toEqual(open(base, 'pr-42'));
    expect(envsOf(withoutEnvRoutes(both, 'pr-42'))).toEqual(['pr-4']);
  });

  test('routes moved to other hosts lose the env copy on re-apply', () => {
    const once = open(base, 'pr-42');
    const narrowed = withEnvRoutes(once, edit(once), routing('pr-42', {}, [RATINGS]));
    expect(narrowed).toEqual(base);
  });

  describe('routes without a subset', () => {
    const bare = reviewsVs([
      { name: 'canary', match: [{ headers: { canary: { exact: '1' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
      { route: [{ destination: { host: 'reviews' } }] },
    ]);

    test('are refused, naming the VirtualService, the route and the fix', () => {
      let error: unknown;
      try {
        open(bare, 'pr-42');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DynamicEnvError);
      const e = error as DynamicEnvError;
      expect(e.kind).toBe('cluster');
      expect(e.problems).toHaveLength(1);
      expect(e.problems[0]).toContain('VirtualService bookinfo/reviews route "#1"');
      expect(e.problems[0]).toContain('add a subset');
      expect(e.problems[0]).toContain('routing.pinUnsubsetRoutes');
    });

    test('are pinned to the baseline subset with pinUnsubsetRoutes, and un-pinned when the last env leaves', () => {
      const one = open(bare, 'pr-42', { pinUnsubsetRoutes: true });
      expect(one.spec.http![3]!.route).toEqual([{ destination: { host: 'reviews', subset: BASELINE_SUBSET } }]);
      expect(one.spec.http![2]!.route).toEqual([{ destination: { host: 'reviews', subset: 'pr-42' } }]);
      // A second env without the opt-in: the route is already pinned, so it is accepted and stays pinned.
      const two = open(one, 'pr-7');
      expect(names(two)).toHaveLength(6);
      expect(two.spec.http!.at(-1)!.route![0]!.destination.subset).toBe(BASELINE_SUBSET);
      const firstGone = withoutEnvRoutes(two, 'pr-42');
      expect(firstGone.spec.http!.at(-1)!.route![0]!.destination.subset).toBe(BASELINE_SUBSET);
      const allGone = withoutEnvRoutes(firstGone, 'pr-7');
      expect(allGone).toEqual(bare);
    });

    test('a stale pin is dropped when re-applying leaves no env route before it', () => {
      const pinned = open(bare, 'pr-42', { pinUnsubsetRoutes: true });
      const narrowed = withEnvRoutes(pinned, edit(pinned), routing('pr-42', { pinUnsubsetRoutes: true }, [RATINGS]));
      expect(narrowed).toEqual(bare);
    });
  });

  describe('gateways', () => {
    const http: HTTPRoute[] = [
      { name: 'pp', match: [{ uri: { prefix: '/' } }], route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
    ];

    test('a VirtualService bound to gateways and the mesh: the sourceLabels block lists no gateways', () => {
      const vs = reviewsVs(http, { gateways: ['istio-system/ingress', 'mesh'], hosts: ['reviews', 'reviews.example.com'] });
      const m = open(vs, 'pr-42').spec.http![0]!.match!;
      expect(m).toHaveLength(3);
      expect(m[0]).not.toHaveProperty('gateways');
      expect(m[2]).toEqual({ uri: { prefix: '/' }, sourceLabels: { version: 'pr-42', 'dynamic-env.io/env': 'pr-42' } });
    });

    test('a gateway-only VirtualService gets no sourceLabels block', () => {
      const vs = reviewsVs(http, { gateways: ['istio-system/ingress'], hosts: ['*'] });
      const m = open(vs, 'pr-42').spec.http![0]!.match!;
      expect(m).toHaveLength(2);
      expect(m.some((b) => b.sourceLabels)).toBe(false);
    });

    test('a match block bound to a gateway only gets no sourceLabels block; one naming mesh gets it without gateways', () => {
      const vs = reviewsVs(
        [
          {
            name: 'pp',
            match: [{ uri: { prefix: '/a' }, gateways: ['ingress'] }, { uri: { prefix: '/b' }, gateways: ['ingress', 'mesh'] }],
            route: [{ destination: { host: 'reviews', subset: 'v1' } }],
          },
        ],
        { gateways: ['ingress', 'mesh'] },
      );
      const m = open(vs, 'pr-42').spec.http![0]!.match!;
      expect(m.filter((b) => b.sourceLabels)).toEqual([
        { uri: { prefix: '/b' }, sourceLabels: { version: 'pr-42', 'dynamic-env.io/env': 'pr-42' } },
      ]);
      expect(m).toHaveLength(5);
    });

    test('a delegate (no hosts) takes meshApplies from the edit', () => {
      const delegate = reviewsVs(http, { hosts: null });
      expect(withEnvRoutes(delegate, edit(delegate, false), routing('pr-42')).spec.http![0]!.match).toHaveLength(2);
      expect(withEnvRoutes(delegate, edit(delegate, true), routing('pr-42')).spec.http![0]!.match).toHaveLength(3);
    });
  });

  describe('the sourceLabels block never lists gateways (istiod sourceMatchHTTP ignores sourceLabels when it does)', () => {
    const SOURCE = { version: 'pr-42', 'dynamic-env.io/env': 'pr-42' };
    const catchAll: HTTPRoute[] = [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }];
    const sourceBlocks = (vs: VirtualService, meshApplies = true): HTTPRouteMatch[] =>
      withEnvRoutes(vs, edit(vs, meshApplies), routing('pr-42')).spec.http![0]!.match!.filter((m) => m.sourceLabels?.['dynamic-env.io/env']);

    test.each([
      ['gateways: [public-gw, mesh]', ['istio-system/public-gw', 'mesh']],
      ['gateways: [mesh]', ['mesh']],
      ['no gateways', undefined],
    ])('a VirtualService with %s: a catch-all route gets a block selecting only the env clones', (_name, gateways) => {
      const vs = reviewsVs(catchAll, gateways ? { gateways } : {});
      expect(sourceBlocks(vs)).toEqual([{ sourceLabels: SOURCE }]);
    });

    test("a block listing gateways that include mesh: its gateways go, and so do the sourceLabels/sourceNamespace istiod ignored", () => {
      const vs = reviewsVs(
        [
          {
            name: 'pp',
            match: [
              { uri: { prefix: '/a' }, gateways: ['mesh'], sourceLabels: { app: 'web' }, sourceNamespace: 'web' },
              { uri: { prefix: '/b' }, sourceLabels: { app: 'web' }, sourceNamespace: 'web' },
              { uri: { prefix: '/c' }, gateways: [] },
              { uri: { prefix: '/d' }, gateways: ['ingress'] },
            ],
            route: [{ destination: { host: 'reviews', subset: 'v1' } }],
          },
        ],
        { gateways: ['ingress', 'mesh'] },
      );
      expect(sourceBlocks(vs)).toEqual([
        { uri: { prefix: '/a' }, sourceLabels: SOURCE },
        { uri: { prefix: '/b' }, sourceLabels: { app: 'web', ...SOURCE }, sourceNamespace: 'web' },
        // An empty list is no list for istiod: the block applies wherever the VirtualService does.
        { uri: { prefix: '/c' }, sourceLabels: SOURCE },
      ]);
      // The header blocks keep M as it is, gateways included: they select env traffic by header wherever M applies.
      const m = withEnvRoutes(vs, edit(vs), routing('pr-42')).spec.http![0]!.match!;
      expect(m[0]).toEqual({
        uri: { prefix: '/a' },
        gateways: ['mesh'],
        sourceLabels: { app: 'web' },
        sourceNamespace: 'web',
        headers: { 'x-override': { regex: headerRegex('pr-42') } },
      });
    });

    test('the env label follows the configured version label', () => {
      const vs = reviewsVs(catchAll);
      const out = withEnvRoutes(vs, edit(vs), routing('pr-42', { versionLabel: 'track' }));
      expect(out.spec.http![0]!.match!.at(-1)).toEqual({ sourceLabels: { track: 'pr-42', 'dynamic-env.io/env': 'pr-42' } });
    });
  });

  describe('delegate VirtualServices (no hosts): istiod fills the fields a delegate route leaves unset from the root route', () => {
    const delegate = (http: HTTPRoute[]): VirtualService => reviewsVs(http, { hosts: null });

    test('a route without headers gets a copy without headers (so the root route\'s header operations apply to it)', () => {
      const vs = delegate([{ name: 'd', timeout: '2s', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }]);
      const copy = withEnvRoutes(vs, edit(vs), routing('pr-42')).spec.http![0]!;
      expect(copy).not.toHaveProperty('headers');
      expect(copy.timeout).toBe('2s');
    });

    test('a route with headers gets them, plus the x-dynamic-env response header', () => {
      const vs = delegate([
        { name: 'd', headers: { request: { set: { a: '1' } } }, route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      ]);
      const copy = withEnvRoutes(vs, edit(vs), routing('pr-42')).spec.http![0]!;
      expect(copy.headers).toEqual({ request: { set: { a: '1' } }, response: { set: { 'x-dynamic-env': 'pr-42' } } });
    });

    test('the copy sets exactly the route fields the original sets (besides match, which it always has)', () => {
      const routes: HTTPRoute[] = [
        { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
        { name: 'all', retries: { attempts: 2 }, rewrite: { uri: '/' }, corsPolicy: { allowOrigins: [{ exact: 'x' }] },
          fault: { abort: { httpStatus: 500, percentage: { value: 1 } } }, mirror: { host: 'shadow' }, mirrorPercentage: { value: 5 },
          route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      ];
      const out = withEnvRoutes(delegate(routes), edit(delegate(routes)), routing('pr-42'));
      const keys = (r: HTTPRoute): string[] => Object.keys(r).filter((k) => k !== 'match' && k !== 'name').sort();
      expect(keys(out.spec.http![0]!)).toEqual(keys(routes[0]!));
      expect(keys(out.spec.http![2]!)).toEqual(keys(routes[1]!));
    });

    test('a VirtualService with hosts still always gets the response header', () => {
      const vs = reviewsVs([{ name: 'r', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }]);
      expect(withEnvRoutes(vs, edit(vs), routing('pr-42')).spec.http![0]!.headers).toEqual({ response: { set: { 'x-dynamic-env': 'pr-42' } } });
    });
  });

  test('destinations are normalised relative to the VirtualService namespace', () => {
    const elsewhere = virtualService('front', [
      { name: 'a', route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      { name: 'b', route: [{ destination: { host: 'reviews.bookinfo', subset: 'v1' } }] },
      { name: 'c', route: [{ destination: { host: 'reviews.bookinfo.svc', subset: 'v1' } }] },
    ], { namespace: 'frontend' });
    expect(names(withEnvRoutes(elsewhere, edit(elsewhere), routing('pr-42')))).toEqual([
      'a',
      'dynamic-env/pr-42/b',
      'b',
      'dynamic-env/pr-42/c',
      'c',
    ]);
  });

  test('only spec.http changes; tcp/tls routes to env hosts produce warnings', () => {
    const vs = reviewsVs([{ name: 'h', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], {
      extra: {
        tcp: [{ route: [{ destination: { host: 'reviews', port: { number: 9000 } } }] }],
        tls: [{ match: [{ sniHosts: ['x'] }], route: [{ destination: { host: 'ratings' } }] }],
      },
    });
    const out = open(vs, 'pr-42');
    expect(out.spec.tcp).toEqual(vs.spec.tcp);
    expect(out.spec.tls).toEqual(vs.spec.tls);
    expect(out.metadata).toEqual(vs.metadata);
    const warnings = nonHttpWarnings(vs, [REVIEWS], 'cluster.local');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('tcp route #0');
  });
});

describe('exportToProblems', () => {
  const route: HTTPRoute[] = [{ name: 'r', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }];
  const problems = (vs: VirtualService): PlanProblem[] => exportToProblems([vs], [REVIEWS, RATINGS], 'cluster.local');

  test.each([[undefined], [[]], [['*']], [['.', '*']]])('exportTo %j is every namespace: no problem', (exportTo) => {
    expect(problems(reviewsVs(route, exportTo ? { extra: { exportTo } } : {}))).toEqual([]);
  });

  test.each([[['.']], [['bookinfo', 'frontend']], [['~']]])('exportTo %j on a mesh VirtualService for an env host is refused', (exportTo) => {
    const found = problems(reviewsVs(route, { hosts: ['reviews', 'ratings', 'details'], gateways: ['ingress', 'mesh'], extra: { exportTo } }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ kind: 'cluster', subject: 'VirtualService bookinfo/reviews' });
    expect(found[0]!.message).toContain(`${RATINGS}, ${REVIEWS}`);
    expect(found[0]!.message).toContain(JSON.stringify(exportTo));
    expect(found[0]!.message).toContain('all of its pods');
    expect(found[0]!.fix).toContain('exportTo');
    expect(found[0]!.fix).toContain('"*"');
  });

  test('gateway-only VirtualServices and ones for other hosts are not refused', () => {
    expect(problems(reviewsVs(route, { gateways: ['ingress'], extra: { exportTo: ['.'] } }))).toEqual([]);
    expect(problems(reviewsVs(route, { hosts: ['front'], extra: { exportTo: ['.'] } }))).toEqual([]);
  });
});

describe('matchListsGateways', () => {
  test('is true when a match block lists gateways', () => {
    expect(matchListsGateways({ match: [{ uri: { prefix: '/' } }, { gateways: ['mesh'] }] })).toBe(true);
    expect(matchListsGateways({ match: [{ uri: { prefix: '/' } }, { gateways: [] }] })).toBe(false);
    expect(matchListsGateways({})).toBe(false);
  });
});

describe('withoutEnvRoutes', () => {
  const base = reviewsVs([{ name: 'default', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }]);

  test('returns the original after open, deep-equal', () => {
    const opened = open(base, 'pr-42');
    expect(withoutEnvRoutes(opened, 'pr-42')).toEqual(base);
  });

  test('removing an env that is not there returns an equal object (and never mutates)', () => {
    const opened = open(base, 'pr-42');
    const snapshot = structuredClone(opened);
    expect(withoutEnvRoutes(opened, 'pr-4')).toEqual(opened);
    expect(withoutEnvRoutes(base, 'pr-42')).toEqual(base);
    withoutEnvRoutes(opened, 'pr-42');
    expect(opened).toEqual(snapshot);
  });
});

describe('our own VirtualService', () => {
  test('has a default route to the baseline subset, labels, no env label; stays pinned when envs leave', () => {
    const own = ownVirtualService('reviews', 'bookinfo', 'cluster.local');
    expect(own.metadata).toEqual({
      name: 'dynamic-env-reviews',
      namespace: 'bookinfo',
      labels: { 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/role': 'routing' },
    });
    expect(own.spec.hosts).toEqual([REVIEWS]);
    expect(own.spec.http).toEqual([{ name: 'baseline', route: [{ destination: { host: REVIEWS, subset: BASELINE_SUBSET } }] }]);
    expect(isOwnVirtualService(own)).toBe(true);
    const opened = open(own, 'pr-42');
    expect(names(opened)).toEqual(['dynamic-env/pr-42/baseline', 'baseline']);
    expect(withoutEnvRoutes(opened, 'pr-42')).toEqual(own);
    expect(envsOf(withoutEnvRoutes(opened, 'pr-42'))).toEqual([]);
  });
});

describe('mirror / mirrors to env hosts (treated like route destinations)', () => {
  const mirrored = (mirror: Record<string, unknown>): VirtualService =>
    reviewsVs([{ name: 'main', route: [{ destination: { host: 'reviews', subset: 'v1' } }], ...mirror }]);
  const problemsOf = (fn: () => unknown): string[] => thrownError(fn).problems;

  test('a `mirror` to an env host without a subset is refused, naming the route and the fix', () => {
    const vs = mirrored({ mirror: { host: 'reviews' }, mirrorPercentage: { value: 10 } });
    expect(problemsOf(() => open(vs, 'pr-42'))).toEqual([
      expect.stringMatching(/VirtualService bookinfo\/reviews route "main": mirrors traffic to reviews without a subset.*add a subset to the mirror's destination.*pinUnsubsetRoutes/),
    ]);
  });

  test('a `mirrors[]` entry to an env host without a subset is refused; one to another host is not', () => {
    const vs = mirrored({ mirrors: [{ destination: { host: 'shadow' } }, { destination: { host: 'reviews.bookinfo' }, percentage: { value: 5 } }] });
    expect(problemsOf(() => open(vs, 'pr-42'))).toEqual([expect.stringContaining('mirrors traffic to reviews.bookinfo without a subset')]);
    expect(() => open(mirrored({ mirrors: [{ destination: { host: 'shadow' } }] }), 'pr-42')).not.toThrow();
  });

  test('with pinUnsubsetRoutes the mirror is pinned to the baseline subset and un-pinned when the last env goes', () => {
    const vs = mirrored({ mirror: { host: 'reviews' }, mirrors: [{ destination: { host: 'reviews' }, percentage: { value: 5 } }] });
    const one = open(vs, 'pr-42', { pinUnsubsetRoutes: true });
    const user = one.spec.http![1]!;
    expect(user.mirror).toEqual({ host: 'reviews', subset: BASELINE_SUBSET });
    expect(user.mirrors).toEqual([{ destination: { host: 'reviews', subset: BASELINE_SUBSET }, percentage: { value: 5 } }]);
    const two = open(one, 'pr-7');
    expect(withoutEnvRoutes(two, 'pr-42').spec.http![1]!.mirror).toEqual({ host: 'reviews', subset: BASELINE_SUBSET });
    expect(withoutEnvRoutes(withoutEnvRoutes(two, 'pr-42'), 'pr-7')).toEqual(vs);
  });

  test('the env copy drops mirrors to env hosts (and their percentage) and keeps mirrors elsewhere', () => {
    const vs = mirrored({
      mirror: { host: 'reviews', subset: 'v2' }, mirrorPercentage: { value: 10 },
      mirrors: [{ destination: { host: 'shadow' } }, { destination: { host: 'reviews', subset: 'v2' } }],
    });
    const copy = open(vs, 'pr-42').spec.http![0]!;
    expect(copy.name).toBe('dynamic-env/pr-42/main');
    expect(copy.mirror).toBeUndefined();
    expect(copy.mirrorPercentage).toBeUndefined();
    expect(copy.mirrors).toEqual([{ destination: { host: 'shadow' } }]);
    const onlyEnv = open(mirrored({ mirrors: [{ destination: { host: 'reviews', subset: 'v2' } }] }), 'pr-42').spec.http![0]!;
    expect('mirrors' in onlyEnv).toBe(false);
  });

  test('a route that only mirrors to an env host gets a copy keeping its destinations, pinned and un-pinned with it', () => {
    const vs = reviewsVs([{ name: 'to-ratings', route: [{ destination: { host: 'ratings', subset: 'v1' }, weight: 100 }], mirror: { host: 'reviews' } }]);
    const opened = open(vs, 'pr-42', { pinUnsubsetRoutes: true });
    expect(names(opened)).toEqual(['dynamic-env/pr-42/to-ratings', 'to-ratings']);
    expect(opened.spec.http![0]!.route).toEqual([{ destination: { host: 'ratings', subset: 'v1' }, weight: 100 }]);
    expect(opened.spec.http![0]!.mirror).toBeUndefined();
    expect(opened.spec.http![1]!.mirror).toEqual({ host: 'reviews', subset: BASELINE_SUBSET });
    expect(withoutEnvRoutes(opened, 'pr-42')).toEqual(vs);
  });

  test('a root route handing off to a delegate with an unsubset mirror to an env host is refused even with pinning', () => {
    const vs = reviewsVs([{ name: 'root', delegate: { name: 'reviews-delegate' }, mirror: { host: 'reviews' } }]);
    expect(problemsOf(() => open(vs, 'pr-42', { pinUnsubsetRoutes: true }))).toEqual([
      expect.stringContaining('route "root": mirrors traffic to reviews without a subset'),
    ]);
  });
});

describe('size of a shared VirtualService', () => {
  test('envsThatFit: routes × bytes per route copy per env, under the 1 MiB limit (the 31-route example)', () => {
    expect(MAX_VIRTUAL_SERVICE_BYTES).toBe(1024 * 1024);
    // The cluster: 46 envs of 31 routes fit under etcd's 1.5 MiB, the 47th did not: ~1,080 bytes per copy.
    expect(envsThatFit(31, 1_080, 15_000, 1.5 * 1024 * 1024)).toBe(46);
    expect(envsThatFit(31, 1_080, 15_000)).toBe(30);
    expect(envsThatFit(31, 1_080, 2 * 1024 * 1024)).toBe(0);
  });

  test('a 31-route VirtualService: bytes per env measured from the real edit, and how many fit', () => {
    const http: HTTPRoute[] = Array.from({ length: 31 }, (_, i) => ({
      name: `orders-api-route-${i}`,
      match: [{ uri: { prefix: `/api/v1/orders/section-${i}` }, headers: { 'x-tenant': { exact: 'acme' } } }],
      route: [{ destination: { host: 'reviews', subset: 'v1', port: { number: 9080 } } }],
      timeout: '10s',
      retries: { attempts: 3, perTryTimeout: '2s', retryOn: 'gateway-error,connect-failure,refused-stream' },
    }));
    let vs = reviewsVs(http);
    const base = objectBytes(vs);
    for (let i = 0; i < 10; i++) vs = open(vs, `pr-${1000 + i}`);
    const perEnv = (objectBytes(vs) - base) / 10;
    expect(objectBytes(withoutAllEnvRoutes(vs))).toBe(base);
    expect(envsThatFit(31, perEnv / 31, base)).toBe(Math.floor((MAX_VIRTUAL_SERVICE_BYTES - base) / perEnv));
    expect(envsThatFit(31, perEnv / 31, base)).toBeGreaterThan(30);
  });

  test('virtualServiceSizeProblems: none under the limit; above it names the VirtualService, size, envs, fit and fixes', () => {
    const vs = open(open(reviewsVs([{ name: 'default', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }]), 'pr-1'), 'pr-2');
    expect(virtualServiceSizeProblems(vs, 'pr-2')).toEqual([]);
    const size = objectBytes(vs);
    const [p, ...rest] = virtualServiceSizeProblems(vs, 'pr-2', size - 1);
    expect(rest).toEqual([]);
    expect(p!.subject).toBe('VirtualService bookinfo/reviews');
    expect(p!.message).toContain(`would be ${size} bytes`);
    expect(p!.message).toContain("with env pr-2's routes");
    expect(p!.message).toMatch(/about \d+ envs fit; 1 other env has routes in it: pr-1$/);
    expect(p!.fix).toMatch(/close stale envs.*split the VirtualService.*fewer routes/);
  });
});

describe('withBaselinePins (what open writes before the clones exist)', () => {
  const vs = reviewsVs([
    { name: 'canary', match: [{ headers: { 'x-canary': { exact: '1' } } }], route: [{ destination: { host: 'reviews' }, weight: 80 }, { destination: { host: 'legacy.example.com' }, weight: 20 }] },
    { name: 'v1', route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
    { name: 'other', route: [{ destination: { host: 'ratings' } }] },
  ]);
  test('pins only subset-less destinations on env hosts, adds no env route, and is idempotent', () => {
    const pinned = withBaselinePins(vs, edit(vs), routing('pr-9', { pinUnsubsetRoutes: true }));
    expect(names(pinned)).toEqual(['canary', 'v1', 'other']);
    expect(pinned.spec.http![0]!.route).toEqual([
      { destination: { host: 'reviews', subset: BASELINE_SUBSET }, weight: 80 },
      { destination: { host: 'legacy.example.com' }, weight: 20 },
    ]);
    expect(pinned.spec.http![1]).toEqual(vs.spec.http![1]);
    expect(pinned.spec.http![2]).toEqual(vs.spec.http![2]);
    expect(withBaselinePins(pinned, edit(vs), routing('pr-9', { pinUnsubsetRoutes: true }))).toEqual(pinned);
    // The env's routes then go in front of the pinned route without changing the pin.
    expect(withEnvRoutes(pinned, edit(vs), routing('pr-9', { pinUnsubsetRoutes: true })).spec.http![1]).toEqual(pinned.spec.http![0]);
  });
});

describe('copies only what an edit changes', () => {
  const deepFreeze = <T>(o: T): T => {
    if (o && typeof o === 'object') for (const v of Object.values(o)) deepFreeze(v);
    return Object.freeze(o);
  };
  // Two envs open on a route without a subset (pinned), one of them then closed: every edit below works on a frozen
  // VirtualService, so changing a route in place throws.
  const vs = reviewsVs([
    { name: 'canary', match: [{ headers: { 'x-canary': { exact: '1' } } }], route: [{ destination: { host: 'reviews' } }], mirror: { host: 'reviews' } },
    { name: 'v1', route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
    { name: 'other', route: [{ destination: { host: 'ratings' } }] },
  ]);
  const pin = { pinUnsubsetRoutes: true };
  const two = deepFreeze(open(open(vs, 'pr-1', pin), 'pr-2', pin));
  const frozenOriginal = deepFreeze(structuredClone(vs));

  test('no edit changes its input, and each gives what it gave on a copy', () => {
    const copy = structuredClone(two);
    expect(open(two, 'pr-3', pin)).toEqual(open(copy, 'pr-3', pin));
    expect(withoutEnvRoutes(two, 'pr-1')).toEqual(withoutEnvRoutes(structuredClone(two), 'pr-1'));
    expect(withoutRoutesOf('pr-1')(two)).toEqual(withoutRoutesOf('pr-1')(structuredClone(two)));
    expect(withBaselinePins(frozenOriginal, edit(vs), routing('pr-9', pin))).toEqual(withBaselinePins(structuredClone(vs), edit(vs), routing('pr-9', pin)));
    expect(two).toEqual(copy);
  });

  test('the last env closed un-pins a copy of the route, the original stays pinned', () => {
    const one = deepFreeze(withoutEnvRoutes(two, 'pr-2'));
    const none = withoutEnvRoutes(one, 'pr-1');
    expect(none.spec.http![0]).toEqual(vs.spec.http![0]);
    expect(one.spec.http!.find((r) => r.name === 'canary')!.route![0]!.destination.subset).toBe(BASELINE_SUBSET);
  });

  test('routes an edit leaves as they are are the same objects (a VirtualService of many envs is not copied whole)', () => {
    const three = open(two, 'pr-3', pin);
    for (const name of ['canary', 'v1', 'other', 'dynamic-env/pr-1/canary', 'dynamic-env/pr-2/canary']) {
      expect(three.spec.http!.find((r) => r.name === name), name).toBe(two.spec.http!.find((r) => r.name === name));
    }
    const closed = withoutEnvRoutes(three, 'pr-3');
    expect(closed.spec.http!.find((r) => r.name === 'v1')).toBe(two.spec.http!.find((r) => r.name === 'v1'));
  });
});
