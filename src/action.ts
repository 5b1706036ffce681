// The action: turns the workflow event into a command, runs the engine, and tells people what happened (PR
// comment, job summary, outputs, optional GitHub Deployment). A thin shell: the engine lives in src/commands.
import * as core from '@actions/core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamicEnvError, exitCodeOf, usageError } from './errors.js';
import { readInputs, expandTemplate, type ActionInputs, type InputName } from './config/inputs.js';
import { missingKubeconfigError, writeKubeconfig } from './config/kubeconfig.js';
import type { ConfigFile } from './config/schema.js';
import { resolveEnvSpec, resolveRunOptions, type ImageOverrides, type SpecOverrides } from './config/spec.js';
import { KubeClient } from './kube/client.js';
import { openEnv } from './commands/open.js';
import { closeEnv } from './commands/close.js';
import { envStatus, pullRequestPolicy, sweepEnvs, type EnvSummary, type SweepDecision } from './commands/status.js';
import { escapeMarkdown, renderMarkdown, renderSweepMarkdown } from './report/render.js';
import type { EnvReport } from './report/model.js';
import { decide, type CloseReason, type Decision, type PullInfo } from './github/event.js';
import type { ClientOptions, GitHubClient } from './github/client.js';
import { parseRepo, type RepoRef } from './github/repo.js';
import { findStickyComments, resolveLogin, upsertStickyComment } from './github/comment.js';
import { checkRunFresh, getPull } from './github/pulls.js';
import { deactivateEnvironment, removeEnvironmentDeployments, setDeploymentStatus, startDeployment } from './github/deployments.js';

// The config file's reader (and its YAML parser, ~10 ms to load) only when there is a config file.
const loadConfigFile = async (path: string): Promise<ConfigFile> => (await import('./config/file.js')).loadConfigFile(path);

interface Context {
  inputs: ActionInputs;
  env: NodeJS.ProcessEnv;
  repo: RepoRef | null;
  /** The GitHub client, made on first use (see lazyGitHub); null without a token. */
  github: (() => Promise<GitHubClient>) | null;
  runId: number;
  runAttempt: number;
  runUrl: string | undefined;
  /** Raw `baggage-key` input: empty means "not given" (the config file or the default decides). */
  baggageKeyGiven: boolean;
  /**
   * Run options given as inputs. Only given ones override the config file (action.yml declares no default for
   * them: a runner sets INPUT_<NAME> for every input with a default, and `lockNamespace`, `wait` and `timeout` in
   * the config file would never apply).
   */
  runOverrides: { lockNamespace?: string; wait?: boolean; timeoutSeconds?: number };
}

