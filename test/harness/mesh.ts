// What the reliability, bad-input and security suites and the benchmark share: running the CLI the way users do
// (a separate Node process on dist/cli.js), and a small mesh to run it against (Deployments, Services,
// DestinationRules with version subsets, and one VirtualService in front of several hosts).
// Works with a TestCluster (inside vitest) and with a bare admin Endpoint (the benchmark).
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyObject, kindPath, request, type Endpoint } from './http.js';

export { seededRandom } from './fault-proxy.js';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..');
/** DYNAMIC_ENV_CLI runs the suites against another build (e.g. an older commit's, to show a test catches a bug). */
export const CLI = process.env.DYNAMIC_ENV_CLI ?? join(repoRoot, 'dist', 'cli.js');

export const MANAGED = 'app.kubernetes.io/managed-by=dynamic-env';
export const ENV_LABEL = 'dynamic-env.io/env';

export interface CliResult {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time of the process, ms. */
  ms: number;
  /** Order in which processes ended, across every runCli call of this module (a global counter). */
  endOrder: number;
}

let ended = 0;

export interface RunOptions {
  kubeconfig?: string;
  env?: Record<string, string>;
  /** Kill (SIGKILL) the process after this many ms; `signal` in the result says it was killed. */
  killAfterMs?: number;
  /** Gives up (SIGKILL, then rejects) after this long; default 120 s. */
  timeoutMs?: number;
  onSpawn?: (child: ChildProcess) => void;
  cwd?: string;
}

/** Runs `node dist/cli.js ...args` with Node 24 (process.execPath inside vitest and the benchmark). */
export function runCli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  // open, close and sweep skip the drain wait unless a test asks for it: these suites measure other properties.
  const drain = ['open', 'close', 'sweep'].includes(args[0] ?? '') && !args.includes('--drain') ? ['--drain', '0s'] : [];
  // Right after the command, so a test's own last flag (e.g. a bare `--timeout`) stays last.
  const full = [...args.slice(0, 1), ...drain, ...args.slice(1), ...(opts.kubeconfig ? ['--kubeconfig', opts.kubeconfig] : [])];
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...full], {
      cwd: opts.cwd ?? repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const killer = opts.killAfterMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs) : undefined;
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dynamic-env ${full.join(' ')} did not finish in ${opts.timeoutMs ?? 120_000} ms\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      clearTimeout(limit);
      // The caller's own arguments (tests read the env name at a fixed index), without the drain flags.
      resolve({ args: full.filter((_, i) => i === 0 || i > drain.length), code, signal, stdout, stderr, ms: performance.now() - t0, endOrder: ++ended });
    });
  });
}

/** Runs `fn` over `items` with at most `limit` at a time; results in input order. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

export interface MeshOptions {
  /** Services routed through the one shared VirtualService `mesh` (two user routes each). */
  shared: string[];
  /** Services with no VirtualService at all: open creates `dynamic-env-<svc>` for them. */
  bare?: string[];
  replicas?: number;
}

export interface Mesh {
  namespace: string;
  shared: string[];
  bare: string[];
  /** The VirtualService as created (spec.http is the user's own routes). */
  virtualService: any;
}

const deployment = (ns: string, app: string, replicas: number) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `${app}-v1`, namespace: ns, labels: { app, version: 'v1' } },
  spec: {
    replicas, selector: { matchLabels: { app, version: 'v1' } },
    template: {
      metadata: { labels: { app, version: 'v1' } },
      spec: { containers: [{ name: app, image: `example.com/bookinfo/${app}:1.0.0`, ports: [{ containerPort: 9080 }], env: [{ name: 'MODE', value: 'baseline' }] }] },
    },
  },
});

/** The user's routes for one host in the shared VirtualService: a header-matched route and a default route. */
export const userRoutes = (app: string) => [
  {
    name: `${app}-jason`,
    match: [{ authority: { prefix: app }, headers: { 'end-user': { exact: 'jason' } } }],
    route: [{ destination: { host: app, subset: 'v1', port: { number: 9080 } } }],
    timeout: '3s',
    retries: { attempts: 2, perTryTimeout: '1s' },
  },
  {
    name: `${app}-default`,
    match: [{ authority: { prefix: app } }],
    route: [{ destination: { host: app, subset: 'v1' }, weight: 100 }],
  },
];

/** Creates the mesh in `ns` with admin rights. */
export async function createMesh(admin: Endpoint, ns: string, opts: MeshOptions): Promise<Mesh> {
  const replicas = opts.replicas ?? 1;
  const all = [...opts.shared, ...(opts.bare ?? [])];
  await Promise.all(all.map(async (app) => {
    await applyObject(admin, deployment(ns, app, replicas));
    await applyObject(admin, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: app, namespace: ns, labels: { app } },
      spec: { selector: { app }, ports: [{ name: 'http', port: 9080 }] },
    });
    await applyObject(admin, {
      apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: app, namespace: ns },
      spec: { host: app, trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 100 } } }, subsets: [{ name: 'v1', labels: { version: 'v1' } }] },
    });
  }));
  let virtualService: any = null;
  if (opts.shared.length) {
    virtualService = await applyObject(admin, {
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'mesh', namespace: ns },
      spec: {
        hosts: opts.shared,
        http: [
          ...opts.shared.flatMap(userRoutes),
          // A route to a host no env touches stays as it is.
          { name: 'external', match: [{ uri: { prefix: '/external' } }], route: [{ destination: { host: 'httpbin.org' } }] },
        ],
      },
    });
  }
  return { namespace: ns, shared: opts.shared, bare: opts.bare ?? [], virtualService };
}

