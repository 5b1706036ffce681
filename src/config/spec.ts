// Config file + overrides (CLI flags / action inputs) -> the EnvSpec the planner works from, and the run options.

import * as z from 'zod';
import { usageError } from '../errors.js';
import type { ContainerOverride, EnvSpec, OwnerInfo, RoutingSpec, WorkloadSpec } from '../plan/types.js';
import { DEFAULTS } from './defaults.js';
import { errorMap, issueLines } from './issues.js';
import { fillImage, imageReferenceProblem, placeholderValues, type ImageLine, type Placeholder } from './images.js';
import {
  baggageKeySchema,
  envNameSchema,
  headerSchema,
  timeoutSchema,
  timeoutSeconds,
  workloadSchema,
  type ConfigFile,
  type WorkloadConfig,
} from './schema.js';

export { DEFAULTS, DEFAULT_STRIP_ANNOTATIONS, DEFAULT_STRIP_LABELS } from './defaults.js';

/** The one-Deployment shorthand (`--namespace/--deployment/--image`, action inputs of the same names). */
export interface DeploymentShorthand {
  namespace: string;
  deployment: string;
  container?: string;
  image: string;
}

/** Where the images of a run come from beyond the config file, and what fills in their placeholders. */
export interface ImageOverrides {
  /** `images` lines, applied after the config file and the shorthand. */
  lines?: ImageLine[];
  /** Placeholder values beyond `{env}`; `sha` and `pr` default to the owner's commit and PR. */
  sha?: string;
  pr?: number;
  branch?: string;
  /**
   * What gives each placeholder its value, for the message when an image uses one this run has none for:
   * `--commit SHA`, `a pull_request event`.
   */
  givenBy?: Partial<Record<Exclude<Placeholder, 'env'>, string>>;
  /** How messages name the shorthand's image: `--image`, `input "image"` (default `deployment.image`). */
  shorthandField?: string;
}

export interface SpecOverrides {
  env?: string;
  /** Adds a service, or changes the image of a listed service/worker. */
  deployment?: DeploymentShorthand;
  images?: ImageOverrides;
  owner?: OwnerInfo;
  /** ISO timestamp; default: the current time. */
  now?: string;
  routing?: { header?: string; baggageKey?: string | false | null };
}

export interface RunOptions {
  lockNamespace: string;
  wait: boolean;
  timeoutSeconds: number;
}

/** Validates one override value; returns it parsed, or records `<label>...: <message>` lines in `problems`. */
function check<T extends z.ZodType>(schema: T, value: unknown, label: string, problems: string[]): z.output<T> | undefined {
  const r = schema.safeParse(value, { error: errorMap });
  if (r.success) return r.data;
  problems.push(...issueLines(schema, r.error.issues, label));
  return undefined;
}

/** The config path (`services[1].image`) or input (`--images "web=..."`) each image came from, for messages. */
type ImageFields = Map<ContainerOverride, string>;

function toWorkloadSpec(w: WorkloadConfig, at: string, fields: ImageFields): WorkloadSpec {
  const containers: ContainerOverride[] =
    w.image !== undefined
      ? [{ image: w.image }]
      : (w.containers ?? []).map((c) => {
          const o: ContainerOverride = {};
          if (c.name !== undefined) o.name = c.name;
          if (c.image !== undefined) o.image = c.image;
          if (c.env !== undefined) o.env = c.env.map((e) => ({ name: e.name, value: e.value }));
          if (c.command !== undefined) o.command = [...c.command];
          if (c.args !== undefined) o.args = [...c.args];
          return o;
        });
  if (w.image !== undefined) fields.set(containers[0]!, `${at}.image`);
  else containers.forEach((c, i) => fields.set(c, `${at}.containers[${i}].image`));
  return {
    namespace: w.namespace,
    deployment: w.deployment,
    replicas: w.replicas,
    labels: { ...w.labels },
    containers,
  };
}

/**
 * Sets `image` on a workload's container: the named one (added when the config has no override for it), else the
 * unnamed (only) one, else the one override that sets an image. Returns a problem when no container is named and
 * the config's overrides leave it open which one is meant.
 */
function setImage(w: WorkloadSpec, container: string | undefined, image: string, field: string, fields: ImageFields): string | null {
  const withImage = w.containers.filter((c) => c.image !== undefined);
  let target: ContainerOverride | undefined;
  if (container !== undefined) target = w.containers.find((c) => c.name === container);
  else target = w.containers.find((c) => c.name === undefined) ?? (withImage.length === 1 ? withImage[0] : undefined);
  if (!target && container === undefined && w.containers.length > 0) {
    const names = w.containers.map((c) => c.name).join(', ');
    return `${field}: ${w.namespace}/${w.deployment} has overrides for containers ${names}; name the container whose image to set`;
  }
  if (!target) {
    target = container !== undefined ? { name: container } : {};
    w.containers.push(target);
  }
  target.image = image;
  fields.set(target, field);
  return null;
}

