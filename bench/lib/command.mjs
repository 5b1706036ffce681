// Observing one CLI command: its wall time, its audit events (requests, reads, writes, next to the floor), which
// objects actually changed (the write floor), and where its time went, phase by phase.
import { auditTime, summarize } from './audit.mjs';
import { harness, now, track } from './plane.mjs';
import { max, median, min, round } from './stats.mjs';

/** What a command owns or edits, by "Kind ns/name" -> the parts a write changes (labels, our annotations, spec). */
async function stateOf(cluster, namespaces) {
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

const isRes = (e, resource, verbs) => e.objectRef?.resource === resource && verbs.includes(e.verb);
const first = (resource, verbs) => (ev) => ev.find((e) => isRes(e, resource, verbs));
const last = (resource, verbs) => (ev) => ev.findLast((e) => isRes(e, resource, verbs));
const nth = (resource, verbs, n) => (ev) => ev.filter((e) => isRes(e, resource, verbs))[n];
const LEASE_TAKE = ['create', 'update'];

/**
 * Where the wall time of one command went, from the order of its own requests in the audit log: each phase ends
 * at a marker request (the gaps between requests, the client's own work, belong to the phase they end). A marker
 * the command did not send is skipped (its time goes to the next phase).
 */
const PHASES = {
  'open --no-wait': [
    ['read, plan, permission checks', first('leases', LEASE_TAKE), 'start'],
    ['take the Lease', first('leases', LEASE_TAKE), 'end'],
    ['read and plan under the Lease', first('destinationrules', ['create', 'update']), 'start'],
    ['write DestinationRules and clones', last('deployments', ['create', 'update']), 'end'],
    ['look at the clones', first('virtualservices', ['update', 'create']), 'start'],
    ['write routes', last('virtualservices', ['update', 'create']), 'end'],
    ['release the Lease', last('leases', ['delete']), 'end'],
  ],
  // One hold when the rollout is done within the Lease's hold (--lock-hold, the bench's instant pods); when it is not,
  // giving the Lease back, taking it again and reading the clones under it fall in 'rollout wait'.
  'open --wait': [
    ['read, plan, permission checks', first('leases', LEASE_TAKE), 'start'],
    ['take the Lease', first('leases', LEASE_TAKE), 'end'],
    ['read and plan under the Lease', first('destinationrules', ['create', 'update']), 'start'],
    ['write DestinationRules and clones', last('deployments', ['create', 'update']), 'end'],
    ['rollout wait', first('virtualservices', ['update', 'create']), 'start'],
    ['write routes', last('virtualservices', ['update', 'create']), 'end'],
    ['release the Lease', last('leases', ['delete']), 'end'],
  ],
  close: [
    ['take the Lease', first('leases', LEASE_TAKE), 'end'],
    ['read and plan', (ev) => first('selfsubjectrulesreviews', ['create'])(ev) ?? first('selfsubjectaccessreviews', ['create'])(ev), 'start'],
    ['permission checks', (ev) => last('selfsubjectaccessreviews', ['create'])(ev) ?? last('selfsubjectrulesreviews', ['create'])(ev), 'end'],
    ['remove routes', first('virtualservices', ['update', 'delete']), 'end'],
    ['delete clones', last('deployments', ['delete']), 'end'],
    ['wait for the clones\' pods to go, delete DestinationRules', last('destinationrules', ['delete']), 'end'],
    ['release the Lease', last('leases', ['delete']), 'end'],
  ],
};

export const commandKind = (args) => (args[0] === 'open' ? (args.includes('--no-wait') ? 'open --no-wait' : 'open --wait') : args[0]);

function phases(kind, events, started, wallMs) {
  const list = PHASES[kind];
  if (!list || !events.length) return undefined;
  const ev = [...events].sort((a, b) => auditTime(a.requestReceivedTimestamp) - auditTime(b.requestReceivedTimestamp));
  const out = { 'start (spawn to first request)': round(auditTime(ev[0].requestReceivedTimestamp) - started) };
  let at = auditTime(ev[0].requestReceivedTimestamp);
  // In the order the markers happened (an engine that reorders its steps moves the phases with them).
  const marks = list.map(([name, find, edge]) => {
    const e = find(ev);
    return e && { name, t: auditTime(edge === 'start' ? e.requestReceivedTimestamp : e.stageTimestamp) };
  }).filter(Boolean).sort((a, b) => a.t - b.t);
  for (const { name, t } of marks) {
    out[name] = round(t - at);
    at = t;
  }
  out['exit (last answer to process exit)'] = round(started + wallMs - at);
  return out;
}

/**
 * How many times a command holds the env's Lease: once. (open --wait holds it twice when its rollout outlasts the
 * hold, --lock-hold, 5s: the bench's instant pods never do; docs/DESIGN.md "Concurrency".)
 */
export const leaseHolds = () => 1;

export function figures(wallMs, started, s, changed, holds = 1) {
  const writes = s.objectWrites + s.leaseWrites;
  // Taking and giving back the env's Lease is two writes per hold whatever else changes.
  const writeFloor = changed.length + 2 * holds;
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
    // The API server's own time for the writes (received -> answered, summed): part of every floor of wall time.
    writeServerMs: round(Object.entries(s.serverMsBy).filter(([k]) => /^(create|update|patch|delete) /.test(k) && !k.includes('selfsubject'))
      .reduce((n, [, v]) => n + v.totalMs, 0)),
    readsBy: s.readsBy,
    writesBy: s.writesBy,
    serverMsBy: s.serverMsBy,
    changed,
  };
}

/**
 * Runs one CLI command as a separate process (`node dist/cli.js`, as users run it) and returns its figures.
 * `namespaces`: where it may change objects (for the floor). Throws with the command's stderr unless it exits 0.
 */
export async function measureCli(ctx, args, { identity, namespaces }) {
  const before = await stateOf(ctx.cluster, namespaces);
  const mark = await ctx.audit.mark();
  const started = now();
  const r = await harness.runCli(args, { kubeconfig: identity.kubeconfig, onSpawn: track, timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`dynamic-env ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  const events = await ctx.audit.since(mark, [identity.username]);
  const s = summarize(events);
  const changed = changedBetween(before, await stateOf(ctx.cluster, namespaces));
  const kind = commandKind(args);
  return { ...figures(r.ms, started, s, changed, leaseHolds(kind)), phases: phases(kind, events, started, r.ms), events };
}

/** A run as kept in results.json: the numbers (where its requests went is kept once, in the summary). */
export const compact = ({ readsBy: _r, writesBy: _w, serverMsBy: _s, changed: _c, events: _e, ...numbers }) => numbers;

/** Medians of the figures of several runs (the runs themselves are kept, compacted, in `runs`). */
export function summary(runs) {
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
    writeServerMs: round(pick('writeServerMs')),
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

/** summary() of the runs plus the runs themselves, compacted. */
export const summarized = (runs) => ({ ...summary(runs), runs: runs.map(compact) });
