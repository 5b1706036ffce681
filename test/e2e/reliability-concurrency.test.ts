// Many envs at once on services that share one VirtualService (and one host with no VirtualService, where open
// creates ours): every read-modify-write must land, none may overwrite another, and the user's routes stay as they
// were, byte for byte. Each env is a separate CLI process, as separate CI jobs would be.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import { kubeconfigText } from '../harness/control-plane.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import {
  configFor, createMesh, describeObjects, envObjects, envsIn, getVs, isEmpty, pool, routeProblems, runCli, seededRandom,
  userRoutesOf, type CliResult,
} from '../harness/mesh.js';

const cluster = useCluster();

describe('reliability: concurrent envs on one VirtualService', () => {
  it('20 opens at once, then 20 closes interleaved with 10 opens: routes are exactly the open envs, user routes untouched', async () => {
    const ns = await cluster.namespace('conc');
    await createMesh(cluster.admin, ns, { shared: ['reviews', 'ratings'], bare: ['details'] });
    const me = await cluster.identity([ns]);
    const before = await getVs(cluster.admin, ns, 'mesh');
    const random = seededRandom(20);

    // Each env opens a different mix: one shared service, both, or one plus the host without a VirtualService.
    const mixes = [['reviews'], ['ratings'], ['reviews', 'ratings'], ['reviews', 'details'], ['details'], ['ratings', 'details']];
    const apps = new Map<string, string[]>();
    const open = (env: string): Promise<CliResult> => {
      const services = mixes[Math.floor(random() * mixes.length)]!;
      apps.set(env, services);
      const file = join(cluster.tmp, `${ns}-${env}.yaml`);
      writeFileSync(file, configFor(ns, services, env));
      return runCli(['open', '--env', env, '--config', file, '--no-wait', '--lock-namespace', ns], { kubeconfig: me.kubeconfig });
    };
    const close = (env: string): Promise<CliResult> =>
      runCli(['close', '--env', env, '--lock-namespace', ns], { kubeconfig: me.kubeconfig });
    const failures = (results: CliResult[]) => results.filter((r) => r.code !== 0).map((r) => `${r.args.slice(0, 3).join(' ')}: exit ${r.code}\n${r.stderr}`);
    const expectRoutes = async (openEnvs: string[]) => {
      const want = new Map(openEnvs.map((e) => [e, apps.get(e)!]));
      const mesh = await getVs(cluster.admin, ns, 'mesh');
      expect(envsIn(mesh)).toEqual(openEnvs.filter((e) => apps.get(e)!.some((a) => a !== 'details')).sort());
      expect(routeProblems(mesh, want)).toEqual([]);
      expect(userRoutesOf(mesh)).toBe(userRoutesOf(before));
      const withDetails = openEnvs.filter((e) => apps.get(e)!.includes('details')).sort();
      const own = await cluster.getOrNull('VirtualService', ns, 'dynamic-env-details');
      if (withDetails.length === 0) expect(own).toBeNull();
      else {
        expect(envsIn(own)).toEqual(withDetails);
        expect(routeProblems(own, want)).toEqual([]);
      }
      // Each open env has exactly its clones and DestinationRules.
      const all = await envObjects(cluster.admin, [ns]);
      const byEnv = (list: any[]) => list.reduce((m: Record<string, number>, o) => {
        const env = o.metadata.labels['dynamic-env.io/env'];
        m[env] = (m[env] ?? 0) + 1;
        return m;
      }, {});
      const counts = Object.fromEntries(openEnvs.map((e) => [e, apps.get(e)!.length]));
      expect(byEnv(all.deployments)).toEqual(counts);
      expect(byEnv(all.destinationRules)).toEqual(counts);
      // Route requests (an open that lost a round asks the others to write its routes) are withdrawn by each open.
      expect(all.destinationRules.filter((d: any) => d.metadata.labels?.['dynamic-env.io/route-request'] !== undefined)).toEqual([]);
      expect(all.leases).toEqual([]);
    };

    // 1. Twenty envs opened at the same moment.
    const first = Array.from({ length: 20 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    const opened = await Promise.all(first.map(open));
    expect(failures(opened)).toEqual([]);
    await expectRoutes(first);

    // 2. The twenty closed while ten new envs open, all started together in a shuffled order.
    const second = Array.from({ length: 10 }, (_, i) => `n${String(i).padStart(2, '0')}`);
    const jobs = [...first.map((e) => () => close(e)), ...second.map((e) => () => open(e))]
      .map((job) => ({ job, key: random() })).sort((a, b) => a.key - b.key).map((j) => j.job);
    const mixed = await pool(jobs, jobs.length, (job) => job());
    expect(failures(mixed)).toEqual([]);
    await expectRoutes(second);
    for (const env of first) {
      const left = await envObjects(cluster.admin, [ns], env);
      expect(isEmpty(left), `${env} left ${describeObjects(left)}`).toBe(true);
    }

    // 3. Closing the rest leaves the user's VirtualService exactly as it was and removes ours.
    expect(failures(await pool(second, 5, close))).toEqual([]);
    const after = await getVs(cluster.admin, ns, 'mesh');
    expect(JSON.stringify(after.spec)).toBe(JSON.stringify(before.spec));
    const left = await envObjects(cluster.admin, [ns]);
    expect(isEmpty(left), describeObjects(left)).toBe(true);
    // Everything this identity wrote was in its own namespace.
    expect(cluster.writes(me.username).filter((e) => e.objectRef?.namespace !== ns)).toEqual([]);
  }, 300_000);

  it('an open whose VirtualService edit lands while the last other env closes: our VirtualService is kept for it and ends with only its routes', async () => {
    const ns = await cluster.namespace('conc-own');
    await createMesh(cluster.admin, ns, { shared: [], bare: ['details'] });
    const a = await cluster.identity([ns]);
    const b = await cluster.identity([ns]);
    const file = join(cluster.tmp, `${ns}.yaml`);
    writeFileSync(file, configFor(ns, ['details']));
    const args = (env: string) => ['open', '--env', env, '--config', file, '--no-wait', '--lock-namespace', ns];
    expect((await runCli(args('first'), { kubeconfig: a.kubeconfig })).code).toBe(0);

    // B goes through a proxy that holds back its write to our VirtualService; while it is held, A's close removes
    // the last env from that VirtualService, which deletes it.
    const proxy = await startFaultProxy({ target: cluster.info.server, ca: cluster.info.ca, cert: cluster.info.servingCert!, key: cluster.info.servingKey! });
    try {
      let closing: Promise<CliResult> | undefined;
      proxy.configure({
        rate: 1, kinds: ['delay'], delayMs: 5_000,
        match: (method, path) => {
          const hit = method === 'PUT' && path.includes('/virtualservices/dynamic-env-details') && !closing;
          if (hit) closing = runCli(['close', '--env', 'first', '--lock-namespace', ns], { kubeconfig: a.kubeconfig });
          return hit;
        },
      });
      const token = /token: (\S+)/.exec(readFileSync(b.kubeconfig, 'utf8'))![1]!;
      const viaProxy = join(cluster.tmp, `${ns}-proxy.kubeconfig`);
      writeFileSync(viaProxy, kubeconfigText(proxy.url, cluster.info.ca, { token }));
      const second = await runCli(args('second'), { kubeconfig: viaProxy });
      const closed = await closing!;
      expect(closed.code, closed.stderr).toBe(0);
      expect(closed.endOrder).toBeLessThan(second.endOrder);
      expect(second.code, second.stderr).toBe(0);
      // The close kept it: the second env's clone already existed, so the host still needed its baseline route (close
      // un-pins and deletes our VirtualService only when no env with clones needs it). The open then edited it.
      expect(cluster.writes(a.username).some((e) => e.verb === 'delete' && e.objectRef?.name === 'dynamic-env-details')).toBe(false);
      const own = await getVs(cluster.admin, ns, 'dynamic-env-details');
      expect(envsIn(own)).toEqual(['second']);
      expect(routeProblems(own, new Map([['second', ['details']]]))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  }, 120_000);
});
