// The laws every routing edit keeps, stated once and checked over each routing API (today the VirtualService; the
// Gateway API's HTTPRoute joins the table when its module exists), on several objects as users write them. The
// scenarios particular to one API stay in its own file (plan-virtual-service.test.ts).
import { describe, expect, test } from 'vitest';
import { virtualService } from '../../src/demo/builders.js';
import type { EnvRouting, HTTPRoute, VirtualService } from '../../src/plan/types.js';
import { envsOf, withEnvRoutes, withoutEnvRoutes } from '../../src/plan/virtual-service.js';

/** What the laws need of a routing API: objects in front of the env's host, and open/close of an env on one. */
interface RoutingApi<T> {
  name: string;
  fixtures: Record<string, T>;
  open(o: T, env: string): T;
  close(o: T, env: string): T;
  envs(o: T): string[];
}

const REVIEWS = 'reviews.bookinfo.svc.cluster.local';
const routing = (env: string): EnvRouting => ({
  env, hosts: [REVIEWS], clusterDomain: 'cluster.local',
  // Pinning on: a route without a subset is pinned by the first env and un-pinned by the last.
  routing: { header: 'x-override', baggageKey: 'override', versionLabel: 'version', pinUnsubsetRoutes: true },
});
const reviews = (http: HTTPRoute[], o: Parameters<typeof virtualService>[2] = {}) => virtualService('reviews', http, { namespace: 'bookinfo', ...o });

const virtualServiceRouting: RoutingApi<VirtualService> = {
  name: 'VirtualService',
  fixtures: {
    'subset routes with match blocks': reviews([
      { name: 'jason', match: [{ headers: { 'end-user': { exact: 'jason' } } }, { uri: { prefix: '/beta' } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
      { name: 'default', route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
    ]),
    'a weighted split and a route to another host': reviews([
      { name: 'split', route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 90 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 10 }] },
      { name: 'ratings', match: [{ uri: { prefix: '/ratings' } }], route: [{ destination: { host: 'ratings' } }] },
    ]),
    'routes without a subset, a mirror, unnamed routes': reviews([
      { match: [{ uri: { exact: '/health' } }], route: [{ destination: { host: 'reviews', port: { number: 9080 } } }] },
      { route: [{ destination: { host: 'reviews' } }], mirror: { host: 'reviews' }, mirrorPercentage: { value: 5 } },
    ]),
    'bound to a gateway and the mesh': reviews([
      { name: 'web', match: [{ gateways: ['istio-system/public'], uri: { prefix: '/' } }, { gateways: ['mesh'] }], route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
    ], { gateways: ['istio-system/public', 'mesh'], hosts: ['reviews', 'reviews.example.com'] }),
    'fields our types do not know, on the object and on a route': reviews([
      {
        name: 'default', route: [{ destination: { host: 'reviews', subset: 'v1' } }], retries: { attempts: 3, perTryTimeout: '2s' },
        corsPolicy: { allowOrigins: [{ exact: 'https://example.com' }] }, experimentalRetryBudget: { percent: 20 },
      } as HTTPRoute,
    ], { extra: { exportTo: ['*'], experimentalField: { kept: true } } }),
  },
  open: (vs, env) => withEnvRoutes(vs, { name: vs.metadata.name, namespace: vs.metadata.namespace ?? '', meshApplies: true }, routing(env)),
  close: (vs, env) => withoutEnvRoutes(vs, env),
  envs: envsOf,
};

const deepFreeze = <T>(o: T): T => {
  if (o && typeof o === 'object') for (const v of Object.values(o)) deepFreeze(v);
  return Object.freeze(o);
};

describe.each([virtualServiceRouting as RoutingApi<unknown>])('the laws of a routing edit: $name', (api) => {
  describe.each(Object.entries(api.fixtures))('%s', (_, fixture) => {
    const original = () => deepFreeze(structuredClone(fixture));

    test('an edit never changes its input (every object deep-frozen)', () => {
      const one = deepFreeze(api.open(original(), 'pr-1'));
      const two = deepFreeze(api.open(one, 'pr-2'));
      expect(() => api.close(api.close(two, 'pr-1'), 'pr-2')).not.toThrow();
      expect(api.envs(two)).toEqual(['pr-1', 'pr-2']);
    });

    test('opening twice is opening once; closing twice is closing once', () => {
      const once = api.open(original(), 'pr-1');
      expect(api.open(once, 'pr-1')).toEqual(once);
      const closed = api.close(once, 'pr-1');
      expect(api.close(closed, 'pr-1')).toEqual(closed);
    });

    test('A then B is B then A, for opens and for closes', () => {
      const ab = api.open(api.open(original(), 'pr-9'), 'pr-10');
      const ba = api.open(api.open(original(), 'pr-10'), 'pr-9');
      expect(ab).toEqual(ba);
      expect(api.close(api.close(ab, 'pr-9'), 'pr-10')).toEqual(api.close(api.close(ab, 'pr-10'), 'pr-9'));
    });

    test('close after open gives back the original, deep-equal, whatever else opened in between', () => {
      expect(api.close(api.open(original(), 'pr-1'), 'pr-1')).toEqual(fixture);
      const both = api.open(api.open(original(), 'pr-1'), 'pr-2');
      expect(api.close(both, 'pr-1')).toEqual(api.open(original(), 'pr-2'));
      expect(api.close(api.close(both, 'pr-2'), 'pr-1')).toEqual(fixture);
    });

    test('pr-4 never touches pr-42', () => {
      const both = api.open(api.open(original(), 'pr-42'), 'pr-4');
      expect(api.close(both, 'pr-4')).toEqual(api.open(original(), 'pr-42'));
      expect(api.open(both, 'pr-4')).toEqual(both);
      expect(api.envs(api.close(both, 'pr-42'))).toEqual(['pr-4']);
    });
  });
});

describe('fields our types do not know survive open and close (Argo\'s "WithExtra")', () => {
  test('on the object, on the user\'s route, and on the env\'s copy of it', () => {
    const vs = virtualServiceRouting.fixtures['fields our types do not know, on the object and on a route']!;
    const opened = virtualServiceRouting.open(vs, 'pr-1');
    expect(opened.spec).toMatchObject({ exportTo: ['*'], experimentalField: { kept: true } });
    const [copy, user] = opened.spec.http as (HTTPRoute & Record<string, unknown>)[];
    expect(copy!.name).toBe('dynamic-env/pr-1/default');
    for (const r of [copy!, user!]) {
      expect(r).toMatchObject({ retries: { attempts: 3, perTryTimeout: '2s' }, experimentalRetryBudget: { percent: 20 } });
    }
  });
});
