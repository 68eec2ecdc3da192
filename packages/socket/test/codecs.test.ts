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

  it('rejects invalid UTF-8 as malformed', () => {
    expect(() => new LineDecoder().push(Buffer.from([0x61, 0xff, 0x0a]))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_MALFORMED' }));
    expect(new LineDecoder({ requireUtf8: false }).push(Buffer.from([0x61, 0xff, 0x0a]))).toEqual(['a\ufffd']);
  });
});
