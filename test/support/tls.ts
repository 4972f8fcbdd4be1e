/**
 * A self-signed certificate for a cloud started with `TETHER_TLS_CERT`/`TETHER_TLS_KEY` in a test,
 * made with the `openssl` CLI (one call, no key handling of our own), valid for 127.0.0.1 for a day.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { vi } from 'vitest';

/** The PEM files of a certificate for `IP:127.0.0.1`. */
export interface TestCertificate {
  readonly tlsCert: string;
  readonly tlsKey: string;
}

/** Writes `cert.pem` and `key.pem` (P-256) into `dir` and returns their paths. */
export function selfSignedCertificate(dir: string): TestCertificate {
  const tlsCert = join(dir, 'cert.pem');
  const tlsKey = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', tlsKey, '-out', tlsCert,
  ], { stdio: 'ignore' });
  return { tlsCert, tlsKey };
}

/**
 * Lets this process's clients (`@mentra/sdk`, the simulated glasses, `fetch`) accept a
 * self-signed certificate: they use Node's default trust store. Returns the undo.
 */
export function trustSelfSignedCertificates(): () => void {
  vi.stubEnv('NODE_TLS_REJECT_UNAUTHORIZED', '0');
  return () => void vi.unstubAllEnvs();
}
