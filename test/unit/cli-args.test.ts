// The command line as people use it: help per command, --version, one-line mistakes with a likely correction, and
// messages that name the flag. In-process through main() (no cluster: every case stops before one is needed),
// plus the shipped bundle for --version.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, test } from 'vitest';
import { main, options } from '../../src/cli.js';
import { COMMANDS, COMMAND_NAMES, FLAGS, flagsOf } from '../../src/cli/commands.js';
import { parseCommandLine } from '../../src/cli/parse.js';
import { withoutRepeatedKey } from '../../src/config/issues.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  // No kubeconfig to fall back on: a case that got as far as the cluster would say so instead of passing.
  const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
  process.env.KUBECONFIG = '/nonexistent/kubeconfig';
  try {
    const code = await main(argv, { out: (t) => { out += t; }, err: (t) => { err += t; } });
    return { code, out, err };
  } finally {
    if (saved.KUBECONFIG === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved.KUBECONFIG;
  }
}

describe('the flag catalogue', () => {
  const described = (command: string, flag: string) =>
    COMMANDS[command]!.flags.some((f) => (typeof f === 'string' ? f === flag && FLAGS[f] !== undefined : f[0] === flag));

  it('every parser option is taken by a command and described there; every described flag is an option', () => {
    for (const name of Object.keys(options)) {
      if (name === 'version') continue;
      const takers = COMMAND_NAMES.filter((c) => flagsOf(c).includes(name));
      expect(takers, `--${name} belongs to no command`).not.toEqual([]);
      for (const c of takers) expect(described(c, name), `--${name} of ${c} has no description`).toBe(true);
    }
    for (const c of COMMAND_NAMES) for (const f of flagsOf(c)) expect(options, `${c} --${f}`).toHaveProperty(f);
  });

  it('shows the short forms the parser accepts', () => {
    for (const [name, o] of Object.entries(options)) {
      const short = (o as { short?: string }).short;
      if (short) expect(FLAGS[name]?.short, `--${name}`).toBe(short);
    }
  });
});

