// Config + overrides -> EnvSpec and run options.

import { describe, expect, test } from 'vitest';
import { parseConfigText } from '../../src/config/file.js';
import { DEFAULTS, resolveEnvSpec, resolveRunOptions } from '../../src/config/spec.js';
import { DynamicEnvError } from '../../src/errors.js';

const config = (text: string) => parseConfigText(text, 'c.yaml');
const BASE = config(`services:
  - namespace: shop
    deployment: api
    containers:
      - {name: api, image: "ghcr.io/acme/api:pr"}
      - {name: proxy, env: [{name: A, value: b}]}
workers:
  - {namespace: jobs, deployment: mailer, image: "ghcr.io/acme/mailer:pr", replicas: 2, labels: {team: mail}}
`);

function usage(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DynamicEnvError);
    expect((e as DynamicEnvError).exitCode).toBe(2);
    return (e as DynamicEnvError).problems;
  }
  throw new Error('expected a usage error');
}

describe('resolveEnvSpec', () => {
  test('defaults, workloads, owner, now', () => {
    const spec = resolveEnvSpec(BASE, { env: 'pr-42', owner: { repo: 'acme/shop', pr: 42, commit: 'abc' }, now: '2026-01-01T00:00:00Z' });
    expect(spec).toEqual({
      name: 'pr-42',
      routing: { header: 'x-override', baggageKey: 'override', versionLabel: 'version', pinUnsubsetRoutes: false, allowPinningGitOpsManaged: false },
      services: [
        {
          namespace: 'shop',
          deployment: 'api',
          replicas: 1,
          labels: {},
          containers: [{ name: 'api', image: 'ghcr.io/acme/api:pr' }, { name: 'proxy', env: [{ name: 'A', value: 'b' }] }],
        },
      ],
      workers: [{ namespace: 'jobs', deployment: 'mailer', replicas: 2, labels: { team: 'mail' }, containers: [{ image: 'ghcr.io/acme/mailer:pr' }] }],
      gitops: { stripLabels: [...DEFAULTS.gitops.stripLabels], stripAnnotations: [...DEFAULTS.gitops.stripAnnotations] },
      owner: { repo: 'acme/shop', pr: 42, commit: 'abc' },
      clusterDomain: 'cluster.local',
      istioRootNamespace: 'istio-system',
      now: '2026-01-01T00:00:00Z',
    });
  });

  test('the env name comes from the overrides, else the file, else it is a usage error', () => {
    expect(resolveEnvSpec(config(`env: from-file\nworkers: [{namespace: a, deployment: b}]`), {}).name).toBe('from-file');
    expect(resolveEnvSpec(config(`env: from-file\nworkers: [{namespace: a, deployment: b}]`), { env: 'pr-7' }).name).toBe('pr-7');
    expect(resolveEnvSpec(config(`env: e\nistioRootNamespace: mesh-root\nworkers: [{namespace: a, deployment: b}]`), {}).istioRootNamespace).toBe('mesh-root');
    expect(usage(() => resolveEnvSpec(BASE, {}))).toEqual([expect.stringMatching(/^env: no env name given; set "env" in the config file or pass one/)]);
    expect(usage(() => resolveEnvSpec(BASE, { env: 'PR 7' }))).toEqual([expect.stringMatching(/^env: env name must be a lowercase DNS label/)]);
    expect(usage(() => resolveEnvSpec(BASE, { env: 'p'.repeat(41) }))).toEqual([expect.stringMatching(/at most 40/)]);
  });

  test('routing overrides: header (normalised), baggage key, baggage off', () => {
    const file = config(`routing: {header: x-env, baggageKey: env, pinUnsubsetRoutes: true, versionLabel: track}\nworkers: [{namespace: a, deployment: b}]`);
    expect(resolveEnvSpec(file, { env: 'e' }).routing).toEqual({ header: 'x-env', baggageKey: 'env', versionLabel: 'track', pinUnsubsetRoutes: true, allowPinningGitOpsManaged: false });
    expect(resolveEnvSpec(file, { env: 'e', routing: { header: 'X-PR', baggageKey: 'pr' } }).routing).toMatchObject({ header: 'x-pr', baggageKey: 'pr' });
    expect(resolveEnvSpec(file, { env: 'e', routing: { baggageKey: false } }).routing.baggageKey).toBeNull();
    expect(resolveEnvSpec(config(`routing: {baggageKey: false}\nworkers: [{namespace: a, deployment: b}]`), { env: 'e' }).routing.baggageKey).toBeNull();
    expect(usage(() => resolveEnvSpec(file, { env: 'e', routing: { header: 'baggage', baggageKey: 'a b' } }))).toEqual([
      expect.stringMatching(/^header: must not be "baggage"/),
      expect.stringMatching(/^baggageKey: must be a W3C baggage key/),
    ]);
  });

  test('the one-deployment shorthand adds a service', () => {
    const spec = resolveEnvSpec(BASE, { env: 'e', deployment: { namespace: 'shop', deployment: 'web', image: 'ghcr.io/acme/web:pr' } });
    expect(spec.services.map((s) => s.deployment)).toEqual(['api', 'web']);
    expect(spec.services[1]).toEqual({ namespace: 'shop', deployment: 'web', replicas: 1, labels: {}, containers: [{ image: 'ghcr.io/acme/web:pr' }] });
  });

  test('the shorthand overrides the image of a listed service (named container) or worker (only container)', () => {
    const named = resolveEnvSpec(BASE, { env: 'e', deployment: { namespace: 'shop', deployment: 'api', container: 'api', image: 'x/api:2' } });
    expect(named.services[0]!.containers).toEqual([{ name: 'api', image: 'x/api:2' }, { name: 'proxy', env: [{ name: 'A', value: 'b' }] }]);
    const proxy = resolveEnvSpec(BASE, { env: 'e', deployment: { namespace: 'shop', deployment: 'api', container: 'proxy', image: 'x/proxy:2' } });
    expect(proxy.services[0]!.containers[1]).toEqual({ name: 'proxy', env: [{ name: 'A', value: 'b' }], image: 'x/proxy:2' });
    const worker = resolveEnvSpec(BASE, { env: 'e', deployment: { namespace: 'jobs', deployment: 'mailer', image: 'x/mailer:2' } });
    expect(worker.workers[0]!.containers).toEqual([{ image: 'x/mailer:2' }]);
    expect(worker.services).toHaveLength(1);
  });

  test('the shorthand is validated, and is enough on its own', () => {
    const empty = { services: [], workers: [] } as unknown as Parameters<typeof resolveEnvSpec>[0];
    expect(resolveEnvSpec(empty, { env: 'e', deployment: { namespace: 'a', deployment: 'b', image: 'c' } }).services).toHaveLength(1);
    expect(usage(() => resolveEnvSpec(empty, { env: 'e', deployment: { namespace: 'A', deployment: 'b', image: 'bad image' } }))).toEqual([
      expect.stringMatching(/^deployment\.namespace: must be a lowercase DNS label/),
      expect.stringMatching(/^deployment\.containers\[0\]\.image: must not contain whitespace/),
      expect.stringMatching(/^services: nothing to open/),
    ]);
    expect(usage(() => resolveEnvSpec(empty, { env: 'e' }))).toEqual([expect.stringMatching(/^services: nothing to open/)]);
  });

  test('does not share arrays with the config', () => {
    const spec = resolveEnvSpec(BASE, { env: 'e' });
    spec.services[0]!.containers[0]!.image = 'changed';
    spec.gitops.stripLabels.push('x');
    expect(BASE.services[0]!.containers![0]!.image).toBe('ghcr.io/acme/api:pr');
    expect(DEFAULTS.gitops.stripLabels).not.toContain('x');
  });
});

describe('resolveRunOptions', () => {
  test('defaults', () => {
    expect(resolveRunOptions()).toEqual({ lockNamespace: 'default', wait: true, timeoutSeconds: 300 });
  });
  test('file, then overrides', () => {
    const file = config('lockNamespace: locks\nwait: false\ntimeout: 1h\nworkers: [{namespace: a, deployment: b}]');
    expect(resolveRunOptions(file)).toEqual({ lockNamespace: 'locks', wait: false, timeoutSeconds: 3600 });
    expect(resolveRunOptions(file, { lockNamespace: 'x', wait: true, timeout: '90s' })).toEqual({ lockNamespace: 'x', wait: true, timeoutSeconds: 90 });
    expect(resolveRunOptions(file, { timeoutSeconds: 42 }).timeoutSeconds).toBe(42);
    expect(resolveRunOptions({ timeout: 120 }).timeoutSeconds).toBe(120);
    expect(resolveRunOptions({ timeout: '5m' }).timeoutSeconds).toBe(300);
  });
  test('a bad timeout override is a usage error', () => {
    expect(usage(() => resolveRunOptions({}, { timeout: 'soon' }))).toEqual([expect.stringMatching(/^timeout: must be a duration/)]);
  });
});
