// Route requests (src/plan/route-requests.ts): what an open records to have other opens write its routes, and how
// a writer applies the requests it reads.

import { describe, expect, test } from 'vitest';
import { destinationRule, virtualService } from '../../src/demo/builders.js';
import { ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/plan/names.js';
import {
  ROUTE_REQUEST_ANNOTATION, ROUTE_REQUEST_LABEL, expectedWriter, hasRouteRequest, routeRequestCarriers, routeRequestsOf, withRequestedRoutes,
  withRouteRequest, withoutRouteRequest, type RouteRequest,
} from '../../src/plan/route-requests.js';
import type { DestinationRule, EnvRouting, RouteEdit } from '../../src/plan/types.js';
import { withEnvRoutes } from '../../src/plan/virtual-service.js';
import { MAX_VIRTUAL_SERVICE_BYTES, objectBytes } from '../../src/plan/vs-size.js';

const NS = 'bookinfo';
const REVIEWS = `reviews.${NS}.svc.cluster.local`;
const routing = (env: string): EnvRouting => ({
  env, hosts: [REVIEWS], clusterDomain: 'cluster.local',
  routing: { header: 'x-override', baggageKey: 'override', versionLabel: 'version', pinUnsubsetRoutes: false },
});
const edit: RouteEdit = { namespace: NS, name: 'reviews', meshApplies: true };
const request = (env: string, edits = [edit]): RouteRequest => ({ edits, routing: routing(env) });
const mesh = () => virtualService('reviews', [
  { name: 'jason', match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
  { name: 'default', route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
], { namespace: NS });
const envRule = (env: string, ns = NS): DestinationRule => {
  const d = destinationRule(`reviews-${env}`, 'reviews', { [env]: { version: env } }, { namespace: ns });
  return { ...d, metadata: { ...d.metadata, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [ENV_LABEL]: env } } };
};

describe('route requests', () => {
  test('recorded on a rule and taken off again, leaving the rule as it was', () => {
    const rule = envRule('pr-1');
    const asked = withRouteRequest(rule, request('pr-1'));
    expect(hasRouteRequest(rule)).toBe(false);
    expect(hasRouteRequest(asked)).toBe(true);
    expect(asked.metadata.labels?.[ROUTE_REQUEST_LABEL]).toBe('true');
    expect(JSON.parse(asked.metadata.annotations![ROUTE_REQUEST_ANNOTATION]!)).toEqual(request('pr-1'));
    expect(asked.spec).toEqual(rule.spec);
    const back = withoutRouteRequest(asked);
    expect(back.metadata.labels).toEqual(rule.metadata.labels);
    expect(back.metadata.annotations).toEqual({});
    expect(hasRouteRequest(back)).toBe(false);
  });

  test('read back: every env but the reader, sorted; a request that does not parse or names another env is left out', () => {
    const bad = (env: string, text: string): DestinationRule => {
      const r = withRouteRequest(envRule(env), request(env));
      return { ...r, metadata: { ...r.metadata, annotations: { [ROUTE_REQUEST_ANNOTATION]: text } } };
    };
    const unmanaged = withRouteRequest(envRule('pr-5'), request('pr-5'));
    delete unmanaged.metadata.labels![MANAGED_BY_LABEL];
    const rules = [
      withRouteRequest(envRule('pr-3'), request('pr-3')),
      withRouteRequest(envRule('pr-1'), request('pr-1')),
      withRouteRequest(envRule('me'), request('me')),
      bad('pr-2', '{not json'),
      bad('pr-4', JSON.stringify(request('someone-else'))),
      unmanaged,
      envRule('pr-6'),
    ];
    expect(routeRequestsOf(rules, 'me').map((r) => r.routing.env)).toEqual(['pr-1', 'pr-3']);
  });

  test('a request counts only for VirtualServices in its rule\'s namespace', () => {
    const elsewhere: RouteEdit = { namespace: 'gateways', name: 'front', meshApplies: false };
    const rules = [withRouteRequest(envRule('pr-1'), request('pr-1', [edit, elsewhere])), withRouteRequest(envRule('pr-2'), request('pr-2', [elsewhere]))];
    expect(routeRequestsOf(rules, 'me')).toEqual([request('pr-1', [edit])]);
  });

  test('a writer adds the routes of every request for its VirtualService, as their own opens would, once', () => {
    const requests = [request('pr-1'), request('pr-2'), request('pr-3', [{ ...edit, name: 'other' }])];
    const out = withRequestedRoutes(withEnvRoutes(mesh(), edit, routing('me')), requests);
    const expected = withEnvRoutes(withEnvRoutes(withEnvRoutes(mesh(), edit, routing('pr-2')), edit, routing('me')), edit, routing('pr-1'));
    expect(out).toEqual(expected);
    expect(out.spec.http!.map((r) => r.name)).toEqual([
      'dynamic-env/me/jason', 'dynamic-env/pr-1/jason', 'dynamic-env/pr-2/jason', 'jason',
      'dynamic-env/me/default', 'dynamic-env/pr-1/default', 'dynamic-env/pr-2/default', 'default',
    ]);
    expect(withRequestedRoutes(out, requests)).toEqual(out);
  });

  test('a request the VirtualService no longer fits is left to its own open', () => {
    // A route without a subset: pr-1 does not pin (its open refuses and says why), so nobody writes its routes.
    const bare = virtualService('reviews', [{ name: 'default', route: [{ destination: { host: 'reviews' } }] }], { namespace: NS });
    expect(withRequestedRoutes(bare, [request('pr-1')])).toEqual(bare);
  });

  test('a request whose routes would take the VirtualService past the size an open may write is left out', () => {
    const big = mesh();
    big.metadata.annotations = { filler: 'x'.repeat(MAX_VIRTUAL_SERVICE_BYTES - objectBytes(big) - 200) };
    expect(objectBytes(big)).toBeLessThan(MAX_VIRTUAL_SERVICE_BYTES);
    expect(withRequestedRoutes(big, [request('pr-1')])).toEqual(big);
  });

  test('carriers: the first own rule in each namespace with an edited VirtualService', () => {
    const edits: RouteEdit[] = [edit, { namespace: 'shop', name: 'cart', meshApplies: true }, { namespace: 'gateways', name: 'front', meshApplies: false }];
    const rules = [envRule('me'), { ...envRule('me'), metadata: { ...envRule('me').metadata, name: 'a-first' } }, envRule('me', 'shop')];
    const carriers = routeRequestCarriers(rules, edits, routing('me'));
    expect(carriers.map((c) => [c.rule.metadata.namespace, c.rule.metadata.name, c.request.edits.map((e) => e.name)])).toEqual([
      [NS, 'a-first', ['reviews']],
      ['shop', 'reviews-me', ['cart']],
    ]);
  });

  test('expectedWriter: the first env by name whose routes the VirtualService lacks and can take, the asking env included', () => {
    const vs = mesh();
    expect(expectedWriter(vs, [], 'pr-5')).toBe('pr-5');
    expect(expectedWriter(vs, [request('pr-1'), request('pr-2')], 'pr-5')).toBe('pr-1');
    // Only envs before the asking one count: after it, the asking env is the writer.
    expect(expectedWriter(vs, [request('pr-7')], 'pr-5')).toBe('pr-5');
    // pr-1's routes are in place already (someone wrote them): pr-2 is next.
    const served = withEnvRoutes(vs, edit, routing('pr-1'));
    expect(expectedWriter(served, [request('pr-1'), request('pr-2')], 'pr-5')).toBe('pr-2');
    // A request for another VirtualService, or one this VirtualService cannot take, makes no env wait for it.
    const elsewhere = request('pr-1', [{ ...edit, name: 'ratings' }]);
    const unfit = { ...request('pr-2'), routing: { ...routing('pr-2'), hosts: ['nowhere.bookinfo.svc.cluster.local'] } };
    expect(expectedWriter(vs, [elsewhere, unfit], 'pr-5')).toBe('pr-5');
  });
});
