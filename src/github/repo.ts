// A repository's owner and name, parsed from GITHUB_REPOSITORY or a config value.

export interface RepoRef {
  owner: string;
  repo: string;
}

/** `owner/repo` -> RepoRef; throws on anything else. */
export function parseRepo(fullName: string): RepoRef {
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(fullName);
  if (!m) throw new Error(`not an owner/repo name: "${fullName}"`);
  return { owner: m[1]!, repo: m[2]! };
}
