// status, list and sweep: what the cluster says about environments, from labels and route names alone.
import { ENV_LABEL, OPENED_AT_ANNOTATION, isRouteOf, PR_LABEL, REPO_ANNOTATION, ROLE_LABEL, UPDATED_AT_ANNOTATION } from '../plan/names.js';
import { formatDuration, type TtlFrom } from '../config/inputs.js';
import { envsOf } from '../plan/virtual-service.js';
import { closeEditByState, findOrphans, type Orphan } from '../plan/close.js';
import { recordedLockNamespaces } from '../plan/ownership.js';
import { editVirtualService } from '../kube/apply.js';
import type { Deployment, DestinationRule, OwnerInfo, VirtualService } from '../plan/types.js';
import type { RunOptions } from '../config/spec.js';
import type { EnvReport } from '../report/model.js';
import { explainApiError, type KubeClient } from '../kube/client.js';
import { DEPLOYMENT, DESTINATION_RULE, VIRTUAL_SERVICE } from '../kube/resources.js';
import { managedSelector, readCloseSnapshot } from '../kube/snapshot.js';
import { assessRollout, readEnvPods, readWarningEvents } from '../kube/rollout.js';
import { closeEnv, clusterDomainOf } from './close.js';
import { reportFromCluster } from './report.js';

export async function envStatus(client: KubeClient, env: string): Promise<EnvReport> {
  // Each kind is listed once: a second consistent list of a kind moments after the first waits for the API server's
  // watch cache (docs/DESIGN.md "Concurrency"). Every DestinationRule is read (orphans break baseline traffic
  // whichever env left them: every one in the cluster is shown), and the env's own are picked from them.
  const [{ snapshot, rules }, pods] = await Promise.all([
    readCloseSnapshot(client, env),
    readEnvPods(client, env).catch((e) => { throw explainApiError(e, `reading env ${env}`); }),
  ]);
  const namespaces = [...new Set(snapshot.deployments.map((d) => d.metadata.namespace ?? ''))];
  const events = await readWarningEvents(client, namespaces);
  const clusterDomain = clusterDomainOf(snapshot);
  const report = reportFromCluster(env, snapshot, { deployments: snapshot.deployments, pods, events }, clusterDomain);
  const orphans = findOrphans(snapshot.virtualServices, rules, clusterDomain).map((o) => o.message);
  return orphans.length ? { ...report, warnings: [...(report.warnings ?? []), ...orphans] } : report;
}

/** Every DestinationRule and VirtualService, and the orphans among them (src/plan/close.ts findOrphans). */
async function readOrphans(client: KubeClient): Promise<{ orphans: Orphan[]; rules: DestinationRule[]; services: VirtualService[]; clusterDomain: string }> {
  try {
    const [rules, services] = await Promise.all([
      client.list<DestinationRule>(DESTINATION_RULE).then((r) => r.items),
      client.list<VirtualService>(VIRTUAL_SERVICE).then((r) => r.items),
    ]);
    const clusterDomain = clusterDomainOf({ deployments: [], services: [], virtualServices: [], destinationRules: rules.filter((r) => r.metadata.labels?.[ENV_LABEL]) });
    return { orphans: findOrphans(services, rules, clusterDomain), rules, services, clusterDomain };
  } catch (e) {
    throw explainApiError(e, 'looking for orphaned routes');
  }
}

/** Routes pinned to a baseline subset nobody defines, and our own VirtualServices no env needs. */
export async function listOrphans(client: KubeClient): Promise<Orphan[]> {
  return (await readOrphans(client)).orphans;
}

/**
 * Removes every orphan (un-pins, deletes our unused VirtualServices) with the same pure edit close uses; an env
 * that appeared since the read keeps the pins of its hosts. Returns the orphans found (fixed unless `dryRun`).
 */
