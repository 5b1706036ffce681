// What status checks besides the pods: subsets and routes as open left them (issue 10 item 6).
import { describe, expect, test } from 'vitest';
import { deployment, destinationRule, envSpec, service, snapshot, virtualService, workload } from '../../src/demo/builders.js';
import { closeEditByState, findOrphans, planClose, withoutOrphans, baselineHosts } from '../../src/plan/close.js';
import { routingHealth } from '../../src/plan/health.js';
import { BASELINE_SUBSET } from '../../src/plan/names.js';
import { planOpen } from '../../src/plan/open.js';
import type { EnvSpec, HTTPRoute, OpenPlan, Snapshot, VirtualService } from '../../src/plan/types.js';
import { withEnvRoutes } from '../../src/plan/virtual-service.js';
import { reportFromCluster } from '../../src/commands/report.js';

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
