// Certificates for the test control plane, made with the openssl CLI (Node can sign nothing itself):
// a CA, the API server's serving cert, and the service-account signing key pair.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ControlPlaneCerts {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  saKey: string;
  saPub: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCerts(dir: string): ControlPlaneCerts {
  const p = (f: string) => join(dir, f);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=dynamic-env-test-ca',
    '-keyout', p('ca.key'), '-out', p('ca.crt')], dir);
  writeFileSync(p('serving.ext'), [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
  ].join('\n'));
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=kube-apiserver', '-keyout', p('serving.key'),
    '-out', p('serving.csr')], dir);
  openssl(['x509', '-req', '-in', p('serving.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', p('serving.ext'), '-out', p('serving.crt')], dir);
  openssl(['genrsa', '-out', p('sa.key'), '2048'], dir);
  openssl(['rsa', '-in', p('sa.key'), '-pubout', '-out', p('sa.pub')], dir);
  return {
    caCert: p('ca.crt'), caKey: p('ca.key'), servingCert: p('serving.crt'), servingKey: p('serving.key'),
    saKey: p('sa.key'), saPub: p('sa.pub'),
  };
}

/** A client certificate (CN = user, O = groups) signed by the test CA, for the secret-scrubbing tests. */
export function makeClientCert(dir: string, certs: ControlPlaneCerts, user: string, groups: string[]): { cert: string; key: string } {
  const base = join(dir, `client-${user.replace(/[^a-z0-9]/gi, '_')}`);
  const subj = `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`;
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subj, '-keyout', `${base}.key`, '-out', `${base}.csr`], dir);
  writeFileSync(`${base}.ext`, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', certs.caCert, '-CAkey', certs.caKey, '-CAcreateserial', '-days', '2',
    '-extfile', `${base}.ext`, '-out', `${base}.crt`], dir);
  return { cert: `${base}.crt`, key: `${base}.key` };
}
