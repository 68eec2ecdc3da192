/** Settings shared by the parent and its workers, from the environment. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const REMINDERS = Number(process.env.REMINDERS ?? 600);
export const WORKERS = Number(process.env.WORKERS ?? 3);
/** Reminders fall due evenly over this many ms. */
export const SPAN_MS = Number(process.env.SPAN_MS ?? 3_000);
/** A delivery not acknowledged within this time goes to another worker. */
export const TTR_MS = 1_000;
/** How long "sending" a reminder takes. */
export const SEND_MS = 25;
export const TOPIC = 'reminder';

/** Where workers record what they sent: reminder id -> deliveries, delivery lateness samples, redelivered ids. */
export const sentKey = (queue: string): string => `${queue}:sent`;
export const latenessKey = (queue: string): string => `${queue}:lateness`;
export const redeliveredKey = (queue: string): string => `${queue}:redelivered`;

/** A recurring digest: ticks every DIGEST_EVERY_MS (in production a cron rule, e.g. 02:00 in Europe/Berlin). */
export const DIGEST_TOPIC = 'digest';
export const DIGEST_EVERY_MS = 500;
/** Texts sent through a provider that allows SMS_RATE a second for all workers together. */
export const SMS_TOPIC = 'sms';
export const SMS_RATE = 50;
export const SMS_COUNT = 120;
/** Port of the dashboard (0: any free one). With KEEP_DASHBOARD=1 the run keeps serving it until Ctrl-C. */
export const DASHBOARD_PORT = Number(process.env.DASHBOARD_PORT ?? 0);
export const KEEP_DASHBOARD = process.env.KEEP_DASHBOARD === '1';

/** Digest tick id -> deliveries; when each SMS was sent (epoch ms). */
export const digestKey = (queue: string): string => `${queue}:digests`;
export const smsKey = (queue: string): string => `${queue}:sms-sent`;
