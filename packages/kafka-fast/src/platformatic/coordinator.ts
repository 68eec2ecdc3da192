import { type ClusterMetadata, type Connection, findCoordinatorV6 } from '@platformatic/kafka';

/** What of a @platformatic/kafka client (any of its kinds) is used to reach brokers. */
export interface ClusterClient {
  metadata(options: { topics: string[]; forceUpdate?: boolean }): Promise<ClusterMetadata>;
  connectToBrokers(nodeIds: number[] | null): Promise<Map<number, Connection>>;
}

/** A connection to the broker that coordinates `groupId` (FindCoordinator, asked of any broker). */
export async function connectToCoordinator(client: ClusterClient, groupId: string): Promise<Connection> {
  const metadata = await client.metadata({ topics: [] });
  const [anyNode] = metadata.brokers.keys();
  if (anyNode === undefined) throw new Error('the cluster reported no broker');
  const via = await connectTo(client, anyNode);
  const { coordinators } = await findCoordinatorV6.api.async(via, GROUP_KEY_TYPE, [groupId]);
  const found = coordinators.find((coordinator) => coordinator.key === groupId);
  if (found === undefined) throw new Error(`no coordinator reported for group ${groupId}`);
  return connectTo(client, found.nodeId);
}

/** The pooled connection to node `nodeId`. */
export async function connectTo(client: ClusterClient, nodeId: number): Promise<Connection> {
  const connection = (await client.connectToBrokers([nodeId])).get(nodeId);
  if (connection === undefined) throw new Error(`no connection to broker ${nodeId}`);
  return connection;
}

/** FindCoordinator's key type for a consumer group (1 is a transaction). */
const GROUP_KEY_TYPE = 0;
