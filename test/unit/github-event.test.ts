import { describe, expect, test } from 'vitest';
import { decide, type DecisionInputs } from '../../src/github/event.js';
import { DynamicEnvError } from '../../src/errors.js';

const HEAD = 'a'.repeat(40);
const MERGE = 'm'.repeat(40);

function prPayload(action: string, over: { draft?: boolean; merged?: boolean; state?: string; labels?: string[]; headRepo?: string | null; label?: string } = {}) {
  return {
    action,
    number: 42,
    ...(over.label ? { label: { name: over.label } } : {}),
    pull_request: {
      number: 42,
      state: over.state ?? (action === 'closed' ? 'closed' : 'open'),
      draft: over.draft ?? false,
      merged: over.merged ?? false,
      merge_commit_sha: MERGE,
      labels: (over.labels ?? []).map((name) => ({ name })),
      head: { sha: HEAD, ref: 'feature', repo: over.headRepo === null ? null : { full_name: over.headRepo ?? 'acme/shop' } },
      base: { ref: 'main', repo: { full_name: 'acme/shop' } },
    },
    repository: { full_name: 'acme/shop' },
  };
}

const auto: DecisionInputs = { command: 'auto', skipDrafts: false };

describe('decide: pull_request events', () => {
  test.each(['opened', 'reopened', 'synchronize', 'ready_for_review'])('%s opens pr-<number> at the head SHA', (action) => {
    const d = decide('pull_request', prPayload(action), auto);
    expect(d).toMatchObject({ command: 'open', env: 'pr-42', pull: { number: 42, headSha: HEAD, owner: 'acme', repo: 'shop' } });
    expect(JSON.stringify(d)).not.toContain(MERGE);
  });

  test('pull_request_target is handled like pull_request', () => {
    expect(decide('pull_request_target', prPayload('synchronize'), auto)).toMatchObject({ command: 'open', env: 'pr-42' });
  });

  test('closed and merged -> close (merged)', () => {
    expect(decide('pull_request', prPayload('closed', { merged: true }), auto)).toMatchObject({ command: 'close', env: 'pr-42', closeReason: 'merged' });
  });

  test('closed without merge -> close (closed)', () => {
    expect(decide('pull_request', prPayload('closed'), auto)).toMatchObject({ command: 'close', closeReason: 'closed' });
  });

  test('closed or unlabeled fork PR is skipped: it never had an env, and its run has no kubeconfig', () => {
    expect(decide('pull_request', prPayload('closed', { headRepo: 'mallory/shop' }), auto)).toMatchObject({
      command: 'skip', env: 'pr-42', reason: expect.stringContaining('forks never get an environment'),
    });
    expect(decide('pull_request', prPayload('unlabeled', { headRepo: 'mallory/shop', label: 'preview' }), { ...auto, label: 'preview' })).toMatchObject({ command: 'skip' });
    // An explicit close still closes.
    expect(decide('pull_request', prPayload('closed', { headRepo: 'mallory/shop' }), { ...auto, command: 'close' })).toMatchObject({ command: 'close' });
  });

  test('labeled with the gate label opens', () => {
    const d = decide('pull_request', prPayload('labeled', { label: 'preview', labels: ['preview'] }), { ...auto, label: 'preview' });
    expect(d).toMatchObject({ command: 'open', env: 'pr-42' });
  });

  test('labeled with another label is skipped', () => {
    const d = decide('pull_request', prPayload('labeled', { label: 'bug', labels: ['preview', 'bug'] }), { ...auto, label: 'preview' });
    expect(d).toMatchObject({ command: 'skip', reason: expect.stringContaining('"bug", not the gate label "preview"') });
  });

  test('labeled without a gate label configured is skipped', () => {
    expect(decide('pull_request', prPayload('labeled', { label: 'bug', labels: ['bug'] }), auto)).toMatchObject({
      command: 'skip',
      reason: expect.stringContaining('"label" input is not set'),
    });
  });

  test('unlabeled of the gate label closes (unlabeled)', () => {
    const d = decide('pull_request', prPayload('unlabeled', { label: 'preview', labels: [] }), { ...auto, label: 'preview' });
    expect(d).toMatchObject({ command: 'close', env: 'pr-42', closeReason: 'unlabeled' });
  });

  test('converted_to_draft closes under skip-drafts (draft), is skipped without it, and skips fork PRs', () => {
    const drafted = prPayload('converted_to_draft', { draft: true });
    expect(decide('pull_request', drafted, { ...auto, skipDrafts: true })).toMatchObject({
      command: 'close', env: 'pr-42', closeReason: 'draft', reason: 'pull request #42 was converted to a draft (skip-drafts is on)',
    });
    expect(decide('pull_request', drafted, auto)).toMatchObject({ command: 'skip', reason: expect.stringContaining('skip-drafts is off') });
    expect(decide('pull_request', prPayload('converted_to_draft', { draft: true, headRepo: 'mallory/shop' }), { ...auto, skipDrafts: true }))
      .toMatchObject({ command: 'skip', reason: expect.stringContaining('comes from a fork') });
    // Under a label gate too: the draft rule does not depend on labels.
    expect(decide('pull_request', prPayload('converted_to_draft', { draft: true, labels: ['preview'] }), { ...auto, skipDrafts: true, label: 'preview' }))
      .toMatchObject({ command: 'close', closeReason: 'draft' });
  });

  test('unlabeled of the gate label closes under skip-drafts too, and on a draft', () => {
    const d = decide('pull_request', prPayload('unlabeled', { label: 'preview', labels: [], draft: true }), { ...auto, label: 'preview', skipDrafts: true });
    expect(d).toMatchObject({ command: 'close', closeReason: 'unlabeled' });
  });

  test('unlabeled of another label is skipped', () => {
    const d = decide('pull_request', prPayload('unlabeled', { label: 'bug', labels: ['preview'] }), { ...auto, label: 'preview' });
    expect(d).toMatchObject({ command: 'skip', reason: expect.stringContaining('not the gate label') });
  });

  test('PR without the gate label is skipped on synchronize', () => {
    expect(decide('pull_request', prPayload('synchronize', { labels: ['bug'] }), { ...auto, label: 'preview' })).toMatchObject({
      command: 'skip',
      reason: 'pull request #42 does not carry the gate label "preview"',
    });
  });

  test('fork PRs are skipped for open', () => {
    const d = decide('pull_request_target', prPayload('opened', { headRepo: 'mallory/shop' }), auto);
    expect(d).toMatchObject({ command: 'skip', env: 'pr-42', reason: expect.stringContaining('comes from a fork (mallory/shop)') });
  });

  test('a deleted head repository counts as a fork', () => {
    expect(decide('pull_request', prPayload('synchronize', { headRepo: null }), auto)).toMatchObject({ command: 'skip' });
  });

  test('same repo with different case is not a fork', () => {
    expect(decide('pull_request', prPayload('opened', { headRepo: 'ACME/Shop' }), auto)).toMatchObject({ command: 'open' });
  });

  test('drafts are skipped when skip-drafts is on, opened otherwise', () => {
    expect(decide('pull_request', prPayload('opened', { draft: true }), { ...auto, skipDrafts: true })).toMatchObject({
      command: 'skip',
      reason: 'pull request #42 is a draft (skip-drafts is on)',
    });
    expect(decide('pull_request', prPayload('opened', { draft: true }), auto)).toMatchObject({ command: 'open' });
  });

  test('other actions are skipped', () => {
    expect(decide('pull_request', prPayload('edited'), auto)).toMatchObject({ command: 'skip', reason: expect.stringContaining('"edited"') });
  });

  test('labeling a closed PR does not open', () => {
    expect(decide('pull_request', prPayload('labeled', { label: 'preview', labels: ['preview'], state: 'closed' }), { ...auto, label: 'preview' })).toMatchObject({
      command: 'skip',
      reason: 'pull request #42 is closed',
    });
  });

  test('env-name template', () => {
    expect(decide('pull_request', prPayload('opened'), { ...auto, envName: 'shop-{pr}' })).toMatchObject({ env: 'shop-42' });
  });

  test('a payload without a pull request is skipped', () => {
    expect(decide('pull_request', { action: 'opened' }, auto)).toMatchObject({ command: 'skip' });
  });
});

