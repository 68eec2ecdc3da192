/**
 * Routes requests to rules through one trie per HTTP method, built when the gateway is made: a request walks
 * its own path's segments (literal before `*` before `**`), whatever the number of rules. Rules that would serve
 * the same requests are refused then (RouteConflictError), not found out by a request.
 */
import { RouteConflictError } from './errors.js';
import type { PathTemplate } from './path-template.js';

interface Node<R> {
  readonly literals: Map<string, Node<R>>;
  star: Node<R> | undefined;
  /** Routes ending in `**` here, by verb. */
  readonly rest: Map<string, R>;
  /** Routes ending here, by verb. */
  readonly routes: Map<string, R>;
}

/** What a route knows of itself for the router: its template, and a name for conflicts. */
export interface Routable {
  readonly template: PathTemplate;
  readonly name: string;
}

/** A matched route and its variables' values (field path joined with '.', value). */
export interface RouteMatch<R> {
  readonly route: R;
  readonly variables: ReadonlyArray<readonly [readonly string[], string]>;
}

const newNode = <R>(): Node<R> => ({ literals: new Map(), star: undefined, rest: new Map(), routes: new Map() });

export class Router<R extends Routable> {
  private readonly trees = new Map<string, Node<R>>();

  /** Adds `route` for `httpMethod`; throws RouteConflictError when another route serves the same requests. */
  add(httpMethod: string, route: R): void {
    let node = this.trees.get(httpMethod);
    if (node === undefined) this.trees.set(httpMethod, (node = newNode()));
    const { segments, verb, source } = route.template;
    let table = node.routes;
    for (const segment of segments) {
      if (segment.kind === 'double-star') {
        table = node.rest;
        break;
      }
      if (segment.kind === 'star') node = node.star ??= newNode();
      else {
        let next = node.literals.get(segment.text);
        if (next === undefined) node.literals.set(segment.text, (next = newNode()));
        node = next;
      }
      table = node.routes;
    }
    const existing = table.get(verb);
    if (existing !== undefined) throw new RouteConflictError(`${httpMethod} ${source}`, [existing.name, route.name]);
    table.set(verb, route);
  }

  /** The route for `httpMethod` and `path` (no query; percent-encoded as it came), or undefined. */
  match(httpMethod: string, path: string): RouteMatch<R> | undefined {
    const tree = this.trees.get(httpMethod);
    if (tree === undefined || !path.startsWith('/')) return undefined;
    const raw = path.slice(1).split('/');
    const last = raw[raw.length - 1]!;
    const colon = last.lastIndexOf(':');
    // With a verb (`books:search`) first: a rule naming it is more specific than one that takes the colon as text.
    if (colon > 0) {
      const segments = [...raw.slice(0, -1), last.slice(0, colon)];
      const found = this.find(tree, segments, 0, decodeSegment(last.slice(colon + 1)));
      if (found !== undefined) return withVariables(found, segments);
    }
    const found = this.find(tree, raw, 0, '');
    return found === undefined ? undefined : withVariables(found, raw);
  }

  /** The HTTP methods with a route for `path` (for 405's Allow), in the order they were added. */
  methodsFor(path: string): string[] {
    return [...this.trees.keys()].filter((method) => this.match(method, path) !== undefined);
  }

  private find(node: Node<R>, segments: readonly string[], index: number, verb: string): R | undefined {
    if (index === segments.length) return node.routes.get(verb) ?? node.rest.get(verb);
    const segment = segments[index]!;
    const literal = node.literals.get(decodeSegment(segment));
    const viaLiteral = literal === undefined ? undefined : this.find(literal, segments, index + 1, verb);
    if (viaLiteral !== undefined) return viaLiteral;
    const viaStar = node.star === undefined || segment === '' ? undefined : this.find(node.star, segments, index + 1, verb);
    return viaStar ?? node.rest.get(verb);
  }
}

/** A segment as text: percent escapes decoded, except `%2F`, which stays (a variable of several segments keeps it). */
export function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment.replace(/%2F/gi, '%252F'));
  } catch {
    // Not valid percent-encoding: it matches only a literal written the same way.
    return segment;
  }
}

function withVariables<R extends Routable>(route: R, segments: readonly string[]): RouteMatch<R> {
  const variables = route.template.variables.map(({ fieldPath, start, end }): [readonly string[], string] => {
    // A variable ending in `**` takes every segment from its start.
    const until = route.template.segments[end - 1]?.kind === 'double-star' ? segments.length : end;
    const taken = segments.slice(start, until);
    // One segment is decoded in full (`%2F` too); several keep `%2F` so that the '/' between them stays apart.
    const value = until - start === 1 ? decodeFully(taken[0]!) : taken.map(decodeSegment).join('/');
    return [fieldPath, value];
  });
  return { route, variables };
}

function decodeFully(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
