#!/usr/bin/env node
// npm run bench: the benchmarks of issue 5, on the real test control plane (test/harness/control-plane.ts), which
// this script starts and stops itself. Not a test: nothing here fails on a slow figure; it measures, prints a
// table, writes bench/results.json, and says for every target whether it is met and, if not, by how much and why.
//
// Measurements (each several times, medians reported; BENCH_REPS sets how many, default 5):
//   1. open and close with 1, 5 and 20 services, --no-wait: wall time of the CLI process, API requests, reads and
//      writes from the API server's audit log, next to the floor;
//   2. 20 concurrent opens on one VirtualService (20 CLI processes) against one open, in the same run;
//   3. one open and one close with 1, 50 and 200 envs already on the VirtualService, as ratios to the first;
//   4. cold start of `node dist/index.js` (the action, run as a runner runs it) to its first API request;
//   5. the size of dist/index.js.
// Everything runs the built bundles (dist/cli.js, dist/index.js) in separate Node processes, as users and runners do.
//
// Environment: BENCH_REPS (runs per measurement, default 5), BENCH_ONLY=openClose,concurrency,scaling,coldStart
// (a subset; the figures then go to bench/out/results.partial.json, never over bench/results.json),
// BENCH_WAIT_QUIET=<seconds> (wait up to that long for the load average to drop before starting).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, homedir, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { AuditTail, auditTime, summarize } from './lib/audit.mjs';
import { cpuMeter } from './lib/cpu.mjs';
import { markdown } from './lib/markdown.mjs';
import { bytes, max, median, min, ms, ratio, round, table } from './lib/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

if (Number(process.versions.node.split('.')[0]) < 24) {
  process.stderr.write(`bench: Node ${process.versions.node}; the product needs Node >= 24. Run it with \`npm run bench\` (which puts the node@24 devDependency on PATH).\n`);
  process.exit(2);
}

const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 5));
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;
const wanted = (name) => !ONLY || ONLY.has(name);
const SIZES = [1, 5, 20];
const LEVELS = [1, 50, 200];
const CONCURRENT = 20;

// The harness is TypeScript: tsx (a devDependency) loads it in this process.
const { register } = await import('tsx/esm/api');
register();
const { startControlPlane, waitFor } = await import('../test/harness/control-plane.ts');
const { TestCluster, request } = await import('../test/harness/cluster.ts');
const { configFor, createMesh, envsIn, getVs, pool, routeProblems, runCli, MANAGED, ENV_LABEL, CLI } = await import('../test/harness/mesh.ts');
const { waitSettled } = await import('../test/e2e/fixtures/engine.ts');
const { installWeb, payload, runAction, succeeded, ACTION } = await import('../test/e2e/fixtures/action.ts');
const { FakeGitHub } = await import('../test/github/fake-github.ts');

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
const now = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------------------------
// Processes: every child is tracked so that a failure or Ctrl-C stops all of them.

const children = new Set();
const track = (child) => {
  children.add(child);
  child.once('close', () => children.delete(child));
};
let plane;
let fake;
let cluster;
let stopping;
async function stopAll() {
  stopping ??= (async () => {
    for (const c of children) c.kill('SIGKILL');
    await fake?.close().catch(() => {});
    await plane?.stop().catch((e) => log(`stopping the control plane: ${e.message}`));
    if (cluster) rmSync(cluster.tmp, { recursive: true, force: true });
  })();
  return stopping;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping every process`);
    void stopAll().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Observing one command: its audit events, and which objects actually changed (the write floor).

let audit;

/** What a command owns or edits, by "Kind ns/name" -> the parts a write changes (labels, our annotations, spec). */
async function stateOf(namespaces) {
  const state = new Map();
  for (const ns of namespaces) {
    for (const kind of ['Deployment', 'DestinationRule', 'VirtualService']) {
      for (const o of await cluster.list(kind, ns)) {
        const annotations = Object.fromEntries(Object.entries(o.metadata.annotations ?? {}).filter(([k]) => !k.startsWith('deployment.kubernetes.io/')));
        state.set(`${kind} ${ns}/${o.metadata.name}`, JSON.stringify({ labels: o.metadata.labels ?? {}, annotations, spec: o.spec }));
      }
    }
  }
  return state;
}
const changedBetween = (before, after) =>
  [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k)).sort();

/**
 * Where the wall time of one open or close went, from the order of its own requests in the audit log: each phase
 * ends at a marker request (the gaps between requests, the client's own work, belong to the phase they end).
 */
const isRes = (e, resource, verbs) => e.objectRef?.resource === resource && verbs.includes(e.verb);
const PHASES = {
  open: [
    ['read and plan (before the Lease)', (ev) => ev.find((e) => isRes(e, 'selfsubjectaccessreviews', ['create'])), 'start'],
    ['permission checks, take the Lease', (ev) => ev.find((e) => isRes(e, 'leases', ['create', 'update'])), 'end'],
    ['read and plan again (under the Lease)', (ev) => ev.find((e) => isRes(e, 'deployments', ['create', 'update'])), 'start'],
    ['write clones and DestinationRules', (ev) => ev.findLast((e) => isRes(e, 'destinationrules', ['create', 'update'])), 'end'],
    ['look at the clones (--no-wait)', (ev) => ev.find((e) => isRes(e, 'virtualservices', ['update', 'create'])), 'start'],
    ['write routes', (ev) => ev.findLast((e) => isRes(e, 'virtualservices', ['update', 'create'])), 'end'],
    ['release the Lease', (ev) => ev.findLast((e) => isRes(e, 'leases', ['delete'])), 'end'],
  ],
  close: [
    ['take the Lease', (ev) => ev.find((e) => isRes(e, 'leases', ['create', 'update'])), 'end'],
    ['read and plan', (ev) => ev.find((e) => isRes(e, 'selfsubjectaccessreviews', ['create'])), 'start'],
    ['permission checks', (ev) => ev.findLast((e) => isRes(e, 'selfsubjectaccessreviews', ['create'])), 'end'],
    ['remove routes', (ev) => ev.findLast((e) => isRes(e, 'virtualservices', ['update', 'delete'])), 'end'],
    ['delete DestinationRules', (ev) => ev.findLast((e) => isRes(e, 'destinationrules', ['delete'])), 'end'],
    ['delete clones', (ev) => ev.findLast((e) => isRes(e, 'deployments', ['delete'])), 'end'],
    ['release the Lease', (ev) => ev.findLast((e) => isRes(e, 'leases', ['delete'])), 'end'],
  ],
};
function phases(command, events, started, wallMs) {
  const list = PHASES[command];
  if (!list || !events.length) return undefined;
  const ev = [...events].sort((a, b) => auditTime(a.requestReceivedTimestamp) - auditTime(b.requestReceivedTimestamp));
  const out = { 'start (spawn to first request)': round(auditTime(ev[0].requestReceivedTimestamp) - started) };
  let last = auditTime(ev[0].requestReceivedTimestamp);
  for (const [name, find, edge] of list) {
    const e = find(ev);
    if (!e) continue;
    const t = auditTime(edge === 'start' ? e.requestReceivedTimestamp : e.stageTimestamp);
    out[name] = round(t - last);
    last = t;
  }
  out['exit (last answer to process exit)'] = round(started + wallMs - last);
  return out;
}

/**
 * Runs one CLI command as a separate process and returns its figures. `namespaces`: where it may change objects
 * (for the floor). Throws with the command's stderr when it did not exit 0.
 */
async function measureCli(args, { identity, namespaces }) {
  const before = await stateOf(namespaces);
  const mark = await audit.mark();
  const started = now();
  const r = await runCli(args, { kubeconfig: identity.kubeconfig, onSpawn: track, timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`dynamic-env ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  const events = await audit.since(mark, [identity.username]);
  const s = summarize(events);
  const changed = changedBetween(before, await stateOf(namespaces));
  return { ...figures(r.ms, started, s, changed), phases: phases(args[0], events, started, r.ms) };
}

