// Vitest global setup for the e2e tier: one control plane for the whole run, stopped at the end even when tests
// fail. DYNAMIC_ENV_TEST_KUBECONFIG=path runs the same tests against a cluster of your own instead.
import type { TestProject } from 'vitest/node';
import { readFileSync } from 'node:fs';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { externalCluster, type ClusterInfo } from './cluster-info.js';

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterInfo;
  }
}

let plane: ControlPlane | undefined;

export async function setup(project: TestProject): Promise<void> {
  const external = process.env.DYNAMIC_ENV_TEST_KUBECONFIG;
  if (external) {
    project.provide('cluster', await externalCluster(external));
    return;
  }
  try {
    plane = await startControlPlane();
  } catch (e) {
    // Outside CI a machine without Go may skip the tier, saying why. In CI it must fail loudly.
    if (process.env.CI !== 'true' && /Go toolchain not found/.test(String(e))) {
      process.stderr.write(`\n[e2e] SKIPPED: ${String(e)}\n[e2e] Install Go >= 1.26 or set DYNAMIC_ENV_TEST_KUBECONFIG to run the end-to-end tier.\n\n`);
      project.provide('cluster', { skipped: String(e) } as ClusterInfo);
      return;
    }
    throw e;
  }
  project.provide('cluster', {
    server: plane.server,
    ca: plane.ca,
    adminToken: plane.adminToken,
    adminKubeconfig: plane.adminKubeconfig,
    serviceAccountKubeconfig: plane.serviceAccountKubeconfig,
    auditLog: plane.auditLog,
    dir: plane.dir,
    versions: plane.versions,
    istiod: plane.istiod,
    caKey: readFileSync(plane.certs.caKey, 'utf8'),
    servingCert: readFileSync(plane.certs.servingCert, 'utf8'),
    servingKey: readFileSync(plane.certs.servingKey, 'utf8'),
  });
}

export async function teardown(): Promise<void> {
  await plane?.stop();
}
