// Where each kind we touch lives in the API.

export interface ResourceType {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const type = (apiVersion: string, kind: string, plural: string, namespaced = true): ResourceType => ({ apiVersion, kind, plural, namespaced });

export const DEPLOYMENT = type('apps/v1', 'Deployment', 'deployments');
export const SERVICE = type('v1', 'Service', 'services');
export const POD = type('v1', 'Pod', 'pods');
export const ENDPOINT_SLICE = type('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices');
export const EVENT = type('v1', 'Event', 'events');
export const LEASE = type('coordination.k8s.io/v1', 'Lease', 'leases');
// v1 is Istio's storage version since 1.27 and served since 1.22; we write v1.
export const VIRTUAL_SERVICE = type('networking.istio.io/v1', 'VirtualService', 'virtualservices');
export const DESTINATION_RULE = type('networking.istio.io/v1', 'DestinationRule', 'destinationrules');

export function resourcePath(t: ResourceType, namespace?: string, name?: string): string {
  const base = t.apiVersion.includes('/') ? `/apis/${t.apiVersion}` : `/api/${t.apiVersion}`;
  const ns = t.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${t.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

/** The minimum Istio for the `networking.istio.io/v1` API this product reads and writes (served since 1.22). */
export const MIN_ISTIO = '1.22';

/**
 * Why a GET of a whole collection (a list, never one object) came back 404: the API server does not serve that
 * group and version at all. A list in a namespace that does not exist is an empty list, not a 404, so a 404 here
 * is always the type. Undefined for any other request.
 */
export function notServedMessage(method: string, path: string): string | undefined {
  if (method !== 'GET') return undefined;
  const m = /^\/apis\/([^/]+)\/([^/]+)\/(?:namespaces\/[^/]+\/)?([^/?]+)(?:\?.*)?$/.exec(path);
  if (!m) return undefined;
  const [, group, version, plural] = m;
  const known = [VIRTUAL_SERVICE, DESTINATION_RULE, DEPLOYMENT, LEASE].find((t) => t.plural === plural);
  const what = `${group}/${version} ${known ? `${known.kind}s` : plural}`;
  return group === 'networking.istio.io'
    ? `this cluster does not serve ${what}: dynamic-env needs Istio ${MIN_ISTIO} or later (sidecar mode) installed`
    : `this cluster does not serve ${what}`;
}
