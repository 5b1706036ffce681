// Shared clusters: two repositories whose PR #42 both want env `pr-42` (the action's default name), and close and
// sweep jobs that have no config file. Open and close never touch another repository's env (refused before any
// write, the Lease included, naming the owner), and every command on an env takes the Lease its open took, found
// from the env's clones rather than from flags or config. Run as users run it: the CLI (dist/cli.js) with
// least-privilege ServiceAccounts bound to deploy/rbac.yaml, checked through the API server's audit log.
import { beforeAll, describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import {
  actor, cli, deployment, destinationRule, envName, install, ok, routeNames, service, virtualService, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

describe.skipIf(skip)('two repositories, one env name; the Lease found from the env', () => {
  const env = envName();
  const lease = `dynamic-env-${env}`;
  let ns: string;
  let locks: string;
  let config: string;
  // acme/a and acme/b, each its own ServiceAccount (their writes are told apart in the audit log), both allowed to
  // write in the app's namespace and in the lock namespace: RBAC is not what keeps them apart.
  let a: Awaited<ReturnType<typeof actor>>;
  let b: Awaited<ReturnType<typeof actor>>;
  const A = ['--repo', 'acme/a', '--pr', '42'];
  const B = ['--repo', 'acme/b', '--pr', '42'];
  const leaseWrites = (who: typeof a) => who.writes({ leases: true }).filter((w) => w.split(' ')[1] === 'leases');
  const envObjects = async () => ({
    clones: (await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`)).map((d: any) => d.metadata.name),
    rules: (await cluster.list('DestinationRule', ns, `dynamic-env.io/env=${env}`)).map((d: any) => d.metadata.name),
    routes: (await routeNames(cluster, ns, 'web')).filter((r) => r.startsWith(`dynamic-env/${env}/`)),
  });

  beforeAll(async () => {
    ns = await cluster.namespace('owners');
    locks = await cluster.namespace('locks');
    await install(cluster, [
      deployment(ns, 'web-v1', { labels: { app: 'web', version: 'v1' } }),
      service(ns, 'web', { app: 'web' }),
      destinationRule(ns, 'web', 'web', ['v1']),
      virtualService(ns, 'web', { hosts: ['web'], http: [{ name: 'default', route: [{ destination: { host: 'web', subset: 'v1' } }] }] }),
    ]);
    // actor() passes --lock-namespace <first namespace>: the opens use the lock namespace `locks`.
    a = await actor(cluster, [locks, ns]);
    b = await actor(cluster, [locks, ns]);
    config = writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr-42' }] });
  });

  it("acme/a opens; its clone records the owner and the Lease's namespace", async () => {
    // --lock-hold 0s: the Lease given back before the rollout wait, so it is taken a second time, where the clones
    // record it.
    ok(await a.open(config, ...A, '--commit', 'a'.repeat(40), '--lock-hold', '0s'));
    const [clone] = await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`);
    expect(clone.metadata.annotations).toMatchObject({ 'dynamic-env.io/repo': 'acme/a', 'dynamic-env.io/lock-namespace': locks });
    expect(clone.metadata.labels).toMatchObject({ 'dynamic-env.io/repo': 'acme.a', 'dynamic-env.io/pr': '42' });
    // Taken for the clones, released for the rollout wait, taken again for the routes (docs/DESIGN.md "Concurrency").
    expect(leaseWrites(a)).toEqual([
      `create leases ${locks}/${lease} 201`, `delete leases ${locks}/${lease} 200`,
      `create leases ${locks}/${lease} 201`, `delete leases ${locks}/${lease} 200`,
    ]);
  });

  it("acme/b's open of the same name is refused, naming acme/a and the fix, with nothing written (not even the Lease)", async () => {
    const before = await envObjects();
    const r = await b.open(config, ...B, '--commit', 'b'.repeat(40));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`env ${env}: belongs to acme/a PR #42`);
    expect(r.stderr).toContain('not to acme/b PR #42');
    expect(r.stderr).toContain('{repo}-pr-{pr}');
    expect(b.writes({ leases: true })).toEqual([]);
    expect(await envObjects()).toEqual(before);
  });

  it("acme/b's close is refused too: acme/a's env stays, and acme/b wrote nothing", async () => {
    const before = await envObjects();
    expect(before.clones).toHaveLength(1);
    expect(before.routes.length).toBeGreaterThan(0);
    const r = await b.close(env, ...B);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`env ${env}: belongs to acme/a PR #42`);
    expect(r.stderr).toContain('close would tear it down');
    expect(b.writes({ leases: true })).toEqual([]);
    expect(await envObjects()).toEqual(before);
  });

  it('a close with no config and no --lock-namespace (the documented close job) takes the Lease the open took', async () => {
    const opened = leaseWrites(a).length;
    // No --lock-namespace: this run's own default is `default`, where this identity may not write.
    const r = ok(await cli(['close', '--env', env, '--kubeconfig', a.kubeconfig, ...A, '--drain', '0s', '--output', 'json']));
    expect(r.json.state).toBe('closed');
    expect(leaseWrites(a).slice(opened)).toEqual([`create leases ${locks}/${lease} 201`, `delete leases ${locks}/${lease} 200`]);
    expect(a.writes({ leases: true }).filter((w) => w.includes(' default/'))).toEqual([]);
    expect(await envObjects()).toEqual({ clones: [], rules: [], routes: [] });
  });

  it('once closed, acme/b may open the name, and its close without config finds its Lease as well', async () => {
    // --lock-hold 60s: the whole (instant) rollout in the open's one hold of the Lease, however loaded the machine.
    ok(await b.open(config, ...B, '--lock-hold', '60s'));
    const r = ok(await cli(['close', '--env', env, '--kubeconfig', b.kubeconfig, ...B, '--drain', '0s', '--output', 'json']));
    expect(r.json.state).toBe('closed');
    expect(leaseWrites(b)).toEqual([
      `create leases ${locks}/${lease} 201`, `delete leases ${locks}/${lease} 200`,
      `create leases ${locks}/${lease} 201`, `delete leases ${locks}/${lease} 200`,
    ]);
  });
});
