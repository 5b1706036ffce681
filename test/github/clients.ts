// Octokit clients for tests against the fake: the production client (same plugins), with back-off shrunk to
// milliseconds and a throttle id of its own per client, so each client paces like a separate workflow run.
// `paceWrites: false` for tests that write hundreds of objects.

import { createGitHubClient, type GitHubClient } from '../../src/github/client.js';
import type { FakeGitHub } from './fake-github.js';

let counter = 0;

export function clientFor(fake: FakeGitHub, token: string, options: { maxRetries?: number; paceWrites?: boolean } = {}): GitHubClient {
  return createGitHubClient({
    token,
    baseUrl: fake.url,
    retryAfterBaseValue: 1,
    throttleId: `test-${process.pid}-${++counter}`,
    maxRetries: options.maxRetries ?? 3,
    paceWrites: options.paceWrites ?? true,
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    env: {},
  });
}
