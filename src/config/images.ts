// Images: the reference grammar, the placeholders a pull request fills in (`{sha}`, `{short-sha}`, `{pr}`, `{env}`,
// `{branch}`), and the `images` lines (`[namespace/]deployment[/container]=image`) of the action input and the CLI
// flag. Pure.

import { DNS_LABEL_RE, DNS_SUBDOMAIN_RE } from './names.js';
import { suggestKey } from './issues.js';

// The distribution/reference grammar: [domain[:port]/]path[:tag][@digest].
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const IMAGE_RE = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`);
/** distribution/reference NameTotalLengthMax: the name (domain and path), without tag and digest. */
const MAX_NAME = 255;
const MAX_TAG = 128;

const WHITESPACE_OR_CONTROL_RE = /[\s\u0000-\u001f\u007f]/;

const quoted = (v: string): string => JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);

/** The part of a reference that breaks the grammar, in words (only called for a reference that does not match). */
function whatIsWrong(ref: string): string {
  const at = ref.indexOf('@');
  const beforeDigest = at >= 0 ? ref.slice(0, at) : ref;
  if (at >= 0 && !new RegExp(`^${DIGEST}$`).test(ref.slice(at + 1))) {
    return 'the digest after "@" must be algorithm:hex, e.g. sha256: and 64 hex digits';
  }
  const lastSlash = beforeDigest.lastIndexOf('/');
  const colon = beforeDigest.lastIndexOf(':');
  const hasTag = colon > lastSlash;
  const name = hasTag ? beforeDigest.slice(0, colon) : beforeDigest;
  const tag = hasTag ? beforeDigest.slice(colon + 1) : undefined;
  if (tag !== undefined) {
    if (tag.length > MAX_TAG) return `the tag must be at most ${MAX_TAG} characters, got ${tag.length}`;
    if (!new RegExp(`^${TAG}$`).test(tag)) {
      return `the tag ${quoted(tag)} must start with a letter, digit or "_" and hold only letters, digits, "_", "." and "-"`;
    }
  }
  const parts = name.split('/');
  const path = parts.length > 1 && /[.:]|^localhost$/.test(parts[0]!) ? parts.slice(1) : parts;
  const bad = path.find((p) => !new RegExp(`^${PATH_COMPONENT}$`).test(p));
  if (bad !== undefined && /[A-Z]/.test(bad)) return `the repository must be lower case, got ${quoted(bad)}`;
  if (bad !== undefined) {
    return `the repository part ${quoted(bad)} must be lowercase letters and digits, separated by ".", "_", "__" or "-"`;
  }
  return 'use [registry[:port]/]repository[:tag][@sha256:digest] with a lowercase repository';
}

/**
 * Why `ref` is not a valid image reference (the distribution/reference grammar), or null. `shown` is how messages
 * quote it (the template, when `ref` has sample values in its placeholders).
 */
export function imageReferenceProblem(ref: string, shown = ref): string | null {
  if (ref === '') return 'is empty; give a reference like registry.example.com/team/app:tag';
  if (WHITESPACE_OR_CONTROL_RE.test(ref)) return `must not contain whitespace or control characters, got ${quoted(shown)}`;
  if (!IMAGE_RE.test(ref)) return `${quoted(shown)} is not a valid image reference: ${whatIsWrong(ref)}`;
  const name = ref.split('@')[0]!.replace(/:[^/]*$/, '');
  if (name.length > MAX_NAME) return `the repository name (registry and path) must be at most ${MAX_NAME} characters, got ${name.length}`;
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Placeholders

export const PLACEHOLDERS = ['sha', 'short-sha', 'pr', 'env', 'branch'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type PlaceholderValues = Partial<Record<Placeholder, string>>;

const PLACEHOLDER_RE = /\{([^{}]*)\}/g;
const PLACEHOLDER_LIST = '{sha}, {short-sha}, {pr}, {env} or {branch}';
/** Fits anywhere in a reference (a path component, a tag): checks the rest of an image before the values are known. */
const SAMPLE = 'x0';

const isPlaceholder = (name: string): name is Placeholder => (PLACEHOLDERS as readonly string[]).includes(name);

/** Why an image template is wrong whatever the values (an unknown placeholder, a broken reference), or null. */
export function imageTemplateProblem(template: string): string | null {
  for (const [, name] of template.matchAll(PLACEHOLDER_RE)) {
    if (isPlaceholder(name!)) continue;
    const suggestion = suggestKey(name!, PLACEHOLDERS);
    return `unknown placeholder {${name}} in ${quoted(template)}; ${suggestion ? `did you mean {${suggestion}}? ` : ''}the placeholders are ${PLACEHOLDER_LIST}`;
  }
  return imageReferenceProblem(template.replace(PLACEHOLDER_RE, SAMPLE), template);
}

/** The image with its placeholders filled in, or the placeholders it uses that have no value in this run. */
export function fillImage(template: string, values: PlaceholderValues): { image: string } | { missing: Placeholder[] } {
  const missing = new Set<Placeholder>();
  const image = template.replace(PLACEHOLDER_RE, (whole, name: string) => {
    if (!isPlaceholder(name)) return whole;
    const value = values[name];
    if (value === undefined) missing.add(name);
    return value ?? whole;
  });
  return missing.size > 0 ? { missing: [...missing] } : { image };
}

/** The placeholder values of a run: `{short-sha}` from `{sha}`, `{branch}` made a valid tag. */
export function placeholderValues(o: { sha?: string; pr?: number; env?: string; branch?: string }): PlaceholderValues {
  const values: PlaceholderValues = {};
  if (o.sha) {
    values.sha = o.sha;
    values['short-sha'] = o.sha.slice(0, 7);
  }
  if (o.pr !== undefined) values.pr = String(o.pr);
  if (o.env) values.env = o.env;
  if (o.branch) values.branch = branchTag(o.branch);
  return values;
}

/**
 * A branch name as a Docker tag (as docker/metadata-action does): every character other than A-Z, a-z, 0-9, "_",
 * "." and "-" becomes "-", leading "." and "-" go, at most 128 characters. `feature/Login` -> `feature-Login`.
 */
export function branchTag(branch: string): string {
  return branch.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[.-]+/, '').slice(0, MAX_TAG);
}

// ---------------------------------------------------------------------------------------------------------------
// `images` lines

/** One `[namespace/]deployment[/container]=image` line. */
export interface ImageLine {
  namespace?: string;
  deployment: string;
  container?: string;
  /** Still with its placeholders. */
  image: string;
  /** How messages name the line: `input "images" line 3`, `--images "web=..."`. */
  source: string;
}

/**
 * Parses `images` lines: `deployment=image`, `namespace/deployment=image` or `namespace/deployment/container=image`
 * (two parts are always namespace/deployment; a container needs all three). Blank lines and `#` comments are
 * skipped. `source(n, line)` names line n (1-based) in messages. Every problem is returned, none thrown.
 */