export async function sweepOrphans(client: KubeClient, o: { dryRun?: boolean; log?: (line: string) => void } = {}): Promise<Orphan[]> {
  const { orphans, rules, services, clusterDomain } = await readOrphans(client);
  const knownEnvs = new Set<string>([...services.flatMap(envsOf), ...rules.map((r) => r.metadata.labels?.[ENV_LABEL]).filter((x): x is string => !!x)]);
  for (const orphan of orphans) {
    o.log?.(`${o.dryRun ? 'would fix' : 'fixing'}: ${orphan.message}`);
    if (o.dryRun) continue;
    const vs = services.find((v) => (v.metadata.namespace ?? '') === orphan.namespace && v.metadata.name === orphan.name);
    // No env is removed here: the edit only un-pins and deletes what no rule backs.
    await editVirtualService(client, { namespace: orphan.namespace, name: orphan.name }, closeEditByState('', rules, clusterDomain, knownEnvs), vs);
  }
  return orphans;
}

export interface EnvSummary {
  env: string;
  repo: string | null;
  pr: number | null;
  openedAt: string | null;
  /** The last open that changed the env (a push); envs opened before it was recorded: when each clone was opened. */
  updatedAt: string | null;
  services: number;
  workers: number;
  /** From the clones' Deployment status alone (no per-pod detail). */
  state: EnvReport['state'];
  /** Routes found in VirtualServices, for envs whose clones are already gone (a half-closed env). */
  routes: number;
  /**
   * Where the env's Lease lives, as its clones record it (every command of the env uses that one); null when no
   * clone records one, and then each run's own setting applies. Several when clones disagree (commands refuse).
   */
  lockNamespace: string | null;
}

/** Every env in the cluster: from clones, our DestinationRules, and route names. */
export async function listEnvs(client: KubeClient): Promise<EnvSummary[]> {
  let deployments: Deployment[], rules: DestinationRule[], services: VirtualService[];
  try {
    [deployments, rules, services] = await Promise.all([
      client.list<Deployment>(DEPLOYMENT, undefined, managedSelector).then((r) => r.items),
      client.list<DestinationRule>(DESTINATION_RULE, undefined, managedSelector).then((r) => r.items),
      client.list<VirtualService>(VIRTUAL_SERVICE).then((r) => r.items),
    ]);
  } catch (e) {
    throw explainApiError(e, 'listing environments');
  }
  const names = new Set<string>();
  for (const o of [...deployments, ...rules]) if (o.metadata.labels?.[ENV_LABEL]) names.add(o.metadata.labels[ENV_LABEL]);
  for (const vs of services) for (const env of envsOf(vs)) names.add(env);
  return [...names].sort().map((env) => {
    const clones = deployments.filter((d) => d.metadata.labels?.[ENV_LABEL] === env);
    const labelled = [...clones, ...rules.filter((r) => r.metadata.labels?.[ENV_LABEL] === env)];
    const pr = labelled.map((o) => o.metadata.labels?.[PR_LABEL]).find(Boolean);
    const opened = clones.map((c) => c.metadata.annotations?.[OPENED_AT_ANNOTATION]).filter((x): x is string => !!x).sort()[0];
    const updated = clones.map((c) => c.metadata.annotations?.[UPDATED_AT_ANNOTATION] ?? c.metadata.annotations?.[OPENED_AT_ANNOTATION] ?? c.metadata.creationTimestamp)
      .filter((x): x is string => !!x).sort().pop();
    const states = clones.map((c) => assessRollout(c, [], []).state);
    const order = ['ready', 'progressing', 'degraded', 'failed'] as const;
    return {
      env,
      repo: labelled.map((o) => o.metadata.annotations?.[REPO_ANNOTATION]).find(Boolean) ?? null,
      pr: pr ? Number(pr) : null,
      openedAt: opened ?? labelled.map((o) => o.metadata.creationTimestamp).filter((x): x is string => !!x).sort()[0] ?? null,
      updatedAt: updated ?? null,
      services: clones.filter((c) => c.metadata.labels?.[ROLE_LABEL] !== 'worker').length,
      workers: clones.filter((c) => c.metadata.labels?.[ROLE_LABEL] === 'worker').length,
      state: clones.length === 0 ? 'absent' : states.reduce((w, s) => (order.indexOf(s) > order.indexOf(w) ? s : w), 'ready' as (typeof order)[number]),
      routes: services.reduce((n, vs) => n + (vs.spec.http ?? []).filter((r) => isRouteOf(r.name, env)).length, 0),
      lockNamespace: recordedLockNamespaces(clones, env).join(',') || null,
    };
  });
}

