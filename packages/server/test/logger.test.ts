import { describe, expect, it } from 'vitest';
import { createLogger, type RequestLogFields, requestLineWriter } from '../src/logger.js';

function capture(level: Parameters<typeof createLogger>[0]) {
  const lines: string[] = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

const untimed = (line: string | undefined) => line?.replace(/"time":"[^"]+"/, '"time":""');

describe('the request line', () => {
  it.each<RequestLogFields>([
    {
      requestId: '0c2f5f1e-4a3b-4c6d-8e9f-0a1b2c3d4e5f',
      method: 'POST',
      route: '/v1/sessions/validate',
      status: 200,
      ms: 1.25,
      key: 'billing',
      remote: '127.0.0.1',
    },
    {
      requestId: 'trace:7.a_b-c',
      method: 'GET',
      route: '(unmatched)',
      status: 404,
      ms: 0,
      key: undefined,
      remote: undefined,
    },
    {
      requestId: 'x',
      method: 'GET',
      route: '/v1/users/:userId/sessions',
      status: 503,
      ms: 12_345.67,
      key: 'odd"name\\',
      remote: '::ffff:10.0.0.1',
    },
    {
      // (A lone surrogate would differ: pino writes it raw, JSON.stringify escapes it. None of
      // these fields can hold one: ids, methods, routes, key names and addresses are checked.)
      requestId: 'a'.repeat(128),
      method: 'M-SEARCH',
      route: `/${'long'.repeat(40)}`,
      status: 200,
      ms: 3,
      key: 'ünï\u2028 tab\there\u0001',
      remote: '~',
    },
    {
      requestId: 'r',
      method: 'GET',
      route: '/',
      status: 200,
      ms: 0,
      key: `${'k'.repeat(200)}"`,
      remote: '[::1]',
    },
    {
      // Fields the app checks before they get here, written here as if the checks had failed:
      // the line must still be one JSON object with the same values.
      requestId: 'id"},"level":60,"x":"\n',
      method: 'GE\\T\r',
      route: '/v1/"route"\u0000\u007f',
      status: 400,
      ms: 0.01,
      key: undefined,
      remote: '"',
    },
  ])('is, byte for byte, what pino writes for the same fields (%#)', (fields) => {
    const { logger, lines } = capture('info');
    requestLineWriter(logger)(fields);
    logger.info(fields, 'request');
    expect(lines).toHaveLength(2);
    expect(untimed(lines[0])).toBe(untimed(lines[1]));
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 30,
      service: 'curfew',
      msg: 'request',
      requestId: fields.requestId,
      method: fields.method,
      route: fields.route,
    });
  });

  it('follows the logger level, as pino does', () => {
    const { logger, lines } = capture('warn');
    const fields: RequestLogFields = {
      requestId: 'r',
      method: 'GET',
      route: '/healthz',
      status: 200,
      ms: 0.5,
      key: undefined,
      remote: '127.0.0.1',
    };
    requestLineWriter(logger)(fields);
    expect(lines).toEqual([]);
    logger.level = 'info';
    requestLineWriter(logger)(fields);
    expect(lines).toHaveLength(1);
  });
});
