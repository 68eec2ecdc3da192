import { join } from 'node:path';
import { measureInChild, otelApiCase } from '../src/index.js';

const entry = join(__dirname, 'fixtures', 'measure-otel-api.js');

describe('measurements in a child process', () => {
  it('hides @opentelemetry/api from the measured code where asked, and only there', async () => {
    await expect(measureInChild('api-loads', { otelApi: true, entry })).resolves.toBe(1);
    await expect(measureInChild('api-loads', { otelApi: false, entry })).resolves.toBe(0);
  });

  it('refuses a measurement the entry does not have, with the names it has', async () => {
    await expect(measureInChild('no-such', { otelApi: true, entry })).rejects.toThrow(/exited with 1/);
  });

  it('names the case after the measured one and the peer after what it lacks', () => {
    const shape = otelApiCase('add', 'add', { unit: 'jobs/s', better: 'higher' });
    expect(shape.id).toBe('otel-api-add');
    expect(shape.peer).toBe('@opentelemetry/api not installed');
  });
});
