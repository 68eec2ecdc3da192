/**
 * The least JavaScript an echo server through koffi can run: one epoll loop, read then write, no connection
 * objects, no queues, no error handling beyond closing a connection its peer ended, no yielding. Not a usable
 * server: the floor that shows what the library itself costs on top of the FFI calls every koffi server has to
 * make.
 */
import koffi from 'koffi';

type Fn = (...args: unknown[]) => number;

export function serveBareEcho(port: number, onReady: (port: number) => void): void {
  const libc = koffi.load('libc.so.6');
  const fn = (prototype: string): Fn => libc.func(prototype) as unknown as Fn;
  const socket = fn('int socket(int, int, int)');
  const bind = fn('int bind(int, const uint8_t *, uint32_t)');
  const listen = fn('int listen(int, int)');
  const getsockname = fn('int getsockname(int, uint8_t *, uint8_t *)');
  const accept4 = fn('int accept4(int, void *, void *, int)');
  const setsockopt = fn('int setsockopt(int, int, int, const uint8_t *, uint32_t)');
  const epollCreate1 = fn('int epoll_create1(int)');
  const epollCtl = fn('int epoll_ctl(int, int, int, uint8_t *)');
  const epollWait = fn('int epoll_wait(int, uint8_t *, int, int)');
  const read = fn('long read(int, uint8_t *, unsigned long)');
  const write = fn('long write(int, const uint8_t *, unsigned long)');
  const close = fn('int close(int)');
  const NONBLOCK = 0o4000;
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  const listener = socket(2, 1 | NONBLOCK, 0);
  setsockopt(listener, 1, 2, one, 4);
  const address = Buffer.alloc(16);
  address.writeUInt16LE(2, 0);
  address.writeUInt16BE(port, 2);
  address.set([127, 0, 0, 1], 4);
  if (bind(listener, address, 16) < 0 || listen(listener, 511) < 0) throw new Error('bare echo: bind/listen failed');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(16);
  getsockname(listener, address, length);
  const epoll = epollCreate1(0);
  const control = Buffer.alloc(12);
  const watch = (fd: number): void => {
    control.writeUInt32LE(1, 0);
    control.writeInt32LE(fd, 4);
    epollCtl(epoll, 1, fd, control);
  };
  watch(listener);
  const events = Buffer.alloc(12 * 1024);
  const buffer = Buffer.allocUnsafeSlow(65536);
  onReady(address.readUInt16BE(2));
  for (;;) {
    const count = epollWait(epoll, events, 1024, -1);
    for (let i = 0; i < count; i++) {
      const fd = events.readInt32LE(i * 12 + 4);
      if (fd === listener) {
        for (let client = accept4(listener, null, null, NONBLOCK); client >= 0; client = accept4(listener, null, null, NONBLOCK)) {
          setsockopt(client, 6, 1, one, 4);
          watch(client);
        }
        continue;
      }
      const got = read(fd, buffer, 65536);
      if (got > 0) write(fd, buffer, got);
      // A peer that left: close, or its end-of-stream stays readable and comes back in every epoll_wait.
      else if (got === 0) close(fd);
    }
  }
}
