import type { Session } from 'curfew';
import { toSessionView } from '../http/session-view.js';
import { type Command, optionalFlag, UsageError } from './command.js';
import { ENDING_SETTINGS, STORE_SETTINGS, withSessions } from './with-sessions.js';

/** `curfew sessions list`: a user's valid sessions, a page at a time, as a table or JSON. */
export const sessionsListCommand: Command = {
  name: 'sessions list',
  usage: '--user ID [--tenant TENANT] [--limit N] [--cursor CURSOR | --all] [--json]',
  summary: "List a user's valid sessions, most recently active first, a page at a time.",
  flags: {
    user: { type: 'string', value: 'ID', description: 'The user id (required).' },
    tenant: { type: 'string', value: 'TENANT', description: 'Only this tenant’s sessions.' },
    limit: {
      type: 'string',
      value: 'N',
      description: 'Sessions per page, 1 to 1000 (default 100).',
    },
    cursor: {
      type: 'string',
      value: 'CURSOR',
      description: 'The page after the one that printed this cursor.',
    },
    all: { type: 'boolean', description: 'Every page, one after another.' },
    json: {
      type: 'boolean',
      description: 'Print JSON ({ sessions, nextCursor }) instead of a table.',
    },
  },
  settings: STORE_SETTINGS,
  run: (values, io) => {
    const user = optionalFlag(values, 'user');
    if (user === undefined) throw new UsageError('--user is required');
    const tenant = optionalFlag(values, 'tenant');
    const limitFlag = optionalFlag(values, 'limit');
    const limit = limitFlag === undefined ? 100 : Number(limitFlag);
    if (!/^\d{1,4}$/.test(limitFlag ?? '100') || limit < 1 || limit > 1000) {
      throw new UsageError('--limit takes a whole number from 1 to 1000');
    }
    const all = values.flags.all === true;
    let cursor = optionalFlag(values, 'cursor') ?? null;
    if (all && cursor !== null) throw new UsageError('give either --cursor or --all');
    return withSessions(values, io, async ({ manager }) => {
      const sessions: Session[] = [];
      let nextCursor: string | null;
      do {
        const page = await manager.listUserSessions(user, {
          limit,
          cursor,
          ...(tenant === undefined ? {} : { tenantId: tenant }),
        });
        sessions.push(...page.sessions);
        nextCursor = page.nextCursor;
        cursor = nextCursor;
      } while (all && nextCursor !== null);
      if (values.flags.json === true) {
        const body = { sessions: sessions.map(toSessionView), nextCursor };
        io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      } else {
        io.stdout.write(formatTable(sessions));
        if (nextCursor !== null) {
          // On stderr, so that stdout stays the table alone for a pipe.
          io.stderr.write(`more sessions: add --cursor ${nextCursor} (or --all)\n`);
        }
      }
      return 0;
    });
  },
};

/** `curfew sessions revoke`: ends one session, a user's, a tenant's, or everyone's. */
export const sessionsRevokeCommand: Command = {
  name: 'sessions revoke',
  usage:
    '(--user ID [--tenant TENANT] | --session ID | --tenant TENANT | --everyone) [--reason REASON]',
  summary: 'End one session by id, all of a user’s, all of a tenant’s, or every session.',
  flags: {
    user: { type: 'string', value: 'ID', description: 'End this user’s sessions.' },
    tenant: {
      type: 'string',
      value: 'TENANT',
      description: 'With --user: only in this tenant. Alone: every session of this tenant.',
    },
    session: { type: 'string', value: 'ID', description: 'End this one session.' },
    everyone: { type: 'boolean', description: 'End every session of every user and tenant.' },
    reason: {
      type: 'string',
      value: 'REASON',
      description: 'End reason (default admin_revoke): a known one or [a-z0-9_]{1,64}.',
    },
  },
  settings: ENDING_SETTINGS,
  run: (values, io) => {
    const user = optionalFlag(values, 'user');
    const session = optionalFlag(values, 'session');
    const tenant = optionalFlag(values, 'tenant');
    const everyone = values.flags.everyone === true;
    const reason = optionalFlag(values, 'reason') ?? 'admin_revoke';
    const targets = [user !== undefined, session !== undefined, everyone].filter(Boolean).length;
    if (targets > 1 || (targets === 0 && tenant === undefined)) {
      throw new UsageError('give one of --user, --session, --tenant alone, or --everyone');
    }
    if (tenant !== undefined && (session !== undefined || everyone)) {
      throw new UsageError('--tenant goes with --user, or alone; not with --session or --everyone');
    }
    const ended = (count: number) => {
      io.stdout.write(`ended ${count} session${count === 1 ? '' : 's'}\n`);
      return 0;
    };
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
      if (everyone) return ended(await manager.revokeAllSessions({ reason }));
      if (user === undefined) return ended(await manager.revokeTenantSessions(tenant!, { reason }));
      return ended(
        await manager.revokeUserSessions(user, {
          reason,
          ...(tenant === undefined ? {} : { tenantId: tenant }),
        }),
      );
    });
  },
};

function formatTable(sessions: Session[]): string {
  if (sessions.length === 0) return 'no valid sessions\n';
  const rows = [
    ['ID', 'TENANT', 'APP', 'AAL', 'IP', 'LAST ACTIVITY', 'ABSOLUTE EXPIRY', 'USER AGENT'],
    ...sessions.map((s) => [
      s.id,
      s.tenantId ?? '-',
      s.appType,
      String(s.aal),
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
