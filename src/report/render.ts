// One renderer for the three places a report is shown: the sticky PR comment and the job summary (markdown, the
// same body) and the CLI (plain text). Both outputs are built from the same facts (`facts()` below) so they never
// disagree about what the env is or how to reach it.
//
// Everything under `services[]`/`workers[]` can come from the cluster (reasons, images), so markdown escapes every
// such string and the text output strips control characters. The report carries nothing secret; keep it so.

import type { EnvReport, EnvState, WorkloadReport } from './model.js';
import type { SweepResult } from '../commands/status.js';
import { RESPONSE_ENV_HEADER, leaseName } from '../plan/names.js';

type CloseReason = NonNullable<NonNullable<EnvReport['context']>['closeReason']>;

/** Longest cluster-sourced string shown (reasons can be whole event logs). */
const MAX_REASON = 600;

const PROPAGATE =
  'Apps must propagate the header on their outgoing calls so the whole request chain reaches the env; ' +
  'OpenTelemetry-instrumented apps forward `baggage` for free.';

const FAILED_NOTE = 'The environment failed to start (see **Not ready** below); fix it and push again.';

const DEPLOYING_NOTE = 'The clones are written and rolling out; the header reaches them once they are ready, and this report is updated then.';

const CLOSE_REASONS: Record<CloseReason, string> = {
  merged: 'the pull request was merged',
  closed: 'the pull request was closed without merging',
  swept: 'the sweep found it stale (its pull request is closed or it outlived its TTL)',
  unlabeled: 'the gate label was removed from the pull request',
  draft: 'the pull request was converted to a draft (skip-drafts is on)',
  manual: 'it was closed by hand',
};

const ICONS: Record<EnvState, string> = {
  ready: '🟢',
  progressing: '🟡',
  degraded: '🟠',
  failed: '🔴',
  deploying: '⏳',
  absent: '⚪',
  closed: '⚫',
  skipped: '⏭️',
};

// ---------------------------------------------------------------------------------------------------------------
// Shared facts

interface Facts {
  env: string;
  state: EnvState;
  headerLine: string;
  baggageLine: string | null;
  /** The first reach line: the example URL (`environment-url`) or the first service's. */
  curl: string;
  /** One per service with a URL: where it answers inside the mesh and the line to try it. */
  reach: { service: string; url: string; curl: string }[];
  responseHeaderLine: string;
  workloads: WorkloadReport[];
  /** Workloads that are not ready, with the reason (or a generic one). */
  problems: { workload: WorkloadReport; reason: string }[];
  commit?: string;
  headCommit?: string;
  commitUrl?: string;
  updatedAt?: string;
  runUrl?: string;
  pr?: number;
  repo?: string;
  closed: boolean;
  closeReason?: CloseReason;
  skipReason?: string;
  removed?: NonNullable<EnvReport['removed']>;
  warnings: string[];
}

