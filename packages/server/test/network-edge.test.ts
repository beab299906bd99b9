// The service as a network sees it: HTTPS with certificates that reload, client certificates,
// and clients that are slow or send too much. Real sockets on loopback; certificates made by
// openssl in a temporary directory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type RunningServer, startServer } from '../src/serve.js';

const KEY = 'edge-admin-key-0123456789abcdefghijklmnopq';
let dir: string;
const servers: RunningServer[] = [];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A certificate for `name` signed by the test CA, as `<name>.pem` and `<name>.key`. */
function issue(name: string, cn: string, extension: string): void {
  openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  );
  writeFileSync(join(dir, `${name}.ext`), extension);
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}.pem`,
    '-extfile',
    `${name}.ext`,
  );
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'curfew-edge-'));
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=curfew test CA',
  );
  const server = 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n';
  issue('first', 'first.curfew.test', server);
  issue('second', 'second.curfew.test', server);
  issue('client', 'billing-backend', 'extendedKeyUsage=clientAuth\n');
  writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function serve(
  env: Record<string, string>,
): Promise<{ server: RunningServer; banner: string }> {
  let banner = '';
  const config = loadConfig({
    CURFEW_STORE: 'memory:',
    CURFEW_PORT: '0',
    CURFEW_API_KEYS: `ops:${KEY}:*`,
    CURFEW_API_KEYS_FILE: join(dir, 'no-key-file'),
    CURFEW_LOG_LEVEL: 'silent',
    CURFEW_SWEEP_INTERVAL: '0',
    ...env,
  });
  const server = await startServer(config, {
    write: (text) => {
      banner += text;
    },
  });
  servers.push(server);
  return { server, banner };
}

interface Answer {
  status: number;
  peer: PeerCertificate;
  body: string;
}

/** One HTTPS request on a new connection, trusting the test CA. */
function request(
  url: string,
  options: { path?: string; cert?: string; key?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${url}${options.path ?? '/healthz'}`,
      {
        ca: readFileSync(join(dir, 'ca.pem')),
        agent: false,
        ...(options.cert === undefined
          ? {}
          : {
              cert: readFileSync(join(dir, options.cert)),
              key: readFileSync(join(dir, options.key!)),
            }),
        headers: { authorization: `Bearer ${KEY}` },
      },
      (res) => {
        const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode!, peer, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function copy(from: string, to: string): void {
  writeFileSync(join(dir, to), readFileSync(join(dir, from)));
}

describe('TLS', () => {
  it('serves HTTPS, says so in the banner, and answers nothing in plain HTTP', async () => {
    const { server, banner } = await serve({
      CURFEW_TLS_CERT: join(dir, 'first.pem'),
      CURFEW_TLS_KEY: join(dir, 'first.key'),
    });
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(banner).toMatch(/tls\s+on: CN=first\.curfew\.test, valid until \d{4}-/);
    const answer = await request(server.url);
    expect(answer.status).toBe(200);
    expect(answer.peer.subject.CN).toBe('first.curfew.test');
    await expect(fetch(server.url.replace('https:', 'http:'))).rejects.toThrow();
  });

  it('reloads the certificate on request and when the files change, and keeps the old one if the new is bad', async () => {
    copy('first.pem', 'live.pem');
    copy('first.key', 'live.key');
    const { server } = await serve({
      CURFEW_TLS_CERT: join(dir, 'live.pem'),
      CURFEW_TLS_KEY: join(dir, 'live.key'),
    });
    expect((await request(server.url)).peer.subject.CN).toBe('first.curfew.test');

    // A half-written change (new certificate, old key) cannot be used: the old one stays.
    copy('second.pem', 'live.pem');
    expect(await server.reloadTls()).toBe(false);
    expect((await request(server.url)).peer.subject.CN).toBe('first.curfew.test');

    // Once the key follows, the watcher picks both up without being asked.
    copy('second.key', 'live.key');
    let cn = '';
    for (let attempt = 0; attempt < 50 && cn !== 'second.curfew.test'; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      cn = String((await request(server.url)).peer.subject.CN);
    }
    expect(cn).toBe('second.curfew.test');

    // An explicit reload (what SIGHUP does) works as well.
    copy('first.pem', 'live.pem');
    copy('first.key', 'live.key');
    expect(await server.reloadTls()).toBe(true);
    expect((await request(server.url)).peer.subject.CN).toBe('first.curfew.test');
  });

  it('with a client CA, refuses clients without a certificate it signed, before any request', async () => {
    const { server, banner } = await serve({
      CURFEW_TLS_CERT: join(dir, 'first.pem'),
      CURFEW_TLS_KEY: join(dir, 'first.key'),
      CURFEW_TLS_CLIENT_CA: join(dir, 'ca.pem'),
    });
    expect(banner).toContain('client certificates required');
    await expect(request(server.url)).rejects.toThrow();
    // A certificate made for serving, not for clients, by the same CA is no client certificate.
    await expect(request(server.url, { cert: 'second.pem', key: 'second.key' })).rejects.toThrow();
    const answer = await request(server.url, {
      path: '/v1/users/u/sessions',
      cert: 'client.pem',
      key: 'client.key',
    });
    // Through the handshake, the API answers as ever: a key-protected route, with the key.
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ sessions: [], nextCursor: null });
    const health = await request(server.url, { cert: 'client.pem', key: 'client.key' });
    expect(health.status).toBe(200);
  });

  it('refuses to start with files it cannot serve with, naming the setting', async () => {
    await expect(
      serve({ CURFEW_TLS_CERT: join(dir, 'first.pem'), CURFEW_TLS_KEY: join(dir, 'second.key') }),
    ).rejects.toThrow(/^CURFEW_TLS_CERT\/CURFEW_TLS_KEY: cannot serve TLS with .*first\.pem/);
    await expect(
      serve({ CURFEW_TLS_CERT: join(dir, 'garbage.pem'), CURFEW_TLS_KEY: join(dir, 'first.key') }),
    ).rejects.toThrow(/^CURFEW_TLS_CERT/);
    await expect(
      serve({ CURFEW_TLS_CERT: join(dir, 'missing.pem'), CURFEW_TLS_KEY: join(dir, 'first.key') }),
    ).rejects.toThrow(/^CURFEW_TLS_CERT: cannot read .*missing\.pem: ENOENT$/);
  });
});

