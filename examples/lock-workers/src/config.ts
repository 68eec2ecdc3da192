import { assertNumber } from '@x/core';

/** The five masters of `npm run services -- up redis`, or REDIS_MASTERS=host:port,... */
export const MASTERS = (process.env.REDIS_MASTERS ?? '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005')
  .split(',')
  .map((entry) => {
    const [host, port] = entry.split(':');
    return { host: host!, port: Number(port) };
  });
export const ORDERS = assertNumber('ORDERS', Number(process.env.ORDERS ?? 300), { min: 1, integer: true });
export const WORKERS = assertNumber('WORKERS', Number(process.env.WORKERS ?? 4), { min: 1, max: 32, integer: true });
