// Routing assertions from istiod's own configuration: pose proxies (callers in namespaces, gateways, the env's own
// pods), read what istiod serves them, and evaluate requests with the route oracle. A test states where requests
// must go; these helpers check it against Envoy's semantics, never against our YAML.
import { expect } from 'vitest';
import type { TestCluster } from './cluster.js';
import { describeOutcome, missingClusters, routeRequest, type OracleRequest, type RouteOutcome, type XdsSnapshot } from './oracle/route-oracle.js';
import { proxyConfig, settle, type PosedProxy } from './proxy.js';

export interface Caller {
  /** How the caller is named in failure messages. */
  label: string;
  proxy: PosedProxy;
  /** Authority and port this caller uses, when not the target's (a gateway is reached on its own host and port). */
  request?: Omit<OracleRequest, 'headers'>;
}

export type MeshView = Map<string, XdsSnapshot>;

/**
 * Waits for istiod to catch up with the cluster's objects in `namespaces`, then reads every caller's configuration,
 * scoped to the hosts of `namespaces`: a sidecar sees every Service of the mesh, and other test files change theirs
 * in parallel.
 */
export async function meshView(cluster: TestCluster, namespaces: string[], callers: Caller[]): Promise<MeshView> {
  await settle(cluster.info, cluster.admin, [...new Set([...namespaces, 'istio-system'])]);
  const served = new Set<string>();
  for (const ns of namespaces) {
    for (const svc of await cluster.list('Service', ns)) {
      for (const p of svc.spec.ports ?? []) served.add(`${svc.metadata.name}.${ns}.svc.cluster.local:${p.port}`);
    }
  }
  const view: MeshView = new Map();
  await Promise.all(callers.map(async (c) => view.set(c.label, scoped(await proxyConfig(cluster.info, c.proxy), namespaces, served))));
  return view;
}

const clusterHost = (name: string): string => name.split('|')[3] ?? '';

/**
 * The part of a proxy's configuration about the hosts of `namespaces` (a gateway's own routes are all kept). Of a
 * sidecar's virtual hosts only those for a port the Service serves (`served`, `host:port`) count: istiod may also
 * list a VirtualService's host under port 80, where no traffic to that Service can arrive.
 */
export function scoped(s: XdsSnapshot, namespaces: string[], served: ReadonlySet<string>): XdsSnapshot {
  const ours = (host: string) => namespaces.some((ns) => host.endsWith(`.${ns}.svc.cluster.local`));
  const keepCluster = (name: string) => !name.startsWith('outbound|') || ours(clusterHost(name));
  const sidecarRoute = (rc: any) => /^\d+$/.test(rc.name);
  return {
    listeners: s.listeners.filter((l: any) => /^0\.0\.0\.0_\d+$/.test(l.name)),
    clusters: s.clusters.filter((c: any) => keepCluster(c.name)),
    endpoints: s.endpoints.filter((e: any) => keepCluster(e.cluster_name)),
    routes: s.routes.map((rc: any) => !sidecarRoute(rc) ? rc : {
      ...rc,
      virtual_hosts: (rc.virtual_hosts ?? []).filter((vh: any) => vh.name === 'allow_any' || ((vh.domains ?? []).some(ours) && served.has(vh.name))),
    }),
  };
}

export interface RequestCase {
  label: string;
  headers: Record<string, string | string[]>;
  /** `env`: must reach the env's pods; `baseline`: must reach what it reached before the open. */
  expect: 'env' | 'baseline';
}

