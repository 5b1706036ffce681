// A local stand-in for GitHub's REST API, checked against GitHub's own OpenAPI description (@octokit/openapi).
//
// - Every request is routed to an operation by method + path template of the description. A call the description
//   does not have is a VIOLATION (recorded; answered 404 with a message): tests assert `violations` is empty.
// - Path and query parameters and the JSON body are validated against the operation (unknown query parameters and
//   unknown body fields are violations too: GitHub ignores them silently, which hides typos).
// - Answers are built from the response schema (synthesized minimal instance + the state the handler knows) and
//   validated against it; a fake answer that does not validate is a violation as well.
// - State: tokens -> login (or an installation token for which GET /user is 403), pull requests, issue comments,
//   deployments and their statuses.
// - Faults: a share of requests (or the next N) answered 500, secondary-rate-limit 403 with retry-after, or a
//   primary rate limit, so the retry/throttling path runs.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenApi, isObject, type Operation, type Parameter, type Schema } from './openapi.js';

export interface Violation {
  kind: 'undocumented' | 'parameter' | 'body' | 'response' | 'unimplemented';
  method: string;
  path: string;
  operationId?: string;
  message: string;
}

export interface RequestRecord {
  method: string;
  path: string;
  operationId: string | null;
  query: Record<string, string>;
  body: unknown;
  status: number;
  userAgent: string;
  fault?: FaultKind;
  /** When the request arrived (ms since the epoch), to order it against the cluster's audit log. */
  at: number;
}

export type FaultKind = '500' | 'secondary' | 'primary';

export interface FaultOptions {
  /** Share of matching requests answered with a fault, 0..1. */
  share: number;
  kinds?: FaultKind[];
  retryAfterSeconds?: number;
  /** Deterministic PRNG seed. */
  seed?: number;
  /** Never fault the same request (method + path + body) more than this many times in a row. Default 2. */
  maxConsecutive?: number;
  /** Only requests whose operationId passes. */
  match?: (operationId: string, method: string) => boolean;
}

export interface SeedPull {
  owner: string;
  repo: string;
  number: number;
  headSha: string;
  headRef?: string;
  /** `owner/repo` of the head; default the base repo (a fork when different). */
  headRepo?: string;
  state?: 'open' | 'closed';
  draft?: boolean;
  merged?: boolean;
  labels?: string[];
  title?: string;
  author?: string;
}

export interface FakeComment {
  id: number;
  owner: string;
  repo: string;
  issueNumber: number;
  body: string;
  login: string;
  createdAt: string;
  updatedAt: string;
}

export interface FakeDeploymentStatus {
  id: number;
  state: string;
  environmentUrl: string;
  logUrl: string;
  description: string;
  createdAt: string;
}

export interface FakeDeployment {
  id: number;
  owner: string;
  repo: string;
  sha: string;
  ref: string;
  task: string;
  environment: string;
  description: string | null;
  transient: boolean;
  production: boolean;
  autoMerge: boolean;
  requiredContexts: string[] | undefined;
  payload: unknown;
  creator: string;
  createdAt: string;
  statuses: FakeDeploymentStatus[];
}

interface PullState extends Required<Omit<SeedPull, 'merged'>> {
  merged: boolean;
  createdAt: string;
  updatedAt: string;
}

interface TokenInfo {
  login: string;
  /** GITHUB_TOKEN-like: GET /user is refused, writes are authored by github-actions[bot]. */
  installation: boolean;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (ctx: {
  op: Operation;
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
  login: string;
  url: URL;
}) => Reply;

const DOCS = 'https://docs.github.com/rest';
const BOT_LOGIN = 'github-actions[bot]';

export class FakeGitHub {
  readonly api: OpenApi;
  readonly violations: Violation[] = [];
  readonly requests: RequestRecord[] = [];
  url = '';

