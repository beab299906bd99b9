// The one log line every request writes: curfew's hand-written line against pino's own
// `logger.info(fields, 'request')`, same logger, same fields, same sink (which drops the text).
// The hand-written line is kept only while it is much cheaper; logger.test.ts checks that its
// output equals pino's byte for byte, hostile field values included.
//
//   npm run build && node packages/server/bench/request-line.bench.js
import { createLogger, requestLineWriter } from '../dist/logger.js';

const ROUNDS = 7;
const PER_ROUND = 200_000;

let bytes = 0;
const logger = createLogger('info', {
  write: (line) => {
    bytes += line.length;
  },
});
const handWritten = requestLineWriter(logger);
const fields = {
  requestId: '0c2f5f1e-4a3b-4c6d-8e9f-0a1b2c3d4e5f',
  method: 'POST',
  route: '/v1/sessions/validate',
  status: 200,
  ms: 0.42,
  key: 'billing',
  remote: '127.0.0.1',
};
const contestants = {
  'hand-written': () => handWritten(fields),
  'pino logger.info': () => logger.info(fields, 'request'),
};

const best = {};
for (let round = 0; round < ROUNDS; round += 1) {
  // Alternating, so that both see the same machine.
  for (const [name, write] of Object.entries(contestants)) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < PER_ROUND; i += 1) write();
    const ns = Number(process.hrtime.bigint() - start) / PER_ROUND;
    if (round > 0) best[name] = Math.min(best[name] ?? Infinity, ns);
  }
}
const ours = best['hand-written'];
const pino = best['pino logger.info'];
console.log(`request line, best of ${ROUNDS - 1} rounds of ${PER_ROUND} (first round is warm-up)`);
console.log(`  hand-written      ${ours.toFixed(0)} ns/line`);
console.log(`  pino logger.info  ${pino.toFixed(0)} ns/line`);
console.log(
  `  pino / hand-written: ${(pino / ours).toFixed(2)}x (kept only while well above 1.5x)`,
);
if (bytes === 0) throw new Error('nothing was written');
