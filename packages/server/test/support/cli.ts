import { runCli } from '../../src/run-cli.js';

/**
 * Runs the CLI in-process, as the binary would, with `env` as its environment; returns the exit
 * code and everything written to stdout and stderr.
 */
export async function runCapturedCli(env: NodeJS.ProcessEnv, argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}