describe('decide: other events', () => {
  test('schedule -> sweep', () => {
    expect(decide('schedule', { schedule: '0 * * * *' }, auto)).toMatchObject({ command: 'sweep' });
  });

  test('workflow_dispatch -> sweep', () => {
    expect(decide('workflow_dispatch', { inputs: {} }, auto)).toMatchObject({ command: 'sweep' });
  });

  test('push in auto mode is skipped with a hint', () => {
    expect(decide('push', {}, auto)).toMatchObject({ command: 'skip', reason: expect.stringContaining('set the "command" input') });
  });
});

describe('decide: explicit command overrides auto', () => {
  test('close on synchronize is a manual close', () => {
    expect(decide('pull_request', prPayload('synchronize'), { ...auto, command: 'close' })).toMatchObject({ command: 'close', closeReason: 'manual', env: 'pr-42' });
  });

  test('close on the PR close event keeps the real reason', () => {
    expect(decide('pull_request', prPayload('closed', { merged: true }), { ...auto, command: 'close' })).toMatchObject({ closeReason: 'merged' });
  });

  test('status on a schedule needs env-name', () => {
    expect(decide('schedule', {}, { ...auto, command: 'status', envName: 'staging-x' })).toMatchObject({ command: 'status', env: 'staging-x' });
    expect(() => decide('schedule', {}, { ...auto, command: 'status' })).toThrow(DynamicEnvError);
    expect(() => decide('schedule', {}, { ...auto, command: 'open', envName: 'pr-{pr}' })).toThrow(/uses \{pr\}/);
  });

  test('open on workflow_dispatch with env-name opens', () => {
    expect(decide('workflow_dispatch', {}, { ...auto, command: 'open', envName: 'demo' })).toMatchObject({ command: 'open', env: 'demo', pull: null });
  });

  test('sweep on a PR event sweeps', () => {
    expect(decide('pull_request', prPayload('opened'), { ...auto, command: 'sweep' })).toMatchObject({ command: 'sweep' });
  });

  test('explicit open still refuses forks, drafts (skip-drafts) and PRs without the gate label', () => {
    const open = { ...auto, command: 'open' as const };
    expect(decide('pull_request', prPayload('opened', { headRepo: 'mallory/shop' }), open)).toMatchObject({ command: 'skip' });
    expect(decide('pull_request', prPayload('opened', { draft: true }), { ...open, skipDrafts: true })).toMatchObject({ command: 'skip' });
    expect(decide('pull_request', prPayload('opened'), { ...open, label: 'preview' })).toMatchObject({ command: 'skip' });
  });
});
