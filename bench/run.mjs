#!/usr/bin/env node
// npm run bench [-- name...]: the benchmarks of issue 9 on the real test control plane (test/harness/control-plane.ts:
// kube-apiserver, etcd, controllers, kwok, istiod), which this script starts and stops itself. Not a test: nothing
// fails on a slow figure; it measures, prints the targets table and every measurement's figures, writes
// bench/results.json, and says for every target whether it is met and, if not, by how much and why.
//
// One module per measurement, in bench/measure/ (run in this order): open, concurrency, envs, mesh, cold-start,
// bundle. `npm run bench -- open mesh` runs only those; a partial run writes bench/out/results.partial.json, never
// over bench/results.json. A full run writes bench/results.json and the figures of BENCHMARKS.md (between its
// results markers).
//
// Environment: BENCH_REPS (runs per measurement, default 5), BENCH_WAIT_QUIET=<seconds> (wait up to that long for
// the load average to drop before starting).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, homedir, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

if (Number(process.versions.node.split('.')[0]) < 24) {
  process.stderr.write(`bench: Node ${process.versions.node}; the product needs Node >= 24. Run it with \`npm run bench\` (which puts the node@24 devDependency on PATH).\n`);
  process.exit(2);
}

const MEASUREMENTS = ['open', 'concurrency', 'envs', 'mesh', 'cold-start', 'bundle'];
/** Where each measurement's figures go in results.json. */
const KEY = { open: 'open', concurrency: 'concurrency', envs: 'envs', mesh: 'mesh', 'cold-start': 'coldStart', bundle: 'bundle' };

const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = asked.filter((a) => !MEASUREMENTS.includes(a));
if (unknown.length || process.argv.includes('--help')) {
  process.stderr.write(`${unknown.length ? `bench: unknown measurement ${unknown.join(', ')}\n` : ''}usage: npm run bench [-- ${MEASUREMENTS.join('|')} ...]\n`);
  process.exit(unknown.length ? 2 : 0);
}
const selected = asked.length ? MEASUREMENTS.filter((m) => asked.includes(m)) : MEASUREMENTS;
const partial = selected.length !== MEASUREMENTS.length;

const { log, startPlane, stopAll, planeDir } = await import('./lib/plane.mjs');
const { cpuMeter } = await import('./lib/cpu.mjs');
const { markdown, updated } = await import('./lib/markdown.mjs');
const { round } = await import('./lib/stats.mjs');
const { targets } = await import('./targets.mjs');

function machine() {
  const sh = (cmd, args) => { try { return execFileSync(cmd, args, { encoding: 'utf8' }).trim(); } catch { return null; } };
  const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model;
  return { nproc: Number(sh('nproc', [])) || cpus().length, cpuModel: model, memTotalGiB: round(totalmem() / 2 ** 30, 1), kernel: release(), node: process.version };
}

function gitInfo() {
  const sh = (args) => { try { return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim(); } catch { return null; } };
  // The bundles measured are the working tree's; say whether they differ from the commit.
  return { commit: sh(['rev-parse', 'HEAD']), distChanged: sh(['status', '--porcelain', '--', 'dist', 'src']) || '' };
}

async function waitQuiet(seconds) {
  const until = Date.now() + seconds * 1000;
  for (let calm = 0; calm < 2 && Date.now() < until;) {
    calm = loadavg()[0] <= cpus().length / 4 ? calm + 1 : 0;
    if (calm < 2) {
      log(`waiting for a quieter machine (load ${loadavg()[0].toFixed(2)})`);
      await new Promise((r) => setTimeout(r, 15_000));
    }
  }
}

let exitCode = 0;
try {
  if (Number(process.env.BENCH_WAIT_QUIET ?? 0) > 0) await waitQuiet(Number(process.env.BENCH_WAIT_QUIET));
  const started = Date.now();
  const results = {
    generatedAt: new Date().toISOString(),
    machine: machine(),
    loadAverage: { before: loadavg().map((x) => round(x, 2)) },
    git: gitInfo(),
    settings: { reps: Math.max(1, Number(process.env.BENCH_REPS ?? 5)), measurements: selected },
    otherWork: {},
  };
  const modules = Object.fromEntries(await Promise.all(selected.map(async (m) => [m, await import(`./measure/${m}.mjs`)])));
  const ctx = { reps: results.settings.reps };
  if (selected.some((m) => modules[m].needsCluster !== false)) {
    Object.assign(ctx, await startPlane());
    results.versions = ctx.plane.versions;
  }
  // How busy the machine was with other work during each measurement (a figure taken then is suspect): the share
  // of all cores' time that neither this process, its commands nor its control plane used.
  const meter = cpuMeter(join(process.env.DYNAMIC_ENV_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'dynamic-env'), 'control-plane'));
  // A measurement that fails is reported and the others still run (each has its own namespace); the run then
  // exits 1 and its figures go to bench/out/, never over bench/results.json.
  const failed = [];
  for (const m of selected) {
    log(`— ${m}: ${modules[m].title}`);
    meter.lap();
    const t0 = Date.now();
    try {
      results[KEY[m]] = await modules[m].run(ctx);
    } catch (e) {
      log(`${m} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      failed.push(m);
      (results.failures ??= {})[m] = e instanceof Error ? e.message : String(e);
    }
    results.otherWork[m] = { ...meter.lap(), seconds: round((Date.now() - t0) / 1000, 0) };
  }
  results.loadAverage.after = loadavg().map((x) => round(x, 2));
  results.targets = targets(results);
  results.durationSeconds = round((Date.now() - started) / 1000, 0);
  const md = markdown(results);
  process.stdout.write(`${md}\n`);
  const complete = !partial && failed.length === 0;
  const out = complete ? join(here, 'results.json') : join(here, 'out', 'results.partial.json');
  mkdirSync(join(here, 'out'), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(here, 'out', complete ? 'results.md' : 'results.partial.md'), md);
  // A full run also puts its figures in BENCHMARKS.md (between its results markers; the prose is left alone).
  if (complete) writeFileSync(join(root, 'BENCHMARKS.md'), updated(readFileSync(join(root, 'BENCHMARKS.md'), 'utf8'), results));
  log(`wrote ${out.slice(root.length + 1)} (${results.durationSeconds} s in all)${failed.length ? `; failed: ${failed.join(', ')}` : ''}`);
  if (failed.length) exitCode = 1;
} catch (e) {
  log(`failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  if (planeDir()) log(`control plane logs (kept with DYNAMIC_ENV_KEEP_CONTROL_PLANE=1): ${planeDir()}`);
  exitCode = 1;
} finally {
  await stopAll();
}
process.exit(exitCode);
