// Starts a real Kubernetes control plane on loopback: etcd, kube-apiserver (RBAC, audit log), kube-controller-manager,
// kube-scheduler and kwok as the kubelet of a few fake Nodes, with Istio's CRDs applied. Binaries come from
// build-control-plane.sh (built once from the Go module proxy, cached outside the repo).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { makeCerts, type ControlPlaneCerts } from './certs.js';
import { applyObject, request, type Endpoint } from './http.js';
import { startIstiod, type IstiodInfo } from './istiod.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');

export interface ControlPlaneInfo {
  server: string;
  caFile: string;
  ca: string;
  adminToken: string;
  adminKubeconfig: string;
  /** Kubeconfig of the `dynamic-env` ServiceAccount bound to deploy/rbac.yaml. */
  serviceAccountKubeconfig: string;
  auditLog: string;
  dir: string;
  versions: Record<string, string>;
  certs: ControlPlaneCerts;
  istiod: IstiodInfo;
}

export interface ControlPlane extends ControlPlaneInfo {
  stop(): Promise<void>;
  /**
   * Stops kube-apiserver (SIGKILL: a crash, SIGTERM: a graceful shutdown), keeps it down for `downMs`, starts it
   * again with the same flags and waits until it is ready. etcd and the other components keep running. A graceful
   * shutdown drains open watches for up to a minute; after `graceMs` (default 3 s) it is killed.
   * `restartControllers`: then restarts kube-controller-manager too. Its informers retry a lost API server with
   * client-go's backoff (up to 30 s, jittered up to twice that, per informer): traced in the restart test, Deployments
   * created just before a restart went unobserved for 1 to 2.5 minutes. A fresh one lists everything at once.
   */
  restartApiServer(opts?: { signal?: NodeJS.Signals; downMs?: number; graceMs?: number; restartControllers?: boolean }): Promise<void>;
}

const log = (msg: string) => process.stderr.write(`[control-plane] ${msg}\n`);

/** Runs the build script (a no-op when cached) and returns the bin directory. */
export function buildControlPlane(): Promise<string> {
  return runBuild('build-control-plane.sh', 'the control plane');
}

/** Builds istiod, the xDS probe and Istio's CRDs (build-istio.sh, a no-op when cached); returns the bin directory. */
export function buildIstio(): Promise<string> {
  return runBuild('build-istio.sh', 'istiod');
}

function runBuild(name: string, what: string): Promise<string> {
  const script = join(here, name);
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(out.trim().split('\n').pop()!);
      // Exit 3: no Go on PATH. The global setup matches this text to skip the tier outside CI.
      else if (code === 3) reject(new Error(`Go toolchain not found on PATH; it is needed to build ${what}`));
      else reject(new Error(`building ${what} failed (exit ${code}); see the output above`));
    });
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export function kubeconfigText(server: string, ca: string, auth: { token: string } | { cert: string; key: string }, user = 'user'): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const creds = 'token' in auth
    ? `    token: ${auth.token}`
    : `    client-certificate-data: ${b64(auth.cert)}\n    client-key-data: ${b64(auth.key)}`;
  return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(ca)}
users:
- name: ${user}
  user:
${creds}
contexts:
- name: test
  context:
    cluster: test
    user: ${user}
current-context: test
`;
}

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  # The control plane's own components are not what tests count.
  - level: None
    users: [system:kube-controller-manager, system:kube-scheduler, kwok, istiod, system:apiserver]
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz*", "/livez*"]
  - level: Metadata
`;

/**
 * Kill processes a previous run left behind (e.g. the test runner was SIGKILLed). Each control plane records its
 * children in `running.<owner pid>.<random>.pids`; only files whose owner is gone are reaped, so several control planes
 * (a test run, the benchmark, a dedicated one inside a test) can run side by side.
 */
