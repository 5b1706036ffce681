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
