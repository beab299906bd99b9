import type { Session } from 'curfew';
import { toSessionView } from '../http/session-view.js';
import { type Command, optionalFlag, UsageError } from './command.js';
import { STORE_SETTINGS, withSessions } from './with-sessions.js';

/** `curfew sessions list`: a user's valid sessions, as a table or JSON. */
export const sessionsListCommand: Command = {
  name: 'sessions list',
  usage: '--user ID [--tenant TENANT] [--json]',
  summary: "List a user's valid sessions, most recently active first.",
  flags: {
    user: { type: 'string', value: 'ID', description: 'The user id (required).' },
    tenant: { type: 'string', value: 'TENANT', description: 'Only this tenant’s sessions.' },
    json: { type: 'boolean', description: 'Print JSON instead of a table.' },
  },
  settings: STORE_SETTINGS,
  run: (values, io) => {
    const user = optionalFlag(values, 'user');
    if (user === undefined) throw new UsageError('--user is required');
    const tenant = optionalFlag(values, 'tenant');
    return withSessions(values, io, async ({ manager }) => {
      const sessions = await manager.listUserSessions(
        user,
        tenant === undefined ? {} : { tenantId: tenant },
      );
      if (values.flags.json === true) {
        io.stdout.write(`${JSON.stringify({ sessions: sessions.map(toSessionView) }, null, 2)}\n`);
      } else {
        io.stdout.write(formatTable(sessions));
      }
      return 0;
    });
  },
};

/** `curfew sessions revoke`: ends one session by id, or all of a user's. */
export const sessionsRevokeCommand: Command = {
  name: 'sessions revoke',
  usage: '(--user ID [--tenant TENANT] | --session ID) [--reason REASON]',
  summary: 'End all of a user’s sessions, or one session by its id.',
  flags: {
    user: { type: 'string', value: 'ID', description: 'End this user’s sessions.' },
    tenant: { type: 'string', value: 'TENANT', description: 'With --user: only in this tenant.' },
    session: { type: 'string', value: 'ID', description: 'End this one session.' },
    reason: {
      type: 'string',
      value: 'REASON',
      description: 'End reason (default admin_revoke): a known one or [a-z0-9_]{1,64}.',
    },
  },
  settings: STORE_SETTINGS,
  run: (values, io) => {
    const user = optionalFlag(values, 'user');
    const session = optionalFlag(values, 'session');
    const tenant = optionalFlag(values, 'tenant');
    const reason = optionalFlag(values, 'reason') ?? 'admin_revoke';
    if ((user === undefined) === (session === undefined)) {
      throw new UsageError('give either --user or --session');
    }
    if (session !== undefined && tenant !== undefined) {
      throw new UsageError('--tenant goes with --user, not with --session');
    }
    return withSessions(values, io, async ({ manager }) => {
      if (session !== undefined) {
        const revoked = await manager.revokeSession(session, { reason });
        if (!revoked) {
          io.stderr.write(`curfew: no active session with id ${session}\n`);
          return 1;
        }
        io.stdout.write(`ended session ${session}\n`);
        return 0;
      }
      const count = await manager.revokeUserSessions(user!, {
        reason,
        ...(tenant === undefined ? {} : { tenantId: tenant }),
      });
      io.stdout.write(`ended ${count} session${count === 1 ? '' : 's'}\n`);
      return 0;
    });
  },
};

function formatTable(sessions: Session[]): string {
  if (sessions.length === 0) return 'no valid sessions\n';
  const rows = [
    ['ID', 'TENANT', 'APP', 'IP', 'LAST ACTIVITY', 'ABSOLUTE EXPIRY', 'USER AGENT'],
    ...sessions.map((s) => [
      s.id,
      s.tenantId ?? '-',
      s.appType,
      s.ipAddress ?? '-',
      shortTime(s.lastActivityAt),
      shortTime(s.absoluteExpiresAt),
      s.userAgent === null
        ? '-'
        : s.userAgent.length > 40
          ? `${s.userAgent.slice(0, 39)}…`
          : s.userAgent,
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return `${rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

function shortTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}
