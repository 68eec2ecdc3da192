/**
 * The request message of a call, as canonical JSON, from what the HTTP request carries (google/api/http.proto):
 * the body (the whole message for `body: "*"`, one field's value for `body: "field"`), the path's variables, and
 * for every field neither of those binds, query parameters (`?page_size=5&tags=a&tags=b&filter.author=x`).
 * Values from the path and the query are text: each is read as its field's type wants (a bool from
 * `true`/`false`, an enum by name or number, a Timestamp as RFC 3339).
 */
import type { Field, Type } from 'protobufjs';
import type { Binding } from './http-rules.js';
import { JsonMappingError, fieldAtPath, fieldOf, isTextWellKnown, isType, lowerCamel, wellKnown } from './json-codec.js';

/** Scalar kinds whose canonical JSON is a string (numbers are accepted as strings too). */
const TEXT_KINDS = new Set(['string', 'bytes', 'int32', 'sint32', 'sfixed32', 'uint32', 'fixed32', 'int64', 'sint64', 'sfixed64', 'uint64', 'fixed64', 'double', 'float']);

export function requestJson(
  binding: Binding,
  body: unknown,
  variables: ReadonlyArray<readonly [readonly string[], string]>,
  query: URLSearchParams | undefined,
): Record<string, unknown> {
  const { requestType, body: bodyField } = binding;
  let json: Record<string, unknown>;
  if (bodyField === '*') {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new JsonMappingError('', 'the request body must be a JSON object');
    json = body as Record<string, unknown>;
  } else {
    json = bodyField === undefined || body === undefined ? {} : { [bodyField]: body };
  }
  // Query parameters fill what neither the body nor the path binds (none when the body is the whole message).
  if (bodyField !== '*' && query !== undefined) {
    const bound = new Set(variables.map(([path]) => path.join('.')));
    for (const key of new Set(query.keys())) {
      const fieldPath = key.split('.');
      if (bound.has(key) || (bodyField !== undefined && fieldOf(requestType, fieldPath[0]!)?.name === bodyField)) continue;
      const target = fieldAtPath(requestType, fieldPath);
      // Parameters that name no field are left alone (cache busters, tracking parameters), as grpc-gateway does.
      if (target === undefined) continue;
      const values = query.getAll(key).map((text) => fromText(target, text, key));
      set(requestType, json, fieldPath, target.repeated ? values : values[values.length - 1]);
    }
  }
  // From the body as the client sent it, before the path's variables are set in it.
  if (binding.httpMethod === 'PATCH' && bodyField !== undefined && bodyField !== '*') fillUpdateMask(requestType, json, bodyField, body);
  for (const [fieldPath, text] of variables) {
    set(requestType, json, fieldPath, fromText(fieldAtPath(requestType, fieldPath)!, text, fieldPath.join('.')));
  }
  return json;
}

/**
 * A PATCH whose request has an `update_mask` (google.protobuf.FieldMask) that the query left unset gets one naming
 * the fields the body holds, as grpc-gateway does: a server that updates what the mask names then changes only what
 * the client sent. Nested objects name their leaves; maps, lists and well-known types are leaves themselves.
 */
function fillUpdateMask(requestType: Type, json: Record<string, unknown>, bodyField: string, body: unknown): void {
  const mask = fieldOf(requestType, 'update_mask');
  if (mask === undefined || mask.resolvedType?.fullName !== '.google.protobuf.FieldMask' || typeof body !== 'object' || body === null || Array.isArray(body)) return;
  if (Object.keys(json).some((key) => fieldOf(requestType, key) === mask)) return;
  const target = fieldOf(requestType, bodyField)?.resolvedType;
  if (!isType(target)) return;
  const paths: string[] = [];
  const walk = (type: Type, object: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(object)) {
      const field = fieldOf(type, key);
      if (field === undefined) continue;
      const path = prefix + lowerCamel(field.name);
      const nested = field.resolvedType;
      const descend = !field.repeated && isType(nested) && wellKnown(nested) === undefined;
      if (descend && typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0) walk(nested, value as Record<string, unknown>, `${path}.`);
      else paths.push(path);
    }
  };
  walk(target, body as Record<string, unknown>, '');
  json[mask.name] = paths.join(',');
}

/** Sets `value` at `fieldPath` in `json`, replacing whatever key the JSON used for those fields. */
function set(type: Type, json: Record<string, unknown>, fieldPath: readonly string[], value: unknown): void {
  let current: Record<string, unknown> = json;
  let currentType = type;
  fieldPath.forEach((part, i) => {
    const field = fieldOf(currentType, part)!;
    const key = Object.keys(current).find((existing) => fieldOf(currentType, existing) === field) ?? field.name;
    if (i === fieldPath.length - 1) {
      current[key] = value;
      return;
    }
    const next = current[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) current[key] = {};
    current = current[key] as Record<string, unknown>;
    currentType = field.resolvedType as Type;
  });
}

/** A path or query text as the JSON value its field reads. */
function fromText(field: Field, text: string, at: string): unknown {
  const resolved = field.resolvedType;
  if (resolved === null) {
    if (field.type === 'bool') return boolOf(text, at);
    if (TEXT_KINDS.has(field.type)) return text;
  } else if ('values' in resolved) {
    // An enum: by name, or by number.
    return /^-?\d+$/.test(text) ? Number(text) : text;
  } else {
    if (wellKnown(resolved) === 'BoolValue') return boolOf(text, at);
    if (isTextWellKnown(resolved)) return text;
  }
  throw new JsonMappingError(at, `${field.name} cannot be set from a path or query parameter`);
}

function boolOf(text: string, at: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new JsonMappingError(at, 'expected true or false');
}

/**
 * The first piece of the path or the query that is not valid percent-encoding of UTF-8 (`%zz`, a cut `%E0%A4%A`,
 * an encoded surrogate), or undefined. grpc-gateway refuses them with 400; URLSearchParams and lenient decoding
 * would pass them on altered.
 */
export function malformedEscape(path: string, query: string): string | undefined {
  if (!path.includes('%') && !query.includes('%')) return undefined;
  const pieces = [...path.split('/'), ...query.split(/[&=]/)];
  for (const piece of pieces) {
    if (!piece.includes('%')) continue;
    try {
      decodeURIComponent(piece.replace(/\+/g, ' '));
    } catch {
      return piece;
    }
  }
  return undefined;
}