/** The requests every routing topology is checked with, for env `env` (another open env: `other`). */
export function requestMatrix(env: string, o: { header?: string; baggageKey?: string | null; other?: string } = {}): RequestCase[] {
  const header = o.header ?? 'x-override';
  const key = o.baggageKey === undefined ? 'override' : o.baggageKey;
  const other = o.other ?? 'pr-other';
  const cases: RequestCase[] = [
    { label: 'no header', headers: {}, expect: 'baseline' },
    { label: 'the env header', headers: { [header]: env }, expect: 'env' },
    { label: 'a list with blanks', headers: { [header]: `${other}, ${env}` }, expect: 'env' },
    { label: 'a list without blanks', headers: { [header]: `${other},${env}` }, expect: 'env' },
    { label: 'padded with tabs', headers: { [header]: `\t${env} ` }, expect: 'env' },
    { label: 'the header repeated', headers: { [header]: [other, env] }, expect: 'env' },
    { label: 'a longer look-alike', headers: { [header]: `${env}0` }, expect: 'baseline' },
    { label: 'a prefixed look-alike', headers: { [header]: `x${env}` }, expect: 'baseline' },
    { label: 'another env', headers: { [header]: other }, expect: 'baseline' },
    { label: 'an empty header', headers: { [header]: '' }, expect: 'baseline' },
  ];
  if (key !== null) {
    cases.push(
      { label: 'baggage', headers: { baggage: `${key}=${env}` }, expect: 'env' },
      { label: 'baggage among members, with properties', headers: { baggage: `userId=alice, ${key} = ${env};ttl=60, x=y` }, expect: 'env' },
      { label: 'baggage look-alike value', headers: { baggage: `${key}=${env}0` }, expect: 'baseline' },
      { label: 'baggage look-alike key', headers: { baggage: `x${key}=${env}` }, expect: 'baseline' },
    );
  }
  return cases;
}

/** Endpoints (ip:port) a request reaches, all weighted clusters together, sorted. */
export const endpointsOf = (o: RouteOutcome): string[] => [...new Set(o.clusters.flatMap((c) => c.endpoints))].sort();

export interface RouteTarget {
  /** Authority and port of the request (the Service's host). */
  request: Omit<OracleRequest, 'headers'>;
  /** Pod IPs (no port) of the env's clone behind the host. */
  envPodIps: string[];
}

/**
 * Every request of `cases`, from every caller, goes where it must: `env` requests to a cluster of the env's subset
 * whose endpoints are exactly the clone's pods; `baseline` requests to the same endpoints, through the same user
 * route, as before the open (a pinned route's `dynamic-env-baseline` cluster counts as the same when its endpoints
 * are). Returns the failures as readable lines, so one assertion shows them all.
 */
export function routingFailures(before: MeshView, after: MeshView, callers: Caller[], target: RouteTarget, cases: RequestCase[], env: string): string[] {
  const failures: string[] = [];
  for (const c of callers) {
    for (const rc of cases) {
      const req = { ...(c.request ?? target.request), headers: rc.headers };
      const was = routeRequest(before.get(c.label)!, req);
      const now = routeRequest(after.get(c.label)!, req);
      const where = `${c.label}, ${rc.label}: ${describeOutcome(now)}`;
      if (rc.expect === 'env') {
        const ips = endpointsOf(now).map((e) => e.replace(/:\d+$/, '')).sort();
        const envOk = now.kind === 'cluster' && now.clusters.length > 0 && now.clusters.every((k) => k.exists && k.subset === env) &&
          ips.length > 0 && JSON.stringify(ips) === JSON.stringify([...target.envPodIps].sort());
        if (!envOk) failures.push(`${where} — expected the env's pods [${target.envPodIps.join(', ')}]`);
      } else {
        // Istio's default route for a host without a VirtualService becomes our own VirtualService's `baseline`.
        // An unnamed route is labelled by its index, which env routes inserted before it shift.
        const sameName = was.route === now.route || (was.route?.startsWith('#') && now.route?.startsWith('#'));
        const sameRoute = was.kind === now.kind && (sameName || (was.route === 'default' && now.route === OWN_BASELINE_ROUTE));
        const sameEndpoints = JSON.stringify(endpointsOf(was)) === JSON.stringify(endpointsOf(now));
        const exists = now.clusters.every((k) => k.exists);
        if (!(sameRoute && sameEndpoints && exists)) failures.push(`${where} — expected as before the open: ${describeOutcome(was)}`);
      }
    }
  }
  return failures;
}

/** A caller that is one of the env's pods (its clone's labels), calling without a header. */
export const envPodCases: RequestCase[] = [{ label: 'no header, from the env\'s own pod', headers: {}, expect: 'env' }];

// istiod names a route merged from a delegate `<root route>-<delegate route>`.
const isEnvRoute = (r: any): boolean => typeof r.name === 'string' && /(^|-)dynamic-env\/[^/]+\//.test(r.name);

/** The default route of our own VirtualService (dynamic-env-<service>), for a host that had none. */
const OWN_BASELINE_ROUTE = 'baseline';
const isOwnBaselineRoute = (r: any): boolean => r.name === OWN_BASELINE_ROUTE &&
  /\/virtual-service\/dynamic-env-/.test(JSON.stringify(r.metadata ?? {}));

