// What the global setup hands to test files (serialisable).
import { KubeConfig } from '@kubernetes/client-node';
import type { IstiodInfo } from './istiod.js';

export interface ClusterInfo {
  server: string;
  ca: string;
  /** Present for our own control plane; an external cluster is reached through its kubeconfig's credentials. */
  adminToken?: string;
  adminCert?: string;
  adminKey?: string;
  adminKubeconfig: string;
  serviceAccountKubeconfig?: string;
  /** Absent on an external cluster: audit assertions need our own API server. */
  auditLog?: string;
  dir?: string;
  versions?: Record<string, string>;
  caKey?: string;
  /** The API server's serving cert and key (valid for 127.0.0.1), for the fault proxy. */
  servingCert?: string;
  servingKey?: string;
  /** istiod of the harness control plane (absent on an external cluster), and where the xds-probe binary is. */
  istiod?: IstiodInfo;
  /** Set when the tier is skipped outside CI, with the reason. */
  skipped?: string;
}

export async function externalCluster(path: string): Promise<ClusterInfo> {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`DYNAMIC_ENV_TEST_KUBECONFIG=${path}: no current cluster`);
  const opts: { ca?: unknown; cert?: unknown; key?: unknown; headers?: Record<string, string> } = {};
  await kc.applyToHTTPSOptions(opts as never);
  const bearer = opts.headers?.Authorization ?? opts.headers?.authorization;
  return {
    server: cluster.server,
    ca: opts.ca ? String(opts.ca) : '',
    adminToken: bearer?.replace(/^Bearer\s+/i, ''),
    adminCert: opts.cert ? String(opts.cert) : undefined,
    adminKey: opts.key ? String(opts.key) : undefined,
    adminKubeconfig: path,
  };
}
