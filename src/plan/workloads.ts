// The first phase of planOpen, mesh-neutral: each configured workload's original, its clone, and the hosts (Services)
// in front of it. Returns its findings; never throws, so every problem reaches the user in one round.
import { buildClone, isEnvObject, isManaged } from './deployment.js';
import { selectorMatches, serviceFqdn, servicesSelecting } from './hosts.js';
import { ENV_LABEL, SOURCE_ANNOTATION, cloneName } from './names.js';
import { sidecarWarnings } from './sidecars.js';
import type { Deployment, EnvSpec, Labels, PlanProblem, Service, Snapshot, WorkloadSpec } from './types.js';

export interface Workload {
  role: 'service' | 'worker';
  spec: WorkloadSpec;
  original?: Deployment;
  clone?: Deployment;
  images: string[];
  hosts: string[];
}

export interface HostInfo {
  fqdn: string;
  service: Service;
  /** Pod labels of the env's clones behind this host. */
  clonePodLabels: Labels[];
  /** The originals routed through this host (to avoid reporting their missing version label twice). */
  originals: Set<Deployment>;
}

export interface ResolvedWorkloads {
  /** In config order: services, then workers. */
  workloads: Workload[];
  /** The env's hosts by FQDN: the Services that select both an original's pods and its clone's. */
  hosts: Map<string, HostInfo>;
  problems: PlanProblem[];
  warnings: string[];
}

const byName = (a: Service, b: Service) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);
const byKey = (a: Deployment, b: Deployment) => {
  const k = (d: Deployment) => `${d.metadata.namespace ?? ''}/${d.metadata.name}`;
  return k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0;
};

/** Each workload of `spec` resolved against `snapshot`, with every problem and warning found on the way. */
export function resolveWorkloads(snapshot: Snapshot, spec: EnvSpec): ResolvedWorkloads {
  const out: ResolvedWorkloads = { workloads: [], hosts: new Map(), problems: [], warnings: [] };
  if (spec.services.length + spec.workers.length === 0) {
    out.problems.push({
      kind: 'config',
      subject: `env ${spec.name}`,
      message: 'lists no services and no workers',
      fix: 'add at least one entry under services or workers',
    });
  }
  const entries: [Workload['role'], WorkloadSpec][] = [
    ...spec.services.map((w): [Workload['role'], WorkloadSpec] => ['service', w]),
    ...spec.workers.map((w): [Workload['role'], WorkloadSpec] => ['worker', w]),
  ];
  for (const [role, w] of entries) {
    const workload: Workload = { role, spec: w, images: [], hosts: [] };
    out.workloads.push(workload);
    resolveWorkload(snapshot, spec, workload, out);
  }
  out.problems.push(...versionCollisions(snapshot, spec));
  const routed = out.workloads.filter((w) => w.role === 'service' && w.hosts.length > 0).map((w) => w.original!);
  out.warnings.push(...sidecarWarnings(routed, snapshot.sidecars));
  return out;
}

const deploymentAt = (snapshot: Snapshot, ns: string, name: string): Deployment | undefined =>
  snapshot.deployments.find((d) => d.metadata.namespace === ns && d.metadata.name === name);

/** One workload: its original, its clone (refusing a name another object holds), and for a service its hosts. */
function resolveWorkload(snapshot: Snapshot, spec: EnvSpec, workload: Workload, out: ResolvedWorkloads): void {
  const { role, spec: w } = workload;
  const subject = `Deployment ${w.namespace}/${w.deployment}`;
  const original = deploymentAt(snapshot, w.namespace, w.deployment);
  if (!original) {
    out.problems.push({
      kind: 'cluster',
      subject,
      message: 'not found',
      fix: `check the namespace and name in the config (kubectl get deployments -n ${w.namespace})`,
    });
    return;
  }
  if (isManaged(original.metadata.labels)) {
    out.problems.push({
      kind: 'config',
      subject,
      message: 'is a dynamic-env clone, not an original',
      fix: 'name the original Deployment in the config',
    });
    return;
  }
  const existing = deploymentAt(snapshot, w.namespace, cloneName(w.deployment, spec.name));
  const existingIsOurs = !!existing && isEnvObject(existing, spec.name);
  if (existing && !existingIsOurs) out.problems.push(cloneNameTaken(existing, w, spec.name));
  const built = buildClone(original, w, spec, role, existingIsOurs ? existing : undefined);
  out.problems.push(...built.problems);
  workload.original = original;
  workload.clone = built.clone;
  workload.images = built.images;
  const cloneLabels = built.clone.spec.template.metadata?.labels ?? {};
  const nsServices = snapshot.services.filter((s) => s.metadata.namespace === w.namespace).sort(byName);
  if (role === 'worker') {
    const selecting = servicesSelecting(cloneLabels, nsServices);
    if (selecting.length > 0) {
      out.warnings.push(
        `worker ${w.namespace}/${w.deployment}: Service ${selecting.map((s) => s.metadata.name).join(', ')} ` +
          `selects its clone's pods, so traffic to it without a subset can reach the clone; list it under ` +
          `services to route it by header instead`,
      );
    }
    return;
  }
  resolveHosts(spec, workload, original, cloneLabels, nsServices, out);
}

