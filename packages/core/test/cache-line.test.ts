import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CACHE_LINE_SIZE, cacheLineSize, readLineSize } from '../src/index.js';

describe('cacheLineSize', () => {
  const dir = mkdtempSync(join(tmpdir(), 'x-core-'));
  const file = (content: string): string => {
    const path = join(dir, `size-${Math.random()}`);
    writeFileSync(path, content);
    return path;
  };

  it('reads the size the kernel reports', () => {
    expect(readLineSize(file('128\n'))).toBe(128);
    expect(readLineSize(file('64'))).toBe(64);
  });

  it('falls back to 64 when the file is missing or nonsense', () => {
    expect(readLineSize(join(dir, 'missing'))).toBe(DEFAULT_CACHE_LINE_SIZE);
    expect(readLineSize(file('0'))).toBe(64);
    expect(readLineSize(file('96'))).toBe(64);
    expect(readLineSize(file('banana'))).toBe(64);
    expect(readLineSize(file('4096'))).toBe(64);
  });

  it('answers a plausible, cached value on this machine', () => {
    const size = cacheLineSize();
    expect([32, 64, 128, 256]).toContain(size);
    expect(cacheLineSize()).toBe(size);
  });
});