function reapStale(cacheRoot: string): void {
  for (const file of readdirSync(cacheRoot).filter((f) => /^running(\.\d+\.[0-9a-f]+)?\.pids$/.test(f))) {
    const owner = Number(/^running\.(\d+)\./.exec(file)?.[1] ?? NaN);
    if (Number.isFinite(owner) && alive(owner)) continue;
    const pidFile = join(cacheRoot, file);
    for (const pid of readFileSync(pidFile, 'utf8').split(/\s+/).filter(Boolean).map(Number)) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (/kube-apiserver|kube-controller-manager|kube-scheduler|etcd|kwok|pilot-discovery/.test(cmd)) process.kill(pid, 'SIGKILL');
      } catch { /* gone already */ }
    }
    rmSync(pidFile, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function startControlPlane(): Promise<ControlPlane> {
  const t0 = Date.now();
  const bin = await buildControlPlane();
  const istioBin = await buildIstio();
  const cacheRoot = dirname(bin);
  reapStale(cacheRoot);
  const pidFile = join(cacheRoot, `running.${process.pid}.${randomBytes(3).toString('hex')}.pids`);
  const dir = mkdtempSync(join(tmpdir(), 'dynamic-env-cp-'));
  const certs = makeCerts(dir);
  const ca = readFileSync(certs.caCert, 'utf8');
  const tokens = {
    admin: randomBytes(24).toString('hex'),
    cm: randomBytes(24).toString('hex'),
    scheduler: randomBytes(24).toString('hex'),
    kwok: randomBytes(24).toString('hex'),
    istiod: randomBytes(24).toString('hex'),
  };
  writeFileSync(join(dir, 'tokens.csv'), [
    `${tokens.admin},admin,admin,"system:masters"`,
    `${tokens.cm},system:kube-controller-manager,cm,"system:masters"`,
    `${tokens.scheduler},system:kube-scheduler,scheduler,"system:masters"`,
    `${tokens.kwok},kwok,kwok,"system:masters"`,
    `${tokens.istiod},istiod,istiod,"system:masters"`,
  ].join('\n') + '\n', { mode: 0o600 });
  writeFileSync(join(dir, 'audit-policy.yaml'), auditPolicy);
  const auditLog = join(dir, 'audit.log');

  const [etcdPort, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  const children: ChildProcess[] = [];
  const track = (name: string, child: ChildProcess) => {
    child.on('exit', (code, signal) => {
      if (!stopping && !restarting.has(child)) log(`${name} exited early (code ${code}, signal ${signal}); its log: ${join(dir, `${name}.log`)}`);
    });
    children.push(child);
    writeFileSync(pidFile, children.map((c) => c.pid).join('\n'));
    return child;
  };
  const start = (name: string, args: string[]) => {
    const out = openSync(join(dir, `${name}.log`), 'a');
    return track(name, spawn(join(bin, name), args, { stdio: ['ignore', out, out] }));
  };
  let stopping = false;
  const restarting = new Set<ChildProcess>();
  const stop = async () => {
    stopping = true;
    await Promise.all(children.reverse().map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
      c.once('exit', () => { clearTimeout(timer); resolve(); });
      c.kill('SIGTERM');
    })));
    rmSync(pidFile, { force: true });
    if (!process.env.DYNAMIC_ENV_KEEP_CONTROL_PLANE) rmSync(dir, { recursive: true, force: true });
  };

  let apiServerArgs: string[] = [];
  let controllerManagerArgs: string[] = [];
  let restartApiServer: ControlPlane['restartApiServer'] = async () => { throw new Error('the control plane is not started'); };
  try {
    start('etcd', [
      '--name=default', `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`, `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`, '--unsafe-no-fsync', '--log-level=warn',
      '--listen-metrics-urls=',
    ]);
    start('kube-apiserver', apiServerArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
      `--cert-dir=${dir}`, `--tls-cert-file=${certs.servingCert}`, `--tls-private-key-file=${certs.servingKey}`,
      `--client-ca-file=${certs.caCert}`, `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${certs.saPub}`,
      `--service-account-signing-key-file=${certs.saKey}`, '--api-audiences=https://kubernetes.default.svc',
      '--service-cluster-ip-range=10.96.0.0/16', '--allow-privileged=true',
      `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`, `--audit-log-path=${auditLog}`,
      '--audit-log-format=json', '--audit-log-mode=blocking', '--audit-log-maxsize=0',
      // Fake Nodes must come up without the not-ready taint this plugin adds at registration (nothing lifts it:
      // the node lifecycle controller is off, kwok's heartbeats are the only kubelet).
      '--disable-admission-plugins=TaintNodesByCondition',
      '--profiling=false', '--v=0',
    ]);
    const admin: Endpoint = { server, ca, token: tokens.admin };
    const ready = () => waitFor('kube-apiserver /readyz', 90_000, async () => {
      await request(admin, 'GET', '/readyz');
      return true;
    });
    await ready();
    /** Stops a running component (`signal`, then SIGKILL after `graceMs`) without reporting it as an early exit. */
    const stopComponent = async (name: string, signal: NodeJS.Signals, graceMs: number) => {
      const old = children.find((c) => c.spawnargs[0]?.endsWith(`/${name}`) && c.exitCode === null && c.signalCode === null);
      if (!old) return;
      restarting.add(old);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => old.kill('SIGKILL'), graceMs);
        old.once('exit', () => { clearTimeout(timer); resolve(); });
        old.kill(signal);
      });
      children.splice(children.indexOf(old), 1);
    };
    restartApiServer = async ({ signal = 'SIGKILL', downMs = 0, graceMs = 3_000, restartControllers = false } = {}) => {
      await stopComponent('kube-apiserver', signal, graceMs);
      await new Promise((r) => setTimeout(r, downMs));
      start('kube-apiserver', apiServerArgs);
      await ready();
      if (restartControllers) {
        await stopComponent('kube-controller-manager', 'SIGTERM', graceMs);
        start('kube-controller-manager', controllerManagerArgs);
      }
    };
    const kc = (name: string, token: string) => {
      const path = join(dir, `${name}.kubeconfig`);
      writeFileSync(path, kubeconfigText(server, ca, { token }, name), { mode: 0o600 });
      return path;
    };
    const adminKubeconfig = kc('admin', tokens.admin);
    // client-go's default client-side limit (20 requests/s, burst 30) made the controllers, not the API server, the
    // bottleneck of every rollout after the suites' and the bench's deletes (garbage collection spends the burst):
    // 5 Deployments took 1.2-1.5 s to become Available, 0.2-0.4 s without it (BENCHMARKS.md). Control planes sized
    // for their load raise it the same way.
    start('kube-controller-manager', controllerManagerArgs = [
      `--kubeconfig=${kc('cm', tokens.cm)}`, '--leader-elect=false', '--secure-port=0',
      `--service-account-private-key-file=${certs.saKey}`, `--root-ca-file=${certs.caCert}`,
      '--controllers=*,-nodeipam,-nodelifecycle,-service-lb-controller,-cloud-node-lifecycle,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,-ephemeral-volume,-pv-protection,-pvc-protection',
      '--concurrent-deployment-syncs=10', '--concurrent-replicaset-syncs=10', '--kube-api-qps=200', '--kube-api-burst=400', '--v=0',
    ]);
    start('kube-scheduler', [`--kubeconfig=${kc('scheduler', tokens.scheduler)}`, '--leader-elect=false', '--secure-port=0', '--v=0']);
    start('kwok', [
      `--kubeconfig=${kc('kwok', tokens.kwok)}`, '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake', '--node-ip=10.0.0.1', '--cidr=10.0.0.1/16',
      '--node-lease-duration-seconds=40', '--v=-4',
    ]);

    // Istio's CRDs from the same istio.io/istio version as istiod: real schemas, CEL rules included.
    const istioRoot = dirname(istioBin);
    const crdText = readFileSync(join(istioRoot, 'istio-crds.yaml'), 'utf8');
    const crds = parseAllDocuments(crdText).map((d) => d.toJSON()).filter((o) => o?.kind === 'CustomResourceDefinition');
    await Promise.all(crds.map((crd) => applyObject(admin, crd)));
    for (let i = 0; i < 3; i++) {
      await applyObject(admin, {
        apiVersion: 'v1', kind: 'Node',
        metadata: { name: `kwok-node-${i}`, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { type: 'kwok', 'kubernetes.io/hostname': `kwok-node-${i}` } },
        spec: {},
        status: { allocatable: { cpu: '64', memory: '256Gi', pods: '250' }, capacity: { cpu: '64', memory: '256Gi', pods: '250' } },
      });
    }
    await waitFor('Istio CRDs established', 60_000, async () => {
      const list = await request(admin, 'GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
      const istio = list.items.filter((c: any) => c.spec.group.endsWith('istio.io'));
      return istio.length >= crds.length && istio.every((c: any) => c.status?.conditions?.some((k: any) => k.type === 'Established' && k.status === 'True'));
    });
    await waitFor('kwok nodes Ready', 60_000, async () => {
      const nodes = await request(admin, 'GET', '/api/v1/nodes');
      return nodes.items.length >= 3 && nodes.items.every((n: any) => !n.spec.taints?.length &&
        n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    });
    await waitFor('default ServiceAccount controller', 60_000, async () => {
      await request(admin, 'GET', '/api/v1/namespaces/default/serviceaccounts/default');
      return true;
    });

    const serviceAccountKubeconfig = await installProductRbac(admin, dir, server, ca);
    const istioVersions = JSON.parse(readFileSync(join(istioRoot, 'versions.json'), 'utf8'));
    const istiod = await startIstiod({
      bin: istioBin, dir, admin, kubeconfig: kc('istiod', tokens.istiod), ca, caCert: certs.caCert,
      servingCert: certs.servingCert, servingKey: certs.servingKey, version: istioVersions.istio,
      ports: { http: await freePort(), https: await freePort(), grpc: await freePort(), secureGrpc: await freePort(), monitoring: await freePort() },
      track: (child) => track('istiod', child),
    });
    const versions = { ...JSON.parse(readFileSync(join(cacheRoot, 'versions.json'), 'utf8')), istio: istioVersions.istio };
    log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)}s at ${server} (kubernetes ${versions.kubernetes}, etcd ${versions.etcd}, kwok ${versions.kwok}, istiod ${versions.istio})`);
    return {
      server, caFile: certs.caCert, ca, adminToken: tokens.admin, adminKubeconfig, serviceAccountKubeconfig,
      auditLog, dir, versions, certs, stop, restartApiServer, istiod: istiod.info,
    };
  } catch (e) {
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.log') && f !== 'audit.log')) {
      const text = readFileSync(join(dir, f), 'utf8');
      log(`--- last lines of ${f}:\n${text.split('\n').slice(-15).join('\n')}`);
    }
    await stop();
    throw e;
  }
}

/**
 * Applies deploy/rbac.yaml as a user would (the ServiceAccount `dynamic-env` in namespace `dynamic-env` and its
 * roles) and returns a kubeconfig holding that ServiceAccount's token.
 */
async function installProductRbac(admin: Endpoint, dir: string, server: string, ca: string): Promise<string> {
  const docs = parseAllDocuments(readFileSync(join(repoRoot, 'deploy', 'rbac.yaml'), 'utf8'))
    .map((d) => d.toJSON()).filter((o) => o && o.kind);
  // Nothing created beforehand: the manifest must bring its own namespace (test/e2e/cluster-setup.test.ts).
  for (const obj of docs) await applyObject(admin, obj);
  const token = await serviceAccountToken(admin, 'dynamic-env', 'dynamic-env');
  const path = join(dir, 'service-account.kubeconfig');
  writeFileSync(path, kubeconfigText(server, ca, { token }, 'dynamic-env'), { mode: 0o600 });
  return path;
}

export async function serviceAccountToken(admin: Endpoint, namespace: string, name: string): Promise<string> {
  const res = await request(admin, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
    spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 86_400 },
  });
  return res.status.token;
}

export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export const execFileAsync = promisify(execFile);
