// The plan warns when callers of a changed Service may have no sidecar (kube-proxy would then balance them onto
// the clone), from what the pods say; never from a cluster where no pod has a sidecar (nothing to compare with).
import { describe, expect, test } from 'vitest';
import { parseConfigText } from '../../src/config/file.js';
import { resolveEnvSpec } from '../../src/config/spec.js';
import { demoConfigText, demoSnapshot } from '../../src/demo/bookinfo.js';
import { planOpen } from '../../src/plan/open.js';
import { sidecarWarnings, type SidecarEvidence } from '../../src/plan/sidecars.js';
import type { Snapshot } from '../../src/plan/types.js';
import { reportFromPlan } from '../../src/commands/report.js';
import { renderMarkdown } from '../../src/report/render.js';

const spec = () => resolveEnvSpec(parseConfigText(demoConfigText, 'demo.yaml'), { now: '2026-02-01T00:00:00Z' });
const NO_INJECTION = /^namespace bookinfo looks like it has no sidecar injection \(no pod there has an Istio sidecar, while pods in other namespaces do\), so callers without a sidecar are load-balanced by kube-proxy onto the clone too/;

function plan(sidecars?: SidecarEvidence, edit: (s: Snapshot) => void = () => {}) {
  const snapshot = { ...demoSnapshot(), ...(sidecars ? { sidecars } : {}) };
  edit(snapshot);
  return planOpen(snapshot, spec());
}

describe('sidecar injection warnings in the plan', () => {
  test.each([
    ['no evidence read (plan from a file)', undefined, []],
    ['no pod in the cluster has a sidecar (ambient, or a cluster without an injector): no comparison, no warning', { clusterHasSidecars: false, namespacesWithSidecars: [] }, []],
    ["the Service's namespace has injected pods", { clusterHasSidecars: true, namespacesWithSidecars: ['bookinfo'] }, []],
  ] as const)('%s', (_name, evidence, expected) => {
    expect(plan(evidence as SidecarEvidence | undefined).warnings).toEqual(expected);
  });

  test("other namespaces have sidecars and the Service's has none: one warning naming the namespace and the fix", () => {
    const p = plan({ clusterHasSidecars: true, namespacesWithSidecars: ['shop'] });
    expect(p.warnings).toEqual([expect.stringMatching(NO_INJECTION)]);
    expect(p.warnings[0]).toContain('label it istio-injection=enabled (or istio.io/rev) and restart its pods');
    // The comment shows it, as every plan warning.
    const report = reportFromPlan(p, { header: 'x-override', baggageKey: 'override' }, () => ({ state: 'ready', reason: '', ready: 1, desired: 1 }));
    expect(renderMarkdown(report)).toMatch(/\*\*Warnings\*\*\n\n- namespace bookinfo looks like it has no sidecar injection/);
  });

  test.each(['labels', 'annotations'] as const)('the original opts out of injection (%s on its pod template): a warning naming it, even without pod evidence', (where) => {
    const p = plan(undefined, (s) => {
      const reviews = s.deployments.find((d) => d.metadata.name === 'reviews-v3')!;
      const meta = (reviews.spec.template.metadata ??= {});
      meta[where] = { ...(meta[where] ?? {}), 'sidecar.istio.io/inject': 'false' };
    });
    expect(p.warnings).toEqual([expect.stringMatching(
      new RegExp(`^Deployment bookinfo/reviews-v3 opts out of sidecar injection \\(${where.slice(0, -1)} sidecar\\.istio\\.io/inject: "false" on its pod template\\), so its clone runs without a sidecar`),
    )]);
  });

  test('workers are never routed, so their namespace is not checked; one warning per namespace however many services', () => {
    const d = (ns: string, name: string) => demoSnapshot().deployments.map((x) => ({ ...x, metadata: { ...x.metadata, namespace: ns, name } }))[0]!;
    const evidence = { clusterHasSidecars: true, namespacesWithSidecars: ['a'] };
    expect(sidecarWarnings([d('b', 'one'), d('b', 'two'), d('a', 'three')], evidence)).toEqual([expect.stringMatching(/^namespace b looks like/)]);
    expect(sidecarWarnings([], evidence)).toEqual([]);
  });
});
