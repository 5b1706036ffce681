// Small builders for cluster objects as the planner sees them: used by the bundled demo snapshot and by tests.

import { DEFAULTS } from '../config/defaults.js';
import type {
  Deployment,
  DestinationRule,
  EnvSpec,
  HTTPRoute,
  Labels,
  Service,
  Snapshot,
  VirtualService,
  WorkloadSpec,
} from '../plan/types.js';

export const CREATED = '2026-01-05T09:00:00Z';

export interface DeploymentOptions {
  namespace?: string;
  /** Pod template (and selector) labels; default `{app: <name>}`. */
  labels?: Labels;
  /** Extra labels on the Deployment's own metadata. */
  metaLabels?: Labels;
  annotations?: Record<string, string>;
  containers?: { name: string; image: string; env?: { name: string; value?: string; valueFrom?: unknown }[]; [k: string]: unknown }[];
  replicas?: number;
  /** `spec.paused` (a `kubectl rollout pause`d Deployment). */
  paused?: boolean;
}

export function deployment(name: string, o: DeploymentOptions = {}): Deployment {
  const namespace = o.namespace ?? 'default';
  const labels = o.labels ?? { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace,
      uid: `uid-${namespace}-${name}`,
      resourceVersion: '100',
      generation: 2,
      creationTimestamp: CREATED,
      labels: { ...labels, ...(o.metaLabels ?? {}) },
      annotations: { 'deployment.kubernetes.io/revision': '2', ...(o.annotations ?? {}) },
      managedFields: [{ manager: 'kubectl', operation: 'Update' }],
    },
    spec: {
      replicas: o.replicas ?? 2,
      ...(o.paused !== undefined ? { paused: o.paused } : {}),
      selector: { matchLabels: { ...labels } },
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          containers: (o.containers ?? [{ name, image: `example.com/${name}:1.0.0` }]).map((c) => structuredClone(c)),
        },
      },
    },
    status: { observedGeneration: 2, replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 },
  };
}

export function service(name: string, selector: Labels | undefined, namespace = 'default'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, creationTimestamp: CREATED },
    spec: { ...(selector ? { selector } : {}), ports: [{ name: 'http', port: 9080 }] },
  };
}

export function destinationRule(
  name: string,
  host: string,
  subsets: Record<string, Labels>,
  o: { namespace?: string; trafficPolicy?: unknown; creationTimestamp?: string; exportTo?: string[]; workloadSelector?: Labels } = {},
): DestinationRule {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name, namespace: o.namespace ?? 'default', creationTimestamp: o.creationTimestamp ?? CREATED },
    spec: {
      host,
      ...(o.exportTo !== undefined ? { exportTo: o.exportTo } : {}),
      ...(o.workloadSelector !== undefined ? { workloadSelector: { matchLabels: o.workloadSelector } } : {}),
      ...(o.trafficPolicy !== undefined ? { trafficPolicy: o.trafficPolicy } : {}),
      subsets: Object.entries(subsets).map(([n, labels]) => ({ name: n, labels })),
    },
  };
}

export function virtualService(
  name: string,
  http: HTTPRoute[],
  o: { namespace?: string; hosts?: string[] | null; gateways?: string[]; extra?: Record<string, unknown> } = {},
): VirtualService {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: o.namespace ?? 'default', creationTimestamp: CREATED, resourceVersion: '7' },
    spec: {
      ...(o.hosts === null ? {} : { hosts: o.hosts ?? [name] }),
      ...(o.gateways ? { gateways: o.gateways } : {}),
      http,
      ...(o.extra ?? {}),
    },
  };
}

export function snapshot(parts: Partial<Snapshot> = {}): Snapshot {
  return {
    deployments: parts.deployments ?? [],
    services: parts.services ?? [],
    destinationRules: parts.destinationRules ?? [],
    virtualServices: parts.virtualServices ?? [],
  };
}

export function workload(namespace: string, deploymentName: string, o: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return { namespace, deployment: deploymentName, replicas: o.replicas ?? 1, labels: o.labels ?? {}, containers: o.containers ?? [] };
}

/** An EnvSpec with the config defaults. */
export function envSpec(name: string, o: Partial<Omit<EnvSpec, 'routing'>> & { routing?: Partial<EnvSpec['routing']> } = {}): EnvSpec {
  const baggageKey = DEFAULTS.routing.baggageKey;
  return {
    name,
    services: o.services ?? [],
    workers: o.workers ?? [],
    gitops: o.gitops ?? {
      stripLabels: [...DEFAULTS.gitops.stripLabels],
      stripAnnotations: [...DEFAULTS.gitops.stripAnnotations],
    },
    owner: o.owner ?? {},
    clusterDomain: o.clusterDomain ?? DEFAULTS.clusterDomain,
    istioRootNamespace: o.istioRootNamespace ?? DEFAULTS.istioRootNamespace,
    now: o.now ?? '2026-02-01T00:00:00.000Z',
    routing: {
      header: DEFAULTS.routing.header,
      baggageKey: baggageKey === false ? null : baggageKey,
      versionLabel: DEFAULTS.routing.versionLabel,
      pinUnsubsetRoutes: DEFAULTS.routing.pinUnsubsetRoutes,
      ...(o.routing ?? {}),
    },
  };
}
