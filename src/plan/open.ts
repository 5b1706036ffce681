// planOpen: Snapshot + EnvSpec -> OpenPlan. Pure. Every phase returns its findings and every problem is collected
// before one error is thrown, so the user fixes everything in one round (docs/DESIGN.md "Validation before the first
// write").

import { findUserSubset, planHostDestinationRules } from './destination-rule.js';
import { isManaged } from './deployment.js';
import { hostCovers, normalizeHost, selectorMatches, serviceUrl, subsetSelects } from './hosts.js';
import { BASELINE_SUBSET, cloneName, ownVirtualServiceName } from './names.js';
import { throwIfProblems } from './problems.js';
import type {
  DestinationRule,
  EnvRouting,
  EnvSpec,
  Labels,
  ObjectRef,
  OpenPlan,
  PlanProblem,
  RouteEdit,
  Snapshot,
  VirtualService,
  WorkloadPlan,
} from './types.js';
import {
  exportToProblems,
  isOwnVirtualService,
  matchListsGateways,
  nonHttpWarnings,
  ownVirtualService,
  routeRef,
  routesToHosts,
  unsubsetRouteProblems,
  vsMeshApplies,
  withEnvRoutes,
} from './virtual-service.js';
import { virtualServiceSizeProblems } from './vs-size.js';
import { gitOpsEvidence, gitOpsPinProblem, gitOpsWarning } from './gitops.js';
import { resolveWorkloads, type HostInfo, type Workload } from './workloads.js';

