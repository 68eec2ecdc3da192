/**
 * Protobuf's canonical JSON mapping (protobuf.dev/programming-guides/json), over protobufjs reflection: what
 * grpc-gateway's marshaler reads and writes. Fields by their lowerCamelCase JSON name (the proto name is accepted
 * too), 64-bit integers as decimal strings, enums by name, bytes as base64, and the well-known types in their
 * own forms (Timestamp as RFC 3339, Duration as "1.5s", wrappers as their value, Struct as any JSON, FieldMask as
 * "a.b,c", Any with its "@type"). Reading refuses what the mapping does not allow, with the JSON path of the
 * offending value (JsonMappingError); unknown fields are refused unless told otherwise.
 */
import type { Enum, Field, Message, Root, Type } from 'protobufjs';
import { XError } from '@x/core';

/** A JSON value that does not fit the message it was read into; `path` says where (`book.pages`). */
export class JsonMappingError extends XError<'ERR_JSON_MAPPING'> {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super('ERR_JSON_MAPPING', `${path === '' ? 'the message' : path}: ${reason}`);
  }
}

export interface JsonCodecOptions {
  /** Refuse JSON fields the message does not have (default true; false ignores them, as grpc-gateway's DiscardUnknown). */
  rejectUnknownFields: boolean;
  /** Write fields at their default value (default true, as grpc-gateway's EmitUnpopulated). */
  emitUnpopulated: boolean;
}

/** Fields of a type by every name JSON may use for them (JSON name, proto name, protobufjs's name). */
const fieldTables = new WeakMap<Type, Map<string, Field>>();

/** `page_size` -> `pageSize` (protoc's ToJsonName). */
export function lowerCamel(name: string): string {
  return name.includes('_') ? name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) : name;
}

/** Each field's JSON name, worked out once (writing a reply looks it up for every field of every message). */
const jsonNames = new WeakMap<Field, string>();

function jsonNameOf(field: Field): string {
  let name = jsonNames.get(field);
  if (name === undefined) jsonNames.set(field, (name = lowerCamel(field.name)));
  return name;
}

