// The CLI's commands and flags as people read them: one line per flag, a usage line and examples per command.
// src/cli.ts holds the parser's option types; test/unit/cli-args.test.ts checks that the two name the same flags.

export interface FlagHelp {
  /** The value's placeholder (`DURATION`); absent for a switch. */
  arg?: string;
  /** The one-letter form (`-o`), as src/cli.ts declares it. */
  short?: string;
  text: string;
}

export interface CommandHelp {
  summary: string;
  usage: string;
  /** Flags this command takes, in help order; a command may describe a flag its own way. */
  flags: (string | [name: string, help: FlagHelp])[];
  examples: string[];
}

/** Descriptions of the flags several commands share. */
export const FLAGS: Record<string, FlagHelp> = {
  env: { arg: 'NAME', text: 'environment name: a lowercase RFC 1123 label of at most 40 characters, e.g. pr-42' },
  config: { arg: 'FILE', text: 'YAML config (schema: schema/dynamic-env.schema.json)' },
  namespace: { arg: 'NS', short: 'n', text: 'shorthand: namespace of the one Deployment to clone' },
  deployment: { arg: 'NAME', text: 'shorthand: the Deployment to clone' },
  container: { arg: 'NAME', text: 'shorthand: the container whose image changes (needed when the pod has several)' },
  image: { arg: 'IMAGE', text: 'shorthand: the image of the clone, e.g. ghcr.io/acme/reviews:abc123' },
  kubeconfig: { arg: 'FILE', text: 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, in-cluster)' },
  context: { arg: 'NAME', text: 'kubeconfig context (default: its current-context)' },
  'lock-namespace': { arg: 'NS', text: "where a new env's Lease lives (default: default); an existing env's clones record theirs" },
  wait: { text: 'wait for the clones to become available before routing (the default)' },
  'no-wait': { text: 'route without waiting for the clones' },
  timeout: { arg: 'DURATION', text: 'how long to wait for the rollout, at most 24h (default 5m), e.g. 300s, 5m' },
  drain: { arg: 'DURATION', text: 'wait between a change and what depends on it, so proxies get them in order (default 3s; 0 turns it off)' },
  'lock-hold': { arg: 'DURATION', text: "how long open keeps the env's Lease into the rollout wait, so a quick rollout is routed in the same hold (default 5s; 0 gives it back before the wait)" },
  'dry-run': { text: 'print the changes, write nothing' },
  output: { arg: 'FORMAT', short: 'o', text: 'text (default), json or yaml' },
  snapshot: { arg: 'FILE', text: 'YAML dump of Deployments, Services, DestinationRules and VirtualServices (kubectl get -o yaml)' },
  ttl: { arg: 'DURATION', text: 'close envs not updated for longer than this (see --ttl-from), e.g. 72h, 7d' },
  'ttl-from': { arg: 'updated|opened', text: "where --ttl counts from: the env's last update, e.g. a push (default), or its first open" },
  keep: { arg: 'ENV,ENV', text: 'close every env not listed, e.g. pr-1,pr-7' },
  heal: { text: 'put back the routes of open envs that a GitOps sync or kubectl apply removed' },
  repo: { arg: 'OWNER/REPO', text: "record the repository on the env's objects; refuse an env recorded for another" },
  pr: { arg: 'N', text: "record the pull request number on the env's objects; refuse an env recorded for another" },
  commit: { arg: 'SHA', text: "record the commit on the env's objects; gives images' {sha} and {short-sha}" },
  images: { arg: '[NS/]DEPLOYMENT[/CONTAINER]=IMAGE', text: "set or add a service's image (repeatable, or comma-separated); images take {sha}, {short-sha}, {pr}, {env}, {branch}" },
  branch: { arg: 'NAME', text: "the PR's head branch: gives images' {branch} (sanitised to a tag)" },
  'service-account': { arg: 'NAME', text: 'the ServiceAccount to issue a token for (deploy/rbac.yaml: dynamic-env)' },
  duration: { arg: 'DURATION', text: 'how long the token is valid (default 8760h, one year); the API server may grant less' },
  server: { arg: 'URL', text: "the API server URL to write (default: your kubeconfig's)" },
  help: { short: 'h', text: 'show this help' },
};

const CLUSTER = ['kubeconfig', 'context'];
const SHORTHAND = ['namespace', 'deployment', 'container', 'image'];
const OWNER = ['repo', 'pr', 'commit'];
/** Scripts pass the same cluster flags to every command; reading commands take the lock namespace and ignore it. */
const UNUSED_LOCK: [string, FlagHelp] = ['lock-namespace', { arg: 'NS', text: 'accepted for scripts that pass it to every command; reading needs no Lease' }];

