// The dynamic-env CLI: the same engine as the action, for any CI and for people.
// Executed through src/cli-bin.ts (dist/cli.js), which turns on the compile cache first.
// Exit codes: 0 success, 1 failure (the cluster said no, or the env is failed), 2 bad usage or config.
// Commands, their flags and help text: src/cli/commands.ts; reading the command line: src/cli/parse.ts.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { DynamicEnvError, exitCodeOf, usageError } from './errors.js';
import { resolveEnvSpec, resolveRunOptions, type ImageOverrides, type SpecOverrides } from './config/spec.js';
import { parseDuration, parsePauseMs, TTL_FROM, type TtlFrom } from './config/inputs.js';
import { parseImageLines } from './config/images.js';
import { MAX_TIMEOUT_SECONDS, timeoutSeconds, workloadSchema, type ConfigFile } from './config/schema.js';
import { DNS_LABEL_RE, DNS_SUBDOMAIN_RE } from './config/names.js';
import { withoutRepeatedKey } from './config/issues.js';
import { MAX_ENV_NAME } from './plan/names.js';
import type { Snapshot } from './plan/types.js';
import { orphanLines, renderChanges, renderEnvList, renderHeal, renderSweep } from './report/cli-text.js';
import type { EnvReport } from './report/model.js';
import type { KubeClient } from './kube/client.js';

// Loaded by the commands that use them, so each starts without the others' code (yaml alone is ~35 ms to load):
// `import()` of these is split into chunks of dist/ by the build.
const engine = () => import('./cli-engine.js');
const files = () => import('./cli-files.js');
/** Set before printing when --output yaml asks for it. */
let yamlText: ((data: unknown) => string) | undefined;
import { commandHelp, overviewHelp } from './cli/commands.js';
import { parseCommandLine } from './cli/parse.js';
import { VERSION } from './cli/version.js';

