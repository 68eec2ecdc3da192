/** platformaticClient's option checks (loaded without @platformatic/kafka, so they run on every Node line). */
import { checkClientOptions } from '../src/platformatic/client-options.js';
import { consumerSettings, memberIdOf } from '../src/platformatic/consumer-settings.js';
import { randomUUID } from 'node:crypto';

describe("platformaticClient's options", () => {
  it.each([
    [null, 'options'],
    [{}, 'options.bootstrapBrokers'],
    [{ bootstrapBrokers: [] }, 'options.bootstrapBrokers'],
    [{ bootstrapBrokers: [123] }, 'options.bootstrapBrokers[0]'],
    [{ bootstrapBrokers: ['127.0.0.1:19092', 5] }, 'options.bootstrapBrokers[1]'],
    [{ bootstrapBrokers: ['127.0.0.1:abc'] }, 'options.bootstrapBrokers[0]'],
    [{ bootstrapBrokers: ['127.0.0.1:0'] }, 'options.bootstrapBrokers[0]'],
    [{ bootstrapBrokers: ['127.0.0.1:65536'] }, 'options.bootstrapBrokers[0]'],
    [{ bootstrapBrokers: [''] }, 'options.bootstrapBrokers[0]'],
    [{ bootstrapBrokers: ['nocolon'] }, 'options.bootstrapBrokers[0]'],
    [{ bootstrapBrokers: ['host:'] }, 'options.bootstrapBrokers[0]'],
    [{ bootstrapBrokers: [{ host: '', port: 9092 }] }, 'options.bootstrapBrokers[0]'],
    [{ bootstrapBrokers: [{ host: 'h', port: '9092' }] }, 'options.bootstrapBrokers[0]'],
    [{ bootstrapBrokers: ['h:9092'], clientId: 5 }, 'options.clientId'],
  ])('refuses %j with InvalidArgumentError naming %s', (options, argument) => {
    expect(() => checkClientOptions(options)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument }));
  });

  it.each([
    [{ bootstrapBrokers: ['127.0.0.1:19092'] }],
    [{ bootstrapBrokers: ['kafka-1.internal:9092', '[::1]:9093'], clientId: 'billing' }],
    [{ bootstrapBrokers: [{ host: '127.0.0.1', port: 19092 }] }],
  ])('takes %j', (options) => {
    expect(() => checkClientOptions(options)).not.toThrow();
  });
});

describe("platformaticClient's consumer settings (consumerConfig)", () => {
  it.each([
    [{ serverAssignor: 'sticky' }, 'options.consumerConfig.serverAssignor'],
    [{ serverAssignor: 1 }, 'options.consumerConfig.serverAssignor'],
    [{ memberIdPrefix: '' }, 'options.consumerConfig.memberIdPrefix'],
    [{ memberIdPrefix: 'a b' }, 'options.consumerConfig.memberIdPrefix'],
    [{ memberIdPrefix: 'x'.repeat(33) }, 'options.consumerConfig.memberIdPrefix'],
    [{ memberIdPrefix: '\ud800' }, 'options.consumerConfig.memberIdPrefix'],
    [{ rebalanceTimeout: 0 }, 'options.consumerConfig.rebalanceTimeout'],
    [{ maxWaitTimeInMs: 2 ** 31 }, 'options.consumerConfig.maxWaitTimeInMs'],
  ])('refuses %j with InvalidArgumentError naming %s', (config, argument) => {
    expect(() => consumerSettings({ groupId: 'g', ...config })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument }));
  });

  it('takes the broker assignor and a member id prefix, and leaves both to the broker and a UUID by default', () => {
    expect(consumerSettings({ groupId: 'g', serverAssignor: 'range', memberIdPrefix: 'proc-1.a_b' })).toMatchObject({ serverAssignor: 'range', memberIdPrefix: 'proc-1.a_b' });
    const plain = consumerSettings({ groupId: 'g' });
    expect('serverAssignor' in plain || 'memberIdPrefix' in plain).toBe(false);
    expect(plain).toMatchObject({ groupId: 'g', rebalanceTimeout: 60_000, maxWaitTimeInMs: 5_000 });
  });
});

describe('member ids with a prefix', () => {
  it('sort by their prefixes whatever their UUIDs, so a process has the same place in every group (range assignor)', () => {
    // Prefixes where one begins another, and ones that differ only after a shared start.
    const prefixes = ['a', 'a-5', 'a.b', 'a_', 'b', 'worker', 'worker-2', 'worker-10', 'Z', '0', '-', '.'];
    const expected = [...prefixes].sort();
    for (let round = 0; round < 500; round++) {
      const ids = prefixes.map((prefix) => ({ prefix, id: memberIdOf(prefix, randomUUID()) }));
      // The broker compares member ids as Java strings: by UTF-16 code units, as JavaScript's default sort does.
      const order = ids.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0)).map((x) => x.prefix);
      expect(order).toEqual(expected);
    }
    expect(memberIdOf(undefined, 'c0ffee')).toBe('c0ffee');
  });
});
