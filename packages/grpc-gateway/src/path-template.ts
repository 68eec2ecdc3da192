/**
 * `google.api.http` path templates (google/api/http.proto):
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     FieldPath = IDENT { "." IDENT } ;
 *     Verb     = ":" LITERAL ;
 *
 * `{name}` is `{name=*}`. A variable takes the text of the segments it spans (`{name=shelves/*}` takes
 * `shelves/1`); `**` matches any number of segments and may only come last.
 */
import { HttpRuleError } from './errors.js';

/** One segment of a template as the router matches it. */
export type Segment = { readonly kind: 'literal'; readonly text: string } | { readonly kind: 'star' } | { readonly kind: 'double-star' };

/** A variable: the request field it sets and the segments (by index) whose text it takes. */
export interface Variable {
  readonly fieldPath: readonly string[];
  readonly start: number;
  /** Exclusive; for a variable ending in `**`, the request's segments up to the verb. */
  readonly end: number;
}

export interface PathTemplate {
  readonly source: string;
  readonly segments: readonly Segment[];
  readonly variables: readonly Variable[];
  /** The custom verb (`:search`), or '' for none. */
  readonly verb: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Characters a literal may hold: RFC 3986's unreserved and sub-delims, '@', and percent escapes.
const LITERAL = /^(?:[A-Za-z0-9\-._~!$&'()+,;=@]|%[0-9A-Fa-f]{2})+$/;

/** Parses `template` (from method `where`); throws HttpRuleError when it does not follow the grammar. */
export function parsePathTemplate(template: string, where: string): PathTemplate {
  const fail = (reason: string): never => {
    throw new HttpRuleError(where, `path template ${JSON.stringify(template)}: ${reason}`);
  };
  if (!template.startsWith('/')) fail('it must start with "/"');
  let body = template.slice(1);
  let verb = '';
  // The verb follows the last segment; a ':' inside a variable (`{x=a:b}`) is not one.
  const lastSlash = body.lastIndexOf('/');
  const lastClose = body.lastIndexOf('}');
  const colon = body.indexOf(':', Math.max(lastSlash, lastClose) + 1);
  if (colon !== -1) {
    verb = body.slice(colon + 1);
    body = body.slice(0, colon);
    if (!LITERAL.test(verb)) fail(`the verb ${JSON.stringify(verb)} is not a literal`);
  }
  const segments: Segment[] = [];
  const variables: Variable[] = [];
  const seen = new Set<string>();
  let rest = body;
  const segmentOf = (text: string): Segment => {
    if (text === '*') return { kind: 'star' };
    if (text === '**') return { kind: 'double-star' };
    if (!LITERAL.test(text)) fail(`segment ${JSON.stringify(text)} is not a literal, "*" or "**"`);
    return { kind: 'literal', text: decodeURIComponent(text) };
  };
  while (rest.length > 0 || segments.length === 0) {
    if (rest.startsWith('{')) {
      const close = rest.indexOf('}');
      if (close === -1) fail('a "{" is not closed');
      const inner = rest.slice(1, close);
      const equals = inner.indexOf('=');
      const path = equals === -1 ? inner : inner.slice(0, equals);
      const fieldPath = path.split('.');
      if (!fieldPath.every((part) => IDENT.test(part))) fail(`${JSON.stringify(path)} is not a field path`);
      if (seen.has(path)) fail(`field ${path} is bound twice`);
      seen.add(path);
      const start = segments.length;
      const spanned = equals === -1 ? ['*'] : inner.slice(equals + 1).split('/');
      for (const text of spanned) {
        if (text === '' || text.includes('{')) fail(`variable ${path} has an empty or nested segment`);
        segments.push(segmentOf(text));
      }
      variables.push({ fieldPath, start, end: segments.length });
      rest = rest.slice(close + 1);
    } else {
      const slash = rest.indexOf('/');
      const text = slash === -1 ? rest : rest.slice(0, slash);
      if (text === '') fail('it has an empty segment');
      if (text.includes('}') || text.includes('{')) fail(`segment ${JSON.stringify(text)} has a stray brace`);
      segments.push(segmentOf(text));
      rest = slash === -1 ? '' : rest.slice(slash);
    }
    if (rest.startsWith('/')) {
      rest = rest.slice(1);
      if (rest === '') fail('it ends with "/"');
    } else if (rest.length > 0) {
      fail(`unexpected ${JSON.stringify(rest)}`);
    }
  }
  const doubleStar = segments.findIndex((segment) => segment.kind === 'double-star');
  if (doubleStar !== -1 && doubleStar !== segments.length - 1) fail('"**" may only be the last segment');
  return { source: template, segments, variables, verb };
}
