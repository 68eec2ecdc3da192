/**
 * A minimal HTTP/1.0 file server: `GET /name` sends the file from handlerOptions.root with sendfile(2), so the
 * file's bytes never enter JavaScript. Anything else gets a 400 or 404; names cannot leave the root.
 */
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type Handler, type HandlerContext, LineDecoder } from '@x/socket';

export function createHandler(context: HandlerContext): Handler {
  const { root } = context.options as { root: string };
  const reply = (status: string, body: string): Buffer => Buffer.from(`HTTP/1.0 ${status}\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  return {
    onOpen: (conn) => (conn.data = new LineDecoder({ maxLineBytes: 2048 })),
    onData(conn, bytes) {
      const [requestLine] = (conn.data as LineDecoder).push(bytes);
      if (requestLine === undefined || conn.state !== 'open') return;
      const match = /^GET \/([\w.-]+) HTTP\/1\.[01]$/.exec(requestLine);
      if (match === null) return conn.end(reply('400 Bad Request', 'bad request\n'));
      const path = join(root, basename(match[1]!));
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        return conn.end(reply('404 Not Found', 'not found\n'));
      }
      conn.write(Buffer.from(`HTTP/1.0 200 OK\r\ncontent-length: ${size}\r\ncontent-type: application/octet-stream\r\n\r\n`));
      conn.sendFile(path, 0, size);
      conn.end();
    },
  };
}
