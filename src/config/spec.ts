// Config file + overrides (CLI flags / action inputs) -> the EnvSpec the planner works from, and the run options.

import * as z from 'zod';
import { usageError } from '../errors.js';
import type { ContainerOverride, EnvSpec, OwnerInfo, RoutingSpec, WorkloadSpec } from '../plan/types.js';
import { DEFAULTS } from './defaults.js';
import { errorMap, issueLines } from './issues.js';
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

export interface SpecOverrides {
  env?: string;
  /** Adds a service, or changes the image of a listed service/worker. */
  deployment?: DeploymentShorthand;
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

function toWorkloadSpec(w: WorkloadConfig): WorkloadSpec {
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
  return {
    namespace: w.namespace,
    deployment: w.deployment,
    replicas: w.replicas,
    labels: { ...w.labels },
    containers,
  };
}

/** Sets the shorthand's image on a workload: on the named container, or on the unnamed (only) one. */
function applyShorthand(w: WorkloadSpec, s: DeploymentShorthand): void {
  const target = w.containers.find((c) => c.name === s.container);
  if (target) target.image = s.image;
  else w.containers.push(s.container !== undefined ? { name: s.container, image: s.image } : { image: s.image });
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

  const services = config.services.map(toWorkloadSpec);
  const workers = config.workers.map(toWorkloadSpec);
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
      if (listed) applyShorthand(listed, s);
      else services.push(toWorkloadSpec(parsed));
    }
  }
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
