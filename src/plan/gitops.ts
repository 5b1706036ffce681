// VirtualServices that a GitOps tool (or `kubectl apply`) re-applies from a manifest. `spec.http` is an atomic list
// (Istio's CRD declares no list type), so every re-apply of the manifest, a no-op one included, replaces the whole
// list: the env routes and the baseline pins we wrote into it are gone. Pure: detection from metadata, and the
// route edits that put every open env's routes back (`sweep --heal`), from what the env's clones record.
import { BASELINE_SUBSET, ENV_LABEL } from './names.js';
import { normalizeHost } from './hosts.js';
import { matchListsGateways, routesToHosts, unsubsetRouteProblems, vsMeshApplies, vsRef } from './virtual-service.js';
import type { DestinationRule, EnvRouting, KubeObject, PlanProblem, RouteEdit, RoutingSpec, VirtualService } from './types.js';

/** One reason to believe a tool re-applies the object: the tool and the metadata that says so. */
export interface GitOpsEvidence {
  tool: 'Argo CD' | 'Flux' | 'Helm' | 'kubectl apply';
  evidence: string;
}

// Keys as the tools' docs name them:
// - Argo CD resource tracking: annotation `argocd.argoproj.io/tracking-id` (method `annotation`, the default since
//   3.0), label `app.kubernetes.io/instance` (method `label`, the default before), or a custom label such as
//   `argocd.argoproj.io/instance`; its server-side apply field manager is `argocd-controller`.
// - Flux: kustomize-controller labels `kustomize.toolkit.fluxcd.io/name`/`namespace`, helm-controller labels
//   `helm.toolkit.fluxcd.io/name`/`namespace`; field managers `kustomize-controller`, `helm-controller`.
// - Helm: annotations `meta.helm.sh/release-name`/`release-namespace`, label `app.kubernetes.io/managed-by: Helm`.
// - kubectl client-side apply: annotation `kubectl.kubernetes.io/last-applied-configuration`; server-side apply
//   shows as a managedFields entry with operation Apply.
const PREFIXES: [string, GitOpsEvidence['tool']][] = [
  ['argocd.argoproj.io/', 'Argo CD'],
  ['kustomize.toolkit.fluxcd.io/', 'Flux'],
  ['helm.toolkit.fluxcd.io/', 'Flux'],
  ['meta.helm.sh/', 'Helm'],
];
const MANAGERS: Record<string, GitOpsEvidence['tool']> = {
  'argocd-controller': 'Argo CD',
  'argocd-application-controller': 'Argo CD',
  'kustomize-controller': 'Flux',
  'helm-controller': 'Flux',
  helm: 'Helm',
  'kubectl-client-side-apply': 'kubectl apply',
};
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** Why `o` looks re-applied from a manifest by a GitOps tool, Helm or `kubectl apply`; empty when nothing says so. */
export function gitOpsEvidence(o: KubeObject): GitOpsEvidence[] {
  const out: GitOpsEvidence[] = [];
  const add = (tool: GitOpsEvidence['tool'], evidence: string) => {
    if (!out.some((e) => e.tool === tool)) out.push({ tool, evidence });
  };
  const labels = o.metadata.labels ?? {};
  const annotations = o.metadata.annotations ?? {};
  for (const [kind, map] of [['annotation', annotations], ['label', labels]] as const) {
    for (const key of Object.keys(map).sort()) {
      const hit = PREFIXES.find(([p]) => key.startsWith(p));
      if (hit) add(hit[1], `${kind} ${key}`);
    }
  }
  if (labels['app.kubernetes.io/managed-by']?.toLowerCase() === 'helm') add('Helm', 'label app.kubernetes.io/managed-by: Helm');
  // Argo CD's label tracking (Helm charts set the same label; then the Helm evidence above names the tool too).
  if (labels['app.kubernetes.io/instance'] !== undefined) add('Argo CD', 'label app.kubernetes.io/instance (Argo CD label tracking)');
  if (annotations[LAST_APPLIED_ANNOTATION] !== undefined) add('kubectl apply', `annotation ${LAST_APPLIED_ANNOTATION}`);
  const fields = Array.isArray(o.metadata.managedFields) ? (o.metadata.managedFields as { manager?: string; operation?: string }[]) : [];
  for (const f of fields) {
    const tool = f.manager ? MANAGERS[f.manager] : undefined;
    if (tool) add(tool, `field manager ${f.manager}`);
    else if (f.operation === 'Apply' && f.manager) add('kubectl apply', `server-side apply by field manager ${f.manager}`);
  }
  return out;
}

const describe = (evidence: GitOpsEvidence[]) => evidence.map((e) => `${e.tool} (${e.evidence})`).join(', ');

/** The plan warning for an edited VirtualService that a tool re-applies. */
export function gitOpsWarning(vs: VirtualService, env: string, evidence: GitOpsEvidence[]): string {
  return `${vsRef(vs)} looks managed by ${describe(evidence)}: spec.http is replaced as a whole on every sync or ` +
    `apply, which removes env ${env}'s routes (and any baseline pins) from it; configure the tool to ignore routes ` +
    `named dynamic-env/* (README "GitOps"), and run \`dynamic-env sweep --heal\` after a sync`;
}