function facts(report: EnvReport): Facts {
  const headerLine = `${report.header}: ${report.headerValue}`;
  const workloads = [...report.services, ...report.workers];
  const firstHost = report.services.flatMap((s) => s.hosts)[0];
  const url = report.context?.exampleUrl ?? report.services.find((s) => s.url)?.url ?? (firstHost ? `http://${firstHost}/` : 'http://<service>/');
  // -i shows the response headers, among them the one that names the env that answered.
  const curlTo = (u: string) => `curl -i -H ${shellQuote(headerLine)} ${u.startsWith('http://<') ? u : shellWord(u)}`;
  const curl = curlTo(url);
  const reach = report.services.flatMap((s) => {
    const u = s.url ?? (s.hosts[0] ? `http://${s.hosts[0]}/` : undefined);
    return u ? [{ service: `${s.namespace}/${s.deployment}`, url: u, curl: curlTo(u) }] : [];
  });
  const problems = workloads
    .filter((w) => w.state !== 'ready')
    .map((workload) => ({ workload, reason: truncate(workload.reason ?? defaultReason(workload), MAX_REASON) }));
  const ctx = report.context ?? {};
  return {
    env: report.env,
    state: report.state,
    headerLine,
    baggageLine: report.baggage === null ? null : `baggage: ${report.baggage}`,
    curl,
    reach,
    responseHeaderLine: `${RESPONSE_ENV_HEADER}: ${report.env}`,
    workloads,
    problems,
    commit: ctx.commit,
    headCommit: ctx.headCommit,
    commitUrl: ctx.commit && ctx.repo ? commitUrl(ctx.serverUrl ?? 'https://github.com', ctx.repo, ctx.commit) : undefined,
    updatedAt: ctx.updatedAt,
    runUrl: ctx.runUrl,
    pr: ctx.pr,
    repo: ctx.repo,
    closed: report.state === 'closed' || report.removed !== undefined,
    closeReason: ctx.closeReason,
    skipReason: ctx.skipReason,
    removed: report.removed,
    warnings: (report.warnings ?? []).map((w) => truncate(w, MAX_REASON)),
  };
}

/** The commit's page, only for a well-formed repository and SHA (the link goes into markdown unescaped). */
function commitUrl(server: string, repo: string, sha: string): string | undefined {
  if (!/^[0-9a-f]{7,64}$/i.test(sha) || !/^[\w.-]+\/[\w.-]+$/.test(repo) || !isHttpUrl(server)) return undefined;
  return `${server.replace(/\/+$/, '').replace(/[()\s]/g, encodeURIComponent)}/${repo}/commit/${sha}`;
}

/** A commit as people read it: its first 7 characters (as GitHub shows it). */
export function shortSha(sha: string): string {
  return /^[0-9a-f]{40,64}$/i.test(sha) ? sha.slice(0, 7) : sha;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** An ISO time as people read it, in UTC: `2 Dec 2026, 16:40 UTC`; anything else as it is. */
export function readableTime(iso: string): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const d = new Date(t);
  const hh = String(d.getUTCHours()).padStart(2, '0');
  const mm = String(d.getUTCMinutes()).padStart(2, '0');
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}, ${hh}:${mm} UTC`;
}

function defaultReason(w: WorkloadReport): string {
  switch (w.state) {
    case 'progressing':
      return `${w.replicas.ready} of ${w.replicas.desired} replicas ready`;
    case 'degraded':
      return `only ${w.replicas.ready} of ${w.replicas.desired} replicas ready`;
    default:
      return 'no reason reported';
  }
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** POSIX single-quoting: `it's` -> `'it'\''s'`. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Leaves plain URLs readable and quotes the rest (`&`, `?`, `*`, spaces… would be read by the shell). */
function shellWord(s: string): string {
  return /^[A-Za-z0-9._~:/@%+=,-]+$/.test(s) ? s : shellQuote(s);
}

// ---------------------------------------------------------------------------------------------------------------
// Markdown

/**
 * Escapes text for inline markdown: markdown-significant ASCII punctuation is backslash-escaped (valid
 * CommonMark for any ASCII punctuation), so cluster text can neither format, link, inject HTML, typeset math nor
 * split a table cell. Newlines become `<br>` (the one piece of HTML we emit); other control characters are dropped.
 */
