import { FrameError, LengthPrefixedDecoder, LineDecoder, encodeLengthPrefixed } from '../src/index.js';

describe('LengthPrefixedDecoder', () => {
  it('reassembles frames split at every byte and several frames per chunk', () => {
    const bodies = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('last')];
    const stream = Buffer.concat(bodies.map((body) => encodeLengthPrefixed(body)));
    for (const step of [1, 3, 4, 5, 4096, stream.length]) {
      const decoder = new LengthPrefixedDecoder();
      const frames: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) frames.push(...decoder.push(stream.subarray(i, i + step)));
      expect(frames).toEqual(bodies);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it('returns copies that survive reuse of the input buffer', () => {
    const input = encodeLengthPrefixed(Buffer.from('hello'));
    const [frame] = new LengthPrefixedDecoder().push(input);
    input.fill(0);
    expect(frame!.toString()).toBe('hello');
  });

  it('rejects a frame above the limit as soon as its header arrives', () => {
    const decoder = new LengthPrefixedDecoder({ maxFrameBytes: 10 });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(11);
    expect(() => decoder.push(header)).toThrow(FrameError);
    expect(() => decoder.push(header)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });

  it('refuses a bad limit', () => {
    expect(() => new LengthPrefixedDecoder({ maxFrameBytes: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('returns the frames before an over-limit header, then fails at the next push and at end', () => {
    const decoder = new LengthPrefixedDecoder({ maxFrameBytes: 10 });
    const bad = Buffer.alloc(4);
    bad.writeUInt32BE(11);
    const read = Buffer.concat([encodeLengthPrefixed(Buffer.from('one')), encodeLengthPrefixed(Buffer.from('two')), bad, Buffer.from('junk')]);
    expect(decoder.push(read).map(String)).toEqual(['one', 'two']);
    expect(() => decoder.push(encodeLengthPrefixed(Buffer.from('3')))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
    expect(() => decoder.end()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });

  it('says at end when the stream stopped inside a header or a body, and nothing when it stopped between frames', () => {
    const whole = new LengthPrefixedDecoder();
    whole.push(encodeLengthPrefixed(Buffer.from('done')));
    expect(() => whole.end()).not.toThrow();
    const inHeader = new LengthPrefixedDecoder();
    inHeader.push(Buffer.from([0, 0]));
    expect(inHeader.bufferedBytes).toBe(2);
    expect(() => inHeader.end()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TRUNCATED', message: expect.stringContaining('2 bytes of its 4-byte header') }));
    const inBody = new LengthPrefixedDecoder();
    expect(inBody.push(encodeLengthPrefixed(Buffer.from('cut off')).subarray(0, 8))).toEqual([]);
    expect(inBody.bufferedBytes).toBe(8);
    expect(() => inBody.end()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TRUNCATED', message: expect.stringContaining('8 bytes of 11 bytes') }));
    expect(inBody.bufferedBytes).toBe(0);
  });

  it('decodes a frame at the limit sent in reads of 1 byte to 64 KiB, and empty frames between', () => {
    const body = Buffer.alloc(3 * 65536 + 5);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const stream = Buffer.concat([encodeLengthPrefixed(Buffer.alloc(0)), encodeLengthPrefixed(body), encodeLengthPrefixed(Buffer.alloc(0))]);
    for (const step of [1, 7, 65536]) {
      const decoder = new LengthPrefixedDecoder({ maxFrameBytes: body.length });
      const frames: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) frames.push(...decoder.push(stream.subarray(i, i + step)));
      expect(frames.map((f) => f.length)).toEqual([0, body.length, 0]);
      expect(frames[1]!.equals(body)).toBe(true);
    }
  });
});

describe('LineDecoder', () => {
  it('splits on \\n, drops \\r, keeps a partial line for later', () => {
    const decoder = new LineDecoder();
    expect(decoder.push(Buffer.from('one\r\ntw'))).toEqual(['one']);
    expect(decoder.push(Buffer.from('o\n\nthr'))).toEqual(['two', '']);
    expect(decoder.push(Buffer.from('ee\n'))).toEqual(['three']);
  });

  it('decodes UTF-8 split across chunks', () => {
    const bytes = Buffer.from('héllo wörld\n');
    const decoder = new LineDecoder();
    const lines = [...bytes].flatMap((byte) => decoder.push(Buffer.from([byte])));
    expect(lines).toEqual(['héllo wörld']);
  });

  it('rejects a line that grows past the limit before its end arrives', () => {
    const decoder = new LineDecoder({ maxLineBytes: 8 });
    expect(decoder.push(Buffer.from('12345678'))).toEqual([]);
    expect(() => decoder.push(Buffer.from('9'))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });

  it('returns the lines before an over-long or malformed one, then fails at the next push and at end', () => {
    const long = new LineDecoder({ maxLineBytes: 4 });
    expect(long.push(Buffer.from('ab\ncd\ntoo long\nef\n'))).toEqual(['ab', 'cd']);
    expect(() => long.push(Buffer.from('gh\n'))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
    expect(() => long.end()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
    const unended = new LineDecoder({ maxLineBytes: 4 });
    expect(unended.push(Buffer.from('ab\ncdefgh'))).toEqual(['ab']);
    expect(() => unended.push(Buffer.from('\n'))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
    const malformed = new LineDecoder();
    expect(malformed.push(Buffer.from([0x61, 0x0a, 0xff, 0x0a]))).toEqual(['a']);
    expect(() => malformed.push(Buffer.from('b\n'))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
  });

  it('takes a line exactly at the limit whose CR arrives apart from its LF', () => {
    const decoder = new LineDecoder({ maxLineBytes: 4 });
    expect(decoder.push(Buffer.from('abcd\r'))).toEqual([]);
    expect(decoder.push(Buffer.alloc(0))).toEqual([]);
    expect(decoder.push(Buffer.from('\n'))).toEqual(['abcd']);
  });

  it('says at end when the stream stopped inside a line', () => {
    const decoder = new LineDecoder();
    expect(decoder.push(Buffer.from('whole\nhal'))).toEqual(['whole']);
    expect(decoder.bufferedBytes).toBe(3);
    expect(() => decoder.end()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TRUNCATED' }));
    const clean = new LineDecoder();
    clean.push(Buffer.from('whole\n'));
    expect(() => clean.end()).not.toThrow();
  });

  it('rejects invalid UTF-8 as malformed', () => {
    expect(() => new LineDecoder().push(Buffer.from([0x61, 0xff, 0x0a]))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
    expect(new LineDecoder({ requireUtf8: false }).push(Buffer.from([0x61, 0xff, 0x0a]))).toEqual(['a\ufffd']);
  });
});

describe('both decoders', () => {
  it('stay failed after any failure, the first push included, and after end() found a truncated frame', () => {
    const malformed = new LineDecoder();
    expect(() => malformed.push(Buffer.from([0xff, 0x0a]))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
    expect(() => malformed.push(Buffer.from('fine\n'))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
    const cut = new LengthPrefixedDecoder();
    cut.push(Buffer.from([0, 0, 0, 9, 1]));
    expect(() => cut.end()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TRUNCATED' }));
    expect(() => cut.end()).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TRUNCATED' }));
    expect(() => cut.push(encodeLengthPrefixed(Buffer.from('x')))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TRUNCATED' }));
  });

  it('keep a U+FEFF at the start of a line: it is text, not a stream byte-order mark', () => {
    expect(new LineDecoder().push(Buffer.from('a\n\uFEFFb\n'))).toEqual(['a', '\uFEFFb']);
  });

  it('refuse what is not bytes, and options that are not an object, with typed errors', () => {
    for (const bad of ['abc', null, 5, [1, 2]]) {
      expect(() => new LengthPrefixedDecoder().push(bad as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
      expect(() => new LineDecoder().push(bad as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
      expect(() => encodeLengthPrefixed(bad as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(() => new LengthPrefixedDecoder(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new LineDecoder({ requireUtf8: 'no' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('decode a line and a frame fed one byte at a time', () => {
    const text = 'x'.repeat(70_000);
    const lines = new LineDecoder({ maxLineBytes: 100_000 });
    const got: string[] = [];
    for (const byte of Buffer.from(`${text}\n`)) got.push(...lines.push(Buffer.from([byte])));
    expect(got).toEqual([text]);
    const frames = new LengthPrefixedDecoder();
    const out: Buffer[] = [];
    for (const byte of encodeLengthPrefixed(Buffer.from(text))) out.push(...frames.push(Buffer.from([byte])));
    expect(out.map(String)).toEqual([text]);
  });
});

