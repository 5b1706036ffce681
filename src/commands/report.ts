// Builds the EnvReport (the `status --output json` contract) from a plan or from what the cluster shows.
import { baggageMember } from '../plan/match.js';
import { normalizeHost } from '../plan/hosts.js';
import { ENV_LABEL, ROLE_LABEL, SOURCE_ANNOTATION, parseRouteName } from '../plan/names.js';
import type { Deployment, ObjectRef, OpenPlan, Snapshot, VirtualService } from '../plan/types.js';
import { overallState, type EnvReport, type WorkloadReport } from '../report/model.js';
import { assessRollout, type Observed, type RolloutAssessment } from '../kube/rollout.js';
import { routingHealth } from '../plan/health.js';
import { recordedLockNamespaces } from '../plan/ownership.js';

/** Annotations that let status, list and sweep describe an env without its config. */
export const HOSTS_ANNOTATION = 'dynamic-env.io/hosts';
export const URL_ANNOTATION = 'dynamic-env.io/url';
export const HEADER_ANNOTATION = 'dynamic-env.io/header';
export const BAGGAGE_KEY_ANNOTATION = 'dynamic-env.io/baggage-key';

export interface RoutingKeys {
  header: string;
  baggageKey: string | null;
}

export function reportHeader(env: string, keys: RoutingKeys): Pick<EnvReport, 'env' | 'header' | 'headerValue' | 'baggage'> {
  return {
    env,
    header: keys.header,
    headerValue: env,
    baggage: keys.baggageKey ? baggageMember(keys.baggageKey, env) : null,
  };
}

