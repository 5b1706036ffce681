// Setting up the cluster side as the README says: deploy/rbac.yaml applies to a cluster that has never seen it,
// `dynamic-env kubeconfig` writes a working kubeconfig for the ServiceAccount without printing its token, and a
// cluster without Istio's networking.istio.io/v1 gets a message naming the minimum Istio instead of a bare 404.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ApiError, kindPath, readYaml, request, useCluster } from '../harness/cluster.js';
import { kubeconfigText } from '../harness/control-plane.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { createMesh, repoRoot, runCli } from '../harness/mesh.js';

const cluster = useCluster();
const tokenOf = (kubeconfigFile: string): string => parse(readFileSync(kubeconfigFile, 'utf8')).users[0].user.token;

/** Who the API server says a token is (SelfSubjectReview, GA since Kubernetes 1.28). */
async function whoAmI(token: string): Promise<string> {
  const res = await request({ server: cluster.info.server, ca: cluster.info.ca, token }, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview',
  });
  return res.status.userInfo.username;
}

describe('deploy/rbac.yaml on a fresh cluster', () => {
  it('creates everything in manifest order, the ServiceAccount\'s namespace first', async () => {
    // The manifest as a user applies it, with its namespace and bindings renamed so this test's copy is new to
    // the shared API server (the ClusterRoles are the same objects the harness installed).
    const fresh = `de-setup-${randomBytes(3).toString('hex')}`;
    const docs = readYaml(join(repoRoot, 'deploy', 'rbac.yaml')).filter((o) => o?.kind).map((o) => {
      const text = JSON.stringify(o).replaceAll('"namespace":"dynamic-env"', `"namespace":"${fresh}"`);
      const copy = JSON.parse(text);
      if (copy.kind === 'Namespace') copy.metadata.name = fresh;
      if (copy.kind.endsWith('Binding')) copy.metadata.name = `${fresh}-${copy.metadata.name}`;
      return copy;
    });
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ClusterRole', 'ClusterRole', 'ServiceAccount', 'ClusterRoleBinding', 'RoleBinding']);
    // Creates, in order, as `kubectl apply -f` sends them to a cluster that has none of them.
    const outcomes: string[] = [];
    for (const d of docs) {
      const path = kindPath(d.kind, d.metadata.namespace);
      try {
        await request(cluster.admin, 'POST', path, d);
        outcomes.push(`${d.kind}: created`);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        outcomes.push(`${d.kind}: ${e.status === 409 && d.kind === 'ClusterRole' ? 'created' : `${e.status} ${e.message}`}`);
      }
    }
    expect(outcomes).toEqual(docs.map((d) => `${d.kind}: created`));
    expect((await cluster.get('ServiceAccount', fresh, 'dynamic-env')).metadata.name).toBe('dynamic-env');
  });
});

