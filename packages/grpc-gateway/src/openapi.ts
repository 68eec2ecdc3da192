/**
 * An OpenAPI 3.1 document of the routes a gateway serves, from the same bindings and descriptors: a path per
 * rule (`/v1/{name=shelves/*}` as `/v1/{name}` with the variable's pattern), path and query parameters, the
 * request body, the reply (a server stream's as its JSON lines), grpc-gateway's error body, and a schema per
 * message in the canonical JSON mapping's shapes (int64 as strings, enums by name, the well-known types as
 * their JSON forms).
 */
import type { Enum, Field, Type } from 'protobufjs';
import type { Binding } from './http-rules.js';
import { INT32, INT64, UINT32, UINT64, fieldAtPath, fieldOf, isType, lowerCamel, mapEntryOf, wellKnown } from './json-codec.js';
import type { Segment } from './path-template.js';

/** What the document says of itself (OpenAPI's `info`). */
export interface OpenApiInfo {
  title?: string;
  version?: string;
  description?: string;
}

type Schema = Record<string, unknown>;

const STATUS_SCHEMA = 'google.rpc.Status';

/** The document for `bindings` (in the gateway's order); paths that two rules would share keep the first. */
export function openApiDocument(bindings: readonly Binding[], info: OpenApiInfo = {}): Record<string, unknown> {
  const schemas = new Map<string, Schema>();
  const builder = new SchemaBuilder(schemas);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const binding of bindings) {
    const path = openApiPath(binding);
    const operations = (paths[path] ??= {});
    const method = binding.httpMethod.toLowerCase();
    // OpenAPI names a fixed set of methods; a custom verb outside it (SEARCH) cannot be described.
    if (!['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'].includes(method) || method in operations) continue;
    operations[method] = builder.operation(binding);
  }
  return {
    openapi: '3.1.0',
    info: { title: info.title ?? 'gRPC services through @x/grpc-gateway', version: info.version ?? '1.0.0', ...(info.description === undefined ? {} : { description: info.description }) },
    paths,
    components: { schemas: Object.fromEntries([...schemas].sort(([a], [b]) => a.localeCompare(b))) },
  };
}

/** `/v1/{name=shelves/*}/books:search` -> `/v1/{name}/books:search`. */
function openApiPath(binding: Binding): string {
  const { segments, variables, verb } = binding.template;
  const parts: string[] = [];
  for (let i = 0; i < segments.length; ) {
    const variable = variables.find((v) => v.start === i);
    if (variable !== undefined) {
      parts.push(`{${variable.fieldPath.join('.')}}`);
      i = variable.end;
    } else {
      const segment = segments[i]!;
      parts.push(segment.kind === 'literal' ? segment.text : segment.kind === 'star' ? '{_}' : '{__}');
      i++;
    }
  }
  return `/${parts.join('/')}${verb === '' ? '' : `:${verb}`}`;
}

/** A variable's segments as a regular expression over the text it takes. */
function patternOf(segments: readonly Segment[]): string {
  const parts = segments.map((segment) => (segment.kind === 'literal' ? segment.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : segment.kind === 'star' ? '[^/]+' : '.*'));
  return `^${parts.join('/')}$`;
}

class SchemaBuilder {
  constructor(private readonly schemas: Map<string, Schema>) {}

  operation(binding: Binding): Record<string, unknown> {
    const parameters: Schema[] = [];
    const bound = new Set<string>();
    for (const variable of binding.template.variables) {
      const field = fieldAtPath(binding.requestType, variable.fieldPath)!;
      bound.add(variable.fieldPath.map(lowerCamel).join('.'));
      const spanned = binding.template.segments.slice(variable.start, variable.end);
      const simple = spanned.length === 1 && spanned[0]!.kind === 'star';
      const schema = this.fieldSchema(field);
      parameters.push({ name: variable.fieldPath.join('.'), in: 'path', required: true, schema: simple ? schema : { ...schema, pattern: patternOf(spanned) } });
    }
    if (binding.body !== '*') {
      const bodyField = binding.body;
      this.queryParameters(binding.requestType, [], bound, bodyField, parameters, new Set());
    }
    const operation: Record<string, unknown> = {
      operationId: binding.name.replace(/\./g, '_'),
      summary: `${binding.name} (${binding.serverStreaming ? 'server stream' : 'unary'})`,
      tags: [binding.name.slice(0, binding.name.lastIndexOf('.'))],
    };
    if (parameters.length > 0) operation.parameters = parameters;
    if (binding.body !== undefined) {
      const schema = binding.body === '*' ? this.messageRef(binding.requestType) : this.fieldSchema(fieldOf(binding.requestType, binding.body)!);
      operation.requestBody = { required: true, content: { 'application/json': { schema } } };
    }
    const reply = binding.responseBody === undefined ? this.messageRef(binding.responseType) : this.fieldSchema(fieldOf(binding.responseType, binding.responseBody)!);
    const status = this.statusRef();
    operation.responses = {
      '200': binding.serverStreaming
        ? {
            description: 'One JSON object per line: {"result": message} per message, {"error": status} if the stream fails after it began',
            content: { 'application/json': { schema: { type: 'object', properties: { result: reply, error: status } } } },
          }
        : { description: 'The reply', content: { 'application/json': { schema: reply } } },
      default: { description: "An error: grpc-gateway's body", content: { 'application/json': { schema: status } } },
    };
    return operation;
  }

