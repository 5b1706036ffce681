// The GitHub REST client: @octokit/rest with the retry plugin (5xx and network errors, a bounded number of times)
// and the throttling plugin (GitHub's recommended request pacing; primary and secondary rate limits retried a
// bounded number of times, never waiting longer than `maxRetryAfterSeconds`). List calls go through
// `octokit.paginate(..., { per_page: 100 })` in the modules next to this one.

import { Octokit } from '@octokit/rest';
import { retry } from '@octokit/plugin-retry';
import { throttling, type ThrottlingOptions } from '@octokit/plugin-throttling';

const GitHubOctokit = Octokit.plugin(retry, throttling);
export type GitHubClient = InstanceType<typeof GitHubOctokit>;

export const USER_AGENT = 'dynamic-env-action';

export interface ClientOptions {
  token: string;
  /** Default: $GITHUB_API_URL, else https://api.github.com (GHES sets GITHUB_API_URL for its runners). */
  baseUrl?: string;
  userAgent?: string;
  /** Retries for 5xx / network errors and for rate limits. Default 3. */
  maxRetries?: number;
  /** Rate-limit waits longer than this are not retried (fail instead of hanging the job). Default 120. */
  maxRetryAfterSeconds?: number;
  /**
   * Milliseconds per second of back-off / `retry-after`. Default 1000; tests shrink it. The retry plugin waits
   * (attempt²) units between 5xx retries.
   */
  retryAfterBaseValue?: number;
  /**
   * The throttling plugin's limiter groups are process-wide and keyed by this id; different ids pace
   * independently (tests simulate separate runs with separate ids). Default "dynamic-env".
   */
  throttleId?: string;
  /**
   * Pace writes as GitHub recommends (the throttling plugin: one write at a time, 1 s apart, 3 s for writes that
   * notify). Default true. Rate-limit retries stay on either way; tests that write hundreds of objects turn
   * pacing off.
   */
  paceWrites?: boolean;
  log?: { debug: (m: string) => void; info: (m: string) => void; warn: (m: string) => void; error: (m: string) => void };
  env?: Record<string, string | undefined>;
}

export function createGitHubClient(options: ClientOptions): GitHubClient {
  const env = options.env ?? process.env;
  const maxRetries = options.maxRetries ?? 3;
  const maxWait = options.maxRetryAfterSeconds ?? 120;
  const base = options.retryAfterBaseValue ?? 1000;
  const log = options.log ?? { debug: () => {}, info: () => {}, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) };
  const onLimit =
    (kind: string) =>
    (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number): boolean => {
      const retrying = retryCount < maxRetries && retryAfter <= maxWait;
      log.warn(
        `GitHub ${kind} rate limit on ${request.method} ${request.url}: ` +
          (retrying ? `retrying in ${retryAfter}s (retry ${retryCount + 1} of ${maxRetries})` : 'giving up'),
      );
      return retrying;
    };
  return new GitHubOctokit({
    auth: options.token,
    baseUrl: (options.baseUrl ?? env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/+$/, ''),
    userAgent: options.userAgent ?? USER_AGENT,
    log,
    retry: { retries: maxRetries, retryAfterBaseValue: base },
    throttle: {
      id: options.throttleId ?? 'dynamic-env',
      retryAfterBaseValue: base,
      onRateLimit: onLimit('primary'),
      onSecondaryRateLimit: onLimit('secondary'),
      ...(options.paceWrites === false ? { write: UNPACED, notifications: UNPACED } : {}),
    },
  });
}

/** A stand-in for the plugin's Bottleneck.Group that runs every job at once (only `key().schedule()` is used). */
const UNPACED = {
  key: () => ({
    schedule: (_options: unknown, job: (...args: unknown[]) => unknown, ...args: unknown[]) => Promise.resolve().then(() => job(...args)),
  }),
} as unknown as NonNullable<Extract<ThrottlingOptions, { write?: unknown }>['write']>;
