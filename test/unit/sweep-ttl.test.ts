// Lifecycle: the "last updated" stamp every open keeps on its clones, and the sweep's TTL counted from it (or from
// the first open), with reasons people read.

import { describe, expect, test } from 'vitest';
import { deployment, destinationRule, envSpec, service, snapshot, virtualService, workload } from '../../src/demo/builders.js';
import { OPEN_ID_ANNOTATION, planWithAnnotations } from '../../src/commands/open.js';
import { SWEEP_CONCURRENCY, pastTtl, pullRequestPolicy, sweepEnvs, ttlAndKeepList, type EnvSummary } from '../../src/commands/status.js';
import type { KubeClient } from '../../src/kube/client.js';
import { formatDuration, parseDuration } from '../../src/config/inputs.js';
import { OPENED_AT_ANNOTATION, UPDATED_AT_ANNOTATION } from '../../src/plan/names.js';
import type { Deployment } from '../../src/plan/types.js';

describe('formatDuration', () => {
  test.each([
    [604_800, '7d'],
    [168 * 3600, '7d'],
    [5400, '1h30m'],
    [72 * 3600, '3d'],
    [90, '1m30s'],
    [86_400 + 1, '1d1s'],
    [45, '45s'],
  ])('%i seconds -> %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
  test('round-trips what people write', () => {
    for (const d of ['7d', '72h', '90m', '1h30m', '2d12h', '300s']) expect(parseDuration(formatDuration(parseDuration(d, 'dhms') as number), 'dhms')).toBe(parseDuration(d, 'dhms'));
  });
});

describe('the updated-at stamp on clones', () => {
  const NS = 'bookinfo';
  const base = () => snapshot({
    deployments: [deployment('reviews-v1', { namespace: NS, labels: { app: 'reviews', version: 'v1' } })],
    services: [service('reviews', { app: 'reviews' }, NS)],
    destinationRules: [destinationRule('reviews', 'reviews', { v1: { version: 'v1' } }, { namespace: NS })],
    virtualServices: [virtualService('reviews', [{ name: 'all', route: [{ destination: { host: 'reviews', subset: 'v1' } }] }], { namespace: NS })],
  });
  const spec = (commit: string, now: string) =>
    envSpec('pr-42', { now, owner: { repo: 'acme/shop', pr: 42, commit }, services: [workload(NS, 'reviews-v1', { containers: [{ image: `ghcr.io/acme/reviews:${commit}` }] })] });
  /** The snapshot as the cluster holds it after an open wrote `clone`. */
  const withClone = (clone: Deployment) => {
    const s = base();
    s.deployments.push(structuredClone(clone));
    return s;
  };
  const annotations = (d: Deployment) => d.metadata.annotations!;

  test('a first open stamps its time; a re-run with nothing new keeps the stamp and the open id (writes nothing)', () => {
    const first = planWithAnnotations(base(), spec('aaa1111', '2026-01-01T00:00:00.000Z')).clones[0]!;
    expect(annotations(first)[UPDATED_AT_ANNOTATION]).toBe('2026-01-01T00:00:00.000Z');
    const again = planWithAnnotations(withClone(first), spec('aaa1111', '2026-01-05T00:00:00.000Z')).clones[0]!;
    expect(annotations(again)[UPDATED_AT_ANNOTATION]).toBe('2026-01-01T00:00:00.000Z');
    expect(annotations(again)[OPEN_ID_ANNOTATION]).toBe(annotations(first)[OPEN_ID_ANNOTATION]);
  });

  test('an open for a push (another commit) stamps its time; opened-at stays the first open\'s', () => {
    const first = planWithAnnotations(base(), spec('aaa1111', '2026-01-01T00:00:00.000Z')).clones[0]!;
    const pushed = planWithAnnotations(withClone(first), spec('bbb2222', '2026-01-05T00:00:00.000Z')).clones[0]!;
    expect(annotations(pushed)[UPDATED_AT_ANNOTATION]).toBe('2026-01-05T00:00:00.000Z');
    expect(annotations(pushed)[OPENED_AT_ANNOTATION]).toBe('2026-01-01T00:00:00.000Z');
  });

  test('a clone from before the stamp gets none on a re-run with nothing new (the sweep falls back to opened-at)', () => {
    const first = planWithAnnotations(base(), spec('aaa1111', '2026-01-01T00:00:00.000Z')).clones[0]!;
    const old = structuredClone(first);
    delete annotations(old)[UPDATED_AT_ANNOTATION];
    // The open id such an env recorded: the hash without the stamp.
    annotations(old)[OPEN_ID_ANNOTATION] = 'recorded';
    const again = planWithAnnotations(withClone(old), spec('aaa1111', '2026-01-05T00:00:00.000Z')).clones[0]!;
    expect(annotations(again)[UPDATED_AT_ANNOTATION]).toBeUndefined();
  });
});

describe('the TTL decision', () => {
  const now = Date.parse('2026-01-10T00:00:00Z');
  const summary = (o: Partial<EnvSummary>): EnvSummary => ({
    env: 'pr-1', repo: 'acme/shop', pr: 1, openedAt: null, updatedAt: null, services: 1, workers: 0, state: 'ready', routes: 1, lockNamespace: null, ...o,
  });
  const week = 7 * 86_400;
  const oldButPushed = summary({ openedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-09T00:00:00Z' });

  test('updated (the default) counts from the last update: an env opened long ago but pushed to yesterday is kept', () => {
    expect(pastTtl(oldButPushed, week, 'updated', now)).toBeNull();
    expect(pastTtl(summary({ openedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-02T00:00:00Z' }), week, 'updated', now))
      .toEqual({ close: true, reason: 'older than 7d since its last update (2026-01-02T00:00:00Z)' });
  });

  test('opened counts from the first open', () => {
    expect(pastTtl(oldButPushed, week, 'opened', now)).toEqual({ close: true, reason: 'older than 7d (opened 2026-01-01T00:00:00Z)' });
    expect(pastTtl(oldButPushed, 10 * 86_400, 'opened', now)).toBeNull();
  });

  test('an env without the stamp counts from its first open; one without either is never too old', () => {
    expect(pastTtl(summary({ openedAt: '2026-01-01T00:00:00Z' }), 5400, 'updated', now)).toEqual({ close: true, reason: 'older than 1h30m since its last update (2026-01-01T00:00:00Z)' });
    expect(pastTtl(summary({}), 1, 'updated', now)).toBeNull();
  });

  test('the CLI predicate: the keep-list first, then the TTL from where it is told to count', () => {
    expect(ttlAndKeepList(week, ['pr-2'], now)(oldButPushed)).toEqual({ close: true, reason: 'not in the keep-list' });
    expect(ttlAndKeepList(week, undefined, now)(oldButPushed)).toEqual({ close: false, reason: 'kept' });
    expect(ttlAndKeepList(week, undefined, now, 'opened')(oldButPushed).reason).toBe('older than 7d (opened 2026-01-01T00:00:00Z)');
  });
});

describe("the action's sweep policy: this repository's envs whose PR is closed, merged or gone, or past the TTL", () => {
  const now = Date.parse('2026-01-10T00:00:00Z');
  const summary = (o: Partial<EnvSummary>): EnvSummary => ({
    env: 'pr-1', repo: 'acme/shop', pr: 1, openedAt: '2026-01-09T00:00:00Z', updatedAt: null, services: 1, workers: 0, state: 'ready', routes: 1, lockNamespace: null, ...o,
  });
  const pulls: Record<number, { state: 'open' | 'closed'; merged: boolean } | null> = {
    1: { state: 'open', merged: false }, 2: { state: 'closed', merged: true }, 3: { state: 'closed', merged: false }, 4: null,
  };
  const asked: number[] = [];
  const lookup = async (n: number) => {
    asked.push(n);
    if (n === 5) throw new Error('GitHub answered 502');
    return pulls[n] ?? null;
  };
  const policy = pullRequestPolicy({ repo: 'acme/shop', ttlSeconds: 7 * 86_400, ttlFrom: 'updated', lookup, now: () => now });

  test.each([
    ['an open PR', summary({ pr: 1 }), { close: false, reason: 'pull request #1 is open' }],
    ['a merged PR', summary({ pr: 2 }), { close: true, reason: 'pull request #2 is merged' }],
    ['a closed PR', summary({ pr: 3 }), { close: true, reason: 'pull request #3 is closed' }],
    ['a PR that does not exist', summary({ pr: 4 }), { close: true, reason: 'pull request #4 does not exist' }],
    ['another repository', summary({ repo: 'acme/other', pr: 2 }), { close: false, reason: 'belongs to acme/other' }],
    ['no repository (opened with the CLI)', summary({ repo: null, pr: 2 }), { close: false, reason: 'no repository recorded on it (not opened by this action)' }],
    ['no PR recorded', summary({ pr: null }), { close: false, reason: 'no pull request recorded on it' }],
    ['past the TTL, its PR open', summary({ pr: 1, openedAt: '2026-01-01T00:00:00Z' }), { close: true, reason: 'older than 7d since its last update (2026-01-01T00:00:00Z)' }],
  ])('%s', async (_name, s, decision) => {
    expect(await policy(s)).toEqual(decision);
  });

  test('the TTL and ownership are decided before GitHub is asked; a failed lookup rejects (the caller keeps the env)', async () => {
    asked.length = 0;
    await policy(summary({ repo: 'acme/other', pr: 1 }));
    await policy(summary({ pr: 1, openedAt: '2026-01-01T00:00:00Z' }));
    expect(asked).toEqual([]);
    await expect(policy(summary({ pr: 5 }))).rejects.toThrow('GitHub answered 502');
  });

  test('without a GitHub token an env goes by its TTL alone', async () => {
    const noToken = pullRequestPolicy({ repo: 'acme/shop', ttlSeconds: 7 * 86_400, ttlFrom: 'updated', now: () => now });
    expect(await noToken(summary({ pr: 2 }))).toEqual({ close: false, reason: 'no github-token to look up its pull request' });
    expect((await noToken(summary({ pr: 2, openedAt: '2026-01-01T00:00:00Z' }))).close).toBe(true);
  });
});

describe('sweepEnvs: several envs at once, one decision at a time', () => {
  const envs = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((x) => `pr-${x}`);
  /** A cluster holding one clone per env and nothing else; only lists are asked (a dry run writes nothing). */
  const client = {
    list: async (type: { kind: string }) => ({
      items: type.kind !== 'Deployment' ? [] : envs.map((env) => deployment(`reviews-${env}`, {
        namespace: 'bookinfo', labels: { 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/env': env },
      })),
    }),
  } as unknown as KubeClient;
  const tick = () => new Promise((r) => setTimeout(r, 5));

  test('decides on one env at a time (the action\'s decisions look up pull requests), every env, the results in list order', async () => {
    let running = 0;
    let most = 0;
    const results = await sweepEnvs({
      client, run: { lockNamespace: 'default' }, dryRun: true,
      decide: async (s) => {
        most = Math.max(most, ++running);
        await tick();
        running--;
        return { close: s.env < 'pr-e', reason: s.env < 'pr-e' ? 'old' : 'kept' };
      },
    });
    expect(SWEEP_CONCURRENCY).toBeGreaterThan(1);
    expect(most).toBe(1);
    expect(results.map((r) => [r.env, r.reason])).toEqual(envs.map((env) => [env, env < 'pr-e' ? 'old' : 'kept']));
  });

  test('a decision that fails: no decision is made after it, and the sweep fails', async () => {
    const started: string[] = [];
    const finished: string[] = [];
    const sweep = sweepEnvs({
      client, run: { lockNamespace: 'default' }, dryRun: true,
      decide: async (s) => {
        started.push(s.env);
        if (s.env === 'pr-b') throw new Error('GitHub is down');
        await tick();
        finished.push(s.env);
        return { close: false, reason: 'kept' };
      },
    });
    await expect(sweep).rejects.toThrow('GitHub is down');
    expect(started).toEqual(['pr-a', 'pr-b']);
    expect(finished).toEqual(['pr-a']);
  });
});
