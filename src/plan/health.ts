// What makes an open env work, checked against the objects as they are (status, docs/DESIGN.md "Status contract"):
// its DestinationRules define its subsets, and every VirtualService holds the routes open would write, recomputed
// with the planner's own pure edit (withEnvRoutes) and compared. Pure.
import { ruleHost } from './close.js';
import { normalizeHost } from './hosts.js';
import { BASELINE_SUBSET, parseRouteName } from './names.js';
import type { DestinationRule, EnvRouting, HTTPRoute, RoutingSpec, VirtualService } from './types.js';
import { matchListsGateways, mirrorDestinations, routesToHosts, vsMeshApplies, vsRef, withEnvRoutes } from './virtual-service.js';

export interface HealthInput {
  env: string;
  routing: Pick<RoutingSpec, 'header' | 'baggageKey' | 'versionLabel'>;
  /** Every host the env's services answer for (FQDN). */
  hosts: string[];
  clusterDomain: string;
  /** The env's own DestinationRules. */
  destinationRules: DestinationRule[];
  virtualServices: VirtualService[];
}

/** A routing problem and the env hosts it concerns (a service is degraded by the problems of its hosts). */
export interface HealthProblem {
  hosts: string[];
  message: string;
}

/** JSON with sorted keys: the API server returns objects with their keys sorted, the planner builds them in its order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Record<string, unknown>)[k]])) : x));
}

interface Layout {
  users: HTTPRoute[];
  /** The env's routes, each with the index (among user routes) of the user route right after its block. */
  envRoutes: { route: HTTPRoute; next: number }[];
}

function layout(http: HTTPRoute[], env: string): Layout {
  const users: HTTPRoute[] = [];
  const pending: HTTPRoute[] = [];
  const envRoutes: Layout['envRoutes'] = [];
  for (const r of http) {
    const parsed = parseRouteName(r.name);
    if (parsed) {
      if (parsed.env === env) pending.push(r);
      continue;
    }
    for (const p of pending.splice(0)) envRoutes.push({ route: p, next: users.length });
    users.push(r);
  }
  for (const p of pending) envRoutes.push({ route: p, next: -1 });
  return { users, envRoutes };
}

