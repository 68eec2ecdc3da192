/**
 * A process that waits for a lock and holds it if it gets it: run by the tests as a waiter to SIGKILL or
 * SIGSTOP. Env: RESOURCE, TTL. Prints nothing; it never releases.
 */
import { Redis } from 'ioredis';
import { exponentialBackoff } from '@x/core';
import { redisMasters } from '@x/testkit';
import { Redlock } from '../../src/index.js';

const clients = redisMasters().map((endpoint) => new Redis(endpoint));
const redlock = new Redlock(clients, { restartGuard: false, requestTimeout: 300, retryCount: 1_000, backoff: exponentialBackoff({ initial: 200, max: 200 }) });
void redlock.acquire(process.env.RESOURCE!, Number(process.env.TTL));