/** The clone's name is held by a Deployment that is not this env's clone of the workload. */
function cloneNameTaken(existing: Deployment, w: WorkloadSpec, env: string): PlanProblem {
  const name = existing.metadata.name;
  const existingEnv = isManaged(existing.metadata.labels) ? existing.metadata.labels?.[ENV_LABEL] : undefined;
  if (existingEnv === undefined) {
    return {
      kind: 'cluster',
      subject: `Deployment ${w.namespace}/${name}`,
      message: `already exists and is not env ${env}'s clone of ${w.deployment}, so it cannot be used as the clone`,
      fix: 'rename or remove that Deployment, or choose another env name',
    };
  }
  // Clone names join Deployment and env with "-": `web` in env `v2-pr-1` and `web-v2` in env `pr-1` meet.
  const source = existing.metadata.annotations?.[SOURCE_ANNOTATION] ?? '(unknown original)';
  return {
    kind: 'cluster',
    subject: `Deployment ${w.namespace}/${name}`,
    message:
      `is env ${existingEnv}'s clone of ${source}, and ${w.deployment}'s clone in env ${env} would get the same ` +
      `name (clone names are <deployment>-<env>)`,
    fix: `choose another env name for this env, or close env ${existingEnv} first (dynamic-env close --env ${existingEnv})`,
  };
}

/** A service's hosts: the Services of its namespace that select both its original's pods and its clone's. */
function resolveHosts(spec: EnvSpec, workload: Workload, original: Deployment, cloneLabels: Labels, nsServices: Service[],
  out: ResolvedWorkloads): void {
  const { spec: w } = workload;
  const versionLabel = spec.routing.versionLabel;
  const subject = `Deployment ${w.namespace}/${w.deployment}`;
  const originalLabels = original.spec.template.metadata?.labels ?? {};
  if (originalLabels[versionLabel] === undefined) {
    out.problems.push({
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
      out.warnings.push(
        `Service ${w.namespace}/${s.metadata.name} selects ${w.deployment}'s pods but not the clone's (its ` +
          `selector names the "${versionLabel}" label), so traffic to it is not routed to env ${spec.name}`,
      );
    }
  }
  if (selectingBoth.length === 0) {
    out.problems.push({
      kind: 'cluster',
      subject,
      message: `no Service in namespace ${w.namespace} selects its pods, so there is no host to route`,
      fix: 'create a Service for it, or list it under workers (cloned, never routed)',
    });
    return;
  }
  for (const s of selectingBoth) {
    const fqdn = serviceFqdn(s.metadata.name, w.namespace, spec.clusterDomain);
    workload.hosts.push(fqdn);
    const info = out.hosts.get(fqdn) ?? { fqdn, service: s, clonePodLabels: [], originals: new Set<Deployment>() };
    info.clonePodLabels.push(cloneLabels);
    info.originals.add(original);
    out.hosts.set(fqdn, info);
  }
  workload.hosts.sort();
}

/**
 * An env named like a version value pods already carry (`--env v2` beside `version: v2`): the env's subset
 * `{<versionLabel>: <env>}` would select those pods too (header traffic would reach them) and the clone's selector
 * would overlap their Deployment's. Checked in every namespace the env clones into: its hosts are Services there, so
 * their endpoints and any selector a clone could overlap are there; pods elsewhere are no endpoint of an env host,
 * and the env's sourceLabels also need the env label, which only its clones carry.
 */
function versionCollisions(snapshot: Snapshot, spec: EnvSpec): PlanProblem[] {
  const { name: env } = spec;
  const versionLabel = spec.routing.versionLabel;
  const cloneNamespaces = new Set([...spec.services, ...spec.workers].map((w) => w.namespace));
  return snapshot.deployments
    .filter((d) => cloneNamespaces.has(d.metadata.namespace ?? '') && !isManaged(d.metadata.labels))
    .filter((d) => d.spec.template.metadata?.labels?.[versionLabel] === env)
    .sort(byKey)
    .map((d) => ({
      kind: 'cluster' as const,
      subject: `Deployment ${d.metadata.namespace}/${d.metadata.name}`,
      message:
        `its pods carry "${versionLabel}: ${env}", the label env ${env} gives its own pods, so the env's subset (and ` +
        `its clones' selectors) would select them too and header-routed requests could reach them`,
      fix: `choose an env name that is not a "${versionLabel}" value in use (e.g. pr-<number>)`,
    }));
}
