// 100 runs through a proxy that answers 10% of requests with 409, 500 or 503, delays them, or cuts the connection
// mid-response. Every run succeeds or fails with a clear message; the same command run again without faults
// converges (runs that succeeded under faults must have converged already); after close nothing of ours is left.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';
import { kubeconfigText } from '../harness/control-plane.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import {
  configFor, createMesh, describeObjects, envObjects, envsIn, getVs, isClearError, isEmpty, pool, routeProblems, runCli,
  seededRandom, userRoutesOf, type CliResult,
} from '../harness/mesh.js';

const cluster = useCluster();
const SEED = Number(process.env.DYNAMIC_ENV_FAULT_SEED ?? 5);
const ENVS = 50; // 50 opens + 50 closes under faults = 100 runs
const BATCH = 8;

describe('reliability: API faults', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy({
      target: cluster.info.server, ca: cluster.info.ca, cert: cluster.info.servingCert!, key: cluster.info.servingKey!, seed: SEED,
    });
  });
  afterAll(() => proxy?.stop());

  it(`${ENVS * 2} runs with 10% of requests failing: each succeeds or says why; re-runs converge; close leaves nothing (seed ${SEED})`, async () => {
    const ns = await cluster.namespace('faults');
    await createMesh(cluster.admin, ns, { shared: ['reviews', 'ratings'], bare: ['details'] });
    const me = await cluster.identity([ns]);
    const before = await getVs(cluster.admin, ns, 'mesh');
    const token = /token: (\S+)/.exec(readFileSync(me.kubeconfig, 'utf8'))![1]!;
    const faulty = join(cluster.tmp, `${ns}-faulty.kubeconfig`);
    writeFileSync(faulty, kubeconfigText(proxy.url, cluster.info.ca, { token }), { mode: 0o600 });

    const random = seededRandom(SEED);
    const mixes = [['reviews'], ['ratings', 'details'], ['reviews', 'ratings'], ['details'], ['reviews', 'ratings', 'details']];
    const envs = Array.from({ length: ENVS }, (_, i) => `f${String(i).padStart(2, '0')}`);
    const apps = new Map(envs.map((e) => [e, mixes[Math.floor(random() * mixes.length)]!]));
    for (const env of envs) writeFileSync(join(cluster.tmp, `${ns}-${env}.yaml`), configFor(ns, apps.get(env)!, env));
    const open = (env: string, kubeconfig: string) =>
      runCli(['open', '--env', env, '--config', join(cluster.tmp, `${ns}-${env}.yaml`), '--no-wait', '--lock-namespace', ns], { kubeconfig });
    const close = (env: string, kubeconfig: string) => runCli(['close', '--env', env, '--lock-namespace', ns], { kubeconfig });

    const summary: string[] = [];
    // A failure names the step or object and says to re-run; the re-run (without faults) must then succeed.
    const check = (runs: CliResult[], command: string): string[] => {
      const clear = (r: CliResult) => r.code === 1 && isClearError(r.stderr, command) && /re-run/.test(r.stderr);
      const unclear = runs.filter((r) => r.code !== 0 && !clear(r));
      expect(unclear.map((r) => `${r.args.slice(0, 3).join(' ')}: exit ${r.code} signal ${r.signal}\n${r.stderr}`)).toEqual([]);
      const failed = runs.filter((r) => r.code !== 0);
      summary.push(`${command}: ${runs.length - failed.length}/${runs.length} succeeded under faults; failures:`,
        ...failed.map((r) => `  ${r.args[2]}: ${r.stderr.trim().split('\n').pop()}`));
      return failed.map((r) => r.args[2]!);
    };
    const rerun = async (failed: string[], run: (env: string) => Promise<CliResult>) => {
      const again = await pool(failed, BATCH, run);
      expect(again.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
      summary.push(`  re-run without faults: ${again.length} run(s), ${again.filter((r) => /waiting for the lock/.test(r.stderr)).length} waited for a Lease left behind`);
    };
    const faults = () => proxy.configure({ rate: 0.1, kinds: ['409', '500', '503', 'delay', 'cut'], delayMs: 1_500 });

    // Opens under faults, then the same opens without: every env converges to fully open.
    // Runs that succeeded under faults must already have converged: the checks below cover them too.
    faults();
    const openFailed = check(await pool(envs, BATCH, (env) => open(env, faulty)), 'open');
    proxy.configure(null);
    await rerun(openFailed, (env) => open(env, me.kubeconfig));
    const mesh = await getVs(cluster.admin, ns, 'mesh');
    expect(routeProblems(mesh, apps)).toEqual([]);
    expect(userRoutesOf(mesh)).toBe(userRoutesOf(before));
    expect(envsIn(await getVs(cluster.admin, ns, 'dynamic-env-details'))).toEqual(envs.filter((e) => apps.get(e)!.includes('details')));
    const open1 = await envObjects(cluster.admin, [ns]);
    expect(open1.deployments).toHaveLength([...apps.values()].reduce((n, a) => n + a.length, 0));
    expect(open1.destinationRules).toHaveLength(open1.deployments.length);
    expect(open1.leases).toEqual([]);

    // Closes under faults, then again without: nothing of ours is left anywhere.
    faults();
    const closeFailed = check(await pool(envs, BATCH, (env) => close(env, faulty)), 'close');
    proxy.configure(null);
    await rerun(closeFailed, (env) => close(env, me.kubeconfig));
    const left = await envObjects(cluster.admin, [ns]);
    expect(isEmpty(left), describeObjects(left)).toBe(true);
    expect(JSON.stringify((await getVs(cluster.admin, ns, 'mesh')).spec)).toBe(JSON.stringify(before.spec));

    const stats = proxy.stats();
    process.stderr.write(`[faults] seed ${SEED}: ${stats.requests} requests, faults ${JSON.stringify(stats.faults)}\n${summary.join('\n')}\n`);
    // The proxy really did inject every kind of fault.
    for (const kind of ['409', '500', '503', 'delay', 'cut'] as const) expect(stats.faults[kind]).toBeGreaterThan(0);
  }, 600_000);
});
