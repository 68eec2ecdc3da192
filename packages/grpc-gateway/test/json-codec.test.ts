import type { Type } from 'protobufjs';
import { rootOf } from '../src/http-rules.js';
import { JsonCodec, JsonMappingError } from '../src/json-codec.js';
import { loadLibrary } from './helpers.js';

const root = rootOf(loadLibrary());
const codec = new JsonCodec(root, { rejectUnknownFields: true, emitUnpopulated: false });
const book = root.lookupType('library.v1.Book');

/** JSON -> message -> wire -> message -> JSON. */
function roundTrip(type: Type, json: unknown): unknown {
  const encoded = type.encode(type.fromObject(codec.read(type, json))).finish();
  return codec.write(type, type.decode(encoded));
}

describe('canonical JSON', () => {
  it('round-trips every kind of field and the well-known types', () => {
    const json = {
      name: 'shelves/1/books/2',
      pageCount: '-9223372036854775808',
      published: '0001-01-01T00:00:00Z',
      genre: 'HISTORY',
      tags: ['a', 'ü'],
      cover: 'AAEC',
      readingTime: '-1.000000500s',
      edition: 0,
      extra: { list: [1, 'two', null, { deep: [true] }], empty: {} },
      ratings: { 'a b': '1', '': '0' },
      catalogNumber: '18446744073709551615',
      price: 'NaN',
    };
    expect(roundTrip(book, json)).toEqual(json);
  });

  it('refuses to write what protojson refuses to marshal: timestamps and durations out of range, a Value that is not finite', () => {
    const write = (object: Record<string, unknown>): unknown => codec.write(book, book.decode(book.encode(book.fromObject(object)).finish()));
    expect(() => write({ published: { seconds: 253_402_300_800 } })).toThrow('a Timestamp must lie in years 1 to 9999');
    expect(() => write({ published: { seconds: -62_135_596_801 } })).toThrow('a Timestamp must lie in years 1 to 9999');
    expect(() => write({ published: { seconds: 0, nanos: 1_000_000_000 } })).toThrow('nanos');
    expect(() => write({ published: { seconds: 0, nanos: -1 } })).toThrow('nanos');
    expect(() => write({ readingTime: { seconds: 315_576_000_001 } })).toThrow('a Duration is at most');
    expect(() => write({ readingTime: { seconds: 1, nanos: -1 } })).toThrow('sign');
    expect(() => write({ readingTime: { seconds: 0, nanos: 1_000_000_000 } })).toThrow('nanos');
    // Root.fromDescriptor makes a map a repeated entry message.
    expect(() => write({ extra: { fields: [{ key: 'x', value: { numberValue: Infinity } }] } })).toThrow('finite');
    // The edges themselves are written.
    expect(write({ published: { seconds: 253_402_300_799, nanos: 999_999_999 }, readingTime: { seconds: -315_576_000_000, nanos: -999_999_999 } })).toMatchObject({
      published: '9999-12-31T23:59:59.999999999Z',
      readingTime: '-315576000000.999999999s',
    });
  });

  it('writes timestamps and durations with 0, 3, 6 or 9 fractional digits, and reads offsets', () => {
    for (const [input, output] of [
      ['2020-01-01T00:00:00.5+02:00', '2019-12-31T22:00:00.500Z'],
      ['2020-01-01T00:00:00.000001Z', '2020-01-01T00:00:00.000001Z'],
      ['9999-12-31T23:59:59.999999999Z', '9999-12-31T23:59:59.999999999Z'],
    ]) expect(roundTrip(book, { published: input })).toEqual({ published: output });
    expect(roundTrip(book, { readingTime: '315576000000s' })).toEqual({ readingTime: '315576000000s' });
    expect(() => codec.read(book, { readingTime: '315576000001s' })).toThrow(JsonMappingError);
    expect(() => codec.read(book, { published: '2020-02-30T00:00:00Z' })).toThrow('not a date and time');
  });

  it('reads wrappers from their value (null leaves the field unset) and Any with its @type', () => {
    expect(roundTrip(book, { edition: null })).toEqual({});
    expect(roundTrip(book, { note: { '@type': 'type.googleapis.com/library.v1.Filter', author: 'x', minPages: '3' } })).toEqual({
      note: { '@type': 'type.googleapis.com/library.v1.Filter', author: 'x', minPages: '3' },
    });
    // A well-known type inside an Any keeps its JSON form under "value".
    expect(roundTrip(book, { note: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '2s' } })).toEqual({
      note: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '2s' },
    });
    expect(() => codec.read(book, { note: { '@type': 'type.googleapis.com/no.Such' } })).toThrow('not among the gateway');
    expect(() => codec.read(book, { note: { author: 'x' } })).toThrow('needs its "@type"');
  });

  it('reads field masks in lowerCamelCase and accepts proto names and JSON names for fields', () => {
    const update = root.lookupType('library.v1.UpdateBookRequest');
    expect(codec.read(update, { update_mask: 'pageCount,readingTime.seconds' })).toEqual({ updateMask: { paths: ['page_count', 'reading_time.seconds'] } });
    expect(roundTrip(update, { updateMask: 'pageCount,title' })).toEqual({ updateMask: 'pageCount,title' });
    expect(() => codec.read(update, { updateMask: 'page_count' })).toThrow('lowerCamelCase');
    expect(() => codec.read(book, { page_count: '1', pageCount: '2' })).toThrow('given twice');
  });

  it('refuses impossible dates and offsets instead of rolling them over', () => {
    for (const text of ['2020-13-01T00:00:00Z', '2020-00-10T00:00:00Z', '2020-01-01T00:00:00+25:00', '2020-01-01T00:00:00+23:99', '2021-02-29T00:00:00Z']) {
      expect(() => codec.read(book, { published: text })).toThrow('not a date and time');
    }
    expect(roundTrip(book, { published: '2024-02-29T23:59:59-23:59' })).toEqual({ published: '2024-03-01T23:58:59Z' });
  });

  it('writes a float as the shortest decimal that is the same float32, keeps __proto__ map keys, reads {} as an empty Any', () => {
    const weights = root.lookupType('google.protobuf.FloatValue');
    expect(roundTrip(weights, 0.1)).toBe(0.1);
    expect(roundTrip(weights, 3.4e38)).toBe(3.4e38);
    expect(roundTrip(weights, 16777217)).toBe(16777216);
    // As JSON.parse makes it: an own key named __proto__ (an object literal would set the prototype instead).
    const ratings = roundTrip(book, JSON.parse('{"ratings": {"__proto__": "1", "a": "2"}, "extra": {"__proto__": "x"}}')) as { ratings: object; extra: object };
    expect(Object.entries(ratings.ratings)).toEqual([['__proto__', '1'], ['a', '2']]);
    expect(Object.entries(ratings.extra)).toEqual([['__proto__', 'x']]);
    expect(codec.read(book, { note: {} })).toEqual({ note: {} });
  });

  it('refuses values past their type with the path of the value', () => {
    const error = (json: unknown): JsonMappingError => {
      try {
        codec.read(book, json);
      } catch (thrown) {
        return thrown as JsonMappingError;
      }
      throw new Error('no error');
    };
    expect(error({ ratings: { a: '9223372036854775808' } })).toMatchObject({ code: 'ERR_JSON_MAPPING', path: 'ratings["a"]' });
    expect(error({ catalogNumber: '-1' }).message).toContain('out of range for uint64');
    expect(error({ tags: ['a', 5] }).path).toBe('tags[1]');
    expect(error({ extra: { a: '\udc00' } }).message).toContain('valid Unicode');
    expect(error({ price: '1e999' }).message).toContain('expected a number');
    expect(error({ tags: 'a' }).message).toContain('expected an array');
    expect(error({ genre: 2 ** 31 }).message).toContain('Genre name or number');
    expect(error({ cover: 'A' }).message).toContain('expected base64');
    expect(error({ price: ' 1.5' }).message).toContain('expected a number');
    expect(error({ pageCount: 2 ** 53 }).message).toContain('must be a string');
    expect(roundTrip(book, { pageCount: 2 ** 53 - 1, edition: -5 })).toEqual({ pageCount: '9007199254740991', edition: -5 });
  });
});
