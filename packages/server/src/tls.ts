import { X509Certificate } from 'node:crypto';
import { unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError, type TlsFiles } from './config.js';

/**
 * What the service serves HTTPS with, read from the `CURFEW_TLS_*` files: the options for the
 * TLS server, and a one-line description of the certificate for the banner.
 *
 * @example
 * ```ts
 * const tls = await readTls({ cert: 'cert.pem', key: 'key.pem', clientCa: null });
 * console.log(tls.summary); // "CN=curfew.internal, valid until 2027-12-05T00:00:00.000Z"
 * ```
 */
export interface LoadedTls {
  options: SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean };
  summary: string;
  /** When the certificate stops being valid, epoch milliseconds. */
  validTo: number;
}

/**
 * Reads and checks the certificate, key and client CA: a key that does not match the
 * certificate, or a file that is not PEM, is a {@link ConfigError} naming the setting, here
 * rather than at the first client's handshake. With a client CA, every client must present a
 * certificate it signed; the handshake refuses any other before a byte of HTTP is read.
 *
 * @example
 * ```ts
 * const { options } = await readTls(config.tls);
 * https.createServer(options, handler);
 * ```
 */
export async function readTls(files: TlsFiles): Promise<LoadedTls> {
  const [cert, key, ca] = await Promise.all([
    readPem(files.cert, 'CURFEW_TLS_CERT'),
    readPem(files.key, 'CURFEW_TLS_KEY'),
    files.clientCa === null ? undefined : readPem(files.clientCa, 'CURFEW_TLS_CLIENT_CA'),
  ]);
  const options = {
    cert,
    key,
    ...(ca === undefined ? {} : { ca }),
    requestCert: ca !== undefined,
    rejectUnauthorized: ca !== undefined,
    minVersion: 'TLSv1.2' as const,
  };
  try {
    createSecureContext(options);
  } catch (error) {
    // OpenSSL's reason ("key values mismatch", "no start line") names no key material.
    throw new ConfigError(
      `CURFEW_TLS_CERT/CURFEW_TLS_KEY: cannot serve TLS with ${files.cert} and ${files.key}: ${(error as Error).message}`,
    );
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new ConfigError(`CURFEW_TLS_CERT: ${files.cert}: ${(error as Error).message}`);
  }
  const validTo = Date.parse(certificate.validTo);
  const subject = certificate.subject.replaceAll('\n', ', ');
  return {
    options,
    validTo,
    summary: `${subject}, valid until ${new Date(validTo).toISOString()}${ca === undefined ? '' : '; client certificates required'}`,
  };
}

async function readPem(path: string, setting: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ConfigError(
      `${setting}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unknown error'}`,
    );
  }
}

/**
 * Calls `onChange` when any of the TLS files changes (checked every `interval` ms, by
 * modification time and size, which works for files replaced by rename, as certificate tools
 * and Kubernetes secrets do). Returns the function that stops watching.
 *
 * @example
 * ```ts
 * const stop = watchTls(config.tls, () => void reload());
 * ```
 */
export function watchTls(files: TlsFiles, onChange: () => void, interval = 1000): () => void {
  const paths = [files.cert, files.key, ...(files.clientCa === null ? [] : [files.clientCa])];
  const listener = (current: { mtimeMs: number }, previous: { mtimeMs: number }) => {
    if (current.mtimeMs !== previous.mtimeMs) onChange();
  };
  for (const path of paths) watchFile(path, { interval, persistent: false }, listener);
  return () => {
    for (const path of paths) unwatchFile(path, listener);
  };
}