describe('dynamic-env kubeconfig', () => {
  const admin = () => cluster.info.adminKubeconfig;
  const file = () => join(cluster.tmp, `sa-${randomBytes(3).toString('hex')}.kubeconfig`);

  it('writes a 0600 kubeconfig that authenticates as the ServiceAccount, and prints no token', async () => {
    const out = file();
    const r = await runCli(['kubeconfig', '--service-account', 'dynamic-env', '-n', 'dynamic-env', '--duration', '8760h', '--output', out, '--kubeconfig', admin()]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const token = tokenOf(out);
    expect(token.length).toBeGreaterThan(100);
    for (const part of [token, token.slice(0, 32), token.slice(-32)]) expect(`${r.stdout}${r.stderr}`).not.toContain(part);
    expect(r.stdout).toBe('');
    // The granted expiry is reported: this API server caps nothing, so a year from now.
    const expires = /expires (\S+?)[.;]? /.exec(r.stderr)?.[1];
    expect(r.stderr).toMatch(/^Wrote .*\(mode 0600\) for system:serviceaccount:dynamic-env:dynamic-env on https:\/\/127\.0\.0\.1:\d+: its token expires /);
    expect(Math.abs(Date.parse(expires!) - Date.now() - 8760 * 3600_000)).toBeLessThan(600_000);
    expect(await whoAmI(token)).toBe('system:serviceaccount:dynamic-env:dynamic-env');
    // And the product works with it, as the identity deploy/rbac.yaml binds (the audit log says who asked).
    const since = new Date().toISOString();
    const listed = await runCli(['list', '--output', 'json', '--kubeconfig', out]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(Array.isArray(JSON.parse(listed.stdout))).toBe(true);
    expect(cluster.audit({ username: 'system:serviceaccount:dynamic-env:dynamic-env', since }).some((e) => e.verb === 'list')).toBe(true);
  });

  it('--output - writes the kubeconfig to stdout only when asked, and the message to stderr', async () => {
    const r = await runCli(['kubeconfig', '--service-account', 'dynamic-env', '-n', 'dynamic-env', '--duration', '1h', '--output', '-', '--kubeconfig', admin()]);
    expect(r.code, r.stderr).toBe(0);
    const token = parse(r.stdout).users[0].user.token as string;
    expect(await whoAmI(token)).toBe('system:serviceaccount:dynamic-env:dynamic-env');
    expect(r.stderr).not.toContain(token.slice(0, 32));
    expect(r.stderr).toMatch(/^Wrote a kubeconfig to stdout for system:serviceaccount:dynamic-env:dynamic-env/);
  });

  it('a ServiceAccount that does not exist: exit 1, named, with what to do; no file', async () => {
    const out = file();
    const r = await runCli(['kubeconfig', '--service-account', 'nobody', '-n', 'dynamic-env', '--output', out, '--kubeconfig', admin()]);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, '', 'dynamic-env kubeconfig: ServiceAccount dynamic-env/nobody: not found; create it first: kubectl apply -f deploy/rbac.yaml\n']);
    expect(existsSync(out)).toBe(false);
  });

  it('an identity that may not issue tokens (the ServiceAccount itself): exit 1, says to run it as an admin', async () => {
    const r = await runCli(['kubeconfig', '--service-account', 'dynamic-env', '-n', 'dynamic-env', '--output', file(), '--kubeconfig', cluster.info.serviceAccountKubeconfig!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dynamic-env kubeconfig: ServiceAccount dynamic-env\/dynamic-env: your kubeconfig's identity may not issue its tokens \(create serviceaccounts\/token, .*\); run this as a cluster admin\n$/);
  });
});

describe('a cluster without networking.istio.io/v1', () => {
  // The shared API server has Istio's CRDs and other files need them, so they stay. A proxy in front of it asks
  // for networking.istio.io/v1 as a version no server serves: the 404 that comes back is the API server's own
  // answer for a group version it lacks, as a cluster without Istio (or with Istio < 1.22) gives it.
  it.each([
    ['open', (ns: string) => ['open', '--env', 'pr-1', '--namespace', ns, '--deployment', 'web-v1', '--image', 'example.com/web:pr', '--lock-namespace', ns, '--no-wait']],
    ['list', () => ['list']],
  ])('%s: exit 1, the minimum Istio named, nothing written', async (_name, args) => {
    const ns = await cluster.namespace('no-istio');
    await createMesh(cluster.admin, ns, { shared: ['web'] });
    const id = await cluster.identity([ns]);
    const proxy = await startFaultProxy({
      target: cluster.info.server, ca: cluster.info.ca, cert: cluster.info.servingCert!, key: cluster.info.servingKey!,
      rewritePath: (p) => p.replace('/apis/networking.istio.io/v1/', '/apis/networking.istio.io/v0nonexistent/'),
    });
    try {
      const token = tokenOf(id.kubeconfig);
      const kubeconfig = join(cluster.tmp, `no-istio-${randomBytes(3).toString('hex')}.kubeconfig`);
      writeFileSync(kubeconfig, kubeconfigText(proxy.url, cluster.info.ca, { token }), { mode: 0o600 });
      const r = await runCli([...args(ns), '--kubeconfig', kubeconfig]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^dynamic-env (open|list): [a-z ]+: this cluster does not serve networking\.istio\.io\/v1 (VirtualServices|DestinationRules): dynamic-env needs Istio 1\.22 or later \(sidecar mode\) installed\n$/);
      expect(cluster.writes(id.username).map((e) => `${e.verb} ${e.objectRef?.resource}`)).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });
});

describe('callers without a sidecar: the plan warns from what the pods say', () => {
  it('an original that opts out of injection gets a warning; the harness pods (no injector anywhere) get none', async () => {
    const ns = await cluster.namespace('sidecar');
    await createMesh(cluster.admin, ns, { shared: ['web', 'api'] });
    const api = await cluster.get('Deployment', ns, 'api-v1');
    api.spec.template.metadata.annotations = { 'sidecar.istio.io/inject': 'false' };
    await cluster.apply({ ...api, metadata: { name: 'api-v1', namespace: ns, labels: api.metadata.labels } });
    const id = await cluster.identity([ns]);
    const plan = async (deployment: string) => {
      const r = await runCli(['open', '--env', 'pr-1', '--namespace', ns, '--deployment', deployment, '--image', 'example.com/x:pr', '--dry-run', '--output', 'json', '--lock-namespace', ns, '--kubeconfig', id.kubeconfig]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).report.warnings ?? [];
    };
    expect(await plan('web-v1')).toEqual([]);
    expect(await plan('api-v1')).toEqual([expect.stringMatching(
      new RegExp(`^Deployment ${ns}/api-v1 opts out of sidecar injection \\(annotation sidecar\\.istio\\.io/inject: "false" on its pod template\\), so its clone runs without a sidecar: .*callers without a sidecar are load-balanced by kube-proxy onto the clone too`),
    )]);
    expect(cluster.writes(id.username)).toEqual([]);
  });
});
