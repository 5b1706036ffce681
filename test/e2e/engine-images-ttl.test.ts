// Images per pull request and the sweep's TTL, through the CLI (dist/cli.js) as the least-privilege ServiceAccount:
// `--images` lines and placeholders end up in the clones; `sweep --ttl` counts from an env's last update, or from its
// first open with `--ttl-from opened`; a sweep closes several envs at once.
import { beforeAll, describe, expect, it } from 'vitest';
import { editObject, useCluster, type TestCluster } from '../harness/cluster.js';
import { actor, bookinfo, cli, envName, expectRestored, install, ok, userObjects, waitSettled, writeConfig } from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;
const SHA = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const DAY = 86_400_000;

/**
 * Faked ages: the stamps an open writes, set by the admin on every clone of the env; nothing else reads them. Only
 * these envs are that old: the CLI's sweep looks at every env of the shared test cluster and keeps the others.
 */
async function age(cluster: TestCluster, ns: string, env: string, opened: string, updated: string): Promise<void> {
  for (const d of await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`)) {
    await editObject(cluster.admin, 'Deployment', ns, d.metadata.name, (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, 'dynamic-env.io/opened-at': opened, 'dynamic-env.io/updated-at': updated };
      return o;
    });
  }
}

describe.skipIf(skip)('images per pull request and the sweep TTL, through the CLI', () => {
  const env = envName();
  let ns: string;
  let who: Awaited<ReturnType<typeof actor>>;
  let config: string;
  const owner = ['--repo', 'acme/bookinfo', '--pr', '42', '--commit', SHA, '--branch', 'feature/Stars'];
  const clone = (name: string) => cluster.get('Deployment', ns, `${name}-${env}`);
  const imageOf = async (name: string) => (await clone(name)).spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`);

  beforeAll(async () => {
    ns = await cluster.namespace('images');
    await install(cluster, bookinfo(ns));
    who = await actor(cluster, [ns]);
    config = writeConfig(cluster, {
      env,
      services: [{ namespace: ns, deployment: 'reviews-v3', image: 'ghcr.io/acme/reviews:pr-{pr}' }],
      workers: [{ namespace: ns, deployment: 'review-indexer', image: 'ghcr.io/acme/indexer:1' }],
    });
  });

  it('opens with --images: a listed service\'s and worker\'s image replaced, a service added in the config\'s one namespace, placeholders filled in', async () => {
    ok(await who.open(config, ...owner, '--no-wait',
      '--images', 'reviews-v3=ghcr.io/acme/reviews:{sha}',
      '--images', `ratings-v1=ghcr.io/acme/ratings:{branch}-{short-sha},${ns}/review-indexer/indexer=ghcr.io/acme/indexer:{env}`));
    expect(await imageOf('reviews-v3')).toEqual([`reviews=ghcr.io/acme/reviews:${SHA}`]);
    expect(await imageOf('ratings-v1')).toEqual(['ratings=ghcr.io/acme/ratings:feature-Stars-4b825dc']);
    expect(await imageOf('review-indexer')).toEqual([`indexer=ghcr.io/acme/indexer:${env}`]);
    // Added by a line: a routed service. The worker stays a worker.
    expect((await clone('ratings-v1')).metadata.labels['dynamic-env.io/role']).toBe('service');
    expect((await clone('review-indexer')).metadata.labels['dynamic-env.io/role']).toBe('worker');
  });

  it('a re-run with nothing new writes nothing and keeps the updated-at stamp', async () => {
    const before = (await clone('reviews-v3')).metadata.annotations['dynamic-env.io/updated-at'];
    const writes = who.writes().length;
    ok(await who.open(config, ...owner, '--no-wait',
      '--images', 'reviews-v3=ghcr.io/acme/reviews:{sha}',
      '--images', `ratings-v1=ghcr.io/acme/ratings:{branch}-{short-sha},${ns}/review-indexer/indexer=ghcr.io/acme/indexer:{env}`));
    expect(who.writes().slice(writes)).toEqual([]);
    expect((await clone('reviews-v3')).metadata.annotations['dynamic-env.io/updated-at']).toBe(before);
  });

  it('sweep --ttl 7d keeps an env opened long ago but updated yesterday; --ttl-from opened reclaims it', async () => {
    // Opened 30 days ago, last updated one day ago.
    const opened = new Date(Date.now() - 30 * DAY).toISOString();
    await age(cluster, ns, env, opened, new Date(Date.now() - DAY).toISOString());
    const sweep = (...extra: string[]) => cli(['sweep', '--ttl', '7d', ...extra, '--kubeconfig', who.kubeconfig, '--lock-namespace', ns, '--drain', '0s', '--output', 'json']);
    const mine = (r: { json: any }) => r.json.find((x: any) => x.env === env);

    const kept = ok(await sweep());
    expect(mine(kept)).toEqual({ env, closed: false, reason: 'kept' });
    // With --heal as well, one JSON document holds both (it was two, one after the other: no JSON parser reads that).
    // Heal leaves an env whose clones are not ready alone: wait for them (the open ran with --no-wait). A dry run on
    // routes in place says so (it compared JSON text, whose key order is the API server's, and always saw a change).
    for (const d of await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`)) await waitSettled(cluster, ns, d.metadata.name);
    const both = ok(await sweep('--heal', '--env', env, '--dry-run'));
    expect(both.json.swept.find((x: any) => x.env === env)).toEqual({ env, closed: false, reason: 'kept' });
    expect(both.json.healed.find((x: any) => x.env === env)).toMatchObject({ env, healed: [], reason: 'routes in place' });
    expect(await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`)).toHaveLength(3);

    const reclaimed = ok(await sweep('--ttl-from', 'opened'));
    expect(mine(reclaimed)).toEqual({ env, closed: true, reason: `older than 7d (opened ${opened})` });
    expect(await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`)).toEqual([]);
  });
});

describe.skipIf(skip)('a sweep closes several envs at once', () => {
  it('four envs past the TTL on one VirtualService: every close holds its Lease at the same time (their drains overlap), each env is gone, the user\'s objects are as before', async () => {
    const ns = await cluster.namespace('sweep-many');
    await install(cluster, bookinfo(ns));
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const envs = Array.from({ length: 4 }, () => envName('sw'));
    const old = new Date(Date.now() - 30 * DAY).toISOString();
    for (const env of envs) {
      ok(await who.open(writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'reviews-v3' }] }), '--no-wait'));
      await age(cluster, ns, env, old, old);
    }
    const swept = ok(await cli(['sweep', '--ttl', '7d', '--kubeconfig', who.kubeconfig, '--lock-namespace', ns, '--drain', '2s', '--output', 'json']));
    for (const env of envs) expect(swept.json.find((x: any) => x.env === env)).toEqual({ env, closed: true, reason: `older than 7d since its last update (${old})` });
    // One after another, each close took its Lease after the one before had released its own, a drain later.
    const leaseWrites = (verb: string) => cluster.audit({ username: who.username })
      .filter((e) => e.verb === verb && e.objectRef?.resource === 'leases' && envs.some((env) => e.objectRef?.name?.endsWith(env)) && e.responseStatus?.code! < 300)
      .map((e) => Date.parse(e.requestReceivedTimestamp ?? ''));
    // Every env's Lease is taken twice (its open, its close) and released twice: the closes' are the last of each.
    const takes = leaseWrites('create').sort((a, b) => a - b).slice(-envs.length);
    const releases = leaseWrites('delete').sort((a, b) => a - b).slice(-envs.length);
    expect(takes).toHaveLength(envs.length);
    expect(Math.max(...takes)).toBeLessThan(Math.min(...releases));
    await expectRestored(cluster, [ns], before, [`${ns}/reviews`]);
  });
});