/** `pageSize` -> `page_size`: the proto name of a field protobufjs knows by its camelCase name. */
export function snakeOf(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The field of `type` that JSON (or a path template, or a query parameter) calls `name`. */
export function fieldOf(type: Type, name: string): Field | undefined {
  let table = fieldTables.get(type);
  if (table === undefined) {
    table = new Map();
    for (const field of type.fieldsArray) {
      table.set(field.name, field);
      table.set(lowerCamel(field.name), field);
      table.set(snakeOf(field.name), field);
    }
    fieldTables.set(type, table);
  }
  return table.get(name);
}

/** The field `fieldPath` names from `type`, through singular message fields; undefined when there is none. */
export function fieldAtPath(type: Type, fieldPath: readonly string[]): Field | undefined {
  let current: Type = type;
  for (let i = 0; i < fieldPath.length; i++) {
    const field = fieldOf(current, fieldPath[i]!);
    if (field === undefined) return undefined;
    if (i === fieldPath.length - 1) return field;
    if (field.repeated || !isType(field.resolvedType)) return undefined;
    current = field.resolvedType;
  }
  return undefined;
}

/** Scalar kinds by their JSON form. */
export const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
export const UINT32 = new Set(['uint32', 'fixed32']);
export const INT64 = new Set(['int64', 'sint64', 'sfixed64']);
export const UINT64 = new Set(['uint64', 'fixed64']);
const WRAPPERS = new Set(['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue']);
/** Well-known types whose JSON is a string or a scalar: a path variable or a query parameter can set one. */
const TEXT_WELL_KNOWN = new Set(['Timestamp', 'Duration', 'FieldMask', ...WRAPPERS]);
const MAX_DURATION_S = 315_576_000_000;
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds: Timestamp's range. */
const MIN_TIMESTAMP_S = -62_135_596_800;
const MAX_TIMESTAMP_S = 253_402_300_799;

/** The well-known type a message is (`Timestamp`), worked out once per type: it is asked for every message read. */
const wellKnownNames = new WeakMap<Type, string | null>();

export function wellKnown(type: Type): string | undefined {
  let name = wellKnownNames.get(type);
  if (name === undefined) wellKnownNames.set(type, (name = type.fullName.startsWith('.google.protobuf.') ? type.fullName.slice('.google.protobuf.'.length) : null));
  return name ?? undefined;
}

/** Whether `type` is a well-known type written as text or a scalar (see TEXT_WELL_KNOWN). */
export function isTextWellKnown(type: Type): boolean {
  const name = wellKnown(type);
  return name !== undefined && TEXT_WELL_KNOWN.has(name);
}

/** Messages within messages a request may nest: protobufjs's limit (protoc's default recursion limit). */
export const MAX_DEPTH = 100;

export class JsonCodec {
  /** How many messages deep the read under way is (reads are synchronous: one at a time). */
  private depth = 0;

  constructor(
    private readonly root: Root,
    private readonly options: JsonCodecOptions,
  ) {}

  /** `json` as the object protobufjs's `fromObject` takes for `type`; throws JsonMappingError. */
  read(type: Type, json: unknown, path = ''): Record<string, unknown> {
    return this.nested(path, () => this.readMessage(type, json, path));
  }

  /** Runs `work` one message deeper; refuses past MAX_DEPTH (protobufjs would throw a plain Error there). */
  private nested<T>(path: string, work: () => T): T {
    if (this.depth >= MAX_DEPTH) throw new JsonMappingError(path, `messages nested more than ${MAX_DEPTH} deep`);
    this.depth++;
    try {
      return work();
    } finally {
      this.depth--;
    }
  }

  private readMessage(type: Type, json: unknown, path: string): Record<string, unknown> {
    const known = wellKnown(type);
    if (known !== undefined && known !== 'Empty' && (WRAPPERS.has(known) || known in SPECIAL_READERS)) {
      return this.readWellKnown(known, type, json, path);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new JsonMappingError(path, `expected an object for ${type.name}`);
    const out: Record<string, unknown> = {};
    const oneofs = new Map<string, string>();
    for (const [key, value] of Object.entries(json)) {
      const field = fieldOf(type, key);
      const at = path === '' ? key : `${path}.${key}`;
      if (field === undefined) {
        if (this.options.rejectUnknownFields) throw new JsonMappingError(at, `${type.name} has no field ${JSON.stringify(key)}`);
        continue;
      }
      if (field.name in out) throw new JsonMappingError(at, `field ${field.name} is given twice`);
      if (field.partOf !== null && value !== null) {
        const other = oneofs.get(field.partOf.name);
        if (other !== undefined) throw new JsonMappingError(at, `${other} and ${key} are of one oneof (${field.partOf.name})`);
        oneofs.set(field.partOf.name, key);
      }
      const read = this.readField(field, value, at);
      if (read !== undefined) out[field.name] = read;
    }
    return out;
  }

  /** `message` (decoded by protobufjs) as canonical JSON. */
  write(type: Type, message: Message | Record<string, unknown>): unknown {
    const known = wellKnown(type);
    if (known !== undefined && (WRAPPERS.has(known) || known in SPECIAL_WRITERS)) return this.writeWellKnown(known, type, message as Record<string, unknown>);
    const out: Record<string, unknown> = {};
    const fields = message as Record<string, unknown>;
    for (const field of type.fieldsArray) {
      const set = Object.prototype.hasOwnProperty.call(fields, field.name);
      // Oneof members and proto3 `optional` fields have presence: written only when set.
      if (!set && (field.partOf !== null || !this.options.emitUnpopulated)) continue;
      const value = fields[field.name];
      // protobufjs gives every message its own empty arrays: unpopulated too, when empty.
      if (!this.options.emitUnpopulated && field.repeated && Object.keys(value ?? {}).length === 0) continue;
      out[jsonNameOf(field)] = this.writeField(field, message);
    }
    return out;
  }

  /** The JSON value of `field` in `message`, its default (`null` for a message) when it is not set. */
  writeField(field: Field, message: Message | Record<string, unknown>): unknown {
    const value = (message as Record<string, unknown>)[field.name];
    const entry = mapEntryOf(field);
    if (entry !== undefined) return this.writeMap(entry, value);
    if (field.repeated) return ((value ?? []) as unknown[]).map((item) => this.writeValue(field, item));
    if (value === undefined || value === null) return isType(field.resolvedType) ? null : this.writeValue(field, field.typeDefault);
    return this.writeValue(field, value);
  }

  /** `value` as the object protobufjs's `fromObject` takes for `field` (undefined: leave it unset). */
  readField(field: Field, value: unknown, at: string): unknown {
    if (value === null && !(field.resolvedType !== null && isType(field.resolvedType) && wellKnown(field.resolvedType) === 'Value')) return undefined;
    const entry = mapEntryOf(field);
    if (entry !== undefined) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JsonMappingError(at, 'expected an object (a map)');
      const { key: keyField, value: valueField } = entry.fields as { key: Field; value: Field };
      // Each entry is a message too, as protobuf counts nesting.
      return this.nested(at, () =>
        Object.entries(value).map(([key, item]) => {
          const itemAt = `${at}[${JSON.stringify(key)}]`;
          return { key: readMapKey(keyField.type, key, itemAt), value: this.readSingle(valueField, item, itemAt) };
        }),
      );
    }
    if (field.repeated) {
      if (!Array.isArray(value)) throw new JsonMappingError(at, 'expected an array');
      return value.map((item, i) => this.readSingle(field, item, `${at}[${i}]`));
    }
    return this.readSingle(field, value, at);
  }

  private readSingle(field: Field, value: unknown, at: string): unknown {
    const resolved = field.resolvedType;
    if (resolved === null) return readScalar(field.type, value, at);
    if (isType(resolved)) return this.read(resolved, value, at);
    return readEnum(resolved, value, at);
  }

  /** A map field's entries (protobufjs's form of a map read from descriptors) as a JSON object. */
  writeMap(entry: Type, value: unknown): Record<string, unknown> {
    const { value: valueField } = entry.fields as { value: Field };
    // Without a prototype: a key named `__proto__` is a key like any other.
    const out = Object.create(null) as Record<string, unknown>;
    for (const item of (value ?? []) as Array<Record<string, unknown>>) out[String(item.key ?? '')] = this.writeValue(valueField, item.value ?? (isType(valueField.resolvedType) ? {} : valueField.typeDefault));
    return out;
  }

  private writeValue(field: Field, value: unknown): unknown {
    const resolved = field.resolvedType;
    if (resolved === null) return writeScalar(field.type, value);
    if (isType(resolved)) return this.write(resolved, value as Record<string, unknown>);
    if (wellKnownEnum(resolved) === 'NullValue') return null;
    return resolved.valuesById[Number(value)] ?? Number(value);
  }

  private readWellKnown(known: string, type: Type, json: unknown, path: string): Record<string, unknown> {
    if (WRAPPERS.has(known)) {
      const field = type.fields.value!;
      return json === null ? {} : { [field.name]: readScalar(field.type, json, path) };
    }
    return SPECIAL_READERS[known]!(this, type, json, path);
  }

  private writeWellKnown(known: string, type: Type, message: Record<string, unknown>): unknown {
    if (WRAPPERS.has(known)) {
      const field = type.fields.value!;
      return writeScalar(field.type, message[field.name] ?? field.typeDefault);
    }
    return SPECIAL_WRITERS[known]!(this, type, message);
  }

  /**
   * An Any's JSON: `{"@type": url, ...fields}` (a well-known type's JSON under "value"), `{}` for an empty one.
   * `lenient`: a type the descriptors do not name is written as `{"@type": url, "value": base64}` instead of refused
   * (error details, which servers fill with types of their own).
   */
  writeAny(url: string, value: Uint8Array | undefined, lenient = false): Record<string, unknown> {
    if (url === '') return {};
    if (lenient && this.typeNamedBy(url) === undefined) return { '@type': url, value: Buffer.from(value ?? new Uint8Array(0)).toString('base64') };
    const inner = this.typeOfUrl(url, '@type');
    const json = this.write(inner, inner.decode(value ?? new Uint8Array(0)));
    const special = wellKnown(inner) !== undefined && wellKnown(inner) !== 'Empty';
    return special ? { '@type': url, value: json } : { '@type': url, ...(json as Record<string, unknown>) };
  }

  /** For Any: the type its URL names, looked up in the descriptors the gateway was given. */
  typeOfUrl(url: string, path: string): Type {
    const found = this.typeNamedBy(url);
    if (found === undefined) throw new JsonMappingError(path, `Any's type ${JSON.stringify(url)} is not among the gateway's descriptors`);
    return found;
  }

  /** The message type an Any's URL names (after its last '/'), if the descriptors have it. */
  private typeNamedBy(url: string): Type | undefined {
    const name = url.slice(url.lastIndexOf('/') + 1);
    const found = name === '' ? null : this.root.lookup(name);
    return isType(found) ? found : undefined;
  }
}

type Reader = (codec: JsonCodec, type: Type, json: unknown, path: string) => Record<string, unknown>;
type Writer = (codec: JsonCodec, type: Type, message: Record<string, unknown>) => unknown;

/** The name protobufjs gives `type`'s field whose proto name is `protoName`. */
const nameOf = (type: Type, protoName: string): string => fieldOf(type, protoName)!.name;

const SPECIAL_READERS: Record<string, Reader> = {
  Timestamp: (_, type, json, path) => {
    const match = typeof json === 'string' ? RFC3339.exec(json) : null;
    if (match === null) throw new JsonMappingError(path, 'expected an RFC 3339 timestamp ("1972-01-01T10:00:20.021Z")');
    const [, year, month, day, hour, minute, second, fraction = '', zone] = match;
    const date = new Date(0);
    date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
    date.setUTCHours(Number(hour), Number(minute), Number(second), 0);
    const offsetValid = zone === 'Z' || zone === 'z' || (Number(zone!.slice(1, 3)) <= 23 && Number(zone!.slice(4, 6)) <= 59);
    const dateValid = Number(month) >= 1 && Number(month) <= 12 && date.getUTCDate() === Number(day) && date.getUTCMonth() === Number(month) - 1;
    if (!dateValid || !offsetValid || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) throw new JsonMappingError(path, `${json as string} is not a date and time`);
    let seconds = Math.floor(date.getTime() / 1000);
    if (zone !== 'Z' && zone !== 'z') seconds -= (zone!.startsWith('-') ? -1 : 1) * (Number(zone!.slice(1, 3)) * 3600 + Number(zone!.slice(4, 6)) * 60);
    if (seconds < MIN_TIMESTAMP_S || seconds > MAX_TIMESTAMP_S) throw new JsonMappingError(path, 'a timestamp must lie in years 1 to 9999');
    return { [nameOf(type, 'seconds')]: String(seconds), [nameOf(type, 'nanos')]: Number(fraction.slice(1).padEnd(9, '0')) };
  },
  Duration: (_, type, json, path) => {
    const match = typeof json === 'string' ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(json) : null;
    if (match === null) throw new JsonMappingError(path, 'expected a duration in seconds ("1.5s")');
    const [, minus, whole, fraction = ''] = match;
    if (Number(whole) > MAX_DURATION_S) throw new JsonMappingError(path, `a duration is at most ${MAX_DURATION_S} s`);
    const sign = minus === undefined ? 1 : -1;
    return { [nameOf(type, 'seconds')]: minus === undefined ? whole! : `-${whole!}`, [nameOf(type, 'nanos')]: sign * Number(fraction.padEnd(9, '0')) };
  },
  FieldMask: (_, type, json, path) => {
    if (typeof json !== 'string') throw new JsonMappingError(path, 'expected a field mask ("a.b,c")');
    const paths = json === '' ? [] : json.split(',');
    for (const item of paths) if (!/^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/.test(item)) throw new JsonMappingError(path, `${JSON.stringify(item)} is not a lowerCamelCase field path`);
    return { [nameOf(type, 'paths')]: paths.map((item) => item.split('.').map(snakeOf).join('.')) };
  },
  Struct: (codec, type, json, path) => {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new JsonMappingError(path, 'expected an object (a Struct)');
    return { [nameOf(type, 'fields')]: codec.readField(fieldOf(type, 'fields')!, json, path) };
  },
  ListValue: (codec, type, json, path) => {
    if (!Array.isArray(json)) throw new JsonMappingError(path, 'expected an array (a ListValue)');
    const value = type.fields.values!.resolvedType as Type;
    return { [nameOf(type, 'values')]: json.map((item, i) => codec.read(value, item, `${path}[${i}]`)) };
  },
  Value: (codec, type, json, path) => {
    const field = (name: string): string => nameOf(type, name);
    if (json === null) return { [field('null_value')]: 0 };
    if (typeof json === 'number') return { [field('number_value')]: json };
    if (typeof json === 'string') return { [field('string_value')]: readScalar('string', json, path) };
    if (typeof json === 'boolean') return { [field('bool_value')]: json };
    if (Array.isArray(json)) return { [field('list_value')]: codec.read(type.fields[field('list_value')]!.resolvedType as Type, json, path) };
    return { [field('struct_value')]: codec.read(type.fields[field('struct_value')]!.resolvedType as Type, json, path) };
  },
  Any: (codec, type, json, path) => {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new JsonMappingError(path, 'expected an object (an Any)');
    const { '@type': url, ...rest } = json as Record<string, unknown>;
    // `{}` is the empty Any (protojson reads it so).
    if (url === undefined && Object.keys(rest).length === 0) return {};
    if (typeof url !== 'string') throw new JsonMappingError(path, 'an Any needs its "@type"');
    const inner = codec.typeOfUrl(url, `${path}.@type`);
    // A well-known type inside an Any keeps its own JSON form under "value".
    const special = wellKnown(inner) !== undefined && wellKnown(inner) !== 'Empty';
    const object = codec.read(inner, special ? rest.value : rest, special ? `${path}.value` : path);
    return { [nameOf(type, 'type_url')]: url, [nameOf(type, 'value')]: inner.encode(inner.fromObject(object)).finish() };
  },
};

const SPECIAL_WRITERS: Record<string, Writer> = {
  // Values protojson refuses to marshal are refused here too: the reply is a 500, not JSON no client can read.
  Timestamp: (_, type, message) => {
    const seconds = Number(String(message[nameOf(type, 'seconds')] ?? 0));
    const nanos = Number(message[nameOf(type, 'nanos')] ?? 0);
    if (seconds < MIN_TIMESTAMP_S || seconds > MAX_TIMESTAMP_S) throw new Error(`a Timestamp must lie in years 1 to 9999 (seconds ${seconds})`);
    if (nanos < 0 || nanos > 999_999_999) throw new Error(`a Timestamp's nanos must lie in 0 to 999999999 (${nanos})`);
    const text = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, '');
    return `${text}${fractionOf(nanos)}Z`;
  },
  Duration: (_, type, message) => {
    const seconds = String(message[nameOf(type, 'seconds')] ?? 0);
    const nanos = Number(message[nameOf(type, 'nanos')] ?? 0);
    if (Math.abs(Number(seconds)) > MAX_DURATION_S) throw new Error(`a Duration is at most ${MAX_DURATION_S} s either way (seconds ${seconds})`);
    if (Math.abs(nanos) > 999_999_999) throw new Error(`a Duration's nanos must lie in -999999999 to 999999999 (${nanos})`);
    if ((Number(seconds) > 0 && nanos < 0) || (Number(seconds) < 0 && nanos > 0)) throw new Error(`a Duration's seconds and nanos must have one sign (${seconds} s, ${nanos} ns)`);
    const negative = seconds.startsWith('-') || nanos < 0;
    return `${negative ? '-' : ''}${seconds.replace('-', '')}${fractionOf(Math.abs(nanos))}s`;
  },
  FieldMask: (_, type, message) => ((message[nameOf(type, 'paths')] ?? []) as string[]).map((item) => item.split('.').map(lowerCamel).join('.')).join(','),
  Struct: (codec, type, message) => codec.writeMap(mapEntryOf(fieldOf(type, 'fields')!)!, message[nameOf(type, 'fields')]),
  ListValue: (codec, type, message) => {
    const value = type.fields.values!.resolvedType as Type;
    return ((message[nameOf(type, 'values')] ?? []) as Array<Record<string, unknown>>).map((item) => codec.write(value, item));
  },
  Value: (codec, type, message) => {
    const kind = (name: string): unknown => message[nameOf(type, name)];
    const has = (name: string): boolean => Object.prototype.hasOwnProperty.call(message, nameOf(type, name));
    if (has('number_value')) {
      const number = kind('number_value') as number;
      if (!Number.isFinite(number)) throw new Error(`a Value's number must be finite (${number}): JSON has no NaN or Infinity`);
      return number;
    }
    if (has('string_value')) return kind('string_value');
    if (has('bool_value')) return kind('bool_value');
    if (has('struct_value')) return codec.write(type.fields[nameOf(type, 'struct_value')]!.resolvedType as Type, kind('struct_value') as Record<string, unknown>);
    if (has('list_value')) return codec.write(type.fields[nameOf(type, 'list_value')]!.resolvedType as Type, kind('list_value') as Record<string, unknown>);
    return null;
  },
  Any: (codec, type, message) => codec.writeAny(String(message[nameOf(type, 'type_url')] ?? ''), message[nameOf(type, 'value')] as Uint8Array | undefined),
};