export async function run(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let kubeconfigDir: string | undefined;
  /** The env this run is about, once known (the `env` output of a run that fails before its outcome). */
  let envName = '';
  let outputs: Outputs | undefined;
  masked.length = 0;
  try {
    const raw = (name: InputName) => core.getInput(name);
    const token = raw('github-token');
    if (token) mask(token);
    const inputs = readInputs(raw);

    const eventName = env.GITHUB_EVENT_NAME ?? '';
    const payload = readEvent(env.GITHUB_EVENT_PATH);
    const decision = decide(eventName, payload, { ...inputs, ...(env.GITHUB_REPOSITORY ? { repository: env.GITHUB_REPOSITORY } : {}) });
    if (decision.command !== 'sweep') envName = decision.env ?? '';
    const ctx: Context = {
      inputs,
      env,
      repo: env.GITHUB_REPOSITORY ? parseRepo(env.GITHUB_REPOSITORY) : null,
      github: inputs.githubToken
        ? lazyGitHub({
          token: inputs.githubToken, log: githubLog, env,
          // TEST-ONLY: the runner-contract tests (test/e2e/action-*.test.ts) set this to skip the 1 s pacing of
          // writes that GitHub asks integrations for. Never set it in a workflow.
          ...(env.DYNAMIC_ENV_TEST_UNPACED === '1' ? { paceWrites: false } : {}),
        })
        : null,
      runId: Number(env.GITHUB_RUN_ID ?? 0),
      runAttempt: Number(env.GITHUB_RUN_ATTEMPT ?? 1),
      runUrl: env.GITHUB_RUN_ID && env.GITHUB_REPOSITORY
        ? `${env.GITHUB_SERVER_URL ?? 'https://github.com'}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`
        : undefined,
      baggageKeyGiven: raw('baggage-key') !== '',
      runOverrides: {
        ...(raw('lock-namespace') ? { lockNamespace: inputs.lockNamespace } : {}),
        ...(raw('wait') ? { wait: inputs.wait } : {}),
        ...(raw('timeout') ? { timeoutSeconds: inputs.timeoutSeconds } : {}),
      },
    };

    if (decision.command === 'skip') {
      // Forks (no secrets), drafts, PRs without the gate label: a notice, never a failure, and no cluster access.
      core.notice(`dynamic-env: skipped: ${decision.reason}`);
      outputs = { env: decision.env ?? '', state: 'skipped' };
      await core.summary.addRaw(skippedMarkdown(decision.env, decision.reason), true).write();
      return;
    }

    // Only now, with a command to run, is the kubeconfig touched.
    // RUNNER_TEMP: per job, emptied by the runner even if this process is killed before its `finally`.
    kubeconfigDir = inputs.kubeconfig ? mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'dynamic-env-')) : undefined;
    const kubeconfigPath = kubeconfigDir ? writeKubeconfig(inputs.kubeconfig!, kubeconfigDir, mask) : undefined;
    const client = loadKubeClient(inputs, kubeconfigPath, env);
    let outcome: Outcome;
    try {
      switch (decision.command) {
        case 'open': outcome = await open(ctx, client, decision); break;
        case 'close': outcome = await close(ctx, client, decision.env, decision.pull, decision.closeReason); break;
        case 'status': outcome = await status(ctx, client, decision.env); break;
        case 'sweep': outcome = await sweep(ctx, client); break;
      }
    } finally {
      client.close();
    }
    outputs = outcome.outputs;
    if (outcome.failure) throw outcome.failure;
  } catch (e) {
    logGroups.end();
    const message = e instanceof DynamicEnvError ? e.message : e instanceof Error ? e.message : String(e);
    core.setFailed(message);
    process.exitCode = exitCodeOf(e);
    // Later steps can branch on `state` whatever happened.
    outputs ??= { env: envName, state: 'failed' };
    await core.summary.addRaw(failureMarkdown(e instanceof DynamicEnvError ? e.problems : [message], exitCodeOf(e)), true).write()
      .catch((err: unknown) => core.warning(`could not write the job summary: ${(err as Error).message}`));
  } finally {
    logGroups.end();
    if (outputs) setOutputs(outputs);
    if (kubeconfigDir) rmSync(kubeconfigDir, { recursive: true, force: true });
  }
}

/**
 * The GitHub client, loaded and made on first use: octokit (~140 kB of the bundle) is not needed to skip an event,
 * to plan in dry-run, or to read and plan the cluster, which an open does before its first GitHub request.
 */
function lazyGitHub(options: ClientOptions): () => Promise<GitHubClient> {
  let client: Promise<GitHubClient> | undefined;
  return () => (client ??= import('./github/client.js').then((m) => m.createGitHubClient(options)));
}

/** Values registered with the runner as secrets, to redact them where the runner does not mask (the job summary). */
const masked: string[] = [];
function mask(secret: string): void {
  masked.push(secret);
  core.setSecret(secret);
}
function redact(text: string): string {
  return [...masked].sort((a, b) => b.length - a.length).reduce((t, m) => (m ? t.split(m).join('***') : t), text);
}

/** The short failure summary at the end of the job summary: what failed, one line per problem, and what to do. */
function failureMarkdown(problems: string[], code: number): string {
  const what = code === 2 ? 'The inputs or the config are wrong; nothing was written to the cluster.' : 'The cluster refused a step or the environment failed.';
  const lines = problems.flatMap((p) => p.split('\n')).filter((l) => l.trim() !== '').map((l) => `- ${escapeMarkdown(redact(l.trim()))}`);
  return `### ❌ dynamic-env failed (exit ${code})\n\n${what}\n\n${lines.join('\n')}\n\nFix the cause and re-run the job: every command is safe to run again.\n`;
}

/**
 * The log in collapsible groups (plan, writes, rollout, comment). The engine's phases end inside openEnv, so the
 * groups switch at its hooks instead of wrapping one callback each in core.group.
 */
