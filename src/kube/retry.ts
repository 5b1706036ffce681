// One retry loop for read-modify-write (client-go's retry.OnError): an attempt that fails with a retriable error is
// tried again after a jittered backoff, for up to a time window; anything else, and a refusal of ours (a
// DynamicEnvError: the edit or a check refused), passes through as it came, for the caller to explain.
import { DynamicEnvError } from '../errors.js';
import { sleep } from './client.js';

/**
 * Retries for 409 on read-modify-write are bounded by time, not by count: N runs editing one VirtualService at once
 * need up to N rounds (one wins each), so a fixed count failed the last of many. Full jitter (a random wait up to
 * 5 ms × 2^attempt, at most 250 ms) spreads the losers out within a round or two instead of making every one wait
 * out long fixed steps: 20 concurrent opens took 64× one open with the old 20 ms + up to 1 s (bench `concurrency`).
 */
export const CONFLICT_RETRY_MS = 60_000;

export interface RetryOptions {
  /** How long after the first attempt another may start. */
  windowMs?: number;
  /** The longest wait between attempts (full jitter below it); 0 in tests. */
  maxDelayMs?: number;
  /** After the wait, before the next attempt (read again, tell others): may throw to stop. */
  beforeRetry?: (error: unknown, attempt: number) => Promise<void> | void;
}

/** Runs `attempt` (given its number, from 0) until it returns, retrying what `retriable` says, within the window. */
export async function retrying<T>(
  attempt: (n: number) => Promise<T>,
  retriable: (e: unknown) => boolean,
  { windowMs = CONFLICT_RETRY_MS, maxDelayMs = 250, beforeRetry }: RetryOptions = {},
): Promise<T> {
  const started = Date.now();
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      if (e instanceof DynamicEnvError || !retriable(e) || Date.now() - started >= windowMs) throw e;
      await sleep(Math.random() * Math.min(maxDelayMs, 5 * 2 ** n));
      await beforeRetry?.(e, n);
    }
  }
}