/** `.021`, `.021500` or `.021500300`: 0, 3, 6 or 9 digits, as protobuf writes them. */
function fractionOf(nanos: number): string {
  if (nanos === 0) return '';
  const digits = String(nanos).padStart(9, '0');
  return `.${digits.endsWith('000000') ? digits.slice(0, 3) : digits.endsWith('000') ? digits.slice(0, 6) : digits}`;
}

function readScalar(kind: string, value: unknown, at: string): unknown {
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') throw new JsonMappingError(at, 'expected a string');
      if (!value.isWellFormed()) throw new JsonMappingError(at, 'a string must be valid Unicode (a lone surrogate cannot be sent as UTF-8)');
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new JsonMappingError(at, 'expected true or false');
      return value;
    case 'bytes':
      if (typeof value !== 'string' || !BASE64.test(value) || value.replace(/=+$/, '').length % 4 === 1) throw new JsonMappingError(at, 'expected base64');
      return Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    case 'double':
    case 'float': {
      if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return Number(value);
      const number = typeof value === 'string' && value !== '' && value.trim() === value ? Number(value) : value;
      if (typeof number !== 'number' || !Number.isFinite(number)) throw new JsonMappingError(at, 'expected a number');
      if (kind === 'float' && Math.abs(number) > 3.4028234663852886e38) throw new JsonMappingError(at, 'out of range for a float');
      return number;
    }
    default:
      return readInteger(kind, value, at);
  }
}

