// The CLI's plain-text views besides the env report (render.ts): the changes a plan makes, the env list, and the
// lines of a sweep and a heal.
import type { Change } from '../commands/open.js';
import type { EnvSummary, SweepResult } from '../commands/status.js';
import type { Orphan } from '../plan/close.js';
import type { HealResult } from '../commands/heal.js';

export function renderChanges(changes: Change[]): string {
  const real = changes.filter((c) => c.action !== 'unchanged');
  if (real.length === 0) return 'No changes: the cluster already matches.\n';
  return real.map((c) => `  ${c.action.padEnd(7)} ${c.kind} ${c.namespace}/${c.name}${c.detail ? ` (${c.detail})` : ''}`).join('\n') + '\n';
}

/** Orphans, one line each: after the table in text, on stderr with --output json/yaml (that output stays the list). */
export const orphanLines = (orphans: Orphan[]): string[] => orphans.map((o) => `orphan: ${o.message}`);

/** `list`: a column-aligned table of the envs, then the orphans. */
export function renderEnvList(envs: EnvSummary[], orphans: Orphan[]): string {
  const lines = orphanLines(orphans);
  const table = envs.length === 0 ? 'No environments.\n'
    : ['ENV  STATE  SERVICES  WORKERS  PR  OPENED  LEASE IN', ...envs.map((e) => `${e.env}  ${e.state}  ${e.services}  ${e.workers}  ${e.pr ?? '-'}  ${e.openedAt ?? '-'}  ${e.lockNamespace ?? '-'}`)]
      .map((l) => l.split('  ')).map((cols, _i, all) => cols.map((c, j) => c.padEnd(Math.max(...all.map((r) => (r[j] ?? '').length)))).join('  ').trimEnd()).join('\n') + '\n';
  return table + (lines.length ? `\nOrphans (dynamic-env sweep removes them):\n${lines.map((l) => `  ${l}`).join('\n')}\n` : '');
}

export function renderSweep(results: SweepResult[], dryRun: boolean): string {
  if (results.length === 0) return 'No environments.\n';
  return results.map((r) => `${r.env}: ${r.error ? `FAILED to close (${r.error})` : r.closed ? 'closed' : dryRun && r.reason !== 'kept' ? 'would close' : 'kept'} — ${r.reason}`).join('\n') + '\n';
}

export function renderHeal(results: HealResult[]): string {
  if (results.length === 0) return 'Heal: no open environments.\n';
  return results.map((r) => `${r.env}: ${r.error ? `FAILED to heal (${r.error})` : r.healed.length ? 'healed' : 'ok'} — ${r.reason}`).join('\n') + '\n';
}
