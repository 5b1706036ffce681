// 20 concurrent opens on one VirtualService, measured fairly: the 20 run in this process (the engine bundled from
// src/, bench/lib/engine.mjs), each with its own identity and env; each reads and plans, then waits in the engine's
// beforeWrite hook (called right before its first write) until all 20 are there; from that barrier on they race
// for the shared VirtualService. Reported: time from the barrier to the last one done, against one open alone
// from the same hook to done; the 409s, and the VirtualService writes per accepted edit. Once, for comparison with
// the history, the old way too: 20 `node dist/cli.js` processes started at once.
import { auditTime, summarize } from '../lib/audit.mjs';
import { loadEngine } from '../lib/engine.mjs';
import { appNames, closeArgs, meshNamespace, openArgs, waitEnvGone, waitEnvSettled, writeConfig } from '../lib/envs.mjs';
import { harness, log, now, track } from '../lib/plane.mjs';
import { max, median, ms, ratio, round } from '../lib/stats.mjs';

export const title = '20 concurrent opens on one VirtualService, released together at a barrier before the first write';

const CONCURRENT = 20;
const { configFor, envsIn, getVs, pool, routeProblems, runCli } = harness;

/** One in-process open: `beforeWrite` is awaited right before the first write; returns when it was reached and done. */
async function openInProcess(engine, { kubeconfig, ns, apps, env, beforeWrite }) {
  const client = engine.KubeClient.load({ kubeconfig });
  try {
    const spec = engine.resolveEnvSpec(engine.parseConfigText(configFor(ns, apps, env), `${env}.yaml`), { env });
    const run = engine.resolveRunOptions({}, { lockNamespace: ns, wait: false });
    let reached;
    const result = await engine.openEnv({ client, spec, run, drainMs: 0, beforeWrite: async () => { reached = now(); await beforeWrite?.(); return null; } });
    if (result.report.state === 'failed' || result.skipped) throw new Error(`open ${env}: ${result.report.state} ${result.skipped ?? ''}`);
    return { reached, done: now() };
  } finally {
    client.close();
  }
}

async function closeInProcess(engine, { kubeconfig, ns, env }) {
  const client = engine.KubeClient.load({ kubeconfig });
  try {
    await engine.closeEnv({ client, env, run: { lockNamespace: ns }, drainMs: 0, reason: 'manual' });
  } finally {
    client.close();
  }
}

/** From one identity's events: its first VirtualService attempt and its accepted one, relative to `t0`. */
function vsTimeline(events, t0) {
  const vs = events.filter((e) => e.objectRef?.resource === 'virtualservices' && e.verb === 'update')
    .sort((a, b) => auditTime(a.requestReceivedTimestamp) - auditTime(b.requestReceivedTimestamp));
  const ok = vs.find((e) => e.responseStatus?.code === 200);
  return {
    firstVsAttemptMs: vs.length ? round(auditTime(vs[0].requestReceivedTimestamp) - t0) : null,
    acceptedMs: ok ? round(auditTime(ok.stageTimestamp) - t0) : null,
    vsAttempts: vs.length,
  };
}

async function round_(ctx, engine, where, identities, tag) {
  const { ns } = where;
  const apps = ['svc00'];
  // One open alone, the same way: from its beforeWrite hook to done.
  const single = await openInProcess(engine, { kubeconfig: identities[CONCURRENT].kubeconfig, ns, apps, env: `one-${tag}` });
  await waitEnvSettled(ctx.cluster, ns, `one-${tag}`);
  await closeInProcess(engine, { kubeconfig: identities[CONCURRENT].kubeconfig, ns, env: `one-${tag}` });
  await waitEnvGone(ctx.cluster, ns, `one-${tag}`);

  const envs = Array.from({ length: CONCURRENT }, (_, i) => `c${tag}-${String(i).padStart(2, '0')}`);
  const mark = await ctx.audit.mark();
  let arrived = 0;
  let release;
  let releasedAt;
  const gate = new Promise((r) => { release = r; });
  const started = now();
  const results = await Promise.all(envs.map((env, i) => openInProcess(engine, {
    kubeconfig: identities[i].kubeconfig, ns, apps, env,
    beforeWrite: () => {
      if (++arrived === CONCURRENT) { releasedAt = now(); release(); }
      return gate;
    },
  })));
  const lastDone = max(results.map((r) => r.done));
  const events = await ctx.audit.since(mark, identities.slice(0, CONCURRENT).map((id) => id.username));
  const s = summarize(events);
  const lines = identities.slice(0, CONCURRENT).map((id) => vsTimeline(events.filter((e) => e.user.username === id.username), releasedAt));
  // Nothing lost: every env has its routes, in order, the user's routes untouched.
  const vs = await getVs(ctx.cluster.admin, ns, 'mesh');
  const problems = routeProblems(vs, new Map(envs.map((e) => [e, apps])));
  if (problems.length || envsIn(vs).length !== CONCURRENT) throw new Error(`after ${CONCURRENT} concurrent opens: ${problems.join('; ')}`);
  await pool(envs, 5, (env) => waitEnvSettled(ctx.cluster, ns, env));
  const c0 = now();
  await Promise.all(envs.map((env, i) => closeInProcess(engine, { kubeconfig: identities[i].kubeconfig, ns, env })));
  const closeTotalMs = now() - c0;
  if (envsIn(await getVs(ctx.cluster.admin, ns, 'mesh')).length !== 0) throw new Error('routes left after the concurrent closes');
  await pool(envs, 5, (env) => waitEnvGone(ctx.cluster, ns, env));
  const vsUpdates = lines.reduce((n, l) => n + l.vsAttempts, 0);
  return {
    singleMs: round(single.done - single.reached),
    totalMs: round(lastDone - releasedAt),
    ratio: round((lastDone - releasedAt) / (single.done - single.reached), 2),
    toBarrierMs: round(releasedAt - started),
    firstVsAttemptMs: round(median(lines.map((l) => l.firstVsAttemptMs))),
    acceptedMs: round(median(lines.map((l) => l.acceptedMs))),
    acceptedMaxMs: round(max(lines.map((l) => l.acceptedMs))),
    vsAttemptsMax: max(lines.map((l) => l.vsAttempts)),
    vsUpdates,
    writesPerEdit: round(vsUpdates / CONCURRENT, 2),
    conflicts: s.conflicts,
    requests: s.requests,
    closeTotalMs: round(closeTotalMs),
  };
}

