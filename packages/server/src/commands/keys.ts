import { API_KEY_SCOPES, ApiKeyError, createApiKey } from '../api-keys.js';
import { loadConfig } from '../config.js';
import { type Command, optionalFlag, requireFlag, UsageError } from './command.js';

/** `curfew keys create`: makes an API key, appends its hash to the key file, prints it once. */
export const keysCreateCommand: Command = {
  name: 'keys create',
  usage: "--name NAME --tenant TENANT|'*' [--scope SCOPE]",
  summary:
    "Make an API key: its SHA-256 is appended to the key file and the key is printed once. --tenant '*' makes a key for every tenant. Restart the server to load it.",
  flags: {
    name: { type: 'string', value: 'NAME', description: 'A name for logs: [A-Za-z0-9_.-]{1,64}.' },
    tenant: {
      type: 'string',
      value: 'TENANT',
      description: "The tenant the key is bound to, or '*' for every tenant (required).",
    },
    scope: {
      type: 'string',
      value: 'SCOPE',
      description: `What the key may do: ${API_KEY_SCOPES.join(', ')} (default: admin for '*', sessions for a tenant).`,
    },
  },
  settings: ['store', 'apiKeysFile'],
  async run(values, io) {
    const config = loadConfig(io.env, values.settings);
    const name = requireFlag(values, 'name');
    const tenant = optionalFlag(values, 'tenant');
    if (tenant === undefined) {
      throw new UsageError(
        "--tenant is required: name the key's tenant, or give --tenant '*' for a key for every tenant",
      );
    }
    const { key, entry } = await createApiKey(config.apiKeysFile, {
      name,
      tenantId: tenant,
      scope: optionalFlag(values, 'scope'),
    }).catch((error: Error) => {
      // A bad --name or --tenant value is the caller's mistake (exit 2), not a failure.
      throw error instanceof ApiKeyError && error.where?.startsWith('--') === true
        ? new UsageError(error.message)
        : error;
    });
    io.stderr.write(
      `${entry.scope} key "${name}" for ${entry.tenantId === null ? 'every tenant' : `tenant "${entry.tenantId}"`} added to ${config.apiKeysFile}; it is shown only now:\n`,
    );
    io.stdout.write(`${key}\n`);
    return 0;
  },
};
