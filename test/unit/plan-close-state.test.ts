// Close from the state of the objects, and orphans (issue 10 item 5).
import { describe, expect, test } from 'vitest';
import { deployment, destinationRule, envSpec, service, snapshot, virtualService, workload } from '../../src/demo/builders.js';
import { closeEditByState, findOrphans, planClose, withoutOrphans, baselineHosts } from '../../src/plan/close.js';
import { BASELINE_SUBSET } from '../../src/plan/names.js';
import { planOpen } from '../../src/plan/open.js';
import type { EnvSpec, HTTPRoute, OpenPlan, Snapshot, VirtualService } from '../../src/plan/types.js';
import { withEnvRoutes } from '../../src/plan/virtual-service.js';

const NS = 'shop';
const CD = 'cluster.local';
const WEB = `web.${NS}.svc.${CD}`;

function apply(snap: Snapshot, plan: OpenPlan): Snapshot {
  const key = (o: { metadata: { name: string; namespace?: string } }) => `${o.metadata.namespace}/${o.metadata.name}`;
  const replace = <T extends { metadata: { name: string; namespace?: string } }>(list: T[], next: T[]) => [...list.filter((o) => !next.some((n) => key(n) === key(o))), ...next];
  return {
    deployments: replace(snap.deployments, plan.clones),
    services: snap.services,
    destinationRules: replace(snap.destinationRules, plan.destinationRules),
    virtualServices: [
      ...snap.virtualServices.map((vs) => {
        const e = plan.routeEdits.find((r) => r.name === vs.metadata.name && r.namespace === vs.metadata.namespace);
        return e ? withEnvRoutes(vs, e, plan.routing) : vs;
      }),
      ...plan.createVirtualServices,
    ],
  };
}

const spec = (env: string, pin = true): EnvSpec =>
  envSpec(env, { services: [workload(NS, 'web-v1', { containers: [{ image: `ghcr.io/acme/web:${env}` }] })], routing: { pinUnsubsetRoutes: pin } });

/** web v1, and a user VirtualService with a route that has no subset (pinned by open). */
function cluster(vss?: VirtualService[]): Snapshot {
  return snapshot({
    deployments: [deployment('web-v1', { namespace: NS, labels: { app: 'web', version: 'v1' } })],
    services: [service('web', { app: 'web' }, NS)],
    virtualServices: vss ?? [virtualService('web', [
      { name: 'canary', match: [{ headers: { 'x-canary': { exact: '1' } } }], route: [{ destination: { host: 'web' } }] },
      { name: 'main', route: [{ destination: { host: 'web' } }] },
    ], { namespace: NS })],
  });
}

const names = (vs: VirtualService) => (vs.spec.http ?? []).map((r) => r.name ?? '');
const userVs = (s: Snapshot) => s.virtualServices.find((v) => v.metadata.name === 'web')!;
const withHttp = (vs: VirtualService, http: HTTPRoute[]): VirtualService => ({ ...vs, spec: { ...vs.spec, http } });
const X: HTTPRoute = { name: 'hand-added', match: [{ uri: { prefix: '/x' } }], route: [{ destination: { host: 'other' } }] };
/** Close as the command does it: the env's DRs go, the edit runs on every VirtualService planClose names. */
function closeState(s: Snapshot, env: string): Snapshot {
  const plan = planClose(s, env, {}, { rules: s.destinationRules, clusterDomain: CD });
  const edit = closeEditByState(env, s.destinationRules, CD);
  const listed = (vs: VirtualService) => plan.routeEdits.some((r) => r.name === vs.metadata.name && r.namespace === vs.metadata.namespace);
  return {
    ...s,
    deployments: s.deployments.filter((d) => !plan.clones.some((c) => c.name === d.metadata.name)),
    destinationRules: s.destinationRules.filter((d) => !plan.destinationRules.some((c) => c.name === d.metadata.name)),
    virtualServices: s.virtualServices.flatMap((vs) => (listed(vs) ? [edit(vs)].filter((v): v is VirtualService => v !== null) : [vs])),
  };
}

