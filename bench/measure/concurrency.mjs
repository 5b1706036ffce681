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

/**
 * Opens `envs` at once (env i opening `appsOf(i)` as identity i), released together at the barrier; returns when
 * the barrier fell, when the last was done, and each identity's audit events.
 */
async function race(ctx, engine, ns, identities, envs, appsOf) {
  const mark = await ctx.audit.mark();
  let arrived = 0;
  let release;
  let releasedAt;
  const gate = new Promise((r) => { release = r; });
  const started = now();
  const results = await Promise.all(envs.map((env, i) => openInProcess(engine, {
    kubeconfig: identities[i].kubeconfig, ns, apps: appsOf(i), env,
    beforeWrite: () => {
      if (++arrived === envs.length) { releasedAt = now(); release(); }
      return gate;
    },
  })));
  const lastDone = max(results.map((r) => r.done));
  const events = await ctx.audit.since(mark, identities.slice(0, envs.length).map((id) => id.username));
  return { started, releasedAt, lastDone, events };
}

/**
 * Closes `envs` at once (no barrier: each starts at once); returns the time to the last done, the 409s, the
 * VirtualService writes per close and the API server's median time to refuse one of them (a refused write of a
 * shared VirtualService is received and decoded whole before its resourceVersion is compared).
 */
async function closeAll(ctx, engine, ns, identities, envs) {
  await pool(envs, 5, (env) => waitEnvSettled(ctx.cluster, ns, env));
  const mark = await ctx.audit.mark();
  const c0 = now();
  await Promise.all(envs.map((env, i) => closeInProcess(engine, { kubeconfig: identities[i].kubeconfig, ns, env })));
  const closeTotalMs = now() - c0;
  const events = await ctx.audit.since(mark, identities.slice(0, envs.length).map((id) => id.username));
  await pool(envs, 5, (env) => waitEnvGone(ctx.cluster, ns, env));
  const vsWrites = events.filter((e) => e.objectRef?.resource === 'virtualservices' && e.verb === 'update');
  const refused = vsWrites.filter((e) => e.responseStatus?.code === 409);
  return {
    closeTotalMs,
    closeConflicts: refused.length,
    closeWritesPerEnv: vsWrites.length / envs.length,
    closeRefusalMs: refused.length ? median(refused.map((e) => auditTime(e.stageTimestamp) - auditTime(e.requestReceivedTimestamp))) : 0,
  };
}

async function round_(ctx, engine, { shared, separate }, identities, tag) {
  const { ns } = shared;
  const apps = ['svc00'];
  // One open alone, the same way: from its beforeWrite hook to done.
  const single = await openInProcess(engine, { kubeconfig: identities[CONCURRENT].kubeconfig, ns, apps, env: `one-${tag}` });
  await waitEnvSettled(ctx.cluster, ns, `one-${tag}`);
  await closeInProcess(engine, { kubeconfig: identities[CONCURRENT].kubeconfig, ns, env: `one-${tag}` });
  await waitEnvGone(ctx.cluster, ns, `one-${tag}`);

  // The floor: as many opens at once, each on a VirtualService of its own (nothing shared but the API server).
  const apart = Array.from({ length: CONCURRENT }, (_, i) => `s${tag}-${String(i).padStart(2, '0')}`);
  const floor = await race(ctx, engine, separate.ns, identities, apart, (i) => [separate.apps[i]]);
  const floorS = summarize(floor.events);
  await closeAll(ctx, engine, separate.ns, identities, apart);

  const envs = Array.from({ length: CONCURRENT }, (_, i) => `c${tag}-${String(i).padStart(2, '0')}`);
  const { started, releasedAt, lastDone, events } = await race(ctx, engine, ns, identities, envs, () => apps);
  const s = summarize(events);
  const lines = identities.slice(0, CONCURRENT).map((id) => vsTimeline(events.filter((e) => e.user.username === id.username), releasedAt));
  // Nothing lost: every env has its routes, in order, the user's routes untouched.
  const vs = await getVs(ctx.cluster.admin, ns, 'mesh');
  const problems = routeProblems(vs, new Map(envs.map((e) => [e, apps])));
  if (problems.length || envsIn(vs).length !== CONCURRENT) throw new Error(`after ${CONCURRENT} concurrent opens: ${problems.join('; ')}`);
  const closes = await closeAll(ctx, engine, ns, identities, envs);
  if (envsIn(await getVs(ctx.cluster.admin, ns, 'mesh')).length !== 0) throw new Error('routes left after the concurrent closes');
  const vsUpdates = lines.reduce((n, l) => n + l.vsAttempts, 0);
  const separateMs = floor.lastDone - floor.releasedAt;
  return {
    singleMs: round(single.done - single.reached),
    totalMs: round(lastDone - releasedAt),
    ratio: round((lastDone - releasedAt) / (single.done - single.reached), 2),
    separateMs: round(separateMs),
    separateRatio: round(separateMs / (single.done - single.reached), 2),
    separateConflicts: floorS.conflicts,
    separateWritesPerEdit: round(floor.events.filter((e) => e.objectRef?.resource === 'virtualservices' && e.verb === 'update').length / CONCURRENT, 2),
    toSeparateRatio: round((lastDone - releasedAt) / separateMs, 2),
    toBarrierMs: round(releasedAt - started),
    firstVsAttemptMs: round(median(lines.map((l) => l.firstVsAttemptMs))),
    acceptedMs: round(median(lines.map((l) => l.acceptedMs))),
    acceptedMaxMs: round(max(lines.map((l) => l.acceptedMs))),
    vsAttemptsMax: max(lines.map((l) => l.vsAttempts)),
    vsUpdates,
    writesPerEdit: round(vsUpdates / CONCURRENT, 2),
    conflicts: s.conflicts,
    requests: s.requests,
    closeTotalMs: round(closes.closeTotalMs),
    closeConflicts: closes.closeConflicts,
    closeWritesPerEnv: round(closes.closeWritesPerEnv, 2),
    closeRefusalMs: round(closes.closeRefusalMs),
  };
}

