// Route requests on the wire (src/kube/route-requests.ts with editVirtualService): an edit that loses a round records
// its request, reads the others' after the VirtualService, writes everyone's routes, and withdraws its request.
// The API is an in-memory store that refuses a write carrying a stale resourceVersion with 409, as the API server does.

import { describe, expect, test } from 'vitest';
import { destinationRule, virtualService } from '../../src/demo/builders.js';
import { editVirtualService } from '../../src/kube/apply.js';
import { ApiStatusError, type KubeClient } from '../../src/kube/client.js';
import type { ResourceType } from '../../src/kube/resources.js';
import { routeSharing, withdrawRouteRequests } from '../../src/kube/route-requests.js';
import { ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, ROUTE_REQUEST_LABEL } from '../../src/plan/names.js';
import { withRouteRequest } from '../../src/plan/route-requests.js';
import type { DestinationRule, EnvRouting, KubeObject, RouteEdit, VirtualService } from '../../src/plan/types.js';
import { envsOf, withEnvRoutes } from '../../src/plan/virtual-service.js';

const NS = 'bookinfo';
const routing = (env: string): EnvRouting => ({
  env, hosts: [`reviews.${NS}.svc.cluster.local`], clusterDomain: 'cluster.local',
  routing: { header: 'x-override', baggageKey: 'override', versionLabel: 'version', pinUnsubsetRoutes: false },
});
const edit: RouteEdit = { namespace: NS, name: 'reviews', meshApplies: true };
const envRule = (env: string): DestinationRule => {
  const d = destinationRule(`reviews-${env}`, 'reviews', { [env]: { version: env } }, { namespace: NS });
  return { ...d, metadata: { ...d.metadata, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [ENV_LABEL]: env } } };
};

/** Objects by kind/namespace/name; every write bumps the resourceVersion; `log` lists the requests in order. */
function store(objects: KubeObject[]) {
  const data = new Map<string, KubeObject>();
  const key = (kind: string, ns: string | undefined, name: string) => `${kind}/${ns ?? ''}/${name}`;
  let rv = 1;
  for (const o of objects) data.set(key(o.kind!, o.metadata.namespace, o.metadata.name), { ...o, metadata: { ...o.metadata, resourceVersion: String(rv++) } });
  const log: string[] = [];
  const copy = <T>(o: T): T => structuredClone(o);
  /** Runs before each write is applied: a test changes the store here to make a write lose its round. */
  let beforeWrite: (kind: string, name: string) => void = () => {};
  const client = {
    get: async (type: ResourceType, ns: string, name: string) => {
      log.push(`get ${type.kind} ${name}`);
      const o = data.get(key(type.kind, ns, name));
      return o ? copy(o) : null;
    },
    list: async (type: ResourceType, _ns: string | undefined, selector?: string) => {
      log.push(`list ${type.kind}`);
      const want = (selector ?? '').split(',').filter(Boolean).map((s) => s.split('='));
      const items = [...data.values()].filter((o) => o.kind === type.kind && want.every(([k, v]) =>
        v === undefined ? o.metadata.labels?.[k!] !== undefined : o.metadata.labels?.[k!] === v));
      return { items: items.map(copy) };
    },
    replace: async (type: ResourceType, o: KubeObject) => {
      beforeWrite(type.kind, o.metadata.name);
      const k = key(type.kind, o.metadata.namespace, o.metadata.name);
      const cur = data.get(k);
      if (cur?.metadata.resourceVersion !== o.metadata.resourceVersion) {
        log.push(`update ${type.kind} ${o.metadata.name}: 409`);
        throw new ApiStatusError(409, 'Conflict', 'the object has been modified', 'PUT', k);
      }
      log.push(`update ${type.kind} ${o.metadata.name}`);
      const next = { ...copy(o), metadata: { ...copy(o.metadata), resourceVersion: String(rv++) } };
      data.set(k, next);
      return copy(next);
    },
  } as unknown as KubeClient;
  return {
    client, log,
    vs: () => data.get(key('VirtualService', NS, 'reviews')) as VirtualService,
    rule: (env: string) => data.get(key('DestinationRule', NS, `reviews-${env}`)) as DestinationRule,
    put: (o: KubeObject) => data.set(key(o.kind!, o.metadata.namespace, o.metadata.name), { ...o, metadata: { ...o.metadata, resourceVersion: String(rv++) } }),
    onWrite: (fn: (kind: string, name: string) => void) => { beforeWrite = fn; },
  };
}

