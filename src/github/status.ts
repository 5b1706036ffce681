// Kept apart from the client (./client.js) so that the modules that branch on a status do not load octokit.

/** The HTTP status of an Octokit RequestError (or undefined for anything else). */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}