/**
 * What the API server alone takes to accept `CONCURRENT` edits of one VirtualService sent at once, each adding one
 * route (admin rights, no engine): as JSON patches (applied one after another inside the API server, no 409 reaches
 * the client) and as read-modify-write PUTs retried at once on 409, as the engine's edits are (less its backoff).
 * One accepted write per env can go no faster than this on this machine, whoever sends it.
 */
async function serverOnly(ctx) {
  const ns = await ctx.cluster.namespace('bench-edits');
  await harness.createMesh(ctx.cluster.admin, ns, { shared: ['svc00'] });
  const path = `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices/mesh`;
  const route = (name) => ({ name, match: [{ headers: { 'x-override': { exact: name } } }], route: [{ destination: { host: 'svc00', subset: 'v1' } }] });
  const ids = Array.from({ length: CONCURRENT }, (_, i) => i);
  let t0 = performance.now();
  await Promise.all(ids.map((i) => harness.request(ctx.cluster.admin, 'PATCH', path, [{ op: 'add', path: '/spec/http/0', value: route(`patch-${i}`) }], 'application/json-patch+json')));
  const patchMs = performance.now() - t0;
  let conflicts = 0;
  t0 = performance.now();
  await Promise.all(ids.map(async (i) => {
    for (;;) {
      const vs = await harness.request(ctx.cluster.admin, 'GET', path);
      vs.spec.http.unshift(route(`put-${i}`));
      try {
        await harness.request(ctx.cluster.admin, 'PUT', path, vs);
        return;
      } catch (e) {
        if (e.status !== 409) throw e;
        conflicts++;
      }
    }
  }));
  const putMs = performance.now() - t0;
  t0 = performance.now();
  await harness.request(ctx.cluster.admin, 'PATCH', path, [{ op: 'add', path: '/spec/http/0', value: route('alone') }], 'application/json-patch+json');
  const oneMs = performance.now() - t0;
  const vs = await harness.request(ctx.cluster.admin, 'GET', path);
  if (vs.spec.http.length !== 2 * CONCURRENT + 4) throw new Error(`server-only edits: ${vs.spec.http.length} routes, expected ${2 * CONCURRENT + 4}`);
  await harness.request(ctx.cluster.admin, 'DELETE', `/api/v1/namespaces/${ns}`);
  return { patchMs: round(patchMs), putMs: round(putMs), putConflicts: conflicts, oneMs: round(oneMs) };
}

/** A namespace with `apps`, each behind a VirtualService of its own (the user's routes of the shared one). */
async function separateNamespace(ctx, apps) {
  const ns = await ctx.cluster.namespace('bench-apart');
  await harness.createMesh(ctx.cluster.admin, ns, { shared: [], bare: apps });
  await pool(apps, 5, (app) => ctx.cluster.apply({
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: app, namespace: ns },
    spec: { hosts: [app], http: harness.userRoutes(app) },
  }));
  await pool(apps, 10, (app) => harness.waitSettled(ctx.cluster, ns, `${app}-v1`, 120_000));
  return { ns, apps };
}