function readInteger(kind: string, value: unknown, at: string): unknown {
  // The usual case, a number inside its range, without BigInt (a large repeated field reads thousands).
  if (typeof value === 'number' && Number.isSafeInteger(value)) {
    const min = INT32.has(kind) ? -(2 ** 31) : UINT32.has(kind) || UINT64.has(kind) ? 0 : -Number.MAX_SAFE_INTEGER;
    const max = INT32.has(kind) ? 2 ** 31 - 1 : UINT32.has(kind) ? 2 ** 32 - 1 : Number.MAX_SAFE_INTEGER;
    if (value >= min && value <= max) return value;
  }
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new JsonMappingError(at, `expected an integer (${kind})`);
    if (!Number.isSafeInteger(value) && (INT64.has(kind) || UINT64.has(kind))) throw new JsonMappingError(at, `${kind} beyond 2^53 must be a string`);
    text = BigInt(value).toString();
  } else if (typeof value === 'string' && /^-?\d+$/.test(value)) {
    text = value;
  } else {
    throw new JsonMappingError(at, `expected an integer (${kind})`);
  }
  const big = BigInt(text);
  const [min, max] = INT32.has(kind) ? [-(2n ** 31n), 2n ** 31n - 1n] : UINT32.has(kind) ? [0n, 2n ** 32n - 1n] : INT64.has(kind) ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
  if (big < min || big > max) throw new JsonMappingError(at, `out of range for ${kind}`);
  return INT32.has(kind) || UINT32.has(kind) ? Number(big) : big.toString();
}

