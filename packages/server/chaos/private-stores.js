// Private database servers for the fault harness: PostgreSQL, MariaDB, Redis and a six-node Redis
// Cluster, each started from the system's binaries on spare loopback ports in a temporary
// directory of its own, so that the harness can stop, SIGKILL and restart them on purpose. The
// shared services on the standard ports (5432, 3306, 6379) are never touched: every server here
// has its own data, its own port from a range below the kernel's ephemeral ports, and no
// configuration file from /etc.
//
// Settings favour speed over durability only where durability means surviving an operating
// system crash (fsync off, a small buffer pool), never where it means surviving a SIGKILL of the
// server: a killed server must come back with every write it acknowledged, or the harness would
// blame the service for losses the store caused. Every process started here is killed and every
// directory removed by `destroy()`, by `destroyAll()`, and at process exit whatever happened.
//
// One file per engine under private-stores/, with what they share in private-server.js.
export { startMariadb } from './private-stores/mariadb.js';
export { startPostgres } from './private-stores/postgres.js';
export { destroyAll } from './private-stores/private-server.js';
export { startRedis, startRedisCluster } from './private-stores/redis.js';
