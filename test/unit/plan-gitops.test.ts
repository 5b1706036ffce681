// GitOps-managed VirtualServices (issue 10, item 4): detection, the plan warning, pinning refused without the
// opt-in, and the heal edits that restore an env's routes after a sync wiped them.

import { describe, expect, test } from 'vitest';
import { deployment, destinationRule, envSpec, service, snapshot, virtualService, workload } from '../../src/demo/builders.js';
import { gitOpsEvidence, healEdits, versionLabelOf } from '../../src/plan/gitops.js';
import { BASELINE_SUBSET, ENV_LABEL } from '../../src/plan/names.js';
import { planOpen } from '../../src/plan/open.js';
import type { EnvSpec, OpenPlan, Snapshot, VirtualService } from '../../src/plan/types.js';
import { envsOf, withEnvRoutes } from '../../src/plan/virtual-service.js';
import { thrownError } from './fixtures/errors.js';

const NS = 'bookinfo';
const REVIEWS = 'reviews.bookinfo.svc.cluster.local';

const withMeta = (vs: VirtualService, meta: { labels?: Record<string, string>; annotations?: Record<string, string>; managedFields?: unknown[] }): VirtualService =>
  ({ ...vs, metadata: { ...vs.metadata, ...meta } });

function cluster(vss: VirtualService[]): Snapshot {
  return snapshot({
    deployments: [deployment('reviews-v1', { namespace: NS, labels: { app: 'reviews', version: 'v1' } })],
    services: [service('reviews', { app: 'reviews' }, NS)],
    destinationRules: [destinationRule('reviews', 'reviews', { v1: { version: 'v1' } }, { namespace: NS })],
    virtualServices: vss,
  });
}
const spec = (name = 'pr-42', routing: Partial<EnvSpec['routing']> = {}): EnvSpec =>
  envSpec(name, { services: [workload(NS, 'reviews-v1', { containers: [{ image: 'ghcr.io/acme/reviews:pr' }] })], routing });

const problemsOf = thrownError;

