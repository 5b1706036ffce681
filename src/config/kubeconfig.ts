// The action's `kubeconfig` input: raw YAML, JSON or base64 of either, written to a 0600 file for the kube client.
// Every credential in it is registered as a secret first (the runner then replaces it by *** wherever it is
// printed), so nothing later can leak it: not an error message quoting the file, not a debug log of a request.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
// js-yaml, the parser @kubernetes/client-node reads the file with: the credentials found are those the client will
// use, and the action loads one YAML parser before its first request, not two (`yaml` only for a config file).
import { load } from 'js-yaml';
import { usageError } from '../errors.js';

/** Registers a value the runner must hide (core.setSecret in the action). */
export type Mask = (secret: string) => void;

/** Keys of `users[].user` whose value is a credential. */
const USER_SECRETS = ['token', 'client-key-data', 'client-certificate-data', 'password'] as const;

/** Flags of an exec plugin whose value is a credential (`--token=x` or `--token x`). */
const SECRET_FLAG = /^--?[\w-]*(token|secret|password|passwd|key|credential)[\w-]*$/i;
/** An argument that looks like a credential on its own: a JWT, or a long run of base64/hex/url-safe characters. */
const SECRET_LOOKING = /^(ey[\w-]+\.[\w-]+\.[\w-]*|[A-Za-z0-9+/_=-]{32,})$/;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : typeof v === 'number' ? String(v) : undefined);

/**
 * Every credential in a parsed kubeconfig: per user the token, client key and certificate data, password, the
 * values of its exec plugin's env and the arguments that look secret, and every value of its auth-provider config;
 * per cluster and user, the password of a proxy URL. Certificate authorities and server names are public.
 */
export function kubeconfigCredentials(config: unknown): string[] {
  const found: string[] = [];
  const add = (v: unknown) => {
    const s = text(v);
    if (s) found.push(s.trim());
  };
  const proxyPassword = (url: unknown) => {
    const s = text(url);
    if (!s) return;
    try {
      const u = new URL(s);
      if (u.password) add(decodeURIComponent(u.password));
    } catch {
      /* not a URL: nothing to find */
    }
  };
  const root = obj(config) ?? {};
  for (const entry of list(root.users)) {
    const user = obj(obj(entry)?.user);
    if (!user) continue;
    for (const key of USER_SECRETS) add(user[key]);
    proxyPassword(user['proxy-url']);
    const exec = obj(user.exec);
    for (const e of list(exec?.env)) add(obj(e)?.value);
    const args = list(exec?.args).map((a) => text(a) ?? '');
    args.forEach((arg, i) => {
      const eq = /^(--?[\w-]+)=(.+)$/.exec(arg);
      if (eq && SECRET_FLAG.test(eq[1]!)) add(eq[2]);
      else if (SECRET_FLAG.test(arg) && args[i + 1] && !args[i + 1]!.startsWith('-')) add(args[i + 1]);
      else if (SECRET_LOOKING.test(arg)) add(arg);
    });
    for (const value of Object.values(obj(obj(user['auth-provider'])?.config) ?? {})) add(value);
  }
  for (const entry of list(root.clusters)) proxyPassword(obj(obj(entry)?.cluster)?.['proxy-url']);
  return [...new Set(found)];
}

/** A kubeconfig as YAML (a top-level key of one) or as JSON (`kubectl config view -o json`). */
function looksLikeKubeconfig(s: string): boolean {
  return /^\s*(apiVersion|kind|clusters|users|contexts|current-context)\s*:/m.test(s)
    || /^\s*\{[\s\S]*"(apiVersion|clusters)"\s*:/.test(s);
}

/**
 * Writes the input to `<dir>/kubeconfig` (0600) and returns its path; `dir` is the caller's to remove. The input
 * as given, the decoded text and each credential in it are masked before anything else happens.
 */
export function writeKubeconfig(value: string, dir: string, mask: Mask): string {
  let content = value;
  if (!looksLikeKubeconfig(value)) {
    const decoded = Buffer.from(value.replace(/\s+/g, ''), 'base64').toString('utf8');
    if (!looksLikeKubeconfig(decoded)) {
      throw usageError('input "kubeconfig": neither a kubeconfig (YAML) nor base64 of one; pass the file content, e.g. ${{ secrets.KUBECONFIG }}');
    }
    mask(value.trim());
    content = decoded;
  }
  mask(content);
  let parsed: unknown;
  try {
    parsed = load(content);
  } catch {
    // The kube client says what is wrong with it (without quoting it); nothing more to find here.
    parsed = undefined;
  }
  for (const secret of kubeconfigCredentials(parsed)) mask(secret);
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

/**
 * Why there is no kubeconfig, in the workflow's terms: the input (from the secret) is empty and nothing else
 * provides one. The usual causes come first.
 */
export function missingKubeconfigError(): Error {
  return usageError(
    'input "kubeconfig" is empty and $KUBECONFIG is not set, so there is no cluster to talk to. Likely causes: the ' +
    'repository secret KUBECONFIG is not set (Settings → Secrets and variables → Actions), or this run gets no ' +
    'secrets: pull requests from forks and from Dependabot run without them (skip those jobs with ' +
    '`if: github.event.pull_request.head.repo.full_name == github.repository && github.actor != \'dependabot[bot]\'`). ' +
    'Pass it as `kubeconfig: ${{ secrets.KUBECONFIG }}`, or set $KUBECONFIG in an earlier step (a cloud login action).',
  );
}
