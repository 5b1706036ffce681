// open and close of 1, 5 and 20 services, each a separate `node dist/cli.js` process: with --wait (1 and 5
// services: until the clones are Available and routed) and --no-wait; wall time, requests, reads and writes next to
// their floors. Also the floors' parts that are not in the audit log: a bare CLI process (`--help`: Node and the
// bundle, no request), and the cluster's own rollout of as many Deployments as clones (create -> Available, watched).
import { summarized } from '../lib/command.mjs';
import { appNames, meshNamespace, openClose, writeConfig } from '../lib/envs.mjs';
import { harness, log, track } from '../lib/plane.mjs';
import { rolloutMs } from '../lib/rollout-floor.mjs';
import { median, ms, round } from '../lib/stats.mjs';

export const title = 'open/close of 1, 5, 20 services (--wait and --no-wait), CLI start, rollout floor';

const SIZES = [1, 5, 20];
const WAITED = new Set([1, 5]);

export async function run(ctx) {
  const sizes = [];
  for (const n of SIZES) {
    const apps = appNames(n);
    const where = await meshNamespace(ctx.cluster, `bench-oc${n}`, apps);
    const modes = WAITED.has(n) ? ['noWait', 'wait'] : ['noWait'];
    log(`open/close of ${n} service(s), ${modes.join(' and ')}: 1 warm-up + ${ctx.reps} runs each`);
    const runs = Object.fromEntries(modes.map((m) => [m, []]));
    for (let i = -1; i < ctx.reps; i++) {
      for (const mode of modes) {
        const env = `oc${n}${mode === 'wait' ? 'w' : 'n'}-${i < 0 ? 'warmup' : i}`;
        const pair = await openClose(ctx, env, writeConfig(ctx.cluster, where.ns, apps, env), where, { wait: mode === 'wait' });
        if (i >= 0) runs[mode].push(pair);
      }
    }
    const size = { services: n };
    for (const mode of modes) {
      size[mode] = { open: summarized(runs[mode].map((r) => r.open)), close: summarized(runs[mode].map((r) => r.close)) };
    }
    sizes.push(size);
    log(`  open --no-wait ${ms(size.noWait.open.ms)}${size.wait ? `, open --wait ${ms(size.wait.open.ms)}` : ''}, close ${ms(size.noWait.close.ms)}`);
    if (WAITED.has(n)) {
      const templates = await Promise.all(apps.map((app) => ctx.cluster.get('Deployment', where.ns, `${app}-v1`)));
      const times = [];
      for (let i = 0; i < ctx.reps; i++) times.push(await rolloutMs(ctx.cluster, where.ns, templates, `floor-${i}`));
      size.rolloutFloorMs = round(median(times));
      size.rolloutFloorRuns = times.map((t) => round(t));
      log(`  the cluster's own rollout of ${n} Deployment(s) created at once (create -> all Available): ${ms(size.rolloutFloorMs)}`);
    }
    ctx.audit.compact();
  }
  // A CLI process that loads the bundle and sends nothing; and the same with Node's compile cache off (the CLI keeps
  // one, src/cli-bin.ts: every figure above is a start after the first on this machine), as on a machine's first run.
  const help = [];
  const helpNoCache = [];
  for (let i = 0; i < ctx.reps; i++) {
    help.push((await harness.runCli(['--help'], { onSpawn: track })).ms);
    helpNoCache.push((await harness.runCli(['--help'], { onSpawn: track, env: { NODE_DISABLE_COMPILE_CACHE: '1' } })).ms);
  }
  return { sizes, cliStartMs: round(median(help)), cliStartNoCacheMs: round(median(helpNoCache)) };
}