const key = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`;
const refKey = (r: ObjectRef): string => key(r.namespace, r.name);
const byRef = (a: ObjectRef, b: ObjectRef): number => (refKey(a) < refKey(b) ? -1 : refKey(a) > refKey(b) ? 1 : 0);
const refOf = (o: { metadata: { name: string; namespace?: string } }): ObjectRef => ({
  name: o.metadata.name,
  namespace: o.metadata.namespace ?? '',
});
const byObjectRef = <T extends { metadata: { name: string; namespace?: string } }>(a: T, b: T): number =>
  byRef(refOf(a), refOf(b));
const showLabels = (labels: Labels | undefined): string =>
  `{${Object.entries(labels ?? {})
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')}}`;

interface ActiveVs {
  vs: VirtualService;
  meshApplies: boolean;
}

/** Which VirtualServices each env host is routed by (`namespace/name`), for the report. */
type RoutedBy = Map<string, Set<string>>;
const routedBy = (map: RoutedBy, fqdn: string, ref: ObjectRef): void => {
  const set = map.get(fqdn) ?? new Set<string>();
  set.add(refKey(ref));
  map.set(fqdn, set);
};

/** Plans opening (or updating) `spec.name` against `snapshot`. Throws one DynamicEnvError listing every problem. */
export function planOpen(snapshot: Snapshot, spec: EnvSpec): OpenPlan {
  const resolved = resolveWorkloads(snapshot, spec);
  const { hosts } = resolved;
  const routing: EnvRouting = { env: spec.name, routing: { ...spec.routing }, hosts: [...hosts.keys()].sort(), clusterDomain: spec.clusterDomain };
  const { roots, active } = activeVirtualServices(snapshot.virtualServices);
  const edits = planRouteEdits(active, snapshot, spec, hosts, routing);
  const own = planOwnVirtualServices(roots, snapshot.virtualServices, hosts, routing);
  const baseline = baselineVersions([...edits.needsBaseline, ...own.needsBaseline], snapshot, spec, hosts);
  const rules = planDestinationRules(spec, hosts, baseline.versions, snapshot.destinationRules);
  throwIfProblems([...resolved.problems, ...edits.problems, ...own.problems, ...baseline.problems, ...rules.problems]);

  const vsByHost: RoutedBy = new Map();
  for (const [fqdn, refs] of [...edits.routedBy, ...own.routedBy]) vsByHost.set(fqdn, new Set([...vsByHost.get(fqdn) ?? [], ...refs]));
  return {
    env: spec.name,
    clones: resolved.workloads.flatMap((w) => (w.clone ? [w.clone] : [])).sort(byObjectRef),
    destinationRules: rules.destinationRules.sort(byObjectRef),
    routeEdits: edits.routeEdits.sort(byRef),
    createVirtualServices: own.createVirtualServices.sort(byObjectRef),
    routing,
    workloads: workloadReports(resolved.workloads, spec.name, hosts, rules.ruleRefs, vsByHost),
    warnings: [...resolved.warnings, ...edits.warnings, ...rules.warnings],
  };
}

const refFromKey = (k: string): ObjectRef => {
  const [namespace, name] = k.split('/') as [string, string];
  return { name, namespace };
};

/**
 * The VirtualServices that route: roots (with hosts) and the delegates they reference. A delegate referenced by a
 * root route whose match blocks list gateways gets no sourceLabels block (see matchListsGateways).
 */
function activeVirtualServices(all: VirtualService[]): { roots: VirtualService[]; active: ActiveVs[] } {
  const roots = all.filter((vs) => (vs.spec.hosts ?? []).length > 0);
  const delegateMesh = new Map<string, boolean>();
  const delegateUnderGateways = new Set<string>();
  for (const root of roots) {
    for (const route of root.spec.http ?? []) {
      if (!route.delegate) continue;
      const k = key(route.delegate.namespace ?? root.metadata.namespace, route.delegate.name);
      delegateMesh.set(k, (delegateMesh.get(k) ?? false) || vsMeshApplies(root));
      if (matchListsGateways(route)) delegateUnderGateways.add(k);
    }
  }
  const delegateSourceLabels = (k: string): boolean => delegateMesh.get(k)! && !delegateUnderGateways.has(k);
  const active: ActiveVs[] = [
    ...roots.map((vs) => ({ vs, meshApplies: vsMeshApplies(vs) })),
    ...all
      .filter((vs) => (vs.spec.hosts ?? []).length === 0)
      .filter((vs) => delegateMesh.has(key(vs.metadata.namespace, vs.metadata.name)))
      .map((vs) => ({ vs, meshApplies: delegateSourceLabels(key(vs.metadata.namespace, vs.metadata.name)) })),
  ].sort((a, b) => byObjectRef(a.vs, b.vs));
  return { roots, active };
}

interface RouteEdits {
  routeEdits: RouteEdit[];
  /** Hosts whose routes name the baseline subset (pinned, or named already). */
  needsBaseline: Set<string>;
  routedBy: RoutedBy;
  problems: PlanProblem[];
  warnings: string[];
}

/** The edit of every active VirtualService that routes to an env host, and what makes one unsafe. */
function planRouteEdits(active: ActiveVs[], snapshot: Snapshot, spec: EnvSpec, hosts: Map<string, HostInfo>, routing: EnvRouting): RouteEdits {
  const out: RouteEdits = { routeEdits: [], needsBaseline: new Set(), routedBy: new Map(), problems: [], warnings: [] };
  const reportedSubsets = new Set<string>();
  const cd = spec.clusterDomain;
  for (const { vs, meshApplies } of active) {
    const ns = vs.metadata.namespace ?? '';
    out.warnings.push(...nonHttpWarnings(vs, routing.hosts, cd));
    const targets = routesToHosts(vs, routing.hosts, cd);
    if (targets.length === 0) continue;
    const edit: RouteEdit = { name: vs.metadata.name, namespace: ns, meshApplies };
    out.routeEdits.push(edit);
    // Re-applied by a GitOps tool, Helm or kubectl apply: a sync replaces spec.http, env routes and pins with it.
    const managedBy = gitOpsEvidence(vs);
    if (managedBy.length > 0) {
      out.warnings.push(gitOpsWarning(vs, spec.name, managedBy));
      const pins = targets.some((t) => [...t.destinations.map((r) => r.destination), ...t.mirrors].some((d) => !d.subset));
      if (pins && spec.routing.pinUnsubsetRoutes && !spec.routing.allowPinningGitOpsManaged) out.problems.push(gitOpsPinProblem(vs, managedBy));
    }
    const unsubset = unsubsetRouteProblems(vs, routing);
    out.problems.push(...unsubset);
    // The object as this open would write it must stay under the size limit (etcd refuses it for good otherwise).
    if (unsubset.length === 0) out.problems.push(...virtualServiceSizeProblems(withEnvRoutes(vs, edit, routing), spec.name));
    for (const { index, route, destinations, mirrors } of targets) {
      // Mirror destinations count like route destinations: pinned ones need the baseline subset, user subsets
      // must not select the env's pods (docs/DESIGN.md "Routing").
      for (const d of [...destinations.map((r) => r.destination), ...mirrors]) {
        const fqdn = normalizeHost(d.host, ns, cd);
        routedBy(out.routedBy, fqdn, refOf(vs));
        const subset = d.subset;
        if (subset === BASELINE_SUBSET || (!subset && spec.routing.pinUnsubsetRoutes)) {
          out.needsBaseline.add(fqdn);
          continue;
        }
        if (!subset) continue; // reported by unsubsetRouteProblems
        const found = findUserSubset(fqdn, subset, snapshot.destinationRules, cd);
        const info = hosts.get(fqdn);
        if (!found || !info) continue;
        if (!info.clonePodLabels.some((labels) => subsetSelects(found.subset.labels, labels))) continue;
        const k = `${refKey(refOf(found.rule))}#${subset}`;
        if (reportedSubsets.has(k)) continue;
        reportedSubsets.add(k);
        const versionLabel = spec.routing.versionLabel;
        out.problems.push({
          kind: 'cluster',
          subject: `DestinationRule ${found.rule.metadata.namespace}/${found.rule.metadata.name} subset "${subset}"`,
          message:
            `its labels ${showLabels(found.subset.labels)} also select env ${spec.name}'s pods, so baseline traffic of ` +
            `${routeRef(vs, route, index)} would reach them`,
          fix: `add the "${versionLabel}" label to the subset's labels (e.g. ${versionLabel}: <the baseline version>)`,
        });
      }
    }
  }
  return out;
}

/**
 * Hosts that no mesh VirtualService covers get ours (created here, or already there and edited as a route edit). One
 * that covers a host but is not exported everywhere leaves other namespaces on the default route: refused.
 */
function planOwnVirtualServices(roots: VirtualService[], all: VirtualService[], hosts: Map<string, HostInfo>, routing: EnvRouting) {
  const cd = routing.clusterDomain;
  const out = {
    createVirtualServices: [] as VirtualService[], needsBaseline: new Set<string>(), routedBy: new Map() as RoutedBy,
    problems: exportToProblems(roots, routing.hosts, cd),
  };
  for (const fqdn of routing.hosts) {
    const info = hosts.get(fqdn)!;
    const covered = roots.some(
      (vs) =>
        vsMeshApplies(vs) &&
        (vs.spec.hosts ?? []).some((h) => hostCovers(normalizeHost(h, vs.metadata.namespace ?? '', cd), fqdn)),
    );
    const svcNs = info.service.metadata.namespace ?? '';
    const ownName = ownVirtualServiceName(info.service.metadata.name);
    const clash = all.find((vs) => vs.metadata.namespace === svcNs && vs.metadata.name === ownName);
    if (clash && isOwnVirtualService(clash)) out.needsBaseline.add(fqdn);
    if (covered) continue;
    if (clash) {
      out.problems.push({
        kind: 'cluster',
        subject: `VirtualService ${svcNs}/${ownName}`,
        message: `exists but is not dynamic-env's, and no VirtualService routes mesh traffic for ${fqdn}`,
        fix: `rename that VirtualService, or give ${fqdn} a VirtualService of your own with subsets`,
      });
      continue;
    }
    const edit: RouteEdit = { name: ownName, namespace: svcNs, meshApplies: true };
    out.createVirtualServices.push(withEnvRoutes(ownVirtualService(info.service.metadata.name, svcNs, cd), edit, routing));
    routedBy(out.routedBy, fqdn, edit);
    out.needsBaseline.add(fqdn);
  }
  return out;
}

/** The baseline version of each host that needs the baseline subset: the one version its baseline pods share. */
function baselineVersions(needed: string[], snapshot: Snapshot, spec: EnvSpec, hosts: Map<string, HostInfo>) {
  const versionLabel = spec.routing.versionLabel;
  const out = { versions: new Map<string, string>(), problems: [] as PlanProblem[] };
  for (const fqdn of [...new Set(needed)].sort()) {
    const info = hosts.get(fqdn);
    if (!info) continue;
    const svcNs = info.service.metadata.namespace ?? '';
    const backends = snapshot.deployments
      .filter((d) => d.metadata.namespace === svcNs && !isManaged(d.metadata.labels))
      .filter((d) => selectorMatches(info.service.spec.selector, d.spec.template.metadata?.labels))
      .sort(byObjectRef);
    const versions = backends.map((d) => ({ d, v: d.spec.template.metadata?.labels?.[versionLabel] }));
    if (versions.some(({ d, v }) => v === undefined && info.originals.has(d))) continue; // reported by resolveWorkloads
    const distinct = new Set(versions.map(({ v }) => v));
    if (distinct.size === 1 && !distinct.has(undefined)) {
      out.versions.set(fqdn, [...distinct][0]!);
      continue;
    }
    out.problems.push({
      kind: 'cluster',
      subject: `Service ${svcNs}/${info.service.metadata.name}`,
      message:
        `its baseline pods come from Deployments with different "${versionLabel}" values ` +
        `(${versions.map(({ d, v }) => `${d.metadata.name}: ${v ?? '(none)'}`).join(', ')}), so no single ` +
        `"${BASELINE_SUBSET}" subset can select them`,
      fix:
        `give ${fqdn} a VirtualService whose routes name subsets (and a DestinationRule defining them), so ` +
        `dynamic-env does not have to pin routes for it`,
    });
  }
  return out;
}

/**
 * Our DestinationRules per (env, host): in the Service's namespace, and in every namespace whose own user rule for the
 * host would keep its proxies from seeing that one (docs/DESIGN.md "DestinationRules").
 */
function planDestinationRules(spec: EnvSpec, hosts: Map<string, HostInfo>, baseline: Map<string, string>, clusterRules: DestinationRule[]) {
  const out = { destinationRules: [] as DestinationRule[], ruleRefs: new Map<string, ObjectRef[]>(), problems: [] as PlanProblem[], warnings: [] as string[] };
  const callerNamespaces = [...new Set([...spec.services, ...spec.workers].map((w) => w.namespace))];
  for (const fqdn of [...hosts.keys()].sort()) {
    const info = hosts.get(fqdn)!;
    const planned = planHostDestinationRules(spec, {
      host: fqdn,
      serviceName: info.service.metadata.name,
      serviceNamespace: info.service.metadata.namespace ?? '',
      ...(baseline.has(fqdn) ? { baselineVersion: baseline.get(fqdn)! } : {}),
      clusterRules,
      callerNamespaces,
    });
    out.problems.push(...planned.problems);
    out.warnings.push(...planned.warnings);
    out.destinationRules.push(...planned.rules);
    out.ruleRefs.set(fqdn, planned.rules.map(refOf).sort(byRef));
  }
  return out;
}

/** What the report says of each workload, in config order. */
function workloadReports(workloads: Workload[], env: string, hosts: Map<string, HostInfo>, ruleRefs: Map<string, ObjectRef[]>,
  vsByHost: RoutedBy): WorkloadPlan[] {
  return workloads.map((w) => {
    const vsKeys = new Set<string>();
    for (const h of w.hosts) for (const k of vsByHost.get(h) ?? []) vsKeys.add(k);
    return {
      role: w.role,
      namespace: w.spec.namespace,
      deployment: w.spec.deployment,
      clone: cloneName(w.spec.deployment, env),
      images: w.images,
      replicas: w.spec.replicas,
      hosts: w.hosts,
      ...(w.role === 'service' && w.hosts[0] ? { url: serviceUrl(w.hosts[0], hosts.get(w.hosts[0])!.service) } : {}),
      destinationRules: w.hosts.flatMap((h) => ruleRefs.get(h) ?? []),
      virtualServices: [...vsKeys].sort().map(refFromKey),
    };
  });
}
