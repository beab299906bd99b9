import { invalidArgument } from '../../core/errors.js';

/**
 * The names curfew's statements use, resolved once from the `schema` option.
 * @internal
 */
export interface PostgresTables {
  /** The schema as given, or `null` for the connection's `search_path`. */
  schema: string | null;
  /** `curfew_sessions`, qualified and quoted when a schema is given. */
  sessions: string;
  /** `curfew_migrations`, likewise. */
  migrations: string;
}

// Plain identifiers only: the name is spliced into SQL text (identifiers cannot be bound as
// parameters), so anything needing escapes is refused rather than escaped.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Checks the `schema` option and derives the table names from it.
 * @internal
 */
export function resolveTables(schema: unknown): PostgresTables {
  if (schema === undefined || schema === null) {
    return { schema: null, sessions: 'curfew_sessions', migrations: 'curfew_migrations' };
  }
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema)) {
    throw invalidArgument(
      'schema',
      'expected a schema name of letters, digits and underscores (at most 63, not starting with a digit)',
    );
  }
  // Quoted so the name is taken exactly as written, capitals included.
  return {
    schema,
    sessions: `"${schema}".curfew_sessions`,
    migrations: `"${schema}".curfew_migrations`,
  };
}
