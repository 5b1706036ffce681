// The dynamic-env CLI: the same engine as the action, for any CI and for people.
// Exit codes: 0 success, 1 failure (the cluster said no, or the env is failed), 2 bad usage or config.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFile } from 'node:fs/promises';
import { DynamicEnvError, exitCodeOf, usageError } from './errors.js';
import { resolveEnvSpec, resolveRunOptions, type SpecOverrides } from './config/spec.js';
import { parseDuration } from './config/inputs.js';
import { workloadSchema, type ConfigFile } from './config/schema.js';
import { DNS_LABEL_RE } from './config/names.js';
import { MAX_ENV_NAME } from './plan/names.js';
import type { Snapshot } from './plan/types.js';
import type { KubeClient } from './kube/client.js';
import type { Change } from './commands/open.js';
import type { EnvReport } from './report/model.js';

// Loaded by the commands that use them, so each starts without the others' code (yaml alone is ~35 ms to load):
// `import()` of these is split into chunks of dist/ by the build.
const yaml = async (): Promise<typeof import('yaml')> => {
  const m = await import('yaml');
  // yaml is CommonJS: bundled, import() gives its exports as `default`.
  return (m.default as typeof m | undefined) ?? m;
};
const engine = () => import('./cli-engine.js');
/** Set before printing when --output yaml asks for it. */
let yamlText: ((data: unknown) => string) | undefined;

const USAGE = `dynamic-env: per-pull-request environments in a shared Kubernetes + Istio mesh

Usage:
  dynamic-env open   --env NAME (--config FILE | --namespace NS --deployment NAME --image IMAGE [--container NAME])
  dynamic-env close  --env NAME
  dynamic-env status --env NAME
  dynamic-env list
  dynamic-env sweep  [--ttl 72h] [--keep pr-1,pr-2] [--heal [--env NAME]]
  dynamic-env plan   --snapshot FILE (--config FILE | shorthand) [--env NAME]    offline, no cluster
  dynamic-env demo                                                            plan against a bundled bookinfo

Options:
  --env NAME             environment name (RFC 1123 label, <= 40 chars), e.g. pr-42
  --config FILE          YAML config (schema: schema/dynamic-env.schema.json)
  --namespace, --deployment, --container, --image   the one-Deployment shorthand
  --kubeconfig FILE      default: $KUBECONFIG, ~/.kube/config, in-cluster
  --context NAME         kubeconfig context
  --lock-namespace NS    where a new env's Lease lives (default: default); an existing env's clones record theirs,
                         and every command uses that one
  --wait / --no-wait     wait for the clones to become available before routing (default: wait)
  --timeout DURATION     rollout wait, e.g. 300s, 5m (default 5m)
  --drain DURATION       wait between a change and what depends on it, so proxies get them in that order:
                         close/sweep between routes and subsets/clones, open around baseline pins (default 3s;
                         0 turns it off)
  --repo OWNER/REPO --pr N --commit SHA   open: ownership recorded on the env's objects; open and close refuse an
                         env recorded for another repository or PR (close without --repo closes any env)
  --heal                 sweep: put back the routes of every open env that a GitOps sync or kubectl apply of a
                         VirtualService removed (from what the env's clones record); alone, or after --ttl/--keep
  --dry-run              print the changes, write nothing
  --output text|json|yaml
  -h, --help
`;