  /** The query parameters of `type`'s fields that neither the path nor the body binds, leaves of singular messages. */
  private queryParameters(type: Type, prefix: readonly string[], bound: ReadonlySet<string>, bodyField: string | undefined, out: Schema[], visiting: Set<Type>): void {
    visiting.add(type);
    for (const field of type.fieldsArray) {
      const path = [...prefix, lowerCamel(field.name)];
      const name = path.join('.');
      if (bound.has(name)) continue;
      if (prefix.length === 0 && field.name === bodyField) continue;
      const resolved = field.resolvedType;
      if (isType(resolved) && !isWellKnown(resolved) && !field.repeated) {
        // A message that contains itself would recurse for ever: its fields go as far as the first repetition.
        if (!visiting.has(resolved)) this.queryParameters(resolved, path, bound, undefined, out, visiting);
        continue;
      }
      if (isType(resolved) && !isWellKnown(resolved)) continue;
      const schema = this.fieldSchema(field);
      out.push({ name, in: 'query', required: false, schema, ...(field.repeated ? { style: 'form', explode: true } : {}) });
    }
    visiting.delete(type);
  }

  fieldSchema(field: Field): Schema {
    const entry = mapEntryOf(field);
    if (entry !== undefined) return { type: 'object', additionalProperties: this.singleSchema(entry.fields.value!) };
    const single = this.singleSchema(field);
    return field.repeated ? { type: 'array', items: single } : single;
  }

  private singleSchema(field: Field): Schema {
    const resolved = field.resolvedType;
    if (resolved === null) return scalarSchema(field.type);
    if (isType(resolved)) return this.messageRef(resolved);
    return this.enumRef(resolved);
  }

  messageRef(type: Type): Schema {
    const name = type.fullName.slice(1);
    if (!this.schemas.has(name)) {
      this.schemas.set(name, {});
      this.schemas.set(name, this.messageSchema(type));
    }
    return { $ref: `#/components/schemas/${name}` };
  }

  private messageSchema(type: Type): Schema {
    const known = wellKnown(type);
    if (known !== undefined) {
      const form = WELL_KNOWN_SCHEMAS[known];
      if (form !== undefined) return form;
    }
    const properties: Record<string, Schema> = {};
    for (const field of type.fieldsArray) properties[lowerCamel(field.name)] = this.fieldSchema(field);
    return { type: 'object', properties, additionalProperties: false };
  }

  private enumRef(type: Enum): Schema {
    const name = type.fullName.slice(1);
    if (name === 'google.protobuf.NullValue') return { type: 'null' };
    if (!this.schemas.has(name)) this.schemas.set(name, { type: 'string', enum: Object.keys(type.values) });
    return { $ref: `#/components/schemas/${name}` };
  }

  statusRef(): Schema {
    if (!this.schemas.has(STATUS_SCHEMA)) {
      this.schemas.set(STATUS_SCHEMA, {
        type: 'object',
        properties: { code: { type: 'integer', format: 'int32', description: 'The gRPC status code' }, message: { type: 'string' }, details: { type: 'array', items: { type: 'object' } } },
        required: ['code', 'message', 'details'],
      });
    }
    return { $ref: `#/components/schemas/${STATUS_SCHEMA}` };
  }
}

/** The canonical JSON form of each well-known type. */
const WELL_KNOWN_SCHEMAS: Record<string, Schema> = {
  Timestamp: { type: 'string', format: 'date-time' },
  Duration: { type: 'string', pattern: '^-?[0-9]+(\\.[0-9]{1,9})?s$' },
  FieldMask: { type: 'string', description: 'Field paths in lowerCamelCase, comma-separated' },
  Struct: { type: 'object', additionalProperties: true },
  Value: {},
  ListValue: { type: 'array', items: {} },
  Empty: { type: 'object', additionalProperties: false },
  Any: { type: 'object', properties: { '@type': { type: 'string' } }, required: ['@type'], additionalProperties: true },
  DoubleValue: { type: ['number', 'string', 'null'] },
  FloatValue: { type: ['number', 'string', 'null'] },
  Int64Value: { type: ['string', 'null'], format: 'int64' },
  UInt64Value: { type: ['string', 'null'], format: 'uint64' },
  Int32Value: { type: ['integer', 'null'], format: 'int32' },
  UInt32Value: { type: ['integer', 'null'], format: 'uint32' },
  BoolValue: { type: ['boolean', 'null'] },
  StringValue: { type: ['string', 'null'] },
  BytesValue: { type: ['string', 'null'], contentEncoding: 'base64' },
};

function scalarSchema(kind: string): Schema {
  if (kind === 'string') return { type: 'string' };
  if (kind === 'bool') return { type: 'boolean' };
  if (kind === 'bytes') return { type: 'string', contentEncoding: 'base64' };
  if (INT32.has(kind)) return { type: 'integer', format: 'int32' };
  if (UINT32.has(kind)) return { type: 'integer', format: 'uint32', minimum: 0 };
  // Canonical JSON writes 64-bit integers as strings (and reads numbers up to 2^53 too).
  if (INT64.has(kind) || UINT64.has(kind)) return { type: 'string', format: UINT64.has(kind) ? 'uint64' : 'int64', pattern: '^-?[0-9]+$' };
  // double and float: numbers, or "NaN", "Infinity", "-Infinity".
  return { type: ['number', 'string'], format: kind };
}

function isWellKnown(type: Type): boolean {
  const name = wellKnown(type);
  return name !== undefined && name in WELL_KNOWN_SCHEMAS;
}
