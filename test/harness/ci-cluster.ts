// The project's CI runs the action from `uses: ./` in dry-run on each pull request (.github/workflows/ci.yml). This
// gives it a cluster to plan against: the test control plane with the demo's bookinfo (src/demo/bookinfo.ts), and
// the `dynamic-env` ServiceAccount bound as deploy/rbac.yaml documents, write role in `bookinfo` included.
//   npx tsx test/harness/ci-cluster.ts   # prints `ready <kubeconfig>`, then runs until SIGTERM
// With GITHUB_ENV set (a workflow step), it also exports KUBECONFIG there, which the action falls back to.
import { appendFileSync } from 'node:fs';
import { demoSnapshot, DEMO_NAMESPACE } from '../../src/demo/bookinfo.js';
import { applyObject, type Endpoint } from './http.js';
import { startControlPlane } from './control-plane.js';

const plane = await startControlPlane();
const admin: Endpoint = { server: plane.server, ca: plane.ca, token: plane.adminToken };
// What the API server assigns itself; the snapshot carries it to look like a `kubectl get -o yaml` dump.
const asWritten = ({ status: _status, ...o }: any) => {
  const { uid: _uid, resourceVersion: _rv, generation: _g, creationTimestamp: _ct, ...metadata } = o.metadata;
  return { ...o, metadata };
};

const snapshot = demoSnapshot();
await applyObject(admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEMO_NAMESPACE } });
// Pods are only created for a ServiceAccount that exists.
for (const name of new Set(snapshot.deployments.map((d) => d.spec.template.spec.serviceAccountName).filter(Boolean))) {
  await applyObject(admin, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: DEMO_NAMESPACE } });
}
for (const o of [...snapshot.services, ...snapshot.deployments, ...snapshot.destinationRules, ...snapshot.virtualServices]) {
  await applyObject(admin, asWritten(o));
}
await applyObject(admin, {
  apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'dynamic-env-write', namespace: DEMO_NAMESPACE },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'dynamic-env-write' },
  subjects: [{ kind: 'ServiceAccount', name: 'dynamic-env', namespace: 'dynamic-env' }],
});

if (process.env.GITHUB_ENV) appendFileSync(process.env.GITHUB_ENV, `KUBECONFIG=${plane.serviceAccountKubeconfig}\n`);
process.stdout.write(`ready ${plane.serviceAccountKubeconfig}\n`);
const stop = async () => { await plane.stop(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