const options = {
  env: { type: 'string' },
  config: { type: 'string' },
  namespace: { type: 'string' },
  deployment: { type: 'string' },
  container: { type: 'string' },
  image: { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'lock-namespace': { type: 'string' },
  wait: { type: 'boolean' },
  'no-wait': { type: 'boolean' },
  timeout: { type: 'string' },
  drain: { type: 'string' },
  'dry-run': { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  snapshot: { type: 'string' },
  ttl: { type: 'string' },
  keep: { type: 'string' },
  heal: { type: 'boolean' },
  repo: { type: 'string' },
  pr: { type: 'string' },
  commit: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parse>['values'];
const parse = (args: string[]) => parseArgs({ args, options, allowPositionals: true, strict: true });

export interface CliIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIO: CliIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parse(argv));
  } catch (e) {
    io.err(`dynamic-env: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const command = positionals[0];
  if (values.help || !command) {
    (command || values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    const output = parseOutput(values.output);
    if (output === 'yaml') yamlText = (await yaml()).stringify;
    if (positionals.length > 1) throw usageError(`unexpected argument "${positionals[1]}"; options take the form --name value`);
    switch (command) {
      case 'open': return await open(values, output, io);
      case 'close': return await close(values, output, io);
      case 'status': return await status(values, output, io);
      case 'list': return await list(values, output, io);
      case 'sweep': return await sweep(values, output, io);
      case 'plan': return await plan(values, output, io);
      case 'demo': return await demo(output, io);
      default: throw usageError(`unknown command "${command}"; commands: open, close, status, list, sweep, plan, demo`);
    }
  } catch (e) {
    io.err(`dynamic-env ${command}: ${e instanceof DynamicEnvError ? e.message : describeUnexpected(e)}\n`);
    return exitCodeOf(e);
  }
}

function describeUnexpected(e: unknown): string {
  return e instanceof Error ? (process.env.DYNAMIC_ENV_DEBUG ? (e.stack ?? e.message) : e.message) : String(e);
}

type Output = 'text' | 'json' | 'yaml';
function parseOutput(v: string | undefined): Output {
  if (v === undefined) return 'text';
  if (v === 'text' || v === 'json' || v === 'yaml') return v;
  throw usageError(`--output "${v}": use text, json or yaml`);
}

function print(io: CliIO, output: Output, data: unknown, text: () => string): void {
  if (output === 'json') io.out(`${JSON.stringify(data, null, 2)}\n`);
  else if (output === 'yaml') io.out(yamlText!(data));
  else io.out(text());
}

async function readConfig(values: Values): Promise<ConfigFile> {
  if (values.config) return (await import('./config/file.js')).loadConfigFile(values.config);
  // Without a config file the shorthand flags name the one Deployment; resolveEnvSpec says so when they are
  // missing. (A config *file* must list at least one Deployment, so parsing '{}' would refuse the shorthand.)
  return { services: [], workers: [] };
}

function overrides(values: Values): SpecOverrides {
  const o: SpecOverrides = {};
  if (values.env !== undefined) o.env = values.env;
  const parts = [values.namespace, values.deployment, values.image];
  if (parts.some((p) => p !== undefined) || values.container !== undefined) {
    const missing = ['namespace', 'deployment', 'image'].filter((_, i) => parts[i] === undefined);
    if (missing.length) throw usageError(`the one-Deployment shorthand needs --${missing.join(', --')} as well`);
    checkShorthand(values);
    o.deployment = { namespace: values.namespace!, deployment: values.deployment!, image: values.image!, ...(values.container ? { container: values.container } : {}) };
  }
  const owner = ownerFlags(values);
  if (Object.keys(owner).length) o.owner = owner;
  return o;
}

/** --repo, --pr, --commit. */
function ownerFlags(values: Values): NonNullable<SpecOverrides['owner']> {
  const owner: NonNullable<SpecOverrides['owner']> = {};
  if (values.repo) owner.repo = values.repo;
  if (values.pr !== undefined) {
    if (!/^[1-9]\d{0,9}$/.test(values.pr)) throw usageError(`--pr "${values.pr}": a pull request number, e.g. 42`);
    owner.pr = Number(values.pr);
  }
  if (values.commit) owner.commit = values.commit;
  return owner;
}

const isEnvName = (v: string): boolean => v.length <= MAX_ENV_NAME && DNS_LABEL_RE.test(v);

/**
 * The shorthand flags, each validated under its own flag name (the config schema would name them by their place in
 * a config file, `deployment.containers[0].image`, which is nowhere on the command line).
 */
function checkShorthand(values: Values): void {
  const parsed = workloadSchema.safeParse({
    namespace: values.namespace,
    deployment: values.deployment,
    containers: [{ ...(values.container !== undefined ? { name: values.container } : {}), image: values.image }],
  });
  if (parsed.success) return;
  const flag = (path: readonly PropertyKey[]): string =>
    path[0] === 'containers' ? (path[2] === 'name' ? '--container' : '--image') : `--${String(path[0])}`;
  throw usageError([...new Set(parsed.error.issues.map((i) => `${flag(i.path)}: ${i.message}`))]);
}

function runOptions(values: Values, config?: ConfigFile) {
  if (values.wait && values['no-wait']) throw usageError('--wait and --no-wait: pick one');
  const lockNs = values['lock-namespace'];
  // "" (an unset variable) means the default, as before.
  if (lockNs && (lockNs.length > 63 || !DNS_LABEL_RE.test(lockNs))) {
    throw usageError(`--lock-namespace "${lockNs.length > 80 ? `${lockNs.slice(0, 77)}...` : lockNs}": a namespace name is a lowercase RFC 1123 label of at most 63 characters, e.g. dynamic-env`);
  }
  return resolveRunOptions(config ?? {}, {
    ...(values['lock-namespace'] ? { lockNamespace: values['lock-namespace'] } : {}),
    ...(values.wait ? { wait: true } : values['no-wait'] ? { wait: false } : {}),
    ...(values.timeout !== undefined ? { timeout: values.timeout } : {}),
  });
}

/** `--drain`: 0 or a duration in seconds or minutes. */
function drainOption(values: Values): { drainMs?: number } {
  const raw = values.drain?.trim();
  if (raw === undefined || raw === '') return {};
  if (/^0+[sm]?$/.test(raw)) return { drainMs: 0 };
  const parsed = parseDuration(raw, 'ms');
  if (typeof parsed === 'string') throw usageError(`--drain: ${parsed}`);
  if (parsed > 600) throw usageError(`--drain: must be at most 10m, got "${raw}"`);
  return { drainMs: parsed * 1000 };
}

async function client(values: Values): Promise<KubeClient> {
  const { KubeClient } = await engine();
  return KubeClient.load({
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.context ? { context: values.context } : {}),
  });
}

const requireEnv = (values: Values): string => {
  if (!values.env) throw usageError('--env is required, e.g. --env pr-42');
  if (!isEnvName(values.env)) {
    throw usageError(`--env "${values.env}": an env name is a lowercase RFC 1123 label of at most 40 characters, e.g. pr-42`);
  }
  return values.env;
};

const exitFor = (report: EnvReport) => (report.state === 'failed' || report.state === 'degraded' ? 1 : 0);

function changesText(changes: Change[]): string {
  const real = changes.filter((c) => c.action !== 'unchanged');
  if (real.length === 0) return 'No changes: the cluster already matches.\n';
  return real.map((c) => `  ${c.action.padEnd(7)} ${c.kind} ${c.namespace}/${c.name}${c.detail ? ` (${c.detail})` : ''}`).join('\n') + '\n';
}

async function open(values: Values, output: Output, io: CliIO): Promise<number> {
  const config = await readConfig(values);
  const spec = resolveEnvSpec(config, overrides(values));
  const run = runOptions(values, config);
  const { openEnv, renderText } = await engine();
  const kube = await client(values);
  try {
    const result = await openEnv({ client: kube, spec, run, ...drainOption(values), dryRun: values['dry-run'], log: (l) => io.err(`${l}\n`) });
    print(io, output, values['dry-run'] ? { changes: result.changes, report: result.report } : result.report, () =>
      (values['dry-run'] ? `Dry run: these changes would be made:\n${changesText(result.changes)}\n` : '') + renderText(result.report));
    return exitFor(result.report);
  } finally {
    kube.close();
  }
}

async function close(values: Values, output: Output, io: CliIO): Promise<number> {
  const env = requireEnv(values);
  const run = runOptions(values);
  const { closeEnv, renderText } = await engine();
  const kube = await client(values);
  try {
    const report = await closeEnv({ client: kube, env, run, ...drainOption(values), dryRun: values['dry-run'], reason: 'manual', owner: ownerFlags(values), log: (l) => io.err(`${l}\n`) });
    print(io, output, report, () => renderText(report));
    return 0;
  } finally {
    kube.close();
  }
}

async function status(values: Values, output: Output, io: CliIO): Promise<number> {
  const env = requireEnv(values);
  const { envStatus, renderText } = await engine();
  const kube = await client(values);
  try {
    const report = await envStatus(kube, env);
    print(io, output, report, () => renderText(report));
    return report.state === 'absent' ? 1 : exitFor(report);
  } finally {
    kube.close();
  }
}

async function list(values: Values, output: Output, io: CliIO): Promise<number> {
  const { listEnvs, listOrphans } = await engine();
  const kube = await client(values);
  try {
    const [envs, orphans] = await Promise.all([listEnvs(kube), listOrphans(kube)]);
    // Orphans (pins no rule backs, our unused VirtualServices): after the table, or on stderr with --output json (the
    // JSON stays the list of envs).
    const orphanLines = orphans.map((o) => `orphan: ${o.message}`);
    if (output !== 'text') for (const l of orphanLines) io.err(`${l}\n`);
    print(io, output, envs, () => (envs.length === 0 ? 'No environments.\n'
      : ['ENV  STATE  SERVICES  WORKERS  PR  OPENED', ...envs.map((e) => `${e.env}  ${e.state}  ${e.services}  ${e.workers}  ${e.pr ?? '-'}  ${e.openedAt ?? '-'}`)]
        .map((l) => l.split('  ')).map((cols, _i, all) => cols.map((c, j) => c.padEnd(Math.max(...all.map((r) => (r[j] ?? '').length)))).join('  ').trimEnd()).join('\n') + '\n')
      + (orphanLines.length ? `\nOrphans (dynamic-env sweep removes them):\n${orphanLines.map((l) => `  ${l}`).join('\n')}\n` : ''));
    return 0;
  } finally {
    kube.close();
  }
}

async function sweep(values: Values, output: Output, io: CliIO): Promise<number> {
  if (values.ttl === undefined && values.keep === undefined) {
    if (values.heal) return heal(values, output, io);
    throw usageError('sweep needs --ttl DURATION and/or --keep ENV,ENV (which envs to keep), or --heal');
  }
  let ttl: number | undefined;
  if (values.ttl !== undefined) {
    // An age, not a rollout wait: days are allowed and there is no 24h cap (`--ttl 72h`, `--ttl 7d`).
    const parsed = parseDuration(values.ttl.trim(), 'dhms');
    if (typeof parsed === 'string') throw usageError(`--ttl: ${parsed}`);
    ttl = parsed;
  }
  const keep = values.keep !== undefined ? values.keep.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  // Every env not in the keep-list is closed: an empty list (an unset variable) or a name that can never match
  // (space-separated names) would close envs the caller meant to keep.
  if (keep !== undefined && keep.length === 0) {
    throw usageError('--keep lists no env; name the envs to keep, comma-separated (--keep pr-1,pr-7), or use --ttl');
  }
  const badKeep = (keep ?? []).filter((k) => !isEnvName(k));
  if (badKeep.length > 0) {
    throw usageError(`--keep: ${badKeep.map((k) => JSON.stringify(k)).join(', ')} ${badKeep.length === 1 ? 'is not an env name' : 'are not env names'}; separate names with commas, e.g. --keep pr-1,pr-7`);
  }
  const run = runOptions(values);
  const { sweepEnvs, ttlAndKeepList } = await engine();
  const kube = await client(values);
  try {
    const results = await sweepEnvs({ client: kube, run, ...drainOption(values), decide: ttlAndKeepList(ttl, keep), dryRun: values['dry-run'], log: (l) => io.err(`${l}\n`) });
    print(io, output, results, () => results.length === 0 ? 'No environments.\n'
      : results.map((r) => `${r.env}: ${r.error ? `FAILED to close (${r.error})` : r.closed ? 'closed' : values['dry-run'] && r.reason !== 'kept' ? 'would close' : 'kept'} — ${r.reason}`).join('\n') + '\n');
    const healed = values.heal ? await heal(values, output, io, kube) : 0;
    return results.some((r) => r.error) ? 1 : healed;
  } finally {
    kube.close();
  }
}

/** `sweep --heal`: every open env's routes written again where a re-apply of a VirtualService removed them. */
async function heal(values: Values, output: Output, io: CliIO, shared?: KubeClient): Promise<number> {
  const run = runOptions(values);
  const { healEnvs } = await engine();
  const kube = shared ?? await client(values);
  try {
    // --env narrows the heal to one env (a cluster shared by teams: heal what you may write).
    const only = values.env !== undefined ? requireEnv(values) : undefined;
    const results = await healEnvs({ client: kube, run, dryRun: values['dry-run'], log: (l) => io.err(`${l}\n`), ...(only ? { only: (e: string) => e === only } : {}) });
    print(io, output, { healed: results }, () => results.length === 0 ? 'Heal: no open environments.\n'
      : results.map((r) => `${r.env}: ${r.error ? `FAILED to heal (${r.error})` : r.healed.length ? 'healed' : 'ok'} — ${r.reason}`).join('\n') + '\n');
    return results.some((r) => r.error) ? 1 : 0;
  } finally {
    if (!shared) kube.close();
  }
}

/** A multi-document YAML dump of cluster objects (`kubectl get -o yaml` lists included) as a Snapshot. */
export async function parseSnapshot(text: string, source: string): Promise<Snapshot> {
  const snapshot: Snapshot = { deployments: [], services: [], destinationRules: [], virtualServices: [] };
  const docs = (await yaml()).parseAllDocuments(text);
  const objects: any[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length) throw usageError(`${source}: ${doc.errors[0]!.message.split('\n')[0]}`);
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value == null) continue;
    if (value.kind === 'List' || value.kind?.endsWith?.('List')) objects.push(...(value.items ?? []));
    else objects.push(value);
  }
  for (const o of objects) {
    if (!o?.kind || !o.metadata?.name) throw usageError(`${source}: every document needs kind and metadata.name`);
    switch (o.kind) {
      case 'Deployment': snapshot.deployments.push(o); break;
      case 'Service': snapshot.services.push(o); break;
      case 'DestinationRule': snapshot.destinationRules.push(o); break;
      case 'VirtualService': snapshot.virtualServices.push(o); break;
      default: break; // other kinds are irrelevant to a plan
    }
  }
  return snapshot;
}

async function planReport(snapshot: Snapshot, spec: ReturnType<typeof resolveEnvSpec>) {
  const { planWithAnnotations, diffPlan, reportFromPlan } = await engine();
  const p = planWithAnnotations(snapshot, spec);
  const changes = diffPlan(p, snapshot);
  const report = reportFromPlan(p, { header: spec.routing.header, baggageKey: spec.routing.baggageKey },
    () => ({ state: 'progressing', reason: 'planned, not applied', ready: 0, desired: 0 }));
  return { plan: p, changes, report };
}

async function plan(values: Values, output: Output, io: CliIO): Promise<number> {
  if (!values.snapshot) throw usageError('plan needs --snapshot FILE: a YAML dump of Deployments, Services, DestinationRules and VirtualServices');
  let text: string;
  try {
    text = await readFile(values.snapshot, 'utf8');
  } catch (e) {
    throw usageError(`--snapshot ${values.snapshot}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const config = await readConfig(values);
  const spec = resolveEnvSpec(config, overrides(values));
  const { plan: p, changes, report } = await planReport(await parseSnapshot(text, values.snapshot), spec);
  const { renderText } = await engine();
  print(io, output, { changes, objects: { clones: p.clones, destinationRules: p.destinationRules, virtualServices: p.createVirtualServices }, routeEdits: p.routeEdits, warnings: p.warnings },
    () => `Plan for env ${spec.name}:\n${changesText(changes)}${p.warnings.map((w) => `warning: ${w}\n`).join('')}\n${renderText(report)}`);
  return 0;
}

async function demo(output: Output, io: CliIO): Promise<number> {
  const [{ demoConfigText, demoSnapshot }, { parseConfigText }, { renderMarkdown }] = await Promise.all([import('./demo/bookinfo.js'), import('./config/file.js'), engine()]);
  const spec = resolveEnvSpec(parseConfigText(demoConfigText, 'demo config'), { owner: { repo: 'acme/bookinfo', pr: 42, commit: '4b825dc642cb6eb9a060e54bf8d69288fbee4904' } });
  const { changes, report } = await planReport(demoSnapshot(), spec);
  const context = { repo: 'acme/bookinfo', pr: 42, commit: '4b825dc642cb6eb9a060e54bf8d69288fbee4904', updatedAt: spec.now };
  print(io, output, { changes, report: { ...report, context } }, () => [
    `dynamic-env demo: planning env ${spec.name} against a bundled bookinfo snapshot (no cluster needed).`,
    '',
    'Config:',
    demoConfigText.trimEnd().split('\n').map((l) => `  ${l}`).join('\n'),
    '',
    'Changes open would make, in this order (clones, DestinationRules, then routes):',
    changesText(changes),
    'Preview of the pull request comment:',
    '----------------------------------------------------------------',
    renderMarkdown({ ...report, context }),
    '----------------------------------------------------------------',
    '',
  ].join('\n'));
  return 0;
}

// Run when executed directly (the bundled dist/cli.js), not when imported by tests.
const invoked = process.argv[1] ?? '';
if (/(?:^|[\\/])(cli\.(?:js|ts)|dynamic-env)$/.test(invoked)) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
