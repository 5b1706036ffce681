// planOpen: Snapshot + EnvSpec -> OpenPlan. Pure. Every problem is collected before one error is thrown, so the
// user fixes everything in one round (docs/DESIGN.md "Validation before the first write").

import { findUserSubset, planHostDestinationRules } from './destination-rule.js';
import { buildClone, isEnvObject, isManaged } from './deployment.js';
import { hostCovers, normalizeHost, selectorMatches, serviceFqdn, serviceUrl, servicesSelecting, subsetSelects } from './hosts.js';
import { BASELINE_SUBSET, ENV_LABEL, SOURCE_ANNOTATION, cloneName, ownVirtualServiceName } from './names.js';
import { throwIfProblems } from './problems.js';
import type {
  Deployment,
  DestinationRule,
  EnvRouting,
  EnvSpec,
  Labels,
  ObjectRef,
  OpenPlan,
  PlanProblem,
  RouteEdit,
  Service,
  Snapshot,
  VirtualService,
  WorkloadPlan,
  WorkloadSpec,
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
import { sidecarWarnings } from './sidecars.js';

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

interface Workload {
  role: 'service' | 'worker';
  spec: WorkloadSpec;
  original?: Deployment;
  clone?: Deployment;
  images: string[];
  hosts: string[];
}

interface HostInfo {
  fqdn: string;
  service: Service;
  /** Pod labels of the env's clones behind this host. */
  clonePodLabels: Labels[];
  /** The originals routed through this host (to avoid reporting their missing version label twice). */
  originals: Set<Deployment>;
}

interface ActiveVs {
  vs: VirtualService;
  meshApplies: boolean;
}

/** Plans opening (or updating) `spec.name` against `snapshot`. Throws one DynamicEnvError listing every problem. */
export function planOpen(snapshot: Snapshot, spec: EnvSpec): OpenPlan {
  const env = spec.name;
  const cd = spec.clusterDomain;
  const versionLabel = spec.routing.versionLabel;
  const problems: PlanProblem[] = [];
  const warnings: string[] = [];

  if (spec.services.length + spec.workers.length === 0) {
    problems.push({
      kind: 'config',
      subject: `env ${env}`,
      message: 'lists no services and no workers',
      fix: 'add at least one entry under services or workers',
    });
  }

  const deploymentAt = (ns: string, name: string): Deployment | undefined =>
    snapshot.deployments.find((d) => d.metadata.namespace === ns && d.metadata.name === name);
  const servicesIn = (ns: string): Service[] =>
    snapshot.services
      .filter((s) => s.metadata.namespace === ns)
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));

  // 1. Workloads: originals, clones, hosts.
  const workloads: Workload[] = [];
  const hosts = new Map<string, HostInfo>();
  const entries: [Workload['role'], WorkloadSpec][] = [
    ...spec.services.map((w): [Workload['role'], WorkloadSpec] => ['service', w]),
    ...spec.workers.map((w): [Workload['role'], WorkloadSpec] => ['worker', w]),
  ];
  for (const [role, w] of entries) {
    const subject = `Deployment ${w.namespace}/${w.deployment}`;
    const workload: Workload = { role, spec: w, images: [], hosts: [] };
    workloads.push(workload);
    const original = deploymentAt(w.namespace, w.deployment);
    if (!original) {
      problems.push({
        kind: 'cluster',
        subject,
        message: 'not found',
        fix: `check the namespace and name in the config (kubectl get deployments -n ${w.namespace})`,
      });
      continue;
    }
    if (isManaged(original.metadata.labels)) {
      problems.push({
        kind: 'config',
        subject,
        message: 'is a dynamic-env clone, not an original',
        fix: 'name the original Deployment in the config',
      });
      continue;
    }
    const name = cloneName(w.deployment, env);
    const existing = deploymentAt(w.namespace, name);
    const existingIsOurs = !!existing && isEnvObject(existing, env);
    const existingEnv = existing && isManaged(existing.metadata.labels) ? existing.metadata.labels?.[ENV_LABEL] : undefined;
    if (existing && !existingIsOurs && existingEnv !== undefined) {
      // Clone names join Deployment and env with "-": `web` in env `v2-pr-1` and `web-v2` in env `pr-1` meet.
      const source = existing.metadata.annotations?.[SOURCE_ANNOTATION] ?? '(unknown original)';
      problems.push({
        kind: 'cluster',
        subject: `Deployment ${w.namespace}/${name}`,
        message:
          `is env ${existingEnv}'s clone of ${source}, and ${w.deployment}'s clone in env ${env} would get the same ` +
          `name (clone names are <deployment>-<env>)`,
        fix: `choose another env name for this env, or close env ${existingEnv} first (dynamic-env close --env ${existingEnv})`,
      });
    } else if (existing && !existingIsOurs) {
      problems.push({
        kind: 'cluster',
        subject: `Deployment ${w.namespace}/${name}`,
        message: `already exists and is not env ${env}'s clone of ${w.deployment}, so it cannot be used as the clone`,
        fix: 'rename or remove that Deployment, or choose another env name',
      });
    }
    const built = buildClone(original, w, spec, role, existingIsOurs ? existing : undefined);
    problems.push(...built.problems);
    workload.original = original;
    workload.clone = built.clone;
    workload.images = built.images;

    const originalLabels = original.spec.template.metadata?.labels ?? {};
    const cloneLabels = built.clone.spec.template.metadata?.labels ?? {};
    const nsServices = servicesIn(w.namespace);
    if (role === 'worker') {
      const selecting = servicesSelecting(cloneLabels, nsServices);
      if (selecting.length > 0) {
        warnings.push(
          `worker ${w.namespace}/${w.deployment}: Service ${selecting.map((s) => s.metadata.name).join(', ')} ` +
            `selects its clone's pods, so traffic to it without a subset can reach the clone; list it under ` +
            `services to route it by header instead`,
        );
      }
      continue;
    }

    if (originalLabels[versionLabel] === undefined) {
      problems.push({
        kind: 'cluster',
        subject,
        message: `its pod template has no "${versionLabel}" label, so no subset can tell its pods from the env's`,
        fix: `add a ${versionLabel} label to its pod template (e.g. ${versionLabel}: v1), or set routing.versionLabel to the label your subsets use`,
      });
    }
    const selectingOriginal = servicesSelecting(originalLabels, nsServices);
    const selectingBoth = selectingOriginal.filter((s) => selectorMatches(s.spec.selector, cloneLabels));
    for (const s of selectingOriginal) {
      if (!selectingBoth.includes(s)) {
        warnings.push(
          `Service ${w.namespace}/${s.metadata.name} selects ${w.deployment}'s pods but not the clone's (its ` +
            `selector names the "${versionLabel}" label), so traffic to it is not routed to env ${env}`,
        );
      }
    }
    if (selectingBoth.length === 0) {
      problems.push({
        kind: 'cluster',
        subject,
        message: `no Service in namespace ${w.namespace} selects its pods, so there is no host to route`,
        fix: 'create a Service for it, or list it under workers (cloned, never routed)',
      });
      continue;
    }
    for (const s of selectingBoth) {
      const fqdn = serviceFqdn(s.metadata.name, w.namespace, cd);
      workload.hosts.push(fqdn);
      const info = hosts.get(fqdn) ?? { fqdn, service: s, clonePodLabels: [], originals: new Set<Deployment>() };
      info.clonePodLabels.push(cloneLabels);
      info.originals.add(original);
      hosts.set(fqdn, info);
    }
    workload.hosts.sort();
  }
  // An env named like a version value pods already carry (`--env v2` beside `version: v2`): the env's subset
  // `{<versionLabel>: <env>}` would select those pods too (header traffic would reach them) and the clone's
  // selector would overlap their Deployment's. Checked in every namespace the env clones into: its hosts are
  // Services there, so their endpoints and any selector a clone could overlap are there; pods elsewhere are no
  // endpoint of an env host, and the env's sourceLabels also need the env label, which only its clones carry.
  const cloneNamespaces = new Set(entries.map(([, w]) => w.namespace));
  for (const d of snapshot.deployments
    .filter((d) => cloneNamespaces.has(d.metadata.namespace ?? '') && !isManaged(d.metadata.labels))
    .filter((d) => d.spec.template.metadata?.labels?.[versionLabel] === env)
    .sort(byObjectRef)) {
    problems.push({
      kind: 'cluster',
      subject: `Deployment ${d.metadata.namespace}/${d.metadata.name}`,
      message:
        `its pods carry "${versionLabel}: ${env}", the label env ${env} gives its own pods, so the env's subset (and ` +
        `its clones' selectors) would select them too and header-routed requests could reach them`,
      fix: `choose an env name that is not a "${versionLabel}" value in use (e.g. pr-<number>)`,
    });
  }

  warnings.push(...sidecarWarnings(workloads.filter((w) => w.role === 'service' && w.hosts.length > 0).map((w) => w.original!), snapshot.sidecars));

  const envHosts = [...hosts.keys()].sort();
  const routing: EnvRouting = { env, routing: { ...spec.routing }, hosts: envHosts, clusterDomain: cd };

  // 2. Active VirtualServices: roots (with hosts) and the delegates they reference. A delegate referenced by a root
  // route whose match blocks list gateways gets no sourceLabels block (see matchListsGateways).
  const roots = snapshot.virtualServices.filter((vs) => (vs.spec.hosts ?? []).length > 0);
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
    ...snapshot.virtualServices
      .filter((vs) => (vs.spec.hosts ?? []).length === 0)
      .filter((vs) => delegateMesh.has(key(vs.metadata.namespace, vs.metadata.name)))
      .map((vs) => ({ vs, meshApplies: delegateSourceLabels(key(vs.metadata.namespace, vs.metadata.name)) })),
  ].sort((a, b) => byObjectRef(a.vs, b.vs));

  // 3. Route edits, subset safety, and which hosts need the baseline subset.
  const routeEdits: RouteEdit[] = [];
  const needsBaseline = new Set<string>();
  const vsByHost = new Map<string, Set<string>>();
  const touch = (fqdn: string, ref: ObjectRef): void => {
    const set = vsByHost.get(fqdn) ?? new Set<string>();
    set.add(refKey(ref));
    vsByHost.set(fqdn, set);
  };
  const reportedSubsets = new Set<string>();
  for (const { vs, meshApplies } of active) {
    const ns = vs.metadata.namespace ?? '';
    warnings.push(...nonHttpWarnings(vs, envHosts, cd));
    const targets = routesToHosts(vs, envHosts, cd);
    if (targets.length === 0) continue;
    const edit: RouteEdit = { name: vs.metadata.name, namespace: ns, meshApplies };
    routeEdits.push(edit);
    // Re-applied by a GitOps tool, Helm or kubectl apply: a sync replaces spec.http, env routes and pins with it.
    const managedBy = gitOpsEvidence(vs);
    if (managedBy.length > 0) {
      warnings.push(gitOpsWarning(vs, env, managedBy));
      const pins = targets.some((t) => [...t.destinations.map((r) => r.destination), ...t.mirrors].some((d) => !d.subset));
      if (pins && spec.routing.pinUnsubsetRoutes && !spec.routing.allowPinningGitOpsManaged) problems.push(gitOpsPinProblem(vs, managedBy));
    }
    const unsubset = unsubsetRouteProblems(vs, routing);
    problems.push(...unsubset);
    // The object as this open would write it must stay under the size limit (etcd refuses it for good otherwise).
    if (unsubset.length === 0) problems.push(...virtualServiceSizeProblems(withEnvRoutes(vs, edit, routing), env));
    for (const { index, route, destinations, mirrors } of targets) {
      // Mirror destinations count like route destinations: pinned ones need the baseline subset, user subsets
      // must not select the env's pods (docs/DESIGN.md "Routing").
      for (const d of [...destinations.map((r) => r.destination), ...mirrors]) {
        const fqdn = normalizeHost(d.host, ns, cd);
        touch(fqdn, refOf(vs));
        const subset = d.subset;
        if (subset === BASELINE_SUBSET || (!subset && spec.routing.pinUnsubsetRoutes)) {
          needsBaseline.add(fqdn);
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
        problems.push({
          kind: 'cluster',
          subject: `DestinationRule ${found.rule.metadata.namespace}/${found.rule.metadata.name} subset "${subset}"`,
          message:
            `its labels ${showLabels(found.subset.labels)} also select env ${env}'s pods, so baseline traffic of ` +
            `${routeRef(vs, route, index)} would reach them`,
          fix: `add the "${versionLabel}" label to the subset's labels (e.g. ${versionLabel}: <the baseline version>)`,
        });
      }
    }
  }

  // 4. Hosts that no mesh VirtualService covers get ours (created here, or already there and edited above). One
  // that covers a host but is not exported everywhere leaves other namespaces on the default route: refused.
  problems.push(...exportToProblems(roots, envHosts, cd));
  const createVirtualServices: VirtualService[] = [];
  for (const fqdn of envHosts) {
    const info = hosts.get(fqdn)!;
    const covered = roots.some(
      (vs) =>
        vsMeshApplies(vs) &&
        (vs.spec.hosts ?? []).some((h) => hostCovers(normalizeHost(h, vs.metadata.namespace ?? '', cd), fqdn)),
    );
    const svcNs = info.service.metadata.namespace ?? '';
    const ownName = ownVirtualServiceName(info.service.metadata.name);
    const clash = snapshot.virtualServices.find((vs) => vs.metadata.namespace === svcNs && vs.metadata.name === ownName);
    if (clash && isOwnVirtualService(clash)) needsBaseline.add(fqdn);
    if (covered) continue;
    if (clash) {
      problems.push({
        kind: 'cluster',
        subject: `VirtualService ${svcNs}/${ownName}`,
        message: `exists but is not dynamic-env's, and no VirtualService routes mesh traffic for ${fqdn}`,
        fix: `rename that VirtualService, or give ${fqdn} a VirtualService of your own with subsets`,
      });
      continue;
    }
    const edit: RouteEdit = { name: ownName, namespace: svcNs, meshApplies: true };
    createVirtualServices.push(withEnvRoutes(ownVirtualService(info.service.metadata.name, svcNs, cd), edit, routing));
    touch(fqdn, edit);
    needsBaseline.add(fqdn);
  }

  // 5. Baseline version of each host that needs the baseline subset.
  const baselineVersion = new Map<string, string>();
  for (const fqdn of [...needsBaseline].sort()) {
    const info = hosts.get(fqdn);
    if (!info) continue;
    const svcNs = info.service.metadata.namespace ?? '';
    const backends = snapshot.deployments
      .filter((d) => d.metadata.namespace === svcNs && !isManaged(d.metadata.labels))
      .filter((d) => selectorMatches(info.service.spec.selector, d.spec.template.metadata?.labels))
      .sort(byObjectRef);
    const versions = backends.map((d) => ({ d, v: d.spec.template.metadata?.labels?.[versionLabel] }));
    if (versions.some(({ d, v }) => v === undefined && info.originals.has(d))) continue; // reported above
    const distinct = new Set(versions.map(({ v }) => v));
    if (distinct.size === 1 && !distinct.has(undefined)) {
      baselineVersion.set(fqdn, [...distinct][0]!);
      continue;
    }
    problems.push({
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

  // 6. Our DestinationRules per (env, host): in the Service's namespace, and in every namespace whose own user rule
  // for the host would keep its proxies from seeing that one (docs/DESIGN.md "DestinationRules").
  const destinationRules: DestinationRule[] = [];
  const ruleRefs = new Map<string, ObjectRef[]>();
  const callerNamespaces = [...new Set(entries.map(([, w]) => w.namespace))];
  for (const fqdn of envHosts) {
    const info = hosts.get(fqdn)!;
    const planned = planHostDestinationRules(spec, {
      host: fqdn,
      serviceName: info.service.metadata.name,
      serviceNamespace: info.service.metadata.namespace ?? '',
      ...(baselineVersion.has(fqdn) ? { baselineVersion: baselineVersion.get(fqdn)! } : {}),
      clusterRules: snapshot.destinationRules,
      callerNamespaces,
    });
    problems.push(...planned.problems);
    warnings.push(...planned.warnings);
    destinationRules.push(...planned.rules);
    ruleRefs.set(fqdn, planned.rules.map(refOf).sort(byRef));
  }

  throwIfProblems(problems);

  // 7. Report data, in config order.
  const workloadPlans: WorkloadPlan[] = workloads.map((w) => {
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
      virtualServices: [...vsKeys].sort().map((k) => {
        const [namespace, name] = k.split('/') as [string, string];
        return { name, namespace };
      }),
    };
  });

  return {
    env,
    clones: workloads.flatMap((w) => (w.clone ? [w.clone] : [])).sort(byObjectRef),
    destinationRules: destinationRules.sort(byObjectRef),
    routeEdits: routeEdits.sort(byRef),
    createVirtualServices: createVirtualServices.sort(byObjectRef),
    routing,
    workloads: workloadPlans,
    warnings,
  };
}
