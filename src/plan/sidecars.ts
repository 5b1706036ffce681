// Callers without an Istio sidecar (a namespace without injection, Jobs, an ingress outside the mesh) reach a
// Service through kube-proxy, which balances over every pod the Service selects: the env's clone included, since
// it keeps the original's labels. Headers and subsets only work for callers whose Envoy routes. Namespaces are
// cluster-scoped and deploy/rbac.yaml does not let dynamic-env read them, so their injection label is out of
// sight; what is readable is the pods. Two signs, each only where it is positive (never from a cluster where no
// pod has a sidecar at all: nothing to compare with, e.g. ambient mode or a test cluster without an injector):
//  - the original's pod template opts out (`sidecar.istio.io/inject: "false"`, label or annotation);
//  - pods elsewhere carry the label Istio's injector adds (security.istio.io/tlsMode=istio) and none in the
//    Service's namespace does.
import type { Deployment } from './types.js';

/** The label Istio's sidecar injector adds to every pod it injects. */
export const INJECTED_POD_LABEL = 'security.istio.io/tlsMode';
export const INJECTED_POD_SELECTOR = `${INJECTED_POD_LABEL}=istio`;

/** What the pods say about sidecar injection (src/kube/sidecars.ts reads it). */
export interface SidecarEvidence {
  /** At least one pod anywhere in the cluster has an injected sidecar. */
  clusterHasSidecars: boolean;
  /** Namespaces read (the config's) with at least one pod with an injected sidecar. */
  namespacesWithSidecars: string[];
}

const OPT_OUT = 'sidecar.istio.io/inject';

/** Warnings for the originals of an env's services (those it routes), one per namespace or opted-out Deployment. */
export function sidecarWarnings(originals: Deployment[], evidence: SidecarEvidence | undefined): string[] {
  const warnings: string[] = [];
  const consequence = 'callers without a sidecar are load-balanced by kube-proxy onto the clone too (it matches the Service\'s selector), header or not';
  for (const d of originals) {
    const t = d.spec.template.metadata;
    const where = t?.labels?.[OPT_OUT] === 'false' ? 'label' : t?.annotations?.[OPT_OUT] === 'false' ? 'annotation' : undefined;
    if (where) {
      warnings.push(
        `Deployment ${d.metadata.namespace}/${d.metadata.name} opts out of sidecar injection (${where} ${OPT_OUT}: "false" on ` +
          `its pod template), so its clone runs without a sidecar: its own calls are not routed by env, and ${consequence}`,
      );
    }
  }
  if (!evidence?.clusterHasSidecars) return warnings;
  const namespaces = [...new Set(originals.map((d) => d.metadata.namespace ?? ''))].sort();
  for (const ns of namespaces.filter((n) => !evidence.namespacesWithSidecars.includes(n))) {
    warnings.push(
      `namespace ${ns} looks like it has no sidecar injection (no pod there has an Istio sidecar, while pods in other ` +
        `namespaces do), so ${consequence}; label it istio-injection=enabled (or istio.io/rev) and restart its pods`,
    );
  }
  return warnings;
}
