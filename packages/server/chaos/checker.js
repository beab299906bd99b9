// The history checker of the fault harness: reads what every call saw and reports each
// violation of curfew's promises. A call is one record:
//
//   { id, instance, op, start, end, token, session, user, status, headers, answer }
//
// - op: 'create' | 'validate' | 'touch' | 'revoke' | 'revoke-all' | 'rotate' | 'reauthenticate'
//   | 'list' | 'sweep';
// - start, end: milliseconds on the harness's one monotonic clock; `end: null` when no answer
//   came (the instance died, the connection broke): such a call may or may not have happened,
//   and the checker treats it as both;
// - token: the harness's name for the token the call presented (`create` names the token it got,
//   `rotate` and `reauthenticate` the new one in `answer.newToken`); session: the session id;
// - status: the HTTP status (null without an answer); headers: lower-case names; answer: the
//   parsed body. A 5xx (503 included) is uncertain, as a missing answer is: the store may have
//   done the work before the service lost sight of it.
//
// Besides calls, a history may hold events: { event: 'died', instance, at } for an instance the
// harness killed; its calls without an answer are uncertain, and anyone else's are hangs.

/** The rules, by the name a report counts violations under. */
export const RULES = {
  'stale-token':
    'a validation that began after a revoke, revoke-all, rotation or reauthentication of its token returned succeeded',
  lost: 'an acknowledged session was not found although nothing could have ended it',
  revived: 'a session seen ended was valid again',
  'activity-backwards': "a session's lastActivityAt decreased",
  'absolute-moved': "a session's absoluteExpiresAt moved without a reauthentication",
  'unexpected-answer':
    'an answer other than a success or an expected refusal (5xx other than 503, 503 without Retry-After)',
  hang: 'a call answered later than the bound, or not at all on an instance that did not die',
};

// Calls that end the token they present, once they succeed.
const ENDS_TOKEN = new Set(['revoke', 'rotate', 'reauthenticate']);
const READS = new Set(['validate', 'touch']);

/**
 * Checks a history. `bound` is the longest a call may take (the store timeout plus slack);
 * returns the violations, each with its rule, a sentence and the ids of the calls involved.
 *
 * @param {Array<Record<string, any>>} history
 * @param {{ bound: number }} options
 */
