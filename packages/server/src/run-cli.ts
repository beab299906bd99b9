import { CurfewError } from 'curfew';
import { ApiKeyError } from './api-keys.js';
import {
  type Command,
  type CommandIo,
  commandHelp,
  parseFlags,
  UsageError,
} from './commands/command.js';
import {
  keysCreateCommand,
  keysListCommand,
  keysRevokeCommand,
  keysRotateCommand,
} from './commands/keys.js';
import { migrateCommand } from './commands/migrate.js';
import { purgeCommand } from './commands/purge.js';
import { serveCommand } from './commands/serve.js';
import { sessionsListCommand, sessionsRevokeCommand } from './commands/sessions.js';
import { statsCommand } from './commands/stats.js';
import { sweepCommand } from './commands/sweep.js';
import { ConfigError } from './config.js';
import { VERSION } from './version.js';

const COMMANDS: readonly Command[] = [
  serveCommand,
  migrateCommand,
  sessionsListCommand,
  sessionsRevokeCommand,
  sweepCommand,
  purgeCommand,
  statsCommand,
  keysCreateCommand,
  keysListCommand,
  keysRevokeCommand,
  keysRotateCommand,
];

const GROUPS: Record<string, string> = {
  sessions: 'list | revoke',
  keys: 'create | list | revoke | rotate',
};

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    `curfew ${VERSION}: server-side sessions with NIST SP 800-63B timeouts, as a service.`,
    '',
    'Usage: curfew <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map(
      (command) =>
        `  ${command.name.padEnd(width)}  ${command.summary.split('. ')[0]!.replace(/\.$/, '')}`,
    ),
    '',
    'Run `curfew <command> --help` for its options. Every setting is a flag or an environment',
    'variable (CURFEW_STORE, CURFEW_POLICY, …); see `curfew serve --help`.',
    'Exit codes: 0 success, 1 failure, 2 usage or configuration error.',
    '',
  ].join('\n');
}

/**
 * Runs the CLI and resolves with the exit code: 0 on success, 1 on failure, 2 on a usage or
 * configuration error. Failures are one plain line on stderr; `--debug` adds the stack.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(['sessions', 'list', '--user', '42'], process);
 * ```
 */
export async function runCli(argv: readonly string[], io: CommandIo): Promise<number> {
  const debug = argv.includes('--debug');
  const [first, second] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    (first === undefined ? io.stderr : io.stdout).write(mainHelp());
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  let command = COMMANDS.find((candidate) => candidate.name === first);
  let rest = argv.slice(1);
  if (command === undefined && first in GROUPS) {
    command = COMMANDS.find((candidate) => candidate.name === `${first} ${second}`);
    rest = argv.slice(2);
    if (command === undefined) {
      if (second === undefined || second === '--help' || second === '-h') {
        io.stdout.write(`Usage: curfew ${first} <${GROUPS[first]}> [options]\n`);
        return second === undefined ? 2 : 0;
      }
      return usage(io, `unknown command "${first} ${second}"; expected ${first} ${GROUPS[first]}`);
    }
  }
  if (command === undefined) return usage(io, `unknown command "${first}"; run curfew --help`);

  try {
    const parsed = parseFlags(command, [...rest]);
    if (parsed.help) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    return await command.run(parsed, io);
  } catch (error) {
    if (error instanceof UsageError) {
      return usage(io, `${error.message}; run curfew ${command.name} --help`);
    }
    if (error instanceof ConfigError) {
      io.stderr.write(`curfew: ${error.message}\n`);
      return 2;
    }
    // A flag's value the library refused (a reason, a cursor): the caller's mistake, like a usage
    // error, and the message names the field.
    if (error instanceof CurfewError && error.code === 'INVALID_ARGUMENT') {
      return usage(io, `${error.message}; run curfew ${command.name} --help`);
    }
    io.stderr.write(`curfew: ${describeFailure(error)}\n`);
    if (debug && error instanceof Error && error.stack !== undefined) {
      io.stderr.write(`${error.stack}\n`);
    }
    return 1;
  }
}

function usage(io: CommandIo, message: string): number {
  io.stderr.write(`curfew: ${message}\n`);
  return 2;
}

/** One plain line for a failure: the message, and the system error code when there is one. */
export function describeFailure(error: unknown): string {
  if (error instanceof CurfewError || error instanceof ApiKeyError) return error.message;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = error.message.split('\n')[0]!;
    return code === undefined ? message : `${message} (${code})`;
  }
  return String(error);
}
