// Planning collects every problem before failing, then throws one DynamicEnvError listing them.

import { DynamicEnvError, clusterError, usageError } from '../errors.js';
import type { PlanProblem } from './types.js';

/** One line: `<subject>: <message>; <fix>`. */
export function formatProblem(p: PlanProblem): string {
  return p.fix ? `${p.subject}: ${p.message}; ${p.fix}` : `${p.subject}: ${p.message}`;
}

/** The error for a list of problems: `cluster` if any is a cluster fact, else `usage`. Duplicates collapse. */
export function problemsError(problems: PlanProblem[]): DynamicEnvError {
  const lines = [...new Set(problems.map(formatProblem))];
  return problems.some((p) => p.kind === 'cluster') ? clusterError(lines) : usageError(lines);
}

export function throwIfProblems(problems: PlanProblem[]): void {
  if (problems.length > 0) throw problemsError(problems);
}