describe('close from the state of the objects', () => {
  test('a route inserted by hand between the copy and the pinned route: un-pinned, the VirtualService is the user\'s plus the edit', () => {
    const base = cluster();
    const opened = apply(base, planOpen(base, spec('pr-1')));
    const vs = userVs(opened);
    expect(names(vs)).toEqual(['dynamic-env/pr-1/canary', 'canary', 'dynamic-env/pr-1/main', 'main']);
    const edited = withHttp(vs, [vs.spec.http![0]!, X, ...vs.spec.http!.slice(1)]);
    const closed = closeState({ ...opened, virtualServices: [edited] }, 'pr-1');
    const want = withHttp(userVs(base), [X, ...userVs(base).spec.http!]);
    expect(closed.virtualServices).toEqual([want]);
    expect(findOrphans(closed.virtualServices, closed.destinationRules, CD)).toEqual([]);
  });

  test('the copy deleted by hand: the pinned route is un-pinned all the same (and the edit is idempotent)', () => {
    const base = cluster();
    const opened = apply(base, planOpen(base, spec('pr-1')));
    const vs = userVs(opened);
    const edited = withHttp(vs, vs.spec.http!.filter((r) => r.name !== 'dynamic-env/pr-1/main'));
    const closed = closeState({ ...opened, virtualServices: [edited] }, 'pr-1');
    expect(closed.virtualServices).toEqual([userVs(base)]);
    const edit = closeEditByState('pr-1', [], CD);
    expect(edit(closed.virtualServices[0]!)).toEqual(userVs(base));
  });

  test('another env still open keeps the pins, even with its copy deleted by hand (adjacency would have un-pinned)', () => {
    const base = cluster();
    let s = apply(base, planOpen(base, spec('pr-1')));
    s = apply(s, planOpen(s, spec('pr-2')));
    const vs = userVs(s);
    const edited = withHttp(vs, vs.spec.http!.filter((r) => r.name !== 'dynamic-env/pr-2/main'));
    const closed = closeState({ ...s, virtualServices: [edited] }, 'pr-1');
    const http = userVs(closed).spec.http!;
    expect(names(userVs(closed))).toEqual(['dynamic-env/pr-2/canary', 'canary', 'main']);
    expect(http[1]!.route![0]!.destination.subset).toBe(BASELINE_SUBSET);
    expect(http[2]!.route![0]!.destination.subset).toBe(BASELINE_SUBSET);
  });

  test('an env the close did not know of (opening meanwhile) keeps the pins of its hosts', () => {
    const base = cluster();
    let s = apply(base, planOpen(base, spec('pr-1')));
    const rulesBefore = s.destinationRules;
    s = apply(s, planOpen(s, spec('pr-3')));
    const out = closeEditByState('pr-1', rulesBefore, CD, new Set(['pr-1']))(userVs(s))!;
    expect(names(out)).toEqual(['dynamic-env/pr-3/canary', 'canary', 'dynamic-env/pr-3/main', 'main']);
    expect(out.spec.http![3]!.route![0]!.destination.subset).toBe(BASELINE_SUBSET);
  });

  test('our own VirtualService whose env route was deleted by hand is deleted by close', () => {
    const base = cluster([]);
    const opened = apply(base, planOpen(base, spec('pr-1', false)));
    const own = opened.virtualServices[0]!;
    expect(own.metadata.name).toBe('dynamic-env-web');
    const edited = withHttp(own, own.spec.http!.filter((r) => !r.name?.startsWith('dynamic-env/')));
    const s = { ...opened, virtualServices: [edited] };
    expect(planClose(s, 'pr-1', {}, { rules: s.destinationRules, clusterDomain: CD }).routeEdits).toEqual([{ name: 'dynamic-env-web', namespace: NS }]);
    expect(closeState(s, 'pr-1').virtualServices).toEqual([]);
    // Kept while another env's rule still defines its baseline subset (that env's pods would get baseline traffic).
    const other = destinationRule('dynamic-env-pr-2-web', WEB, { 'pr-2': { version: 'pr-2' }, [BASELINE_SUBSET]: { version: 'v1' } }, { namespace: NS });
    other.metadata.labels = { 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/env': 'pr-2' };
    expect(closeEditByState('pr-1', [...s.destinationRules, other], CD)(edited)).toEqual(edited);
  });

  test('orphans are found and fixed: pins no rule backs, our VirtualService no env needs', () => {
    const base = cluster();
    const opened = apply(base, planOpen(base, spec('pr-1')));
    // The env's DestinationRule and copies gone by hand, the pins left: a 503 for all baseline traffic.
    const vs = userVs(opened);
    const pinnedOnly = withHttp(vs, vs.spec.http!.filter((r) => !r.name?.startsWith('dynamic-env/')));
    const own = apply(cluster([]), planOpen(cluster([]), spec('pr-9', false))).virtualServices[0]!;
    const ownEmpty = withHttp(own, own.spec.http!.filter((r) => !r.name?.startsWith('dynamic-env/')));
    const orphans = findOrphans([pinnedOnly, ownEmpty], [], CD);
    expect(orphans.map((o) => [o.kind, o.name, o.hosts])).toEqual([
      ['unbacked-pin', 'web', [WEB]], ['unused-virtual-service', 'dynamic-env-web', [WEB]],
    ]);
    expect(orphans[0]!.message).toMatch(/routes "canary", "main" are pinned to "dynamic-env-baseline" of .*which no DestinationRule defines/);
    expect(withoutOrphans(pinnedOnly, baselineHosts([], CD), CD)).toEqual(userVs(base));
    expect(withoutOrphans(ownEmpty, new Set(), CD)).toBeNull();
    expect(findOrphans(opened.virtualServices, opened.destinationRules, CD)).toEqual([]);
  });
});

