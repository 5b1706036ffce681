// Clones that would take what is not theirs, or never run: an env named like a version value pods already carry,
// a clone name another env's clone already has, and a paused original. The refusals come before any write (the
// audit log shows none by the identity, not even its Lease); the paused original gives a running clone.
import { describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import {
  actor, deployment, destinationRule, envName, install, ok, service, virtualService, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

/** Routed service `web` (Service, DR with the given subsets, mesh VirtualService to v1) in a fresh namespace. */
async function webApp(prefix: string, versions: string[], extra: ((ns: string) => any)[] = [], original = 'web-v1') {
  const ns = await cluster.namespace(prefix);
  await install(cluster, [
    deployment(ns, original, { labels: { app: 'web', version: 'v1' } }),
    service(ns, 'web', { app: 'web' }),
    destinationRule(ns, 'web', 'web', versions),
    virtualService(ns, 'web', { hosts: ['web'], http: [{ name: 'default', route: [{ destination: { host: 'web', subset: 'v1' } }] }] }),
    ...extra.map((f) => f(ns)),
  ]);
  return ns;
}

describe.skipIf(skip)('clones that would take what is not theirs are refused before the first write', () => {
  it('an env named like a version value pods carry (--env v2 beside version: v2): exit 1 naming their Deployment and the fix, zero writes', async () => {
    // The env name is a version value in use: pods of web-next carry it, and no user subset is named after it.
    const env = envName('v');
    const ns = await webApp('version-env', ['v1'], [(n) => deployment(n, 'web-next', { labels: { app: 'web', version: env } })]);
    const who = await actor(cluster, [ns]);
    const r = await who.open(writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' }] }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `Deployment ${ns}/web-next: its pods carry "version: ${env}", the label env ${env} gives its own pods, so the env's subset`,
    );
    expect(r.stderr).toContain('choose an env name that is not a "version" value in use');
    expect(who.writes({ leases: true })).toEqual([]);
    expect(await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`)).toEqual([]);
  });

  it("a clone name another env's clone has (web in env v2-<x>, web-v2 in env <x>): exit 1 naming that env and the fix, zero writes", async () => {
    const envB = envName();
    const envA = `v2-${envB}`;
    const ns = await webApp('clone-clash', ['v1', 'v2'], [
      (n) => deployment(n, 'web-v2', { labels: { app: 'web', version: 'v2' } }),
      (n) => deployment(n, 'indexer', { labels: { app: 'indexer' } }),
    ], 'web');
    const a = await actor(cluster, [ns]);
    ok(await a.open(writeConfig(cluster, { env: envA, services: [{ namespace: ns, deployment: 'web', image: 'ghcr.io/acme/web:pr-a' }] })));
    const clone = await cluster.get('Deployment', ns, `web-v2-${envB}`);
    expect(clone.metadata.labels['dynamic-env.io/env']).toBe(envA);

    // Env <x> would clone web-v2 to the same name; its worker's clone (no clash) is not written either.
    const b = await actor(cluster, [ns]);
    const r = await b.open(writeConfig(cluster, {
      env: envB,
      services: [{ namespace: ns, deployment: 'web-v2', image: 'ghcr.io/acme/web:pr-b' }],
      workers: [{ namespace: ns, deployment: 'indexer', image: 'ghcr.io/acme/indexer:pr-b' }],
    }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `Deployment ${ns}/web-v2-${envB}: is env ${envA}'s clone of ${ns}/web, and web-v2's clone in env ${envB} would get the same name`,
    );
    expect(r.stderr).toContain(`choose another env name for this env, or close env ${envA} first (dynamic-env close --env ${envA})`);
    expect(b.writes({ leases: true })).toEqual([]);
    expect(await cluster.list('Deployment', ns, `dynamic-env.io/env=${envB}`)).toEqual([]);
    // Env v2-<x>'s clone is as it was, and its env closes as usual.
    expect((await cluster.get('Deployment', ns, `web-v2-${envB}`)).metadata.resourceVersion).toBe(clone.metadata.resourceVersion);
    ok(await a.close(envA));
    expect(await cluster.list('Deployment', ns, 'app.kubernetes.io/managed-by=dynamic-env')).toEqual([]);
  });
});

describe.skipIf(skip)('a paused original', () => {
  it('gives a clone that is not paused: open is ready well before its timeout, the original stays paused', async () => {
    const ns = await webApp('paused', ['v1']);
    const { metadata: { resourceVersion: _rv, ...metadata }, ...original } = await cluster.get('Deployment', ns, 'web-v1');
    await cluster.apply({ ...original, metadata, spec: { ...original.spec, paused: true } }); // kubectl rollout pause
    const who = await actor(cluster, [ns]);
    const env = envName();
    const r = ok(await who.open(writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' }] })));
    expect(r.json.state).toBe('ready');
    expect(r.ms).toBeLessThan(45_000); // --timeout 60s: a paused clone would have waited all of it
    const clone = await cluster.get('Deployment', ns, `web-v1-${env}`);
    expect(clone.spec.paused).toBeUndefined();
    expect(clone.status.readyReplicas).toBe(1);
    expect((await cluster.get('Deployment', ns, 'web-v1')).spec.paused).toBe(true);
    ok(await who.close(env));
  });
});