export function escapeMarkdown(text: string): string {
  return stripControl(text.replace(/\r\n?/g, '\n'), true)
    .replace(/[\\`*_{}[\]<>+!|~&$]/g, '\\$&')
    // A zero-width space keeps `@user` and `#123` from mentioning people or linking issues.
    .replace(/[@#]/g, '$&\u200b')
    .replace(/\n/g, '<br>');
}

/** Inline code that survives backticks, pipes (inside tables) and newlines in its content. */
export function markdownCode(text: string, inTable = false): string {
  let s = stripControl(text.replace(/\r\n?|\n/g, ' '), false);
  if (inTable) s = s.replaceAll('|', '\\|');
  if (s === '') return '';
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((run) => run.length));
  const ticks = '`'.repeat(longest + 1);
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${s}${pad}${ticks}`;
}

/** A fenced block whose fence is longer than any backtick run inside. */
function fenced(lang: string, content: string): string {
  const longest = Math.max(0, ...(content.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${lang}\n${content}\n${fence}`;
}

function stripControl(s: string, keepNewline: boolean): string {
  // C0 (except \n when asked, \t becomes a space), DEL and C1 controls; ESC sequences lose their ESC.
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => (c === '\n' && keepNewline ? c : c === '\t' ? ' ' : ''));
}

function mdState(state: EnvState): string {
  return `${ICONS[state]} ${state}`;
}

function mdRef(ref: { name: string; namespace: string }): string {
  return markdownCode(`${ref.namespace}/${ref.name}`);
}

export function renderMarkdown(report: EnvReport): string {
  const f = facts(report);
  const out: string[] = [];
  const title = `### ${ICONS[f.state]} Dynamic environment ${markdownCode(f.env)}: ${f.state}`;
  out.push(title, '');
  if (f.commit && f.headCommit && f.headCommit !== f.commit) {
    out.push(`> [!NOTE]\n> This describes commit ${markdownCode(shortSha(f.commit))}, not the pull request's head ${markdownCode(shortSha(f.headCommit))}: a newer run updates it.`, '');
  }

  if (f.closed) {
    out.push(...markdownClosed(f), '');
  } else if (f.state === 'skipped') {
    out.push(`Skipped${f.skipReason ? `: ${escapeMarkdown(f.skipReason)}` : '.'}`, '');
  } else if (f.state === 'absent') {
    out.push(`No environment ${markdownCode(f.env)} exists.`, '');
  } else if (f.state === 'failed') {
    // Open adds no route to a failed clone: no curl line that would only reach the baseline.
    out.push(`${FAILED_NOTE} Requests with ${markdownCode(f.headerLine)} get no answer from it.`, '');
  } else if (f.state === 'deploying') {
    out.push(`${f.commit ? `Deploying commit ${markdownCode(shortSha(f.commit))}. ` : ''}${DEPLOYING_NOTE}`, '');
  } else {
    out.push(`**Reach it** by sending the header ${markdownCode(f.headerLine)}${f.baggageLine ? ` (or the W3C baggage member ${markdownCode(f.baggageLine)})` : ''}:`, '');
    if (f.reach.length > 0) {
      out.push('| Service | URL | Try it (from a pod in the mesh) |', '|---|---|---|');
      for (const r of f.reach) out.push(`| ${escapeMarkdown(r.service)} | ${markdownCode(r.url, true)} | ${markdownCode(r.curl, true)} |`);
      out.push('');
    }
    if (f.reach.length === 0 || f.curl !== f.reach[0]!.curl) out.push(fenced('sh', f.curl), '');
    out.push(`The response header ${markdownCode(f.responseHeaderLine)} confirms that the env's version answered; without it, the baseline did.`, '');
    out.push(PROPAGATE, '');
  }

  if (f.workloads.length > 0) {
    out.push('| Role | Namespace | Deployment | Image | Clone | Ready | State |');
    out.push('|---|---|---|---|---|---|---|');
    for (const w of f.workloads) {
      const images = w.images.map((i) => markdownCode(i, true)).join('<br>');
      out.push(
        `| ${[
          w.role,
          escapeMarkdown(w.namespace),
          escapeMarkdown(w.deployment),
          images || '—',
          escapeMarkdown(w.clone),
          `${w.replicas.ready}/${w.replicas.desired}`,
          mdState(w.state),
        ].join(' | ')} |`,
      );
    }
    out.push('');
  }

  if (f.problems.length > 0 && f.state !== 'deploying') {
    out.push('**Not ready**', '');
    for (const p of f.problems) {
      out.push(`- ${ICONS[p.workload.state]} ${mdRef({ namespace: p.workload.namespace, name: p.workload.clone })} (${p.workload.state}): ${escapeMarkdown(p.reason)}`);
    }
    out.push('');
  }

  if (f.warnings.length > 0) {
    out.push('**Warnings**', '');
    for (const w of f.warnings) out.push(`- ${escapeMarkdown(w)}`);
    out.push('');
  }

  const footer: string[] = [];
  if (f.commit) footer.push(`Commit ${f.commitUrl ? `[${markdownCode(shortSha(f.commit))}](${f.commitUrl})` : markdownCode(shortSha(f.commit))}`);
  if (f.updatedAt) footer.push(`updated ${escapeMarkdown(readableTime(f.updatedAt))}`);
  if (f.runUrl && isHttpUrl(f.runUrl)) footer.push(`[run](${f.runUrl.replace(/[()\s]/g, encodeURIComponent)})`);
  if (footer.length > 0) out.push(`<sub>${footer.join(' · ')}</sub>`);

  return `${out.join('\n').trimEnd()}\n`;
}

function markdownClosed(f: Facts): string[] {
  const lines: string[] = [];
  const when = f.updatedAt ? ` on ${escapeMarkdown(readableTime(f.updatedAt))}` : '';
  const why = f.closeReason ? ` because ${CLOSE_REASONS[f.closeReason]}` : '';
  lines.push(`This environment was torn down${when}${why}.`);
  const r = f.removed;
  if (!r) return lines;
  const total = r.clones.length + r.destinationRules.length + r.virtualServices.length + r.routes;
  if (total === 0) {
    lines.push('', 'Nothing was left to remove.');
    return lines;
  }
  lines.push('', 'Removed:', '');
  if (r.clones.length) lines.push(`- ${plural(r.clones.length, 'clone')}: ${r.clones.map(mdRef).join(', ')}`);
  if (r.destinationRules.length)
    lines.push(`- ${plural(r.destinationRules.length, 'DestinationRule')}: ${r.destinationRules.map(mdRef).join(', ')}`);
  if (r.virtualServices.length)
    lines.push(`- ${plural(r.virtualServices.length, 'VirtualService')}: ${r.virtualServices.map(mdRef).join(', ')}`);
  if (r.routes) lines.push(`- ${plural(r.routes, 'route')} in shared VirtualServices`);
  return lines;
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Text

/** Plain text for a terminal: no markdown, no control characters from the cluster, columns aligned. */
/**
 * The job summary of a sweep: one row per env, what was done and why. `wouldClose`: an env a dry run would have
 * closed. Markdown, not core.summary.addHeading: its <h3> starts an HTML block that swallows a table on the next line.
 */
export function renderSweepMarkdown(results: SweepResult[], wouldClose: (env: string) => boolean): string {
  if (results.length === 0) return '### Dynamic environments: sweep\n\nNo environments in the cluster.\n';
  const result = (r: SweepResult) => (r.error ? `failed: ${escapeMarkdown(r.error)}` : r.closed ? 'closed' : wouldClose(r.env) ? 'would close' : 'kept');
  const lines = results.map((r) => `| ${escapeMarkdown(r.env)} | ${result(r)} | ${escapeMarkdown(r.reason)} |`);
  return `### Dynamic environments: sweep\n\n| Env | Result | Why |\n|---|---|---|\n${lines.join('\n')}\n`;
}

export function renderText(report: EnvReport): string {
  const f = facts(report);
  const t = (s: string) => stripControl(s.replace(/\r\n?|\n/g, ' '), false);
  const out: string[] = [];
  out.push(`Dynamic environment ${t(f.env)}: ${f.state}`);

  if (f.closed) {
    const when = f.updatedAt ? ` on ${t(readableTime(f.updatedAt))}` : '';
    const why = f.closeReason ? ` because ${CLOSE_REASONS[f.closeReason]}` : '';
    out.push(`Torn down${when}${why}.`);
    const r = f.removed;
    if (r) {
      const rows: string[][] = [];
      const refs = (xs: { name: string; namespace: string }[]) => xs.map((x) => t(`${x.namespace}/${x.name}`)).join(', ');
      if (r.clones.length) rows.push(['clones', refs(r.clones)]);
      if (r.destinationRules.length) rows.push(['destination rules', refs(r.destinationRules)]);
      if (r.virtualServices.length) rows.push(['virtual services', refs(r.virtualServices)]);
      if (r.routes) rows.push(['routes', String(r.routes)]);
      if (rows.length === 0) out.push('Nothing was left to remove.');
      else out.push('Removed:', ...align(rows).map((l) => `  ${l}`));
    }
  } else if (f.state === 'skipped') {
    out.push(`Skipped${f.skipReason ? `: ${t(f.skipReason)}` : '.'}`);
  } else if (f.state === 'absent') {
    out.push(`No environment ${t(f.env)} exists.`);
  } else if (f.state === 'failed') {
    out.push(`${FAILED_NOTE.replaceAll('*', '')} Requests with "${t(f.headerLine)}" get no answer from it.`);
  } else if (f.state === 'deploying') {
    out.push(DEPLOYING_NOTE);
  } else {
    out.push('', 'Reach it:');
    const rows = [['header', t(f.headerLine)]];
    if (f.baggageLine) rows.push(['baggage', t(f.baggageLine)]);
    if (f.reach.length === 0 || f.curl !== f.reach[0]!.curl) rows.push(['curl', t(f.curl)]);
    for (const r of f.reach) rows.push([t(r.service), t(r.curl)]);
    rows.push(['answered by', `the response header "${t(f.responseHeaderLine)}" (absent: the baseline answered)`]);
    out.push(...align(rows).map((l) => `  ${l}`));
    out.push(`  ${PROPAGATE.replaceAll('`', '')}`);
  }

  if (f.workloads.length > 0) {
    const rows = [['ROLE', 'NAMESPACE', 'DEPLOYMENT', 'IMAGE', 'CLONE', 'READY', 'STATE']];
    for (const w of f.workloads) {
      rows.push([
        w.role,
        t(w.namespace),
        t(w.deployment),
        w.images.map(t).join(', ') || '-',
        t(w.clone),
        `${w.replicas.ready}/${w.replicas.desired}`,
        w.state,
      ]);
    }
    out.push('', ...align(rows));
  }

  if (f.problems.length > 0) {
    out.push('', 'Not ready:');
    for (const p of f.problems) out.push(`  ${p.workload.state}  ${t(`${p.workload.namespace}/${p.workload.clone}`)}: ${t(p.reason)}`);
  }
  if (f.warnings.length > 0) {
    out.push('', 'Warnings:');
    for (const w of f.warnings) out.push(`  ${t(w)}`);
  }

  const footer: string[][] = [];
  if (f.commit) footer.push(['commit', t(f.commit)]);
  if (f.headCommit && f.commit && f.headCommit !== f.commit) footer.push(['pr head', `${t(f.headCommit)} (newer than this report)`]);
  if (f.updatedAt) footer.push(['updated', t(readableTime(f.updatedAt))]);
  if (f.runUrl) footer.push(['run', t(f.runUrl)]);
  // Where a run that waits for this env's lock waits (the PR comment leaves it out: it is for operators).
  if (report.lockNamespace) footer.push(['lease', t(`${report.lockNamespace}/${leaseName(report.env)}`)]);
  if (footer.length > 0) out.push('', ...align(footer));
  return `${out.join('\n')}\n`;
}

/** Pads every column but the last to its widest cell (by code points). */
function align(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - [...cell].length)))
      .join('  ')
      .trimEnd(),
  );
}