export interface SweepDecision {
  close: boolean;
  reason: string;
}

export interface SweepResult {
  env: string;
  closed: boolean;
  reason: string;
  error?: string;
}

/**
 * How many envs a sweep closes at once. Each close holds its own env's Lease and waits out its drain (3 s by default)
 * between taking the routes out and removing the subsets, so one after another a sweep of 50 envs spent minutes
 * waiting; a few at once overlap those waits. Closes whose routes share a VirtualService contend for it (a 409 reads
 * it again), so a few, not all. The decisions (the action's look up pull requests) are made one at a time.
 */
export const SWEEP_CONCURRENCY = 4;

/**
 * Closes every env the predicate rejects (too old, its PR closed, not in a keep-list), SWEEP_CONCURRENCY at a time,
 * deciding on one env at a time. One failing close does not stop the others; each result says what happened, in the
 * order the envs are listed. A decision that fails stops the sweep: nothing more starts, and it fails once the closes
 * already running are done.
 */
export async function sweepEnvs(opts: {
  client: KubeClient;
  run: Pick<RunOptions, 'lockNamespace'>;
  drainMs?: number;
  decide: (env: EnvSummary) => Promise<SweepDecision> | SweepDecision;
  dryRun?: boolean;
  log?: (line: string) => void;
  /**
   * Who closes each env (the action: its repository and the env's PR). The close refuses an env whose objects
   * record another owner (names collide). Absent: the CLI's sweep, which closes by TTL or keep-list alone.
   */
  owner?: (env: EnvSummary) => OwnerInfo;
}): Promise<SweepResult[]> {
  const decide = oneAtATime(opts.decide);
  const results = await mapConcurrently(await listEnvs(opts.client), SWEEP_CONCURRENCY, async (summary): Promise<SweepResult> => {
    const decision = await decide(summary);
    if (!decision.close) return { env: summary.env, closed: false, reason: decision.reason };
    try {
      if (!opts.dryRun) {
        await closeEnv({
          client: opts.client, env: summary.env, run: opts.run, reason: 'swept', log: opts.log,
          ...(opts.drainMs !== undefined ? { drainMs: opts.drainMs } : {}),
          ...(opts.owner ? { owner: opts.owner(summary) } : {}),
        });
      }
      return { env: summary.env, closed: !opts.dryRun, reason: decision.reason };
    } catch (e) {
      return { env: summary.env, closed: false, reason: decision.reason, error: e instanceof Error ? e.message : String(e) };
    }
  });
  // Orphans (pins no rule backs, our unused VirtualServices) go too, whoever left them; logged, not in the results.
  await sweepOrphans(opts.client, { dryRun: opts.dryRun, log: opts.log })
    .catch((e) => opts.log?.(`could not remove orphaned routes: ${e instanceof Error ? e.message : String(e)}`));
  return results;
}

/**
 * `fn` called one call at a time, in the order asked; after a call that fails, the ones still waiting fail unstarted.
 * The action's decisions look up pull requests, and GitHub asks integrators to send their requests one at a time
 * (its secondary rate limits): the closes overlap, the look-ups do not.
 */
