// Open and close of the same env started at the same moment, many times over. The env's Lease serialises them, so
// whichever process finished last decides the end state: fully open, or no trace at all. Never a mix.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCluster, waitFor } from '../harness/cluster.js';
import {
  configFor, createMesh, describeObjects, envObjects, getVs, isEmpty, pool, routeProblems, runCli, seededRandom, userRoutesOf,
  type CliResult,
} from '../harness/mesh.js';

const cluster = useCluster();

const LANES = 8;
const ROUNDS = 4;

describe('reliability: open and close of one env racing', () => {
  it(`${LANES * ROUNDS} races: the end state is what the command that finished last says, nothing half-made`, async () => {
    const namespaces = await Promise.all(Array.from({ length: LANES }, () => cluster.namespace('race')));
    await Promise.all(namespaces.map((ns) => createMesh(cluster.admin, ns, { shared: ['reviews', 'ratings'], bare: ['details'] })));
    const me = await cluster.identity(namespaces);
    const random = seededRandom(42);
    const mixes = [['reviews'], ['reviews', 'ratings'], ['ratings', 'details'], ['details']];
    const outcomes: string[] = [];
    let contended = 0;

    await pool(namespaces, LANES, async (ns, lane) => {
      const env = `race-${lane}`;
      const apps = mixes[lane % mixes.length]!;
      const file = join(cluster.tmp, `${ns}.yaml`);
      writeFileSync(file, configFor(ns, apps));
      const before = await getVs(cluster.admin, ns, 'mesh');
      const open = () => runCli(['open', '--env', env, '--config', file, '--no-wait', '--lock-namespace', ns], { kubeconfig: me.kubeconfig });
      const close = () => runCli(['close', '--env', env, '--lock-namespace', ns], { kubeconfig: me.kubeconfig });
      const later = (ms: number, f: () => Promise<CliResult>) => new Promise<CliResult>((r) => setTimeout(() => r(f()), ms));

      for (let round = 0; round < ROUNDS; round++) {
        // Half the races start from an open env, half from whatever the last race left.
        if (random() < 0.5) expect((await open()).code).toBe(0);
        // Rounds 0 and 1: both start within 50 ms of each other, in random order. Under load close nearly always
        // takes the Lease first (open reads, plans and checks permissions before it asks), so rounds 2 and 3 make
        // each order certain: one command starts, and the other starts once the first holds the env's Lease.
        // (or has already finished: then the second just runs after it, and still ends last)
        const holdsLease = async (first: Promise<CliResult>) => {
          let done = false;
          void first.then(() => { done = true; });
          await waitFor(`the Lease of ${env}`, 30_000, async () => done || (await cluster.getOrNull('Lease', ns, `dynamic-env-${env}`)) !== null);
        };
        let o: CliResult;
        let c: CliResult;
        if (round < 2) {
          const head = { open: random() * 50, close: random() * 50 };
          [o, c] = await Promise.all([later(head.open, open), later(head.close, close)]);
        } else if (round === 2) {
          const first = open();
          await holdsLease(first);
          [o, c] = await Promise.all([first, close()]);
        } else {
          const first = close();
          await holdsLease(first);
          [c, o] = await Promise.all([first, open()]);
        }
        expect(o.code, o.stderr).toBe(0);
        expect(c.code, c.stderr).toBe(0);
        if (round < 2 && /waiting for the lock/.test(o.stderr + c.stderr)) contended++;
        const last = o.endOrder > c.endOrder ? 'open' : 'close';
        const waited = (r: CliResult) => (/waiting for the lock/.test(r.stderr) ? ' (waited)' : '');
        outcomes.push(`${env}#${round}: open ${Math.round(o.ms)} ms${waited(o)}, close ${Math.round(c.ms)} ms${waited(c)}: ${last} last`);

        const objects = await envObjects(cluster.admin, [ns], env);
        const mesh = await getVs(cluster.admin, ns, 'mesh');
        const own = await cluster.getOrNull('VirtualService', ns, 'dynamic-env-details');
        expect(userRoutesOf(mesh)).toBe(userRoutesOf(before));
        expect(objects.leases, `${env}#${round}: the Lease outlived both runs`).toEqual([]);
        if (last === 'close') {
          expect(isEmpty(objects), `${env}#${round} (close last) left ${describeObjects(objects)}`).toBe(true);
          expect(own, `${env}#${round}: our VirtualService outlived the last env`).toBeNull();
        } else {
          const state = `${env}#${round} (open last): ${describeObjects(objects)}`;
          expect(objects.deployments.map((d) => d.metadata.name).sort(), state).toEqual(apps.map((a) => `${a}-v1-${env}`).sort());
          expect(objects.destinationRules, state).toHaveLength(apps.length);
          const want = new Map([[env, apps]]);
          expect(routeProblems(mesh, want), state).toEqual([]);
          if (apps.includes('details')) expect(routeProblems(own, want), state).toEqual([]);
          else expect(own).toBeNull();
        }
      }
      // Whatever the last race left, a close removes it.
      expect((await close()).code).toBe(0);
      expect(isEmpty(await envObjects(cluster.admin, [ns], env))).toBe(true);
    });
    process.stderr.write(`[race]\n${outcomes.map((o) => `  ${o}`).join('\n')}\n`);
    // The simultaneous races really overlapped: in a good share of them one run waited for the other's Lease.
    expect(contended, outcomes.join('\n')).toBeGreaterThan(LANES * 2 / 3);
    // Both orders happened.
    expect(outcomes.some((o) => o.endsWith('open last'))).toBe(true);
    expect(outcomes.some((o) => o.endsWith('close last')), outcomes.join('\n')).toBe(true);
  }, 300_000);
});
