/**
 * `npm run demo`: every package of x doing real work, on embedded defaults (memory backends, loopback) where it
 * can; the Kafka scenes need a broker and the Redlock scene redis-server, and each says how to get them when
 * they are missing.
 */
import type { Scene } from './scene.js';
import { coreScene } from './scenes/core.js';
import { delayqueueScene } from './scenes/delayqueue.js';
import { delayqueueKafkaScene } from './scenes/delayqueue-kafka.js';
import { grpcKeepaliveScene } from './scenes/grpc-keepalive.js';
import { kafkaFastScene } from './scenes/kafka-fast.js';
import { redlockScene } from './scenes/redlock.js';
import { socketScene } from './scenes/socket.js';
import { timewheelScene } from './scenes/timewheel.js';

const scenes: Scene[] = [coreScene, socketScene, timewheelScene, redlockScene, delayqueueScene, delayqueueKafkaScene, kafkaFastScene, grpcKeepaliveScene];

async function main(): Promise<void> {
  for (const scene of scenes) {
    console.log(`\n▶ ${scene.title}`);
    const started = performance.now();
    try {
      await scene.run((line) => console.log(`  ${line}`));
    } catch (error) {
      // One scene's failure (a broker that misbehaves, say) is said, and the demo goes on with the next.
      console.log(`  failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
    console.log(`  (${Math.round(performance.now() - started)} ms)`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
