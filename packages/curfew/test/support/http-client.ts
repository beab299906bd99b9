// Sends one request to a server on an ephemeral loopback port with node:http, which (unlike
// fetch) lets a test set Host, Origin, Cookie and Sec-Fetch-Site exactly as a browser would.
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestRequest, TestResponse } from './integration-cases.js';

export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.closeAllConnections();
    server.close((error) => (error ? reject(error) : resolve()));
  });
}

export function sendRaw(base: string, { method = 'GET', path, headers = {}, body }: TestRequest) {
  return new Promise<TestResponse>((resolve, reject) => {
    const outgoing = httpRequest(new URL(path, base), { method, headers }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => {
        const out = new Headers();
        for (const [name, value] of Object.entries(incoming.headers)) {
          if (value === undefined) continue;
          for (const one of Array.isArray(value) ? value : [value]) out.append(name, one);
        }
        resolve({
          status: incoming.statusCode ?? 0,
          headers: out,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      incoming.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}
