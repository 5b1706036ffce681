// The bench's own control plane (test/harness/control-plane.ts: kube-apiserver, etcd, controllers, kwok, istiod)
// and every process the bench starts, tracked so that a failure or Ctrl-C stops all of them.
import { rmSync } from 'node:fs';
import { AuditTail } from './audit.mjs';

export const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
/** Epoch ms with sub-ms precision (the audit log's and the xDS probe's clock). */
export const now = () => performance.timeOrigin + performance.now();

// The harness is TypeScript: tsx (a devDependency) loads it in this process.
const { register } = await import('tsx/esm/api');
register();
export const harness = {
  ...(await import('../../test/harness/control-plane.ts')),
  ...(await import('../../test/harness/cluster.ts')),
  ...(await import('../../test/harness/mesh.ts')),
  ...(await import('../../test/harness/proxy.ts')),
  ...(await import('../../test/e2e/fixtures/engine.ts')),
};

const children = new Set();
/** Records a child process so that stopAll kills it. */
export const track = (child) => {
  children.add(child);
  child.once('close', () => children.delete(child));
};

const cleanups = [];
/** Something to undo when the bench stops (a fake GitHub server, an xDS watch). */
export const onStop = (fn) => cleanups.push(fn);

let plane;
let cluster;
let stopping;

/**
 * Starts the control plane; returns what measurements use: `cluster` (a TestCluster with admin rights), `audit`
 * (the audit log, read incrementally), `plane` (its addresses, istiod's included).
 */
export async function startPlane() {
  plane = await harness.startControlPlane();
  cluster = new harness.TestCluster({
    server: plane.server, ca: plane.ca, adminToken: plane.adminToken, adminKubeconfig: plane.adminKubeconfig,
    serviceAccountKubeconfig: plane.serviceAccountKubeconfig, auditLog: plane.auditLog, dir: plane.dir, versions: plane.versions,
    istiod: plane.istiod,
  });
  const audit = new AuditTail(plane.auditLog, (name) => harness.request(cluster.admin, 'GET', `/api/v1/namespaces/default/configmaps/${name}`));
  return { plane, cluster, audit };
}

export async function stopAll() {
  stopping ??= (async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const fn of cleanups.reverse()) await Promise.resolve().then(fn).catch(() => {});
    await plane?.stop().catch((e) => log(`stopping the control plane: ${e.message}`));
    if (cluster) rmSync(cluster.tmp, { recursive: true, force: true });
  })();
  return stopping;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping every process`);
    void stopAll().finally(() => process.exit(130));
  });
}

export const planeDir = () => plane?.dir;
