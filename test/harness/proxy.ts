// Posed proxies: what istiod serves a sidecar or a gateway with given namespace and labels, read over xDS by the
// xds-probe binary (build-istio.sh), and a wait for istiod to have seen the API server's latest Istio objects and
// endpoints. Routing assertions evaluate what this returns with the route oracle (test/harness/oracle/).
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ClusterInfo } from './cluster-info.js';
import { request, type Endpoint } from './http.js';
import type { XdsSnapshot } from './oracle/route-oracle.js';

const execFileAsync = promisify(execFile);

export interface PosedProxy {
  /** `sidecar` (default) or `router`, the node type of a gateway. */
  kind?: 'sidecar' | 'router';
  namespace: string;
  labels?: Record<string, string>;
  /** Pod name; default `probe-<random>`. */
  name?: string;
  /** The proxy's IP. Default: an address no pod has, so istiod takes the workload labels from the metadata. */
  ip?: string;
}

function probeBin(info: ClusterInfo): string {
  if (!info.istiod) throw new Error('no istiod in this test cluster: routing tests need the harness control plane');
  return join(info.istiod.bin, 'xds-probe');
}

function probeArgs(info: ClusterInfo, p: PosedProxy): string[] {
  return [
    `--addr=${info.istiod!.grpcAddr}`, `--kind=${p.kind ?? 'sidecar'}`, `--namespace=${p.namespace}`,
    `--name=${p.name ?? `probe-${Math.random().toString(16).slice(2, 8)}`}`, `--labels=${JSON.stringify(p.labels ?? {})}`,
    ...(p.ip ? [`--ip=${p.ip}`] : []),
  ];
}

/** The configuration istiod serves this proxy now (after `settle`, the one for the cluster's current objects). */
export async function proxyConfig(info: ClusterInfo, proxy: PosedProxy): Promise<XdsSnapshot> {
  const { stdout } = await execFileAsync(probeBin(info), probeArgs(info, proxy), { maxBuffer: 512 << 20 });
  return JSON.parse(stdout) as XdsSnapshot;
}

export interface ProxyWatch {
  /** Every complete state the proxy held, in order, since the watch started. */
  states: (XdsSnapshot & { seq: number; time: string; type: string })[];
  stop(): Promise<void>;
}

/** Follows istiod's pushes to one proxy: a state per response, as a real proxy would hold it. */
export async function watchProxy(info: ClusterInfo, proxy: PosedProxy): Promise<ProxyWatch> {
  const child = spawn(probeBin(info), [...probeArgs(info, proxy), '--watch'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const states: ProxyWatch['states'] = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  const lines = createInterface({ input: child.stdout });
  const first = new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      states.push(JSON.parse(line));
      resolve();
    });
    child.on('exit', (code) => reject(new Error(`xds-probe --watch exited (${code}): ${stderr}`)));
  });
  await first;
  return {
    states,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.on('exit', () => resolve());
      child.stdin.end();
    }),
  };
}

const ISTIO_KINDS = [
  ['networking.istio.io', 'virtualservices'],
  ['networking.istio.io', 'destinationrules'],
  ['networking.istio.io', 'gateways'],
  ['networking.istio.io', 'serviceentries'],
  ['networking.istio.io', 'sidecars'],
] as const;

const objectKey = (kind: string, ns: string, name: string) => `${kind.toLowerCase()}/${ns}/${name}`;

/**
 * Waits until istiod's config store holds exactly the API server's Istio objects of `namespaces` (same
 * resourceVersions, deleted ones gone) and its endpoint index the ready Pod IPs of their EndpointSlices, then for one
 * debounce and push (a proxy that connects after this gets the configuration of the current objects).
 */