export const options = {
  env: { type: 'string' },
  config: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
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
  'lock-hold': { type: 'string' },
  'dry-run': { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  snapshot: { type: 'string' },
  ttl: { type: 'string' },
  keep: { type: 'string' },
  heal: { type: 'boolean' },
  repo: { type: 'string' },
  pr: { type: 'string' },
  commit: { type: 'string' },
  images: { type: 'string', multiple: true },
  branch: { type: 'string' },
  'ttl-from': { type: 'string' },
  'service-account': { type: 'string' },
  duration: { type: 'string' },
  server: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
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
  const line = parseCommandLine(argv, options);
  switch (line.kind) {
    case 'version': io.out(`dynamic-env ${VERSION}\n`); return 0;
    case 'overview': (line.asked ? io.out : io.err)(overviewHelp()); return line.asked ? 0 : 2;
    case 'help': io.out(commandHelp(line.command)); return 0;
    case 'error': io.err(`dynamic-env${line.command ? ` ${line.command}` : ''}: ${line.message}\n`); return 2;
    case 'run': break;
  }
  const command = line.command;
  try {
    const values = parse(argv).values;
    const output = command === 'kubeconfig' ? 'text' : parseOutput(values.output);
    if (output === 'yaml') yamlText = (await files()).yamlStringify;
    switch (command) {
      case 'open': return await open(values, output, io);
      case 'close': return await close(values, output, io);
      case 'status': return await status(values, output, io);
      case 'list': return await list(values, output, io);
      case 'sweep': return await sweep(values, output, io);
      case 'plan': return await plan(values, output, io);
      case 'demo': return await demo(output, io);
      case 'kubeconfig': return await kubeconfig(values, io);
      default: throw new Error(`command "${command}" has help but no handler`);
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
  if (values.config) return (await files()).loadConfigFile(values.config);
  // Without a config file the shorthand flags name the one Deployment; resolveEnvSpec says so when they are
  // missing. (A config *file* must list at least one Deployment, so parsing '{}' would refuse the shorthand.)
  return { services: [], workers: [] };
}

function overrides(values: Values): SpecOverrides {
  const o: SpecOverrides = {};
  if (values.env !== undefined) o.env = checkEnvFlag(values.env);
  const parts = [values.namespace, values.deployment, values.image];
  if (parts.some((p) => p !== undefined) || values.container !== undefined) {
    const missing = ['namespace', 'deployment', 'image'].filter((_, i) => parts[i] === undefined);
    if (missing.length) throw usageError(`the one-Deployment shorthand needs --${missing.join(', --')} as well`);
    checkShorthand(values);
    o.deployment = { namespace: values.namespace!, deployment: values.deployment!, image: values.image!, ...(values.container ? { container: values.container } : {}) };
  }
  const owner = ownerFlags(values);
  if (Object.keys(owner).length) o.owner = owner;
  o.images = imageFlags(values);
  return o;
}

/** --images (repeatable; lines or commas), --branch, and what gives each placeholder its value. */
function imageFlags(values: Values): ImageOverrides {
  const parsed = parseImageLines((values.images ?? []).join('\n').replaceAll(',', '\n'), (_, line) => `--images ${JSON.stringify(line)}`);
  if (parsed.problems.length) throw usageError(parsed.problems);
  return {
    lines: parsed.lines, ...(values.branch ? { branch: values.branch } : {}), shorthandField: '--image',
    givenBy: { sha: '--commit SHA', pr: '--pr N', branch: '--branch NAME' },
  };
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
  throw usageError([...new Set(parsed.error.issues.map((i) => `${flag(i.path)}: ${withoutRepeatedKey(i.path, i.message)}`))]);
}

function runOptions(values: Values, config?: ConfigFile) {
  if (values.wait && values['no-wait']) throw usageError('--wait and --no-wait: pick one');
  const lockNs = values['lock-namespace'];
  // "" (an unset variable) means the default, as before.
  if (lockNs && (lockNs.length > 63 || !DNS_LABEL_RE.test(lockNs))) {
    throw usageError(`--lock-namespace "${lockNs.length > 80 ? `${lockNs.slice(0, 77)}...` : lockNs}": a namespace name is a lowercase RFC 1123 label of at most 63 characters, e.g. dynamic-env`);
  }
  const timeout = timeoutFlag(values);
  return resolveRunOptions(config ?? {}, {
    ...(values['lock-namespace'] ? { lockNamespace: values['lock-namespace'] } : {}),
    ...(values.wait ? { wait: true } : values['no-wait'] ? { wait: false } : {}),
    ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
  });
}

/** `--timeout`, checked under its flag name (the config schema would say `timeout:`, a config file's key). */
function timeoutFlag(values: Values): number | undefined {
  if (values.timeout === undefined) return undefined;
  const seconds = timeoutSeconds(values.timeout);
  if (typeof seconds === 'string') throw usageError(`--timeout: ${seconds}`);
  if (seconds > MAX_TIMEOUT_SECONDS) throw usageError(`--timeout: must be at most 24h, got "${values.timeout}"`);
  return seconds;
}

/** `--drain`, `--lock-hold`: 0 or a duration in seconds or minutes, at most 10m; in ms. */
function pauseMs(values: Values, flag: 'drain' | 'lock-hold'): number | undefined {
  const raw = values[flag]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const ms = parsePauseMs(raw);
  if (typeof ms === 'string') throw usageError(`--${flag}: ${ms}`);
  return ms;
}

function drainOption(values: Values): { drainMs?: number } {
  const drainMs = pauseMs(values, 'drain');
  return drainMs === undefined ? {} : { drainMs };
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
  return checkEnvFlag(values.env);
};

function checkEnvFlag(env: string): string {
  if (!isEnvName(env)) {
    throw usageError(`--env "${env.length > 80 ? `${env.slice(0, 77)}...` : env}": an env name is a lowercase RFC 1123 label of at most 40 characters, e.g. pr-42`);
  }
  return env;
}

const exitFor = (report: EnvReport) => (report.state === 'failed' || report.state === 'degraded' ? 1 : 0);

async function open(values: Values, output: Output, io: CliIO): Promise<number> {
  const config = await readConfig(values);
  const spec = resolveEnvSpec(config, overrides(values));
  const run = runOptions(values, config);
  const drain = drainOption(values);
  const lockHoldMs = pauseMs(values, 'lock-hold');
  const kube = await client(values);
  try {
    const { openEnv, renderText } = await engine();
    const result = await openEnv({ client: kube, spec, run, ...drain, ...(lockHoldMs === undefined ? {} : { lockHoldMs }), dryRun: values['dry-run'], log: (l) => io.err(`${l}\n`) });
    print(io, output, values['dry-run'] ? { changes: result.changes, report: result.report } : result.report, () =>
      (values['dry-run'] ? `Dry run: these changes would be made:\n${renderChanges(result.changes)}\n` : '') + renderText(result.report));
    return exitFor(result.report);
  } finally {
    kube.close();
  }
}

async function close(values: Values, output: Output, io: CliIO): Promise<number> {
  const env = requireEnv(values);
  const run = runOptions(values);
  const owner = ownerFlags(values);
  const drain = drainOption(values);
  const kube = await client(values);
  try {
    const { closeEnv, renderText } = await engine();
    const report = await closeEnv({ client: kube, env, run, ...drain, dryRun: values['dry-run'], reason: 'manual', owner, log: (l) => io.err(`${l}\n`) });
    print(io, output, report, () => renderText(report));
    return 0;
  } finally {
    kube.close();
  }
}

async function status(values: Values, output: Output, io: CliIO): Promise<number> {
  const env = requireEnv(values);
  const kube = await client(values);
  try {
    const { envStatus, renderText } = await engine();
    const report = await envStatus(kube, env);
    print(io, output, report, () => renderText(report));
    return report.state === 'absent' ? 1 : exitFor(report);
  } finally {
    kube.close();
  }
}

async function list(values: Values, output: Output, io: CliIO): Promise<number> {
  const kube = await client(values);
  try {
    const { listEnvs, listOrphans } = await engine();
    const [envs, orphans] = await Promise.all([listEnvs(kube), listOrphans(kube)]);
    // Orphans (pins no rule backs, our unused VirtualServices): after the table, or on stderr with --output json (the
    // JSON stays the list of envs).
    // With --output json/yaml the orphans go to stderr: that output stays the list of envs.
    if (output !== 'text') for (const l of orphanLines(orphans)) io.err(`${l}\n`);
    print(io, output, envs, () => renderEnvList(envs, orphans));
    return 0;
  } finally {
    kube.close();
  }
}

async function sweep(values: Values, output: Output, io: CliIO): Promise<number> {
  if (values.env !== undefined && !values.heal) throw usageError('--env narrows --heal to one env; sweep closes by --ttl or --keep, never by name (use close --env)');
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
  const from = ttlFrom(values);
  if (values['ttl-from'] !== undefined && ttl === undefined) throw usageError('--ttl-from needs --ttl: it says where the TTL counts from');
  const run = runOptions(values);
  const drain = drainOption(values);
  if (values.env !== undefined) requireEnv(values);
  const kube = await client(values);
  try {
    const { sweepEnvs, ttlAndKeepList } = await engine();
    const results = await sweepEnvs({ client: kube, run, ...drain, decide: ttlAndKeepList(ttl, keep, undefined, from), dryRun: values['dry-run'], log: (l) => io.err(`${l}\n`) });
    const swept = () => renderSweep(results, values['dry-run'] === true);
    if (!values.heal) {
      print(io, output, results, swept);
      return results.some((r) => r.error) ? 1 : 0;
    }
    // One document for --output json/yaml: a reader parses the output once.
    const healed = await healEnvsOf(values, io, kube);
    print(io, output, { swept: results, healed }, () => `${swept()}${renderHeal(healed)}`);
    return [...results, ...healed].some((r) => r.error) ? 1 : 0;
  } finally {
    kube.close();
  }
}

/** `--ttl-from opened|updated`: the age counts from an env's first open, or its last update (default). */
function ttlFrom(values: Values): TtlFrom {
  const v = values['ttl-from'];
  if (v === undefined || (TTL_FROM as readonly string[]).includes(v)) return (v ?? 'updated') as TtlFrom;
  throw usageError(`--ttl-from "${v}": use updated (from the last open that changed the env) or opened (from its first open)`);
}

/** `sweep --heal`: every open env's routes written again where a re-apply of a VirtualService removed them. */
async function heal(values: Values, output: Output, io: CliIO): Promise<number> {
  const kube = await client(values);
  try {
    const results = await healEnvsOf(values, io, kube);
    print(io, output, { healed: results }, () => renderHeal(results));
    return results.some((r) => r.error) ? 1 : 0;
  } finally {
    kube.close();
  }
}

async function healEnvsOf(values: Values, io: CliIO, kube: KubeClient) {
  // --env narrows the heal to one env (a cluster shared by teams: heal what you may write).
  const only = values.env !== undefined ? requireEnv(values) : undefined;
  const { healEnvs } = await engine();
  return healEnvs({ client: kube, run: runOptions(values), dryRun: values['dry-run'], log: (l) => io.err(`${l}\n`), ...(only ? { only: (e: string) => e === only } : {}) });
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
  const [{ parseSnapshot }, { renderText }] = await Promise.all([files(), engine()]);
  const { plan: p, changes, report } = await planReport(parseSnapshot(text, values.snapshot), spec);
  print(io, output, { changes, objects: { clones: p.clones, destinationRules: p.destinationRules, virtualServices: p.createVirtualServices }, routeEdits: p.routeEdits, warnings: p.warnings },
    () => `Plan for env ${spec.name}:\n${renderChanges(changes)}${p.warnings.map((w) => `warning: ${w}\n`).join('')}\n${renderText(report)}`);
  return 0;
}

async function demo(output: Output, io: CliIO): Promise<number> {
  const [{ demoConfigText, demoSnapshot, parseConfigText }, { renderMarkdown }] = await Promise.all([files(), engine()]);
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
    renderChanges(changes),
    'Preview of the pull request comment:',
    '----------------------------------------------------------------',
    renderMarkdown({ ...report, context }),
    '----------------------------------------------------------------',
    '',
  ].join('\n'));
  return 0;
}

/**
 * `kubeconfig`: a kubeconfig for the ServiceAccount, issued with the caller's own kubeconfig. Only the written file
 * (or stdout with `--output -`) holds the token; every message goes to stderr and names none of it.
 */
async function kubeconfig(values: Values, io: CliIO): Promise<number> {
  const sa = values['service-account'];
  if (!sa) throw usageError('--service-account is required, e.g. --service-account dynamic-env (the one deploy/rbac.yaml creates)');
  if (sa.length > 253 || !DNS_SUBDOMAIN_RE.test(sa)) throw usageError(`--service-account "${sa}": a ServiceAccount name is a lowercase RFC 1123 subdomain, e.g. dynamic-env`);
  const ns = values.namespace;
  if (!ns) throw usageError('--namespace (-n) is required: the namespace of the ServiceAccount, e.g. -n dynamic-env');
  if (ns.length > 63 || !DNS_LABEL_RE.test(ns)) throw usageError(`--namespace "${ns}": a namespace name is a lowercase RFC 1123 label of at most 63 characters, e.g. dynamic-env`);
  const { MIN_TOKEN_SECONDS, checkServerUrl, issueKubeconfig } = await files();
  let seconds = 365 * 24 * 3600;
  if (values.duration !== undefined) {
    const parsed = parseDuration(values.duration.trim(), 'dhms');
    if (typeof parsed === 'string') throw usageError(`--duration: ${parsed.replace('like 300, 300s, 5m, 1h30m, 7d', 'like 8760h, 365d, 720h')}`);
    if (parsed < MIN_TOKEN_SECONDS) throw usageError(`--duration: the API server issues tokens for at least 10m, got "${values.duration}"`);
    seconds = parsed;
  }
  const server = values.server !== undefined ? checkServerUrl(values.server) : undefined;
  const target = values.output ?? 'dynamic-env.kubeconfig';
  if (['text', 'json', 'yaml'].includes(target)) {
    throw usageError(`--output ${target}: kubeconfig's --output is the file to write (or - for stdout), e.g. --output dynamic-env.kubeconfig`);
  }
  if (target !== '-' && readKubeconfigs(values).includes(resolve(target))) {
    throw usageError(`--output ${target}: that is the kubeconfig this command reads; write the ServiceAccount's to another file`);
  }
  const kube = await client(values);
  try {
    const issued = await issueKubeconfig(kube, { namespace: ns, serviceAccount: sa, seconds, ...(server ? { server } : {}) });
    if (target === '-') io.out(issued.text);
    else await writePrivate(target, issued.text);
    const granted = issued.grantedSeconds < seconds - 60
      ? `; the API server granted ${formatHours(issued.grantedSeconds)} of the ${formatHours(seconds)} asked (its --service-account-max-token-expiration)`
      : '';
    io.err(`${target === '-' ? 'Wrote a kubeconfig to stdout' : `Wrote ${target} (mode 0600)`} for ${issued.username} on ${issued.server}: ` +
      `its token expires ${issued.expiresAt}${granted}. Deleting the ServiceAccount revokes it.\n`);
    return 0;
  } finally {
    kube.close();
  }
}

const formatHours = (seconds: number): string => `${Math.round(seconds / 3600)}h`;

/** The kubeconfig files this run reads (--kubeconfig, else $KUBECONFIG's list, else ~/.kube/config), absolute. */
function readKubeconfigs(values: Values): string[] {
  if (values.kubeconfig) return [resolve(values.kubeconfig)];
  const env = process.env.KUBECONFIG;
  return (env ? env.split(process.platform === 'win32' ? ';' : ':').filter(Boolean) : [join(homedir(), '.kube', 'config')]).map((p) => resolve(p));
}

/** Written whole or not at all, readable by its owner only from the first byte. */
async function writePrivate(path: string, text: string): Promise<void> {
  const tmp = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw usageError(`--output ${path}: cannot be written (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}
