// Shapes of the objects the planner reads and writes. They are the JSON the API server speaks, narrowed to the
// fields we look at; everything else is carried through untouched (index signatures), so a clone or a
// VirtualService edit never drops a field it does not know.

import type { SidecarEvidence } from './sidecars.js';

export type Labels = Record<string, string>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Labels;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: string;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  command?: string[];
  args?: string[];
  [key: string]: unknown;
}

export interface PodTemplate {
  metadata?: { labels?: Labels; annotations?: Record<string, string>; [key: string]: unknown };
  spec: { containers: Container[]; initContainers?: Container[]; [key: string]: unknown };
}

export interface Deployment extends KubeObject {
  spec: {
    replicas?: number;
    selector: LabelSelector;
    template: PodTemplate;
    [key: string]: unknown;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    unavailableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[];
    [key: string]: unknown;
  };
}

export interface Service extends KubeObject {
  spec: { selector?: Labels; ports?: { name?: string; port: number; [key: string]: unknown }[]; [key: string]: unknown };
}

export interface Subset {
  name: string;
  labels?: Labels;
  trafficPolicy?: unknown;
  [key: string]: unknown;
}

export interface DestinationRule extends KubeObject {
  spec: { host: string; trafficPolicy?: unknown; subsets?: Subset[]; exportTo?: string[]; [key: string]: unknown };
}

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface HTTPMatchRequest {
  name?: string;
  headers?: Record<string, StringMatch>;
  sourceLabels?: Labels;
  gateways?: string[];
  [key: string]: unknown;
}

export interface Destination {
  host: string;
  subset?: string;
  port?: { number?: number };
}

export interface HTTPRouteDestination {
  destination: Destination;
  weight?: number;
  headers?: unknown;
  [key: string]: unknown;
}

export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: HTTPRouteDestination[];
  delegate?: { name: string; namespace?: string };
  headers?: { request?: HeaderOperations; response?: HeaderOperations };
  [key: string]: unknown;
}

export interface VirtualService extends KubeObject {
  spec: {
    hosts?: string[];
    gateways?: string[];
    http?: HTTPRoute[];
    exportTo?: string[];
    [key: string]: unknown;
  };
}

export interface Pod extends KubeObject {
  spec?: { nodeName?: string; [key: string]: unknown };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount?: number;
      state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; exitCode?: number } };
    }[];
    [key: string]: unknown;
  };
}

export interface KubeEvent extends KubeObject {
  involvedObject: { kind?: string; name?: string; namespace?: string };
  reason?: string;
  message?: string;
  type?: string;
  lastTimestamp?: string;
  eventTime?: string;
}

/** What the planner sees of the cluster. Read in one pass by src/kube/snapshot.ts. */
export interface Snapshot {
  deployments: Deployment[];
  services: Service[];
  destinationRules: DestinationRule[];
  virtualServices: VirtualService[];
  /** Whose pods have Istio sidecars (open reads it; a plan from a file has none, so it warns from templates only). */
  sidecars?: SidecarEvidence;
}

/** A container override; `name` absent means "the only container" (ambiguous -> error). */
export interface ContainerOverride {
  name?: string;
  image?: string;
  env?: { name: string; value: string }[];
  command?: string[];
  args?: string[];
}

export interface WorkloadSpec {
  namespace: string;
  deployment: string;
  replicas: number;
  labels: Labels;
  containers: ContainerOverride[];
}

export interface RoutingSpec {
  header: string;
  /** null turns baggage matching off. */
  baggageKey: string | null;
  versionLabel: string;
  pinUnsubsetRoutes: boolean;
  /** Pinning allowed on VirtualServices a GitOps tool re-applies (src/plan/gitops.ts); absent: false. */
  allowPinningGitOpsManaged?: boolean;
}

export interface OwnerInfo {
  repo?: string;
  pr?: number;
  commit?: string;
}

/** The validated, defaulted config the planner works from. */
export interface EnvSpec {
  name: string;
  routing: RoutingSpec;
  services: WorkloadSpec[];
  workers: WorkloadSpec[];
  gitops: { stripLabels: string[]; stripAnnotations: string[] };
  owner: OwnerInfo;
  clusterDomain: string;
  /** Istio's root namespace (MeshConfig rootNamespace): its DestinationRules apply mesh-wide as the last resort. */
  istioRootNamespace: string;
  /** ISO timestamp, injected so the planner stays pure. */
  now: string;
}

export interface ObjectRef {
  name: string;
  namespace: string;
}

/** Everything the routing edit of one env needs; applied to a fresh read of a VirtualService on every retry. */
export interface EnvRouting {
  env: string;
  routing: RoutingSpec;
  /** host FQDN -> the env's subset name for it (always the env name). */
  hosts: string[];
  clusterDomain: string;
}

export interface WorkloadPlan {
  role: 'service' | 'worker';
  namespace: string;
  deployment: string;
  clone: string;
  images: string[];
  replicas: number;
  hosts: string[];
  /** Services only: how to reach the first host (its HTTP port), for the curl example. */
  url?: string;
  destinationRules: ObjectRef[];
  virtualServices: ObjectRef[];
}

/**
 * One VirtualService that gets an env's routes (`withEnvRoutes(vs, edit, routing)`), and how mesh traffic applies
 * to it.
 */
export interface RouteEdit extends ObjectRef {
  /**
   * Whether sidecar (mesh) traffic uses this VirtualService: its `gateways` are absent or include `mesh`; for a
   * delegate (no `hosts`), whether any root VirtualService that references it does. Decides whether env routes
   * get the `sourceLabels` match block. For a VirtualService with `hosts`, its own `gateways` are used on apply.
   */
  meshApplies: boolean;
}

export interface OpenPlan {
  env: string;
  clones: Deployment[];
  destinationRules: DestinationRule[];
  /** Existing VirtualServices (user's or ours) that get this env's routes, sorted by namespace/name. */
  routeEdits: RouteEdit[];
  /** VirtualServices to create for hosts that have none (only when absent in the snapshot). */
  createVirtualServices: VirtualService[];
  routing: EnvRouting;
  workloads: WorkloadPlan[];
  warnings: string[];
}

export interface ClosePlan {
  env: string;
  /** VirtualServices that carry routes of this env (ours included). */
  routeEdits: ObjectRef[];
  destinationRules: ObjectRef[];
  clones: ObjectRef[];
}

/** A problem found while planning; planning collects all of them before failing. */
export interface PlanProblem {
  /** The object or field at fault, e.g. `VirtualService bookinfo/reviews route "v1"`. */
  subject: string;
  message: string;
  /** What the user can do about it. */
  fix?: string;
  kind: 'config' | 'cluster';
}
