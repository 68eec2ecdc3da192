/**
 * The `google.api.http` rules of a package definition (from @grpc/proto-loader, whose method definitions carry
 * their options) as bindings the router serves: an HTTP method and path template, where the body goes and what
 * the response is, checked against the messages when the gateway is made (HttpRuleError) rather than per request.
 */
import { METHODS } from 'node:http';
import type { PackageDefinition } from '@grpc/proto-loader';
import { Root, type Method, type Type } from 'protobufjs';
import { FileDescriptorProto } from 'protobufjs/ext/descriptor';
import { HttpRuleError } from './errors.js';
import { fieldOf, isTextWellKnown, isType } from './json-codec.js';
import { type PathTemplate, parsePathTemplate } from './path-template.js';

/** One HTTP route of a gRPC method. */
export interface Binding {
  /** `library.v1.Library.GetBook`. */
  readonly name: string;
  /** The gRPC path, `/library.v1.Library/GetBook`. */
  readonly path: string;
  readonly httpMethod: string;
  readonly template: PathTemplate;
  /** `*` (the whole message), a top-level field's name (protobufjs's), or undefined (no body). */
  readonly body: string | undefined;
  /** The response field whose value is the reply (protobufjs's name), or undefined for the whole message. */
  readonly responseBody: string | undefined;
  readonly requestType: Type;
  readonly responseType: Type;
  readonly serverStreaming: boolean;
}

interface HttpRule {
  get?: string;
  put?: string;
  post?: string;
  delete?: string;
  patch?: string;
  custom?: { kind?: string; path?: string };
  body?: string;
  response_body?: string;
  additional_bindings?: HttpRule | HttpRule[];
}

interface MethodDefinitionLike {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  options?: Record<string, unknown>;
  requestType: { fileDescriptorProtos: Buffer[] };
}

const VERBS = ['get', 'put', 'post', 'delete', 'patch'] as const;


/** Message types the package definition describes, as one protobufjs root (its own, whatever the loader's options). */
export function rootOf(packageDefinition: PackageDefinition): Root {
  const files = new Map<string, unknown>();
  for (const definition of Object.values(packageDefinition)) {
    const protos = (definition as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    for (const bytes of protos ?? []) {
      const file = FileDescriptorProto.decode(bytes) as unknown as { name: string };
      if (!files.has(file.name)) files.set(file.name, file);
    }
  }
  // ext/descriptor adds fromDescriptor to Root when loaded (above), without declaring it on Root's type.
  const root = (Root as unknown as { fromDescriptor(set: { file: unknown[] }): Root }).fromDescriptor({ file: [...files.values()] });
  root.resolveAll();
  return root;
}

/** The services of `packageDefinition` (their full names), in its order. */
export function servicesOf(packageDefinition: PackageDefinition): string[] {
  return Object.entries(packageDefinition)
    .filter(([, definition]) => !('format' in definition))
    .map(([name]) => name);
}

/**
 * The bindings of `service`'s methods. A method without a rule is served at `POST /<service>/<Method>` with the
 * whole message as body when `unbound` is true (grpc-gateway's generate_unbound_methods), else not at all.
 */
export function bindingsOf(packageDefinition: PackageDefinition, root: Root, service: string, unbound: boolean): Binding[] {
  const definition = packageDefinition[service] as unknown as Record<string, MethodDefinitionLike> | undefined;
  if (definition === undefined || 'format' in definition) throw new HttpRuleError(service, 'is not a service of the package definition');
  const reflected = root.lookupService(service);
  const bindings: Binding[] = [];
  for (const [methodName, method] of Object.entries(definition)) {
    const name = `${service}.${methodName}`;
    const rule = method.options?.['(google.api.http)'] as HttpRule | undefined;
    if (rule === undefined && !unbound) continue;
    const reflectedMethod = reflected.methods[methodName] as Method | undefined;
    if (reflectedMethod === undefined) throw new HttpRuleError(name, 'is not in the descriptors');
    if (method.requestStream) {
      if (rule === undefined) continue;
      throw new HttpRuleError(name, 'client-streaming and bidirectional methods are not served');
    }
    const types = { requestType: reflectedMethod.resolvedRequestType!, responseType: reflectedMethod.resolvedResponseType! };
    const rules = rule === undefined ? [{ post: method.path, body: '*' }] : [rule, ...asList(rule.additional_bindings)];
    rules.forEach((one, index) => {
      if (index > 0 && one.additional_bindings !== undefined) throw new HttpRuleError(name, 'additional_bindings cannot nest');
      bindings.push(bindingOf(name, method, one, types));
    });
  }
  return bindings;
}

function asList(value: HttpRule | HttpRule[] | undefined): HttpRule[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function bindingOf(name: string, method: MethodDefinitionLike, rule: HttpRule, types: { requestType: Type; responseType: Type }): Binding {
  const patterns: Array<[string, string]> = VERBS.filter((verb) => typeof rule[verb] === 'string').map((verb) => [verb.toUpperCase(), rule[verb]!]);
  if (rule.custom !== undefined) patterns.push([String(rule.custom.kind ?? '').toUpperCase(), String(rule.custom.path ?? '')]);
  if (patterns.length !== 1) throw new HttpRuleError(name, `a rule names exactly one HTTP method and path (found ${patterns.length})`);
  const [httpMethod, source] = patterns[0]!;
  // Node's HTTP parser answers 400 itself to a method outside its list: a rule for one could never be reached.
  if (!METHODS.includes(httpMethod)) throw new HttpRuleError(name, `${JSON.stringify(httpMethod)} is not an HTTP method Node's server accepts`);
  const template = parsePathTemplate(source, name);
  for (const variable of template.variables) checkPathField(name, types.requestType, variable.fieldPath);
  const body = rule.body === undefined || rule.body === '' ? undefined : rule.body === '*' ? '*' : topField(name, types.requestType, rule.body, 'body');
  if (body !== undefined && (httpMethod === 'GET' || httpMethod === 'DELETE')) throw new HttpRuleError(name, `a ${httpMethod} rule has no body (body: ${JSON.stringify(rule.body)})`);
  const responseBody = rule.response_body === undefined || rule.response_body === '' ? undefined : topField(name, types.responseType, rule.response_body, 'response_body');
  return { name, path: method.path, httpMethod, template, body, responseBody, ...types, serverStreaming: method.responseStream };
}

function topField(name: string, type: Type, field: string, what: string): string {
  const found = fieldOf(type, field);
  if (found === undefined) throw new HttpRuleError(name, `${what} names ${JSON.stringify(field)}, which ${type.name} does not have`);
  return found.name;
}

/** A path variable must name a singular, non-message field (or a well-known type written as text). */
function checkPathField(name: string, requestType: Type, fieldPath: readonly string[]): void {
  let type = requestType;
  fieldPath.forEach((part, index) => {
    const field = fieldOf(type, part);
    if (field === undefined) throw new HttpRuleError(name, `path field ${fieldPath.join('.')}: ${type.name} has no field ${part}`);
    if (field.repeated || field.map) throw new HttpRuleError(name, `path field ${fieldPath.join('.')} is repeated`);
    const message = isType(field.resolvedType) ? field.resolvedType : undefined;
    if (index < fieldPath.length - 1) {
      if (message === undefined) throw new HttpRuleError(name, `path field ${fieldPath.join('.')}: ${part} is not a message`);
      type = message;
    } else if (message !== undefined && !isTextWellKnown(message)) {
      throw new HttpRuleError(name, `path field ${fieldPath.join('.')} is a message (${message.name}), which a path segment cannot hold`);
    }
  });
}