function figures(wallMs, started, s, changed) {
  const writes = s.objectWrites + s.leaseWrites;
  // Taking and giving back the env's Lease is two writes whatever else changes.
  const writeFloor = changed.length + 2;
  return {
    ms: round(wallMs),
    startupMs: round(s.firstRequestAt - started),
    apiMs: round(s.lastResponseAt - s.firstRequestAt),
    requests: s.requests,
    requestFloor: s.readFloor + writeFloor,
    reads: s.reads,
    readFloor: s.readFloor,
    writes,
    writeFloor,
    objectWrites: s.objectWrites,
    objectsChanged: changed.length,
    leaseWrites: s.leaseWrites,
    accessReviews: s.accessReviews,
    conflicts: s.conflicts,
    errors: s.errors,
    readsBy: s.readsBy,
    writesBy: s.writesBy,
    serverMsBy: s.serverMsBy,
    changed,
  };
}

/** A run as kept in results.json: the numbers (where its requests went is kept once, in the summary). */
const compact = ({ readsBy: _r, writesBy: _w, serverMsBy: _s, changed: _c, ...numbers }) => numbers;

/** Medians of the figures of several runs (the runs themselves are kept, compacted, in `runs`). */
function summary(runs) {
  const pick = (k) => median(runs.map((r) => r[k]));
  return {
    n: runs.length,
    ms: round(pick('ms')),
    msMin: round(min(runs.map((r) => r.ms))),
    msMax: round(max(runs.map((r) => r.ms))),
    startupMs: round(pick('startupMs')),
    apiMs: round(pick('apiMs')),
    requests: pick('requests'),
    requestFloor: pick('requestFloor'),
    reads: pick('reads'),
    readFloor: pick('readFloor'),
    writes: pick('writes'),
    writeFloor: pick('writeFloor'),
    accessReviews: pick('accessReviews'),
    conflicts: pick('conflicts'),
    writesAtFloorInEveryRun: runs.every((r) => r.writes === r.writeFloor),
    // Median of each phase over the runs (the medians need not add up to the median wall time).
    phases: runs[0]?.phases && Object.fromEntries(Object.keys(runs[0].phases).map((k) => [k, round(median(runs.map((r) => r.phases?.[k])))])),
    readsBy: runs.at(-1)?.readsBy,
    writesBy: runs.at(-1)?.writesBy,
    // Time the API server spent per kind of request, summed over the command (median over the runs).
    serverMsBy: Object.fromEntries(Object.keys(runs.at(-1)?.serverMsBy ?? {}).map((k) => [k, {
      n: median(runs.map((r) => r.serverMsBy[k]?.n ?? 0)),
      totalMs: round(median(runs.map((r) => r.serverMsBy[k]?.totalMs ?? 0))),
    }])),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Cluster helpers (admin rights)

const envSelector = (env) => `${MANAGED},${ENV_LABEL}=${env}`;

/** Every clone of `env` is rolled out and settled: the controllers have nothing left to do for it. */
async function waitEnvSettled(ns, env) {
  const clones = await cluster.list('Deployment', ns, envSelector(env));
  await pool(clones, 10, (d) => waitSettled(cluster, ns, d.metadata.name, 120_000));
}

/** After close: the env's ReplicaSets and Pods are gone too (the garbage collector has finished). */
async function waitEnvGone(ns, env) {
  await waitFor(`env ${env} gone from ${ns}`, 120_000, async () =>
    (await cluster.list('ReplicaSet', ns, `${ENV_LABEL}=${env}`)).length === 0 &&
    (await cluster.list('Pod', ns, `${ENV_LABEL}=${env}`)).length === 0);
}

/** A namespace with `apps` behind one shared VirtualService `mesh`, its originals settled, and an identity. */
async function meshNamespace(prefix, apps) {
  const ns = await cluster.namespace(prefix);
  await createMesh(cluster.admin, ns, { shared: apps });
  await pool(apps, 10, (app) => waitSettled(cluster, ns, `${app}-v1`, 120_000));
  const identity = await cluster.identity([ns]);
  return { ns, identity };
}

function writeConfig(ns, apps, name) {
  const file = join(cluster.tmp, `${ns}-${name}.yaml`);
  writeFileSync(file, configFor(ns, apps, name));
  return file;
}

const openArgs = (env, file, ns) => ['open', '--env', env, '--config', file, '--no-wait', '--lock-namespace', ns, '--output', 'json'];
const closeArgs = (env, ns) => ['close', '--env', env, '--lock-namespace', ns, '--output', 'json'];

/** One open and one close of `env`, the clones settled in between and gone afterwards (so no run feeds the next). */
async function openClose(env, file, { ns, identity }) {
  const open = await measureCli(openArgs(env, file, ns), { identity, namespaces: [ns] });
  await waitEnvSettled(ns, env);
  const close = await measureCli(closeArgs(env, ns), { identity, namespaces: [ns] });
  await waitEnvGone(ns, env);
  return { open, close };
}

// ---------------------------------------------------------------------------------------------------------------
// 1. open / close with 1, 5, 20 services

async function benchOpenClose() {
  const out = [];
  for (const n of SIZES) {
    const apps = Array.from({ length: n }, (_, i) => `svc${String(i).padStart(2, '0')}`);
    const where = await meshNamespace(`bench-oc${n}`, apps);
    const file = writeConfig(where.ns, apps, 'pr');
    log(`open/close with ${n} service(s): 1 warm-up + ${REPS} runs`);
    const warmup = await openClose(`oc${n}-warmup`, file, where);
    const runs = [];
    for (let i = 0; i < REPS; i++) runs.push(await openClose(`oc${n}-${i}`, file, where));
    out.push({
      services: n,
      open: { ...summary(runs.map((r) => r.open)), runs: runs.map((r) => compact(r.open)) },
      close: { ...summary(runs.map((r) => r.close)), runs: runs.map((r) => compact(r.close)) },
      warmup: { open: compact(warmup.open), close: compact(warmup.close) },
    });
    log(`  open ${ms(out.at(-1).open.ms)}, close ${ms(out.at(-1).close.ms)}`);
    audit.compact();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// 2. 20 concurrent opens on one VirtualService

/**
 * Where the time of one process of a concurrent batch went, from its own identity's audit events: until its first
 * request, until its first attempt at the shared VirtualService, and from there until an attempt was accepted.
 */
function timeline(events, t0) {
  const at = (e) => auditTime(e.requestReceivedTimestamp);
  const done = (e) => auditTime(e.stageTimestamp);
  const vs = events.filter((e) => e.objectRef?.resource === 'virtualservices' && e.verb === 'update').sort((a, b) => at(a) - at(b));
  const ok = vs.find((e) => e.responseStatus?.code === 200);
  return {
    toFirstRequestMs: round(Math.min(...events.map(at)) - t0),
    toFirstVsAttemptMs: vs.length ? round(at(vs[0]) - t0) : null,
    vsRetriesMs: vs.length && ok ? round(done(ok) - at(vs[0])) : null,
    afterVsMs: ok ? round(Math.max(...events.map(done)) - done(ok)) : null,
    vsAttempts: vs.length,
  };
}

async function benchConcurrency() {
  const reps = Math.max(3, Math.ceil(REPS / 2));
  const where = await meshNamespace('bench-conc', ['web']);
  const { ns } = where;
  // One identity per process, so that each process's requests can be told apart in the audit log (separate
  // pipelines would as well have separate credentials; all are bound to deploy/rbac.yaml alike).
  const identities = await pool(Array.from({ length: CONCURRENT }, (_, i) => i), 5, (i) => cluster.identity([ns], `bench-p${String(i).padStart(2, '0')}`));
  log(`${CONCURRENT} concurrent opens on one VirtualService: 1 warm-up + ${reps} rounds`);
  const rounds = [];
  for (let round_ = -1; round_ < reps; round_++) {
    const tag = round_ < 0 ? 'w' : String(round_);
    // One open, alone, in the same conditions.
    const single = await openClose(`one-${tag}`, writeConfig(ns, ['web'], `one-${tag}`), where);
    // Twenty at once, each its own process and env, all editing VirtualService `mesh`.
    const envs = Array.from({ length: CONCURRENT }, (_, i) => `c${tag}-${String(i).padStart(2, '0')}`);
    const files = envs.map((env) => writeConfig(ns, ['web'], env));
    const mark = await audit.mark();
    const epoch0 = now();
    const t0 = performance.now();
    const results = await Promise.all(envs.map((env, i) =>
      runCli(openArgs(env, files[i], ns), { kubeconfig: identities[i].kubeconfig, onSpawn: track, timeoutMs: 300_000 })));
    const totalMs = performance.now() - t0;
    const failed = results.filter((r) => r.code !== 0);
    if (failed.length) throw new Error(`${failed.length} of ${CONCURRENT} concurrent opens failed:\n${failed.map((r) => r.stderr).join('\n')}`);
    const events = await audit.since(mark, identities.map((id) => id.username));
    const s = summarize(events);
    const lines = identities.map((id) => timeline(events.filter((e) => e.user.username === id.username), epoch0));
    // Nothing lost: every env has its routes, in order, the user's routes untouched.
    const vs = await getVs(cluster.admin, ns, 'mesh');
    const problems = routeProblems(vs, new Map(envs.map((e) => [e, ['web']])));
    if (problems.length || envsIn(vs).length !== CONCURRENT) throw new Error(`after ${CONCURRENT} concurrent opens: ${problems.join('; ')}`);
    await pool(envs, 5, (env) => waitEnvSettled(ns, env));
    // Closing them, also at once (not a target; reported).
    const c0 = performance.now();
    const closes = await Promise.all(envs.map((env, i) => runCli(closeArgs(env, ns), { kubeconfig: identities[i].kubeconfig, onSpawn: track, timeoutMs: 300_000 })));
    const closeTotalMs = performance.now() - c0;
    if (closes.some((r) => r.code !== 0)) throw new Error(`concurrent closes failed:\n${closes.filter((r) => r.code !== 0).map((r) => r.stderr).join('\n')}`);
    if (envsIn(await getVs(cluster.admin, ns, 'mesh')).length !== 0) throw new Error('routes left after the concurrent closes');
    await pool(envs, 5, (env) => waitEnvGone(ns, env));
    const med = (k) => round(median(lines.map((l) => l[k])));
    const r = {
      singleMs: single.open.ms,
      totalMs: round(totalMs),
      ratio: round(totalMs / single.open.ms, 2),
      processMsMedian: round(median(results.map((x) => x.ms))),
      processMsMax: round(max(results.map((x) => x.ms))),
      toFirstRequestMs: med('toFirstRequestMs'),
      toFirstRequestMax: round(max(lines.map((l) => l.toFirstRequestMs))),
      toFirstVsAttemptMs: med('toFirstVsAttemptMs'),
      vsRetriesMs: med('vsRetriesMs'),
      vsRetriesMax: round(max(lines.map((l) => l.vsRetriesMs))),
      vsAttemptsMax: max(lines.map((l) => l.vsAttempts)),
      requests: s.requests,
      vsUpdates: lines.reduce((n, l) => n + l.vsAttempts, 0),
      conflicts: s.conflicts,
      closeTotalMs: round(closeTotalMs),
    };
    if (round_ >= 0) rounds.push(r);
    log(`  ${tag}: one ${ms(r.singleMs)}, ${CONCURRENT} at once ${ms(r.totalMs)} (${ratio(r.ratio)}), ${r.conflicts} conflicts`);
    audit.compact();
  }

  // What 20 Node processes cost on this machine before any API work: the CLI bundle loaded, nothing sent.
  const one = [];
  const all = [];
  for (let i = 0; i < reps; i++) {
    one.push((await runCli(['--help'], { onSpawn: track })).ms);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENT }, () => runCli(['--help'], { onSpawn: track })));
    all.push(performance.now() - t0);
  }
  const startOnly = { singleMs: round(median(one)), totalMs: round(median(all)), ratio: round(median(all) / median(one), 2) };
  const pick = (k) => round(median(rounds.map((r) => r[k])));
  return {
    concurrent: CONCURRENT,
    singleMs: pick('singleMs'),
    totalMs: pick('totalMs'),
    ratio: round(median(rounds.map((r) => r.ratio)), 2),
    processMsMedian: pick('processMsMedian'),
    toFirstRequestMs: pick('toFirstRequestMs'),
    toFirstRequestMax: pick('toFirstRequestMax'),
    toFirstVsAttemptMs: pick('toFirstVsAttemptMs'),
    vsRetriesMs: pick('vsRetriesMs'),
    vsRetriesMax: pick('vsRetriesMax'),
    vsAttemptsMax: pick('vsAttemptsMax'),
    conflicts: pick('conflicts'),
    vsUpdates: pick('vsUpdates'),
    requests: pick('requests'),
    closeTotalMs: pick('closeTotalMs'),
    processStartOnly: startOnly,
    rounds,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// 3. cost with 1, 50, 200 envs already on the VirtualService

const SEED = 'sd000';
const stripServerFields = (o) => {
  const { uid: _u, resourceVersion: _r, creationTimestamp: _c, managedFields: _m, generation: _g, ...metadata } = o.metadata;
  const annotations = Object.fromEntries(Object.entries(metadata.annotations ?? {}).filter(([k]) => !k.startsWith('deployment.kubernetes.io/')));
  const { status: _s, ...rest } = o;
  return { ...rest, metadata: { ...metadata, annotations } };
};
const asEnv = (o, env) => JSON.parse(JSON.stringify(o).replaceAll(SEED, env));
const byteOrder = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Makes envs `names` look exactly as if each had been opened like SEED (which a real CLI open made): its clone and
 * DestinationRule copied under the env's name, and its routes copied into the VirtualService, each env's block
 * before the user route it copies, in env-name order (what open itself would produce, checked with routeProblems).
 */
async function seedEnvs(ns, names) {
  // (Items of a list carry no apiVersion/kind.)
  const objects = [
    ...(await cluster.list('Deployment', ns, envSelector(SEED))).map((o) => ({ ...o, apiVersion: 'apps/v1', kind: 'Deployment' })),
    ...(await cluster.list('DestinationRule', ns, envSelector(SEED))).map((o) => ({ ...o, apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule' })),
  ].map(stripServerFields);
  if (objects.length !== 2) throw new Error(`seeding: ${SEED} has ${objects.length} objects, expected its clone and its DestinationRule`);
  await pool(names, 8, async (env) => {
    for (const o of objects) await cluster.apply(asEnv(o, env));
  });
  for (let attempt = 0; ; attempt++) {
    const vs = await getVs(cluster.admin, ns, 'mesh');
    const http = vs.spec.http;
    const seedRoutes = http.filter((r) => r.name?.startsWith(`dynamic-env/${SEED}/`));
    const envRoutes = [...http.filter((r) => r.name?.startsWith('dynamic-env/')), ...names.flatMap((env) => seedRoutes.map((r) => asEnv(r, env)))];
    const next = [];
    for (const r of http.filter((x) => !x.name?.startsWith('dynamic-env/'))) {
      const target = r.name ?? r.route[0].destination.host;
      next.push(...envRoutes.filter((x) => x.name.split('/')[2] === target).sort((a, b) => byteOrder(a.name.split('/')[1], b.name.split('/')[1])), r);
    }
    if (next.length !== http.length + names.length * seedRoutes.length) throw new Error('seeding: the routes do not add up');
    try {
      await request(cluster.admin, 'PUT', `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices/mesh`, { ...vs, spec: { ...vs.spec, http: next } });
      break;
    } catch (e) {
      if (e.status !== 409 || attempt > 5) throw e;
    }
  }
}

/**
 * What the API server itself takes to accept the VirtualService as it is now, whoever sends it: the admin PUTs it
 * back unchanged (a no-op: validated, nothing stored) a few times; and, for comparison, a ConfigMap holding the
 * same bytes as one string (no schema to check). Median ms each.
 */
async function putCost(ns, vs) {
  const path = `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices/mesh`;
  const cmName = `bench-size-${JSON.stringify(vs).length}`;
  const cmPath = `/api/v1/namespaces/${ns}/configmaps`;
  const text = JSON.stringify(vs.spec);
  await request(cluster.admin, 'POST', cmPath, { metadata: { name: cmName }, data: { spec: text } });
  const vsTimes = [];
  const cmTimes = [];
  for (let i = 0; i < 5; i++) {
    let t0 = performance.now();
    await request(cluster.admin, 'PUT', path, vs);
    vsTimes.push(performance.now() - t0);
    const cm = await request(cluster.admin, 'GET', `${cmPath}/${cmName}`);
    t0 = performance.now();
    await request(cluster.admin, 'PUT', `${cmPath}/${cmName}`, { ...cm, data: { spec: `${text}${i}` } });
    cmTimes.push(performance.now() - t0);
  }
  await request(cluster.admin, 'DELETE', `${cmPath}/${cmName}`);
  return { vsNoopPutMs: round(median(vsTimes)), configMapPutMs: round(median(cmTimes)) };
}

async function benchScaling() {
  const where = await meshNamespace('bench-scale', ['web']);
  const { ns, identity } = where;
  const file = (env) => writeConfig(ns, ['web'], env);
  log(`scaling: seeding ${SEED} with a real open`);
  await measureCli(openArgs(SEED, file(SEED), ns), { identity, namespaces: [ns] });
  await waitEnvSettled(ns, SEED);
  const present = [SEED];
  const levels = [];
  for (const level of LEVELS) {
    const add = Array.from({ length: level - present.length }, (_, i) => `sd${String(present.length + i).padStart(3, '0')}`);
    if (add.length) {
      const t0 = performance.now();
      await seedEnvs(ns, add);
      present.push(...add);
      await pool(add, 20, (env) => waitEnvSettled(ns, env));
      log(`  seeded ${add.length} env(s) in ${ms(performance.now() - t0)} (clones settled)`);
    }
    const vs = await getVs(cluster.admin, ns, 'mesh');
    const problems = routeProblems(vs, new Map(present.map((e) => [e, ['web']])));
    if (problems.length || envsIn(vs).length !== level) throw new Error(`seeding ${level} envs: ${problems.join('; ') || `${envsIn(vs).length} envs in the VirtualService`}`);
    const apiServer = await putCost(ns, vs);
    log(`${level} env(s) on the VirtualService (${bytes(JSON.stringify(vs).length)}): ${level === LEVELS[0] ? '1 warm-up + ' : ''}${REPS} open/close`);
    if (level === LEVELS[0]) await openClose(`sc-warmup`, file('sc-warmup'), where);
    const runs = [];
    for (let i = 0; i < REPS; i++) runs.push(await openClose(`sc${level}-${i}`, file(`sc${level}-${i}`), where));
    levels.push({
      envs: level,
      vsRoutes: vs.spec.http.length,
      vsBytes: JSON.stringify(vs).length,
      apiServer,
      open: { ...summary(runs.map((r) => r.open)), runs: runs.map((r) => compact(r.open)) },
      close: { ...summary(runs.map((r) => r.close)), runs: runs.map((r) => compact(r.close)) },
    });
    log(`  open ${ms(levels.at(-1).open.ms)}, close ${ms(levels.at(-1).close.ms)}`);
    audit.compact();
  }
  const first = levels[0];
  for (const l of levels) {
    l.openRatio = round(l.open.ms / first.open.ms, 2);
    l.closeRatio = round(l.close.ms / first.close.ms, 2);
    l.openApiRatio = round(l.open.apiMs / first.open.apiMs, 2);
    l.closeApiRatio = round(l.close.apiMs / first.close.apiMs, 2);
  }
  return levels;
}

// ---------------------------------------------------------------------------------------------------------------
// 4. cold start of the action; 5. bundle size

async function benchColdStart() {
  const reps = REPS + 2;
  const ns = await cluster.namespace('bench-cold');
  await installWeb(cluster, ns);
  await waitSettled(cluster, ns, 'web', 120_000);
  const identity = await cluster.identity([ns]);
  const kubeconfig = readFileSync(identity.kubeconfig, 'utf8');
  const TOKEN = 'ghs_benchColdStartToken0123456789abcdef';
  fake = await FakeGitHub.start();
  fake.addInstallationToken(TOKEN);
  const repo = { owner: 'acme', repo: 'shop', full: 'acme/shop' };
  const number = 4242;
  const head = 'a'.repeat(40);
  fake.seedPull({ owner: repo.owner, repo: repo.repo, number, headSha: head });
  log(`cold start of node dist/index.js: 1 warm-up + ${reps} runs (a pull_request opened event, dry run)`);
  const runs = [];
  for (let i = -1; i < reps; i++) {
    const mark = await audit.mark();
    const started = now();
    const r = succeeded(await runAction({
      event: 'pull_request',
      payload: payload('pull_request.opened', { repo: repo.full, number, sha: head }),
      repo: repo.full,
      githubUrl: fake.url,
      inputs: {
        'github-token': TOKEN, kubeconfig, 'lock-namespace': ns, namespace: ns, deployment: 'web',
        image: 'example.com/web:pr', 'dry-run': 'true',
      },
    }));
    rmSync(r.runnerTemp, { recursive: true, force: true });
    const s = summarize(await audit.since(mark, [identity.username]));
    if (!s.requests) throw new Error('the action sent no API request');
    if (i >= 0) runs.push({ toFirstRequestMs: round(s.firstRequestAt - started), totalMs: round(r.ms), requests: s.requests, userAgents: s.userAgents });
  }
  // Under it: Node itself starting and exiting, nothing loaded; and the bundle loaded, run on no event (it decides
  // "skip" and exits without touching a kubeconfig or the network).
  const bare = [];
  const load = [];
  const dir = join(cluster.tmp, 'load-only');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < reps; i++) {
    let t0 = performance.now();
    execFileSync(process.execPath, ['-e', '0']);
    bare.push(performance.now() - t0);
    writeFileSync(join(dir, 'out'), '');
    writeFileSync(join(dir, 'summary'), '');
    t0 = performance.now();
    execFileSync(process.execPath, [ACTION], {
      cwd: dir, stdio: 'ignore',
      env: { PATH: process.env.PATH, HOME: dir, RUNNER_TEMP: dir, GITHUB_OUTPUT: join(dir, 'out'), GITHUB_STEP_SUMMARY: join(dir, 'summary') },
    });
    load.push(performance.now() - t0);
  }
  return {
    toFirstRequestMs: round(median(runs.map((r) => r.toFirstRequestMs))),
    toFirstRequestMin: round(min(runs.map((r) => r.toFirstRequestMs))),
    toFirstRequestMax: round(max(runs.map((r) => r.toFirstRequestMs))),
    nodeBareMs: round(median(bare)),
    bundleLoadMs: round(median(load)),
    runs,
  };
}

async function benchBundle() {
  const file = (p) => {
    const buf = readFileSync(p);
    return { path: p.slice(root.length + 1), bytes: buf.length, gzipBytes: gzipSync(buf).length, sha256: createHash('sha256').update(buf).digest('hex') };
  };
  // What the action bundle is made of, by package: the build script bundles the sources again into bench/out
  // (the esbuild metafile; dist/ is not touched). Its size is shown next to dist's, in case they differ.
  let byPackage;
  let rebuiltBytes;
  try {
    const { bundle } = await import('../scripts/build.mjs');
    const outdir = join(here, 'out', 'bundle');
    const metafile = await bundle(outdir);
    const sizes = {};
    for (const out of Object.values(metafile.outputs)) {
      for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
        const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? 'src';
        sizes[pkg] = (sizes[pkg] ?? 0) + bytesInOutput;
      }
    }
    byPackage = Object.fromEntries(Object.entries(sizes).sort((x, y) => y[1] - x[1]).slice(0, 10));
    rebuiltBytes = statSync(join(outdir, 'index.js')).size;
  } catch (e) {
    log(`bundle composition: ${e.message}`);
  }
  return { action: { ...file(ACTION), byPackage, rebuiltBytes }, cli: file(CLI) };
}

// ---------------------------------------------------------------------------------------------------------------
// Targets

/** The kinds of request whose server time grew most from `a` to `b` (serverMsBy of two summaries). */
function growth(a, b, top = 3) {
  return Object.keys(b.serverMsBy)
    .map((k) => ({ k, from: a.serverMsBy[k]?.totalMs ?? 0, to: b.serverMsBy[k].totalMs }))
    .sort((x, y) => (y.to - y.from) - (x.to - x.from))
    .slice(0, top)
    .map((x) => `${x.k} ${ms(x.from)} -> ${ms(x.to)}`)
    .join(', ');
}

function targets(r) {
  const out = [];
  const add = (name, target, value, met, by, why) => out.push({ name, target, value, met, ...(met ? {} : { by, why }) });
  const times = (value, limit) => `${ratio(value / limit)} the target`;
  if (r.openClose) {
    const o5 = r.openClose.find((x) => x.services === 5).open;
    add('open of 5 services (--no-wait), median wall time', '<= 500 ms', ms(o5.ms), o5.ms <= 500,
      `${ms(o5.ms - 500)} over (${times(o5.ms, 500)})`,
      `of ${ms(o5.ms)}, ${ms(o5.startupMs)} pass before the first API request (Node start, bundle load, config and kubeconfig) ` +
      `and ${ms(o5.apiMs)} from the first request to the last answer: ${o5.requests} requests where the floor is ${o5.requestFloor} ` +
      `(${o5.reads} reads for a floor of ${o5.readFloor}: the cluster is read before and again under the Lease; ` +
      `${o5.accessReviews} permission checks, one per write)`);
    const all = [...r.openClose.flatMap((x) => [['open', `${x.services} svc`, x.open], ['close', `${x.services} svc`, x.close]]),
      ...(r.scaling ?? []).flatMap((l) => [['open', `1 svc, ${l.envs} envs`, l.open], ['close', `1 svc, ${l.envs} envs`, l.close]])];
    const above = all.filter(([, , s]) => !s.writesAtFloorInEveryRun);
    add('writes at the floor (one per object changed, plus taking and releasing the Lease)', 'writes = floor in every run',
      above.length ? `${above.length} of ${all.length} above` : `${all.length} of ${all.length} at the floor`, above.length === 0,
      above.map(([c, n, s]) => `${c} ${n}: ${s.writes} writes for a floor of ${s.writeFloor}`).join('; '),
      above.map(([c, n, s]) => `${c} ${n}: ${Object.entries(s.writesBy).map(([k, v]) => `${v}x ${k}`).join(', ')}`).join('; '));
  }
  if (r.concurrency) {
    const c = r.concurrency;
    add(`${c.concurrent} concurrent opens on one VirtualService vs one open`, '<= 3x', ratio(c.ratio), c.ratio <= 3,
      `${times(c.ratio, 3)} (${ms(c.totalMs)} for ${c.concurrent}, ${ms(c.singleMs)} for one)`,
      `${c.concurrent} Node processes share ${cpus().length} cores: ${c.concurrent} x \`dynamic-env --help\` alone (load the bundle, ` +
      `no API request) take ${ms(c.processStartOnly.totalMs)} at once vs ${ms(c.processStartOnly.singleMs)} for one ` +
      `(${ratio(c.processStartOnly.ratio)}); the median process sent its first request after ${ms(c.toFirstRequestMs)} ` +
      `(the last after ${ms(c.toFirstRequestMax)}), first tried the VirtualService after ${ms(c.toFirstVsAttemptMs)}, and then ` +
      `needed ${ms(c.vsRetriesMs)} (at most ${ms(c.vsRetriesMax)}, ${c.vsAttemptsMax} attempts) until its edit was accepted: ` +
      `${c.conflicts} conflicts (409), ${c.vsUpdates} updates for ${c.concurrent} edits`);
  }
  if (r.scaling) {
    const last = r.scaling.at(-1);
    const first = r.scaling[0];
    for (const cmd of ['open', 'close']) {
      const x = last[`${cmd}Ratio`];
      add(`${cmd} with ${last.envs} envs on the VirtualService vs ${first.envs}`, '<= 1.5x', ratio(x), x <= 1.5,
        `${times(x, 1.5)} (${ms(last[cmd].ms)} vs ${ms(first[cmd].ms)})`,
        `same number of requests (${first[cmd].requests} -> ${last[cmd].requests}), but the VirtualService grew from ` +
        `${bytes(first.vsBytes)} (${first.vsRoutes} routes) to ${bytes(last.vsBytes)} (${last.vsRoutes}) and the time from ` +
        `the first request to the last answer went ${ms(first[cmd].apiMs)} -> ${ms(last[cmd].apiMs)}; API server time grew ` +
        `most in ${growth(first[cmd], last[cmd])}. The API server alone needs ${ms(last.apiServer.vsNoopPutMs)} to accept ` +
        `the ${bytes(last.vsBytes)} VirtualService unchanged (${ms(first.apiServer.vsNoopPutMs)} at ${first.envs} env), where a ` +
        `ConfigMap of the same bytes takes ${ms(last.apiServer.configMapPutMs)}: the cost is the custom resource's ` +
        `schema handling, per byte of the one shared VirtualService every env's routes must live in`);
    }
  }
  if (r.coldStart) {
    const c = r.coldStart;
    add('cold start of node dist/index.js to its first API request', '<= 150 ms', ms(c.toFirstRequestMs), c.toFirstRequestMs <= 150,
      `${ms(c.toFirstRequestMs - 150)} over (${times(c.toFirstRequestMs, 150)})`,
      `Node alone (node -e 0) starts and exits in ${ms(c.nodeBareMs)}; node dist/index.js with no event (load the ` +
      `${bytes(r.bundle.action.bytes)} bundle, decide "skip", exit) takes ${ms(c.bundleLoadMs)}; the rest, ` +
      `${ms(c.toFirstRequestMs - c.bundleLoadMs)}, is reading inputs, the kubeconfig and the config, and connecting`);
  }
  const b = r.bundle.action;
  add('bundle size of dist/index.js', '<= 2 MB (2,000,000 bytes)', `${bytes(b.bytes)} (${bytes(b.gzipBytes)} gzipped)`, b.bytes <= 2_000_000,
    `${bytes(b.bytes - 2_000_000)} over`, `by package: ${Object.entries(b.byPackage ?? {}).map(([k, v]) => `${k} ${bytes(v)}`).join(', ')}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Report

function printReport(r) {
  const lines = [];
  const cmdRow = (label, s) => [label, ms(s.ms), `${ms(s.msMin)}..${ms(s.msMax)}`, ms(s.startupMs), ms(s.apiMs),
    `${s.requests} (${s.requestFloor})`, `${s.reads} (${s.readFloor})`, `${s.writes} (${s.writeFloor})`, String(s.accessReviews)];
  const head = ['command', 'median', 'range', 'to 1st req', 'API span', 'requests (floor)', 'reads (floor)', 'writes (floor)', 'access reviews'];
  if (r.openClose) {
    lines.push(`\nopen / close, --no-wait (median of ${REPS}; floor: one list per kind per namespace read, one write per object changed + 2 for the Lease)`);
    lines.push(table([head, ...r.openClose.flatMap((x) => [cmdRow(`open  ${x.services} svc`, x.open), cmdRow(`close ${x.services} svc`, x.close)])]));
    const five = r.openClose.find((x) => x.services === 5);
    for (const c of ['open', 'close']) {
      lines.push(`${c} 5 svc, where the time goes (medians): ${Object.entries(five[c].phases ?? {}).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}`);
    }
  }
  if (r.concurrency) {
    const c = r.concurrency;
    lines.push(`\n${c.concurrent} concurrent opens on one VirtualService (median of ${c.rounds.length} rounds)`);
    lines.push(table([
      ['', 'one', `${c.concurrent} at once`, 'ratio', 'per process', '409s', 'VS updates'],
      ['open (1 svc)', ms(c.singleMs), ms(c.totalMs), ratio(c.ratio), ms(c.processMsMedian), String(c.conflicts), String(c.vsUpdates)],
      ['--help only', ms(c.processStartOnly.singleMs), ms(c.processStartOnly.totalMs), ratio(c.processStartOnly.ratio), '', '', ''],
      [`close (1 svc)`, '', ms(c.closeTotalMs), '', '', '', ''],
    ]));
    lines.push(`per process (median): first request after ${ms(c.toFirstRequestMs)}, first VirtualService attempt after ` +
      `${ms(c.toFirstVsAttemptMs)}, then ${ms(c.vsRetriesMs)} until accepted (max ${ms(c.vsRetriesMax)}, up to ${c.vsAttemptsMax} attempts)`);
  }
  if (r.scaling) {
    lines.push(`\nenvs already on the VirtualService (1 service each; median of ${REPS})`);
    lines.push(table([['envs', 'VS size', 'open', 'ratio', 'open API span', 'close', 'ratio', 'close API span', 'open req', 'close req', 'VS no-op PUT', 'same-size ConfigMap PUT'],
      ...r.scaling.map((l) => [String(l.envs), bytes(l.vsBytes), ms(l.open.ms), ratio(l.openRatio), ms(l.open.apiMs),
        ms(l.close.ms), ratio(l.closeRatio), ms(l.close.apiMs), String(l.open.requests), String(l.close.requests),
        ms(l.apiServer.vsNoopPutMs), ms(l.apiServer.configMapPutMs)])]));
  }
  if (r.coldStart) {
    const c = r.coldStart;
    lines.push(`\ncold start: node dist/index.js to its first API request: median ${ms(c.toFirstRequestMs)} (${ms(c.toFirstRequestMin)}..${ms(c.toFirstRequestMax)}); ` +
      `node -e 0: ${ms(c.nodeBareMs)}; node dist/index.js on no event (load, skip, exit): ${ms(c.bundleLoadMs)}`);
  }
  lines.push(`bundle: dist/index.js ${bytes(r.bundle.action.bytes)} (${bytes(r.bundle.action.gzipBytes)} gzipped); dist/cli.js ${bytes(r.bundle.cli.bytes)}`);
  const busy = Object.entries(r.otherWork).filter(([, v]) => v.othersShare > 0.1).map(([k]) => k);
  lines.push(`load average (1, 5, 15 min) before: ${r.loadAverage.before.join(', ')}; after: ${r.loadAverage.after.join(', ')} on ${r.machine.nproc} cores`);
  lines.push(`other work on the machine (share of all cores) during: ${Object.entries(r.otherWork).map(([k, v]) => `${k} ${Math.round(v.othersShare * 100)}%`).join(', ')}` +
    (busy.length ? `  <- busy during ${busy.join(', ')}: those figures are slower than on a quiet machine` : ''));
  lines.push('\ntargets');
  lines.push(table([['target', 'wanted', 'measured', 'met'], ...r.targets.map((t) => [t.name, t.target, t.value, t.met ? 'yes' : 'NO'])]));
  for (const t of r.targets.filter((x) => !x.met)) lines.push(`\nmissed: ${t.name}: ${t.by}\n  why: ${t.why}`);
  process.stdout.write(lines.join('\n') + '\n');
}

function machine() {
  const sh = (cmd, args) => { try { return execFileSync(cmd, args, { encoding: 'utf8' }).trim(); } catch { return null; } };
  const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model;
  return {
    nproc: Number(sh('nproc', [])) || cpus().length,
    cpuModel: model,
    memTotalGiB: round(totalmem() / 2 ** 30, 1),
    freeH: sh('free', ['-h']),
    kernel: release(),
    node: process.version,
  };
}

function gitInfo() {
  const sh = (args) => { try { return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim(); } catch { return null; } };
  return {
    commit: sh(['rev-parse', 'HEAD']),
    // The bundles measured are the working tree's; say whether they differ from the commit.
    distChanged: sh(['status', '--porcelain', '--', 'dist']) || '',
  };
}

// ---------------------------------------------------------------------------------------------------------------

let benchStarted = Date.now();
let exitCode = 0;
try {
  // BENCH_WAIT_QUIET=<seconds>: first wait (up to that long) until other work on the machine has calmed down.
  const quietFor = Number(process.env.BENCH_WAIT_QUIET ?? 0);
  if (quietFor > 0) {
    const until = Date.now() + quietFor * 1000;
    for (let calm = 0; calm < 2 && Date.now() < until;) {
      calm = loadavg()[0] <= cpus().length / 4 ? calm + 1 : 0;
      if (calm < 2) {
        log(`waiting for a quieter machine (load ${loadavg()[0].toFixed(2)})`);
        await new Promise((r) => setTimeout(r, 15_000));
      }
    }
  }
  const loadBefore = loadavg().map((x) => round(x, 2));
  benchStarted = Date.now();
  plane = await startControlPlane();
  cluster = new TestCluster({
    server: plane.server, ca: plane.ca, adminToken: plane.adminToken, adminKubeconfig: plane.adminKubeconfig,
    serviceAccountKubeconfig: plane.serviceAccountKubeconfig, auditLog: plane.auditLog, dir: plane.dir, versions: plane.versions,
  });
  audit = new AuditTail(plane.auditLog, (name) => request(cluster.admin, 'GET', `/api/v1/namespaces/default/configmaps/${name}`));
  const results = {
    generatedAt: new Date().toISOString(),
    machine: machine(),
    // Other work on the machine skews every figure: the load before the first measurement and after the last.
    loadAverage: { before: loadBefore },
    versions: plane.versions,
    git: gitInfo(),
    settings: { reps: REPS, only: ONLY ? [...ONLY] : null },
  };
  // How busy the machine was with other work during each measurement (a figure taken then is suspect): the share
  // of all cores' time that neither this process, its CLI runs nor its control plane used.
  const meter = cpuMeter(join(process.env.DYNAMIC_ENV_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'dynamic-env'), 'control-plane'));
  results.otherWork = {};
  const section = async (name, fn) => {
    if (!wanted(name)) return;
    meter.lap();
    results[name] = await fn();
    results.otherWork[name] = meter.lap();
  };
  await section('openClose', benchOpenClose);
  await section('concurrency', benchConcurrency);
  await section('scaling', benchScaling);
  await section('coldStart', benchColdStart);
  results.bundle = await benchBundle();
  results.loadAverage.after = loadavg().map((x) => round(x, 2));
  results.targets = targets(results);
  results.durationSeconds = round((Date.now() - benchStarted) / 1000, 0);
  printReport(results);
  const out = ONLY ? join(here, 'out', 'results.partial.json') : join(here, 'results.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  mkdirSync(join(here, 'out'), { recursive: true });
  writeFileSync(join(here, 'out', ONLY ? 'results.partial.md' : 'results.md'), markdown(results));
  log(`wrote ${out.slice(root.length + 1)} (${results.durationSeconds} s in all)`);
} catch (e) {
  log(`failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  if (plane) log(`control plane logs (kept with DYNAMIC_ENV_KEEP_CONTROL_PLANE=1): ${plane.dir}`);
  exitCode = 1;
} finally {
  await stopAll();
}
process.exit(exitCode);