/**
 * Route configurations as a proxy had them before the open: env routes left out, the baseline pin undone, and our
 * own VirtualService's baseline route read as the default route Istio makes for a host without one (same match and
 * action; only its name and the metadata naming its VirtualService differ).
 */
function baselineRoutes(s: XdsSnapshot): unknown {
  const asBefore = (r: any) => {
    if (!isOwnBaselineRoute(r)) return r;
    const { metadata: _m, ...rest } = r;
    return { ...rest, name: 'default' };
  };
  return s.routes.map((rc: any) => ({
    ...rc,
    virtual_hosts: (rc.virtual_hosts ?? []).map((vh: any) => ({ ...vh, routes: (vh.routes ?? []).filter((r: any) => !isEnvRoute(r)).map(asBefore) })),
  })).map((rc) => JSON.parse(JSON.stringify(rc).replaceAll('|dynamic-env-baseline|', '||')));
}

const byName = (list: any[]): Map<string, string> => new Map(list.map((x) => [x.name, JSON.stringify(x)]));

/**
 * Invariants after an open, for a proxy that is not one of the env's: (1) its baseline routes, and every cluster it
 * had before with its traffic policy, are unchanged; (2) every cluster a route names exists. Returns failures.
 */
export function baselineInvariantFailures(label: string, before: XdsSnapshot, after: XdsSnapshot): string[] {
  const failures: string[] = [];
  const [routesBefore, routesAfter] = [JSON.stringify(baselineRoutes(before)), JSON.stringify(baselineRoutes(after))];
  if (routesBefore !== routesAfter) {
    failures.push(`${label}: baseline routes changed (env routes and the baseline pin aside): ${diffHint(routesBefore, routesAfter)}`);
  }
  // A cluster's metadata names the Istio object it was built from (for telemetry): ours may stand in for the user's.
  const policyOf = (clusters: any[]) => clusters.map(({ metadata: _m, ...c }: any) => c);
  const was = byName(policyOf(before.clusters));
  const now = byName(policyOf(after.clusters));
  for (const [name, json] of was) {
    if (!now.has(name)) failures.push(`${label}: cluster ${name} disappeared`);
    else if (now.get(name) !== json) failures.push(`${label}: cluster ${name} changed: ${diffHint(json, now.get(name)!)}`);
  }
  // Only what the open broke: a user route to a host without a ServiceEntry names a missing cluster before, too.
  const missingBefore = new Set(missingClusterFailures(label, before));
  failures.push(...missingClusterFailures(label, after).filter((f) => !missingBefore.has(f)));
  return failures;
}

export function missingClusterFailures(label: string, s: XdsSnapshot): string[] {
  return missingClusters(s).map((m) => `${label}: route ${m.routeConfig}/${m.virtualHost}/${m.route} names missing cluster ${m.cluster}`);
}

/** After close: every proxy's configuration is what it was before the open. */
export function restoredFailures(before: MeshView, after: MeshView): string[] {
  const failures: string[] = [];
  for (const [label, was] of before) {
    const now = after.get(label)!;
    for (const part of ['listeners', 'routes', 'clusters', 'endpoints'] as const) {
      const a = JSON.stringify(was[part]);
      const b = JSON.stringify(now[part]);
      if (a !== b) failures.push(`${label}: ${part} differ from before the open: ${diffHint(a, b)}`);
    }
  }
  return failures;
}

function diffHint(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `…${a.slice(Math.max(0, i - 80), i + 80)}… vs …${b.slice(Math.max(0, i - 80), i + 80)}…`;
}

/** One assertion with every failure listed. */
export function expectNoFailures(failures: string[]): void {
  const shown = failures.length > 12 ? [...failures.slice(0, 12), `… and ${failures.length - 12} more`] : failures;
  expect(failures.length, shown.join('\n')).toBe(0);
}

/** Pod IPs of the env's clone pods (label dynamic-env.io/env) in `ns`; of one original's clone when `deployment` is given. */
export async function envPodIps(cluster: TestCluster, ns: string, env: string, deployment?: string): Promise<string[]> {
  const pods = await cluster.list('Pod', ns, `dynamic-env.io/env=${env}`);
  return pods
    .filter((p: any) => !deployment || p.metadata.ownerReferences?.some((o: any) => o.name.startsWith(`${deployment}-${env}-`)))
    .map((p: any) => p.status?.podIP).filter(Boolean).sort();
}