export function parseImageLines(text: string, source: (n: number, line: string) => string): { lines: ImageLine[]; problems: string[] } {
  const lines: ImageLine[] = [];
  const problems: string[] = [];
  const targets = new Map<string, string>();
  text.split('\n').forEach((rawLine, i) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = source(i + 1, line);
    const eq = line.indexOf('=');
    if (eq < 0) {
      problems.push(`${where}: must be [namespace/]deployment[/container]=image, e.g. shop/web=ghcr.io/acme/web:{sha}; got ${quoted(line)}`);
      return;
    }
    const target = line.slice(0, eq).trim();
    const image = line.slice(eq + 1).trim();
    const parts = target.split('/');
    if (parts.length > 3 || parts.some((p) => p === '')) {
      problems.push(`${where}: ${quoted(target)} before "=" must be deployment, namespace/deployment or namespace/deployment/container`);
      return;
    }
    const [namespace, deployment, container] = parts.length === 1 ? [undefined, parts[0]!, undefined] : [parts[0], parts[1]!, parts[2]];
    const own: string[] = [];
    if (namespace !== undefined && (namespace.length > 63 || !DNS_LABEL_RE.test(namespace))) {
      own.push(`namespace ${quoted(namespace)} must be a lowercase DNS label of at most 63 characters`);
    }
    if (deployment.length > 253 || !DNS_SUBDOMAIN_RE.test(deployment)) {
      own.push(`deployment ${quoted(deployment)} must be a lowercase DNS subdomain of at most 253 characters`);
    }
    if (container !== undefined && (container.length > 63 || !DNS_LABEL_RE.test(container))) {
      own.push(`container ${quoted(container)} must be a lowercase DNS label of at most 63 characters`);
    }
    const imageProblem = imageTemplateProblem(image);
    if (imageProblem) own.push(`image ${imageProblem}`);
    if (own.length > 0) {
      problems.push(...own.map((p) => `${where}: ${p}`));
      return;
    }
    const key = `${namespace ?? ''}/${deployment}/${container ?? ''}`;
    const first = targets.get(key);
    if (first !== undefined) {
      problems.push(`${where}: sets the image of ${target} again (also ${first}); keep one line`);
      return;
    }
    targets.set(key, where);
    lines.push({
      ...(namespace !== undefined ? { namespace } : {}),
      deployment,
      ...(container !== undefined ? { container } : {}),
      image,
      source: where,
    });
  });
  return { lines, problems };
}