  private server: Server | undefined;
  private readonly tokens = new Map<string, TokenInfo>();
  private readonly users = new Map<string, { id: number; type: 'User' | 'Bot' }>();
  private readonly pulls = new Map<string, PullState>();
  private readonly commentList: FakeComment[] = [];
  private readonly deploymentList: FakeDeployment[] = [];
  private nextId = 1000;
  private clockOffsetMs = 0;
  private faults: (FaultOptions & { random: () => number }) | undefined;
  private readonly forced: { kind: FaultKind; match?: FaultOptions['match'] }[] = [];
  private readonly consecutive = new Map<string, number>();
  private barrier: { count: number; match: NonNullable<FaultOptions['match']>; held: (() => void)[] } | undefined;
  private readonly handlers: Record<string, Handler>;

  constructor(api = new OpenApi()) {
    this.api = api;
    this.handlers = {
      'users/get-authenticated': (c) => this.getUser(c.login),
      'pulls/get': (c) => ({ status: 200, body: this.pullJson(this.pull(c.params)) }),
      'pulls/list': (c) => this.listPulls(c),
      'issues/list-comments': (c) => this.listComments(c),
      'issues/create-comment': (c) => this.createComment(c),
      'issues/get-comment': (c) => ({ status: 200, body: this.commentJson(this.comment(c.params)) }),
      'issues/update-comment': (c) => this.updateComment(c),
      'issues/delete-comment': (c) => this.deleteComment(c),
      'repos/create-deployment': (c) => this.createDeployment(c),
      'repos/list-deployments': (c) => this.listDeployments(c),
      'repos/get-deployment': (c) => ({ status: 200, body: this.deploymentJson(this.deployment(c.params)) }),
      'repos/create-deployment-status': (c) => this.createStatus(c),
      'repos/list-deployment-statuses': (c) => this.listStatuses(c),
      'repos/delete-deployment': (c) => this.deleteDeployment(c),
    };
  }

  static async start(): Promise<FakeGitHub> {
    const fake = new FakeGitHub();
    await fake.listen();
    return fake;
  }

