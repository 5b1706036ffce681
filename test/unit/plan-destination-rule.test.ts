// Our DestinationRules: the model of istiod's lookup (which rule a proxy uses for a host), where our rules go and
// what they carry, and the check that no proxy's baseline changes.

import { describe, expect, test } from 'vitest';
import { destinationRule, envSpec } from '../../src/demo/builders.js';
import { checkBaselineKept } from '../../src/plan/destination-rule-check.js';
import { buildDestinationRule, planHostDestinationRules, planRuleCopies } from '../../src/plan/destination-rule.js';
import { hostRuleView, ruleHost, type ProxyRef } from '../../src/plan/destination-rule-scope.js';
import { destinationRuleCopyName } from '../../src/plan/names.js';
import type { DestinationRule } from '../../src/plan/types.js';

const NS = 'bookinfo';
const ROOT = 'istio-system';
const H = 'reviews.bookinfo.svc.cluster.local';
const MESH = { clusterDomain: 'cluster.local', rootNamespace: ROOT };
const T1 = '2026-01-01T00:00:00Z';
const T2 = '2026-01-02T00:00:00Z';
const TLS = { tls: { mode: 'ISTIO_MUTUAL' } };
const LIMITS = { connectionPool: { tcp: { maxConnections: 5 } } };

type Opts = Parameters<typeof destinationRule>[3];
const dr = (name: string, namespace: string, host: string, o: Opts & { subsets?: Record<string, Record<string, string>> } = {}): DestinationRule =>
  destinationRule(name, host, o.subsets ?? {}, { namespace, ...o });

/** The names (`ns/name`, merged ones joined by `+`) of the rule a proxy uses, or null. */
function used(rules: DestinationRule[], proxy: ProxyRef, serviceNamespace = NS): string | null {
  const applied = hostRuleView(H, rules, MESH).applied(serviceNamespace, proxy);
  return applied ? applied.rules.map((r) => `${r.metadata.namespace}/${r.metadata.name}`).join('+') : null;
}

describe('ruleHost: istiod resolves only names without dots (ResolveShortnameToFQDN)', () => {
  test.each([
    ['reviews', NS, H],
    ['reviews', 'frontend', 'reviews.frontend.svc.cluster.local'],
    ['reviews.bookinfo', NS, 'reviews.bookinfo'],
    ['*', NS, '*'],
    ['*.bookinfo.svc.cluster.local', 'frontend', '*.bookinfo.svc.cluster.local'],
  ])('%s in %s -> %s', (host, namespace, expected) => {
    expect(ruleHost(dr('x', namespace, host), 'cluster.local')).toBe(expected);
  });
});