/** How many envs the sweep measurement reclaims, and the drain each close waits (the default is 3 s). */
const SWEPT = 8;
const SWEEP_DRAIN_MS = 1000;

/**
 * A sweep reclaiming SWEPT envs, in this process as the CLI's sweep runs it (its predicate picks them by name; every
 * other env of the cluster is kept), against one close alone with the same drain: what SWEPT closes one after another
 * would take is about SWEPT times that.
 */
async function sweepMany(ctx, engine, ns, identity) {
  const env = (i) => `sweep-${String(i).padStart(2, '0')}`;
  const envs = Array.from({ length: SWEPT }, (_, i) => env(i));
  for (const e of [...envs, env(SWEPT)]) {
    await openInProcess(engine, { kubeconfig: identity.kubeconfig, ns, apps: ['svc00'], env: e });
    await waitEnvSettled(ctx.cluster, ns, e);
  }
  const client = engine.KubeClient.load({ kubeconfig: identity.kubeconfig });
  try {
    const c0 = now();
    await engine.closeEnv({ client, env: env(SWEPT), run: { lockNamespace: ns }, drainMs: SWEEP_DRAIN_MS, reason: 'manual' });
    const oneCloseMs = now() - c0;
    const s0 = now();
    const results = await engine.sweepEnvs({ client, run: { lockNamespace: ns }, drainMs: SWEEP_DRAIN_MS, decide: (s) => ({ close: envs.includes(s.env), reason: 'bench' }) });
    const sweepMs = now() - s0;
    const closed = results.filter((r) => r.closed).map((r) => r.env).sort();
    if (closed.join() !== envs.join() || results.some((r) => r.error)) throw new Error(`the sweep closed ${closed.join(', ')}: ${results.map((r) => r.error).filter(Boolean).join('; ')}`);
    await pool([...envs, env(SWEPT)], 5, (e) => waitEnvGone(ctx.cluster, ns, e));
    return { envs: SWEPT, drainMs: SWEEP_DRAIN_MS, atOnce: engine.SWEEP_CONCURRENCY, sweepMs: round(sweepMs), oneCloseMs: round(oneCloseMs) };
  } finally {
    client.close();
  }
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
  const separate = await separateNamespace(ctx, appNames(CONCURRENT));
  // One identity per open, so that each one's requests can be told apart in the audit log (separate pipelines
  // would have separate credentials too; all are bound as deploy/rbac.yaml says); the last is for the single open.
  const identities = await pool(Array.from({ length: CONCURRENT + 1 }, (_, i) => i), 5, (i) => ctx.cluster.identity([where.ns, separate.ns], `bench-p${String(i).padStart(2, '0')}`));
  log(`${CONCURRENT} concurrent opens in this process, released at a barrier: 1 warm-up + ${reps} rounds`);
  const rounds = [];
  for (let i = -1; i < reps; i++) {
    const r = await round_(ctx, engine, { shared: where, separate }, identities, i < 0 ? 'w' : String(i));
    const server = await serverOnly(ctx);
    if (i >= 0) rounds.push({ ...r, serverPatchMs: server.patchMs, serverPutMs: server.putMs, serverPutConflicts: server.putConflicts, serverOneMs: server.oneMs });
    log(`  ${i < 0 ? 'warm-up' : `round ${i}`}: one ${ms(r.singleMs)}, ${CONCURRENT} on separate VirtualServices ${ms(r.separateMs)} (${ratio(r.separateRatio)}), ${CONCURRENT} on one from the barrier ${ms(r.totalMs)} (${ratio(r.ratio)}), ${r.conflicts} conflicts, ${r.writesPerEdit} writes per edit`);
    ctx.audit.compact();
  }
  log(`${CONCURRENT} CLI processes at once (the old measurement, once)`);
  const old = await processes(ctx, where, identities);
  log(`a sweep reclaiming ${SWEPT} envs (drain ${SWEEP_DRAIN_MS / 1000} s), once`);
  const sweep = await sweepMany(ctx, engine, where.ns, identities[CONCURRENT]);
  const pick = (k) => round(median(rounds.map((r) => r[k])), /[rR]atio$|WritesPerEdit$|^writesPerEdit$|WritesPerEnv$/.test(k) ? 2 : 1);
  return {
    concurrent: CONCURRENT,
    ...Object.fromEntries(Object.keys(rounds[0]).map((k) => [k, pick(k)])),
    processes: old,
    sweep,
    rounds,
  };
}