export const COMMANDS: Record<string, CommandHelp> = {
  open: {
    summary: 'open or update an env: clone, add subsets, route by header',
    usage: 'dynamic-env open --env NAME (--config FILE | --namespace NS --deployment NAME --image IMAGE [--container NAME]) [flags]',
    flags: ['env', 'config', ...SHORTHAND, 'images', 'branch', ...OWNER, 'wait', 'no-wait', 'timeout', 'drain', 'lock-hold', 'dry-run', 'lock-namespace', ...CLUSTER, 'output', 'help'],
    examples: [
      'dynamic-env open --env pr-42 --config .github/dynamic-env.yaml',
      'dynamic-env open --env pr-42 --namespace bookinfo --deployment reviews-v3 --image ghcr.io/acme/reviews:abc123',
      'dynamic-env open --env pr-42 --config dynamic-env.yaml --commit "$SHA" --images reviews-v3=ghcr.io/acme/reviews:{sha}',
    ],
  },
  close: {
    summary: "close an env: take its routes out, then its subsets and clones",
    usage: 'dynamic-env close --env NAME [flags]',
    flags: ['env', ...OWNER, 'drain', 'dry-run', 'lock-namespace', ...CLUSTER, 'output', 'help'],
    examples: ['dynamic-env close --env pr-42'],
  },
  status: {
    summary: "an env's state, services and routes (exit 1 when it is absent, failed or degraded)",
    usage: 'dynamic-env status --env NAME [flags]',
    flags: ['env', ...CLUSTER, UNUSED_LOCK, 'output', 'help'],
    examples: ['dynamic-env status --env pr-42 --output json'],
  },
  list: {
    summary: 'the envs in the cluster, and orphans a sweep would remove',
    usage: 'dynamic-env list [flags]',
    flags: [...CLUSTER, UNUSED_LOCK, 'output', 'help'],
    examples: ['dynamic-env list'],
  },
  sweep: {
    summary: 'close envs by age or keep-list, and/or heal routes a re-apply removed',
    usage: 'dynamic-env sweep (--ttl DURATION | --keep ENV,ENV | --heal [--env NAME]) [flags]',
    flags: ['ttl', 'ttl-from', 'keep', 'heal', ['env', { arg: 'NAME', text: 'with --heal: heal this env only' }], 'drain', 'dry-run', 'lock-namespace', ...CLUSTER, 'output', 'help'],
    examples: ['dynamic-env sweep --ttl 72h', 'dynamic-env sweep --ttl 7d --ttl-from opened', 'dynamic-env sweep --keep pr-1,pr-7', 'dynamic-env sweep --heal'],
  },
  plan: {
    summary: 'what open would change, offline, from a YAML dump of the cluster',
    usage: 'dynamic-env plan --snapshot FILE (--config FILE | --namespace NS --deployment NAME --image IMAGE) [--env NAME] [flags]',
    flags: ['snapshot', 'env', 'config', ...SHORTHAND, 'images', 'branch', ...OWNER, 'output', 'help'],
    examples: ['kubectl get deploy,svc,dr,vs -A -o yaml > cluster.yaml && dynamic-env plan --snapshot cluster.yaml --config dynamic-env.yaml --env pr-42'],
  },
  demo: {
    summary: 'plan an env against a bundled bookinfo snapshot and preview the PR comment (no cluster)',
    usage: 'dynamic-env demo [--output FORMAT]',
    flags: ['output', 'help'],
    examples: ['dynamic-env demo'],
  },
  kubeconfig: {
    summary: "write a kubeconfig with a long-lived token of dynamic-env's ServiceAccount, using your own kubeconfig",
    usage: 'dynamic-env kubeconfig --service-account NAME --namespace NS [--duration 8760h] [--server URL] [--output FILE] [flags]',
    flags: [
      'service-account',
      ['namespace', { arg: 'NS', short: 'n', text: "the ServiceAccount's namespace" }],
      'duration', 'server',
      ['output', { arg: 'FILE', short: 'o', text: 'where to write it, mode 0600 (default: dynamic-env.kubeconfig); - writes to stdout' }],
      ...CLUSTER, 'help',
    ],
    examples: [
      'dynamic-env kubeconfig --service-account dynamic-env -n dynamic-env --output dynamic-env.kubeconfig',
      'gh secret set KUBECONFIG < dynamic-env.kubeconfig && rm dynamic-env.kubeconfig',
    ],
  },
};

export const COMMAND_NAMES = Object.keys(COMMANDS);

/** The flags a command takes, by name. */
export const flagsOf = (command: string): string[] => (COMMANDS[command]?.flags ?? []).map((f) => (typeof f === 'string' ? f : f[0]));

/** `dynamic-env --help`: every command in one line, then how to get more. */
export function overviewHelp(): string {
  const width = Math.max(...COMMAND_NAMES.map((c) => c.length));
  return [
    'dynamic-env: per-pull-request environments in a shared Kubernetes + Istio mesh',
    '',
    'Usage: dynamic-env <command> [flags]',
    '',
    'Commands:',
    ...COMMAND_NAMES.map((c) => `  ${c.padEnd(width)}  ${COMMANDS[c]!.summary}`),
    '',
    'Run dynamic-env <command> --help (or dynamic-env help <command>) for its flags and examples.',
    'dynamic-env --version prints the version. Exit codes: 0 success, 1 the cluster said no or the env failed, 2 bad usage or config.',
    '',
  ].join('\n');
}

/** `dynamic-env <command> --help`: usage, each flag in one line, examples. */
export function commandHelp(command: string): string {
  const c = COMMANDS[command]!;
  const rows = c.flags.map((f) => {
    const [name, help] = typeof f === 'string' ? [f, FLAGS[f]!] : f;
    const short = help.short ? `-${help.short}, ` : '    ';
    return [`${short}--${name}${help.arg ? ` ${help.arg}` : ''}`, help.text] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length));
  return [
    `dynamic-env ${command}: ${c.summary}`,
    '',
    `Usage: ${c.usage}`,
    '',
    'Flags:',
    ...rows.map(([l, t]) => `  ${l.padEnd(width)}  ${t}`),
    '',
    c.examples.length > 1 ? 'Examples:' : 'Example:',
    ...c.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}