describe('help and version', () => {
  test.each(COMMAND_NAMES)('%s --help: usage, each flag with a description, an example; exit 0 on stdout', async (command) => {
    const r = await run(command, '--help');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toMatch(new RegExp(`^dynamic-env ${command}: \\S`));
    expect(r.out).toContain(`Usage: dynamic-env ${command}`);
    for (const flag of flagsOf(command)) expect(r.out).toMatch(new RegExp(`--${flag}\\b.*  \\S`));
    expect(r.out).toMatch(new RegExp(`Examples?:\\n  .*dynamic-env ${command}\\b`));
    // `help <command>` is the same page.
    expect((await run('help', command)).out).toBe(r.out);
  });

  it('--help wins over the rest of the line, as with git and kubectl', async () => {
    const r = await run('open', '--env', 'pr-1', '--frobnicate', '--help');
    expect([r.code, r.out.split('\n')[0]]).toEqual([0, 'dynamic-env open: open or update an env: clone, add subsets, route by header']);
  });

  it('the overview lists every command; asked for on stdout (0), without a command on stderr (2)', async () => {
    const asked = await run('--help');
    expect(asked.code).toBe(0);
    for (const c of COMMAND_NAMES) expect(asked.out).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    expect(await run('help')).toEqual(asked);
    const bare = await run();
    expect([bare.code, bare.out, bare.err]).toEqual([2, '', asked.out]);
  });

  it('--version from the sources says it is a development build', async () => {
    expect(await run('--version')).toEqual({ code: 0, out: 'dynamic-env 0.0.0-dev\n', err: '' });
  });

  it("the bundle's --version is package.json's, baked in at build time", () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(execFileSync(process.execPath, ['dist/cli.js', '--version'], { encoding: 'utf8' })).toBe(`dynamic-env ${version}\n`);
    // Baked in, not read: the bundle names no package.json.
    for (const file of ['dist/cli.js', ...readdirSync('dist/chunks').filter((f) => /^cli-[A-Z0-9]+\.js$/.test(f)).map((f) => `dist/chunks/${f}`)]) {
      expect(readFileSync(file, 'utf8')).not.toContain('package.json');
    }
  });

  it('the bundle keeps its compiled code in Node\'s compile cache (in the temporary directory), unless told not to', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'cli-cache-'));
    try {
      const env = { PATH: process.env.PATH ?? '', TMPDIR: join(tmp, 'on') };
      mkdirSync(env.TMPDIR);
      execFileSync(process.execPath, ['dist/cli.js', '--version'], { env });
      expect(readdirSync(join(env.TMPDIR, 'node-compile-cache'), { recursive: true }).length).toBeGreaterThan(0);
      const off = { ...env, TMPDIR: join(tmp, 'off'), NODE_DISABLE_COMPILE_CACHE: '1' };
      mkdirSync(off.TMPDIR);
      expect(execFileSync(process.execPath, ['dist/cli.js', '--version'], { env: off, encoding: 'utf8' })).toMatch(/^dynamic-env /);
      expect(readdirSync(off.TMPDIR)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('mistakes: one line on stderr, the flag named, a likely correction, where the help is; exit 2', () => {
  test.each([
    [['opne', '--env', 'pr-1'], 'dynamic-env: unknown command "opne"; did you mean "open"? Run dynamic-env --help for the commands'],
    [['frobnicate'], 'dynamic-env: unknown command "frobnicate"; run dynamic-env --help for the commands'],
    [['help', 'stauts'], 'dynamic-env: unknown command "stauts"; did you mean "status"? Run dynamic-env --help for the commands'],
    [['open', '--tiemout', '5m'], 'dynamic-env open: unknown flag --tiemout; did you mean --timeout? Run dynamic-env open --help for its flags'],
    [['sweep', '--tll', '72h'], 'dynamic-env sweep: unknown flag --tll; did you mean --ttl? Run dynamic-env sweep --help for its flags'],
    [['open', '--frobnicate'], 'dynamic-env open: unknown flag --frobnicate; run dynamic-env open --help for its flags'],
    [['open', '-x'], 'dynamic-env open: unknown flag -x; run dynamic-env open --help for its flags'],
    [['--frobnicate'], 'dynamic-env: unknown flag --frobnicate; run dynamic-env --help for the commands'],
    [['close', '--env', 'pr-1', '--image', 'x'], 'dynamic-env close: --image is not a flag of close (open, plan take it); run dynamic-env close --help for its flags'],
    [['list', '--ttl', '1h'], 'dynamic-env list: --ttl is not a flag of list (sweep takes it); run dynamic-env list --help for its flags'],
    [['open', '--timeout'], 'dynamic-env open: --timeout needs a value (--timeout DURATION); run dynamic-env open --help for its flags'],
    [['open', '--timeout', '--wait'], 'dynamic-env open: --timeout needs a value (--timeout DURATION); run dynamic-env open --help for its flags'],
    [['open', '--wait=false'], 'dynamic-env open: --wait takes no value; run dynamic-env open --help for its flags'],
    [['open', 'pr-42'], 'dynamic-env open: unexpected argument "pr-42"; options take the form --name value'],
  ])('%j', async (argv, line) => {
    const r = await run(...argv);
    expect(r).toEqual({ code: 2, out: '', err: `${line}\n` });
  });
});

describe('messages about flags name the flag, once', () => {
  const shorthand = ['open', '--namespace', 'shop', '--deployment', 'api', '--image', 'ghcr.io/acme/api:1'];
  test.each([
    [[...shorthand, '--env', 'pr-1', '--timeout', '5min'], '--timeout: must be a duration like 300, 300s, 5m, 1h30m, got "5min"'],
    [[...shorthand, '--env', 'pr-1', '--timeout', '48h'], '--timeout: must be at most 24h, got "48h"'],
    [[...shorthand, '--env', 'pr-1', '--drain', '5min'], '--drain: must be a duration like 300, 300s, 5m, 1h30m, got "5min"'],
    [[...shorthand, '--env', 'pr-1', '--lock-hold', '500ms'], '--lock-hold: must be a duration like 300, 300s, 5m, 1h30m, got "500ms"'],
    [[...shorthand, '--env', 'pr-1', '--lock-hold', '11m'], '--lock-hold: must be at most 10m, got "11m"'],
    [[...shorthand, '--env', 'PR_1'], '--env "PR_1": an env name is a lowercase RFC 1123 label of at most 40 characters, e.g. pr-42'],
    [['open', '--env', 'pr-1', '--namespace', 'Shop', '--deployment', 'api', '--image', 'x:1'], '--namespace: must be a lowercase DNS label (a-z, 0-9 and "-", starting and ending alphanumeric), got "Shop"'],
    [['sweep', '--ttl', '3 days'], '--ttl: must be a duration like 300, 300s, 5m, 1h30m, 7d, got "3 days"'],
    [['sweep', '--ttl', '72h', '--env', 'pr-1'], '--env narrows --heal to one env; sweep closes by --ttl or --keep, never by name (use close --env)'],
    [['kubeconfig', '-n', 'dynamic-env'], '--service-account is required, e.g. --service-account dynamic-env (the one deploy/rbac.yaml creates)'],
    [['kubeconfig', '--service-account', 'dynamic-env'], '--namespace (-n) is required: the namespace of the ServiceAccount, e.g. -n dynamic-env'],
    [['kubeconfig', '--service-account', 'dynamic-env', '-n', 'dynamic-env', '--duration', '5m'], '--duration: the API server issues tokens for at least 10m, got "5m"'],
    [['kubeconfig', '--service-account', 'dynamic-env', '-n', 'dynamic-env', '--duration', '1 year'], '--duration: must be a duration like 8760h, 365d, 720h, got "1 year"'],
    [['kubeconfig', '--service-account', 'dynamic-env', '-n', 'dynamic-env', '--server', 'http://k8s.example.com'], '--server "http://k8s.example.com": must be an https:// URL (the token must not cross the network in clear)'],
    [['kubeconfig', '--service-account', 'dynamic-env', '-n', 'dynamic-env', '--output', '/nonexistent/kubeconfig'], '--output /nonexistent/kubeconfig: that is the kubeconfig this command reads; write the ServiceAccount\'s to another file'],
  ])('%j', async (argv, message) => {
    const r = await run(...argv);
    expect(r).toEqual({ code: 2, out: '', err: `dynamic-env ${argv[0]}: ${message}\n` });
  });
});

describe('withoutRepeatedKey', () => {
  test.each([
    [['timeout'], 'timeout must be a duration', 'must be a duration'],
    [['services', 0, 'replicas'], 'replicas must be at least 1', 'must be at least 1'],
    [['env'], 'env name must be a label', 'env name must be a label'],
    [['containers', 0, 'name'], 'container name must be a label', 'container name must be a label'],
    [['timeouts'], 'timeout must be a duration', 'timeout must be a duration'],
    [[0], 'must be a mapping', 'must be a mapping'],
  ] as const)('%j: %s', (path, message, expected) => {
    expect(withoutRepeatedKey(path, message)).toBe(expected);
  });
});

test('parseCommandLine: the command and help are found wherever the flags are', () => {
  expect(parseCommandLine(['status', '--env', 'pr-1', '-o', 'json'], options)).toEqual({ kind: 'run', command: 'status' });
  expect(parseCommandLine(['kubeconfig', '-n', 'x', '-o', '-', '--service-account', 'y'], options)).toEqual({ kind: 'run', command: 'kubeconfig' });
  expect(parseCommandLine(['--env', 'pr-1', 'close'], options)).toEqual({ kind: 'run', command: 'close' });
  expect(parseCommandLine(['close', '-h'], options)).toEqual({ kind: 'help', command: 'close' });
});
