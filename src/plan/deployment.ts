// The clone of a Deployment for one env (docs/DESIGN.md "Objects we own"). Pure: the original is deep-copied,
// never mutated.

import {
  COMMIT_ANNOTATION,
  ENV_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OPENED_AT_ANNOTATION,
  PR_LABEL,
  REPO_ANNOTATION,
  REPO_LABEL,
  ROLE_LABEL,
  SOURCE_ANNOTATION,
  cloneName,
  labelSafe,
} from './names.js';
import type { Container, ContainerOverride, Deployment, EnvSpec, Labels, PlanProblem, WorkloadSpec } from './types.js';

/** Server-managed metadata that must not be copied onto a new object. */
const DROPPED_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'ownerReferences',
  'selfLink',
  'generateName',
  'finalizers',
] as const;

/** Annotations that describe the original's history, never the clone's; dropped whatever the GitOps config says. */
export const ALWAYS_DROPPED_ANNOTATIONS = [
  'deployment.kubernetes.io/revision',
  'kubectl.kubernetes.io/last-applied-configuration',
] as const;

export function deepCopy<T>(value: T): T {
  return structuredClone(value);
}

/** Labels every object of an env carries (clones, DestinationRules). */
export function ownershipLabels(spec: Pick<EnvSpec, 'name' | 'owner'>): Labels {
  const labels: Labels = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [ENV_LABEL]: spec.name };
  if (spec.owner.repo) labels[REPO_LABEL] = labelSafe(spec.owner.repo);
  if (spec.owner.pr !== undefined) labels[PR_LABEL] = String(spec.owner.pr);
  return labels;
}

/** Annotations that record who opened an object; `opened-at` is kept from an existing object. */
export function ownershipAnnotations(
  spec: Pick<EnvSpec, 'owner' | 'now'>,
  existing: Record<string, string> | undefined,
): Record<string, string> {
  const annotations: Record<string, string> = {
    [OPENED_AT_ANNOTATION]: existing?.[OPENED_AT_ANNOTATION] ?? spec.now,
  };
  if (spec.owner.commit) annotations[COMMIT_ANNOTATION] = spec.owner.commit;
  if (spec.owner.repo) annotations[REPO_ANNOTATION] = spec.owner.repo;
  return annotations;
}

export const isManaged = (labels: Labels | undefined): boolean => labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;

/** Whether an object is env `env`'s own: made by dynamic-env and labelled with that env. */
export const isEnvObject = (o: { metadata: { labels?: Labels } }, env: string): boolean =>
  isManaged(o.metadata.labels) && o.metadata.labels?.[ENV_LABEL] === env;

export interface CloneResult {
  clone: Deployment;
  /** Images of the clone's containers, in container order. */
  images: string[];
  problems: PlanProblem[];
}

function withoutKeys(map: Record<string, string> | undefined, keys: Iterable<string>): Record<string, string> {
  const out: Record<string, string> = { ...(map ?? {}) };
  for (const k of keys) delete out[k];
  return out;
}

function applyOverride(container: Container, o: ContainerOverride): void {
  if (o.image !== undefined) container.image = o.image;
  if (o.env) {
    const env = container.env ? [...container.env] : [];
    for (const { name, value } of o.env) {
      const i = env.findIndex((e) => e.name === name);
      // Replace the whole entry: a `valueFrom` of the original must not survive next to our `value`.
      if (i >= 0) env[i] = { name, value };
      else env.push({ name, value });
    }
    container.env = env;
  }
  if (o.command) container.command = [...o.command];
  if (o.args) container.args = [...o.args];
}

/**
 * Builds the clone of `original` for `workload` in the env of `spec`. `existing` is the clone as it is in the
 * cluster, if any (its `opened-at` is kept). Container problems are returned, not thrown, so the caller can
 * collect every problem before failing.
 */
export function buildClone(
  original: Deployment,
  workload: WorkloadSpec,
  spec: EnvSpec,
  role: 'service' | 'worker',
  existing?: Deployment,
): CloneResult {
  const env = spec.name;
  const versionLabel = spec.routing.versionLabel;
  const subject = `Deployment ${workload.namespace}/${workload.deployment}`;
  const problems: PlanProblem[] = [];
  const src = deepCopy(original);

  // Metadata: the original's, minus server-managed fields and GitOps tracking, plus ours.
  const meta = { ...src.metadata };
  for (const k of DROPPED_METADATA) delete meta[k];
  const labels: Labels = {
    ...withoutKeys(meta.labels, spec.gitops.stripLabels),
    ...ownershipLabels(spec),
    [ROLE_LABEL]: role,
  };
  // `kubectl get deploy -l version=v3` must not list the clone.
  if (labels[versionLabel] !== undefined) labels[versionLabel] = env;
  const annotations = {
    ...withoutKeys(meta.annotations, [...spec.gitops.stripAnnotations, ...ALWAYS_DROPPED_ANNOTATIONS]),
    [SOURCE_ANNOTATION]: `${workload.namespace}/${workload.deployment}`,
    ...ownershipAnnotations(spec, existing?.metadata.annotations),
  };
  meta.name = cloneName(workload.deployment, env);
  meta.namespace = workload.namespace;
  meta.labels = labels;
  meta.annotations = annotations;

  // Selector: the original's, with the version label pinned to the env.
  const selector = { ...src.spec.selector };
  selector.matchLabels = { ...(selector.matchLabels ?? {}), [versionLabel]: env };
  if (selector.matchExpressions) {
    const rest = selector.matchExpressions.filter((e) => e.key !== versionLabel);
    if (rest.length > 0) selector.matchExpressions = rest;
    else delete selector.matchExpressions;
  }

  // Pod template: the original's, with the env's labels and the container overrides.
  const template = src.spec.template;
  template.metadata = {
    ...(template.metadata ?? {}),
    labels: { ...(template.metadata?.labels ?? {}), ...workload.labels, [versionLabel]: env, [ENV_LABEL]: env },
  };
  const containers = template.spec.containers ?? [];
  const names = containers.map((c) => c.name);
  workload.containers.forEach((o, i) => {
    let target: Container | undefined;
    if (o.name === undefined) {
      if (containers.length === 1) target = containers[0];
      else {
        problems.push({
          kind: 'config',
          subject: `${subject} container override #${i + 1}`,
          message: `the pod has ${containers.length} containers (${names.join(', ')}), so the override must name one`,
          fix: `name it: "name: <one of ${names.join(', ')}>" in the container override, --container with the CLI's shorthand, or the action's container input`,
        });
      }
    } else {
      target = containers.find((c) => c.name === o.name);
      if (!target) {
        problems.push({
          kind: 'cluster',
          subject: `${subject} container "${o.name}"`,
          message: `no such container; the pod's containers are: ${names.join(', ') || '(none)'}`,
          fix: 'use one of those names in the config',
        });
      }
    }
    if (target) applyOverride(target, o);
  });

  const clone: Deployment = {
    ...src,
    apiVersion: src.apiVersion ?? 'apps/v1',
    kind: src.kind ?? 'Deployment',
    metadata: meta,
    spec: { ...src.spec, replicas: workload.replicas, selector, template },
  };
  // A paused original (mid `kubectl rollout pause`) must not give a paused clone: the Deployment controller would
  // never create its pods and open would wait out its timeout. Absent is the API server's default (false).
  delete clone.spec.paused;
  delete clone.status;
  return { clone, images: containers.map((c) => c.image ?? ''), problems };
}