const userName = (users: HTTPRoute[], i: number): string => (i < 0 ? '(none: the end of the list)' : `"${users[i]!.name ?? `#${i}`}"`);

/** Problems with `input.env`'s routing, each with the hosts it concerns. Empty when open would change nothing. */
export function routingHealth(input: HealthInput): HealthProblem[] {
  const { env, clusterDomain: cd } = input;
  const problems: HealthProblem[] = [];
  const envHosts = new Set(input.hosts);

  // Which hosts get pinned routes: every VirtualService as open would leave it.
  const pinned = new Set<string>();
  const routed = new Set<string>();
  const key = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;
  const delegateMesh = new Map<string, boolean>();
  for (const root of input.virtualServices.filter((vs) => (vs.spec.hosts ?? []).length > 0)) {
    for (const route of root.spec.http ?? []) {
      if (!route.delegate) continue;
      const k = key(route.delegate.namespace ?? root.metadata.namespace, route.delegate.name);
      delegateMesh.set(k, (delegateMesh.get(k) ?? false) || (vsMeshApplies(root) && !matchListsGateways(route)));
    }
  }
  for (const vs of input.virtualServices) {
    const ns = vs.metadata.namespace ?? 'default';
    const isRoot = (vs.spec.hosts ?? []).length > 0;
    const k = key(vs.metadata.namespace, vs.metadata.name);
    if (!isRoot && !delegateMesh.has(k)) continue;
    const http = vs.spec.http ?? [];
    const hasOwn = http.some((r) => parseRouteName(r.name)?.env === env);
    if (!hasOwn && routesToHosts(vs, input.hosts, cd).length === 0) continue;
    const routing: EnvRouting = { env, routing: { ...input.routing, pinUnsubsetRoutes: true }, hosts: input.hosts, clusterDomain: cd };
    let expected: VirtualService;
    try {
      expected = withEnvRoutes(vs, { namespace: ns, name: vs.metadata.name, meshApplies: isRoot ? vsMeshApplies(vs) : delegateMesh.get(k)! }, routing);
    } catch {
      continue; // open would refuse this VirtualService (a plan problem, not a state to compare with)
    }
    const hostsOf = (r: HTTPRoute) => [...(r.route ?? []).map((d) => d.destination), ...mirrorDestinations(r)]
      .map((d) => normalizeHost(d.host, ns, cd)).filter((h) => envHosts.has(h));
    const exp = layout(expected.spec.http ?? [], env);
    const act = layout(http, env);
    for (const r of exp.users) {
      for (const d of [...(r.route ?? []).map((x) => x.destination), ...mirrorDestinations(r)]) {
        const h = normalizeHost(d.host, ns, cd);
        if (d.subset === BASELINE_SUBSET && envHosts.has(h)) pinned.add(h);
      }
    }
    for (const e of exp.envRoutes) for (const d of e.route.route ?? []) if (d.destination.subset === env) routed.add(normalizeHost(d.destination.host, ns, cd));
    if (canonical(exp.users) !== canonical(act.users)) {
      exp.users.forEach((r, i) => {
        if (canonical(r) === canonical(act.users[i])) return;
        const hosts = hostsOf(r);
        problems.push({
          hosts,
          message: `${vsRef(vs)} route ${userName(exp.users, i)} to ${hosts.join(', ')} is not pinned to "${BASELINE_SUBSET}" ` +
            `as open left it (routes re-applied?): baseline requests there may reach the env's pods`,
        });
      });
    }
    const matched = new Set<number>();
    for (const e of exp.envRoutes) {
      const want = canonical(e.route);
      const same = act.envRoutes.findIndex((a, i) => !matched.has(i) && a.next === e.next && canonical(a.route) === want);
      if (same >= 0) { matched.add(same); continue; }
      const hosts = [...new Set([...hostsOf(exp.users[e.next] ?? {}), ...hostsOf(e.route)])];
      const named = act.envRoutes.findIndex((a, i) => !matched.has(i) && a.route.name === e.route.name);
      const origin = userName(exp.users, e.next);
      if (named < 0) {
        problems.push({ hosts, message: `${vsRef(vs)}: the env's copy of route ${origin} ("${e.route.name}") is missing (removed by hand, or the routes were re-applied)` });
        continue;
      }
      matched.add(named);
      const a = act.envRoutes[named]!;
      problems.push({
        hosts,
        message: canonical(a.route) === want
          ? `${vsRef(vs)}: the env's route "${e.route.name}" is not directly before route ${origin} (it is before ${userName(act.users, a.next)})`
          : `${vsRef(vs)}: the env's route "${e.route.name}" differs from the copy of route ${origin} open writes (match or destination changed)`,
      });
    }
    act.envRoutes.forEach((a, i) => {
      if (matched.has(i)) return;
      problems.push({ hosts: hostsOf(a.route), message: `${vsRef(vs)}: the env's route "${a.route.name}" copies no current route (left over; re-run open)` });
    });
  }

  for (const h of [...envHosts].sort()) {
    const rules = input.destinationRules.filter((d) => ruleHost(d, cd) === h);
    if (rules.length === 0) {
      problems.push({ hosts: [h], message: `no DestinationRule of the env for ${h}: its "${env}" subset is undefined (requests with the header get 503)` });
      continue;
    }
    for (const d of rules) {
      const names = new Set((d.spec.subsets ?? []).map((s) => s.name));
      const ref = `DestinationRule ${d.metadata.namespace ?? ''}/${d.metadata.name}`;
      if (!names.has(env)) problems.push({ hosts: [h], message: `${ref} defines no "${env}" subset (requests with the header get 503)` });
      if (pinned.has(h) && !names.has(BASELINE_SUBSET)) {
        problems.push({ hosts: [h], message: `${ref} defines no "${BASELINE_SUBSET}" subset, which routes to ${h} are pinned to (baseline requests get 503)` });
      }
    }
    if (!routed.has(h)) {
      problems.push({ hosts: [h], message: `no VirtualService routes ${h} to the env (its VirtualService was deleted, or open never finished): requests with the header reach the baseline` });
    }
  }
  return problems;
}
