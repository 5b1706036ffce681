// `dynamic-env kubeconfig`: a kubeconfig for dynamic-env's ServiceAccount, for the CI secret, issued with the
// caller's own kubeconfig. The token comes from the TokenRequest API (POST serviceaccounts/<name>/token): it needs
// no token controller and no Secret in the cluster, it expires when asked (the API server may cap it: the granted
// expiry is reported), and deleting the ServiceAccount revokes it. The token goes into the file only, never into a
// message.
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { clusterError, usageError } from '../errors.js';
import { ApiStatusError, explainApiError, type KubeClient } from '../kube/client.js';

export interface KubeconfigRequest {
  namespace: string;
  serviceAccount: string;
  /** Requested validity, seconds. */
  seconds: number;
  /** The API server URL to write; default: the caller's kubeconfig's. */
  server?: string;
}

export interface IssuedKubeconfig {
  /** The kubeconfig's YAML. Holds the token: write it to a 0600 file or stdout only. */
  text: string;
  username: string;
  server: string;
  expiresAt: string;
  /** Validity the API server granted, seconds (may be less than asked). */
  grantedSeconds: number;
}

/** TokenRequest's own floor (the API server refuses less than 10 minutes). */
export const MIN_TOKEN_SECONDS = 600;

export async function issueKubeconfig(client: KubeClient, req: KubeconfigRequest): Promise<IssuedKubeconfig> {
  const subject = `ServiceAccount ${req.namespace}/${req.serviceAccount}`;
  let status: { token: string; expirationTimestamp: string };
  try {
    const res = await client.request<{ status: { token: string; expirationTimestamp: string } }>(
      'POST',
      `/api/v1/namespaces/${encodeURIComponent(req.namespace)}/serviceaccounts/${encodeURIComponent(req.serviceAccount)}/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: req.seconds } },
    );
    status = res.status;
  } catch (e) {
    if (e instanceof ApiStatusError && e.code === 404) {
      throw clusterError(`${subject}: not found; create it first: kubectl apply -f deploy/rbac.yaml`, e);
    }
    if (e instanceof ApiStatusError && e.code === 403) {
      throw clusterError(`${subject}: your kubeconfig's identity may not issue its tokens (create serviceaccounts/token, ${e.apiMessage}); run this as a cluster admin`, e);
    }
    throw explainApiError(e, `issuing a token for ${subject}`);
  }
  const cluster = client.cluster;
  const server = req.server ?? cluster.server;
  const caData = cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString('base64') : undefined);
  const user = `${req.namespace}-${req.serviceAccount}`;
  const text = stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{
      name: cluster.name,
      cluster: {
        server,
        ...(caData ? { 'certificate-authority-data': caData } : {}),
        ...(cluster.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}),
        ...(cluster.tlsServerName ? { 'tls-server-name': cluster.tlsServerName } : {}),
        ...(cluster.proxyUrl ? { 'proxy-url': cluster.proxyUrl } : {}),
      },
    }],
    users: [{ name: user, user: { token: status.token } }],
    contexts: [{ name: 'dynamic-env', context: { cluster: cluster.name, user, namespace: req.namespace } }],
    'current-context': 'dynamic-env',
  });
  const grantedSeconds = Math.round((Date.parse(status.expirationTimestamp) - Date.now()) / 1000);
  return {
    text,
    username: `system:serviceaccount:${req.namespace}:${req.serviceAccount}`,
    server,
    expiresAt: status.expirationTimestamp,
    grantedSeconds,
  };
}

/** `--server`: an https URL (a kubeconfig for CI runners outside the cluster's network names its public endpoint). */
export function checkServerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usageError(`--server "${value}": not a URL; give the API server's, e.g. https://k8s.example.com:6443`);
  }
  if (url.protocol !== 'https:') throw usageError(`--server "${value}": must be an https:// URL (the token must not cross the network in clear)`);
  return value.replace(/\/+$/, '');
}
