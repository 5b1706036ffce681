// What an e2e test uses to set up and observe the cluster: admin access, fresh namespaces, least-privilege
// identities bound to deploy/rbac.yaml, and the audit log.
import { inject } from 'vitest';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { applyObject, editObject, kindPath, request, ApiError, type Endpoint } from './http.js';
import { kubeconfigText, serviceAccountToken, waitFor } from './control-plane.js';
import type { ClusterInfo } from './cluster-info.js';

export { ApiError, applyObject, editObject, kindPath, request, waitFor };

export interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string; apiVersion?: string; subresource?: string };
  responseStatus?: { code?: number };
  stageTimestamp: string;
  /** When the API server received the request (a watch's event comes at its end, stamped then). */
  requestReceivedTimestamp?: string;
}

export const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export class TestCluster {
  readonly admin: Endpoint;
  readonly tmp = mkdtempSync(join(tmpdir(), 'dynamic-env-test-'));

  constructor(readonly info: ClusterInfo) {
    this.admin = { server: info.server, ca: info.ca, token: info.adminToken, cert: info.adminCert, key: info.adminKey };
  }

  get hasAuditLog(): boolean {
    return Boolean(this.info.auditLog);
  }

  /** A new namespace with a unique name; the test owns it. */
  async namespace(prefix = 't'): Promise<string> {
    const name = `${prefix}-${randomBytes(4).toString('hex')}`.slice(0, 63);
    await applyObject(this.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    return name;
  }

  apply(obj: any): Promise<any> {
    return applyObject(this.admin, obj);
  }

  async applyYaml(text: string, namespace?: string): Promise<any[]> {
    const out = [];
    for (const doc of parseAllDocuments(text)) {
      const obj = doc.toJSON();
      if (!obj?.kind) continue;
      if (namespace && !obj.metadata.namespace && !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(obj.kind)) {
        obj.metadata.namespace = namespace;
      }
      out.push(await this.apply(obj));
    }
    return out;
  }

  get<T = any>(kind: string, namespace: string | undefined, name: string): Promise<T> {
    return request(this.admin, 'GET', kindPath(kind, namespace, name));
  }

  async getOrNull<T = any>(kind: string, namespace: string | undefined, name: string): Promise<T | null> {
    try {
      return await this.get<T>(kind, namespace, name);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }

  async list<T = any>(kind: string, namespace?: string, labelSelector?: string): Promise<T[]> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const res = await request(this.admin, 'GET', kindPath(kind, namespace) + q);
    return res.items;
  }

  delete(kind: string, namespace: string | undefined, name: string): Promise<unknown> {
    return request(this.admin, 'DELETE', kindPath(kind, namespace, name));
  }

  /**
   * A ServiceAccount bound exactly as deploy/rbac.yaml documents: read cluster-wide, write in `writeNamespaces`.
   * Each test gets its own, so its requests can be told apart in the audit log.
   */
  async identity(writeNamespaces: string[], name = `de-${randomBytes(3).toString('hex')}`): Promise<{ kubeconfig: string; username: string }> {
    const home = writeNamespaces[0]!;
    await this.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: home } });
    const subject = [{ kind: 'ServiceAccount', name, namespace: home }];
    await this.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${home}-${name}-read` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'dynamic-env-read' }, subjects: subject,
    });
    for (const ns of writeNamespaces) {
      await this.apply({
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `${name}-write`, namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'dynamic-env-write' }, subjects: subject,
      });
    }
    const token = await serviceAccountToken(this.admin, home, name);
    const kubeconfig = join(this.tmp, `${name}.kubeconfig`);
    writeFileSync(kubeconfig, kubeconfigText(this.info.server, this.info.ca, { token }, name), { mode: 0o600 });
    return { kubeconfig, username: `system:serviceaccount:${home}:${name}` };
  }

  /** Audit events, optionally only those of one user. Reads the whole log: it is small and append-only. */
  audit(filter: { username?: string; since?: string } = {}): AuditEvent[] {
    if (!this.info.auditLog) throw new Error('the audit log is only available on the harness control plane');
    const text = readFileSync(this.info.auditLog, 'utf8');
    const events: AuditEvent[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      const e = JSON.parse(line) as AuditEvent;
      if (e.stage !== 'ResponseComplete' && e.stage !== 'Panic') continue;
      if (filter.username && e.user.username !== filter.username) continue;
      if (filter.since && e.stageTimestamp < filter.since) continue;
      events.push(e);
    }
    return events;
  }

  /**
   * Writes by one user. SelfSubjectRulesReviews and SelfSubjectAccessReviews are left out: a "create" that asks the
   * API server a question and stores nothing (open and close ask them about the writes they need, before the first).
   */
  writes(username: string): AuditEvent[] {
    return this.audit({ username }).filter((e) => WRITE_VERBS.has(e.verb) && !e.objectRef?.resource?.startsWith('selfsubject'));
  }
}

/** The cluster for this test file; skips (outside CI only) when the global setup said why it could not start. */
export function useCluster(): TestCluster {
  const info = inject('cluster');
  if (info.skipped) {
    if (process.env.CI === 'true') throw new Error(`the e2e tier cannot be skipped in CI: ${info.skipped}`);
  }
  return new TestCluster(info);
}

export function readYaml(path: string): any[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJSON());
}
