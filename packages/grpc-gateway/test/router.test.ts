import { RouteConflictError } from '../src/errors.js';
import { parsePathTemplate } from '../src/path-template.js';
import { Router } from '../src/router.js';

const route = (source: string, name = source) => ({ template: parsePathTemplate(source, name), name });

describe('path templates', () => {
  it('parses variables, nested field paths, wildcards and verbs', () => {
    const template = parsePathTemplate('/v1/{book.name=shelves/*/books/*}/x/**:move', 'm');
    expect(template.segments.map((s) => (s.kind === 'literal' ? s.text : s.kind))).toEqual(['v1', 'shelves', 'star', 'books', 'star', 'x', 'double-star']);
    expect(template.variables).toEqual([{ fieldPath: ['book', 'name'], start: 1, end: 5 }]);
    expect(template.verb).toBe('move');
    expect(parsePathTemplate('/v1/{name}', 'm').variables).toEqual([{ fieldPath: ['name'], start: 1, end: 2 }]);
  });

  it.each([
    ['/v1//x', 'empty segment'],
    ['/v1/x/', 'ends with "/"'],
    ['/v1/{a}/{a}', 'bound twice'],
    ['/v1/{a={b}}', 'nested'],
    ['/v1/a b', 'is not a literal'],
    ['/v1/{1a}', 'not a field path'],
    ['/v1/x:', 'not a literal'],
  ])('refuses %s', (source, message) => {
    expect(() => parsePathTemplate(source, 'm')).toThrow(message);
  });
});

describe('router', () => {
  const router = new Router<ReturnType<typeof route>>();
  for (const source of ['/v1/{name=shelves/*/books/*}', '/v1/shelves/{shelf}/books:count', '/v1/shelves/special/books/{id}', '/v1/files/{path=**}', '/v1/{name=shelves/*}:archive']) {
    router.add('GET', route(source));
  }
  router.add('POST', route('/v1/{name=shelves/*}:archive', 'post-archive'));

  it('prefers literals to wildcards and picks the verb, with variables decoded', () => {
    expect(router.match('GET', '/v1/shelves/special/books/7')).toMatchObject({ route: { name: '/v1/shelves/special/books/{id}' }, variables: [[['id'], '7']] });
    expect(router.match('GET', '/v1/shelves/other/books/7')).toMatchObject({ variables: [[['name'], 'shelves/other/books/7']] });
    expect(router.match('GET', '/v1/shelves/a%20b/books:count')).toMatchObject({ variables: [[['shelf'], 'a b']] });
    expect(router.match('GET', '/v1/shelves/3:archive')).toMatchObject({ variables: [[['name'], 'shelves/3']] });
    expect(router.match('GET', '/v1/files')).toMatchObject({ variables: [[['path'], '']] });
    expect(router.match('GET', '/v1/files/a/b%2Fc')).toMatchObject({ variables: [[['path'], 'a/b%2Fc']] });
    // One segment is decoded in full, %2F included.
    expect(router.match('GET', '/v1/shelves/a%2Fb/books:count')).toMatchObject({ variables: [[['shelf'], 'a/b']] });
  });

  it('finds nothing for what no route serves, and says which methods serve a path', () => {
    expect(router.match('GET', '/v1/shelves')).toBeUndefined();
    expect(router.match('GET', '/v1/shelves//books/1')).toBeUndefined();
    expect(router.match('DELETE', '/v1/shelves/1:archive')).toBeUndefined();
    expect(router.match('GET', 'no-slash')).toBeUndefined();
    expect(router.match('GET', '/v1/shelves/%E0%A4%A/books/1')).toMatchObject({ variables: [[['name'], 'shelves/%E0%A4%A/books/1']] });
    expect(router.methodsFor('/v1/shelves/1:archive')).toEqual(['GET', 'POST']);
  });

  it('refuses two routes that serve the same requests, whatever their variables are called', () => {
    const conflicting = new Router<ReturnType<typeof route>>();
    conflicting.add('GET', route('/v1/{a}/x', 'first'));
    expect(() => conflicting.add('GET', route('/v1/{b}/x', 'second'))).toThrow(RouteConflictError);
    conflicting.add('GET', route('/v1/{b}/x:verb', 'third'));
    conflicting.add('PUT', route('/v1/{b}/x', 'fourth'));
  });
});