/** A workload for an `images` line that names a Deployment the config does not list: a new service. */
function addedService(namespace: string, line: ImageLine, fields: ImageFields): WorkloadSpec {
  const container: ContainerOverride = line.container !== undefined ? { name: line.container, image: line.image } : { image: line.image };
  fields.set(container, line.source);
  return { namespace, deployment: line.deployment, replicas: DEFAULTS.replicas, labels: {}, containers: [container] };
}

/**
 * Applies `images` lines: a line sets the image of the listed service or worker it names, or adds a service. A
 * line without a namespace names the one listed Deployment of that name; one the config does not list is added in
 * the config's namespace when the config (and shorthand) use exactly one, otherwise the line must name it.
 */
function applyImageLines(services: WorkloadSpec[], workers: WorkloadSpec[], lines: readonly ImageLine[], fields: ImageFields, problems: string[]): void {
  const namespaces = [...new Set([...services, ...workers].map((w) => w.namespace))];
  for (const line of lines) {
    const listed = [...services, ...workers].filter((w) => w.deployment === line.deployment && (line.namespace === undefined || w.namespace === line.namespace));
    if (listed.length > 1) {
      problems.push(`${line.source}: Deployment ${line.deployment} is listed in namespaces ${listed.map((w) => w.namespace).join(', ')}; name the namespace: <namespace>/${line.deployment}=<image>`);
      continue;
    }
    if (listed.length === 1) {
      const problem = setImage(listed[0]!, line.container, line.image, line.source, fields);
      if (problem) problems.push(`${problem}: <namespace>/<deployment>/<container>=<image>`);
      continue;
    }
    const namespace = line.namespace ?? (namespaces.length === 1 ? namespaces[0] : undefined);
    if (namespace === undefined) {
      problems.push(
        `${line.source}: Deployment ${line.deployment} is not listed in the config, and ${namespaces.length === 0 ? 'nothing names a namespace' : `the config uses several namespaces (${namespaces.join(', ')})`}; ` +
          `name its namespace to add it as a service: <namespace>/${line.deployment}=<image>`,
      );
      continue;
    }
    services.push(addedService(namespace, line, fields));
  }
}

/** Every image with its placeholders filled in, each checked as a reference; problems name the image's field. */
function fillImages(workloads: WorkloadSpec[], env: string, images: ImageOverrides, owner: OwnerInfo | undefined, fields: ImageFields, problems: string[]): void {
  const sha = images.sha ?? owner?.commit;
  const pr = images.pr ?? owner?.pr;
  const values = placeholderValues({ env, ...(sha ? { sha } : {}), ...(pr !== undefined ? { pr } : {}), ...(images.branch ? { branch: images.branch } : {}) });
  const givenBy = (p: Placeholder): string => (p === 'env' ? 'the env name' : images.givenBy?.[p === 'short-sha' ? 'sha' : p] ?? `a value for {${p}}`);
  for (const w of workloads) {
    for (const c of w.containers) {
      if (c.image === undefined) continue;
      const field = fields.get(c) ?? `${w.namespace}/${w.deployment} image`;
      const filled = fillImage(c.image, values);
      if ('missing' in filled) {
        problems.push(`${field}: ${filled.missing.map((p) => `{${p}}`).join(', ')} has no value in this run; ${filled.missing.map((p) => `${givenBy(p)} gives {${p}}`).join(', ')}, or take the placeholder out of ${JSON.stringify(c.image)}`);
        continue;
      }
      const problem = filled.image !== c.image ? imageReferenceProblem(filled.image) : null;
      if (problem) {
        problems.push(`${field}: with its placeholders filled in, image ${problem}; change the image template ${JSON.stringify(c.image)}`);
        continue;
      }
      c.image = filled.image;
    }
  }
}

/**
 * The EnvSpec for a validated config file plus overrides. Overrides win: `env`, routing header/baggage key, and
 * the one-Deployment shorthand, which adds a service or sets the image of a listed service/worker. Throws a usage
 * error naming every problem (no env name anywhere, invalid overrides, nothing to open).
 */
