/**
 * `npm run demo`: every package of x doing real work, on embedded defaults (memory backends, loopback) where it
 * can; the Kafka scenes need a broker and the Redlock scene redis-server, and each says how to get them when
 * they are missing.
 */
import type { Scene } from './scene.js';
import { coreScene } from './scenes/core.js';
import { delayqueueScene } from './scenes/delayqueue.js';
import { delayqueueKafkaScene } from './scenes/delayqueue-kafka.js';
import { grpcGatewayScene } from './scenes/grpc-gateway.js';
import { grpcKeepaliveScene } from './scenes/grpc-keepalive.js';
import { kafkaFastScene } from './scenes/kafka-fast.js';
import { redlockScene } from './scenes/redlock.js';
import { socketScene } from './scenes/socket.js';
import { timewheelScene } from './scenes/timewheel.js';

const scenes: Scene[] = [coreScene, socketScene, timewheelScene, redlockScene, delayqueueScene, delayqueueKafkaScene, kafkaFastScene, grpcKeepaliveScene, grpcGatewayScene];

async function main(): Promise<void> {
  // The first Ctrl-C ends the scene that runs (it removes what it made on a broker) and skips the rest; a second
  // one exits at once.
  const stop = new AbortController();
  process.once('SIGINT', () => {
    console.log('\n  stopped early (Ctrl-C): ending this scene, then exiting (Ctrl-C again exits at once)');
    stop.abort();
    process.exitCode = 130;
    process.once('SIGINT', () => process.exit(130));
  });
  for (const scene of scenes) {
    if (stop.signal.aborted) break;
    console.log(`\n▶ ${scene.title}`);
    const started = performance.now();
    try {
      await scene.run((line) => console.log(`  ${line}`), stop.signal);
    } catch (error) {
      // One scene's failure (a broker that misbehaves, say) is said, and the demo goes on with the next.
      if (stop.signal.aborted) break;
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
