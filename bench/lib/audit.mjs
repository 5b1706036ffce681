// The control plane's audit log, read incrementally (it grows to tens of MB over a bench run, and every measured
// command reads its own slice), and what a command's slice says: requests, reads, writes, and the floor.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const READ_VERBS = new Set(['get', 'list', 'watch']);
/** Permission questions: a "create" that asks the API server and stores nothing. */
const QUESTIONS = new Set(['selfsubjectaccessreviews', 'selfsubjectrulesreviews']);

/** `2026-12-01T21:37:52.123456Z` -> ms since the epoch, with the microseconds kept as a fraction. */
export function auditTime(s) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(s ?? '');
  if (!m) return NaN;
  const frac = (m[2] ?? '0').padEnd(6, '0').slice(0, 6);
  return Date.parse(`${m[1]}Z`) + Number(frac) / 1000;
}

export class AuditTail {
  /**
   * @param {string} path the audit log
   * @param {(name: string) => Promise<unknown>} probe sends one request the API server logs (the admin's GET of a
   *   ConfigMap named `name`, which does not exist); `flush` waits until it shows up in the log
   */
  constructor(path, probe) {
    this.path = path;
    this.probe = probe;
    this.offset = 0;
    this.partial = '';
    /** Every ResponseComplete event read so far, in file order. */
    this.events = [];
    /** Events dropped by `compact` (marks are absolute indexes). */
    this.dropped = 0;
    this.probes = 0;
  }

  /** Reads what was appended since the last call. */
  readNew() {
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      let read = 0;
      while (read < buf.length) {
        const n = readSync(fd, buf, read, buf.length - read, this.offset + read);
        if (n === 0) break;
        read += n;
      }
      this.offset += read;
      const text = this.partial + buf.subarray(0, read).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line) continue;
        const e = JSON.parse(line);
        if (e.stage !== 'ResponseComplete' && e.stage !== 'Panic') continue;
        this.events.push(e);
      }
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Everything the API server finished before now is in `events` afterwards: a probe request is sent and the log
   * read until the probe's event is there (ResponseComplete events reach the log as requests finish; a command
   * that has exited has had all its answers).
   */
  async flush() {
    const name = `bench-probe-${process.pid}-${++this.probes}`;
    await this.probe(name).catch(() => {});
    const deadline = Date.now() + 10_000;
    let from = this.events.length;
    for (;;) {
      this.readNew();
      if (this.events.slice(from).some((e) => e.objectRef?.name === name)) break;
      from = this.events.length;
      if (Date.now() > deadline) throw new Error(`audit log ${this.path}: the probe ${name} did not show up in 10 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.dropped + this.events.length;
  }

  /** The index from which a command's events start (call before starting it). */
  async mark() {
    return this.flush();
  }

  /** Events since `mark` (after a flush) of the users given. */
  async since(mark, usernames) {
    await this.flush();
    const users = new Set(usernames);
    if (mark < this.dropped) throw new Error('audit: events of this mark were compacted away');
    return this.events.slice(mark - this.dropped).filter((e) => users.has(e.user?.username));
  }

  /** Events since `mark` (after a flush) that `pred` selects, whoever sent them. */
  async matching(mark, pred) {
    await this.flush();
    if (mark < this.dropped) throw new Error('audit: events of this mark were compacted away');
    return this.events.slice(mark - this.dropped).filter(pred);
  }

  /** Forgets the events read so far (memory: seeding 200 envs logs thousands); older marks become invalid. */
  compact() {
    this.dropped += this.events.length;
    this.events = [];
  }
}

const scopeOf = (e) => e.objectRef?.namespace ?? '*';
const resourceOf = (e) => `${e.objectRef?.apiGroup ? `${e.objectRef.apiGroup}/` : ''}${e.objectRef?.resource ?? e.requestURI}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`;

/**
 * What one command's events add up to.
 * - requests: every request it sent.
 * - reads: get/list/watch. readFloor: one list per kind per namespace read, a cluster-wide read of a kind counting
 *   once for every namespace (the floor the issue names: no kind read twice in the same scope).
 * - accessReviews: SelfSubjectAccessReviews and SelfSubjectRulesReviews (a "create" that stores nothing: the
 *   permission checks before writing).
 * - leaseWrites: writes of the env's Lease (taking and giving back the lock).
 * - objectWrites: every other write (clones, DestinationRules, VirtualServices), retries after a 409 included.
 * - conflicts: answers 409.
 */
export function summarize(events) {
  const reads = events.filter((e) => READ_VERBS.has(e.verb));
  const writes = events.filter((e) => WRITE_VERBS.has(e.verb));
  const accessReviews = writes.filter((e) => QUESTIONS.has(e.objectRef?.resource));
  const leaseWrites = writes.filter((e) => e.objectRef?.resource === 'leases');
  const objectWrites = writes.filter((e) => !accessReviews.includes(e) && !leaseWrites.includes(e));
  const scopes = new Map();
  for (const e of reads) {
    const r = resourceOf(e);
    if (!scopes.has(r)) scopes.set(r, new Set());
    scopes.get(r).add(scopeOf(e));
  }
  const readFloor = [...scopes.values()].reduce((n, s) => n + (s.has('*') ? 1 : s.size), 0);
  const count = (list, key) => {
    const m = {};
    for (const e of list) m[key(e)] = (m[key(e)] ?? 0) + 1;
    return Object.fromEntries(Object.entries(m).sort(([a], [b]) => a.localeCompare(b)));
  };
  // Time the API server spent on each request (received -> response complete), by "verb resource".
  const serverMsBy = {};
  for (const e of events) {
    const k = `${e.verb} ${resourceOf(e)}`;
    const d = auditTime(e.stageTimestamp) - auditTime(e.requestReceivedTimestamp);
    const x = (serverMsBy[k] ??= { n: 0, totalMs: 0, maxMs: 0 });
    x.n++;
    x.totalMs = Math.round((x.totalMs + d) * 10) / 10;
    x.maxMs = Math.round(Math.max(x.maxMs, d) * 10) / 10;
  }
  const times = events.flatMap((e) => [auditTime(e.requestReceivedTimestamp), auditTime(e.stageTimestamp)]).filter(Number.isFinite);
  return {
    requests: events.length,
    reads: reads.length,
    readFloor,
    accessReviews: accessReviews.length,
    leaseWrites: leaseWrites.length,
    objectWrites: objectWrites.length,
    conflicts: events.filter((e) => e.responseStatus?.code === 409).length,
    errors: events.filter((e) => (e.responseStatus?.code ?? 0) >= 400 && e.responseStatus?.code !== 404 && e.responseStatus?.code !== 409).length,
    firstRequestAt: events.length ? Math.min(...events.map((e) => auditTime(e.requestReceivedTimestamp))) : null,
    lastResponseAt: times.length ? Math.max(...times) : null,
    /** Reads by "verb resource scope", writes by "verb resource ns/name code": where every request went. */
    readsBy: count(reads, (e) => `${e.verb} ${resourceOf(e)} ${scopeOf(e)}`),
    writesBy: count(writes.filter((e) => !accessReviews.includes(e)), (e) =>
      `${e.verb} ${resourceOf(e)} ${e.objectRef?.namespace ?? ''}/${e.objectRef?.name ?? ''} ${e.responseStatus?.code}`),
    serverMsBy: Object.fromEntries(Object.entries(serverMsBy).sort(([a], [b]) => a.localeCompare(b))),
    userAgents: [...new Set(events.map((e) => e.userAgent))],
  };
}