export function resolveEnvSpec(config: ConfigFile, overrides: SpecOverrides = {}): EnvSpec {
  const problems: string[] = [];

  const rawEnv = overrides.env ?? config.env;
  let name: string | undefined;
  if (rawEnv === undefined || rawEnv === '') {
    problems.push('env: no env name given; set "env" in the config file or pass one (--env / the env-name input), e.g. pr-42');
  } else {
    name = check(envNameSchema, rawEnv, 'env', problems);
  }

  const routing: RoutingSpec = {
    header: config.routing?.header ?? DEFAULTS.routing.header,
    baggageKey: null,
    versionLabel: config.routing?.versionLabel ?? DEFAULTS.routing.versionLabel,
    pinUnsubsetRoutes: config.routing?.pinUnsubsetRoutes ?? DEFAULTS.routing.pinUnsubsetRoutes,
    allowPinningGitOpsManaged: config.routing?.allowPinningGitOpsManaged ?? DEFAULTS.routing.allowPinningGitOpsManaged,
  };
  let baggageKey: string | false = config.routing?.baggageKey ?? DEFAULTS.routing.baggageKey;
  if (overrides.routing?.header !== undefined) {
    routing.header = check(headerSchema, overrides.routing.header, 'header', problems) ?? routing.header;
  }
  if (overrides.routing?.baggageKey !== undefined) {
    const v = overrides.routing.baggageKey;
    baggageKey = v === null || v === false ? false : (check(baggageKeySchema, v, 'baggageKey', problems) ?? baggageKey);
  }
  routing.baggageKey = baggageKey === false ? null : baggageKey;

  const fields: ImageFields = new Map();
  const services = config.services.map((w, i) => toWorkloadSpec(w, `services[${i}]`, fields));
  const workers = config.workers.map((w, i) => toWorkloadSpec(w, `workers[${i}]`, fields));
  if (overrides.deployment) {
    const s = overrides.deployment;
    const parsed = check(
      workloadSchema,
      {
        namespace: s.namespace,
        deployment: s.deployment,
        containers: [s.container !== undefined ? { name: s.container, image: s.image } : { image: s.image }],
      },
      'deployment',
      problems,
    );
    if (parsed) {
      const listed = [...services, ...workers].find((w) => w.namespace === s.namespace && w.deployment === s.deployment);
      const field = overrides.images?.shorthandField ?? 'deployment.image';
      if (!listed) services.push(toWorkloadSpec(parsed, 'deployment', fields));
      const target = listed ?? services[services.length - 1]!;
      const problem = setImage(target, s.container, s.image, field, fields);
      if (problem) problems.push(problem);
    }
  }
  applyImageLines(services, workers, overrides.images?.lines ?? [], fields, problems);
  if (name !== undefined) fillImages([...services, ...workers], name, overrides.images ?? {}, overrides.owner, fields, problems);
  if (services.length + workers.length === 0) {
    problems.push('services: nothing to open; list a Deployment under services or workers, or pass the deployment shorthand');
  }

  if (problems.length > 0 || name === undefined) throw usageError(problems);

  const owner: OwnerInfo = {};
  if (overrides.owner?.repo !== undefined) owner.repo = overrides.owner.repo;
  if (overrides.owner?.pr !== undefined) owner.pr = overrides.owner.pr;
  if (overrides.owner?.commit !== undefined) owner.commit = overrides.owner.commit;

  return {
    name,
    routing,
    services,
    workers,
    gitops: {
      stripLabels: [...(config.gitops?.stripLabels ?? DEFAULTS.gitops.stripLabels)],
      stripAnnotations: [...(config.gitops?.stripAnnotations ?? DEFAULTS.gitops.stripAnnotations)],
    },
    owner,
    clusterDomain: config.clusterDomain ?? DEFAULTS.clusterDomain,
    istioRootNamespace: config.istioRootNamespace ?? DEFAULTS.istioRootNamespace,
    now: overrides.now ?? new Date().toISOString(),
  };
}

/**
 * Lock namespace, wait and timeout: overrides (flags / inputs) win over the config file, which wins over the
 * defaults. `timeout` may be a duration string or seconds.
 */
export function resolveRunOptions(
  config: Partial<Pick<ConfigFile, 'lockNamespace' | 'wait' | 'timeout'>> = {},
  overrides: { lockNamespace?: string; wait?: boolean; timeout?: string | number; timeoutSeconds?: number } = {},
): RunOptions {
  const problems: string[] = [];
  let seconds: number = DEFAULTS.timeoutSeconds;
  const raw = overrides.timeoutSeconds ?? overrides.timeout ?? config.timeout;
  if (raw !== undefined) {
    const parsed = check(timeoutSchema, raw, 'timeout', problems);
    if (parsed !== undefined) {
      const s = timeoutSeconds(parsed);
      if (typeof s === 'number') seconds = s;
    }
  }
  if (problems.length > 0) throw usageError(problems);
  return {
    lockNamespace: overrides.lockNamespace ?? config.lockNamespace ?? DEFAULTS.lockNamespace,
    wait: overrides.wait ?? config.wait ?? DEFAULTS.wait,
    timeoutSeconds: seconds,
  };
}
