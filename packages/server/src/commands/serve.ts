import { loadConfig, SETTINGS, type SettingName } from '../config.js';
import type { Command } from './command.js';

/** `curfew serve`: runs the HTTP API until SIGTERM or SIGINT. */
export const serveCommand: Command = {
  name: 'serve',
  summary:
    'Serve the HTTP API. Stops on SIGTERM or SIGINT: no new connections, requests in flight finish (within CURFEW_SHUTDOWN_TIMEOUT), the store is closed, exit 0. SIGHUP reloads the TLS certificate.',
  flags: {},
  settings: Object.keys(SETTINGS) as SettingName[],
  async run(values, io) {
    const config = loadConfig(io.env, values.settings);
    // The HTTP server and its dependencies load only to serve: `curfew --help` and the other
    // commands start without them.
    const { startServer } = await import('../serve.js');
    const server = await startServer(config, io.stderr, { env: io.env });
    return new Promise<number>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        server.logger.info({ signal }, 'stopping');
        const deadline = setTimeout(() => {
          io.stderr.write(
            `curfew: requests still in flight after ${config.shutdownTimeout / 1000}s; exiting\n`,
          );
          resolve(1);
        }, config.shutdownTimeout);
        deadline.unref();
        server.close().then(
          () => {
            clearTimeout(deadline);
            resolve(0);
          },
          (error: unknown) => {
            clearTimeout(deadline);
            io.stderr.write(`curfew: failed while stopping: ${(error as Error).message}\n`);
            resolve(1);
          },
        );
      };
      const reload = () => void server.reloadTls();
      process.on('SIGHUP', reload);
      process.once('SIGTERM', (signal) => {
        process.off('SIGHUP', reload);
        stop(signal);
      });
      process.once('SIGINT', (signal) => {
        process.off('SIGHUP', reload);
        stop(signal);
      });
    });
  },
};
