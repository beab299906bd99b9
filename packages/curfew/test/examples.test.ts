// Every example runs as a reader would run it (`node examples/<name>.js`, importing the built
// package by name) and answers a sign-in, an authenticated request, a status poll and a logout.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { sendRaw } from './support/http-client.js';

const examples = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples');
const running: ChildProcess[] = [];

afterEach(async () => {
  for (const child of running.splice(0)) {
    if (child.exitCode === null) {
      child.kill();
      await once(child, 'exit');
    }
  }
});

/** Starts an example on a free port and resolves with its base URL once it says it listens. */
async function startExample(name: string): Promise<string> {
  const child = spawn(process.execPath, [join(examples, `${name}.js`)], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${output}`)), 10_000);
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /on (http:\/\/localhost:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!.replace('localhost', '127.0.0.1'));
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${output}`)));
  });
}

const signIn = {
  method: 'POST',
  path: '/login',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ userId: 'ada' }),
};

describe.each(['express', 'fastify'])('examples/%s.js (cookie)', (name) => {
  it('signs in, answers /me and /status, and logs out for good', async () => {
    const base = await startExample(name);
    const send = (method: string, path: string, headers: Record<string, string> = {}) =>
      sendRaw(base, { method, path, headers });
    expect((await send('GET', '/me')).status).toBe(401);
    const login = await sendRaw(base, signIn);
    expect(login.status).toBe(200);
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    expect(cookie).toMatch(/^__Host-session=/);
    const me = await send('GET', '/me', { cookie });
    expect(JSON.parse(me.body)).toMatchObject({
      userId: 'ada',
      secondsRemaining: expect.any(Number),
    });
    expect(Number(me.headers.get('session-expires-in'))).toBeGreaterThan(1790);
    const status = await send('GET', '/status', { cookie });
    expect(JSON.parse(status.body).secondsRemaining).toBeGreaterThan(1790);
    const logout = await send('POST', '/logout', { cookie });
    expect(logout.status).toBe(204);
    expect(logout.headers.get('clear-site-data')).toBe('"cookies", "cache"');
    const after = await send('GET', '/me', { cookie });
    expect(after.status).toBe(401);
    const problem = JSON.parse(after.body);
    expect(problem).toMatchObject({ status: 401, reason: 'ended' });
    // The holder of the old cookie learns that it ended, not how: a thief is not told who noticed.
    expect(problem).not.toHaveProperty('endReason');
  });
});

describe('examples/hono.js (JWT)', () => {
  it('signs in with a JWT, answers /me and /status, and refuses the JWT after logout', async () => {
    const base = await startExample('hono');
    const login = await sendRaw(base, signIn);
    const { accessToken } = JSON.parse(login.body) as { accessToken: string };
    expect(accessToken.split('.')).toHaveLength(3);
    const authorization = `Bearer ${accessToken}`;
    const me = await sendRaw(base, { path: '/me', headers: { authorization } });
    expect(JSON.parse(me.body)).toMatchObject({
      userId: 'ada',
      secondsRemaining: expect.any(Number),
    });
    const status = await sendRaw(base, { path: '/status', headers: { authorization } });
    expect(status.status).toBe(200);
    const logout = await sendRaw(base, {
      method: 'POST',
      path: '/logout',
      headers: { authorization },
    });
    expect(logout.status).toBe(204);
    const after = await sendRaw(base, { path: '/me', headers: { authorization } });
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });
});
