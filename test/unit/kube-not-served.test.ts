// A 404 on a list is the API server saying it does not serve that group version (a list in a missing namespace
// is empty, not a 404); for Istio's networking API that names the minimum Istio. The real API server's 404 is
// exercised in test/e2e/cluster-setup.test.ts.
import { expect, test } from 'vitest';
import { ApiStatusError, explainApiError } from '../../src/kube/client.js';
import { notServedMessage } from '../../src/kube/resources.js';

const ISTIO = 'this cluster does not serve networking.istio.io/v1 VirtualServices: dynamic-env needs Istio 1.22 or later (sidecar mode) installed';

test.each([
  ['GET', '/apis/networking.istio.io/v1/virtualservices?limit=500', ISTIO],
  ['GET', '/apis/networking.istio.io/v1/destinationrules?labelSelector=a%3Db&limit=500', ISTIO.replace('VirtualServices', 'DestinationRules')],
  ['GET', '/apis/networking.istio.io/v1/namespaces/shop/virtualservices?limit=500', ISTIO],
  ['GET', '/apis/coordination.k8s.io/v1/namespaces/x/leases', 'this cluster does not serve coordination.k8s.io/v1 Leases'],
  // One object's 404 is that object missing; a create's 404 is a missing namespace; the core API is always served.
  ['GET', '/apis/networking.istio.io/v1/namespaces/shop/virtualservices/web', undefined],
  ['POST', '/apis/coordination.k8s.io/v1/namespaces/nowhere/leases', undefined],
  ['GET', '/api/v1/namespaces/shop/services', undefined],
] as const)('%s %s', (method, path, expected) => {
  expect(notServedMessage(method, path)).toBe(expected);
});

test('explainApiError turns the 404 of an unserved type into that message, exit 1', () => {
  const e = explainApiError(new ApiStatusError(404, 'NotFound', 'the server could not find the requested resource', 'GET', '/apis/networking.istio.io/v1/virtualservices?limit=500'), 'reading the cluster');
  expect(e.message).toBe(`reading the cluster: ${ISTIO}`);
  expect((e as { exitCode?: number }).exitCode).toBe(1);
});