const logGroups = {
  current: null as string | null,
  start(name: string): void {
    this.end();
    core.startGroup(name);
    this.current = name;
  },
  end(): void {
    if (this.current === null) return;
    core.endGroup();
    this.current = null;
  },
};

const githubLog = {
  debug: (m: string) => core.debug(m),
  info: (m: string) => core.info(m),
  warn: (m: string) => core.warning(m),
  error: (m: string) => core.error(m),
};

function readEvent(path: string | undefined): unknown {
  if (!path) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw usageError(`GITHUB_EVENT_PATH ${path}: cannot be read as the event payload (${(e as Error).message.split('\n')[0]})`);
  }
}

/** The kube client; a kubeconfig that cannot be used is a usage error naming the input at fault. */
function loadKubeClient(inputs: ActionInputs, kubeconfigPath: string | undefined, env: NodeJS.ProcessEnv): KubeClient {
  try {
    return KubeClient.load({
      ...(kubeconfigPath ? { kubeconfig: kubeconfigPath } : {}),
      ...(inputs.context ? { context: inputs.context } : {}),
      userAgent: 'dynamic-env-action',
    });
  } catch (e) {
    if (!(e instanceof DynamicEnvError) || e.kind !== 'usage') throw e;
    // The temp file's path means nothing to the user: say where the kubeconfig came from instead.
    const message = kubeconfigPath ? e.message.replaceAll(kubeconfigPath, '(from the input)') : e.message;
    if (/^context "/.test(e.message)) throw usageError(`input "context": ${message}`);
    if (kubeconfigPath) throw usageError(`input "kubeconfig": ${message}`);
    if (!env.KUBECONFIG && /^no kubeconfig/.test(e.message)) throw missingKubeconfigError();
    throw usageError(`input "kubeconfig" is not set and ${env.KUBECONFIG ? '$KUBECONFIG' : 'the default kubeconfig'} cannot be used: ${message}`);
  }
}

/** The action's outputs (action.yml), set once by run() from the command's outcome. */
interface Outputs {
  env: string;
  state: string;
  header?: string;
  headerValue?: string;
  commentId?: number;
  deploymentId?: number;
  resources?: unknown;
}

/** What a command did: its outputs, and the error the run fails with after setting them (a failed rollout). */
interface Outcome {
  outputs: Outputs;
  failure?: DynamicEnvError;
}

function setOutputs(o: Outputs): void {
  core.setOutput('env', o.env);
  core.setOutput('state', o.state);
  core.setOutput('header', o.header ?? '');
  core.setOutput('header-value', o.headerValue ?? '');
  core.setOutput('comment-id', o.commentId ? String(o.commentId) : '');
  core.setOutput('deployment-id', o.deploymentId ? String(o.deploymentId) : '');
  core.setOutput('resources', JSON.stringify(o.resources ?? {}));
}

function resources(report: EnvReport) {
  const all = [...report.services, ...report.workers];
  const uniq = <T extends { namespace: string; name: string }>(xs: T[]) =>
    [...new Map(xs.map((x) => [`${x.namespace}/${x.name}`, x])).values()];
  return {
    clones: all.map((w) => ({ namespace: w.namespace, name: w.clone })),
    destinationRules: uniq(all.flatMap((w) => w.destinationRules)),
    virtualServices: uniq(all.flatMap((w) => w.virtualServices)),
  };
}

/** The job summary of a run that did nothing. */
function skippedMarkdown(env: string | null, reason: string): string {
  if (!env) return `### ⏭️ Dynamic environment: skipped\n\n${escapeMarkdown(reason)}\n`;
  return renderMarkdown({ env, header: '', headerValue: env, baggage: null, state: 'skipped', services: [], workers: [], context: { skipReason: reason } });
}

/**
 * Creates or updates the sticky comment. `onlyIfExists`: update a comment that is there, never start one (a close
 * that found no env must not comment on every PR that never had one, e.g. PRs without the gate label).
 */
async function comment(ctx: Context, pull: PullInfo | null, report: EnvReport, sha: string, o: { onlyIfExists?: boolean } = {}): Promise<number | undefined> {
  if (!ctx.inputs.comment || !pull || !ctx.github || !ctx.repo) return undefined;
  logGroups.start(`comment: ${report.env} ${report.state}`);
  const login = await resolveLogin(await ctx.github());
  if (o.onlyIfExists && (await findStickyComments(await ctx.github(), ctx.repo, pull.number, report.env, login)).length === 0) {
    core.info(`env ${report.env} did not exist and the PR has no comment about it: not commenting`);
    return undefined;
  }
  const result = await upsertStickyComment(await ctx.github(), {
    repo: ctx.repo,
    issueNumber: pull.number,
    env: report.env,
    body: renderMarkdown(report),
    state: { sha, runId: ctx.runId, runAttempt: ctx.runAttempt, updatedAt: new Date().toISOString() },
    login,
  });
  core.info(`PR comment ${result.id}: ${result.action}${result.action === 'stale' ? ' (a newer run wrote it: left as it is)' : ''}`
    + `${result.deleted.length ? ` (removed ${result.deleted.length} duplicate(s))` : ''}`);
  logGroups.end();
  return result.id;
}

/**
 * What the comment and the summary say of the run besides the engine's report: the repository, the PR, where the
 * run is, when; `extra` adds what the command knows (the commit, why it closed).
 */
function reportContext(ctx: Context, pr: number | null, extra: NonNullable<EnvReport['context']> = {}): NonNullable<EnvReport['context']> {
  return {
    ...(ctx.repo ? { repo: `${ctx.repo.owner}/${ctx.repo.repo}` } : {}),
    ...(pr !== null ? { pr } : {}),
    ...(ctx.env.GITHUB_SERVER_URL ? { serverUrl: ctx.env.GITHUB_SERVER_URL } : {}),
    ...(ctx.runUrl ? { runUrl: ctx.runUrl } : {}),
    updatedAt: new Date().toISOString(),
    ...extra,
  };
}

const DRY_RUN_BANNER = '> **Dry run**: nothing was written to the cluster. Below is what a real run would do.';

/** The job summary and the sticky comment of an env's report; returns the outputs that say the same. */
async function report(ctx: Context, r: EnvReport, pull: PullInfo | null, sha: string, extra: { deploymentId?: number; onlyIfExists?: boolean; commentId?: number } = {}): Promise<Outputs> {
  // A dry run changes nothing a reviewer can see: the plan goes to the job summary only, never to the PR.
  const banner = ctx.inputs.dryRun ? `${DRY_RUN_BANNER}\n\n` : '';
  await core.summary.addRaw(banner + renderMarkdown(r), true).write();
  const commentId = ctx.inputs.dryRun ? undefined : (await comment(ctx, pull, r, sha, { onlyIfExists: extra.onlyIfExists })) ?? extra.commentId;
  return { env: r.env, state: r.state, header: r.header, headerValue: r.headerValue, commentId, deploymentId: extra.deploymentId, resources: resources(r) };
}

async function open(ctx: Context, client: KubeClient, decision: Extract<Decision, { command: 'open' }>): Promise<Outcome> {
  const { inputs } = ctx;
  const pull = decision.pull;
  logGroups.start(`plan: ${decision.env}`);
  // Without a config file the shorthand inputs name the one Deployment. (parseConfigText('{}') would refuse: a
  // config *file* must list at least one Deployment; resolveEnvSpec checks that the shorthand gave one.)
  const config: ConfigFile = inputs.config ? await loadConfigFile(inputs.config) : { services: [], workers: [] };
  const overrides: SpecOverrides = {
    env: decision.env,
    owner: {
      ...(ctx.repo ? { repo: `${ctx.repo.owner}/${ctx.repo.repo}` } : {}),
      ...(pull ? { pr: pull.number, commit: pull.headSha } : {}),
    },
    routing: {
      ...(inputs.header ? { header: inputs.header } : {}),
      ...(ctx.baggageKeyGiven ? { baggageKey: inputs.baggageKey } : {}),
    },
  };
  if (inputs.shorthand) overrides.deployment = inputs.shorthand;
  overrides.images = imageOverrides(inputs, pull, ctx.env);
  const spec = resolveEnvSpec(config, overrides);
  const runOptions = resolveRunOptions(config, ctx.runOverrides);
  const sha = pull?.headSha ?? ctx.env.GITHUB_SHA ?? '';
  const exampleUrl = inputs.environmentUrl ? expandTemplate(inputs.environmentUrl, { env: spec.name, pr: pull?.number }) : undefined;
  /** What the comment and the summary say besides the engine's report; `headCommit` when the PR moved on. */
  const withContext = (report: EnvReport, headCommit?: string): EnvReport => ({
    ...report,
    context: reportContext(ctx, pull?.number ?? null, { commit: sha, ...(headCommit ? { headCommit } : {}), ...(exampleUrl ? { exampleUrl } : {}) }),
  });

  let closedMeanwhile: { merged: boolean } | null = null;
  let deploymentId: number | undefined;
  let commentId: number | undefined;
  const result = await openEnv({
    client, spec, run: runOptions, dryRun: inputs.dryRun, ...testDrain(),
    ...(inputs.lockHoldMs !== undefined ? { lockHoldMs: inputs.lockHoldMs } : {}),
    log: (l) => core.info(l),
    // Freshness guard: a queued run for an old head, or for a PR closed meanwhile, must not (re)create the env.
    beforeWrite: async () => {
      if (!pull || !ctx.github || !ctx.repo) return null;
      const fresh = await checkRunFresh(await ctx.github(), ctx.repo, pull.number, pull.headSha);
      if (fresh.freshness === 'closed') closedMeanwhile = { merged: fresh.merged };
      if (fresh.reason) return fresh.reason;
      if (inputs.githubDeployment) {
        deploymentId = await startDeployment(await ctx.github(), { repo: ctx.repo, sha: pull.headSha, env: spec.name, ...(ctx.runUrl ? { logUrl: ctx.runUrl } : {}) });
      }
      logGroups.start(`writes: ${spec.name}`);
      return null;
    },
    // The comment goes live as soon as the clones are written: a re-deploy no longer shows the previous commit's
    // "ready" for the whole rollout wait.
    // A comment GitHub refuses here must not stop the open: the one after the wait tries again.
    onApplied: async (report) => {
      commentId = await comment(ctx, pull, withContext(report), sha)
        .catch((e: unknown) => (core.warning(`could not post the deploying comment: ${(e as Error).message}`), undefined));
      logGroups.start(`rollout: ${spec.name}`);
    },
  }).catch(async (e: unknown) => {
    // The deployment was started: do not leave it in_progress forever.
    if (deploymentId !== undefined && ctx.github && ctx.repo) {
      await setDeploymentStatus(await ctx.github(), {
        repo: ctx.repo, deploymentId, state: 'failure', ...(ctx.runUrl ? { logUrl: ctx.runUrl } : {}),
        description: `Dynamic environment ${spec.name} failed to open`,
      }).catch((err) => core.warning(`could not mark GitHub deployment ${deploymentId} failed: ${(err as Error).message}`));
    }
    throw e;
  });
  logGroups.end();
  if (result.skipped) {
    core.notice(`dynamic-env: skipped: ${result.skipped}`);
    // The PR closed while this run waited: make sure its env is gone (the close run may have finished first).
    const meanwhile = closedMeanwhile as { merged: boolean } | null;
    if (meanwhile) return close(ctx, client, spec.name, pull, meanwhile.merged ? 'merged' : 'closed');
    await core.summary.addRaw(skippedMarkdown(spec.name, result.skipped), true).write();
    return { outputs: { env: spec.name, state: 'skipped' } };
  }
  // After the wait the PR may have a newer head: the report then says it describes an older commit. Whether this
  // run may still write the comment is the comment's own stale-run guard (a newer run's comment is never replaced).
  const head = pull && ctx.github && ctx.repo && !inputs.dryRun ? await getPull(await ctx.github(), ctx.repo, pull.number) : null;
  const r = withContext(result.report, head && head.headSha !== sha ? head.headSha : undefined);
  const reasons = [...r.services, ...r.workers].filter((w) => w.reason && w.state !== 'ready').map((w) => `${w.namespace}/${w.clone}: ${w.reason}`);
  const failed = r.state === 'failed' || r.state === 'degraded';
  if (deploymentId !== undefined && ctx.github && ctx.repo) {
    await setDeploymentStatus(await ctx.github(), {
      repo: ctx.repo, deploymentId, state: failed ? 'failure' : 'success',
      ...(failed ? { description: `Dynamic environment ${spec.name} is ${r.state}: ${reasons[0] ?? 'see the run'}` } : {}),
      ...(exampleUrl ? { environmentUrl: exampleUrl } : {}), ...(ctx.runUrl ? { logUrl: ctx.runUrl } : {}),
    });
    await deactivateEnvironment(await ctx.github(), { repo: ctx.repo, env: spec.name, keep: [deploymentId] });
  }
  const outputs = await report(ctx, r, pull, sha, { deploymentId, commentId });
  return failed ? { outputs, failure: new DynamicEnvError('cluster', [`env ${r.env} is ${r.state}`, ...reasons]) } : { outputs };
}

/** The `images` input and the placeholders' values: the PR's head commit, number and branch (else the pushed ref's). */
function imageOverrides(inputs: ActionInputs, pull: PullInfo | null, env: NodeJS.ProcessEnv): ImageOverrides {
  const sha = pull?.headSha ?? env.GITHUB_SHA;
  const branch = pull?.headRef || (env.GITHUB_REF_TYPE === 'branch' ? env.GITHUB_REF_NAME : undefined);
  return {
    ...(inputs.images ? { lines: inputs.images } : {}),
    ...(sha ? { sha } : {}),
    ...(pull ? { pr: pull.number } : {}),
    ...(branch ? { branch } : {}),
    givenBy: { sha: 'the pull_request event (its head commit)', pr: 'a pull_request event', branch: 'a pull_request event or a branch push' },
    shorthandField: 'input "image"',
  };
}

/** TEST-ONLY, with the pacing switch above: the runner-contract tests skip close's drain wait. Never set it in a workflow. */
const testDrain = (): { drainMs?: number } => (process.env.DYNAMIC_ENV_TEST_UNPACED === '1' ? { drainMs: 0 } : {});

/**
 * The lock namespace for close and sweep of an env that records none on its clones (an env from before the record,
 * or with no clones left): the input, else the config file's, else `default` (as open does). An env that records one
 * is always closed under that Lease (src/commands/lock.ts), whatever this says.
 */
async function lockNamespace(ctx: Context): Promise<string> {
  if (ctx.runOverrides.lockNamespace) return ctx.runOverrides.lockNamespace;
  const config = ctx.inputs.config ? await loadConfigFile(ctx.inputs.config) : {};
  return resolveRunOptions(config).lockNamespace;
}

async function close(ctx: Context, client: KubeClient, env: string, pull: PullInfo | null, reason: CloseReason): Promise<Outcome> {
  // Only this repository's (and this PR's) env: an env of the same name opened by another repository is refused.
  const owner = { ...(ctx.repo ? { repo: `${ctx.repo.owner}/${ctx.repo.repo}` } : {}), ...(pull ? { pr: pull.number } : {}) };
  logGroups.start(`close: ${env}`);
  const r = await closeEnv({ client, env, run: { lockNamespace: await lockNamespace(ctx) }, ...testDrain(), dryRun: ctx.inputs.dryRun, reason, owner, log: (l) => core.info(l) });
  if (ctx.inputs.githubDeployment && ctx.github && ctx.repo && !ctx.inputs.dryRun) {
    await removeDeployments(ctx, env);
  }
  logGroups.end();
  const closed: EnvReport = { ...r, context: reportContext(ctx, pull?.number ?? null, { closeReason: reason }) };
  return { outputs: await report(ctx, closed, pull, pull?.headSha ?? ctx.env.GITHUB_SHA ?? '', { onlyIfExists: r.state === 'absent' }) };
}

/** The env's GitHub deployment records: marked inactive, then deleted (the GitHub environment needs an admin to delete). */
async function removeDeployments(ctx: Context, env: string): Promise<void> {
  if (!ctx.github || !ctx.repo) return;
  const removed = await removeEnvironmentDeployments(await ctx.github(), { repo: ctx.repo, env, ...(ctx.runUrl ? { logUrl: ctx.runUrl } : {}) });
  core.info(`GitHub deployments of ${env}: ${removed.deleted.length} deleted`);
  if (removed.kept.length) core.warning(`GitHub kept deployment(s) ${removed.kept.join(', ')} of ${env}: active again (a newer open?); the next close or sweep removes them`);
}

async function status(ctx: Context, client: KubeClient, env: string): Promise<Outcome> {
  const r = await envStatus(client, env);
  await core.summary.addRaw(renderMarkdown(r), true).write();
  return { outputs: { env, state: r.state, header: r.header, headerValue: r.headerValue, resources: resources(r) } };
}

/**
 * Sweep: close the envs this repository opened (its `dynamic-env.io/repo` annotation) whose PR is closed or gone,
 * or that are older than `ttl`. Envs of other repositories, and envs with no repository recorded (opened by hand
 * with the CLI), are never touched.
 */
async function sweep(ctx: Context, client: KubeClient): Promise<Outcome> {
  const mine = ctx.repo ? `${ctx.repo.owner}/${ctx.repo.repo}` : null;
  const { github, repo } = ctx;
  const policy = pullRequestPolicy({
    repo: mine, ttlSeconds: ctx.inputs.ttlSeconds, ttlFrom: ctx.inputs.ttlFrom,
    ...(github && repo ? { lookup: async (n: number) => getPull(await github(), repo, n) } : {}),
  });
  // Recorded while deciding: after the close the env's objects (and its PR label) are gone.
  const decided = new Map<string, { close: boolean; pr: number | null }>();
  const decideOne = async (s: EnvSummary): Promise<SweepDecision> => {
    // One PR that cannot be looked up (GitHub down after retries) keeps its env; the others are still swept.
    const d = await policy(s).catch((e: unknown): SweepDecision => {
      core.warning(`sweep: kept ${s.env}: ${(e as Error).message}`);
      return { close: false, reason: `could not look up pull request #${s.pr}: ${(e as Error).message}` };
    });
    decided.set(s.env, { close: d.close, pr: s.pr });
    return d;
  };
  logGroups.start('sweep');
  const envs = await sweepEnvs({
    client, run: { lockNamespace: await lockNamespace(ctx) }, ...testDrain(), decide: decideOne, dryRun: ctx.inputs.dryRun, log: (l) => core.info(l),
    // The close checks again, under the Lease, that every object of the env is this repository's.
    owner: (s) => ({ ...(mine ? { repo: mine } : {}), ...(s.pr !== null ? { pr: s.pr } : {}) }),
  });
  logGroups.end();
  const reclaimed = envs.filter((r) => r.closed);
  for (const r of reclaimed) {
    const pr = decided.get(r.env)?.pr ?? null;
    if (ctx.github && ctx.repo && ctx.inputs.githubDeployment) {
      await removeDeployments(ctx, r.env).catch((e) => core.warning(`could not remove the GitHub deployments of ${r.env}: ${(e as Error).message}`));
    }
    // Tell the swept PR what happened, on its sticky comment.
    if (!ctx.inputs.comment || !ctx.github || !ctx.repo || pr === null) continue;
    const closedReport: EnvReport = {
      env: r.env, header: '', headerValue: r.env, baggage: null, state: 'closed', services: [], workers: [],
      context: reportContext(ctx, pr, { closeReason: 'swept' }),
    };
    await upsertStickyComment(await ctx.github(), {
      repo: ctx.repo, issueNumber: pr, env: r.env, body: renderMarkdown(closedReport),
      state: { sha: '', runId: ctx.runId, runAttempt: ctx.runAttempt, updatedAt: new Date().toISOString() },
    }).catch((e) => core.warning(`could not update the comment of #${pr}: ${(e as Error).message}`));
  }
  await core.summary.addRaw(renderSweepMarkdown(envs, (env) => ctx.inputs.dryRun && decided.get(env)?.close === true), true).write();
  const failed = envs.filter((r) => r.error);
  const outputs: Outputs = {
    env: '', state: failed.length ? 'failed' : 'swept',
    resources: { reclaimed: reclaimed.map((r) => r.env), kept: envs.filter((r) => !r.closed && !r.error).map((r) => r.env) },
  };
  return failed.length ? { outputs, failure: new DynamicEnvError('cluster', failed.map((r) => `env ${r.env}: ${r.error}`)) } : { outputs };
}
