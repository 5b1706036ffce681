// Owners across repositories (two repositories' PR #42 are both `pr-42` by default) and the Lease an env uses,
// found from the env itself (docs/DESIGN.md "Objects we own" and "Concurrency").

import { describe, expect, test } from 'vitest';
import { parseConfigText } from '../../src/config/file.js';
import { resolveEnvSpec } from '../../src/config/spec.js';
import { expandEnvName, readInputs, type InputName } from '../../src/config/inputs.js';
import { demoConfigText, demoSnapshot } from '../../src/demo/bookinfo.js';
import { DynamicEnvError } from '../../src/errors.js';
import { decide } from '../../src/github/event.js';
import { planClose } from '../../src/plan/close.js';
import { LOCK_NAMESPACE_ANNOTATION, mayTouch, ownershipProblems } from '../../src/plan/ownership.js';
import { MAX_ENV_NAME } from '../../src/plan/names.js';
import type { EnvSpec, KubeObject, OwnerInfo, Snapshot } from '../../src/plan/types.js';
import { openEnv, planWithAnnotations } from '../../src/commands/open.js';
import { closeEnv } from '../../src/commands/close.js';
import { sweepEnvs } from '../../src/commands/status.js';
import { ApiStatusError, type KubeClient } from '../../src/kube/client.js';
import type { ResourceType } from '../../src/kube/resources.js';
import { thrownError } from './fixtures/errors.js';

const NOW = '2026-02-01T00:00:00Z';
const A = { repo: 'acme/a', pr: 42 };
const B = { repo: 'acme/b', pr: 42 };

function spec(owner: OwnerInfo): EnvSpec {
  return resolveEnvSpec(parseConfigText(demoConfigText, 'demo.yaml'), { now: NOW, owner });
}

/** The demo cluster with env pr-42 opened by `owner` (its clones and DestinationRules, lock namespace recorded). */
function openedBy(owner: OwnerInfo, lockNamespace?: string): Snapshot {
  const snap = demoSnapshot();
  const plan = planWithAnnotations(snap, spec(owner), lockNamespace);
  return { ...snap, deployments: [...snap.deployments, ...plan.clones], destinationRules: [...snap.destinationRules, ...plan.destinationRules] };
}

const refusal = thrownError;

async function rejection(p: Promise<unknown>): Promise<DynamicEnvError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(DynamicEnvError);
  return e as DynamicEnvError;
}