function oneAtATime<A, R>(fn: (arg: A) => Promise<R> | R): (arg: A) => Promise<R> {
  let turn: Promise<unknown> = Promise.resolve();
  let failed = false;
  return (arg) => {
    const call = turn.then(async () => {
      if (failed) throw new Error('not started: an earlier call failed');
      try {
        return await fn(arg);
      } catch (e) {
        failed = true;
        throw e;
      }
    });
    turn = call.catch(() => {});
    return call;
  };
}

/**
 * `fn` over `items`, at most `limit` at a time; the results in the items' order. After a rejection no item is
 * started, the ones running finish (a close is never left half-way by the caller returning), then it rejects.
 */
async function mapConcurrently<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const failed: { error?: unknown } = {};
  let next = 0;
  const worker = async () => {
    while (next < items.length && !('error' in failed)) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (e) {
        if (!('error' in failed)) failed.error = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if ('error' in failed) throw failed.error;
  return results;
}

/**
 * Whether an env is past its TTL: counted from its last update (`updated`, the default: a PR pushed to yesterday
 * keeps its env) or from its first open (`opened`). Null when it is not.
 */
export function pastTtl(s: EnvSummary, ttlSeconds: number, from: TtlFrom, now = Date.now()): SweepDecision | null {
  const since = from === 'opened' ? s.openedAt : (s.updatedAt ?? s.openedAt);
  if (!since || now - Date.parse(since) <= ttlSeconds * 1000) return null;
  const ttl = formatDuration(ttlSeconds);
  return { close: true, reason: from === 'opened' ? `older than ${ttl} (opened ${since})` : `older than ${ttl} since its last update (${since})` };
}

/** The CLI's predicate: older than the TTL, or not in the keep-list. */
export function ttlAndKeepList(ttlSeconds: number | undefined, keep: string[] | undefined, now = Date.now(), from: TtlFrom = 'updated') {
  return (s: EnvSummary): SweepDecision => {
    if (keep && !keep.includes(s.env)) return { close: true, reason: 'not in the keep-list' };
    return (ttlSeconds !== undefined ? pastTtl(s, ttlSeconds, from, now) : null) ?? { close: false, reason: 'kept' };
  };
}

/** What the action's sweep asks of a pull request: null when it does not exist. */
export type PullLookup = (pr: number) => Promise<{ state: 'open' | 'closed'; merged: boolean } | null>;

/**
 * The action's predicate: of this repository's envs (`repo`, as their `dynamic-env.io/repo` annotation records it),
 * close those past the TTL and those whose pull request is closed, merged or gone. Envs of other repositories, and
 * envs with no repository recorded (opened by hand with the CLI), are kept. Without `lookup` (no GitHub token) an
 * env is closed by its TTL alone. A lookup that fails rejects: the caller keeps that env and says why.
 */
export function pullRequestPolicy(o: { repo: string | null; ttlSeconds?: number; ttlFrom: TtlFrom; lookup?: PullLookup; now?: () => number }) {
  return async (s: EnvSummary): Promise<SweepDecision> => {
    if (!s.repo) return { close: false, reason: 'no repository recorded on it (not opened by this action)' };
    if (s.repo !== o.repo) return { close: false, reason: `belongs to ${s.repo}` };
    const expired = o.ttlSeconds !== undefined ? pastTtl(s, o.ttlSeconds, o.ttlFrom, o.now?.() ?? Date.now()) : null;
    if (expired) return expired;
    if (s.pr === null) return { close: false, reason: 'no pull request recorded on it' };
    if (!o.lookup) return { close: false, reason: 'no github-token to look up its pull request' };
    const pr = await o.lookup(s.pr);
    if (!pr) return { close: true, reason: `pull request #${s.pr} does not exist` };
    if (pr.state === 'closed') return { close: true, reason: `pull request #${s.pr} is ${pr.merged ? 'merged' : 'closed'}` };
    return { close: false, reason: `pull request #${s.pr} is open` };
  };
}
