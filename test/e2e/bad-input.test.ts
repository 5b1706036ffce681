// Bad input, end to end: one table of wrong configs, flags, kubeconfigs and cluster facts, each run through the real
// CLI (dist/cli.js) as its own least-privilege ServiceAccount (deploy/rbac.yaml) against one shared mesh. Every row
// must exit 2 (usage/config) or 1 (cluster) with one clear message that names the field or object and says what to
// do, print no stack trace and no secret, and write nothing: the API server's audit log shows zero writes by the
// row's identity, Leases included (an invalid run must not even take the Lease). Rows refused before any contact
// with the cluster show no request at all; rows refused on what the cluster holds show reads only.
// test/unit/config-file.test.ts proves the config validation in-process; this file proves the shipped CLI.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { WRITE_VERBS, useCluster, type AuditEvent } from '../harness/cluster.js';
import { kubeconfigText } from '../harness/control-plane.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { createMesh, describeObjects, envObjects, isEmpty, pool, runCli, seededRandom, type CliResult } from '../harness/mesh.js';
import { deployment, destinationRule, envName, service, virtualService } from './fixtures/engine.js';

const cluster = useCluster();

// ---------------------------------------------------------------------------------------------------------------
// The table

interface Ctx {
  /** The shared mesh (see `setUp`). */
  ns: string;
  /** A namespace with the same app where the row's identity has no RoleBinding. */
  other: string;
  /** A fresh env name for the row. */
  env: string;
  /** The row's identity; a fault-proxy row points it at its proxy. */
  kubeconfig: string;
  token: string;
  /** Writes a file for the row (config, kubeconfig) and returns its absolute path. */
  file: (content: string | Buffer, ext?: string) => string;
  /** Work the row started on the side (a deletion by the fault-proxy hook); awaited before the checks. */
  pending: Promise<unknown>[];
}

interface Row {
  name: string;
  args: (c: Ctx) => string[];
  code: 1 | 2;
  /** The message: names the field or object, and what to do. */
  says: (c: Ctx) => RegExp;
  /** What it must not say (a follow-on error that only confuses). */
  not?: RegExp;
  /**
   * What the identity may send to the API server: `none` (refused before any contact; default for exit 2), `reads`
   * (refused on what the cluster holds, writing nothing; default for exit 1), or `lease` (the cluster changed after
   * validation: the Lease is taken, the plan under it fails, the Lease is given back; nothing else is written).
   */
  requests?: 'none' | 'reads' | 'lease';
  /** Strings of the input that must never be printed (the identity's token always is one). */
  secrets?: (c: Ctx) => string[];
  /** Runs the row's requests through a fault proxy; `match` sees each request and says which to delay. */
  proxy?: (c: Ctx) => { match: (method: string, path: string) => boolean; delayMs: number };
  maxMs?: number;
}

/** Holds back the first GET under `pathPrefix` by 1.5 s and deletes Service `service` while it is held. */
function deleteServiceWhileHeld(c: Ctx, pathPrefix: string, service: string): ReturnType<NonNullable<Row['proxy']>> {
  let fired = false;
  return {
    delayMs: 1_500,
    match: (method, path) => {
      if (fired || method !== 'GET' || !path.startsWith(pathPrefix)) return false;
      fired = true;
      c.pending.push(cluster.delete('Service', c.ns, service));
      return true;
    },
  };
}

/**
 * Holds back the Lease's creation while another run gives the env a clone (labelled as the env's) and `service`
 * goes; the clone is removed once the Lease is given back.
 */
function changeEnvWhileLeaseHeld(c: Ctx, service: string): ReturnType<NonNullable<Row['proxy']>> {
  const leases = `/apis/coordination.k8s.io/v1/namespaces/${c.ns}/leases`;
  const name = `other-run-${c.env}`;
  let created: Promise<unknown> | undefined;
  return {
    delayMs: 1_500,
    match: (method, path) => {
      if (!path.startsWith(leases)) return false;
      if (method === 'DELETE' && created) c.pending.push(created.then(() => cluster.delete('Deployment', c.ns, name)));
      if (method !== 'POST' || created) return false;
      const labels = { app: name, 'app.kubernetes.io/managed-by': 'dynamic-env', 'dynamic-env.io/env': c.env };
      created = cluster.apply({
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: c.ns, labels },
        spec: { replicas: 0, selector: { matchLabels: { app: name } }, template: { metadata: { labels }, spec: { containers: [{ name: 'x', image: 'example.com/x:1' }] } } },
      });
      c.pending.push(created, cluster.delete('Service', c.ns, service));
      return true;
    },
  };
}

/** A RegExp whose literal parts are regex source and whose `${}` values match themselves literally. */
function re(strings: TemplateStringsArray, ...values: string[]): RegExp {
  const lit = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(strings.raw.map((s, i) => s + (i < values.length ? lit(values[i]!) : '')).join(''));
}

/** `open --config <file>` with the row's env and identity. */
const open = (c: Ctx, config: string, ...extra: string[]) =>
  ['open', '--env', c.env, '--config', c.file(config), '--kubeconfig', c.kubeconfig, '--lock-namespace', c.ns, '--timeout', '30s', ...extra];
/** `open` with the one-Deployment shorthand flags. */
const shorthand = (c: Ctx, flags: Record<string, string>, ...extra: string[]) =>
  ['open', '--env', c.env, ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v]), '--kubeconfig', c.kubeconfig, '--lock-namespace', c.ns, ...extra];