describe('two repositories, one env name', () => {
  test("open of pr-42 by acme/b is refused when acme/a's pr-42 is there, naming the owner and the fix", () => {
    const e = refusal(() => planWithAnnotations(openedBy(A), spec(B)));
    expect(e.exitCode).toBe(1);
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toMatch(/^env pr-42: belongs to acme\/a PR #42 \(recorded on Deployment bookinfo\/[a-z0-9-]+, /);
    expect(e.problems[0]).toContain('not to acme/b PR #42');
    expect(e.problems[0]).toContain('{repo}-pr-{pr}');
  });

  test('a re-run by the owner plans as before; another PR of the same repository is refused', () => {
    expect(planWithAnnotations(openedBy(A), spec(A)).clones.length).toBeGreaterThan(0);
    expect(refusal(() => planWithAnnotations(openedBy(A), spec({ repo: 'acme/a', pr: 7 }))).problems[0]).toContain('belongs to acme/a PR #42');
  });

  test("close by acme/b of acme/a's env is refused; by acme/a, or by a person without --repo, it is planned", () => {
    const snap = openedBy(A);
    expect(refusal(() => planClose(snap, 'pr-42', B)).problems[0]).toMatch(/^env pr-42: belongs to acme\/a PR #42 .*close would tear it down/);
    expect(planClose(snap, 'pr-42', A).clones.length).toBe(2);
    expect(planClose(snap, 'pr-42').clones.length).toBe(2);
  });

  test('an env opened by hand (no owner): the action neither takes it over nor closes it; the CLI without --repo may', () => {
    const snap = openedBy({});
    expect(refusal(() => planWithAnnotations(snap, spec(A))).problems[0]).toContain('belongs to no repository (opened by hand, without --repo)');
    expect(() => planClose(snap, 'pr-42', A)).toThrow(DynamicEnvError);
    expect(planWithAnnotations(snap, spec({})).clones.length).toBe(2);
    // The reverse: an owned env is not re-opened without --repo (it would lose its owner and its repository's sweep).
    expect(refusal(() => planWithAnnotations(openedBy(A), spec({}))).problems[0]).toContain('pass --repo acme/a --pr 42');
  });

  test('the decision table', () => {
    expect(mayTouch({ repo: 'acme/a', pr: 42 }, { repo: 'ACME/A', pr: 42 }, 'open')).toBe(true);
    expect(mayTouch({ repo: 'acme.a', pr: 42 }, { repo: 'acme/a', pr: 42 }, 'open')).toBe(true); // the label form
    expect(mayTouch({ repo: 'acme/a', pr: null }, { repo: 'acme/a', pr: 42 }, 'open')).toBe(true);
    expect(mayTouch({ repo: 'acme/a', pr: 42 }, { repo: 'acme/a' }, 'close')).toBe(true);
    expect(mayTouch({ repo: 'acme/a', pr: 42 }, { repo: 'acme/b', pr: 42 }, 'close')).toBe(false);
    expect(mayTouch({ repo: 'acme/a', pr: 42 }, {}, 'open')).toBe(false);
    expect(mayTouch({ repo: 'acme/a', pr: 42 }, {}, 'close')).toBe(true);
    expect(mayTouch({ repo: null, pr: null }, { repo: 'acme/a' }, 'close')).toBe(false);
    expect(mayTouch({ repo: null, pr: null }, {}, 'open')).toBe(true);
  });

  test('objects of two owners (left by the old behaviour) are both named', () => {
    const mixed = openedBy(A);
    const b = openedBy(B);
    mixed.deployments = [...mixed.deployments.slice(0, -1), b.deployments.at(-1)!];
    const problems = ownershipProblems([...mixed.deployments, ...mixed.destinationRules], 'pr-42', { repo: 'acme/c' }, 'open');
    expect(problems.map((p) => p.message.split(' (')[0])).toEqual(['belongs to acme/a PR #42', 'belongs to acme/b PR #42']);
  });

  test('the action sweep closes only with its own owner: a same-named env of another repository is refused', async () => {
    const { client, writes } = fakeClient(openedBy(A));
    const results = await sweepEnvs({
      client, run: { lockNamespace: 'default' }, drainMs: 0,
      decide: () => ({ close: true, reason: 'test' }),
      owner: () => B,
    });
    expect(results).toEqual([expect.objectContaining({ env: 'pr-42', closed: false, error: expect.stringContaining('belongs to acme/a PR #42') })]);
    expect(writes).toEqual([]);
  });
});

describe('{repo} in env-name', () => {
  test('the repository name, sanitised; shortened with a hash of owner/name to fit 40', () => {
    expect(expandEnvName('{repo}-pr-{pr}', { pr: 42, repo: 'acme/Web_App.v2' })).toBe('web-app-v2-pr-42');
    expect(expandEnvName('pr-{pr}', { pr: 42, repo: 'acme/web' })).toBe('pr-42');
    const long = expandEnvName('{repo}-pr-{pr}', { pr: 1234567, repo: 'acme/a-very-long-repository-name-for-the-storefront' });
    expect(long.length).toBeLessThanOrEqual(MAX_ENV_NAME);
    expect(long).toMatch(/^a-very-long-reposito-[0-9a-f]{8}-pr-1234567$/);
    // Deterministic, and two owners' same-named long repositories differ.
    expect(expandEnvName('{repo}-pr-{pr}', { pr: 1234567, repo: 'acme/a-very-long-repository-name-for-the-storefront' })).toBe(long);
    expect(expandEnvName('{repo}-pr-{pr}', { pr: 1234567, repo: 'other/a-very-long-repository-name-for-the-storefront' })).not.toBe(long);
    expect(expandEnvName('{repo}-{pr}', { pr: 1, repo: 'acme/___' })).toMatch(/^[0-9a-f]{8}-1$/);
  });

  test('the input accepts {repo}, and refuses a template that leaves it no room', () => {
    const inputs = (v: Record<string, string>) => readInputs((n: InputName) => v[n] ?? '');
    expect(inputs({ 'env-name': '{repo}-pr-{pr}' }).envName).toBe('{repo}-pr-{pr}');
    expect(() => inputs({ 'env-name': `${'x'.repeat(28)}-{repo}-{pr}` })).toThrow(/leaves \{repo\} fewer than 8 characters/);
  });

  test('the action expands it from the event', () => {
    const payload = {
      action: 'opened', number: 42, repository: { full_name: 'acme/b' },
      pull_request: { number: 42, state: 'open', head: { sha: 'a'.repeat(40), ref: 'f', repo: { full_name: 'acme/b' } }, base: { ref: 'main', repo: { full_name: 'acme/b' } } },
    };
    expect(decide('pull_request', payload, { command: 'auto', skipDrafts: false, envName: '{repo}-pr-{pr}' })).toMatchObject({ command: 'open', env: 'b-pr-42' });
    expect(decide('workflow_dispatch', {}, { command: 'open', skipDrafts: false, envName: '{repo}-main', repository: 'acme/shop' })).toMatchObject({ env: 'shop-main' });
  });
});

describe('the Lease is found from the env', () => {
  test('open records its lock namespace on every clone', () => {
    const plan = planWithAnnotations(demoSnapshot(), spec(A), 'dynamic-env');
    expect(plan.clones.map((c) => c.metadata.annotations?.[LOCK_NAMESPACE_ANNOTATION])).toEqual(['dynamic-env', 'dynamic-env']);
  });

  test('close without config (lock namespace "default") takes the Lease in the namespace the clones record', async () => {
    const { client, writes } = fakeClient(openedBy(A, 'dynamic-env'));
    await rejection(closeEnv({ client, env: 'pr-42', run: { lockNamespace: 'default' }, drainMs: 0 }));
    expect(writes).toEqual(['create Lease dynamic-env/dynamic-env-pr-42']);
  });

  test('sweep does too', async () => {
    const { client, writes } = fakeClient(openedBy(A, 'dynamic-env'));
    const results = await sweepEnvs({ client, run: { lockNamespace: 'default' }, drainMs: 0, decide: () => ({ close: true, reason: 'test' }) });
    expect(results[0]!.error).toBeDefined();
    expect(writes).toEqual(['create Lease dynamic-env/dynamic-env-pr-42']);
  });

  test('an open with another lock namespace follows the one the env records (and asks for access there)', async () => {
    const { client, writes, reviews } = fakeClient(openedBy(A, 'dynamic-env'));
    await rejection(openEnv({ client, spec: spec(A), run: { lockNamespace: 'default', wait: false, timeoutSeconds: 1 } }));
    expect(writes).toEqual(['create Lease dynamic-env/dynamic-env-pr-42']);
    expect(reviews.filter((r) => r.startsWith('leases '))).toEqual(['leases dynamic-env create', 'leases dynamic-env update', 'leases dynamic-env delete']);
  });

  test('an env without clones uses the run\'s namespace; a refused Lease there says where the namespace came from', async () => {
    const { client, writes } = fakeClient(demoSnapshot(), { leaseForbidden: true });
    const e = await rejection(closeEnv({ client, env: 'pr-42', run: { lockNamespace: 'default' }, drainMs: 0 }));
    expect(writes).toEqual(['create Lease default/dynamic-env-pr-42']);
    expect(e.message).toContain('has no clone recording its Lease namespace');
  });

  test('clones recording different namespaces are refused, naming them', async () => {
    const snap = openedBy(A, 'dynamic-env');
    snap.deployments.filter((d) => d.metadata.annotations?.[LOCK_NAMESPACE_ANNOTATION])[0]!.metadata.annotations![LOCK_NAMESPACE_ANNOTATION] = 'other';
    const { client, writes } = fakeClient(snap);
    const e = await rejection(closeEnv({ client, env: 'pr-42', run: { lockNamespace: 'default' }, drainMs: 0 }));
    expect(e.message).toContain('record different Lease namespaces (dynamic-env.io/lock-namespace: dynamic-env, other)');
    expect(writes).toEqual([]);
  });
});

/** A KubeClient serving `snap`, allowing every access review, and recording (not making) writes. */
function fakeClient(snap: Snapshot, o: { leaseForbidden?: boolean } = {}): { client: KubeClient; writes: string[]; reviews: string[] } {
  const writes: string[] = [];
  const reviews: string[] = [];
  const byKind: Record<string, KubeObject[]> = {
    Deployment: snap.deployments,
    Service: snap.services,
    DestinationRule: snap.destinationRules,
    VirtualService: snap.virtualServices,
  };
  const selects = (obj: KubeObject, selector = ''): boolean =>
    selector.split(',').filter(Boolean).every((term) => {
      const [k, v] = term.split(/!?=/) as [string, string];
      return (obj.metadata.labels?.[k] === v) !== term.includes('!=');
    });
  const write = (verb: string) => async (type: ResourceType, obj: KubeObject): Promise<never> => {
    writes.push(`${verb} ${type.kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`);
    if (o.leaseForbidden && type.kind === 'Lease') {
      throw new ApiStatusError(403, 'Forbidden', 'leases.coordination.k8s.io is forbidden', 'POST', '/apis/coordination.k8s.io/v1/leases');
    }
    throw new Error('no writes in this test');
  };
  const list = async (type: ResourceType, namespace?: string, labelSelector?: string) => ({
    items: (byKind[type.kind] ?? []).filter((x) => !namespace || x.metadata.namespace === namespace).filter((x) => selects(x, labelSelector)),
    resourceVersion: '1',
  });
  const client = {
    list,
    listCached: list,
    get: async () => null,
    create: async (type: ResourceType, obj: KubeObject) => {
      if (type.kind === 'SelfSubjectRulesReview') return { ...obj, status: { resourceRules: [], incomplete: true } };
      if (type.kind !== 'SelfSubjectAccessReview') return write('create')(type, obj);
      const { namespace, resource, verb } = (obj as unknown as { spec: { resourceAttributes: { namespace: string; resource: string; verb: string } } }).spec.resourceAttributes;
      reviews.push(`${resource} ${namespace} ${verb}`);
      return { ...obj, status: { allowed: true } };
    },
    replace: write('update'),
    delete: write('delete'),
  };
  return { client: client as unknown as KubeClient, writes, reviews };
}