/** A raw connection, for requests no HTTP client would send. */
function open(
  url: string,
): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      text += chunk;
    });
    const closed = new Promise<number>((done) => socket.on('close', () => done(performance.now())));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

describe('slow and oversized clients', () => {
  it('cuts off a client trickling its body at the request timeout, serving others meanwhile', async () => {
    const { server } = await serve({ CURFEW_REQUEST_TIMEOUT: '2s', CURFEW_HEADERS_TIMEOUT: '1s' });
    const slow = await open(server.url);
    const started = performance.now();
    slow.socket.write(
      'POST /v1/sessions/validate HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n`,
    );
    // One byte every 100 ms: the whole body would take 20 s.
    const trickle = setInterval(() => slow.socket.write(' '), 100);
    try {
      // Meanwhile, others are answered at once.
      const answered: number[] = [];
      for (let i = 0; i < 10; i += 1) {
        const before = performance.now();
        const response = await fetch(`${server.url}/healthz`);
        expect(response.status).toBe(200);
        answered.push(performance.now() - before);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(Math.max(...answered)).toBeLessThan(500);
      const closedAt = await slow.closed;
      const after = (closedAt - started) / 1000;
      // The documented cut: the request timeout, checked once a second.
      expect(after).toBeGreaterThanOrEqual(1.9);
      expect(after).toBeLessThan(4.5);
      expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
      slow.socket.destroy();
    }
  });

  it('cuts off a client that never finishes its headers at the headers timeout', async () => {
    const { server } = await serve({ CURFEW_REQUEST_TIMEOUT: '5s', CURFEW_HEADERS_TIMEOUT: '1s' });
    const slow = await open(server.url);
    const started = performance.now();
    slow.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => slow.socket.write('X-Slow: 1\r\n'), 100);
    try {
      const after = ((await slow.closed) - started) / 1000;
      expect(after).toBeGreaterThanOrEqual(0.9);
      expect(after).toBeLessThan(3.5);
      expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
      slow.socket.destroy();
    }
  });

  it('answers 431 to a request head over the limit, and serves one under it', async () => {
    const { server } = await serve({ CURFEW_MAX_HEADER_SIZE: '2048' });
    const big = await fetch(`${server.url}/healthz`, { headers: { 'x-big': 'a'.repeat(3000) } });
    expect(big.status).toBe(431);
    const small = await fetch(`${server.url}/healthz`, { headers: { 'x-big': 'a'.repeat(1000) } });
    expect(small.status).toBe(200);
  });

  it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
    const { server } = await serve({ CURFEW_KEEP_ALIVE_TIMEOUT: '1s' });
    const client = await open(server.url);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const started = performance.now();
    const after = ((await client.closed) - started) / 1000;
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(client.received()).toMatch(/keep-alive: timeout=1/i);
    // Node closes the idle socket a little after the timeout it advertises (here, measured, about
    // a second after), so a client reusing it at the advertised last moment does not race it.
    expect(after).toBeGreaterThanOrEqual(0.9);
    expect(after).toBeLessThan(3.5);
  });
});