function readEnum(type: Enum, value: unknown, at: string): unknown {
  if (wellKnownEnum(type) === 'NullValue') return 0;
  if (typeof value === 'string') {
    if (!(value in type.values)) throw new JsonMappingError(at, `${type.name} has no value ${JSON.stringify(value)}`);
    return type.values[value];
  }
  if (typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31) return value;
  throw new JsonMappingError(at, `expected a ${type.name} name or number`);
}

function readMapKey(keyType: string, key: string, at: string): unknown {
  if (keyType === 'string') return readScalar('string', key, at);
  if (keyType === 'bool') {
    if (key !== 'true' && key !== 'false') throw new JsonMappingError(at, 'a bool map key is "true" or "false"');
    return key === 'true';
  }
  return readInteger(keyType, key, at);
}

/**
 * The entry type of a map field as protobufjs builds it from descriptors: a repeated message marked `map_entry`
 * (with `key` and `value` fields), not a MapField.
 */
export function mapEntryOf(field: Field): Type | undefined {
  const resolved = field.resolvedType;
  if (!field.repeated || resolved === null || !isType(resolved)) return undefined;
  // protobufjs also marks the type that holds the entry as map_entry: the entry is the one nested in it, with
  // fields key = 1 and value = 2 and nothing else.
  const options = resolved.options as Record<string, unknown> | undefined;
  const { key, value } = resolved.fields as Partial<Record<string, Field>>;
  const shaped = resolved.parent === field.parent && resolved.fieldsArray.length === 2 && key?.id === 1 && value?.id === 2;
  return shaped && (options?.map_entry === true || options?.mapEntry === true) ? resolved : undefined;
}

function writeScalar(kind: string, value: unknown): unknown {
  if (INT64.has(kind) || UINT64.has(kind)) return String(value ?? 0);
  switch (kind) {
    case 'bytes':
      return Buffer.from((value ?? new Uint8Array(0)) as Uint8Array).toString('base64');
    case 'double':
    case 'float': {
      const number = Number(value ?? 0);
      if (!Number.isFinite(number)) return String(number);
      return kind === 'float' ? shortestFloat32(number) : number;
    }
    default:
      return value;
  }
}

/** The shortest decimal that reads back as the same float32 (protojson's output for a float: 0.1, not 0.10000000149011612). */
function shortestFloat32(value: number): number {
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return value;
}

function wellKnownEnum(type: Enum): string | undefined {
  return type.fullName.startsWith('.google.protobuf.') ? type.fullName.slice('.google.protobuf.'.length) : undefined;
}

/** Whether a field's resolved type is a message (not an enum). */
export function isType(value: unknown): value is Type {
  return value !== null && typeof value === 'object' && 'fieldsArray' in value;
}