const mesh = () => virtualService('reviews', [{ name: 'default', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS });

describe('route requests on the wire', () => {
  test('alone: one write of its own routes, nothing recorded, nothing listed', async () => {
    const s = store([mesh(), envRule('me')]);
    const sharing = routeSharing(s.client, 'me', [envRule('me')], [edit], routing('me'), () => {});
    const shared = sharing.edit((vs) => withEnvRoutes(vs, edit, routing('me')));
    const outcome = await editVirtualService(s.client, edit, shared.edit, s.vs(), shared.hooks);
    await sharing.withdraw();
    expect(outcome).toBe('updated');
    expect(s.log).toEqual(['update VirtualService reviews']);
    expect(envsOf(s.vs())).toEqual(['me']);
  });

  test('after a 409: records its request, reads the VirtualService then the requests, writes the others\' routes with its own, withdraws', async () => {
    // pr-1 and pr-2 are waiting with requests; pr-3 asks for another VirtualService; another writer wins our first round.
    const s = store([mesh(), envRule('me'), withRouteRequest(envRule('pr-1'), { edits: [edit], routing: routing('pr-1') }),
      withRouteRequest(envRule('pr-2'), { edits: [edit], routing: routing('pr-2') }),
      withRouteRequest(envRule('pr-3'), { edits: [{ ...edit, name: 'ratings' }], routing: routing('pr-3') })]);
    const stale = s.vs();
    let once = false;
    s.onWrite((kind) => {
      if (kind !== 'VirtualService' || once) return;
      once = true;
      s.put(withEnvRoutes(s.vs(), edit, routing('winner')));
    });
    // The env's DestinationRule as its open wrote it (with its resourceVersion): recorded and withdrawn unread.
    const sharing = routeSharing(s.client, 'me', [s.rule('me')], [edit], routing('me'), () => {});
    const shared = sharing.edit((vs) => withEnvRoutes(vs, edit, routing('me')));
    const outcome = await editVirtualService(s.client, edit, shared.edit, stale, shared.hooks);
    expect(outcome).toBe('updated');
    expect(envsOf(s.vs())).toEqual(['me', 'pr-1', 'pr-2', 'winner']);
    expect(s.rule('me').metadata.labels?.[ROUTE_REQUEST_LABEL]).toBe('true');
    await sharing.withdraw();
    expect(s.rule('me').metadata.labels?.[ROUTE_REQUEST_LABEL]).toBeUndefined();
    expect(s.rule('me').metadata.annotations ?? {}).toEqual({});
    expect(s.log).toEqual([
      'update VirtualService reviews: 409',
      'update DestinationRule reviews-me', // the request, once
      'get VirtualService reviews', 'list DestinationRule', // the VirtualService first, then the requests
      'update VirtualService reviews', // 'me' sorts before pr-1 and pr-2: the expected writer
      'update DestinationRule reviews-me', // withdrawn
    ]);
  });

  test('an env that sorts after a pending request leaves the write to that env, and finds its routes written', async () => {
    // a-1 lost the round too and recorded its request; it writes 'me's routes with its own on its next attempt.
    const s = store([mesh(), envRule('me'), withRouteRequest(envRule('a-1'), { edits: [edit], routing: routing('a-1') })]);
    const stale = s.vs();
    s.put(withEnvRoutes(s.vs(), edit, routing('winner')));
    let reads = 0;
    const client = { ...s.client, get: async (...a: Parameters<KubeClient['get']>) => {
      // After 'me' read the VirtualService twice, a-1's write lands: a-1's routes and those of every request.
      if (a[0].kind === 'VirtualService' && ++reads === 3) s.put(withEnvRoutes(withEnvRoutes(s.vs(), edit, routing('a-1')), edit, routing('me')));
      return s.client.get(...a);
    } } as KubeClient;
    const sharing = routeSharing(client, 'me', [s.rule('me')], [edit], routing('me'), () => {});
    const shared = sharing.edit((vs) => withEnvRoutes(vs, edit, routing('me')));
    expect(await editVirtualService(client, edit, shared.edit, stale, shared.hooks)).toBe('unchanged');
    await sharing.withdraw();
    expect(envsOf(s.vs())).toEqual(['a-1', 'me', 'winner']);
    // One write of the VirtualService (the 409); the requests read once: while it waits for the same writer, and once
    // its routes are in place, there is nothing to write and so nothing to read them for.
    expect(s.log).toEqual([
      'update VirtualService reviews: 409', 'update DestinationRule reviews-me',
      'get VirtualService reviews', 'list DestinationRule',
      'get VirtualService reviews',
      'get VirtualService reviews',
      'update DestinationRule reviews-me',
    ]);
  });

  test('an expected writer that never writes: the env writes its routes and the request\'s itself, after the wait', async () => {
    const s = store([mesh(), envRule('me'), withRouteRequest(envRule('a-1'), { edits: [edit], routing: routing('a-1') })]);
    const stale = s.vs();
    s.put(withEnvRoutes(s.vs(), edit, routing('winner')));
    const sharing = routeSharing(s.client, 'me', [s.rule('me')], [edit], routing('me'), () => {}, 200);
    const shared = sharing.edit((vs) => withEnvRoutes(vs, edit, routing('me')));
    const t0 = Date.now();
    expect(await editVirtualService(s.client, edit, shared.edit, stale, shared.hooks)).toBe('updated');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(envsOf(s.vs())).toEqual(['a-1', 'me', 'winner']);
    expect(s.log.filter((l) => l.startsWith('update VirtualService'))).toEqual(['update VirtualService reviews: 409', 'update VirtualService reviews']);
    // The write is based on the requests read after the VirtualService it writes, not on those read before the wait.
    expect(s.log.slice(-3)).toEqual(['get VirtualService reviews', 'list DestinationRule', 'update VirtualService reviews']);
  });

  test('an env whose request could not be recorded never waits for another writer', async () => {
    const s = store([mesh(), envRule('me'), withRouteRequest(envRule('a-1'), { edits: [edit], routing: routing('a-1') })]);
    const stale = s.vs();
    s.put(withEnvRoutes(s.vs(), edit, routing('winner')));
    s.onWrite((kind) => {
      if (kind === 'DestinationRule') throw new ApiStatusError(403, 'Forbidden', 'cannot update destinationrules', 'PUT', 'dr');
    });
    const sharing = routeSharing(s.client, 'me', [s.rule('me')], [edit], routing('me'), () => {}, 60_000);
    const shared = sharing.edit((vs) => withEnvRoutes(vs, edit, routing('me')));
    expect(await editVirtualService(s.client, edit, shared.edit, stale, shared.hooks)).toBe('updated');
    expect(s.log.filter((l) => l.includes('VirtualService'))).toEqual(['update VirtualService reviews: 409', 'get VirtualService reviews', 'update VirtualService reviews']);
  });

  test('an env whose routes another open wrote writes nothing more', async () => {
    const s = store([mesh(), envRule('me')]);
    const stale = s.vs();
    // Another open read our request and wrote our routes with its own while we lost the round.
    s.put(withEnvRoutes(withEnvRoutes(s.vs(), edit, routing('other')), edit, routing('me')));
    const sharing = routeSharing(s.client, 'me', [envRule('me')], [edit], routing('me'), () => {});
    const shared = sharing.edit((vs) => withEnvRoutes(vs, edit, routing('me')));
    const outcome = await editVirtualService(s.client, edit, shared.edit, stale, shared.hooks);
    await sharing.withdraw();
    expect(outcome).toBe('unchanged');
    expect(s.log.filter((l) => l.startsWith('update VirtualService'))).toEqual(['update VirtualService reviews: 409']);
  });

  test('a request that cannot be recorded (RBAC) is logged, and the open writes its own routes', async () => {
    const s = store([mesh(), envRule('me')]);
    const lines: string[] = [];
    const stale = s.vs();
    s.put(withEnvRoutes(s.vs(), edit, routing('winner')));
    s.onWrite((kind) => {
      if (kind === 'DestinationRule') throw new ApiStatusError(403, 'Forbidden', 'cannot update destinationrules', 'PUT', 'dr');
    });
    const sharing = routeSharing(s.client, 'me', [envRule('me')], [edit], routing('me'), (l) => lines.push(l));
    const shared = sharing.edit((vs) => withEnvRoutes(vs, edit, routing('me')));
    expect(await editVirtualService(s.client, edit, shared.edit, stale, shared.hooks)).toBe('updated');
    await sharing.withdraw();
    expect(envsOf(s.vs())).toEqual(['me', 'winner']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^env me: could not ask other opens to write its routes \(writing DestinationRule bookinfo\/reviews-me: forbidden.*\); writing them itself$/);
  });

  test('withdrawRouteRequests: only rules that carry one are written', async () => {
    const s = store([envRule('a'), withRouteRequest(envRule('b'), { edits: [edit], routing: routing('b') })]);
    await withdrawRouteRequests(s.client, [envRule('a'), envRule('b')]);
    expect(s.log).toEqual(['get DestinationRule reviews-a', 'get DestinationRule reviews-b', 'update DestinationRule reviews-b']);
    expect(s.rule('b').metadata.labels?.[ROUTE_REQUEST_LABEL]).toBeUndefined();
  });
});