const images = (d: Deployment) => d.spec.template.spec.containers.map((c) => c.image ?? '').filter(Boolean);
/** Byte order of `namespace/name`, as the planner sorts, so status lists objects in the order open reported them. */
const byName = (a: ObjectRef, b: ObjectRef) => {
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** After open: the plan says what was built, the assessments how it runs. */
export function reportFromPlan(plan: OpenPlan, keys: RoutingKeys, assess: (ns: string, clone: string) => RolloutAssessment): EnvReport {
  const workloads: WorkloadReport[] = plan.workloads.map((w) => {
    const a = assess(w.namespace, w.clone);
    return {
      role: w.role, namespace: w.namespace, deployment: w.deployment, clone: w.clone, images: w.images,
      replicas: { ready: a.ready, desired: a.desired || w.replicas }, state: a.state, reason: a.reason,
      hosts: w.hosts, ...(w.url ? { url: w.url } : {}), destinationRules: w.destinationRules, virtualServices: w.virtualServices,
    };
  });
  return finish(plan.env, keys, workloads, plan.warnings);
}

/** From the cluster alone: the env's clones (by label), its DestinationRules and the routes named after it. */
export function reportFromCluster(env: string, snapshot: Snapshot, observed: Observed, clusterDomain = 'cluster.local'): EnvReport {
  const clones = snapshot.deployments.filter((d) => d.metadata.labels?.[ENV_LABEL] === env);
  const first = clones[0]?.metadata.annotations ?? {};
  const keys: RoutingKeys = {
    header: first[HEADER_ANNOTATION] ?? 'x-override',
    baggageKey: first[BAGGAGE_KEY_ANNOTATION] === undefined ? 'override' : first[BAGGAGE_KEY_ANNOTATION] || null,
  };
  const routedHosts = vsHostsOf(env, snapshot.virtualServices, clusterDomain);
  const envDrs = snapshot.destinationRules.filter((d) => d.metadata.labels?.[ENV_LABEL] === env);
  const template = clones.map((c) => c.spec.template.metadata?.labels).find((l) => l !== undefined);
  const versionLabel = Object.entries(template ?? {}).find(([k, v]) => v === env && k !== ENV_LABEL)?.[0] ?? 'version';
  const allHosts = [...new Set(clones.flatMap((c) => (c.metadata.annotations?.[HOSTS_ANNOTATION] ?? '').split(',').filter(Boolean)))];
  // What makes the env work besides its pods (docs/DESIGN.md "Status contract"): subsets and routes as open left them.
  const routing = allHosts.length === 0 ? [] : routingHealth({
    env, routing: { ...keys, versionLabel }, hosts: allHosts, clusterDomain, destinationRules: envDrs, virtualServices: snapshot.virtualServices,
  });
  const workloads = clones.map((clone): WorkloadReport => {
    const ns = clone.metadata.namespace ?? '';
    const hosts = (clone.metadata.annotations?.[HOSTS_ANNOTATION] ?? '').split(',').filter(Boolean);
    const live = observed.deployments.find((d) => d.metadata.namespace === ns && d.metadata.name === clone.metadata.name) ?? clone;
    const a = withRouting(assessRollout(live, observed.pods, observed.events),
      routing.filter((p) => p.hosts.some((h) => hosts.includes(h))).map((p) => p.message));
    const source = clone.metadata.annotations?.[SOURCE_ANNOTATION] ?? '';
    const url = clone.metadata.annotations?.[URL_ANNOTATION];
    return {
      role: clone.metadata.labels?.[ROLE_LABEL] === 'worker' ? 'worker' : 'service',
      namespace: ns,
      deployment: source.split('/')[1] ?? clone.metadata.name,
      clone: clone.metadata.name,
      images: images(live),
      replicas: { ready: a.ready, desired: a.desired },
      state: a.state,
      reason: a.reason,
      hosts,
      ...(url ? { url } : {}),
      // In the order of the hosts, like the plan's.
      destinationRules: hosts.flatMap((h) => snapshot.destinationRules
        .filter((dr) => dr.metadata.labels?.[ENV_LABEL] === env && dr.spec.host === h)
        .map((dr) => ({ name: dr.metadata.name, namespace: dr.metadata.namespace ?? '' })).sort(byName)),
      virtualServices: [...routedHosts.entries()]
        .filter(([, h]) => hosts.some((x) => h.has(x)))
        .map(([k]) => ({ namespace: k.split('/')[0]!, name: k.split('/')[1]! })).sort(byName),
    };
  });
  const lockNamespace = recordedLockNamespaces(clones, env).join(',');
  return { ...finish(env, keys, workloads, []), ...(lockNamespace ? { lockNamespace } : {}) };
}

/**
 * A clone that rolled out is `degraded` when it serves nothing (scaled to 0) or its routing is broken; the reasons
 * are listed. While it is still rolling out (or failed), its routes are not expected yet: the rollout state stands.
 */
function withRouting(a: RolloutAssessment, problems: string[]): RolloutAssessment {
  if (a.state !== 'ready') return a;
  const reasons = [
    ...(a.desired === 0 ? ['the clone is scaled to 0 replicas: nothing serves the env (scale it up or re-run open)'] : []),
    ...problems,
  ];
  return reasons.length === 0 ? a : { ...a, state: 'degraded', reason: reasons.join('; ') };
}

/** VirtualService "ns/name" -> hosts the env's routes in it lead to. */
function vsHostsOf(env: string, virtualServices: VirtualService[], clusterDomain: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const vs of virtualServices) {
    const ns = vs.metadata.namespace ?? '';
    for (const route of vs.spec.http ?? []) {
      if (parseRouteName(route.name)?.env !== env) continue;
      const set = out.get(`${ns}/${vs.metadata.name}`) ?? new Set<string>();
      for (const d of route.route ?? []) set.add(normalizeHost(d.destination.host, ns, clusterDomain));
      out.set(`${ns}/${vs.metadata.name}`, set);
    }
  }
  return out;
}

function finish(env: string, keys: RoutingKeys, workloads: WorkloadReport[], warnings: string[]): EnvReport {
  const order = (w: WorkloadReport) => `${w.namespace}/${w.deployment}`;
  const services = workloads.filter((w) => w.role === 'service').sort((a, b) => order(a).localeCompare(order(b)));
  const workers = workloads.filter((w) => w.role === 'worker').sort((a, b) => order(a).localeCompare(order(b)));
  return {
    ...reportHeader(env, keys),
    state: workloads.length === 0 ? 'absent' : overallState(workloads.map((w) => w.state)),
    services,
    workers,
    ...(warnings.length ? { warnings } : {}),
  };
}
