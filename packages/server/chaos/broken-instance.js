// `curfew serve` with a deliberately broken store (CURFEW_CHAOS_BROKEN names the mode; see
// broken-store.js). Started only by the harness, from the built dist/, with the same settings
// from the environment as `curfew serve`; stops on SIGTERM as it does.
import { loadConfig } from '../dist/config.js';
import { startServer } from '../dist/serve.js';
import { breakStore } from './broken-store.js';

const mode = process.env.CURFEW_CHAOS_BROKEN;
const server = await startServer(loadConfig(process.env), process.stderr, {
  wrapStore: (store) => breakStore(store, mode),
});
process.stderr.write(`chaos: store broken on purpose (${mode})\n`);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