  private async listen(): Promise<void> {
    const server = createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = undefined;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Test API

  /** A personal token: GET /user answers `login`. */
  addToken(token: string, login: string): void {
    this.tokens.set(token, { login, installation: false });
    this.user(login);
  }

  /** An installation token like GITHUB_TOKEN: GET /user is 403, comments are authored by github-actions[bot]. */
  addInstallationToken(token: string): void {
    this.tokens.set(token, { login: BOT_LOGIN, installation: true });
    this.user(BOT_LOGIN);
  }

  seedPull(seed: SeedPull): void {
    const now = this.now();
    const base = `${seed.owner}/${seed.repo}`;
    this.pulls.set(this.pullKey(seed.owner, seed.repo, seed.number), {
      owner: seed.owner,
      repo: seed.repo,
      number: seed.number,
      headSha: seed.headSha,
      headRef: seed.headRef ?? `feature-${seed.number}`,
      headRepo: seed.headRepo ?? base,
      state: seed.state ?? 'open',
      draft: seed.draft ?? false,
      merged: seed.merged ?? false,
      labels: seed.labels ?? [],
      title: seed.title ?? `Pull request ${seed.number}`,
      author: seed.author ?? 'octocat',
      createdAt: now,
      updatedAt: now,
    });
    this.user(seed.author ?? 'octocat');
  }

  updatePull(owner: string, repo: string, number: number, patch: Partial<Omit<SeedPull, 'owner' | 'repo' | 'number'>>): void {
    const pull = this.pulls.get(this.pullKey(owner, repo, number));
    if (!pull) throw new Error(`no pull ${owner}/${repo}#${number}`);
    Object.assign(pull, patch, { updatedAt: this.now() });
  }

  /** A comment written directly into the state (no request), e.g. by another user or an older run. */
  seedComment(c: { owner: string; repo: string; issueNumber: number; body: string; login: string; createdAt?: string }): number {
    const id = this.nextId++;
    const at = c.createdAt ?? this.now();
    this.user(c.login);
    this.commentList.push({ id, owner: c.owner, repo: c.repo, issueNumber: c.issueNumber, body: c.body, login: c.login, createdAt: at, updatedAt: at });
    return id;
  }

  comments(owner: string, repo: string, issueNumber: number): FakeComment[] {
    return this.commentList.filter((c) => c.owner === owner && c.repo === repo && c.issueNumber === issueNumber).map((c) => ({ ...c }));
  }

  deployments(owner: string, repo: string): FakeDeployment[] {
    return this.deploymentList
      .filter((d) => d.owner === owner && d.repo === repo)
      .map((d) => ({ ...d, statuses: d.statuses.map((s) => ({ ...s })) }));
  }

  /** Moves the fake's clock (timestamps it writes). */
  advanceClock(ms: number): void {
    this.clockOffsetMs += ms;
  }

  /** A share of requests fail from now on; `undefined` stops it and drops pending failNext() faults. */
  setFaults(options: FaultOptions | undefined): void {
    this.faults = options ? { ...options, random: mulberry32(options.seed ?? 1) } : undefined;
    this.consecutive.clear();
    if (!options) this.forced.length = 0;
  }

  /** The next `count` matching requests get `kind`. */
  failNext(count: number, kind: FaultKind, match?: FaultOptions['match']): void {
    for (let i = 0; i < count; i++) this.forced.push({ kind, match });
  }

  /**
   * One-shot barrier: the answers to the next `count` matching requests are computed on arrival but held back
   * until all `count` have arrived (or `timeoutMs` passed), then sent together. Concurrent clients thus all read
   * the same, soon stale, state: a race made certain rather than likely.
   */
  holdUntil(count: number, match: NonNullable<FaultOptions['match']>, timeoutMs = 30_000): void {
    const barrier = { count, match, held: [] as (() => void)[] };
    this.barrier = barrier;
    setTimeout(() => this.releaseBarrier(barrier), timeoutMs).unref();
  }

  private releaseBarrier(barrier: NonNullable<FakeGitHub['barrier']>): void {
    if (this.barrier === barrier) this.barrier = undefined;
    for (const release of barrier.held.splice(0)) release();
  }

  get faultsInjected(): number {
    return this.requests.filter((r) => r.fault).length;
  }

  // -------------------------------------------------------------------------------------------------------------
  // HTTP

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', this.url);
    const method = (req.method ?? 'GET').toUpperCase();
    const record: RequestRecord = { method, path: url.pathname, operationId: null, query: Object.fromEntries(url.searchParams), body: undefined, status: 0, userAgent: req.headers['user-agent'] ?? '', at: Date.now() };
    this.requests.push(record);
    const send = (reply: Reply): void => {
      record.status = reply.status;
      const headers: Record<string, string> = { 'x-github-api-version-selected': '2022-11-28', ...reply.headers };
      if (reply.body !== undefined) headers['content-type'] = 'application/json; charset=utf-8';
      res.writeHead(reply.status, headers);
      res.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
    };
    const error = (status: number, message: string, extra: Record<string, string> = {}): Reply => ({
      status,
      body: { message, documentation_url: DOCS, status: String(status) },
      headers: extra,
    });

    const matched = this.api.match(method, url.pathname);
    if (!matched.op) {
      const message = matched.pathKnown
        ? `${method} is not an operation of ${url.pathname} in GitHub's REST description`
        : `${method} ${url.pathname} is not in GitHub's REST description`;
      this.violations.push({ kind: 'undocumented', method, path: url.pathname, message });
      return send(error(404, message));
    }
    const { op } = matched;
    record.operationId = op.operationId;
    const violate = (kind: Violation['kind'], message: string): void => {
      this.violations.push({ kind, method, path: url.pathname, operationId: op.operationId, message });
    };

    // Authentication (not a violation: GitHub answers 401 too).
    const auth = /^(?:token|bearer)\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const token = auth ? this.tokens.get(auth[1]!) : undefined;
    if (!token) return send(error(401, 'Bad credentials'));

    // Parameters.
    const problems: string[] = [];
    const params = this.coerceAll(op.parameters.filter((p) => p.in === 'path'), matched.params, problems);
    const rawQuery = Object.fromEntries(url.searchParams);
    for (const name of Object.keys(rawQuery)) {
      if (!op.parameters.some((p) => p.in === 'query' && p.name === name)) problems.push(`query parameter "${name}" is not in the description`);
    }
    const query = this.coerceAll(op.parameters.filter((p) => p.in === 'query'), rawQuery, problems);
    if (problems.length > 0) {
      for (const p of problems) violate('parameter', p);
      return send(error(422, `Invalid request.\n\n${problems.join('\n')}`));
    }

    // Body.
    let body: Record<string, unknown> = {};
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        violate('body', 'body is not JSON');
        return send(error(400, 'Problems parsing JSON'));
      }
      record.body = parsed;
      const schema = op.requestBody?.content?.['application/json']?.schema;
      if (!op.requestBody) {
        violate('body', `${op.operationId} takes no request body`);
        return send(error(422, `${op.operationId} takes no request body`));
      }
      const errors = schema ? this.api.validate(schema, parsed, '$body') : [];
      if (errors.length > 0) {
        for (const e of errors) violate('body', e);
        return send(error(422, `Invalid request.\n\n${errors.join('\n')}`));
      }
      body = isObject(parsed) ? parsed : {};
    } else if (op.requestBody?.required) {
      violate('body', `${op.operationId} requires a request body`);
      return send(error(422, 'Invalid request.\n\nA request body is required.'));
    }

