/** The benchmark's echo handler, loaded by each reactor thread. */
import { type Handler } from '@x/socket';

export const handler: Handler = { onData: (connection, bytes) => connection.write(bytes) };