export function checkHistory(history, { bound }) {
  const calls = history.filter((record) => record.op !== undefined);
  const died = new Map();
  for (const record of history) {
    if (record.event === 'died')
      died.set(record.instance, Math.min(died.get(record.instance) ?? Infinity, record.at));
  }
  const violations = [];
  const report = (rule, detail, ids) => violations.push({ rule, detail, calls: ids });

  // What can end each token, and when: [start, end] of each call that ends it if it succeeded
  // (end = Infinity when uncertain: it may take effect at any time from its start on).
  const enders = new Map(); // token -> [{ start, end, certain, id }]
  const tokensOfUser = new Map(); // user -> Set(token)
  const origin = new Map(); // token -> the call that made it (create, rotate, reauthenticate)
  const addEnder = (token, call, certain) => {
    const list = enders.get(token) ?? [];
    list.push({ start: call.start, end: call.end ?? Infinity, certain, id: call.id });
    enders.set(token, list);
  };
  for (const call of calls) {
    const made =
      call.op === 'create'
        ? call.token
        : call.op === 'rotate' || call.op === 'reauthenticate'
          ? call.answer?.newToken
          : undefined;
    if (made !== undefined) {
      const set = tokensOfUser.get(call.user) ?? new Set();
      set.add(made);
      tokensOfUser.set(call.user, set);
      origin.set(made, call);
    }
  }
  for (const call of calls) {
    if (!mayHaveHappened(call)) continue;
    const ok = succeeded(call);
    if (ENDS_TOKEN.has(call.op)) addEnder(call.token, call, ok);
    if (call.op === 'revoke-all') {
      // It ends the sessions that existed when it ran: surely those made before it began; maybe
      // those made while it ran; never those made after it returned.
      for (const token of tokensOfUser.get(call.user) ?? []) {
        const made = origin.get(token);
        if (made.start >= (call.end ?? Infinity)) continue;
        addEnder(token, call, ok && made.end !== null && made.end < call.start);
      }
    }
  }

  // Rule: answers. Every call answered is a success or an expected refusal; none is late.
  for (const call of calls) {
    if (call.end === null || call.end === undefined) {
      const death = died.get(call.instance);
      if (death === undefined || death < call.start - bound) {
        report(
          'hang',
          `${call.op} on ${call.instance} never answered, and the instance did not die`,
          [call.id],
        );
      }
      continue;
    }
    if (call.end - call.start > bound) {
      report(
        'hang',
        `${call.op} took ${Math.round(call.end - call.start)} ms (bound ${bound} ms)`,
        [call.id],
      );
    }
    if (call.status >= 500 && call.status !== 503) {
      report('unexpected-answer', `${call.op} answered ${call.status}`, [call.id]);
    } else if (call.status === 503 && !call.headers?.['retry-after']) {
      report('unexpected-answer', `${call.op} answered 503 without Retry-After`, [call.id]);
    }
  }

  // Per token: reads, in the order they began.
  const reads = calls
    .filter((call) => READS.has(call.op) && call.status >= 200 && call.status < 300)
    .sort((a, b) => a.start - b.start);
  const seenEnded = new Map(); // token -> the read that saw it ended (earliest end)
  for (const read of reads) {
    const valid =
      read.answer?.valid === true || (read.op === 'touch' && read.answer?.touched === true);
    const ends = enders.get(read.token) ?? [];
    if (valid) {
      // Stale token: a certain ender returned before this read began.
      const stale = ends.find((ender) => ender.certain && ender.end < read.start);
      if (stale) {
        report(
          'stale-token',
          `${read.op} of token ${read.token} succeeded after ${stale.id} returned`,
          [stale.id, read.id],
        );
      }
      const ended = seenEnded.get(read.token);
      if (ended !== undefined && ended.end < read.start) {
        report(
          'revived',
          `token ${read.token} was seen ended by ${ended.id}, then valid in ${read.id}`,
          [ended.id, read.id],
        );
      }
    } else {
      const previous = seenEnded.get(read.token);
      if (previous === undefined || read.end < previous.end) seenEnded.set(read.token, read);
      // Lost: not found, though no ender could have taken effect before this read ended, and the
      // session's own limits cannot explain it (the harness runs with limits far above its run).
      if (read.answer?.reason === 'not_found') {
        const couldEnd = ends.some((ender) => ender.start < read.end);
        const created = origin.get(read.token);
        const acknowledged = created !== undefined && created.status >= 200 && created.status < 300;
        if (acknowledged && created.end < read.start && !couldEnd) {
          report(
            'lost',
            `token ${read.token} (acknowledged by ${created.id}) was not found by ${read.id}`,
            [created.id, read.id],
          );
        }
      }
    }
  }

  // Per session: lastActivityAt never decreases, absoluteExpiresAt moves only by reauthentication.
  const bySession = new Map();
  for (const call of calls) {
    const session = call.answer?.session;
    if (call.status < 200 || call.status >= 300 || !session?.id) continue;
    const list = bySession.get(session.id) ?? [];
    list.push({
      call,
      last: Date.parse(session.lastActivityAt),
      absolute: Date.parse(session.absoluteExpiresAt),
    });
    bySession.set(session.id, list);
  }
  // Reauthentications that may have happened, by session: the only calls that move an absolute
  // expiry. Indexed, since every pair of a session's answers may need them.
  const reauths = new Map();
  for (const call of calls) {
    if (call.op !== 'reauthenticate' || !mayHaveHappened(call)) continue;
    for (const id of new Set([call.answer?.session?.id, call.session])) {
      if (id === undefined) continue;
      const list = reauths.get(id) ?? [];
      list.push(call);
      reauths.set(id, list);
    }
  }
  for (const [id, seen] of bySession) {
    const reauthsOfSession = reauths.get(id) ?? [];
    for (const b of seen) {
      // Only calls in real-time order say anything: a ended before b began. Each later answer
      // is reported once per rule, against the first earlier answer it contradicts.
      const before = seen.filter((a) => a.call.end !== null && a.call.end < b.call.start);
      const backwards = before.find((a) => b.last < a.last);
      if (backwards) {
        report(
          'activity-backwards',
          `session ${id}: lastActivityAt ${backwards.last} in ${backwards.call.id}, then ${b.last} in ${b.call.id}`,
          [backwards.call.id, b.call.id],
        );
      }
      const moved = before.find(
        (a) =>
          a.absolute !== b.absolute &&
          !reauthsOfSession.some(
            (r) => r.start < b.call.end && (r.end === null || r.end > a.call.start),
          ),
      );
      if (moved) {
        report(
          'absolute-moved',
          `session ${id}: absoluteExpiresAt ${moved.absolute} in ${moved.call.id}, then ${b.absolute} in ${b.call.id}`,
          [moved.call.id, b.call.id],
        );
      }
    }
  }
  return violations;
}

/** Whether the call answered with a success. */
function succeeded(call) {
  return call.end !== null && call.end !== undefined && call.status >= 200 && call.status < 300;
}

/**
 * Whether the call may have changed something: a success surely did; a 4xx refusal did not;
 * without an answer, or with a 5xx, it may have. A 503 says the store could not be heard from,
 * and the store may have committed before its connection broke (seen under connection resets),
 * so a 503 revoke is uncertain too.
 */
function mayHaveHappened(call) {
  const answered = call.end !== null && call.end !== undefined;
  return !answered || succeeded(call) || call.status >= 500;
}

/** Violations counted by rule, every rule present (zero when none). */
export function countByRule(violations) {
  const counts = Object.fromEntries(Object.keys(RULES).map((rule) => [rule, 0]));
  for (const violation of violations) counts[violation.rule] += 1;
  return counts;
}