/** A config file for an env that opens `services` (names of the mesh's apps) with a PR image. */
export function configFor(ns: string, services: string[], tag = 'pr'): string {
  return [
    'services:',
    ...services.flatMap((app) => [
      `  - namespace: ${ns}`,
      `    deployment: ${app}-v1`,
      `    image: example.com/bookinfo/${app}:${tag}`,
    ]),
    '',
  ].join('\n');
}

export interface EnvObjects {
  deployments: any[];
  destinationRules: any[];
  virtualServices: any[];
  leases: any[];
  /** Routes named dynamic-env/<env>/..., by "ns/vs". */
  routes: Map<string, string[]>;
}

/**
 * Everything of `env` (or of every env, with env undefined) that lives in `namespaces`, seen with admin rights.
 * Other test files share the cluster, so a look is always limited to the test's own namespaces.
 */
export async function envObjects(admin: Endpoint, namespaces: string[], env?: string): Promise<EnvObjects> {
  const selector = encodeURIComponent(env ? `${MANAGED},${ENV_LABEL}=${env}` : MANAGED);
  const inScope = (o: any) => namespaces.includes(o.metadata.namespace);
  const list = async (kind: string) => ((await request(admin, 'GET', `${kindPath(kind)}?labelSelector=${selector}`)).items as any[]).filter(inScope);
  const [deployments, destinationRules, ownVirtualServices, leases, allVs] = await Promise.all([
    list('Deployment'), list('DestinationRule'), list('VirtualService'), list('Lease'),
    request(admin, 'GET', kindPath('VirtualService')).then((r) => (r.items as any[]).filter(inScope)),
  ]);
  const routes = new Map<string, string[]>();
  const prefix = env ? `dynamic-env/${env}/` : 'dynamic-env/';
  for (const vs of allVs) {
    const names = (vs.spec.http ?? []).map((r: any) => r.name ?? '').filter((n: string) => n.startsWith(prefix));
    if (names.length) routes.set(`${vs.metadata.namespace}/${vs.metadata.name}`, names);
  }
  // Our own VirtualServices carry the role label but no env label.
  return { deployments, destinationRules, virtualServices: env ? [] : ownVirtualServices, leases, routes };
}

/** A one-line summary of what envObjects found, for assertion messages. */
export const describeObjects = (o: EnvObjects): string => JSON.stringify({
  deployments: o.deployments.map((d) => `${d.metadata.namespace}/${d.metadata.name}`),
  destinationRules: o.destinationRules.map((d) => `${d.metadata.namespace}/${d.metadata.name}`),
  virtualServices: o.virtualServices.map((d) => `${d.metadata.namespace}/${d.metadata.name}`),
  leases: o.leases.map((d) => `${d.metadata.namespace}/${d.metadata.name}`),
  routes: Object.fromEntries(o.routes),
});

export const isEmpty = (o: EnvObjects): boolean =>
  o.deployments.length + o.destinationRules.length + o.virtualServices.length + o.leases.length + o.routes.size === 0;

export const routeCount = (o: EnvObjects) => [...o.routes.values()].reduce((n, r) => n + r.length, 0);

/** The env names that have routes in a VirtualService, sorted. */
export function envsIn(vs: any): string[] {
  return [...new Set((vs.spec.http ?? []).map((r: any) => /^dynamic-env\/([^/]+)\//.exec(r.name ?? '')?.[1]).filter(Boolean) as string[])].sort();
}

/** The user's routes of a VirtualService: everything not named dynamic-env/... (as JSON, for byte comparison). */
export const userRoutesOf = (vs: any): string =>
  JSON.stringify((vs.spec.http ?? []).filter((r: any) => !(r.name ?? '').startsWith('dynamic-env/')));

export const getVs = (admin: Endpoint, ns: string, name: string) => request(admin, 'GET', kindPath('VirtualService', ns, name));

/** A message a person can act on: one line per problem, the command named, no stack trace, no [object Object]. */
export function isClearError(stderr: string, command: string): boolean {
  return new RegExp(`^dynamic-env ${command}: \\S`, 'm').test(stderr)
    && !/\n\s+at \S+ \(|\[object Object\]|undefined:|TypeError|ReferenceError|SyntaxError: Unexpected/.test(stderr);
}

/**
 * What is wrong with the env routes of a VirtualService, given which apps each open env has (env -> apps): before
 * every user route, exactly one route per env that has one of the route's hosts, sorted by env name, named
 * `dynamic-env/<env>/<route name>`, leading to subset <env>; nothing else. Empty when right.
 */
export function routeProblems(vs: any, open: Map<string, string[]>): string[] {
  const problems: string[] = [];
  const app = (host: string) => host.split('.')[0]!;
  let block: any[] = [];
  for (const route of vs.spec.http ?? []) {
    const name: string = route.name ?? '';
    if (name.startsWith('dynamic-env/')) {
      block.push(route);
      continue;
    }
    const apps = new Set<string>((route.route ?? []).map((d: any) => app(d.destination.host)));
    const want = [...open].filter(([, a]) => a.some((x) => apps.has(x))).map(([env]) => env).sort();
    const got = block.map((r) => r.name);
    const expected = want.map((env) => `dynamic-env/${env}/${name || route.route[0].destination.host}`);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      problems.push(`before route "${name}" of ${vs.metadata.namespace}/${vs.metadata.name}: got [${got.join(', ')}], want [${expected.join(', ')}]`);
    }
    for (const r of block) {
      const env = /^dynamic-env\/([^/]+)\//.exec(r.name)![1];
      if (r.route?.length !== 1 || r.route[0].destination.subset !== env) problems.push(`${r.name}: leads to ${JSON.stringify(r.route)}`);
    }
    block = [];
  }
  if (block.length) problems.push(`env routes after the last user route: ${block.map((r) => r.name).join(', ')}`);
  return problems;
}