/** The old measurement, once: 20 CLI processes started at once (mostly Node starting on 2 cores). */
async function processes(ctx, where, identities) {
  const { ns } = where;
  const envs = Array.from({ length: CONCURRENT }, (_, i) => `p-${String(i).padStart(2, '0')}`);
  const files = envs.map((env) => writeConfig(ctx.cluster, ns, ['svc00'], env));
  const t0 = performance.now();
  const rs = await Promise.all(envs.map((env, i) => runCli(openArgs(env, files[i], ns), { kubeconfig: identities[i].kubeconfig, onSpawn: track, timeoutMs: 300_000 })));
  const totalMs = performance.now() - t0;
  if (rs.some((r) => r.code !== 0)) throw new Error(`concurrent CLI opens failed:\n${rs.filter((r) => r.code !== 0).map((r) => r.stderr).join('\n')}`);
  await pool(envs, 5, (env) => waitEnvSettled(ctx.cluster, ns, env));
  const closes = await Promise.all(envs.map((env, i) => runCli(closeArgs(env, ns), { kubeconfig: identities[i].kubeconfig, onSpawn: track, timeoutMs: 300_000 })));
  if (closes.some((r) => r.code !== 0)) throw new Error('concurrent CLI closes failed');
  await pool(envs, 5, (env) => waitEnvGone(ctx.cluster, ns, env));
  const h0 = performance.now();
  await Promise.all(envs.map(() => runCli(['--help'], { onSpawn: track })));
  const helpTotalMs = performance.now() - h0;
  return { totalMs: round(totalMs), helpTotalMs: round(helpTotalMs) };
}

export async function run(ctx) {
  const engine = await loadEngine();
  const reps = Math.max(3, Math.ceil(ctx.reps / 2));
  const where = await meshNamespace(ctx.cluster, 'bench-conc', ['svc00']);
  // One identity per open, so that each one's requests can be told apart in the audit log (separate pipelines
  // would have separate credentials too; all are bound as deploy/rbac.yaml says); the last is for the single open.
  const identities = await pool(Array.from({ length: CONCURRENT + 1 }, (_, i) => i), 5, (i) => ctx.cluster.identity([where.ns], `bench-p${String(i).padStart(2, '0')}`));
  log(`${CONCURRENT} concurrent opens in this process, released at a barrier: 1 warm-up + ${reps} rounds`);
  const rounds = [];
  for (let i = -1; i < reps; i++) {
    const r = await round_(ctx, engine, where, identities, i < 0 ? 'w' : String(i));
    if (i >= 0) rounds.push(r);
    log(`  ${i < 0 ? 'warm-up' : `round ${i}`}: one ${ms(r.singleMs)}, ${CONCURRENT} from the barrier ${ms(r.totalMs)} (${ratio(r.ratio)}), ${r.conflicts} conflicts, ${r.writesPerEdit} writes per edit`);
    ctx.audit.compact();
  }
  log(`${CONCURRENT} CLI processes at once (the old measurement, once)`);
  const old = await processes(ctx, where, identities);
  const pick = (k) => round(median(rounds.map((r) => r[k])), k === 'ratio' || k === 'writesPerEdit' ? 2 : 1);
  return {
    concurrent: CONCURRENT,
    ...Object.fromEntries(Object.keys(rounds[0]).map((k) => [k, pick(k)])),
    processes: old,
    rounds,
  };
}
