// retrying: the one loop behind every read-modify-write. What is retried, what passes straight through, when it
// stops, and what runs between attempts.
import { describe, expect, test } from 'vitest';
import { clusterError } from '../../src/errors.js';
import { retrying } from '../../src/kube/retry.js';

class Conflict extends Error {}
const isConflict = (e: unknown) => e instanceof Conflict;

describe('retrying', () => {
  test('retries what is retriable until an attempt returns, with what runs between attempts in order', async () => {
    const calls: string[] = [];
    const result = await retrying(async (n) => {
      calls.push(`attempt ${n}`);
      if (n < 2) throw new Conflict();
      return 'written';
    }, isConflict, { maxDelayMs: 0, beforeRetry: (_e, n) => { calls.push(`before retry after ${n}`); } });
    expect(result).toBe('written');
    expect(calls).toEqual(['attempt 0', 'before retry after 0', 'attempt 1', 'before retry after 1', 'attempt 2']);
  });

  test('an error it is not told to retry is thrown at once, as it came', async () => {
    const boom = new Error('500');
    let attempts = 0;
    await expect(retrying(async () => { attempts++; throw boom; }, isConflict, { maxDelayMs: 0 })).rejects.toBe(boom);
    expect(attempts).toBe(1);
  });

  test('a refusal of ours (DynamicEnvError) passes through even where the predicate would retry it', async () => {
    const refused = clusterError('the edit refused');
    let attempts = 0;
    await expect(retrying(async () => { attempts++; throw refused; }, () => true, { maxDelayMs: 0 })).rejects.toBe(refused);
    expect(attempts).toBe(1);
  });

  test('stops once the window has passed, with the last error', async () => {
    let attempts = 0;
    const last = retrying(async () => { attempts++; await new Promise((r) => setTimeout(r, 20)); throw new Conflict(`#${attempts}`); },
      isConflict, { windowMs: 50, maxDelayMs: 0 });
    await expect(last).rejects.toThrow(/^#[2-4]$/);
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(4);
  });

  test('beforeRetry may stop the loop by throwing', async () => {
    const foreign = clusterError('made by someone else');
    await expect(retrying(async () => { throw new Conflict(); }, isConflict, { maxDelayMs: 0, beforeRetry: () => { throw foreign; } }))
      .rejects.toBe(foreign);
  });
});
