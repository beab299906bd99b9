import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built binary, as `npm start` runs it: this suite tests what is shipped.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  stdout: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `curfew serve` on a free loopback port and waits for its banner (at most 15 s). */
async function serve(env: NodeJS.ProcessEnv): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { PATH: process.env.PATH, CURFEW_HOST: '127.0.0.1', CURFEW_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner in 15 s:\n${stderr}`)), 15_000);
    const check = () => {
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        child.stderr!.off('data', check);
        resolve(match[1]!);
      }
    };
    child.stderr!.on('data', check);
    void exit.then(({ code }) =>
      reject(new Error(`exited with ${code} before serving:\n${stderr}`)),
    );
  });
  return { child, url, stderr: () => stderr, stdout: () => stdout, exit };
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
type Body = Record<string, any>;

async function call(url: string, key: string, path: string, body?: unknown) {
  const response = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Body,
  };
}

describe('curfew serve as a process', () => {
  let dir: string;
  const running: ChildProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'curfew-serve-'));
  });
  afterAll(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('serves, stops on SIGTERM with exit 0, and finds its sessions after a restart', async () => {
    const env = {
      CURFEW_STORE: `sqlite:${join(dir, 'data', 'curfew.db')}`,
      CURFEW_LOG_LEVEL: 'info',
    };

    const first = await serve(env);
    running.push(first.child);
    // No key was configured and stderr is no terminal: the first start made an admin key and
    // wrote it to a file only this user can read, naming the file, never printing the key.
    const keyFile = join(dir, 'data', 'admin-key');
    expect(first.stderr()).toContain(`written to ${keyFile}`);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const key = /^(cfk_[A-Za-z0-9_-]{43})\n$/.exec(await readFile(keyFile, 'utf8'))?.[1];
    expect(key).toBeDefined();
    expect(first.stderr()).not.toContain(key!);
    expect(first.stdout()).not.toContain(key!);
    expect(first.stderr()).toMatch(/store\s+sqlite:.*curfew\.db/);
    expect(first.stderr()).toMatch(/policy\s+nist-800-63b-rev3-aal2: idle 30m, absolute 12h/);

    const created = await call(first.url, key!, '/v1/sessions', { userId: 42, tenantId: 'acme' });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const { token, session } = created.body;
    expect((await call(first.url, key!, '/v1/sessions/validate', { token })).body.valid).toBe(true);
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

    first.child.kill('SIGTERM');
    expect(await first.exit).toEqual({ code: 0, signal: null });
    // The JSON request log never carried the token or the key.
    expect(first.stdout()).not.toContain(token);
    expect(first.stdout()).not.toContain(key!);
    expect(first.stdout()).toContain('"msg":"stopped"');
    expect(first.stdout()).toContain(`"path":${JSON.stringify(keyFile)}`);
    // Request lines are buffered for a turn of the event loop; none may be lost on the way out.
    expect(first.stdout()).toMatch(/"route":"\/v1\/sessions\/validate","status":200/);

    const second = await serve(env);
    running.push(second.child);
    expect(second.stderr()).not.toMatch(/cfk_|admin-key/); // made once only
    const validated = await call(second.url, key!, '/v1/sessions/validate', { token });
    expect(validated.body).toMatchObject({
      valid: true,
      session: { id: session.id, userId: '42' },
    });
    const listed = await call(second.url, key!, '/v1/users/42/sessions');
    expect(listed.body.sessions.map((s: { id: string }) => s.id)).toEqual([session.id]);

    second.child.kill('SIGINT');
    expect(await second.exit).toEqual({ code: 0, signal: null });
  }, 40_000);

  it('stops at start-up with one line and exit 2 on a bad value', async () => {
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: {
        PATH: process.env.PATH,
        CURFEW_PORT: '0',
        CURFEW_STORE: 'memory:',
        CURFEW_IDLE_TIMEOUT: '2h',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.push(child);
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toBe(
      'curfew: CURFEW_IDLE_TIMEOUT: 2h is longer than the 30m allowed by nist-800-63b-rev3-aal2 at AAL2\n',
    );
  }, 20_000);
});

describe('curfew --help', () => {
  it('starts without loading the HTTP server or a database driver', () => {
    // A child process: this one has loaded all of them already. Every driver and Fastify are
    // CommonJS, so whatever the CLI loaded is in the CommonJS module cache.
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const { runCli } = await import(${JSON.stringify(new URL('../dist/run-cli.js', import.meta.url).href)});
      const sink = { write() {} };
      const codes = [];
      for (const args of [['--help'], ['serve', '--help'], ['sessions', 'list', '--help'], ['migrate', '--help'], ['keys', 'create', '--help']]) {
        codes.push(await runCli(args, { stdout: sink, stderr: sink, env: {} }));
      }
      const names = Object.keys(require('node:module')._cache)
        .map((path) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(path)?.[1])
        .filter(Boolean);
      console.log(JSON.stringify({ codes, names: [...new Set(names)].sort() }));
    `;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    const { codes, names } = JSON.parse(output) as { codes: number[]; names: string[] };
    expect(codes).toEqual([0, 0, 0, 0, 0]);
    for (const heavy of ['fastify', 'better-sqlite3', 'pg', 'mysql2', 'ioredis']) {
      expect(names).not.toContain(heavy);
    }
  });
});

describe('npm start', () => {
  it('serves at once from an up-to-date build, and SIGTERM to npm stops the server', async () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    // npm runs the script in the checkout: the store, and so the data folder with its first-start
    // admin key, go to a scratch folder, or other suites would find that key in ./data.
    const scratch = await mkdtemp(join(tmpdir(), 'curfew-npm-start-'));
    const npm = spawn('npm', ['start'], {
      cwd: root,
      env: {
        ...process.env,
        CURFEW_STORE: `sqlite:${join(scratch, 'curfew.db')}`,
        CURFEW_HOST: '127.0.0.1',
        CURFEW_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (chunk) => {
      output += chunk;
    });
    npm.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const exit = new Promise<number | null>((resolve) => npm.once('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no banner in 10 s:\n${output}`)), 10_000);
        const check = () => {
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
          if (match === null) return;
          clearTimeout(timer);
          resolve(match[1]!);
        };
        npm.stderr.on('data', check);
      });
      // The build in the checkout is newer than its sources: nothing was rebuilt on the way.
      expect(output).not.toContain('building');
      expect((await fetch(`${url}/healthz`)).status).toBe(200);

      // What an orchestrator or a terminal does: the signal goes to npm, the process it started.
      npm.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(output).toContain('"msg":"stopped"');
      // The server went with it and let go of its port.
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
      expect((await stat(join(scratch, 'admin-key'))).isFile()).toBe(true);
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL');
      await rm(scratch, { recursive: true, force: true });
    }
  }, 20_000);
});
