// The figures of a results.json as Markdown: the targets first (each with its floor and the ratio to it, and for a
// miss, by how much and why), then each measurement's table. The bench prints this after a run and writes it to
// bench/out/results.md; BENCHMARKS.md quotes it. `node bench/lib/markdown.mjs [results.json]` prints it again.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bytes, ms, ratio } from './stats.mjs';

const row = (cells) => `| ${cells.join(' | ')} |`;
const tableMd = (head, rows) => [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');
const kB = (n) => (Number.isFinite(n) ? bytes(n) : 'n/a');

export function targetsMd(r) {
  const out = [tableMd(['target', 'wanted', 'measured', 'floor', '× floor', 'met'], r.targets.map((t) => [
    t.name, t.target, t.value, t.floor != null ? (t.name.startsWith('requests') ? String(t.floor) : ms(t.floor)) : '—',
    t.ratioToFloor != null ? ratio(t.ratioToFloor) : '—', t.met ? 'yes' : '**no**',
  ])), ''];
  for (const t of r.targets.filter((x) => x.floorText)) out.push(`- *${t.name}*, floor: ${t.floorText}`);
  out.push('');
  for (const t of r.targets.filter((x) => !x.met)) out.push(`**Missed: ${t.name}**: ${t.by}. Why: ${t.why}.`, '');
  return out.join('\n');
}

const cmdHead = ['command', 'median wall', 'range', 'to 1st request', 'API span', 'requests (floor)', 'reads (floor)', 'writes (floor)', 'permission checks'];
const cmdRow = (label, s) => [label, ms(s.ms), `${ms(s.msMin)}–${ms(s.msMax)}`, ms(s.startupMs), ms(s.apiMs),
  `${s.requests} (${s.requestFloor})`, `${s.reads} (${s.readFloor})`, `${s.writes} (${s.writeFloor})`, String(s.accessReviews)];

export function markdown(r) {
  const out = [`## Targets (commit ${r.git?.commit?.slice(0, 7) ?? '?'}${r.git?.distChanged ? ', src/ or dist/ changed in the working tree' : ''}, run ${r.generatedAt.slice(0, 16).replace('T', ' ')} UTC, ${r.durationSeconds} s)`, '', targetsMd(r),
    ...Object.entries(r.failures ?? {}).map(([m, e]) => `**Measurement ${m} failed**: ${e}\n`), '## Figures', ''];
  if (r.open) {
    const o = r.open;
    out.push(`### open / close (median of ${r.settings.reps})`, '');
    out.push(tableMd(cmdHead, o.sizes.flatMap((x) => ['noWait', 'wait'].filter((m) => x[m]).flatMap((m) => [
      cmdRow(`open ${m === 'wait' ? '--wait' : '--no-wait'} ${x.services} svc`, x[m].open),
      cmdRow(`close ${x.services} svc (after ${m === 'wait' ? '--wait' : '--no-wait'})`, x[m].close),
    ]))), '');
    out.push(`A CLI process that loads the bundle and sends nothing (\`dynamic-env --help\`): ${ms(o.cliStartMs)}` +
      (o.cliStartNoCacheMs != null ? ` with Node's compile cache as the CLI keeps it (every CLI figure here is a start after the first on this machine), ${ms(o.cliStartNoCacheMs)} with it off (a machine's first run)` : '') +
      `. The cluster's own rollout ` +
      `of one-replica Deployments created at once, like the clones (create to all Available, followed by a watch): ` +
      `${o.sizes.filter((x) => x.rolloutFloorMs != null).map((x) => `${x.services}: ${ms(x.rolloutFloorMs)}`).join(', ')}.`, '');
    const one = o.sizes.find((x) => x.services === 1);
    const phases = [['open --wait 1 svc', one.wait?.open], ['open --no-wait 1 svc', one.noWait.open], ['close 1 svc', one.noWait.close]].filter(([, s]) => s?.phases);
    if (phases.length) {
      out.push('Where the time goes (medians; each phase ends at a request of the command in the audit log):', '');
      for (const [label, s] of phases) out.push(tableMd([`${label}: phase`, 'ms'], Object.entries(s.phases).map(([k, v]) => [k, ms(v)])), '');
    }
  }
  if (r.concurrency) {
    const c = r.concurrency;
    out.push(`### ${c.concurrent} concurrent opens on one VirtualService, released at a barrier (median of ${c.rounds.length} rounds)`, '');
    out.push(tableMd(['', 'one open', `${c.concurrent} opens`, 'ratio', '409s', 'VirtualService writes per accepted edit'], [
      ['on one VirtualService, in this process, from the barrier (before the first write) to done', ms(c.singleMs), ms(c.totalMs), ratio(c.ratio), String(c.conflicts), String(c.writesPerEdit)],
      ['each on a VirtualService of its own (the floor), the same way', ms(c.singleMs), ms(c.separateMs), ratio(c.separateRatio), String(c.separateConflicts), String(c.separateWritesPerEdit)],
    ]), '');
    out.push(`Reading and planning until all ${c.concurrent} were at the barrier: ${ms(c.toBarrierMs)}. After the barrier, the median open first ` +
      `tried the VirtualService after ${ms(c.firstVsAttemptMs)} and had its edit accepted after ${ms(c.acceptedMs)} (the last: ` +
      `${ms(c.acceptedMaxMs)}, up to ${c.vsAttemptsMax} attempts). The ${c.concurrent} closes at once (no barrier, no route requests: ` +
      `each removes its routes by read-modify-write): ${ms(c.closeTotalMs)}, ${c.closeConflicts} conflicts (409), ${c.closeWritesPerEnv} ` +
      `VirtualService writes per close, the API server's median time to refuse one ${ms(c.closeRefusalMs)}. ` +
      `For comparison, the old measurement (once): ${c.concurrent} \`node dist/cli.js\` processes started at once took ${ms(c.processes.totalMs)}, ` +
      `and ${c.concurrent} \`dynamic-env --help\` alone ${ms(c.processes.helpTotalMs)}.`, '');
    if (c.sweep) {
      out.push(`A sweep reclaiming ${c.sweep.envs} envs on that VirtualService (each close draining ${ms(c.sweep.drainMs)}, ` +
        `${c.sweep.atOnce} at a time): ${ms(c.sweep.sweepMs)}, against ${ms(c.sweep.oneCloseMs)} for one close alone with the same drain ` +
        `(one after another: about ${ms(c.sweep.envs * c.sweep.oneCloseMs)}).`, '');
    }
    out.push(`The API server alone (admin, no engine), ${c.concurrent} edits of one VirtualService sent at once, each adding a route: ` +
      `${ms(c.serverPutMs)} as read-modify-write PUTs retried at once on 409 (${c.serverPutConflicts} conflicts), ${ms(c.serverPatchMs)} as ` +
      `JSON patches (no 409 reaches the client), against ${ms(c.serverOneMs)} for one patch alone: what one accepted write per env ` +
      `costs on one object here, before any engine work.`, '');
  }
  if (r.envs) {
    out.push(`### envs already on the VirtualService (each env 1 service; median of ${r.settings.reps})`, '');
    out.push(tableMd(
      ['envs', 'VirtualService', 'no-op PUT (floor part)', 'open', 'floor', '× floor', 'close', 'floor', '× floor', 'requests open / close'],
      r.envs.map((l) => [String(l.envs), `${bytes(l.vsBytes)}, ${l.vsRoutes} routes`, ms(l.apiServer.vsNoopPutMs),
        ms(l.open.ms), ms(l.openFloor), ratio(l.openRatio), ms(l.close.ms), ms(l.closeFloor), ratio(l.closeRatio),
        `${l.open.requests} / ${l.close.requests}`]),
    ), '');
    out.push(`Floor: the one-env figure plus the admin's unchanged PUT of the VirtualService at that size (a ConfigMap of the same bytes: ` +
      `${r.envs.map((l) => ms(l.apiServer.configMapPutMs)).join(', ')}).`, '');
  }
  if (r.mesh) {
    const m = r.mesh;
    out.push('### what the mesh pays per env (a posed sidecar\'s configuration from istiod)', '');
    out.push(tableMd(
      ['n', 'one host, n envs: RDS', 'Envoy routes', 'clusters (CDS)', 'write to push', 'n hosts, no env: RDS', 'Envoy routes', 'clusters (CDS)', 'write to push'],
      m.levels.map((l) => [String(l.n), kB(l.env.rdsBytes), String(l.env.routes), `${l.env.clusters} (${kB(l.env.cdsBytes)})`, ms(l.env.pushMs),
        kB(l.host.rdsBytes), String(l.host.routes), `${l.host.clusters} (${kB(l.host.cdsBytes)})`, ms(l.host.pushMs)]),
    ), '');
    out.push(`Per env: +${kB(m.perEnv.rdsBytes)} of RDS (${m.perEnv.routes} Envoy routes), +${m.perEnv.clusters} cluster(s) (${kB(m.perEnv.cdsBytes)} of CDS). ` +
      `Per host: +${kB(m.perHost.rdsBytes)} of RDS (${m.perHost.routes} routes), +${m.perHost.clusters} cluster(s) (${kB(m.perHost.cdsBytes)}). ` +
      `Sizes are protojson bytes as the xDS probe prints them; write to push is the median of ${m.samples}.`, '');
  }
  if (r.coldStart) {
    const c = r.coldStart;
    out.push('### cold start', '');
    out.push(tableMd(['', 'median', 'range'], [
      ['`node dist/index.js` (pull_request opened, dry run) to its first API request', ms(c.toFirstRequestMs), `${ms(c.toFirstRequestMin)}–${ms(c.toFirstRequestMax)}`],
      ['`node dist/index.js` on no event (load the bundle, decide "skip", exit)', ms(c.bundleLoadMs), ''],
      ['`node -e 0`', ms(c.nodeBareMs), ''],
    ]), '');
  }
  if (r.bundle) {
    const b = r.bundle.action;
    out.push(`dist/index.js: ${b.bytes.toLocaleString('en')} bytes (${bytes(b.bytes)}, ${bytes(b.gzipBytes)} gzipped); dist/cli.js ${bytes(r.bundle.cli.bytes)}; ` +
      `by package: ${Object.entries(b.byPackage ?? {}).map(([k, v]) => `${k} ${bytes(v)}`).join(', ')}.`, '');
  }
  const l = r.loadAverage;
  if (l) {
    out.push(`Load average (1, 5, 15 min) before the run: ${l.before.join(', ')}, after: ${l.after?.join(', ')} (${r.machine.nproc} cores). ` +
      `Other work on the machine (share of all cores' time not used by the bench, its commands or its control plane) during: ` +
      `${Object.entries(r.otherWork ?? {}).map(([k, v]) => `${k} ${Math.round(v.othersShare * 100)}%`).join(', ')}. ` +
      `The run took ${r.durationSeconds} s.`, '');
  }
  return out.join('\n');
}

const START = '<!-- results:start -->';
const END = '<!-- results:end -->';

/** `doc` with the figures of `r` between its results markers. */
export function updated(doc, r) {
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`no ${START} ... ${END} markers`);
  return `${doc.slice(0, a + START.length)}\n${markdown(r)}${doc.slice(b)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // node bench/lib/markdown.mjs [results.json] [--update BENCHMARKS.md]
  const args = process.argv.slice(2);
  const u = args.indexOf('--update');
  const target = u >= 0 ? args.splice(u, 2)[1] : null;
  const r = JSON.parse(readFileSync(args[0] ?? new URL('../results.json', import.meta.url), 'utf8'));
  if (target) writeFileSync(target, updated(readFileSync(target, 'utf8'), r));
  else process.stdout.write(markdown(r));
}
