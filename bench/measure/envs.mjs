// Many envs on one VirtualService: one open (--no-wait) and one close of one more env with 1, 50 and 200 envs
// already there, next to the API server's own cost for the VirtualService of that size (an unchanged PUT by the
// admin). The first env is opened by a real CLI run; the others are copies of what it wrote (lib/envs.mjs seedEnvs),
// clones included, settled before measuring.
import { measureCli, summarized } from '../lib/command.mjs';
import { meshNamespace, openArgs, openClose, putCost, seedEnvs, waitEnvSettled, writeConfig } from '../lib/envs.mjs';
import { harness, log } from '../lib/plane.mjs';
import { bytes, ms, round } from '../lib/stats.mjs';

export const title = 'one open/close with 1, 50 and 200 envs on the VirtualService, next to the API server\'s own cost';

export const LEVELS = [1, 50, 200];
const SEED = 'sd000';
const { envsIn, getVs, pool, routeProblems } = harness;

export async function run(ctx) {
  const apps = ['svc00'];
  const where = await meshNamespace(ctx.cluster, 'bench-envs', apps);
  const { ns, identity } = where;
  const file = (env) => writeConfig(ctx.cluster, ns, apps, env);
  log(`many envs: ${SEED} opened by a real CLI run`);
  await measureCli(ctx, openArgs(SEED, file(SEED), ns), { identity, namespaces: [ns] });
  await waitEnvSettled(ctx.cluster, ns, SEED);
  const present = [SEED];
  const levels = [];
  for (const level of LEVELS) {
    const add = Array.from({ length: level - present.length }, (_, i) => `sd${String(present.length + i).padStart(3, '0')}`);
    if (add.length) {
      const t0 = performance.now();
      await seedEnvs(ctx.cluster, ns, SEED, add);
      present.push(...add);
      await pool(add, 20, (env) => waitEnvSettled(ctx.cluster, ns, env));
      log(`  seeded ${add.length} env(s) in ${ms(performance.now() - t0)} (clones settled)`);
    }
    const vs = await getVs(ctx.cluster.admin, ns, 'mesh');
    const problems = routeProblems(vs, new Map(present.map((e) => [e, apps])));
    if (problems.length || envsIn(vs).length !== level) throw new Error(`seeding ${level} envs: ${problems.join('; ') || `${envsIn(vs).length} envs in the VirtualService`}`);
    const apiServer = await putCost(ctx.cluster, ns, vs);
    log(`${level} env(s) on the VirtualService (${bytes(JSON.stringify(vs).length)}): ${level === LEVELS[0] ? '1 warm-up + ' : ''}${ctx.reps} open/close`);
    if (level === LEVELS[0]) await openClose(ctx, 'en-warmup', file('en-warmup'), where);
    const runs = [];
    for (let i = 0; i < ctx.reps; i++) runs.push(await openClose(ctx, `en${level}-${i}`, file(`en${level}-${i}`), where));
    levels.push({
      envs: level,
      vsRoutes: vs.spec.http.length,
      vsBytes: JSON.stringify(vs).length,
      apiServer,
      open: summarized(runs.map((r) => r.open)),
      close: summarized(runs.map((r) => r.close)),
    });
    log(`  open ${ms(levels.at(-1).open.ms)}, close ${ms(levels.at(-1).close.ms)}; the API server's no-op PUT of the VirtualService ${ms(apiServer.vsNoopPutMs)}`);
    ctx.audit.compact();
  }
  const first = levels[0];
  for (const l of levels) {
    for (const cmd of ['open', 'close']) {
      // The target's floor: the one-env cost plus what the API server alone takes for a VirtualService this size.
      l[`${cmd}Floor`] = round(first[cmd].ms + l.apiServer.vsNoopPutMs);
      l[`${cmd}Ratio`] = round(l[cmd].ms / l[`${cmd}Floor`], 2);
      l[`${cmd}RatioToOneEnv`] = round(l[cmd].ms / first[cmd].ms, 2);
    }
  }
  return levels;
}