export async function settle(info: ClusterInfo, admin: Endpoint, namespaces: string[], timeoutMs = 30_000): Promise<void> {
  const http = `http://${info.istiod!.httpAddr}`;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const want = new Map<string, string>();
    for (const ns of namespaces) {
      for (const [group, resource] of ISTIO_KINDS) {
        const list = await request(admin, 'GET', `/apis/${group}/v1/namespaces/${ns}/${resource}`);
        for (const o of list.items) want.set(objectKey(o.kind, ns, o.metadata.name), o.metadata.resourceVersion);
      }
    }
    const configz = (await fetch(`${http}/debug/configz`).then((r) => r.json())) as any[];
    const have = new Map<string, string>();
    for (const c of configz) {
      if (!namespaces.includes(c.metadata?.namespace)) continue;
      if (!ISTIO_KINDS.some(([, r]) => r === `${String(c.kind).toLowerCase()}s`)) continue;
      have.set(objectKey(c.kind, c.metadata.namespace, c.metadata.name), c.metadata.resourceVersion);
    }
    const configDiff = [...new Set([...want.keys(), ...have.keys()])].filter((k) => want.get(k) !== have.get(k));
    const endpointDiff = await endpointLag(http, admin, namespaces);
    if (configDiff.length === 0 && endpointDiff.length === 0) break;
    last = [...configDiff, ...endpointDiff].slice(0, 5).join(', ');
    if (Date.now() > deadline) throw new Error(`istiod did not catch up with the API server within ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // istiod debounces events (PILOT_DEBOUNCE_AFTER, 100 ms) before it rebuilds the push context new proxies get.
  await new Promise((r) => setTimeout(r, 400));
}

/**
 * Services whose ready endpoint IPs differ between their ready Pods, the API server's EndpointSlices (the
 * EndpointSlice controller may still catch up with a Pod that just became ready) and istiod's endpoint index.
 */
async function endpointLag(http: string, admin: Endpoint, namespaces: string[]): Promise<string[]> {
  const shardz = (await fetch(`${http}/debug/endpointShardz`).then((r) => r.json())) as Record<string, Record<string, any>>;
  const lag: string[] = [];
  for (const ns of namespaces) {
    const slices = await request(admin, 'GET', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`);
    lag.push(...await sliceLag(admin, ns, slices.items));
    const want = new Map<string, Set<string>>();
    for (const s of slices.items) {
      const svc = s.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc) continue;
      const ips = want.get(svc) ?? new Set<string>();
      for (const e of s.endpoints ?? []) if (e.conditions?.ready !== false) for (const a of e.addresses ?? []) ips.add(a);
      want.set(svc, ips);
    }
    for (const [svc, ips] of want) {
      const host = `${svc}.${ns}.svc.cluster.local`;
      const have = new Set<string>(istiodEndpointIps(shardz[host]?.[ns]));
      const same = have.size === ips.size && [...ips].every((ip) => have.has(ip));
      if (!same) lag.push(`endpoints of ${host}: istiod [${[...have].sort()}] vs API server [${[...ips].sort()}]`);
    }
  }
  return lag;
}

/** IPs in one service's shards of istiod's endpoint index (`/debug/endpointShardz`, keyed by cluster then list). */
function istiodEndpointIps(shards: any): string[] {
  const ips: string[] = [];
  for (const list of Object.values<any>(shards?.Shards ?? {})) {
    for (const ep of list ?? []) for (const a of ep.Addresses ?? []) ips.push(a);
  }
  return ips;
}

/** Services of `ns` whose EndpointSlices do not list exactly the IPs of their ready, not terminating, Pods. */
async function sliceLag(admin: Endpoint, ns: string, slices: any[]): Promise<string[]> {
  const [services, pods] = await Promise.all([
    request(admin, 'GET', `/api/v1/namespaces/${ns}/services`).then((r) => r.items as any[]),
    request(admin, 'GET', `/api/v1/namespaces/${ns}/pods`).then((r) => r.items as any[]),
  ]);
  const lag: string[] = [];
  for (const svc of services) {
    const selector = Object.entries<string>(svc.spec.selector ?? {});
    if (selector.length === 0) continue;
    const ready = pods
      .filter((p) => !p.metadata.deletionTimestamp && selector.every(([k, v]) => p.metadata.labels?.[k] === v))
      .filter((p) => p.status?.podIP && p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))
      .map((p) => p.status.podIP as string).sort();
    const listed = slices.filter((sl) => sl.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name)
      .flatMap((sl) => (sl.endpoints ?? []).filter((e: any) => e.conditions?.ready !== false).flatMap((e: any) => e.addresses as string[])).sort();
    if (JSON.stringify(ready) !== JSON.stringify([...new Set(listed)].sort())) {
      lag.push(`EndpointSlices of ${ns}/${svc.metadata.name} [${listed}] vs its ready pods [${ready}]`);
    }
  }
  return lag;
}
