import { type ParseArgsConfig, parseArgs } from 'node:util';
import { SETTINGS, type Setting, type SettingName, type SettingValues } from '../config.js';

/** Where a command reads and writes; `process` in the binary, buffers in tests. */
export interface CommandIo {
  stdout: { write(text: string): unknown };
  /** `isTTY`: an interactive terminal, where a secret may be shown once. */
  stderr: { write(text: string): unknown; isTTY?: boolean | undefined };
  env: NodeJS.ProcessEnv;
}

/** A mistake in how the command was called: exit code 2, with a pointer to `--help`. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A command-specific flag. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  value?: string;
  description: string;
}

/**
 * One CLI command: its flags, its help text, and what it does. `run` resolves with the exit code.
 *
 * @example
 * ```ts
 * const sweep: Command = { name: 'sweep', summary: 'End expired sessions now', flags: {},
 *   settings: ['store', 'policy'], run: async (values, io) => 0 };
 * ```
 */
export interface Command {
  /** As typed after `curfew` (`sessions list`). */
  name: string;
  summary: string;
  /** The usage line after `curfew <name>`. */
  usage?: string;
  flags: Record<string, FlagSpec>;
  /** Which configuration settings the command reads (as flags and environment variables). */
  settings: readonly SettingName[];
  run(values: ParsedFlags, io: CommandIo): Promise<number>;
}

/** Flags as parsed: command flags by name, settings by setting name. */
export interface ParsedFlags {
  flags: Record<string, string | boolean | undefined>;
  settings: SettingValues;
}

/** Parses a command's arguments; unknown flags and stray arguments are usage errors. */
export function parseFlags(command: Command, args: string[]): ParsedFlags & { help: boolean } {
  const options: NonNullable<ParseArgsConfig['options']> = {
    help: { type: 'boolean', short: 'h' },
    debug: { type: 'boolean' },
  };
  for (const [name, spec] of Object.entries(command.flags)) options[name] = { type: spec.type };
  for (const name of command.settings) options[SETTINGS[name].flag] = { type: 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]!);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const flags: Record<string, string | boolean | undefined> = {};
  for (const name of Object.keys(command.flags)) flags[name] = values[name];
  const settings: SettingValues = {};
  for (const name of command.settings) {
    const value = values[SETTINGS[name].flag];
    if (typeof value === 'string') settings[name] = value;
  }
  return { flags, settings, help: values.help === true };
}

/** The `--help` text of a command. */
export function commandHelp(command: Command): string {
  const lines = [
    `Usage: curfew ${command.name}${command.usage === undefined ? ' [options]' : ` ${command.usage}`}`,
    '',
    command.summary,
  ];
  const flagRows: [string, string][] = Object.entries(command.flags).map(([name, spec]) => [
    `--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`,
    spec.description,
  ]);
  flagRows.push(['-h, --help', 'Show this help.'], ['--debug', 'Print stack traces on failure.']);
  lines.push('', 'Options:', ...table(flagRows));
  if (command.settings.length > 0) {
    const settingRows: [string, string][] = command.settings.map((name) => {
      const setting: Setting = SETTINGS[name];
      const shown = setting.default ?? setting.defaultText;
      const fallback = shown === undefined ? '' : ` Default: ${shown}.`;
      return [
        `--${setting.flag} ${setting.value}`,
        `${setting.env}. ${setting.description}${fallback}`,
      ];
    });
    lines.push(
      '',
      'Configuration (flag or environment variable; the flag wins):',
      ...table(settingRows),
    );
  }
  return `${lines.join('\n')}\n`;
}

function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}

/** A required string flag, or a usage error naming it. */
export function requireFlag(values: ParsedFlags, name: string): string {
  const value = values.flags[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** An optional string flag. */
export function optionalFlag(values: ParsedFlags, name: string): string | undefined {
  const value = values.flags[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * An ISO 8601 time that states its offset (`2026-11-01T00:00:00Z`, `…+01:00`), as epoch
 * milliseconds, or `null` for anything else: a bare local time means a different instant on
 * every machine, so it is not taken for one.
 *
 * @example
 * ```ts
 * parseOffsetTime('2026-11-01T00:00:00Z'); // 1793491200000
 * parseOffsetTime('2026-11-01T00:00:00'); // null
 * ```
 */
export function parseOffsetTime(text: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    return null;
  }
  const time = Date.parse(text);
  return Number.isFinite(time) ? time : null;
}