/** Pinning refused on a re-applied VirtualService: a sync un-pins its routes and baseline traffic reaches the PR's pods. */
export function gitOpsPinProblem(vs: VirtualService, evidence: GitOpsEvidence[]): PlanProblem {
  return {
    kind: 'cluster',
    subject: vsRef(vs),
    message:
      `looks managed by ${describe(evidence)}, and routes without a subset would be pinned to "${BASELINE_SUBSET}": a sync ` +
      'or apply of its manifest removes the pins, and baseline traffic then reaches the PR\'s pods until the next heal',
    fix:
      'give the routes a subset in the manifest, or configure the tool to ignore routes named dynamic-env/* (README ' +
      '"GitOps"), run `dynamic-env sweep --heal` on a schedule, and set routing.allowPinningGitOpsManaged: true',
  };
}

/** What heal needs to know about an env, read from its clones and DestinationRules (no config). */
export interface HealInput {
  env: string;
  routing: Pick<RoutingSpec, 'header' | 'baggageKey' | 'versionLabel'>;
  hosts: string[];
  clusterDomain: string;
  /** The env's DestinationRules: a host whose rule has the baseline subset may have its routes pinned. */
  destinationRules: DestinationRule[];
}

export interface HealEdit {
  edit: RouteEdit;
  routing: EnvRouting;
}

/**
 * The route edits that restore `input.env`'s routes in `virtualServices` (each edit idempotent, as on open): every
 * active VirtualService (one with hosts, or a delegate one references) with a route to an env host. Routes without
 * a subset are pinned again only where every such host has the baseline subset in the env's rules (else the edit
 * is a problem: pinning would send baseline traffic to a subset nobody defines).
 */
export function healEdits(virtualServices: VirtualService[], input: HealInput): { edits: HealEdit[]; problems: PlanProblem[] } {
  const cd = input.clusterDomain;
  const key = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;
  const roots = virtualServices.filter((vs) => (vs.spec.hosts ?? []).length > 0);
  const delegateMesh = new Map<string, boolean>();
  const underGateways = new Set<string>();
  for (const root of roots) {
    for (const route of root.spec.http ?? []) {
      if (!route.delegate) continue;
      const k = key(route.delegate.namespace ?? root.metadata.namespace, route.delegate.name);
      delegateMesh.set(k, (delegateMesh.get(k) ?? false) || vsMeshApplies(root));
      if (matchListsGateways(route)) underGateways.add(k);
    }
  }
  const baselineHosts = new Set(
    input.destinationRules
      .filter((d) => (d.spec.subsets ?? []).some((s) => s.name === BASELINE_SUBSET))
      .map((d) => normalizeHost(d.spec.host, d.metadata.namespace ?? '', cd)),
  );
  const edits: HealEdit[] = [];
  const problems: PlanProblem[] = [];
  for (const vs of virtualServices) {
    const k = key(vs.metadata.namespace, vs.metadata.name);
    const isRoot = (vs.spec.hosts ?? []).length > 0;
    if (!isRoot && !delegateMesh.has(k)) continue;
    if (routesToHosts(vs, input.hosts, cd).length === 0) continue;
    const meshApplies = isRoot ? vsMeshApplies(vs) : delegateMesh.get(k)! && !underGateways.has(k);
    const base: EnvRouting = {
      env: input.env,
      routing: { ...input.routing, baggageKey: input.routing.baggageKey, pinUnsubsetRoutes: false },
      hosts: input.hosts,
      clusterDomain: cd,
    };
    const bare = unsubsetRouteProblems(vs, base);
    let routing = base;
    if (bare.length > 0) {
      const vsNs = vs.metadata.namespace ?? '';
      const unsubset = new Set<string>();
      for (const t of routesToHosts(vs, input.hosts, cd)) {
        for (const d of [...t.destinations.map((r) => r.destination), ...t.mirrors]) {
          if (!d.subset) unsubset.add(normalizeHost(d.host, vsNs, cd));
        }
      }
      const missing = [...unsubset].filter((h) => input.hosts.includes(h) && !baselineHosts.has(h)).sort();
      if (missing.length > 0) {
        problems.push({
          kind: 'cluster',
          subject: vsRef(vs),
          message: `has routes to ${missing.join(', ')} without a subset, and env ${input.env}'s DestinationRules define no "${BASELINE_SUBSET}" subset for ${missing.length === 1 ? 'it' : 'them'}`,
          fix: `re-run open for env ${input.env} (it plans the pins and their subsets again)`,
        });
        continue;
      }
      routing = { ...base, routing: { ...base.routing, pinUnsubsetRoutes: true } };
    }
    edits.push({ edit: { namespace: vs.metadata.namespace ?? '', name: vs.metadata.name, meshApplies }, routing });
  }
  return { edits, problems };
}

/** The version label of a clone: the pod-template label other than ours whose value is the env name. */
export function versionLabelOf(podLabels: Record<string, string> | undefined, env: string): string | undefined {
  return Object.entries(podLabels ?? {}).find(([k, v]) => v === env && k !== ENV_LABEL)?.[0];
}