const subsetted = virtualService('reviews', [{ name: 'v1', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS });
const bare = virtualService('reviews', [{ name: 'all', route: [{ destination: { host: 'reviews' } }] }], { namespace: NS });

describe('gitOpsEvidence', () => {
  test.each([
    [{ annotations: { 'argocd.argoproj.io/tracking-id': 'app:networking.istio.io/VirtualService:bookinfo/reviews' } }, 'Argo CD'],
    [{ labels: { 'app.kubernetes.io/instance': 'bookinfo' } }, 'Argo CD'],
    [{ labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' } }, 'Flux'],
    [{ labels: { 'helm.toolkit.fluxcd.io/name': 'bookinfo' } }, 'Flux'],
    [{ annotations: { 'meta.helm.sh/release-name': 'bookinfo' } }, 'Helm'],
    [{ labels: { 'app.kubernetes.io/managed-by': 'Helm' } }, 'Helm'],
    [{ annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } }, 'kubectl apply'],
    [{ managedFields: [{ manager: 'kustomize-controller', operation: 'Apply' }] }, 'Flux'],
    [{ managedFields: [{ manager: 'kubectl', operation: 'Apply' }] }, 'kubectl apply'],
  ])('%j -> %s', (meta, tool) => {
    expect(gitOpsEvidence(withMeta(subsetted, meta)).map((e) => e.tool)).toContain(tool);
  });

  test('plain objects, kubectl edits and our own labels are no evidence', () => {
    expect(gitOpsEvidence(subsetted)).toEqual([]);
    expect(gitOpsEvidence(withMeta(subsetted, { labels: { app: 'reviews', 'app.kubernetes.io/managed-by': 'dynamic-env' }, managedFields: [{ manager: 'kubectl', operation: 'Update' }] }))).toEqual([]);
  });
});

describe('planOpen on a GitOps-managed VirtualService', () => {
  const argo = { annotations: { 'argocd.argoproj.io/tracking-id': 'bookinfo:networking.istio.io/VirtualService:bookinfo/reviews' } };

  test('warns, naming the VirtualService, the tool and the heal', () => {
    const plan = planOpen(cluster([withMeta(subsetted, argo)]), spec());
    expect(plan.warnings).toEqual([expect.stringMatching(/VirtualService bookinfo\/reviews looks managed by Argo CD \(annotation argocd\.argoproj\.io\/tracking-id\).*sweep --heal/)]);
    expect(planOpen(cluster([subsetted]), spec()).warnings).toEqual([]);
  });

  test('pinning on it is refused without routing.allowPinningGitOpsManaged, allowed with it', () => {
    const snap = cluster([withMeta(bare, { labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps' } })]);
    const e = problemsOf(() => planOpen(snap, spec('pr-42', { pinUnsubsetRoutes: true })));
    expect(e.problems).toEqual([expect.stringMatching(/VirtualService bookinfo\/reviews: looks managed by Flux.*allowPinningGitOpsManaged: true/)]);
    const plan = planOpen(snap, spec('pr-42', { pinUnsubsetRoutes: true, allowPinningGitOpsManaged: true }));
    expect(plan.routeEdits).toHaveLength(1);
    expect(plan.warnings).toHaveLength(1);
    // Without a GitOps tool the same pinning stays allowed.
    expect(planOpen(cluster([bare]), spec('pr-42', { pinUnsubsetRoutes: true })).routeEdits).toHaveLength(1);
  });
});

describe('healEdits', () => {
  const applyPlan = (snap: Snapshot, plan: OpenPlan): VirtualService[] =>
    snap.virtualServices.map((vs) => {
      const e = plan.routeEdits.find((r) => r.name === vs.metadata.name && r.namespace === vs.metadata.namespace);
      return e ? withEnvRoutes(vs, e, { env: plan.env, routing: spec().routing, hosts: [REVIEWS], clusterDomain: 'cluster.local' }) : vs;
    });

  test('restores the env routes a re-apply removed, equal to what open wrote', () => {
    const snap = cluster([subsetted]);
    const plan = planOpen(snap, spec());
    const opened = applyPlan(snap, plan)[0]!;
    expect(envsOf(opened)).toEqual(['pr-42']);
    const { edits, problems } = healEdits([subsetted], {
      env: 'pr-42', routing: { header: 'x-override', baggageKey: 'override', versionLabel: 'version' }, hosts: [REVIEWS], clusterDomain: 'cluster.local', destinationRules: plan.destinationRules,
    });
    expect(problems).toEqual([]);
    expect(edits.map((e) => e.edit)).toEqual([{ namespace: NS, name: 'reviews', meshApplies: true }]);
    expect(withEnvRoutes(subsetted, edits[0]!.edit, edits[0]!.routing).spec).toEqual(opened.spec);
  });

  test('re-pins routes without a subset only where the env rule has the baseline subset', () => {
    const snap = cluster([bare]);
    const plan = planOpen(snap, spec('pr-42', { pinUnsubsetRoutes: true }));
    const input = { env: 'pr-42', routing: { header: 'x-override', baggageKey: 'override', versionLabel: 'version' }, hosts: [REVIEWS], clusterDomain: 'cluster.local' };
    const { edits } = healEdits([bare], { ...input, destinationRules: plan.destinationRules });
    const healed = withEnvRoutes(bare, edits[0]!.edit, edits[0]!.routing);
    expect(healed.spec.http!.map((r) => r.name)).toEqual(['dynamic-env/pr-42/all', 'all']);
    expect(healed.spec.http![1]!.route![0]!.destination.subset).toBe(BASELINE_SUBSET);
    const without = healEdits([bare], { ...input, destinationRules: [] });
    expect(without.edits).toEqual([]);
    expect(without.problems).toEqual([expect.objectContaining({ subject: 'VirtualService bookinfo/reviews' })]);
  });

  test('versionLabelOf reads the clone pod label carrying the env name', () => {
    expect(versionLabelOf({ app: 'reviews', track: 'pr-42', [ENV_LABEL]: 'pr-42' }, 'pr-42')).toBe('track');
  });
});