describe('hostRuleView: which DestinationRule a proxy uses for a host', () => {
  const S = { namespace: NS };
  const FRONTEND = { namespace: 'frontend' };
  const OTHER = { namespace: 'elsewhere' };
  const ROOTP = { namespace: ROOT };

  const rows: [name: string, rules: DestinationRule[], expected: [ProxyRef, string | null][]][] = [
    ['no rule', [], [[S, null], [OTHER, null]]],
    ['exact rule in the Service namespace, default exportTo: everyone', [dr('reviews', NS, 'reviews')], [
      [S, 'bookinfo/reviews'], [OTHER, 'bookinfo/reviews'], [ROOTP, 'bookinfo/reviews'],
    ]],
    ['exportTo ["."]: only its namespace', [dr('reviews', NS, 'reviews', { exportTo: ['.'] })], [
      [S, 'bookinfo/reviews'], [OTHER, null], [ROOTP, null],
    ]],
    ['exportTo [frontend] (not its own namespace): only frontend', [dr('reviews', NS, 'reviews', { exportTo: ['frontend'] })], [
      [S, null], [FRONTEND, 'bookinfo/reviews'], [OTHER, null],
    ]],
    ['equal exportTo: merged, oldest first', [
      dr('b', NS, H, { exportTo: ['*'], creationTimestamp: T2 }), dr('a', NS, 'reviews', { exportTo: ['*'], creationTimestamp: T1 }),
    ], [[S, 'bookinfo/a+bookinfo/b'], [OTHER, 'bookinfo/a+bookinfo/b']]],
    ['different exportTo: not merged, the newest alone', [
      dr('a', NS, 'reviews', { exportTo: ['.'], creationTimestamp: T1 }), dr('b', NS, 'reviews', { creationTimestamp: T2 }),
    ], [[S, 'bookinfo/b'], [OTHER, 'bookinfo/b']]],
    ['a newer superset of a non-empty exportTo joins it (mergeDestinationRule as written)', [
      dr('a', NS, 'reviews', { exportTo: ['frontend'], creationTimestamp: T1 }), dr('b', NS, 'reviews', { exportTo: ['frontend', 'bookinfo'], creationTimestamp: T2 }),
    ], [[FRONTEND, 'bookinfo/a+bookinfo/b'], [S, 'bookinfo/b']]],
    ["the proxy's own namespace first", [dr('reviews', NS, 'reviews'), dr('mine', 'frontend', H)], [
      [FRONTEND, 'frontend/mine'], [S, 'bookinfo/reviews'], [OTHER, 'bookinfo/reviews'],
    ]],
    ['exact before wildcard in one namespace', [dr('all', NS, '*.bookinfo.svc.cluster.local'), dr('reviews', NS, 'reviews')], [
      [S, 'bookinfo/reviews'], [OTHER, 'bookinfo/reviews'],
    ]],
    ["the Service's namespace before the root namespace", [dr('all', NS, '*.bookinfo.svc.cluster.local'), dr('mesh', ROOT, '*')], [
      [S, 'bookinfo/all'], [OTHER, 'bookinfo/all'], [ROOTP, 'bookinfo/all'],
    ]],
    ['the longest wildcard of the root namespace', [dr('any', ROOT, '*'), dr('local', ROOT, '*.local')], [[S, 'istio-system/local'], [OTHER, 'istio-system/local']]],
    ['a private root rule applies to root proxies only', [dr('mesh', ROOT, '*.local', { exportTo: ['.'] })], [[ROOTP, 'istio-system/mesh'], [S, null]]],
    ['an exact rule not exported to the proxy ends the search in its namespace (no fallback to the wildcard there)', [
      dr('reviews', NS, 'reviews', { exportTo: ['frontend'] }), dr('all', NS, '*.bookinfo.svc.cluster.local'), dr('mesh', ROOT, '*'),
    ], [[OTHER, 'istio-system/mesh'], [FRONTEND, 'bookinfo/reviews']]],
    ['a private exact rule is not exported, so the wildcard is', [dr('reviews', NS, 'reviews', { exportTo: ['.'] }), dr('all', NS, '*.bookinfo.svc.cluster.local')], [
      [S, 'bookinfo/reviews'], [OTHER, 'bookinfo/all'],
    ]],
    ['workloadSelector: the selected workloads of its namespace only', [
      dr('reviews', NS, 'reviews'), dr('pp', NS, 'reviews', { workloadSelector: { app: 'productpage' } }),
    ], [
      [{ namespace: NS, labels: { app: 'productpage', version: 'v1' } }, 'bookinfo/pp'], [S, 'bookinfo/reviews'],
      [{ namespace: 'frontend', labels: { app: 'productpage' } }, 'bookinfo/reviews'],
    ]],
    ['a namespace with only a selector rule ends the search for its other proxies', [dr('reviews', NS, 'reviews'), dr('pp', 'frontend', H, { workloadSelector: { app: 'x' } })], [
      [FRONTEND, null], [{ namespace: 'frontend', labels: { app: 'x' } }, 'frontend/pp'],
    ]],
    ['short names resolve in their own namespace only', [dr('reviews', 'frontend', 'reviews'), dr('dotted', NS, 'reviews.bookinfo')], [[FRONTEND, null], [S, null]]],
  ];
  test.each(rows)('%s', (_name, rules, expected) => {
    for (const [proxy, want] of expected) expect([proxy, used(rules, proxy)]).toEqual([proxy, want]);
  });

  test('merging: subsets by first definition, the first top-level policy', () => {
    const rules = [
      dr('b', NS, 'reviews', { subsets: { v1: { version: 'b' }, v2: { version: 'v2' } }, trafficPolicy: LIMITS, creationTimestamp: T2 }),
      dr('a', NS, 'reviews', { subsets: { v1: { version: 'v1' } }, creationTimestamp: T1 }),
    ];
    const applied = hostRuleView(H, rules, MESH).applied(NS, { namespace: NS })!;
    expect(applied.subsets).toEqual([{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }]);
    expect(applied.trafficPolicy).toEqual(LIMITS);
  });
});

