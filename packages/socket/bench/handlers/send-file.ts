/** Sends the file named in handlerOptions to every connection with sendfile(2), then ends it. */
import { type Handler, type HandlerContext } from '@x/socket';

export function createHandler(context: HandlerContext): Handler {
  const { path } = context.options as { path: string };
  return {
    onOpen: (connection) => {
      connection.sendFile(path);
      connection.end();
    },
    onData: () => undefined,
  };
}
