// The figures of a results.json as Markdown tables (BENCHMARKS.md quotes them). `node bench/lib/markdown.mjs
// [results.json]` prints them; the bench also writes them to bench/out/results.md after every run.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bytes, ms, ratio } from './stats.mjs';

const row = (cells) => `| ${cells.join(' | ')} |`;
const tableMd = (head, rows) => [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');

export function markdown(r) {
  const out = [];
  if (r.openClose) {
    out.push(`#### open / close, \`--no-wait\` (median of ${r.settings.reps})`, '');
    out.push(tableMd(
      ['command', 'median wall', 'range', 'to 1st request', 'API span', 'requests (floor)', 'reads (floor)', 'writes (floor)', 'permission checks'],
      r.openClose.flatMap((x) => ['open', 'close'].map((c) => {
        const s = x[c];
        return [`${c} ${x.services} svc`, ms(s.ms), `${ms(s.msMin)}–${ms(s.msMax)}`, ms(s.startupMs), ms(s.apiMs),
          `${s.requests} (${s.requestFloor})`, `${s.reads} (${s.readFloor})`, `${s.writes} (${s.writeFloor})`, String(s.accessReviews)];
      })),
    ), '');
    const five = r.openClose.find((x) => x.services === 5);
    if (five?.open.phases) {
      out.push('Where the time of open and close of 5 services goes (medians over the runs, from the order of their requests in the audit log):', '');
      for (const c of ['open', 'close']) {
        out.push(tableMd([`${c} 5 svc: phase`, 'ms'], Object.entries(five[c].phases).map(([k, v]) => [k, ms(v)])), '');
      }
    }
  }
  if (r.concurrency) {
    const c = r.concurrency;
    out.push(`#### ${c.concurrent} concurrent opens on one VirtualService (median of ${c.rounds.length} rounds)`, '');
    out.push(tableMd(['', 'one', `${c.concurrent} at once`, 'ratio'], [
      ['open, 1 service each', ms(c.singleMs), ms(c.totalMs), ratio(c.ratio)],
      ['`dynamic-env --help` (process start only)', ms(c.processStartOnly.singleMs), ms(c.processStartOnly.totalMs), ratio(c.processStartOnly.ratio)],
    ]), '');
    out.push(`Per process (median): first API request after ${ms(c.toFirstRequestMs)} (last: ${ms(c.toFirstRequestMax)}), ` +
      `first attempt at the VirtualService after ${ms(c.toFirstVsAttemptMs)}, then ${ms(c.vsRetriesMs)} until it was accepted ` +
      `(slowest ${ms(c.vsRetriesMax)}, up to ${c.vsAttemptsMax} attempts); ${c.conflicts} conflicts (409), ${c.vsUpdates} ` +
      `VirtualService updates for ${c.concurrent} edits. The ${c.concurrent} closes, also at once: ${ms(c.closeTotalMs)}.`, '');
  }
  if (r.scaling) {
    out.push(`#### envs already on the VirtualService (each env 1 service; median of ${r.settings.reps})`, '');
    out.push(tableMd(
      ['envs', 'VirtualService', 'open', 'ratio', 'open API span', 'close', 'ratio', 'close API span', 'requests open / close', 'admin no-op PUT of the VS', 'same-size ConfigMap PUT'],
      r.scaling.map((l) => [String(l.envs), `${bytes(l.vsBytes)}, ${l.vsRoutes} routes`, ms(l.open.ms), ratio(l.openRatio), ms(l.open.apiMs),
        ms(l.close.ms), ratio(l.closeRatio), ms(l.close.apiMs), `${l.open.requests} / ${l.close.requests}`,
        ms(l.apiServer.vsNoopPutMs), ms(l.apiServer.configMapPutMs)]),
    ), '');
  }
  if (r.coldStart) {
    const c = r.coldStart;
    out.push('#### cold start and bundle', '');
    out.push(tableMd(['', 'median', 'range'], [
      ['`node dist/index.js` (pull_request opened, dry run) to its first API request', ms(c.toFirstRequestMs), `${ms(c.toFirstRequestMin)}–${ms(c.toFirstRequestMax)}`],
      ['`node dist/index.js` on no event (load the bundle, decide "skip", exit)', ms(c.bundleLoadMs), ''],
      ['`node -e 0`', ms(c.nodeBareMs), ''],
    ]), '');
  }
  const b = r.bundle.action;
  out.push(`dist/index.js: ${b.bytes.toLocaleString('en')} bytes (${bytes(b.bytes)}, ${bytes(b.gzipBytes)} gzipped); ` +
    `by package: ${Object.entries(b.byPackage ?? {}).map(([k, v]) => `${k} ${bytes(v)}`).join(', ')}.`, '');
  const l = r.loadAverage;
  out.push(`Load average (1, 5, 15 min) before the run: ${l.before.join(', ')}, after: ${l.after.join(', ')} (${r.machine.nproc} cores). ` +
    `Other work on the machine (share of all cores' time not used by the bench, its CLI runs or its control plane) during: ` +
    `${Object.entries(r.otherWork ?? {}).map(([k, v]) => `${k} ${Math.round(v.othersShare * 100)}%`).join(', ')}.`, '');
  out.push('#### targets', '');
  out.push(tableMd(['target', 'wanted', 'measured', 'met'], r.targets.map((t) => [t.name, t.target, t.value, t.met ? 'yes' : `**no**: ${t.by}`])), '');
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2] ?? new URL('../results.json', import.meta.url);
  process.stdout.write(markdown(JSON.parse(readFileSync(file, 'utf8'))));
}