describe('planRuleCopies: where ours goes and what it carries', () => {
  const plan = (rules: DestinationRule[]) => planRuleCopies(H, NS, rules, MESH);

  test("beside an exact rule with another exportTo: its exportTo, its policy on our subsets, none at top level", () => {
    const { copies, problems } = plan([dr('reviews', NS, 'reviews', { exportTo: ['.', 'frontend'], trafficPolicy: TLS })]);
    expect(problems).toEqual([]);
    expect(copies).toEqual([expect.objectContaining({ namespace: NS, mode: 'merge', exportTo: ['.', 'frontend'], subsetPolicy: TLS, subsets: [] })]);
    expect(copies[0]).not.toHaveProperty('trafficPolicy');
  });

  test('exact rules of one namespace with different exportTo are refused, naming them', () => {
    const { copies, problems } = plan([dr('a', NS, 'reviews', { exportTo: ['.'] }), dr('b', NS, H)]);
    expect(copies).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ subject: 'DestinationRules bookinfo/a, bookinfo/b', fix: expect.stringContaining('same exportTo') })]);
    expect(problems[0]!.message).toContain('a: [.]; b: []');
  });

  test("a caller namespace's own rule gets a copy with that rule's exportTo and policy", () => {
    const { copies } = plan([
      dr('reviews', NS, 'reviews', { trafficPolicy: TLS, creationTimestamp: T2 }),
      dr('callers', 'frontend', H, { exportTo: ['.'], trafficPolicy: LIMITS, creationTimestamp: T1 }),
    ]);
    expect(copies.map((c) => [c.namespace, c.mode, c.exportTo, c.subsetPolicy])).toEqual([
      [NS, 'merge', undefined, TLS],
      ['frontend', 'merge', ['.'], LIMITS],
    ]);
  });

  test('a wildcard rule of a caller namespace gets one too (ours, exact, would otherwise never be seen there)', () => {
    const { copies } = plan([dr('all', 'frontend', '*', { trafficPolicy: LIMITS, subsets: { fast: { tier: 'fast' } } })]);
    expect(copies.map((c) => [c.namespace, c.mode])).toEqual([[NS, 'replace'], ['frontend', 'replace']]);
    expect(copies[1]).toMatchObject({ trafficPolicy: LIMITS, subsetPolicy: LIMITS, subsets: [{ name: 'fast', labels: { tier: 'fast' } }] });
    expect(copies[0]).toMatchObject({ subsets: [], basis: [] });
  });

  test('a mesh-wide root rule: ours in the Service namespace carries its top-level policy and reach', () => {
    const { copies } = plan([dr('mesh', ROOT, '*.local', { trafficPolicy: TLS })]);
    expect(copies).toEqual([expect.objectContaining({ namespace: NS, mode: 'replace', trafficPolicy: TLS, subsetPolicy: TLS })]);
    expect(copies[0]).not.toHaveProperty('exportTo');
    // From the root namespace, "." meant the root namespace (and counts for nobody there): dropped.
    expect(plan([dr('mesh', ROOT, '*.local', { exportTo: ['.', NS, 'frontend'] })]).copies[0]!.exportTo).toEqual([NS, 'frontend']);
  });

  test("a wildcard of the Service namespace: its subsets (routes may name them), policy and exportTo", () => {
    const { copies } = plan([dr('all', NS, '*.bookinfo.svc.cluster.local', { exportTo: ['.'], trafficPolicy: LIMITS, subsets: { v1: { version: 'v1' } } })]);
    expect(copies).toEqual([expect.objectContaining({ namespace: NS, mode: 'replace', exportTo: ['.'], trafficPolicy: LIMITS, subsets: [{ name: 'v1', labels: { version: 'v1' } }] })]);
  });

  test("the root namespace's private rule gets a copy there (its proxies look there first); selector-only namespaces get none", () => {
    const { copies } = plan([dr('mesh', ROOT, '*', { exportTo: ['.'], trafficPolicy: TLS }), dr('pp', 'frontend', H, { workloadSelector: { app: 'pp' } })]);
    expect(copies.map((c) => [c.namespace, c.exportTo, c.trafficPolicy])).toEqual([[NS, undefined, undefined], [ROOT, ['.'], TLS]]);
  });
});

