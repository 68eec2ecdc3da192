/**
 * The details of a failed call (`grpc-status-details-bin`: a google.rpc.Status whose `details` are Anys, as
 * grpc-go's `status.WithDetails` and grpc-java's `StatusProto` send them), for grpc-gateway's error body.
 */
import { Root } from 'protobufjs';
import type { JsonCodec } from './json-codec.js';

const STATUS = Root.fromJSON({
  nested: {
    google: {
      nested: {
        rpc: { nested: { Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 }, details: { rule: 'repeated', type: 'DetailAny', id: 3 } } }, DetailAny: { fields: { typeUrl: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } } } },
      },
    },
  },
}).lookupType('google.rpc.Status');

/** The details as JSON (each an Any: `{"@type": ..., ...}`), or none when there are none or they do not decode. */
export function errorDetails(codec: JsonCodec, bytes: Buffer | undefined): unknown[] {
  if (bytes === undefined) return [];
  let status: { details: Array<{ typeUrl: string; value: Uint8Array }> };
  try {
    status = STATUS.decode(bytes) as unknown as typeof status;
  } catch {
    // Details that are not a google.rpc.Status: the status and its message still say what failed.
    return [];
  }
  // One detail that does not decode as its type is passed on as bytes; the others are not lost with it.
  return status.details.map((detail) => {
    try {
      return codec.writeAny(detail.typeUrl, detail.value, true);
    } catch {
      return { '@type': detail.typeUrl, value: Buffer.from(detail.value).toString('base64') };
    }
  });
}
