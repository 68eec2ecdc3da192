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
