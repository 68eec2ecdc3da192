/**
 * The cursor `queue.list` hands out: where a page ended, with the topic and state it belongs to, as one opaque
 * string (base64url of JSON). A cursor is checked when it comes back, so one from another topic, another state
 * or another program is refused instead of paging from a wrong place.
 */
import { InvalidArgumentError } from '@x/core';
import type { ListPosition, ListState } from './backend.js';

export function encodeCursor(topic: string, state: ListState, position: ListPosition): string {
  return Buffer.from(JSON.stringify([topic, state, position.at, position.id])).toString('base64url');
}

export function decodeCursor(cursor: unknown, topic: string, state: ListState): ListPosition {
  const refuse = (): never => {
    throw new InvalidArgumentError('options.cursor', cursor, `a cursor that list('${topic}', '${state}') returned`);
  };
  if (typeof cursor !== 'string' || cursor.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return refuse();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return refuse();
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) return refuse();
  const [ofTopic, ofState, at, id] = parsed as unknown[];
  if (ofTopic !== topic || ofState !== state || typeof at !== 'number' || !Number.isFinite(at) || typeof id !== 'string' || id === '') return refuse();
  return { at, id };
}
