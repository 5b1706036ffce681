// A thin client for the Kubernetes REST API. @kubernetes/client-node's KubeConfig does what is easy to get wrong
// (kubeconfig merging, contexts, client certs, tokens, exec plugins); the requests themselves are plain JSON over
// HTTPS, so every write carries exactly the resourceVersion we read and nothing else.
import https from 'node:https';
import http from 'node:http';
import { createSecureContext } from 'node:tls';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { clusterError, usageError } from '../errors.js';
import type { KubeObject } from '../plan/types.js';
import type { ResourceType } from './resources.js';
import { notServedMessage, resourcePath } from './resources.js';

export interface KubeClientOptions {
  /** Path of a kubeconfig file; default: $KUBECONFIG, then ~/.kube/config, then in-cluster. */
  kubeconfig?: string;
  context?: string;
  userAgent?: string;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** How many times a request that failed transiently (5xx, 429, reset connection) is retried at least. */
  retries?: number;
  /**
   * Once the API server has answered this client, transient failures are retried for this long (ms) per request,
   * so a restarting API server (a few seconds to tens of seconds) is ridden out instead of failing the run.
   */
  retryWindowMs?: number;
}

/** An error status from the API server, with the parts callers branch on. */
export class ApiStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly apiMessage: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${code} ${reason}${apiMessage ? `: ${apiMessage}` : ''}`);
    this.name = 'ApiStatusError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiStatusError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiStatusError && e.code === 409;
export const isAlreadyExists = (e: unknown): boolean =>
  e instanceof ApiStatusError && e.code === 409 && e.reason === 'AlreadyExists';
export const isForbidden = (e: unknown): boolean => e instanceof ApiStatusError && e.code === 403;
export const isRefusal = (e: unknown): boolean => e instanceof ApiStatusError && (e.code === 401 || e.code === 403);

/** Backoff before retrying a lost or failing API server: 100ms, 200ms, 400ms… capped at 2s, jittered over its upper half. */
export const retryDelayMs = (attempt: number): number => Math.min(2_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);

/**
 * The object is too large to store: the API server's own body limit (413, 3 MiB), or etcd's request limit
 * (`--max-request-bytes`, 1.5 MiB by default), which the API server passes on as a 500 "etcdserver: request is too
 * large" (or its gRPC client's "trying to send message larger than max"). Permanent for that object: never retried.
 */
export const isTooLarge = (e: unknown): boolean =>
  e instanceof ApiStatusError &&
  (e.code === 413 || (e.code >= 500 && /request is too large|message larger than max|too large/i.test(e.apiMessage)));

export function isTransient(e: unknown): boolean {
  if (isTooLarge(e)) return false;
  if (e instanceof ApiStatusError) return e.code >= 500 || e.code === 429;
  const code = (e as { code?: string }).code;
  return ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'UND_ERR_SOCKET'].includes(code ?? '')
    || e instanceof TruncatedResponseError || e instanceof RequestTimeoutError;
}

/** Where a Pod's ServiceAccount token is mounted; client-node's in-cluster configuration reads it. */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

class TruncatedResponseError extends Error {}
class RequestTimeoutError extends Error {}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

/** The annotation on the BOOKMARK that ends a streaming list's initial events (WatchOptions.initialEvents). */
export const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

/** One change from a watch; BOOKMARK carries only a newer resourceVersion to resume from. */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  object: T;
}

export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Changes after this version (from a list, or the last event seen); none with `initialEvents`. */
  resourceVersion?: string;
  /**
   * A streaming list: the stream begins with the current objects as ADDED events, ended by a BOOKMARK annotated
   * `k8s.io/initial-events-end` (INITIAL_EVENTS_END), so one request does what a list and a watch did. Needs the
   * WatchList feature (on by default from Kubernetes 1.34, off in 1.33): a server without it refuses the request
   * (422) or, before 1.27, ignores the parameter and sends the ADDED events with no closing bookmark.
   */
  initialEvents?: boolean;
  /** The API server ends the stream after this long; the caller watches again from where it got. */
  timeoutSeconds?: number;
  signal: AbortSignal;
}

export class KubeClient {
  /** Requests sent, by verb: the benchmarks and tests read this. */
  readonly counters = { requests: 0, writes: 0 };
  /** Keep-alive agents by TLS material (an exec plugin may rotate client certificates). */
  private readonly agents = new Map<string, https.Agent>();

  private constructor(
    private readonly kc: KubeConfig,
    readonly server: string,
    private readonly options: Required<Pick<KubeClientOptions, 'timeoutMs' | 'retries' | 'retryWindowMs'>> & { userAgent: string },
  ) {}

  /** Whether the API server has answered at all; before that, an unreachable server fails fast (a wrong URL). */
  private contacted = false;

  /** Loads and checks the kubeconfig; a broken one is a usage error naming the file, never echoing its content. */
  static load(opts: KubeClientOptions = {}): KubeClient {
    const kc = new KubeConfig();
    const source = opts.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config';
    // With nothing to load, client-node silently falls back to http://localhost:8080, which then fails as a
    // puzzling network error; say what is missing instead.
    if (!opts.kubeconfig && !process.env.KUBECONFIG && !existsSync(join(homedir(), '.kube', 'config')) && !existsSync(SERVICE_ACCOUNT_TOKEN)) {
      throw usageError('no kubeconfig: pass one with --kubeconfig (the action: the kubeconfig input), set $KUBECONFIG, or run inside a cluster with a ServiceAccount');
    }
    try {
      if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
      else kc.loadFromDefault();
    } catch (e) {
      throw usageError(`kubeconfig ${source}: cannot be read as a kubeconfig (${describeLoadError(e)}); pass a valid file with --kubeconfig or the kubeconfig input`);
    }
    if (opts.context) {
      if (!kc.getContextObject(opts.context)) {
        throw usageError(`context "${opts.context}" is not in kubeconfig ${source}; it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}`);
      }
      kc.setCurrentContext(opts.context);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster?.server) {
      throw usageError(`kubeconfig ${source}: the current context names no cluster with a server; set current-context or pass --context`);
    }
    try {
      new URL(cluster.server);
    } catch {
      throw usageError(`kubeconfig ${source}: cluster "${cluster.name}" has an invalid server URL`);
    }
    return new KubeClient(kc, cluster.server.replace(/\/+$/, ''), {
      timeoutMs: opts.timeoutMs ?? 30_000,
      retries: opts.retries ?? 4,
      retryWindowMs: opts.retryWindowMs ?? 30_000,
      userAgent: opts.userAgent ?? 'dynamic-env',
    });
  }

  /** The current context's cluster entry (server, CA, TLS options): what a kubeconfig for this cluster repeats. */
  get cluster(): NonNullable<ReturnType<KubeConfig['getCurrentCluster']>> {
    return this.kc.getCurrentCluster()!;
  }

  /** The namespace of the current context, if it names one. */
  get contextNamespace(): string | undefined {
    return this.kc.getContextObject(this.kc.getCurrentContext())?.namespace;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<T>(method, path, body);
      } catch (e) {
        // A restarting API server serves requests before its authenticator and authorizer caches are filled: a
        // 401/403 while it is not ready yet is a symptom of the restart, not an answer, and is retried likewise.
        // (Its /readyz is then failing, or itself refused.) Bounded to a few seconds, the time its caches take.
        const refused = isRefusal(e) && Date.now() - started < 10_000;
        if (!isTransient(e) && !(refused && await this.starting())) throw e;
        // Exponential backoff, 100ms, 200ms, 400ms… capped at 2s, jittered over its upper half. At least `retries`
        // attempts; once the server has answered before, more until the retry window is used up.
        const delay = retryDelayMs(attempt);
        const inWindow = this.contacted && Date.now() + delay - started < this.options.retryWindowMs;
        if (attempt > this.options.retries && !inWindow) throw e;
        await sleep(delay);
      }
    }
  }

  /**
   * Whether the API server is not ready: GET /readyz (open to every user by default) fails, or is refused too
   * (the authorizer's caches are not filled yet). A refusal (401/403) then is a symptom of a restart, not an answer.
   */
  async starting(): Promise<boolean> {
    try {
      await this.once('GET', '/readyz', undefined, true);
      return false;
    } catch (e) {
      return isTransient(e) || isRefusal(e);
    }
  }

  private async once<T>(method: string, path: string, body?: unknown, text = false): Promise<T> {
    const url = new URL(this.server + path);
    const opts: https.RequestOptions = {
      method,
      headers: { accept: 'application/json', 'user-agent': this.options.userAgent },
    };
    await this.kc.applyToHTTPSOptions(opts);
    // KubeConfig sets an agent without keep-alive; unless the kubeconfig routes through a proxy (whose agent we
    // must keep), reuse connections with the same TLS material.
    if (!this.kc.getCurrentCluster()?.proxyUrl && url.protocol === 'https:') opts.agent = this.agentFor(opts);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) Object.assign(opts.headers!, { 'content-type': 'application/json', 'content-length': payload.length });
    this.counters.requests++;
    if (method !== 'GET') this.counters.writes++;
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = transport.request(url, opts, (res) => {
        this.contacted = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('aborted', () => reject(new TruncatedResponseError(`${method} ${path}: the connection was cut mid-response`)));
        res.on('error', (e) => reject(Object.assign(new TruncatedResponseError(`${method} ${path}: ${e.message}`), { cause: e })));
        res.on('end', () => {
          if (!res.complete) return reject(new TruncatedResponseError(`${method} ${path}: the connection was cut mid-response`));
          const body = Buffer.concat(chunks).toString('utf8');
          let parsed: any = body;
          try {
            if (!text) parsed = body ? JSON.parse(body) : undefined;
          } catch {
            if ((res.statusCode ?? 500) < 400) {
              return reject(new TruncatedResponseError(`${method} ${path}: the response was not JSON`));
            }
          }
          const code = res.statusCode ?? 0;
          if (code >= 400) {
            const reason = parsed?.reason ?? res.statusMessage ?? 'Error';
            const message = parsed?.message ?? body.slice(0, 200);
            return reject(new ApiStatusError(code, reason, message, method, path));
          }
          resolve(parsed as T);
        });
      });
      req.setTimeout(this.options.timeoutMs, () => req.destroy(new RequestTimeoutError(`${method} ${path}: no answer in ${this.options.timeoutMs} ms`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  private agentFor(o: https.RequestOptions): https.Agent {
    const key = [o.ca, o.cert, o.key, o.rejectUnauthorized, o.servername].map((v) => String(v ?? '')).join('\0');
    let agent = this.agents.get(key);
    if (!agent) {
      // One TLS context for every connection: without it each connection parses the CA and key again (~4 ms of CPU
      // each, and a command opens one connection per parallel request).
      const secureContext = createSecureContext({ ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase });
      agent = new https.Agent({
        keepAlive: true, maxSockets: 32, secureContext, ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase,
        ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {}),
        ...(o.servername ? { servername: o.servername } : {}),
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** Every match, page by page; with `atMost`, one page of at most that many (a "does any exist?" question). */
  list<T extends KubeObject>(type: ResourceType, namespace?: string, labelSelector?: string, fieldSelector?: string, atMost?: number): Promise<ListResult<T>> {
    return this.listPages<T>(type, namespace, { labelSelector, fieldSelector }, atMost);
  }

  /**
   * Every match as the API server's watch cache holds it now (resourceVersion=0), not a consistent read. Since
   * Kubernetes 1.31 a consistent list is served from that cache once the cache has caught up with etcd, and the
   * server asks etcd where it stands at most every 100 ms per resource: a second consistent list of a kind soon
   * after the first waits up to 100 ms when nothing else of that kind changed meanwhile. For a read that a
   * consistent read under the Lease repeats (close's look before the Lease), that wait buys nothing.
   */
  listCached<T extends KubeObject>(type: ResourceType, namespace?: string, labelSelector?: string): Promise<ListResult<T>> {
    return this.listPages<T>(type, namespace, { labelSelector, resourceVersion: '0' });
  }

  private async listPages<T extends KubeObject>(type: ResourceType, namespace: string | undefined, query: Record<string, string | undefined>,
    atMost?: number): Promise<ListResult<T>> {
    // Paginate with limit/continue so a big cluster never comes back as one giant response.
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const q = new URLSearchParams({ limit: String(atMost ?? 500) });
      // A continue token carries the version of its first page; the server refuses it alongside a resourceVersion.
      for (const [k, v] of Object.entries(query)) if (v && !(cont && k === 'resourceVersion')) q.set(k, v);
      if (cont) q.set('continue', cont);
      const res = await this.request<{ items: T[]; metadata: { continue?: string; resourceVersion: string } }>(
        'GET', `${resourcePath(type, namespace)}?${q}`);
      // A list's items carry no apiVersion/kind; put them back so objects can be written as they are.
      for (const item of res.items) items.push({ ...item, apiVersion: type.apiVersion, kind: type.kind });
      cont = atMost === undefined ? res.metadata.continue || undefined : undefined;
      resourceVersion = res.metadata.resourceVersion;
    } while (cont);
    return { items, resourceVersion };
  }

  /**
   * Streams the changes after `resourceVersion` (newline-delimited JSON, with bookmarks) to `onEvent`. Resolves
   * when the server ends the stream (its timeout, a restart); rejects on a failed connection, on an error status
   * (410 Gone: that version is no longer kept, list again), or on abort. Not retried: the caller re-lists or
   * re-watches, since a retry from an old version would replay or miss changes.
   */
  async watch<T extends KubeObject>(type: ResourceType, namespace: string | undefined, o: WatchOptions,
    onEvent: (e: WatchEvent<T>) => void): Promise<void> {
    const q = new URLSearchParams({ watch: '1', allowWatchBookmarks: 'true' });
    // Without a version the stream starts from a consistent read of the current state.
    if (o.initialEvents) {
      q.set('sendInitialEvents', 'true');
      q.set('resourceVersionMatch', 'NotOlderThan');
    } else q.set('resourceVersion', o.resourceVersion ?? '0');
    if (o.labelSelector) q.set('labelSelector', o.labelSelector);
    if (o.fieldSelector) q.set('fieldSelector', o.fieldSelector);
    if (o.timeoutSeconds) q.set('timeoutSeconds', String(Math.max(1, Math.ceil(o.timeoutSeconds))));
    const path = `${resourcePath(type, namespace)}?${q}`;
    const url = new URL(this.server + path);
    const opts: https.RequestOptions = { method: 'GET', headers: { accept: 'application/json', 'user-agent': this.options.userAgent } };
    await this.kc.applyToHTTPSOptions(opts);
    if (!this.kc.getCurrentCluster()?.proxyUrl && url.protocol === 'https:') opts.agent = this.agentFor(opts);
    if (o.signal.aborted) throw o.signal.reason;
    this.counters.requests++;
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve, reject) => {
      let failed: unknown;
      const fail = (e: unknown) => {
        failed ??= e;
        o.signal.removeEventListener('abort', onAbort);
        req.destroy();
        reject(failed);
      };
      const onAbort = () => fail(o.signal.reason);
      o.signal.addEventListener('abort', onAbort, { once: true });
      const req = transport.request(url, opts, (res) => {
        this.contacted = true;
        const code = res.statusCode ?? 0;
        let pending = '';
        const line = (text: string) => {
          if (!text.trim()) return;
          let e: { type: string; object: any };
          try {
            e = JSON.parse(text);
          } catch {
            return fail(new TruncatedResponseError(`WATCH ${path}: a line of the stream was not JSON`));
          }
          if (e.type === 'ERROR') {
            const st = e.object ?? {};
            return fail(new ApiStatusError(st.code ?? 500, st.reason ?? 'Error', st.message ?? '', 'WATCH', path));
          }
          if (e.object && e.type !== 'BOOKMARK') Object.assign(e.object, { apiVersion: type.apiVersion, kind: type.kind });
          onEvent(e as WatchEvent<T>);
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (failed) return;
          if (code >= 400) {
            pending += chunk;
            return;
          }
          const lines = (pending + chunk).split('\n');
          pending = lines.pop() ?? '';
          for (const l of lines) if (!failed) line(l);
        });
        res.on('error', (e) => fail(Object.assign(new TruncatedResponseError(`WATCH ${path}: ${e.message}`), { cause: e })));
        res.on('close', () => {
          if (!res.complete) fail(new TruncatedResponseError(`WATCH ${path}: the connection was cut mid-stream`));
        });
        res.on('end', () => {
          o.signal.removeEventListener('abort', onAbort);
          if (failed) return;
          if (code >= 400) {
            let st: any = {};
            try {
              st = JSON.parse(pending);
            } catch { /* not a Status */ }
            return fail(new ApiStatusError(code, st.reason ?? res.statusMessage ?? 'Error', st.message ?? pending.slice(0, 200), 'WATCH', path));
          }
          line(pending);
          if (!failed) resolve();
        });
      });
      req.on('error', (e) => fail(e));
      req.end();
    });
  }

  async get<T extends KubeObject>(type: ResourceType, namespace: string | undefined, name: string): Promise<T | null> {
    try {
      return await this.request<T>('GET', resourcePath(type, namespace, name));
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  create<T extends KubeObject>(type: ResourceType, obj: T): Promise<T> {
    return this.request<T>('POST', resourcePath(type, obj.metadata.namespace), obj);
  }

  /** PUT carrying obj.metadata.resourceVersion: a 409 means someone changed it since it was read. */
  replace<T extends KubeObject>(type: ResourceType, obj: T): Promise<T> {
    return this.request<T>('PUT', resourcePath(type, obj.metadata.namespace, obj.metadata.name), obj);
  }

  /** Deletes; false when it was already gone. A precondition makes it fail with 409 if the object changed. */
  async delete(type: ResourceType, namespace: string | undefined, name: string,
    precondition?: { resourceVersion?: string; uid?: string }): Promise<boolean> {
    const body = {
      apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background',
      ...(precondition ? { preconditions: precondition } : {}),
    };
    try {
      await this.request('DELETE', resourcePath(type, namespace, name), body);
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

/**
 * Why a kubeconfig did not load, without a byte of its content: YAML parser messages quote the offending text (a
 * token that starts with "!" comes back as an "unknown tag"), so only their position is kept.
 */
function describeLoadError(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'not readable by this user';
  if (code === 'EISDIR') return 'a directory, not a file';
  const mark = (e as { mark?: { line?: number; column?: number } }).mark;
  if ((e as Error).name === 'YAMLException') {
    return mark?.line !== undefined ? `not valid YAML at line ${mark.line + 1}, column ${(mark.column ?? 0) + 1}` : 'not valid YAML';
  }
  // client-node's own checks name the entry that is incomplete ("users[0].name is missing") and nothing else.
  const msg = e instanceof Error ? e.message : '';
  if (/^(clusters|users|contexts)\[\d+\][\w.]* is missing$/.test(msg)) return msg;
  return 'not a mapping with clusters, users and contexts';
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Turns an error from the API into a DynamicEnvError naming the object and what to do. */
export function explainApiError(e: unknown, what: string): Error {
  if (e instanceof ApiStatusError) {
    const detail = `${e.code} ${e.reason}${e.apiMessage ? `: ${e.apiMessage}` : ''}`;
    if (e.code === 403) {
      return clusterError(`${what}: forbidden (${e.apiMessage}); grant it with deploy/rbac.yaml (a RoleBinding to dynamic-env-write in that namespace)`, e);
    }
    const notServed = e.code === 404 ? notServedMessage(e.method, e.path) : undefined;
    if (notServed) return clusterError(`${what}: ${notServed}`, e);
    if (e.code === 401) return clusterError(`${what}: the cluster refused the credentials (401); check the kubeconfig's user`, e);
    if (e.code === 422 || e.code === 400) return clusterError(`${what}: the API server rejected it: ${e.apiMessage}`, e);
    if (isTooLarge(e)) {
      return clusterError(`${what}: the object is too large for the cluster to store (${detail}); this is permanent, re-running cannot help: make it smaller`, e);
    }
    if (e.code === 409) return clusterError(`${what}: ${detail}; it changed while this run worked on it, re-run to converge`, e);
    if (isTransient(e)) return clusterError(`${what}: the API server kept failing (${detail}); re-run when it is healthy, the run converges`, e);
    return clusterError(`${what}: ${detail}`, e);
  }
  if (e instanceof Error && 'kind' in e) return e;
  const code = (e as { code?: string }).code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return clusterError(`${what}: the kubeconfig's server host does not resolve (${code}); check the cluster's server URL and this machine's DNS`, e);
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/.test(code)) {
    return clusterError(`${what}: the API server's TLS certificate was not accepted (${code}); check the kubeconfig's certificate-authority-data for that cluster`, e);
  }
  if (isTransient(e)) {
    return clusterError(`${what}: the API server did not answer (${e instanceof Error ? e.message : String(e)}); check that the cluster is up and the kubeconfig's server is right, then re-run: the run converges`, e);
  }
  return clusterError(`${what}: ${e instanceof Error ? e.message : String(e)}`, e);
}