    // Faults (after validation, so a fault never hides a violation; before the handler, so nothing changes).
    const fault = this.pickFault(op.operationId, method, `${method} ${url.pathname} ${text}`);
    if (fault) {
      record.fault = fault;
      return send(this.faultReply(fault));
    }

    const handler = this.handlers[op.operationId];
    if (!handler) {
      violate('unimplemented', `the fake does not implement ${op.operationId}`);
      return send(error(501, `the fake does not implement ${op.operationId}`));
    }
    let reply: Reply;
    try {
      reply = handler({ op, params, query, body, login: token.login, url });
      if (op.operationId === 'users/get-authenticated' && token.installation) {
        reply = error(403, 'Resource not accessible by integration');
      }
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      reply = error(e.status, e.message);
    }

    // The fake checks its own answers against the description.
    const { documented, schema } = this.api.responseSchema(op, reply.status);
    if (documented && schema && reply.body !== undefined) {
      for (const e of this.api.validate(schema, reply.body, `$response${reply.status}`)) violate('response', e);
    }
    const barrier = this.barrier;
    if (barrier && barrier.match(op.operationId, method)) {
      const released = new Promise<void>((resolve) => barrier.held.push(resolve));
      if (barrier.held.length >= barrier.count) this.releaseBarrier(barrier);
      await released;
    }
    send(reply);
  }

  private coerceAll(defs: Parameter[], raw: Record<string, string>, problems: string[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const def of defs) {
      const value = raw[def.name];
      if (value === undefined) {
        if (def.required) problems.push(`${def.in} parameter "${def.name}" is required`);
        continue;
      }
      const schema = this.api.resolve(def.schema ?? {});
      const coerced = coerce(schema, value);
      const errors = coerced === undefined ? [`"${value}" is not a ${String(schema.type)}`] : this.api.validate(schema, coerced, def.name);
      if (errors.length > 0) problems.push(`${def.in} parameter "${def.name}": ${errors.join('; ')}`);
      else out[def.name] = coerced;
    }
    return out;
  }

  private pickFault(operationId: string, method: string, requestKey: string): FaultKind | undefined {
    const forced = this.forced.findIndex((f) => !f.match || f.match(operationId, method));
    if (forced >= 0) return this.forced.splice(forced, 1)[0]!.kind;
    const f = this.faults;
    if (!f || (f.match && !f.match(operationId, method))) return undefined;
    const streak = this.consecutive.get(requestKey) ?? 0;
    if (streak >= (f.maxConsecutive ?? 2) || f.random() >= f.share) {
      this.consecutive.delete(requestKey);
      return undefined;
    }
    this.consecutive.set(requestKey, streak + 1);
    const kinds = f.kinds ?? ['500', 'secondary'];
    return kinds[Math.floor(f.random() * kinds.length)]!;
  }

  private faultReply(kind: FaultKind): Reply {
    const after = String(this.faults?.retryAfterSeconds ?? 1);
    if (kind === '500') return { status: 500, body: { message: 'Server Error', documentation_url: DOCS } };
    if (kind === 'secondary') {
      return {
        status: 403,
        body: {
          message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
          documentation_url: `${DOCS}/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits`,
        },
        headers: { 'retry-after': after },
      };
    }
    return {
      status: 403,
      body: { message: 'API rate limit exceeded for installation.', documentation_url: `${DOCS}/using-the-rest-api/rate-limits-for-the-rest-api` },
      headers: {
        'x-ratelimit-limit': '5000',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + Number(after)),
      },
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Handlers

  private getUser(login: string): Reply {
    return {
      status: 200,
      body: this.api.build('private-user', { ...this.simpleUser(login), user_view_type: 'private', created_at: '2020-01-01T00:00:00Z', updated_at: '2020-01-01T00:00:00Z' }),
    };
  }

  private listPulls(c: Parameters<Handler>[0]): Reply {
    const { owner, repo } = c.params as { owner: string; repo: string };
    const state = (c.query.state as string | undefined) ?? 'open';
    const all = [...this.pulls.values()]
      .filter((p) => p.owner === owner && p.repo === repo && (state === 'all' || p.state === state))
      .sort((a, b) => b.number - a.number);
    return this.page(c, all.map((p) => this.api.build('pull-request-simple', this.pullCommon(p))));
  }

  private listComments(c: Parameters<Handler>[0]): Reply {
    const { owner, repo, issue_number } = c.params as { owner: string; repo: string; issue_number: number };
    this.pull({ owner, repo, pull_number: issue_number });
    const since = c.query.since as string | undefined;
    const list = this.commentList
      .filter((x) => x.owner === owner && x.repo === repo && x.issueNumber === issue_number && (!since || x.updatedAt >= since))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id - b.id);
    return this.page(c, list.map((x) => this.commentJson(x)));
  }

  private createComment(c: Parameters<Handler>[0]): Reply {
    const { owner, repo, issue_number } = c.params as { owner: string; repo: string; issue_number: number };
    this.pull({ owner, repo, pull_number: issue_number });
    const body = String(c.body.body);
    if (body.length > 65_536) throw new HttpError(422, 'Body is too long (maximum is 65536 characters)');
    const id = this.seedComment({ owner, repo, issueNumber: issue_number, body, login: c.login });
    const created = this.commentList.find((x) => x.id === id)!;
    return { status: 201, body: this.commentJson(created), headers: { location: this.commentJson(created).url as string } };
  }

  private updateComment(c: Parameters<Handler>[0]): Reply {
    const comment = this.comment(c.params);
    if (comment.login !== c.login) throw new HttpError(403, 'You cannot edit a comment you did not write');
    const body = String(c.body.body);
    if (body.length > 65_536) throw new HttpError(422, 'Body is too long (maximum is 65536 characters)');
    comment.body = body;
    comment.updatedAt = this.now();
    return { status: 200, body: this.commentJson(comment) };
  }

  private deleteComment(c: Parameters<Handler>[0]): Reply {
    const comment = this.comment(c.params);
    if (comment.login !== c.login) throw new HttpError(403, 'You cannot delete a comment you did not write');
    this.commentList.splice(this.commentList.indexOf(comment), 1);
    return { status: 204 };
  }

  private createDeployment(c: Parameters<Handler>[0]): Reply {
    const { owner, repo } = c.params as { owner: string; repo: string };
    const b = c.body;
    const environment = (b.environment as string | undefined) ?? 'production';
    const d: FakeDeployment = {
      id: this.nextId++,
      owner,
      repo,
      sha: String(b.ref),
      ref: String(b.ref),
      task: (b.task as string | undefined) ?? 'deploy',
      environment,
      description: (b.description as string | null | undefined) ?? '',
      transient: (b.transient_environment as boolean | undefined) ?? false,
      production: (b.production_environment as boolean | undefined) ?? environment === 'production',
      autoMerge: (b.auto_merge as boolean | undefined) ?? true,
      requiredContexts: b.required_contexts as string[] | undefined,
      payload: b.payload ?? {},
      creator: c.login,
      createdAt: this.now(),
      statuses: [],
    };
    if ((d.description ?? '').length > 140) throw new HttpError(422, 'description is too long (maximum is 140 characters)');
    this.deploymentList.push(d);
    return { status: 201, body: this.deploymentJson(d) };
  }

  private listDeployments(c: Parameters<Handler>[0]): Reply {
    const { owner, repo } = c.params as { owner: string; repo: string };
    const q = c.query as { sha?: string; ref?: string; task?: string; environment?: string | null };
    const list = this.deploymentList
      .filter(
        (d) =>
          d.owner === owner &&
          d.repo === repo &&
          (q.sha === undefined || d.sha === q.sha) &&
          (q.ref === undefined || d.ref === q.ref) &&
          (q.task === undefined || d.task === q.task) &&
          (q.environment === undefined || q.environment === null || d.environment === q.environment),
      )
      .sort((a, b) => b.id - a.id); // newest first, as GitHub lists them
    return this.page(c, list.map((d) => this.deploymentJson(d)));
  }

  private createStatus(c: Parameters<Handler>[0]): Reply {
    const d = this.deployment(c.params);
    const b = c.body;
    const description = (b.description as string | undefined) ?? '';
    if (description.length > 140) throw new HttpError(422, 'description is too long (maximum is 140 characters)');
    const logUrl = (b.log_url as string | undefined) ?? (b.target_url as string | undefined) ?? '';
    const s: FakeDeploymentStatus = {
      id: this.nextId++,
      state: String(b.state),
      environmentUrl: (b.environment_url as string | undefined) ?? '',
      logUrl,
      description,
      createdAt: this.now(),
    };
    d.statuses.push(s);
    return { status: 201, body: this.statusJson(d, s) };
  }

  /**
   * As the description says: a repository's only deployment can be deleted whatever its status; with more than one,
   * only a deployment that is not active (its latest status a non-successful one: inactive, failure or error),
   * else 422.
   */
  private deleteDeployment(c: Parameters<Handler>[0]): Reply {
    const d = this.deployment(c.params);
    const inRepo = this.deploymentList.filter((x) => x.owner === d.owner && x.repo === d.repo);
    const latest = [...d.statuses].sort((a, b) => b.id - a.id)[0];
    if (inRepo.length > 1 && !['inactive', 'failure', 'error'].includes(latest?.state ?? '')) {
      return {
        status: 422,
        body: { message: 'We cannot delete an active deployment unless it is the only deployment in a given environment.', documentation_url: `${DOCS}/deployments/deployments#delete-a-deployment` },
      };
    }
    this.deploymentList.splice(this.deploymentList.indexOf(d), 1);
    return { status: 204 };
  }

  private listStatuses(c: Parameters<Handler>[0]): Reply {
    const d = this.deployment(c.params);
    const newestFirst = [...d.statuses].sort((a, b) => b.id - a.id);
    return this.page(c, newestFirst.map((s) => this.statusJson(d, s)));
  }

  // -------------------------------------------------------------------------------------------------------------
  // State look-ups and JSON

  private now(): string {
    return new Date(Date.now() + this.clockOffsetMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  private pullKey(owner: string, repo: string, number: number): string {
    return `${owner.toLowerCase()}/${repo.toLowerCase()}#${number}`;
  }

  private user(login: string): { id: number; type: 'User' | 'Bot' } {
    let u = this.users.get(login);
    if (!u) {
      u = { id: this.nextId++, type: login.endsWith('[bot]') ? 'Bot' : 'User' };
      this.users.set(login, u);
    }
    return u;
  }

  private pull(params: Record<string, unknown>): PullState {
    const p = this.pulls.get(this.pullKey(String(params.owner), String(params.repo), Number(params.pull_number)));
    if (!p) throw new HttpError(404, 'Not Found');
    return p;
  }

  private comment(params: Record<string, unknown>): FakeComment {
    const c = this.commentList.find(
      (x) => x.id === Number(params.comment_id) && x.owner === params.owner && x.repo === params.repo,
    );
    if (!c) throw new HttpError(404, 'Not Found');
    return c;
  }

  private deployment(params: Record<string, unknown>): FakeDeployment {
    const d = this.deploymentList.find((x) => x.id === Number(params.deployment_id) && x.owner === params.owner && x.repo === params.repo);
    if (!d) throw new HttpError(404, 'Not Found');
    return d;
  }

  private simpleUser(login: string): Record<string, unknown> {
    const u = this.user(login);
    const api = `${this.url}/users/${encodeURIComponent(login)}`;
    return {
      login,
      id: u.id,
      node_id: `U_${u.id}`,
      avatar_url: `https://avatars.github.test/u/${u.id}`,
      gravatar_id: '',
      url: api,
      html_url: `https://github.test/${encodeURIComponent(login)}`,
      followers_url: `${api}/followers`,
      following_url: `${api}/following{/other_user}`,
      gists_url: `${api}/gists{/gist_id}`,
      starred_url: `${api}/starred{/owner}{/repo}`,
      subscriptions_url: `${api}/subscriptions`,
      organizations_url: `${api}/orgs`,
      repos_url: `${api}/repos`,
      events_url: `${api}/events{/privacy}`,
      received_events_url: `${api}/received_events`,
      type: u.type,
      site_admin: false,
    };
  }

  private repoJson(fullName: string): Record<string, unknown> {
    const [owner = 'unknown', name = 'unknown'] = fullName.split('/');
    const api = `${this.url}/repos/${fullName}`;
    return this.api.build('repository', {
      id: 1,
      node_id: `R_${fullName}`,
      name,
      full_name: fullName,
      owner: this.simpleUser(owner),
      private: false,
      html_url: `https://github.test/${fullName}`,
      url: api,
      fork: false,
      default_branch: 'main',
    });
  }

  private pullCommon(p: PullState): Record<string, unknown> {
    const base = `${p.owner}/${p.repo}`;
    const api = `${this.url}/repos/${base}/pulls/${p.number}`;
    const issue = `${this.url}/repos/${base}/issues/${p.number}`;
    const mergedAt = p.merged ? p.updatedAt : null;
    return {
      url: api,
      id: p.number,
      node_id: `PR_${p.number}`,
      html_url: `https://github.test/${base}/pull/${p.number}`,
      diff_url: `https://github.test/${base}/pull/${p.number}.diff`,
      patch_url: `https://github.test/${base}/pull/${p.number}.patch`,
      issue_url: issue,
      commits_url: `${api}/commits`,
      review_comments_url: `${api}/comments`,
      review_comment_url: `${this.url}/repos/${base}/pulls/comments{/number}`,
      comments_url: `${issue}/comments`,
      statuses_url: `${this.url}/repos/${base}/statuses/${p.headSha}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: this.simpleUser(p.author),
      body: null,
      labels: p.labels.map((name, i) => ({
        id: i + 1,
        node_id: `L_${i + 1}`,
        url: `${this.url}/repos/${base}/labels/${encodeURIComponent(name)}`,
        name,
        description: '',
        color: 'ededed',
        default: false,
      })),
      draft: p.draft,
      created_at: p.createdAt,
      updated_at: p.updatedAt,
      closed_at: p.state === 'closed' ? p.updatedAt : null,
      merged_at: mergedAt,
      merge_commit_sha: null,
      head: { label: `${p.headRepo.split('/')[0]}:${p.headRef}`, ref: p.headRef, sha: p.headSha, user: this.simpleUser(p.headRepo.split('/')[0]!), repo: this.repoJson(p.headRepo) },
      base: { label: `${p.owner}:main`, ref: 'main', sha: '0'.repeat(40), user: this.simpleUser(p.owner), repo: this.repoJson(base) },
      author_association: 'CONTRIBUTOR',
      _links: {
        self: { href: api },
        html: { href: `https://github.test/${base}/pull/${p.number}` },
        issue: { href: issue },
        comments: { href: `${issue}/comments` },
        review_comments: { href: `${api}/comments` },
        review_comment: { href: `${this.url}/repos/${base}/pulls/comments{/number}` },
        commits: { href: `${api}/commits` },
        statuses: { href: `${this.url}/repos/${base}/statuses/${p.headSha}` },
      },
    };
  }

  private pullJson(p: PullState): Record<string, unknown> {
    return this.api.build('pull-request', {
      ...this.pullCommon(p),
      merged: p.merged,
      mergeable: p.state === 'open' ? true : null,
      mergeable_state: p.state === 'open' ? 'clean' : 'unknown',
      merged_by: p.merged ? this.simpleUser(p.author) : null,
    });
  }

  private commentJson(c: FakeComment): Record<string, unknown> {
    const base = `${c.owner}/${c.repo}`;
    return this.api.build('issue-comment', {
      id: c.id,
      node_id: `IC_${c.id}`,
      url: `${this.url}/repos/${base}/issues/comments/${c.id}`,
      html_url: `https://github.test/${base}/pull/${c.issueNumber}#issuecomment-${c.id}`,
      issue_url: `${this.url}/repos/${base}/issues/${c.issueNumber}`,
      body: c.body,
      user: this.simpleUser(c.login),
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      author_association: c.login.endsWith('[bot]') ? 'NONE' : 'MEMBER',
    });
  }

  private deploymentJson(d: FakeDeployment): Record<string, unknown> {
    const api = `${this.url}/repos/${d.owner}/${d.repo}/deployments/${d.id}`;
    return this.api.build('deployment', {
      url: api,
      id: d.id,
      node_id: `DE_${d.id}`,
      sha: d.sha,
      ref: d.ref,
      task: d.task,
      payload: d.payload,
      original_environment: d.environment,
      environment: d.environment,
      description: d.description,
      creator: this.simpleUser(d.creator),
      created_at: d.createdAt,
      updated_at: d.statuses.at(-1)?.createdAt ?? d.createdAt,
      statuses_url: `${api}/statuses`,
      repository_url: `${this.url}/repos/${d.owner}/${d.repo}`,
      transient_environment: d.transient,
      production_environment: d.production,
    });
  }

  private statusJson(d: FakeDeployment, s: FakeDeploymentStatus): Record<string, unknown> {
    const deploymentUrl = `${this.url}/repos/${d.owner}/${d.repo}/deployments/${d.id}`;
    return this.api.build('deployment-status', {
      url: `${deploymentUrl}/statuses/${s.id}`,
      id: s.id,
      node_id: `DES_${s.id}`,
      state: s.state,
      creator: this.simpleUser(d.creator),
      description: s.description,
      environment: d.environment,
      target_url: s.logUrl,
      log_url: s.logUrl,
      environment_url: s.environmentUrl,
      created_at: s.createdAt,
      updated_at: s.createdAt,
      deployment_url: deploymentUrl,
      repository_url: `${this.url}/repos/${d.owner}/${d.repo}`,
    });
  }

  /** GitHub pagination: per_page (default 30, at most 100), page (from 1), Link header with next/prev/last/first. */
  private page(c: Parameters<Handler>[0], items: unknown[]): Reply {
    const perPage = Math.min(100, Math.max(1, (c.query.per_page as number | undefined) ?? 30));
    const page = Math.max(1, (c.query.page as number | undefined) ?? 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (n: number, rel: string) => {
      const u = new URL(c.url);
      u.searchParams.set('page', String(n));
      return `<${u.toString()}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(page - 1, 'prev'), link(1, 'first'));
    return {
      status: 200,
      body: items.slice((page - 1) * perPage, page * perPage),
      headers: links.length ? { link: links.join(', ') } : {},
    };
  }
}

function coerce(schema: Schema, value: string): unknown {
  switch (schema.type) {
    case 'integer':
      return /^-?\d+$/.test(value) ? Number(value) : undefined;
    case 'number':
      return value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : undefined;
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : undefined;
    case 'array':
      return value === '' ? [] : value.split(',');
    default:
      return value;
  }
}

/** Small deterministic PRNG for fault injection. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
