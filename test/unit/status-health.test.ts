// What status checks besides the pods: subsets and routes as open left them (issue 10 item 6).
import { describe, expect, test } from 'vitest';
import { destinationRule, service, virtualService } from '../../src/demo/builders.js';
import { routingHealth } from '../../src/plan/health.js';
import { BASELINE_SUBSET } from '../../src/plan/names.js';
import { planOpen } from '../../src/plan/open.js';
import type { Snapshot, VirtualService } from '../../src/plan/types.js';
import { reportFromCluster } from '../../src/commands/report.js';
import { NS, CD, WEB, apply, spec, cluster, userVs, withHttp, X } from './fixtures/pinned-web.js';

describe('routing health (status)', () => {
  const open = (pin: boolean, vss?: VirtualService[]) => {
    const base = cluster(vss);
    const plan = planOpen(base, spec('pr-1', pin));
    return { base, plan, s: apply(base, plan) };
  };
  const health = (s: Snapshot) => routingHealth({
    env: 'pr-1', routing: { header: 'x-override', baggageKey: 'override', versionLabel: 'version' }, hosts: [WEB], clusterDomain: CD,
    destinationRules: s.destinationRules.filter((d) => d.metadata.labels?.['dynamic-env.io/env'] === 'pr-1'), virtualServices: s.virtualServices,
  }).map((p) => p.message);

  test('nothing to report right after open (pinned, subset routes, our own VirtualService)', () => {
    expect(health(open(true).s)).toEqual([]);
    expect(health(open(false, []).s)).toEqual([]);
    const subset = [virtualService('web', [{ name: 'main', route: [{ destination: { host: 'web', subset: 'v1' } }] }], { namespace: NS })];
    const base = cluster(subset);
    const s = apply({ ...base, destinationRules: [destinationRule('web', 'web', { v1: { version: 'v1' } }, { namespace: NS })] },
      planOpen({ ...base, destinationRules: [destinationRule('web', 'web', { v1: { version: 'v1' } }, { namespace: NS })] }, spec('pr-1', false)));
    expect(health(s)).toEqual([]);
  });

  test('the DestinationRule deleted, or without the baseline subset where routes are pinned', () => {
    const { s } = open(true);
    expect(health({ ...s, destinationRules: [] })).toEqual([expect.stringMatching(/^no DestinationRule of the env for web\.shop/)]);
    const dr = structuredClone(s.destinationRules[0]!);
    dr.spec.subsets = dr.spec.subsets!.filter((x) => x.name !== BASELINE_SUBSET);
    expect(health({ ...s, destinationRules: [dr] })).toEqual([expect.stringMatching(/defines no "dynamic-env-baseline" subset/)]);
  });

  test('a copy missing, altered, or not before its route; routes wiped; our VirtualService deleted', () => {
    const { base, s } = open(true);
    const vs = userVs(s);
    const missing = withHttp(vs, vs.spec.http!.filter((r) => r.name !== 'dynamic-env/pr-1/main'));
    expect(health({ ...s, virtualServices: [missing] })).toEqual([expect.stringMatching(/copy of route "main" .* is missing/)]);
    const altered = structuredClone(vs);
    altered.spec.http![2]!.route![0]!.destination.subset = 'v9';
    expect(health({ ...s, virtualServices: [altered] })).toEqual([expect.stringMatching(/"dynamic-env\/pr-1\/main" differs from the copy of route "main"/)]);
    const moved = withHttp(vs, [vs.spec.http![0]!, X, ...vs.spec.http!.slice(1)]);
    expect(health({ ...s, virtualServices: [moved] })).toEqual([expect.stringMatching(/"dynamic-env\/pr-1\/canary" is not directly before route "canary" \(it is before "hand-added"\)/)]);
    const wiped = health({ ...s, virtualServices: [userVs(base)] });
    expect(wiped).toEqual(expect.arrayContaining([expect.stringMatching(/route "main" to .* is not pinned/), expect.stringMatching(/copy of route "canary" .* is missing/)]));
    expect(health({ ...open(false, []).s, virtualServices: [] })).toEqual([expect.stringMatching(/^no VirtualService routes web\.shop/)]);
  });

  test('status: degraded with the reason per service (scaled to 0, routing broken); ready when intact', () => {
    const { s } = open(true);
    const ready = (d: (typeof s.deployments)[number], replicas: number) => ({
      // open (src/commands/open.ts) records the hosts on the clone.
      ...d, metadata: { ...d.metadata, generation: 1, annotations: { ...d.metadata.annotations, 'dynamic-env.io/hosts': WEB } }, spec: { ...d.spec, replicas },
      status: { observedGeneration: 1, replicas, readyReplicas: replicas, availableReplicas: replicas, updatedReplicas: replicas },
    });
    const clones = s.deployments.filter((d) => d.metadata.labels?.['dynamic-env.io/env'] === 'pr-1').map((c) => ready(c, 1));
    const report = (snap: Snapshot, replicas = 1) => reportFromCluster('pr-1', { ...snap, deployments: clones },
      { deployments: clones.map((c) => ready(c, replicas)), pods: [], events: [] });
    expect(report(s).state).toBe('ready');
    const zero = report(s, 0);
    expect(zero.state).toBe('degraded');
    expect(zero.services[0]!.reason).toMatch(/scaled to 0 replicas/);
    const noDr = report({ ...s, destinationRules: [] });
    expect(noDr.state).toBe('degraded');
    expect(noDr.services[0]!.reason).toMatch(/no DestinationRule of the env/);
  });
});
