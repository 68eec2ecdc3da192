export { redisEndpoint, redisMasters, redisClusterNodes, kafkaBrokers, rabbitMqUrl, uniqueName, HOW_TO_START, type Endpoint } from './services.js';
export { requireRedis, requireRedisCluster, requireKafka, requireRabbitMq, ServiceUnavailableError } from './require.js';
export { runBench, median, ratio, isQuick, onlyCases, type BenchCase, type BenchResult } from './bench.js';
export { tsBootstrap, startTsWorker, firstMessage, runTsProcess, spawnTsProcess, significantStderr, type ProcessResult } from './ts-run.js';
export { startRedisServer, freePort, type TestRedisServer } from './redis-server.js';
export { startStallProxy, type StallProxy } from './stall-proxy.js';
export { eventually } from './eventually.js';
export { gate, type Gate } from './gate.js';
export { cuttableSockets, type CuttableSockets } from './cuttable-sockets.js';
