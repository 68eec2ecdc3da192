// Exits 0 once a Kafka broker at argv[2] answers a kafkajs admin (describeCluster + listTopics), 1 after
// argv[3] seconds. An open port is not enough: KRaft accepts connections before it can serve metadata.
const { Kafka, logLevel } = require('kafkajs');

const [broker = '127.0.0.1:19092', seconds = '120'] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;

async function answers() {
  const admin = new Kafka({ brokers: [broker], logLevel: logLevel.NOTHING, connectionTimeout: 2000, retry: { retries: 0 } }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    await admin.listTopics();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

(async () => {
  while (Date.now() < deadline) {
    if (await answers()) process.exit(0);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  process.exit(1);
})();