describe('buildDestinationRule', () => {
  const spec = envSpec('pr-42');
  test('a copy outside the Service namespace is named after the Service and its namespace; never a workloadSelector', () => {
    const selector = dr('all', 'frontend', '*', { trafficPolicy: LIMITS, workloadSelector: { app: 'x' } });
    const copy = { namespace: 'frontend', mode: 'replace' as const, exportTo: ['.'], trafficPolicy: LIMITS, subsetPolicy: LIMITS, subsets: [], basis: [selector] };
    const built = buildDestinationRule(spec, { host: H, serviceName: 'reviews', serviceNamespace: NS, baselineVersion: 'v1', copy });
    expect(built.metadata.name).toBe(destinationRuleCopyName('pr-42', 'reviews', NS));
    expect(built.metadata.name).toBe('dynamic-env-pr-42-reviews.bookinfo');
    expect(built.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/env': 'pr-42' });
    expect(built.spec).toEqual({
      host: H,
      exportTo: ['.'],
      trafficPolicy: LIMITS,
      subsets: [
        { name: 'pr-42', labels: { version: 'pr-42' }, trafficPolicy: LIMITS },
        { name: 'dynamic-env-baseline', labels: { version: 'v1' }, trafficPolicy: LIMITS },
      ],
    });
  });
});

describe('planHostDestinationRules: what istiod would make of them', () => {
  const spec = envSpec('pr-42');
  const input = (clusterRules: DestinationRule[], baselineVersion?: string) => ({
    host: H, serviceName: 'reviews', serviceNamespace: NS, clusterRules, callerNamespaces: [NS],
    ...(baselineVersion ? { baselineVersion } : {}),
  });

  test('the common case: merged with the user rule everywhere, nothing to say', () => {
    const out = planHostDestinationRules(spec, input([dr('reviews', NS, 'reviews', { trafficPolicy: TLS, subsets: { v1: { version: 'v1' } } })], 'v1'));
    expect(out.problems).toEqual([]);
    expect(out.warnings).toEqual([]);
    expect(out.rules.map((r) => `${r.metadata.namespace}/${r.metadata.name}`)).toEqual(['bookinfo/dynamic-env-pr-42-reviews']);
  });

  test('a private user rule: other namespaces never see our subsets (warning); with pinned routes their baseline would 503 (refused)', () => {
    const rules = [dr('reviews', NS, 'reviews', { exportTo: ['.'] })];
    const warned = planHostDestinationRules(spec, input(rules));
    expect(warned.problems).toEqual([]);
    expect(warned.warnings).toEqual([
      `env pr-42: proxies in namespace istio-system and in other namespaces use no DestinationRule for ${H}, which has no subset "pr-42", so their requests for env pr-42 get 503`,
    ]);
    const refused = planHostDestinationRules(spec, input(rules, 'v1'));
    expect(refused.problems).toEqual([expect.objectContaining({
      subject: `DestinationRules for ${H}`,
      message: expect.stringContaining('proxies in namespace istio-system and in other namespaces would use no DestinationRule, which has no subset "dynamic-env-baseline"'),
    })]);
  });

  test("another env's rule left with an old exportTo would hide the user's subsets: refused, naming that env", () => {
    const stale: DestinationRule = {
      ...dr('dynamic-env-pr-1-reviews', NS, H, { subsets: { 'pr-1': { version: 'pr-1' } }, creationTimestamp: T2 }),
    };
    stale.metadata.labels = { 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/env': 'pr-1' };
    const out = planHostDestinationRules(spec, input([dr('reviews', NS, 'reviews', { exportTo: ['.'], subsets: { v1: { version: 'v1' } }, creationTimestamp: T1 }), stale]));
    expect(out.problems).toEqual([expect.objectContaining({
      // mergeDestinationRule joins ours to the user's entry, but the last entry it compares with (pr-1's) differs,
      // so ours also stands alone, and as the newest it is what the proxies use.
      message: expect.stringContaining(`proxies in namespace bookinfo would use DestinationRule bookinfo/dynamic-env-pr-42-reviews instead of DestinationRule bookinfo/reviews, so subset "v1" would be missing or different`),
      fix: "re-run open (or close) for env pr-1, whose DestinationRules no longer follow the user's",
    })]);
  });

  test('workloads a selector rule picks keep it: told they cannot reach the env', () => {
    const rules = [dr('reviews', NS, 'reviews'), dr('pp', NS, 'reviews', { workloadSelector: { app: 'productpage' } })];
    expect(planHostDestinationRules(spec, input(rules)).warnings).toEqual([
      expect.stringContaining('workloads {app: productpage} in namespace bookinfo use DestinationRule bookinfo/pp'),
    ]);
  });

  test('an object at one of our names that is not ours is refused', () => {
    const squatter = dr('dynamic-env-pr-42-reviews.bookinfo', 'frontend', 'other');
    const out = planHostDestinationRules(spec, input([dr('callers', 'frontend', H), squatter]));
    expect(out.problems).toEqual([expect.objectContaining({ subject: 'DestinationRule frontend/dynamic-env-pr-42-reviews.bookinfo' })]);
  });

  test('the check compares with the user rules alone', () => {
    const ours = buildDestinationRule(spec, {
      host: H, serviceName: 'reviews', serviceNamespace: NS,
      copy: { namespace: NS, mode: 'replace', subsets: [], basis: [] },
    });
    // Ours without the mesh-wide policy: every proxy that had it would lose it.
    const out = checkBaselineKept({
      env: 'pr-42', host: H, serviceNamespace: NS, mesh: MESH, clusterRules: [dr('mesh', ROOT, '*', { trafficPolicy: TLS })], planned: [ours], callerNamespaces: [],
    });
    expect(out.problems).toEqual([expect.objectContaining({
      message: `with env pr-42's DestinationRules, proxies in namespaces bookinfo, istio-system and in other namespaces would use DestinationRule bookinfo/dynamic-env-pr-42-reviews instead of DestinationRule istio-system/mesh, so their top-level traffic policy would change`,
    })]);
  });
});
