// Errors carry the exit code the CLI and the action use: 2 for usage/config, 1 for everything the cluster said.
// Messages name the field or object at fault and what to do about it.

export type ErrorKind = 'usage' | 'cluster';

export class DynamicEnvError extends Error {
  readonly kind: ErrorKind;
  /** One line per problem, each naming its subject; `message` joins them. */
  readonly problems: string[];

  constructor(kind: ErrorKind, problems: string[] | string, options?: { cause?: unknown }) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list.length === 1 ? list[0]! : `${list.length} problems:\n${list.map((p) => `  - ${p}`).join('\n')}`, options);
    this.name = kind === 'usage' ? 'UsageError' : 'ClusterError';
    this.kind = kind;
    this.problems = list;
  }

  get exitCode(): 1 | 2 {
    return this.kind === 'usage' ? 2 : 1;
  }
}

export const usageError = (problems: string[] | string): DynamicEnvError => new DynamicEnvError('usage', problems);
export const clusterError = (problems: string[] | string, cause?: unknown): DynamicEnvError =>
  new DynamicEnvError('cluster', problems, { cause });

export function exitCodeOf(error: unknown): 1 | 2 {
  return error instanceof DynamicEnvError ? error.exitCode : 1;
}
