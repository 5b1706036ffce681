// A minimal HTTPS JSON client for the tests' own view of the cluster. Tests observe the cluster through this,
// not through the product's client, so a bug in src/kube cannot hide itself.
import https from 'node:https';

export interface Endpoint {
  server: string;
  ca?: string;
  token?: string;
  cert?: string;
  key?: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly body: unknown, method: string, path: string) {
    super(`${method} ${path}: ${status} ${typeof body === 'object' && body && 'message' in body ? (body as { message: string }).message : JSON.stringify(body)}`);
  }
}

export function request<T = any>(ep: Endpoint, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
  const url = new URL(path, ep.server);
  const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method,
      ca: ep.ca,
      cert: ep.cert,
      key: ep.key,
      headers: {
        ...(ep.token ? { authorization: `Bearer ${ep.token}` } : {}),
        accept: 'application/json',
        ...(payload ? { 'content-type': contentType, 'content-length': payload.length } : {}),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try { parsed = text ? JSON.parse(text) : undefined; } catch { /* plain text body */ }
        if ((res.statusCode ?? 0) >= 400) reject(new ApiError(res.statusCode ?? 0, parsed, method, path));
        else resolve(parsed as T);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
    if (payload) req.write(payload);
    req.end();
  });
}

/** Where each kind the tests touch lives in the API. */
const kinds: Record<string, { group: string; version: string; plural: string; namespaced: boolean }> = {
  Namespace: { group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  Node: { group: '', version: 'v1', plural: 'nodes', namespaced: false },
  Service: { group: '', version: 'v1', plural: 'services', namespaced: true },
  ServiceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true },
  Secret: { group: '', version: 'v1', plural: 'secrets', namespaced: true },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  Pod: { group: '', version: 'v1', plural: 'pods', namespaced: true },
  Event: { group: '', version: 'v1', plural: 'events', namespaced: true },
  Deployment: { group: 'apps', version: 'v1', plural: 'deployments', namespaced: true },
  ReplicaSet: { group: 'apps', version: 'v1', plural: 'replicasets', namespaced: true },
  Lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true },
  ClusterRole: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterrolebindings', namespaced: false },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', namespaced: true },
  RoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', namespaced: true },
  CustomResourceDefinition: { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', namespaced: false },
  VirtualService: { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', namespaced: true },
  DestinationRule: { group: 'networking.istio.io', version: 'v1', plural: 'destinationrules', namespaced: true },
  Gateway: { group: 'networking.istio.io', version: 'v1', plural: 'gateways', namespaced: true },
  ServiceEntry: { group: 'networking.istio.io', version: 'v1', plural: 'serviceentries', namespaced: true },
  ValidatingWebhookConfiguration: { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'validatingwebhookconfigurations', namespaced: false },
};

export function kindPath(kind: string, namespace?: string, name?: string): string {
  const k = kinds[kind];
  if (!k) throw new Error(`test harness does not know kind ${kind}`);
  const base = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
  const ns = k.namespaced && namespace ? `/namespaces/${namespace}` : '';
  return `${base}${ns}/${k.plural}${name ? `/${name}` : ''}`;
}

/**
 * Reads one object, lets `change` say what to write instead, and writes that with the read's resourceVersion; on a
 * 409 it reads again and retries (client-go's RetryOnConflict), because a controller may write the object (its
 * status, a Deployment's observedGeneration) between the test's read and its write.
 */
export async function editObject(ep: Endpoint, kind: string, namespace: string | undefined, name: string, change: (current: any) => any): Promise<any> {
  const path = kindPath(kind, namespace, name);
  for (let attempt = 1; ; attempt++) {
    const current = await request(ep, 'GET', path);
    const next = change(structuredClone(current));
    try {
      return await request(ep, 'PUT', path, { ...next, metadata: { ...next.metadata, resourceVersion: current.metadata.resourceVersion } });
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 409 || attempt === 10) throw e;
    }
  }
}

/** Create, or replace when it exists (tests use this for setup only). */
export async function applyObject(ep: Endpoint, obj: any): Promise<any> {
  const ns = obj.metadata?.namespace;
  try {
    return await request(ep, 'POST', kindPath(obj.kind, ns), obj);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 409) throw e;
    return editObject(ep, obj.kind, ns, obj.metadata.name, () => obj);
  }
}
