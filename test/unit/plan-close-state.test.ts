// Close from the state of the objects, and orphans (issue 10 item 5).
import { describe, expect, test } from 'vitest';
import { destinationRule, service } from '../../src/demo/builders.js';
import { closeEditByState, findOrphans, isMarkedClosing, liveRulesOf, mayUnpin, planClose, withClosingMark, withoutOrphans, withoutRoutesOf, baselineHosts } from '../../src/plan/close.js';
import { isManaged } from '../../src/plan/deployment.js';
import { BASELINE_SUBSET, ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/plan/names.js';
import { planOpen } from '../../src/plan/open.js';
import type { VirtualService } from '../../src/plan/types.js';
import { NS, CD, WEB, apply, spec, cluster, names, userVs, withHttp, X, closeState } from './fixtures/pinned-web.js';

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

describe('whether close needs its second phase (mayUnpin)', () => {
  test('a user VirtualService with pins, and our own VirtualService, may change in it; the user\'s as it was before the open may not', () => {
    const base = cluster();
    const opened = apply(base, planOpen(base, spec('pr-1')));
    expect(mayUnpin(userVs(opened), CD)).toBe(true);
    expect(mayUnpin(userVs(base), CD)).toBe(false);
    const own = apply(cluster([]), planOpen(cluster([]), spec('pr-1', false))).virtualServices[0]!;
    expect(mayUnpin(own, CD)).toBe(true);
  });

  test('for every VirtualService it says no to, the second phase\'s edit changes nothing after the first', () => {
    const base = cluster();
    const opened = apply(base, planOpen(base, spec('pr-1')));
    for (const vs of [userVs(base), withHttp(userVs(base), [X, ...userVs(base).spec.http!])]) {
      expect(mayUnpin(vs, CD)).toBe(false);
      expect(closeEditByState('pr-1', [], CD)(vs)).toEqual(vs);
    }
    expect(closeEditByState('pr-1', [], CD)(userVs(opened))).not.toEqual(userVs(opened));
  });
});

describe('two envs closing at once, each past its routes and clones (a failed close re-run beside another)', () => {
  const half = (pin: boolean) => {
    const base = pin ? cluster() : cluster([]);
    let s = apply(base, planOpen(base, spec('pr-1', pin)));
    s = apply(s, planOpen(s, spec('pr-2', pin)));
    // No env route and no clone left; every DestinationRule still there (they go last).
    const out = (vs: VirtualService) => withoutRoutesOf('pr-2')(withoutRoutesOf('pr-1')(vs));
    return { ...s, deployments: s.deployments.filter((d) => !isManaged(d.metadata.labels)), virtualServices: s.virtualServices.map(out) };
  };

  test('our own VirtualService is in both plans (each reads the other\'s rules), and goes by the rules of envs with clones', () => {
    const s = half(false);
    const own = s.virtualServices[0]!;
    for (const env of ['pr-1', 'pr-2']) {
      expect(planClose(s, env, {}, { rules: s.destinationRules, clusterDomain: CD }).routeEdits).toEqual([{ namespace: NS, name: own.metadata.name }]);
    }
    expect(closeEditByState('pr-1', [], CD)(own)).toBeNull();
  });

  test('the pins are in both plans too, and are undone by the rules of envs with clones', () => {
    const s = half(true);
    for (const env of ['pr-1', 'pr-2']) {
      expect(planClose(s, env, {}, { rules: s.destinationRules, clusterDomain: CD }).routeEdits).toEqual([{ namespace: NS, name: 'web' }]);
    }
    expect(closeEditByState('pr-1', [], CD)(userVs(s))).toEqual(userVs(cluster()));
  });
});

describe('which rules back a pin for a close (liveRulesOf)', () => {
  const rule = (name: string, env?: string) => {
    const d = destinationRule(name, 'web', { [BASELINE_SUBSET]: { version: 'v1' } }, { namespace: NS });
    return env ? { ...d, metadata: { ...d.metadata, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [ENV_LABEL]: env } } } : d;
  };
  const clone = (env: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `web-${env}`, namespace: NS, labels: { [ENV_LABEL]: env } } });

  test('the users\', an env\'s with clones (marked or not), and an unmarked env\'s without clones (opening); not a marked env\'s without clones (closing)', () => {
    const rules = [
      rule('users'),
      rule('open-env', 'open'),
      withClosingMark(rule('closing-with-clones', 'c1'), '2026-12-03T00:00:00Z'),
      rule('opening-env', 'opening'),
      withClosingMark(rule('closing-env', 'c2'), '2026-12-03T00:00:00Z'),
    ];
    expect(liveRulesOf(rules, [clone('open'), clone('c1')]).map((d) => d.metadata.name)).toEqual(['users', 'open-env', 'closing-with-clones', 'opening-env']);
  });

  test('the mark leaves the rule as it was otherwise', () => {
    const d = rule('x', 'e');
    const marked = withClosingMark(d, 'now');
    expect(isMarkedClosing(d)).toBe(false);
    expect(isMarkedClosing(marked)).toBe(true);
    expect({ ...marked, metadata: { ...marked.metadata, annotations: undefined } }).toEqual({ ...d, metadata: { ...d.metadata, annotations: undefined } });
  });
});
