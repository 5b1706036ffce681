// A bundled, bookinfo-like cluster snapshot and config that `dynamic-env demo` plans against, with no cluster.
// Istio's bookinfo sample: productpage -> details, reviews (v1, v2, v3) -> ratings; plus a queue worker.

import type { Deployment, DestinationRule, Service, Snapshot, VirtualService } from '../plan/types.js';

export const DEMO_NAMESPACE = 'bookinfo';
const NS = DEMO_NAMESPACE;
const CREATED = '2026-01-05T09:00:00Z';

function deployment(app: string, version: string | undefined, image: string, extra: Partial<Deployment['metadata']> = {}): Deployment {
  const name = version ? `${app}-${version}` : app;
  const labels: Record<string, string> = { app, ...(version ? { version } : {}) };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: NS,
      uid: `demo-uid-${name}`,
      resourceVersion: '1201',
      generation: 3,
      creationTimestamp: CREATED,
      labels: { ...labels, 'app.kubernetes.io/instance': 'bookinfo', 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: {
        'deployment.kubernetes.io/revision': '3',
        'meta.helm.sh/release-name': 'bookinfo',
        'meta.helm.sh/release-namespace': NS,
      },
      ...extra,
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          serviceAccountName: `bookinfo-${app}`,
          containers: [
            {
              name: app,
              image,
              imagePullPolicy: 'IfNotPresent',
              ports: [{ containerPort: 9080 }],
              env: [{ name: 'LOG_DIR', value: '/tmp/logs' }],
            },
          ],
        },
      },
    },
    status: { observedGeneration: 3, replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 },
  };
}

function service(app: string): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: app, namespace: NS, labels: { app, service: app }, creationTimestamp: CREATED },
    spec: { selector: { app }, ports: [{ name: 'http', port: 9080 }] },
  };
}

function destinationRule(app: string, versions: string[], extra: Partial<DestinationRule['spec']> = {}): DestinationRule {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: app, namespace: NS, creationTimestamp: CREATED },
    spec: { host: app, subsets: versions.map((v) => ({ name: v, labels: { version: v } })), ...extra },
  };
}

function meshVirtualService(app: string, http: VirtualService['spec']['http']): VirtualService {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: app, namespace: NS, creationTimestamp: CREATED, resourceVersion: '2001' },
    spec: { hosts: [app], http },
  };
}

/** The demo cluster: a fresh copy on every call, so callers may do what they like with it. */
export function demoSnapshot(): Snapshot {
  const image = (name: string): string => `docker.io/istio/examples-bookinfo-${name}:1.20.3`;
  const tls = { tls: { mode: 'ISTIO_MUTUAL' } };
  return {
    deployments: [
      deployment('productpage', 'v1', image('productpage-v1')),
      deployment('details', 'v1', image('details-v1')),
      deployment('reviews', 'v1', image('reviews-v1')),
      deployment('reviews', 'v2', image('reviews-v2')),
      deployment('reviews', 'v3', image('reviews-v3')),
      deployment('ratings', 'v1', image('ratings-v1')),
      // A queue consumer with no Service: cloned as a worker, never routed.
      deployment('review-indexer', undefined, 'ghcr.io/acme/review-indexer:1.4.0'),
    ],
    services: ['productpage', 'details', 'reviews', 'ratings'].map(service),
    destinationRules: [
      destinationRule('productpage', ['v1']),
      destinationRule('details', ['v1', 'v2']),
      destinationRule('reviews', ['v1', 'v2', 'v3'], { trafficPolicy: tls }),
      destinationRule('ratings', ['v1']),
    ],
    virtualServices: [
      // Ingress: the gateway sends /productpage and friends to productpage, and is also bound to the mesh.
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'bookinfo', namespace: NS, creationTimestamp: CREATED, resourceVersion: '2000' },
        spec: {
          hosts: ['*'],
          gateways: ['bookinfo-gateway'],
          http: [
            {
              name: 'productpage',
              match: [
                { uri: { exact: '/productpage' } },
                { uri: { prefix: '/static' } },
                { uri: { exact: '/login' } },
                { uri: { exact: '/logout' } },
                { uri: { prefix: '/api/v1/products' } },
              ],
              route: [{ destination: { host: 'productpage', subset: 'v1', port: { number: 9080 } } }],
            },
          ],
        },
      },
      meshVirtualService('productpage', [{ name: 'default', route: [{ destination: { host: 'productpage', subset: 'v1' } }] }]),
      meshVirtualService('details', [{ name: 'default', route: [{ destination: { host: 'details', subset: 'v1' } }] }]),
      meshVirtualService('reviews', [
        {
          name: 'jason',
          match: [{ headers: { 'end-user': { exact: 'jason' } } }],
          route: [{ destination: { host: 'reviews', subset: 'v2' } }],
        },
        {
          name: 'default',
          route: [
            { destination: { host: 'reviews', subset: 'v1' }, weight: 90 },
            { destination: { host: 'reviews', subset: 'v3' }, weight: 10 },
          ],
          timeout: '10s',
        },
      ]),
      meshVirtualService('ratings', [{ name: 'default', route: [{ destination: { host: 'ratings', subset: 'v1' } }] }]),
    ],
  };
}

/** The demo config: reviews v3 with a PR image, and the indexer worker. */
export const demoConfigText = `# dynamic-env demo: open reviews (v3) with the PR's image, plus the review indexer worker.
env: pr-42
routing:
  header: x-override
  baggageKey: override
services:
  - namespace: bookinfo
    deployment: reviews-v3
    image: ghcr.io/acme/reviews:pr-42
workers:
  - namespace: bookinfo
    deployment: review-indexer
    containers:
      - image: ghcr.io/acme/review-indexer:pr-42
        env:
          - name: QUEUE
            value: reviews-pr-42
`;