/** One service entry for the mesh's web-v1, with extra YAML lines for the entry. */
const web = (c: Ctx, ...lines: string[]) =>
  ['services:', `  - namespace: ${c.ns}`, '    deployment: web-v1', ...lines.map((l) => `    ${l}`)].join('\n') + '\n';
const webImage = (c: Ctx, ...lines: string[]) => web(c, 'image: example.com/bookinfo/web:pr', ...lines);
/** A kubeconfig as the harness writes them, with a twist applied to its text. */
const kubeconfigWith = (c: Ctx, edit: (text: string) => string) => c.file(edit(readFileSync(c.kubeconfig, 'utf8')), 'kubeconfig');

function billionLaughs(): string {
  // Ten levels of ten aliases each: 10^10 nodes if expanded.
  const lines = ['l0: &l0 [ha, ha, ha, ha, ha, ha, ha, ha, ha, ha]'];
  for (let i = 1; i < 10; i++) lines.push(`l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]`);
  return lines.join('\n') + '\n';
}

function garbage(seed: number, bytes: number): Buffer {
  const random = seededRandom(seed);
  return Buffer.from(Array.from({ length: bytes }, () => Math.floor(random() * 256)));
}

const rows: Row[] = [
  // --- Config file: wrong types ------------------------------------------------------------------------------
  {
    name: 'config: replicas is a string', code: 2,
    args: (c) => open(c, webImage(c, 'replicas: "two"')),
    says: () => /\.yaml: services\[0\]\.replicas: replicas must be a whole number from 1 to 50/,
  },
  {
    name: 'config: services is a mapping, not a list', code: 2,
    args: (c) => open(c, `services:\n  namespace: ${c.ns}\n  deployment: web-v1\n`),
    says: () => /\.yaml: services: must be a list, got a mapping/,
  },
  {
    name: 'config: wait is a string', code: 2,
    args: (c) => open(c, `wait: "yes"\n${webImage(c)}`),
    says: () => /\.yaml: wait: wait must be true or false/,
  },
  {
    name: 'config: an env var value is a number', code: 2,
    args: (c) => open(c, web(c, 'containers:', '  - name: web', '    env: [{name: PORT, value: 8080}]')),
    says: () => /\.yaml: services\[0\]\.containers\[0\]\.env\[0\]\.value: must be a string, got number 8080; quote it/,
  },
  {
    name: 'config: labels is null', code: 2,
    args: (c) => open(c, webImage(c, 'labels: ~')),
    says: () => /\.yaml: services\[0\]\.labels: must be a mapping, got null/,
  },
  {
    name: 'config: a workers entry is null', code: 2,
    args: (c) => open(c, `${webImage(c)}workers:\n  - ~\n`),
    says: () => /\.yaml: workers\[0\]: must be a mapping, got null/,
  },
  // --- Config file: unknown keys, with their path --------------------------------------------------------------
  {
    name: 'config: unknown key at the top level', code: 2,
    args: (c) => open(c, `colour: blue\n${webImage(c)}`),
    says: () => /\.yaml: colour: unknown key; allowed keys here: env, lockNamespace, clusterDomain, istioRootNamespace, routing, wait, timeout, services, workers, gitops/,
  },
  {
    name: 'config: unknown key three levels down, with a likely correction', code: 2,
    args: (c) => open(c, web(c, 'containers:', '  - name: web', '    imag: example.com/bookinfo/web:pr')),
    says: () => /\.yaml: services\[0\]\.containers\[0\]\.imag: unknown key; did you mean "image"\?/,
  },
  {
    name: 'config: unknown key under routing', code: 2,
    args: (c) => open(c, `routing:\n  hedaer: x-pr\n${webImage(c)}`),
    says: () => /\.yaml: routing\.hedaer: unknown key; did you mean "header"\?/,
  },
  // --- Config file: empty -------------------------------------------------------------------------------------
  {
    name: 'config: services and workers are empty lists', code: 2,
    args: (c) => open(c, 'services: []\nworkers: []\n'),
    says: () => /\.yaml: services: list at least one Deployment under services or workers/,
  },
  {
    name: 'config: the file is empty', code: 2,
    args: (c) => open(c, '# nothing here yet\n'),
    says: () => /\.yaml: the file is empty; it needs at least a services or workers list/,
  },
  // --- Config file: names -------------------------------------------------------------------------------------
  {
    name: 'config: env name of 41 characters', code: 2,
    args: (c) => ['open', '--config', c.file(`env: ${'e'.repeat(41)}\n${webImage(c)}`), '--kubeconfig', c.kubeconfig],
    says: () => /\.yaml: env: env name must be at most 40 characters .*got 41/,
  },
  {
    name: 'config: env name is not an RFC 1123 label', code: 2,
    args: (c) => ['open', '--config', c.file(`env: PR_42\n${webImage(c)}`), '--kubeconfig', c.kubeconfig],
    says: () => /\.yaml: env: env name must be a lowercase DNS label \(a-z, 0-9 and "-", e\.g\. pr-42\), got "PR_42"/,
  },
  {
    name: 'config: namespace of 64 characters', code: 2,
    args: (c) => open(c, `services:\n  - {namespace: ${'n'.repeat(64)}, deployment: web-v1, image: example.com/web:pr}\n`),
    says: () => /\.yaml: services\[0\]\.namespace: namespace must be at most 63 characters, got 64/,
  },
  {
    name: 'config: Deployment name of 254 characters', code: 2,
    args: (c) => open(c, `services:\n  - {namespace: ${c.ns}, deployment: ${'d'.repeat(254)}, image: example.com/web:pr}\n`),
    says: () => /\.yaml: services\[0\]\.deployment: deployment must be at most 253 characters/,
  },
  {
    name: 'config: Deployment name is not RFC 1123', code: 2,
    args: (c) => open(c, `services:\n  - {namespace: ${c.ns}, deployment: Web_V1, image: example.com/web:pr}\n`),
    says: () => /\.yaml: services\[0\]\.deployment: deployment must be a lowercase DNS subdomain .*got "Web_V1"/,
  },
  {
    name: 'config: container name is not RFC 1123', code: 2,
    args: (c) => open(c, web(c, 'containers: [{name: Web, image: example.com/web:pr}]')),
    says: () => /\.yaml: services\[0\]\.containers\[0\]\.name: container name must be a lowercase DNS label .*got "Web"/,
  },
  {
    name: 'config: lockNamespace is not RFC 1123', code: 2,
    args: (c) => open(c, `lockNamespace: kube_system\n${webImage(c)}`),
    says: () => /\.yaml: lockNamespace: lockNamespace must be a lowercase DNS label/,
  },
  // --- Regex metacharacters in names and in the header and its value -------------------------------------------
  {
    name: 'config: regex metacharacters in the env name (the header value)', code: 2,
    args: (c) => ['open', '--config', c.file(`env: "pr-(42|43)"\n${webImage(c)}`), '--kubeconfig', c.kubeconfig],
    says: () => /\.yaml: env: env name must be a lowercase DNS label .*got "pr-\(42\|43\)"/,
  },
  {
    name: 'config: regex metacharacters in a Deployment name', code: 2,
    args: (c) => open(c, `services:\n  - {namespace: ${c.ns}, deployment: "web.*", image: example.com/web:pr}\n`),
    says: () => /\.yaml: services\[0\]\.deployment: deployment must be a lowercase DNS subdomain .*got "web\.\*"/,
  },
  {
    name: 'config: regex metacharacters in the routing header', code: 2,
    args: (c) => open(c, `routing: {header: "x-(override)"}\n${webImage(c)}`),
    says: () => /\.yaml: routing\.header: header must be an HTTP header name .*got "x-\(override\)"/,
  },
  {
    name: 'config: regex metacharacters in a label value', code: 2,
    args: (c) => open(c, webImage(c, 'labels: {team: "web|api"}')),
    says: () => /\.yaml: services\[0\]\.labels\.team: label value must be empty or A-Z, a-z, 0-9, "-", "_", "\." .*got "web\|api"/,
  },
  {
    name: '--env with regex metacharacters (the header value)', code: 2,
    args: (c) => ['open', '--env', 'pr-.*', '--config', c.file(webImage(c)), '--kubeconfig', c.kubeconfig],
    says: () => /env: env name must be a lowercase DNS label .*got "pr-\.\*"/,
  },
  {
    name: 'shorthand: regex metacharacters in --deployment', code: 2,
    args: (c) => shorthand(c, { namespace: c.ns, deployment: 'web-v1|api-v1', image: 'example.com/web:pr' }),
    says: () => /--deployment: deployment must be a lowercase DNS subdomain .*got "web-v1\|api-v1"/,
    not: /nothing to open/,
  },
  // --- Images and env values ----------------------------------------------------------------------------------
  {
    name: 'config: image with a space', code: 2,
    args: (c) => open(c, web(c, 'image: "example.com/web:pr 42"')),
    says: () => /\.yaml: services\[0\]\.image: image must not contain whitespace or control characters, got "example\.com\/web:pr 42"/,
  },
  {
    name: 'config: image with an upper-case repository', code: 2,
    args: (c) => open(c, web(c, 'image: example.com/Web:pr')),
    says: () => /\.yaml: services\[0\]\.image: image "example\.com\/Web:pr" is not a valid image reference; use \[registry\[:port\]\/\]repository/,
  },
  {
    name: 'shorthand: --image with a space', code: 2,
    args: (c) => shorthand(c, { namespace: c.ns, deployment: 'web-v1', image: 'example.com/web:pr 42' }),
    says: () => /^dynamic-env open: --image: image must not contain whitespace or control characters, got "example\.com\/web:pr 42"\n$/,
    not: /nothing to open/,
  },
  {
    name: 'config: env value with an escaped newline', code: 2,
    args: (c) => open(c, web(c, 'containers:', '  - name: web', '    env: [{name: GREETING, value: "hello\\nworld"}]')),
    says: () => /\.yaml: services\[0\]\.containers\[0\]\.env\[0\]\.value: env var value must be a single line without control characters; for multi-line values, put them in a ConfigMap or Secret/,
  },
  {
    name: 'config: env value from a block scalar', code: 2,
    args: (c) => open(c, web(c, 'containers:', '  - name: web', '    env:', '      - name: MOTD', '        value: |', '          line one', '          line two')),
    says: () => /\.yaml: services\[0\]\.containers\[0\]\.env\[0\]\.value: env var value must be a single line/,
  },
  // --- Other field checks -------------------------------------------------------------------------------------
  {
    name: 'config: replicas over the cap', code: 2,
    args: (c) => open(c, webImage(c, 'replicas: 51')),
    says: () => /\.yaml: services\[0\]\.replicas: replicas must be at most 50/,
  },
  {
    name: 'config: a label sets the version label', code: 2,
    args: (c) => open(c, webImage(c, 'labels: {version: v9}')),
    says: () => /\.yaml: services\[0\]\.labels\.version: must not set the version label "version": dynamic-env sets it to the env name/,
  },
  {
    name: 'config: image and containers together', code: 2,
    args: (c) => open(c, webImage(c, 'containers: [{name: web, args: [--debug]}]')),
    says: () => /\.yaml: services\[0\]\.image: set either image .* or containers, not both; move the image into containers/,
  },
  {
    name: 'config: timeout is not a duration', code: 2,
    args: (c) => open(c, `timeout: soon\n${webImage(c)}`),
    says: () => /\.yaml: timeout: timeout must be a duration like 300, 300s, 5m, 1h30m, got "soon"/,
  },
  {
    name: 'config: baggageKey is true', code: 2,
    args: (c) => open(c, `routing: {baggageKey: true}\n${webImage(c)}`),
    says: () => /\.yaml: routing\.baggageKey: baggageKey must be a W3C baggage key .*or false to turn baggage matching off/,
  },
  // --- YAML itself --------------------------------------------------------------------------------------------
  {
    name: 'config: YAML aliases that expand (billion laughs)', code: 2, maxMs: 10_000,
    args: (c) => open(c, billionLaughs() + webImage(c)),
    says: () => /\.yaml: too many YAML alias expansions \(a "billion laughs" document\?\); write the values out/,
  },
  {
    name: 'config: a 2 MiB file', code: 2,
    args: (c) => open(c, `# ${'padding '.repeat(262_144)}\n${webImage(c)}`),
    says: () => /\.yaml: the file is 2\.0 MiB \(\d+ bytes\), more than the 1 MiB limit for a config file; .*check that the right file is named/,
  },
  {
    name: 'config: a duplicate key', code: 2,
    args: (c) => open(c, `wait: true\nwait: false\n${webImage(c)}`),
    says: () => /\.yaml: line 2, column 1: duplicate key; each key may appear once per mapping/,
  },
  {
    name: 'config: two YAML documents', code: 2,
    args: (c) => open(c, `${webImage(c)}---\n${webImage(c)}`),
    says: () => /\.yaml: line \d+, column 1: the file holds 2 YAML documents; put the whole config in one document/,
  },
  {
    name: 'config: a YAML syntax error', code: 2,
    args: (c) => open(c, `services:\n  - namespace: ${c.ns}\n    deployment: [web-v1\n`),
    says: () => /\.yaml: line \d+, column \d+: /,
  },
  {
    name: 'config: the file does not exist', code: 2,
    args: (c) => ['open', '--env', c.env, '--config', join(cluster.tmp, 'no-such-config.yaml'), '--kubeconfig', c.kubeconfig],
    says: () => /no-such-config\.yaml: config file not found; check the path/,
  },
  // --- CLI flags ----------------------------------------------------------------------------------------------
  {
    name: '--timeout is not a duration', code: 2,
    args: (c) => open(c, webImage(c)).concat('--timeout', '5x'),
    says: () => /timeout: timeout must be a duration like 300, 300s, 5m, 1h30m, got "5x"/,
  },
  {
    name: '--timeout over 24h', code: 2,
    args: (c) => open(c, webImage(c)).concat('--timeout', '48h'),
    says: () => /timeout: timeout must be at most 24h, got 48h/,
  },
  {
    name: '--timeout without a value', code: 2,
    args: (c) => open(c, webImage(c)).concat('--timeout'),
    says: () => /^dynamic-env: Option '--timeout <value>' argument missing/,
  },
  {
    name: '--output xml', code: 2,
    args: (c) => open(c, webImage(c), '--output', 'xml'),
    says: () => /^dynamic-env open: --output "xml": use text, json or yaml\n$/,
  },
  {
    name: 'an unknown flag', code: 2,
    args: (c) => open(c, webImage(c), '--frobnicate'),
    says: () => /^dynamic-env: Unknown option '--frobnicate'/,
  },
  {
    name: 'an unknown command', code: 2,
    args: (c) => ['frobnicate', '--env', c.env, '--kubeconfig', c.kubeconfig],
    says: () => /^dynamic-env frobnicate: unknown command "frobnicate"; commands: open, close, status, list, sweep, plan, demo\n$/,
  },
  {
    name: 'a stray positional argument', code: 2,
    args: (c) => ['open', 'pr-42', '--config', c.file(webImage(c)), '--kubeconfig', c.kubeconfig],
    says: () => /^dynamic-env open: unexpected argument "pr-42"; options take the form --name value\n$/,
  },
  {
    name: '--env of 41 characters', code: 2,
    args: (c) => ['open', '--env', 'e'.repeat(41), '--config', c.file(webImage(c)), '--kubeconfig', c.kubeconfig],
    says: () => /env: env name must be at most 40 characters/,
  },
  {
    name: 'close without --env', code: 2,
    args: (c) => ['close', '--kubeconfig', c.kubeconfig, '--lock-namespace', c.ns],
    says: () => /^dynamic-env close: --env is required, e\.g\. --env pr-42\n$/,
  },
  {
    name: 'status --env that is not RFC 1123', code: 2,
    args: (c) => ['status', '--env', 'PR_42', '--kubeconfig', c.kubeconfig],
    says: () => /^dynamic-env status: --env "PR_42": an env name is a lowercase RFC 1123 label of at most 40 characters, e\.g\. pr-42\n$/,
  },
  {
    name: '--wait together with --no-wait', code: 2,
    args: (c) => open(c, webImage(c), '--wait', '--no-wait'),
    says: () => /--wait and --no-wait: pick one/,
  },
  {
    name: '--pr that is not a number', code: 2,
    args: (c) => open(c, webImage(c), '--pr', '#42'),
    says: () => /--pr "#42": a pull request number, e\.g\. 42/,
  },
  {
    name: '--lock-namespace that is not RFC 1123', code: 2,
    args: (c) => open(c, webImage(c)).concat('--lock-namespace', 'Locks_NS'),
    says: () => /^dynamic-env open: --lock-namespace "Locks_NS": a namespace name is a lowercase RFC 1123 label of at most 63 characters/,
  },
  {
    name: 'shorthand without --image', code: 2,
    args: (c) => ['open', '--env', c.env, '--namespace', c.ns, '--deployment', 'web-v1', '--kubeconfig', c.kubeconfig],
    says: () => /the one-Deployment shorthand needs --image as well/,
  },
  {
    name: 'sweep --ttl that is not a duration', code: 2,
    args: (c) => ['sweep', '--ttl', '3 days', '--kubeconfig', c.kubeconfig, '--lock-namespace', c.ns],
    says: () => /^dynamic-env sweep: --ttl: must be a duration like 300, 300s, 5m, 1h30m, 7d, got "3 days"\n$/,
  },
  {
    name: 'sweep --keep that is empty (an unset variable)', code: 2,
    args: (c) => ['sweep', '--keep', '', '--kubeconfig', c.kubeconfig, '--lock-namespace', c.ns],
    says: () => /^dynamic-env sweep: --keep lists no env; name the envs to keep, comma-separated/,
  },
  {
    name: 'sweep --keep with space-separated names', code: 2,
    args: (c) => ['sweep', '--keep', 'pr-1 pr-2', '--kubeconfig', c.kubeconfig, '--lock-namespace', c.ns],
    says: () => /^dynamic-env sweep: --keep: "pr-1 pr-2" is not an env name; separate names with commas/,
  },
  {
    name: 'sweep with neither --ttl nor --keep', code: 2,
    args: (c) => ['sweep', '--kubeconfig', c.kubeconfig],
    says: () => /sweep needs --ttl DURATION and\/or --keep ENV,ENV/,
  },
  // --- Kubeconfigs --------------------------------------------------------------------------------------------
  {
    name: 'kubeconfig: garbage bytes with the token inside', code: 2,
    args: (c) => open(c, webImage(c)).concat('--kubeconfig', c.file(Buffer.concat([garbage(5, 3000), Buffer.from(`\ntoken: ${c.token}\n`)]), 'kubeconfig')),
    says: () => /^dynamic-env open: kubeconfig \S+\.kubeconfig: cannot be read as a kubeconfig \(.*\); pass a valid file with --kubeconfig/,
  },
  {
    name: 'kubeconfig: garbage text around a real kubeconfig', code: 2,
    args: (c) => open(c, webImage(c)).concat('--kubeconfig', kubeconfigWith(c, (t) => `]] not: [yaml {{\n${t}`)),
    says: () => /^dynamic-env open: kubeconfig \S+\.kubeconfig: cannot be read as a kubeconfig \(.*\); pass a valid file with --kubeconfig/,
  },
  {
    name: 'kubeconfig: a password starting with "!" (a YAML tag) is not echoed', code: 2,
    args: (c) => open(c, webImage(c)).concat('--kubeconfig', kubeconfigWith(c, (t) => t.replace(/token: \S+/, `password: !${c.token}`))),
    says: () => /^dynamic-env open: kubeconfig \S+\.kubeconfig: cannot be read as a kubeconfig/,
  },
  {
    name: 'kubeconfig: valid YAML with no cluster, user or context', code: 2,
    args: (c) => open(c, webImage(c)).concat('--kubeconfig', c.file(`apiVersion: v1\nkind: Config\npreferences: {}\nnotes: ${c.token}\n`, 'kubeconfig')),
    says: () => /^dynamic-env open: kubeconfig \S+\.kubeconfig: the current context names no cluster with a server; set current-context or pass --context\n$/,
  },
  {
    name: 'kubeconfig: base64 of a kubeconfig instead of the YAML', code: 2,
    args: (c) => open(c, webImage(c)).concat('--kubeconfig', kubeconfigWith(c, (t) => Buffer.from(t).toString('base64'))),
    says: () => /^dynamic-env open: kubeconfig \S+\.kubeconfig: the current context names no cluster with a server/,
    secrets: (c) => [Buffer.from(readFileSync(c.kubeconfig, 'utf8')).toString('base64').slice(0, 60)],
  },
  {
    name: 'kubeconfig: current-context names a context that is not there', code: 2,
    args: (c) => open(c, webImage(c)).concat('--kubeconfig', kubeconfigWith(c, (t) => t.replace('current-context: test', 'current-context: staging'))),
    says: () => /^dynamic-env open: kubeconfig \S+\.kubeconfig: the current context names no cluster with a server; set current-context or pass --context/,
  },
  {
    name: 'kubeconfig: a server that is not a URL', code: 2,
    args: (c) => open(c, webImage(c)).concat('--kubeconfig', kubeconfigWith(c, (t) => t.replace(/server: \S+/, 'server: "cluster at hunter2-host"'))),
    says: () => /^dynamic-env open: kubeconfig \S+\.kubeconfig: cluster "test" has an invalid server URL\n$/,
    secrets: () => ['hunter2'],
  },
  {
    name: 'kubeconfig: the file does not exist', code: 2,
    args: (c) => open(c, webImage(c)).concat('--kubeconfig', join(cluster.tmp, 'no-such.kubeconfig')),
    says: () => /^dynamic-env open: kubeconfig \S+no-such\.kubeconfig: cannot be read as a kubeconfig \(no such file\)/,
  },
  {
    name: '--context that does not exist', code: 2,
    args: (c) => open(c, webImage(c), '--context', 'production'),
    says: () => /^dynamic-env open: context "production" is not in kubeconfig \S+; it has: test\n$/,
  },
  {
    name: 'close with a garbage kubeconfig', code: 2,
    args: (c) => ['close', '--env', c.env, '--kubeconfig', c.file(Buffer.concat([garbage(7, 2000), Buffer.from(c.token)]), 'kubeconfig')],
    says: () => /^dynamic-env close: kubeconfig \S+: cannot be read as a kubeconfig/,
  },
  {
    name: 'no kubeconfig anywhere', code: 2,
    args: (c) => ['status', '--env', c.env],
    says: () => /kubeconfig.*--kubeconfig/,
  },
  // --- What the cluster holds -------------------------------------------------------------------------------
  {
    name: 'a Deployment that does not exist', code: 1,
    args: (c) => open(c, `services:\n  - {namespace: ${c.ns}, deployment: nope, image: example.com/nope:pr}\n`),
    says: (c) => re`^dynamic-env open: Deployment ${c.ns}/nope: not found; check the namespace and name in the config \(kubectl get deployments -n ${c.ns}\)\n$`,
  },
  {
    name: 'a worker whose namespace does not exist', code: 1,
    args: (c) => open(c, `workers:\n  - {namespace: no-such-ns-${c.env}, deployment: web-v1, image: example.com/web:pr}\n`),
    says: (c) => re`^dynamic-env open: Deployment no-such-ns-${c.env}/web-v1: not found; check the namespace and name`,
  },
  {
    name: 'a container that does not exist', code: 1,
    args: (c) => open(c, web(c, 'containers: [{name: sidecar, image: example.com/sidecar:pr}]')),
    says: (c) => re`^dynamic-env open: Deployment ${c.ns}/web-v1 container "sidecar": no such container; the pod's containers are: web; use one of those names in the config\n$`,
  },
  {
    name: 'shorthand: --container that does not exist', code: 1,
    args: (c) => shorthand(c, { namespace: c.ns, deployment: 'web-v1', container: 'sidecar', image: 'example.com/web:pr' }),
    says: (c) => re`^dynamic-env open: Deployment ${c.ns}/web-v1 container "sidecar": no such container; the pod's containers are: web`,
  },
  {
    name: 'shorthand: no --container for a pod with two containers', code: 2, requests: 'reads',
    args: (c) => shorthand(c, { namespace: c.ns, deployment: 'duo-v1', image: 'example.com/duo:pr' }),
    says: (c) => re`^dynamic-env open: Deployment ${c.ns}/duo-v1 container override #1: the pod has 2 containers \(app, proxy\), so the override must name one`,
  },
  {
    name: 'a Deployment no Service selects', code: 1,
    args: (c) => open(c, `services:\n  - {namespace: ${c.ns}, deployment: loner-v1, image: example.com/loner:pr}\n`),
    says: (c) => re`^dynamic-env open: Deployment ${c.ns}/loner-v1: no Service in namespace ${c.ns} selects its pods, so there is no host to route; create a Service for it, or list it under workers \(cloned, never routed\)\n$`,
  },
  {
    name: 'a route without a subset', code: 1,
    args: (c) => open(c, `services:\n  - {namespace: ${c.ns}, deployment: bare-v1, image: example.com/bare:pr}\n`),
    says: (c) => re`^dynamic-env open: VirtualService ${c.ns}/bare route "default": sends traffic to bare without a subset, so baseline requests would also reach the env's pods; add a subset to the route's destination .*routing.pinUnsubsetRoutes: true`,
  },
  {
    name: 'an original without the version label', code: 1,
    args: (c) => open(c, `services:\n  - {namespace: ${c.ns}, deployment: plain, image: example.com/plain:pr}\n`),
    says: (c) => re`^dynamic-env open: Deployment ${c.ns}/plain: its pod template has no "version" label, so no subset can tell its pods from the env's; add a version label to its pod template`,
  },
  {
    name: 'routing.versionLabel that the originals do not carry', code: 1,
    args: (c) => open(c, `routing: {versionLabel: track}\n${webImage(c)}`),
    // (Its subsets select on "version", which the clone keeps: that is reported too.)
    says: (c) => re`Deployment ${c.ns}/web-v1: its pod template has no "track" label, .*or set routing.versionLabel to the label your subsets use`,
  },
  {
    name: 'a namespace where the identity may not write', code: 1,
    args: (c) => open(c, `services:\n  - {namespace: ${c.other}, deployment: web-v1, image: example.com/web:pr}\n`),
    says: (c) => re`Deployment ${c.other}/web-v1-${c.env}: this identity may not create it \(forbidden\); grant it with deploy/rbac.yaml \(a RoleBinding to dynamic-env-write in namespace ${c.other}\)`,
  },
  {
    name: '--lock-namespace where the identity may not write', code: 1,
    args: (c) => open(c, webImage(c)).concat('--lock-namespace', 'default'),
    says: (c) => re`Lease default/dynamic-env-${c.env}: this identity may not create it \(forbidden\); grant it with deploy/rbac.yaml`,
  },
  // --- The cluster changing under the run ---------------------------------------------------------------------
  {
    name: 'a Service deleted as open starts reading', code: 1,
    args: (c) => open(c, `services:\n  - {namespace: ${c.ns}, deployment: doomed-v1, image: example.com/doomed:pr}\n`),
    // The first read of the namespace's Services is held back; while it is, the Service goes.
    proxy: (c) => deleteServiceWhileHeld(c, `/api/v1/namespaces/${c.ns}/services`, 'doomed'),
    says: (c) => re`^dynamic-env open: Deployment ${c.ns}/doomed-v1: no Service in namespace ${c.ns} selects its pods`,
  },
  {
    name: 'the env changed by another run after validation, before the Lease: read and planned again under it', code: 1, requests: 'lease',
    args: (c) => open(c, `services:\n  - {namespace: ${c.ns}, deployment: doomed2-v1, image: example.com/doomed:pr}\n`),
    // Validation read the Service; while the Lease is being taken, another run gives the env a clone and the Service
    // goes. The env's clones read under the Lease differ from validation's, so open reads and plans again, and only
    // that plan can see the Service missing. (With the env's clones unchanged, validation's plan stands: no other
    // run of the env came in between.)
    proxy: (c) => changeEnvWhileLeaseHeld(c, 'doomed2'),
    says: (c) => re`^dynamic-env open: Deployment ${c.ns}/doomed2-v1: no Service in namespace ${c.ns} selects its pods`,
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Running the table

interface Outcome {
  row: Row;
  ctx: Ctx;
  username: string;
  result: CliResult;
}

/** The user's objects the rows run against, in one namespace (and one more the identities may not write). */
async function setUp(): Promise<{ ns: string; other: string }> {
  const [ns, other] = await Promise.all([cluster.namespace('bad'), cluster.namespace('bad-other')]);
  // web and api behind one VirtualService, with subsets (the harness's mesh); the same app where no one may write.
  await Promise.all([createMesh(cluster.admin, ns, { shared: ['web', 'api'] }), createMesh(cluster.admin, other, { shared: ['web'] })]);
  const routed = (app: string, extra: Parameters<typeof deployment>[2] = { labels: { app, version: 'v1' } }, subset: string | null = 'v1') => [
    deployment(ns, `${app}-v1`, extra),
    service(ns, app, { app }),
    destinationRule(ns, app, app, ['v1']),
    virtualService(ns, app, { hosts: [app], http: [{ name: 'default', route: [{ destination: { host: app, ...(subset ? { subset } : {}) } }] }] }),
  ];
  const objects = [
    // Two containers: the shorthand must name one.
    ...routed('duo', {
      labels: { app: 'duo', version: 'v1' },
      containers: [{ name: 'app', image: 'example.com/duo:1.0.0' }, { name: 'proxy', image: 'example.com/proxy:1.0.0' }],
    }),
    // A VirtualService route with no subset.
    ...routed('bare', undefined, null),
    // Deleted by the fault-proxy rows while open runs.
    ...routed('doomed'),
    ...routed('doomed2'),
    // No version label on the pods.
    deployment(ns, 'plain', { labels: { app: 'plain' } }),
    service(ns, 'plain', { app: 'plain' }),
    // No Service at all.
    deployment(ns, 'loner-v1', { labels: { app: 'loner', version: 'v1' } }),
  ];
  await Promise.all(objects.map((o) => cluster.apply(o)));
  return { ns, other };
}

async function runRow(row: Row, mesh: { ns: string; other: string }): Promise<Outcome> {
  const id = await cluster.identity([mesh.ns]);
  const token = /token: (\S+)/.exec(readFileSync(id.kubeconfig, 'utf8'))![1]!;
  const ctx: Ctx = {
    ...mesh, env: envName('bad'), kubeconfig: id.kubeconfig, token, pending: [],
    file: (content, ext = 'yaml') => {
      const path = join(cluster.tmp, `bad-input-${randomBytes(4).toString('hex')}.${ext}`);
      writeFileSync(path, content, { mode: 0o600 });
      return path;
    },
  };
  // No ~/.kube/config or $KUBECONFIG to fall back on: only what the row passes.
  const opts = { env: { HOME: cluster.tmp }, timeoutMs: 60_000 };
  if (!row.proxy) return { row, ctx, username: id.username, result: await runCli(row.args(ctx), opts) };
  const proxy = await startFaultProxy({ target: cluster.info.server, ca: cluster.info.ca, cert: cluster.info.servingCert!, key: cluster.info.servingKey! });
  try {
    const { match, delayMs } = row.proxy(ctx);
    proxy.configure({ rate: 1, kinds: ['delay'], delayMs, match });
    ctx.kubeconfig = ctx.file(kubeconfigText(proxy.url, cluster.info.ca, { token }), 'kubeconfig');
    const result = await runCli(row.args(ctx), opts);
    await Promise.all(ctx.pending);
    return { row, ctx, username: id.username, result };
  } finally {
    await proxy.stop();
  }
}

const STACK_TRACE = /\n\s+at \S.*[(:]\d+|\bat (file|node):|(Type|Reference|Range|Syntax)Error\b|\[object Object\]|\bundefined\b/;
const write = (e: AuditEvent) => WRITE_VERBS.has(e.verb) && !e.objectRef?.resource?.startsWith('selfsubject');
const describeEvent = (e: AuditEvent) => `${e.verb} ${e.objectRef?.resource} ${e.objectRef?.namespace ?? ''}/${e.objectRef?.name ?? ''} ${e.responseStatus?.code}`;

describe(`bad input: ${rows.length} cases, each a clear error with exit 1 or 2 and zero writes in the audit log`, () => {
  let mesh: { ns: string; other: string };
  const outcomes = new Map<string, Outcome>();
  const events = new Map<string, AuditEvent[]>();

  beforeAll(async () => {
    mesh = await setUp();
    for (const o of await pool(rows, 4, (row) => runRow(row, mesh))) outcomes.set(o.row.name, o);
    // One pass over the audit log for every row (it is shared by all test files and grows large).
    const users = new Set([...outcomes.values()].map((o) => o.username));
    for (const e of cluster.audit()) {
      if (!users.has(e.user.username)) continue;
      events.set(e.user.username, [...(events.get(e.user.username) ?? []), e]);
    }
  }, 120_000);

  it('has at least 40 distinct cases', () => {
    expect(rows.length).toBeGreaterThanOrEqual(40);
    expect(new Set(rows.map((r) => r.name)).size).toBe(rows.length);
  });

  it.each(rows.map((r) => [r.name, r] as const))('%s', (name) => {
    const { row, ctx, username, result: r } = outcomes.get(name)!;
    const output = `${r.stdout}${r.stderr}`;
    const seen = `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`;
    expect(r.code, seen).toBe(row.code);
    expect(r.stderr, seen).toMatch(row.says(ctx));
    if (row.not) expect(r.stderr).not.toMatch(row.not);
    // One message from the CLI, on stderr; nothing half-reported on stdout.
    expect(r.stderr).toMatch(/^dynamic-env( [a-z]+)?: \S/);
    expect(r.stdout).toBe('');
    expect(r.stderr, 'a stack trace or an internal error').not.toMatch(STACK_TRACE);
    // Not the whole secret, nor its beginning or end (a message cut short still leaks what it shows).
    for (const secret of [ctx.token, ...(row.secrets?.(ctx) ?? [])]) {
      for (const part of new Set([secret, secret.slice(0, 32), secret.slice(-32)])) {
        expect(output.includes(part), `part of a secret printed: ${part.slice(0, 12)}...`).toBe(false);
      }
    }
    if (row.maxMs) expect(r.ms).toBeLessThan(row.maxMs);

    // The audit log: what this row's identity asked the API server.
    const mine = events.get(username) ?? [];
    const requests = row.requests ?? (row.code === 2 ? 'none' : 'reads');
    if (requests === 'none') {
      expect(mine.map(describeEvent), 'refused before any request').toEqual([]);
    } else if (requests === 'reads') {
      expect(mine.filter(write).map(describeEvent), 'writes').toEqual([]);
      // The positive control: this identity's reads are in the log, so "no writes" is a real observation.
      expect(mine.some((e) => e.verb === 'list' && e.objectRef?.resource === 'deployments')).toBe(true);
    } else {
      // The Lease is taken and given back; no clone, DestinationRule or VirtualService is written.
      const writes = mine.filter(write);
      expect(writes.filter((e) => e.objectRef?.resource !== 'leases').map(describeEvent), 'writes besides the Lease').toEqual([]);
      expect(writes.map((e) => `${e.verb} ${e.objectRef?.name}`)).toEqual([`create dynamic-env-${ctx.env}`, `delete dynamic-env-${ctx.env}`]);
    }
  });

  it('nothing of dynamic-env is left in the namespaces, not even a Lease', async () => {
    const left = await envObjects(cluster.admin, [mesh.ns, mesh.other]);
    expect(isEmpty(left), describeObjects(left)).toBe(true);
  });

  it('control: sweep takes the ages the README shows (--ttl 72h, --ttl 7d), in a dry run that writes nothing', async () => {
    const id = await cluster.identity([mesh.ns]);
    for (const ttl of ['72h', '7d']) {
      const r = await runCli(['sweep', '--ttl', ttl, '--dry-run', '--kubeconfig', id.kubeconfig, '--lock-namespace', mesh.ns, '--output', 'json']);
      expect(r.code, r.stderr).toBe(0);
      expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
    }
    expect(cluster.writes(id.username).map(describeEvent)).toEqual([]);
  });

  it('control: an identity set up the same way with valid input is seen writing, and close removes it all', async () => {
    const id = await cluster.identity([mesh.ns]);
    const env = envName('good');
    const flags = ['--kubeconfig', id.kubeconfig, '--lock-namespace', mesh.ns];
    const opened = await runCli(['open', '--env', env, '--namespace', mesh.ns, '--deployment', 'web-v1', '--image', 'example.com/bookinfo/web:pr', '--no-wait', ...flags]);
    expect(opened.code, opened.stderr).toBe(0);
    const closed = await runCli(['close', '--env', env, ...flags]);
    expect(closed.code, closed.stderr).toBe(0);
    const writes = cluster.writes(id.username).map(describeEvent);
    expect(writes).toEqual(expect.arrayContaining([
      `create deployments ${mesh.ns}/web-v1-${env} 201`,
      `create destinationrules ${mesh.ns}/dynamic-env-${env}-web 201`,
      `update virtualservices ${mesh.ns}/mesh 200`,
      `create leases ${mesh.ns}/dynamic-env-${env} 201`,
    ]));
    const left = await envObjects(cluster.admin, [mesh.ns]);
    expect(isEmpty(left), describeObjects(left)).toBe(true);
  });
});
