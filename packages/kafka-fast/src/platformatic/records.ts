import type { RecordsBatch, fetchV17 } from '@platformatic/kafka';
import type { ClientMessage, RecordHeaders } from '../client.js';

type FetchResponsePartition = fetchV17.FetchResponsePartition;

/**
 * The records of a fetched partition from `position` on, as the consumer takes them: offsets and timestamps as
 * decimal strings, duplicate header keys as arrays (kafkajs's shapes). Under read_committed, control batches and
 * the batches of aborted transactions are left out (Kafka's own consumers do the same with the response's list
 * of aborted transactions). `next` is the offset after the last batch read, so that a fetch of nothing but
 * skipped batches still moves on.
 */
export function decodeRecords(response: FetchResponsePartition, position: bigint): { messages: ClientMessage[]; next: bigint } {
  const messages: ClientMessage[] = [];
  let next = position;
  const aborted = [...(response.abortedTransactions ?? [])].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  const abortedProducers = new Set<bigint>();
  for (const batch of response.records ?? []) {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    if (last + 1n > next) next = last + 1n;
    while (aborted.length > 0 && aborted[0]!.firstOffset <= last) abortedProducers.add(aborted.shift()!.producerId);
    if ((batch.attributes & CONTROL_BATCH) !== 0) {
      if (isAbortMarker(batch)) abortedProducers.delete(batch.producerId);
      continue;
    }
    if ((batch.attributes & TRANSACTIONAL_BATCH) !== 0 && abortedProducers.has(batch.producerId)) continue;
    // Offsets and timestamps as numbers while they are exact (always, short of 2^53): a BigInt per record for
    // each would be garbage the young generation has to collect.
    const exact = last <= MAX_EXACT && batch.firstTimestamp <= MAX_EXACT && batch.firstTimestamp >= -MAX_EXACT;
    const firstOffset = Number(batch.firstOffset);
    const firstTimestamp = Number(batch.firstTimestamp);
    const from = Number(position - batch.firstOffset);
    for (const record of batch.records) {
      if (record.offsetDelta < from) continue; // a batch is returned whole, also when the fetch began inside it
      messages.push({
        offset: exact ? String(firstOffset + record.offsetDelta) : (batch.firstOffset + BigInt(record.offsetDelta)).toString(),
        key: record.key ?? null,
        value: record.value ?? null,
        headers: toHeaders(record.headers),
        timestamp: exact ? String(firstTimestamp + Number(record.timestampDelta)) : (batch.firstTimestamp + record.timestampDelta).toString(),
      });
    }
  }
  return { messages, next };
}

function toHeaders(pairs: [Buffer | null, Buffer | null][]): RecordHeaders {
  const headers: RecordHeaders = {};
  for (const [rawKey, value] of pairs) {
    if (value === null) continue;
    const key = rawKey?.toString() ?? '';
    const before = headers[key];
    headers[key] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value];
  }
  return headers;
}

/** A control batch's record key is (version int16, type int16); type 0 ends a transaction by aborting it. */
function isAbortMarker(batch: RecordsBatch): boolean {
  const key = batch.records[0]?.key;
  return key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === 0;
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** Record batch attribute bits. */
const TRANSACTIONAL_BATCH = 0x10;
const CONTROL_BATCH = 0x20;
