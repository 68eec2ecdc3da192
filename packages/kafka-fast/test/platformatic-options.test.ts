/** platformaticClient's option checks (loaded without @platformatic/kafka, so they run on every Node line). */
import { checkClientOptions } from '../src/platformatic/client-options.js';

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
